package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// statsHost answers GetVmStats as a host would, with the counters a test gives, and records
// the requests it was sent.
type statsHost struct {
	mu     sync.Mutex
	host   string
	answer protocol.VMStatsAnswer
	asked  [][]string
}

func (h *statsHost) Send(ctx context.Context, hostID, name string, body any) (*protocol.Answer, error) {
	if name != protocol.CmdGetVMStats {
		return nil, errors.New("unexpected command " + name)
	}
	if hostID != h.host {
		return &protocol.Answer{Error: "no such host"}, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, body.(protocol.GetVMStats).Names)
	raw, _ := json.Marshal(h.answer)
	return &protocol.Answer{OK: true, Body: raw}, nil
}

func listed(t *testing.T, v *vmEnv, cmd, id string, extra map[string]string) map[string]any {
	t.Helper()
	p := map[string]string{"id": id}
	for k, val := range extra {
		p[k] = val
	}
	return mgmttest.Do(t, v.tenant, cmd, p)["virtualmachine"].([]any)[0].(map[string]any)
}

// The collector asks a VM's host for its counters (GetVmStats naming the VM), turns two
// samples into a CPU percentage and I/O increases, and listVirtualMachines and
// listVirtualMachinesMetrics render them from the database: summed (the default, or
// accumulate=true) or the last interval's (accumulate=false); not with details that leave out
// stats. A sample whose counters went down (the VM restarted) starts a new run: no CPU
// percentage, its counters counted whole. The stats go with the VM's expunge.
func TestVMStatsCollected(t *testing.T) { testVMStatsCollected(t, false) }

