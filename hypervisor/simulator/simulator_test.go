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
