package simulator

import (
	"context"
	"sort"

	"github.com/atollcloud/atoll/hypervisor"
)

// VMStats reports the counters of every running VM as the simulator really has them: a
// simulated guest executes nothing and moves no bytes, so its CPU time and its disk and NIC
// counters stay zero; its memory is what it was started (or scaled) with, all of it in use
// (it reports no free memory), and its disks and NICs are those of its spec.
func (d *Driver) VMStats(ctx context.Context) ([]hypervisor.VMStats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]hypervisor.VMStats, 0, len(d.vms))
	for name, st := range d.vms {
		if st != hypervisor.PowerOn {
			continue
		}
		spec := d.specs[name]
		s := hypervisor.VMStats{Name: name, State: st, CPUs: spec.CPUs, MemoryBytes: spec.MemoryBytes,
			MaxMemory: max(spec.MaxMemoryBytes, spec.MemoryBytes)}
		for _, disk := range spec.Disks {
			s.Disks = append(s.Disks, hypervisor.DiskStats{Device: "vd" + string(rune('a'+disk.DeviceID%26)), Path: disk.Path})
		}
		for _, n := range spec.Nics {
			s.Nics = append(s.Nics, hypervisor.NicStats{Device: hypervisor.TapName(n.MAC)})
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

var _ hypervisor.StatsReporter = (*Driver)(nil)