func testVMStatsCollected(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	ctx := context.Background()
	deployed := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})
	id := deployed["id"].(string)
	hostID := hostOf(t, v, id)
	fake := &statsHost{host: hostID}
	d := &orchestrate.Deps{DB: v.Server.DB, Ledger: planner.New(v.Server.API.Config), Log: v.Server.API.Log, Config: v.Server.API.Config, Agents: fake}
	c := &vm.StatsCollector{Deps: d, ServerID: v.Server.ID}
	name := mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"id": id})["virtualmachine"].([]any)[0].(map[string]any)["instancename"].(string)

	sample := func(at int64, cpuNs uint64, rd, wr, rdOps, wrOps, rx, tx int64) {
		t.Helper()
		fake.answer = protocol.VMStatsAnswer{Time: at, VMs: []protocol.VMStats{{Name: name, State: "PowerOn", CPUs: 1, CPUTimeNs: cpuNs,
			MemoryBytes: 768 << 20, MaxMemory: 1 << 30, FreeMemory: 100 << 20,
			Disks: []protocol.DiskStats{{Device: "vda", ReadBytes: rd - 4096, WriteBytes: wr, ReadOps: rdOps - 1, WriteOps: wrOps}, {Device: "hdc", ReadBytes: 4096, ReadOps: 1}},
			Nics:  []protocol.NicStats{{Device: "tap", RxBytes: rx, TxBytes: tx}}},
			{Name: "i-not-ours", State: "PowerOn", CPUs: 1, CPUTimeNs: 1}}}
		if err := c.CollectOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// Before any sample: no statistics fields.
	if got := listed(t, v, "listVirtualMachines", id, nil); got["cpuused"] != nil || got["memorykbs"] != nil {
		t.Fatalf("stats before any sample: %v %v", got["cpuused"], got["memorykbs"])
	}
	t0 := time.Now().UnixMilli()
	sample(t0, 5e9, 1<<20, 0, 10, 0, 2048, 1024)
	if len(fake.asked) != 1 || len(fake.asked[0]) != 1 || fake.asked[0][0] != name {
		t.Fatalf("GetVmStats sent %v, want once naming %s", fake.asked, name)
	}
	first := listed(t, v, "listVirtualMachines", id, nil)
	if first["cpuused"] != nil {
		t.Errorf("cpuused after one sample: %v", first["cpuused"])
	}
	for k, want := range map[string]float64{"memorykbs": 1 << 20, "memorytargetkbs": 768 << 10, "memoryintfreekbs": 100 << 10,
		"diskkbsread": 1024, "diskioread": 10, "networkkbsread": 2, "networkkbswrite": 1, "diskkbswrite": 0, "diskiowrite": 0} {
		if first[k] != want {
			t.Errorf("after one sample %s = %v, want %v", k, first[k], want)
		}
	}

	// Ten seconds later (the host's clock): 2.5 s more CPU time on one vCPU is 25%.
	sample(t0+10000, 7.5e9, 3<<20, 1<<20, 30, 5, 4096, 1024)
	got := listed(t, v, "listVirtualMachines", id, nil)
	for k, want := range map[string]any{"cpuused": "25%", "diskkbsread": 3072.0, "diskioread": 30.0, "diskkbswrite": 1024.0, "diskiowrite": 5.0,
		"networkkbsread": 4.0, "networkkbswrite": 1.0} {
		if got[k] != want {
			t.Errorf("after two samples %s = %v, want %v", k, got[k], want)
		}
	}
	last := listed(t, v, "listVirtualMachines", id, map[string]string{"accumulate": "false"})
	for k, want := range map[string]any{"cpuused": "25%", "diskkbsread": 2048.0, "diskioread": 20.0, "networkkbsread": 2.0, "networkkbswrite": 0.0} {
		if last[k] != want {
			t.Errorf("accumulate=false: %s = %v, want %v", k, last[k], want)
		}
	}
	mgmttest.Do(t, v.Admin, "updateConfiguration", map[string]string{"name": "vm.stats.increment.metrics", "value": "false"})
	if got := listed(t, v, "listVirtualMachines", id, nil); got["diskkbsread"] != 2048.0 {
		t.Errorf("vm.stats.increment.metrics=false: diskkbsread = %v, want 2048", got["diskkbsread"])
	}
	mgmttest.Do(t, v.Admin, "updateConfiguration", map[string]string{"name": "vm.stats.increment.metrics", "value": "true"})
	if got := listed(t, v, "listVirtualMachines", id, map[string]string{"details": "nics,tmpl"}); got["cpuused"] != nil || got["diskkbsread"] != nil {
		t.Errorf("details=nics,tmpl renders stats: %v %v", got["cpuused"], got["diskkbsread"])
	}
	if got := listed(t, v, "listVirtualMachines", id, map[string]string{"details": "stats"}); got["cpuused"] != "25%" {
		t.Errorf("details=stats: cpuused %v", got["cpuused"])
	}

	m := listed(t, v, "listVirtualMachinesMetrics", id, nil)
	for k, want := range map[string]any{"cputotal": "1.0 Ghz", "memorytotal": "1.00 GiB", "cpuused": "25%", "diskread": "3.00 MiB",
		"diskwrite": "1.00 MiB", "networkread": "0.00 MiB", "diskiopstotal": 35.0, "id": id, "state": "Running"} {
		if m[k] != want {
			t.Errorf("listVirtualMachinesMetrics %s = %v, want %v", k, m[k], want)
		}
	}
	if m["ipaddress"] == nil || m["ipaddress"] == "" {
		t.Errorf("listVirtualMachinesMetrics ipaddress: %v", m["ipaddress"])
	}

	// The VM restarted: its counters start again from zero.
	sample(t0+20000, 1e9, 1<<20, 0, 10, 0, 1024, 0)
	got = listed(t, v, "listVirtualMachines", id, nil)
	if got["cpuused"] != nil || got["diskkbsread"] != 4096.0 || got["networkkbsread"] != 5.0 {
		t.Errorf("after a restart: cpuused %v (want none), diskkbsread %v (want 4096), networkkbsread %v (want 5)", got["cpuused"], got["diskkbsread"], got["networkkbsread"])
	}

	// A stopped VM is not sampled; its stats stay until the VM is expunged.
	mgmttest.DoAsync(t, v.tenant, "stopVirtualMachine", map[string]string{"id": id})
	fake.asked = nil
	if err := c.CollectOnce(ctx); err != nil || len(fake.asked) != 0 {
		t.Errorf("a stopped VM sampled: %v %v", fake.asked, err)
	}
	if _, err := db.GetVMStats(ctx, v.Server.DB.SQL, id); err != nil {
		t.Errorf("stats of a stopped VM: %v", err)
	}
	mgmttest.DoAsync(t, v.Admin, "destroyVirtualMachine", map[string]string{"id": id, "expunge": "true"})
	if _, err := db.GetVMStats(ctx, v.Server.DB.SQL, id); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("stats of an expunged VM: %v", err)
	}
}

