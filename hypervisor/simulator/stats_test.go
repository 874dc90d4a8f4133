package simulator

import (
	"context"
	"testing"

	"github.com/atollcloud/atoll/hypervisor"
)

// The simulator reports its running VMs as they are: the memory and CPUs they were started or
// scaled with, their disks and NICs, no CPU time and no traffic; stopped VMs not at all.
func TestVMStats(t *testing.T) {
	ctx := context.Background()
	d := New(hypervisor.HostInfo{})
	if err := d.StartVM(ctx, hypervisor.VMSpec{Name: "a", CPUs: 2, MemoryBytes: 512 << 20,
		Disks: []hypervisor.DiskSpec{{DeviceID: 0, Path: "root"}, {DeviceID: 1, Path: "data"}}, Nics: []hypervisor.NicSpec{{MAC: "02:00:00:00:00:01"}}}); err != nil {
		t.Fatal(err)
	}
	if err := d.StartVM(ctx, hypervisor.VMSpec{Name: "b", CPUs: 1, MemoryBytes: 256 << 20}); err != nil {
		t.Fatal(err)
	}
	d.StopVM(ctx, "b", false)
	if err := d.ScaleVM(ctx, "a", 4, 1000, 1<<30); err != nil {
		t.Fatal(err)
	}
	got, err := d.VMStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("stats of %d VMs, want the running one: %+v", len(got), got)
	}
	s := got[0]
	if s.Name != "a" || s.State != hypervisor.PowerOn || s.CPUs != 4 || s.MemoryBytes != 1<<30 || s.MaxMemory != 1<<30 || s.CPUTimeNs != 0 || s.FreeMemory != 0 {
		t.Errorf("stats: %+v", s)
	}
	if len(s.Disks) != 2 || s.Disks[0].Device != "vda" || s.Disks[1].Device != "vdb" || s.Disks[1].Path != "data" || s.Disks[0].ReadBytes != 0 {
		t.Errorf("disks: %+v", s.Disks)
	}
	if len(s.Nics) != 1 || s.Nics[0].Device != "at020000000001" || s.Nics[0].RxBytes != 0 {
		t.Errorf("nics: %+v", s.Nics)
	}
}
