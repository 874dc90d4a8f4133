package agent

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/hypervisor/simulator"
)

// reportingDriver is a simulator whose counters a test sets.
type reportingDriver struct {
	*simulator.Driver
	stats []hypervisor.VMStats
}

func (d *reportingDriver) VMStats(ctx context.Context) ([]hypervisor.VMStats, error) {
	return d.stats, nil
}

// plainDriver hides every optional interface of the simulator, StatsReporter among them.
type plainDriver struct{ hypervisor.Driver }

func statsAgent(t *testing.T, d hypervisor.Driver) *Agent {
	t.Helper()
	a, err := New(Config{Servers: []string{"s1"}, GUID: "guid-stats", Name: "h1", Driver: d})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// GetVmStats answers the driver's counters, of the VMs named (all with no names), stamped with
// the host's clock; a driver without counters answers it as unsupported.
func TestGetVMStats(t *testing.T) {
	drv := &reportingDriver{Driver: simulator.New(hypervisor.HostInfo{}), stats: []hypervisor.VMStats{
		{Name: "i-1-1-VM", State: hypervisor.PowerOn, CPUs: 2, CPUTimeNs: 123, MemoryBytes: 256 << 20, MaxMemory: 512 << 20, FreeMemory: 64 << 20,
			Disks: []hypervisor.DiskStats{{Device: "vda", Path: "/p/v", ReadBytes: 10, WriteBytes: 20, ReadOps: 1, WriteOps: 2}},
			Nics:  []hypervisor.NicStats{{Device: "at0", RxBytes: 5, TxBytes: 6, RxPackets: 1, TxPackets: 1}}},
		{Name: "i-1-2-VM", State: hypervisor.PowerOn, CPUs: 1, CPUTimeNs: 9},
	}}
	a := statsAgent(t, drv)
	body, _ := json.Marshal(protocol.GetVMStats{Names: []string{"i-1-1-VM", "i-9-9-VM"}})
	ans := a.run(protocol.Command{ID: "s1", Name: protocol.CmdGetVMStats, Body: body})
	if !ans.OK {
		t.Fatalf("GetVmStats: %s", ans.Error)
	}
	var got protocol.VMStatsAnswer
	if err := json.Unmarshal(ans.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Time <= 0 || len(got.VMs) != 1 {
		t.Fatalf("answer for one VM named: %s", ans.Body)
	}
	v := got.VMs[0]
	if v.Name != "i-1-1-VM" || v.State != protocol.PowerOn || v.CPUs != 2 || v.CPUTimeNs != 123 || v.MemoryBytes != 256<<20 || v.MaxMemory != 512<<20 ||
		v.FreeMemory != 64<<20 || len(v.Disks) != 1 || v.Disks[0] != (protocol.DiskStats{Device: "vda", Path: "/p/v", ReadBytes: 10, WriteBytes: 20, ReadOps: 1, WriteOps: 2}) ||
		len(v.Nics) != 1 || v.Nics[0] != (protocol.NicStats{Device: "at0", RxBytes: 5, TxBytes: 6, RxPackets: 1, TxPackets: 1}) {
		t.Errorf("stats: %+v", v)
	}
	ans = a.run(protocol.Command{ID: "s2", Name: protocol.CmdGetVMStats})
	if err := json.Unmarshal(ans.Body, &got); err != nil || !ans.OK || len(got.VMs) != 2 {
		t.Errorf("GetVmStats naming none: %v %s %s", err, ans.Error, ans.Body)
	}

	ans = statsAgent(t, plainDriver{simulator.New(hypervisor.HostInfo{})}).run(protocol.Command{ID: "s3", Name: protocol.CmdGetVMStats})
	if ans.OK || !strings.Contains(ans.Error, "unsupported command GetVmStats") {
		t.Errorf("a driver without counters: %+v", ans)
	}
}
