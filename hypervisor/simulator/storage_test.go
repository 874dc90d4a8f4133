package simulator

import (
	"context"
	"errors"
	"testing"

	"github.com/atollcloud/atoll/hypervisor"
)

func TestSimulatorVolumes(t *testing.T) {
	ctx := context.Background()
	d := New(hypervisor.HostInfo{})
	if err := d.AttachVolume(ctx, "i-1", "v1", "v1", 1); !errors.Is(err, hypervisor.ErrNoVM) {
		t.Fatalf("attach to an unknown vm: %v", err)
	}
	d.StartVM(ctx, hypervisor.VMSpec{Name: "i-1"})
	if err := d.AttachVolume(ctx, "i-1", "v1", "v1", 1); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachVolume(ctx, "i-1", "v1", "v1", 1); err != nil {
		t.Fatalf("replayed attach: %v", err)
	}
	if err := d.AttachVolume(ctx, "i-1", "v2", "v2", 1); err == nil {
		t.Fatal("two volumes at one device")
	}
	if err := d.AttachVolume(ctx, "i-1", "v1", "v1", 2); err == nil {
		t.Fatal("one volume at two devices")
	}
	if got := d.AttachedVolumes("i-1"); len(got) != 1 || got["v1"] != 1 {
		t.Fatalf("attached: %v", got)
	}
	if err := d.DetachVolume(ctx, "i-1", "v1"); err != nil {
		t.Fatal(err)
	}
	if err := d.DetachVolume(ctx, "i-1", "v1"); err != nil {
		t.Fatalf("replayed detach: %v", err)
	}
	if _, err := d.ResizeVolume(ctx, "p", "v1", 10, 5, false); err == nil {
		t.Fatal("shrink without shrinkok")
	}
	if n, err := d.ResizeVolume(ctx, "p", "v1", 10, 5, true); err != nil || n != 5 {
		t.Fatalf("shrink with shrinkok: %d %v", n, err)
	}
	d.SetFault("CreateSnapshot", Fault{Fail: true})
	if err := d.Intercept(ctx, "CreateSnapshot"); err == nil {
		t.Fatal("fault on CreateSnapshot not injected")
	}
	path, phys, err := d.BackupSnapshot(ctx, "p", "v1", "v1", "s1", "nfs://store/x", 100)
	if err != nil || path == "" || phys != 100 {
		t.Fatalf("backup: %q %d %v", path, phys, err)
	}
}
