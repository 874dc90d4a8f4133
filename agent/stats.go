package agent

import (
	"context"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
)

// vmStats answers GetVmStats from the driver's counters (hypervisor.StatsReporter), limited to
// the VMs named when the request names any. A driver without counters answers unsupported.
func (a *Agent) vmStats(ctx context.Context, cmd protocol.Command) (any, error) {
	r, ok := a.cfg.Driver.(hypervisor.StatsReporter)
	if !ok {
		return nil, errUnsupported(cmd.Name)
	}
	var req protocol.GetVMStats
	if len(cmd.Body) > 0 {
		if err := decode(cmd, &req); err != nil {
			return nil, err
		}
	}
	stats, err := r.VMStats(ctx)
	if err != nil {
		return nil, err
	}
	ans := protocol.VMStatsAnswer{Time: time.Now().UnixMilli(), VMs: make([]protocol.VMStats, 0, len(stats))}
	want := map[string]bool{}
	for _, n := range req.Names {
		want[n] = true
	}
	for _, s := range stats {
		if len(want) > 0 && !want[s.Name] {
			continue
		}
		ans.VMs = append(ans.VMs, wireStats(s))
	}
	return ans, nil
}

func wireStats(s hypervisor.VMStats) protocol.VMStats {
	out := protocol.VMStats{Name: s.Name, State: string(s.State), CPUs: s.CPUs, CPUTimeNs: s.CPUTimeNs, MemoryBytes: s.MemoryBytes,
		MaxMemory: s.MaxMemory, RSSBytes: s.RSSBytes, FreeMemory: s.FreeMemory}
	for _, d := range s.Disks {
		out.Disks = append(out.Disks, protocol.DiskStats{Device: d.Device, Path: d.Path, ReadBytes: d.ReadBytes, WriteBytes: d.WriteBytes,
			ReadOps: d.ReadOps, WriteOps: d.WriteOps})
	}
	for _, n := range s.Nics {
		out.Nics = append(out.Nics, protocol.NicStats{Device: n.Device, RxBytes: n.RxBytes, TxBytes: n.TxBytes, RxPackets: n.RxPackets,
			TxPackets: n.TxPackets})
	}
	return out
}