// Stats are kept vm.stats.max.retention.time minutes after their last sample.
func TestVMStatsRetention(t *testing.T) { testVMStatsRetention(t, false) }

// The same on MariaDB (skipped without ATOLL_TEST_MYSQL, failed under CI).
func TestVMStatsOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	t.Run("collected", func(t *testing.T) { testVMStatsCollected(t, true) })
	t.Run("retention", func(t *testing.T) { testVMStatsRetention(t, true) })
}

func testVMStatsRetention(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	ctx := context.Background()
	id := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})["id"].(string)
	now := time.Now()
	put := func(vmID string, collected time.Time) {
		t.Helper()
		if _, err := db.PutVMStats(ctx, v.Server.DB.SQL, &db.VMStats{VMID: vmID, HostID: "h", Sampled: collected.UnixMilli(), Collected: collected.UnixMilli()}, 0); err != nil {
			t.Fatal(err)
		}
	}
	put(id, now.Add(-11*time.Minute))
	put("gone-vm", now)
	d := &orchestrate.Deps{DB: v.Server.DB, Log: v.Server.API.Log, Config: v.Server.API.Config}
	c := &vm.StatsCollector{Deps: d, ServerID: v.Server.ID}
	mgmttest.Do(t, v.Admin, "updateConfiguration", map[string]string{"name": "vm.stats.max.retention.time", "value": "12"})
	if err := c.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetVMStats(ctx, v.Server.DB.SQL, id); err != nil {
		t.Errorf("stats 11 minutes old with 12 minutes' retention: %v", err)
	}
	if _, err := db.GetVMStats(ctx, v.Server.DB.SQL, "gone-vm"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("stats of a VM that does not exist: %v", err)
	}
	mgmttest.Do(t, v.Admin, "updateConfiguration", map[string]string{"name": "vm.stats.max.retention.time", "value": "10"})
	if err := c.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetVMStats(ctx, v.Server.DB.SQL, id); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("stats 11 minutes old with 10 minutes' retention: %v", err)
	}
}

// With a short vm.stats.interval the management server samples simulated VMs through the
// real agent and simulator: their memory is their offering's, their counters zero (a
// simulated guest executes nothing), and from the second sample on their cpuused is 0%.
func TestVMStatsSimulator(t *testing.T) {
	v := newVMEnv(t, false)
	id := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})["id"].(string)
	mgmttest.Do(t, v.Admin, "updateConfiguration", map[string]string{"name": "vm.stats.interval", "value": "200"})
	deadline := time.Now().Add(20 * time.Second)
	var m map[string]any
	for time.Now().Before(deadline) {
		m = listed(t, v, "listVirtualMachinesMetrics", id, nil)
		if m["cpuused"] != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for k, want := range map[string]any{"cpuused": "0%", "memorykbs": float64(1 << 20), "memorytargetkbs": float64(1 << 20), "networkkbsread": 0.0,
		"diskkbsread": 0.0, "diskiopstotal": 0.0, "networkread": "0.00 MiB", "cputotal": "1.0 Ghz"} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if _, ok := m["memoryintfreekbs"]; ok {
		t.Errorf("memoryintfreekbs of a simulated VM: %v", m["memoryintfreekbs"])
	}
}
