package simulator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atollcloud/atoll/hypervisor"
)

func TestSimulatorVMsAndFaults(t *testing.T) {
	ctx := context.Background()
	d := New(hypervisor.HostInfo{CPUCores: 2})
	info, _ := d.HostInfo(ctx)
	if info.CPUCores != 2 || info.CPUSpeedMHz != Defaults.CPUSpeedMHz || info.HypervisorType != "Simulator" {
		t.Fatalf("host info: %+v", info)
	}
	for i := 0; i < 2; i++ { // every operation is idempotent
		if err := d.StartVM(ctx, hypervisor.VMSpec{Name: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	d.StartVM(ctx, hypervisor.VMSpec{Name: "a"})
	d.StopVM(ctx, "a", false)
	d.StopVM(ctx, "missing", true)
	vms, _ := d.ListVMs(ctx)
	if len(vms) != 2 || vms[0] != (hypervisor.VM{Name: "a", State: hypervisor.PowerOff}) || vms[1].State != hypervisor.PowerOn {
		t.Fatalf("vms: %+v", vms)
	}
	if err := d.RebootVM(ctx, "a"); err == nil {
		t.Fatal("rebooted a stopped vm")
	}
	if err := d.RebootVM(ctx, "nope"); !errors.Is(err, hypervisor.ErrNoVM) {
		t.Fatalf("reboot missing: %v", err)
	}
	d.DestroyVM(ctx, "a")
	d.DestroyVM(ctx, "a")
	if vms, _ = d.ListVMs(ctx); len(vms) != 1 {
		t.Fatalf("after destroy: %+v", vms)
	}

	// Faults: the driver's own beat the source; "*" covers every command; latency honours ctx.
	d.SetFaultSource(func(ctx context.Context, cmd string) (Fault, bool) {
		if cmd == "StopVM" {
			return Fault{Fail: true, Message: "from source"}, true
		}
		return Fault{}, false
	})
	if err := d.Intercept(ctx, "StopVM"); err == nil || err.Error() != "from source" {
		t.Fatalf("source fault: %v", err)
	}
	d.SetFault("stopvm", Fault{Fail: true})
	if err := d.Intercept(ctx, "StopVM"); err == nil || err.Error() != "simulated failure of StopVM" {
		t.Fatalf("own fault: %v", err)
	}
	d.SetFault("StopVM", Fault{})
	d.SetFault("*", Fault{Latency: time.Hour})
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := d.Intercept(cctx, "Echo"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("latency: %v", err)
	}
	d.SetFault("*", Fault{})
	if err := d.Intercept(ctx, "Echo"); err != nil {
		t.Fatal(err)
	}
}

func TestSimulatorMigrateAndScale(t *testing.T) {
	ctx := context.Background()
	src, dst := New(hypervisor.HostInfo{}), New(hypervisor.HostInfo{})
	spec := hypervisor.VMSpec{Name: "i-1-1-VM", CPUs: 1, SpeedMHz: 1000, MemoryBytes: 1 << 30,
		Disks: []hypervisor.DiskSpec{{VolumeID: "v", Type: "ROOT"}}, Nics: []hypervisor.NicSpec{{MAC: "02:00:00:00:00:01", IsDefault: true}}}
	if err := src.StartVM(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if got, ok := src.Spec("i-1-1-VM"); !ok || len(got.Disks) != 1 || len(got.Nics) != 1 {
		t.Fatalf("spec kept: %+v %v", got, ok)
	}
	if err := src.ScaleVM(ctx, "i-1-1-VM", 2, 1000, 2<<30); err != nil {
		t.Fatal(err)
	}
	if got, _ := src.Spec("i-1-1-VM"); got.CPUs != 2 || got.MemoryBytes != 2<<30 {
		t.Fatalf("scaled: %+v", got)
	}
	if _, err := dst.PrepareMigration(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := src.MigrateVM(ctx, "i-1-1-VM", hypervisor.MigrationTarget{URI: "dst"}); err != nil {
		t.Fatal(err)
	}
	if vms, _ := src.ListVMs(ctx); len(vms) != 0 {
		t.Fatalf("the source still has %v", vms)
	}
	if vms, _ := dst.ListVMs(ctx); len(vms) != 1 || vms[0].State != hypervisor.PowerOn {
		t.Fatalf("the target has %v", vms)
	}
	if err := src.MigrateVM(ctx, "i-1-1-VM", hypervisor.MigrationTarget{URI: "dst"}); err != nil {
		t.Fatalf("a replayed migration: %v", err)
	}
	if !dst.PowerOffVM("i-1-1-VM") {
		t.Fatal("power off")
	}
	if err := dst.ScaleVM(ctx, "i-1-1-VM", 4, 1000, 1<<30); err == nil {
		t.Fatal("scaled a powered-off vm")
	}
}
