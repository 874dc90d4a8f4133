package vm

import (
	"context"
	"errors"
	"strconv"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// OfferingSpec is a VM's new service offering, with the custom values (cpuNumber, cpuSpeed,
// memory) of a custom one.
type OfferingSpec struct {
	OfferingID string
	Details    map[string]string
}

// newOffering resolves the offering (and details) of a VM changing offering.
func newOffering(ctx context.Context, q db.Querier, v *db.VM, s OfferingSpec) (*db.ServiceOffering, int, int64, int64, error) {
	owner, err := db.GetAccount(ctx, q, v.AccountID)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	so, err := OfferingOf(ctx, q, nil, s.OfferingID, owner, v.ZoneID)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	cpu, speed, mem, err := ComputeOf(so, s.Details)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	if so.ID == v.ServiceOfferingID && cpu == v.CPUNumber && speed == v.CPUSpeed && mem == v.Memory {
		return nil, 0, 0, 0, orchestrate.ErrParam("Not upgrading vm %s since it already has the requested service offering (%s)", orchestrate.VMString(v), so.Name)
	}
	return so, cpu, speed, mem, nil
}

// applyOffering writes a new offering to a VM and charges the CPU and memory difference.
func applyOffering(ctx context.Context, d *orchestrate.Deps, tx db.Tx, v *db.VM, so *db.ServiceOffering, cpu int, speed, mem int64) error {
	if err := d.ChargeResources(ctx, tx, v.AccountID, map[string]int64{db.ResCPU: int64(cpu - v.CPUNumber), db.ResMemory: mem - v.Memory}); err != nil {
		return err
	}
	v.ServiceOfferingID, v.CPUNumber, v.CPUSpeed, v.Memory = so.ID, cpu, speed, mem
	if so.Customized {
		v.Details = MergeDetails(v.Details, map[string]string{"cpuNumber": strconv.Itoa(cpu), "cpuSpeed": strconv.FormatInt(speed, 10),
			"memory": strconv.FormatInt(mem, 10)})
	}
	return db.UpdateVM(ctx, tx, v)
}

// ChangeService changes a Stopped VM's offering (the caller may act on it). It returns the VM
// to answer.
func ChangeService(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, s OfferingSpec) (*db.VM, error) {
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := Get(ctx, tx, a.Caller, id)
		if err != nil {
			return err
		}
		id = v.ID
		if v.State != db.VMStopped {
			return orchestrate.ErrParam("Unable to upgrade virtual machine %s in state %s; make sure the virtual machine is stopped", orchestrate.VMString(v), v.State)
		}
		so, cpu, speed, mem, err := newOffering(ctx, tx, v, s)
		if err != nil {
			return err
		}
		if err := applyOffering(ctx, d, tx, v, so, cpu, speed, mem); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "VM.UPGRADE", "Changed the offering of VM "+v.Name+" to "+so.Name, "VirtualMachine", v.ID)
	})
	if err != nil {
		return nil, err
	}
	return Read(ctx, d, id)
}

// Scale scales a Running, dynamically scalable VM up (CPU and memory not lower, the host
// reserving the difference), or changes a Stopped VM's offering. It returns the VM to answer.
func Scale(ctx context.Context, d *orchestrate.Deps, id string, s OfferingSpec) (*db.VM, error) {
	var v *db.VM
	var delta planner.Compute
	var so *db.ServiceOffering
	var cpu int
	var speed, mem int64
	var prev db.VM
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		if v, err = db.GetVM(ctx, tx, id); err != nil {
			return err
		}
		prev = *v
		if so, cpu, speed, mem, err = newOffering(ctx, tx, v, s); err != nil {
			return err
		}
		switch v.State {
		case db.VMStopped:
			return applyOffering(ctx, d, tx, v, so, cpu, speed, mem)
		case db.VMRunning:
		default:
			return orchestrate.ErrVMState(v, "scale")
		}
		if !v.DynamicallyScalable {
			return orchestrate.ErrParam("Unable to scale %s as it does not have tools to support dynamic scaling", orchestrate.VMString(v))
		}
		if int64(cpu)*speed < int64(v.CPUNumber)*v.CPUSpeed || cpu < v.CPUNumber || mem < v.Memory {
			return orchestrate.ErrParam("Only scaling up the vm is supported, new service offering(speed=%d,cpu=%d,memory=%d) should have at least one value(cpu/ram) greater than old value and no resource value less than older(speed=%d,cpu=%d,memory=%d)",
				speed, cpu, mem, v.CPUSpeed, v.CPUNumber, v.Memory)
		}
		delta = planner.Compute{CPUMHz: int64(cpu)*speed - int64(v.CPUNumber)*v.CPUSpeed, Cores: int64(cpu - v.CPUNumber), Memory: (mem - v.Memory) << 20}
		if err := d.Ledger.ReserveCompute(ctx, tx, v.HostID, delta, planner.Options{}); err != nil {
			var ce *planner.CapacityError
			if !errors.As(err, &ce) {
				return err // the database's: logged, and answered with CloudStack's generic words
			}
			return orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSInsufficientServerCapacity, "Unable to scale %s on its host: %v", orchestrate.VMString(v), err)
		}
		return applyOffering(ctx, d, tx, v, so, cpu, speed, mem)
	})
	if err != nil {
		return nil, err
	}
	if v.State != db.VMRunning {
		return Read(ctx, d, v.ID)
	}
	serr := d.Send(ctx, v.HostID, protocol.CmdScaleVM, protocol.ScaleVM{Name: v.InstanceName(), CPUs: cpu, SpeedMHz: speed, MemoryBytes: mem << 20}, AgentTimeout)
	if serr == nil {
		return Read(ctx, d, v.ID)
	}
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		cur, err := db.GetVM(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if err := d.Ledger.ReleaseCompute(ctx, tx, cur.HostID, delta); err != nil {
			return err
		}
		cur.Details = prev.Details
		return applyOffering(ctx, d, tx, cur, &db.ServiceOffering{ID: prev.ServiceOfferingID}, prev.CPUNumber, prev.CPUSpeed, prev.Memory)
	})
	if err != nil {
		return nil, err
	}
	return nil, orchestrate.ErrInternal("Unable to scale %s: %s", orchestrate.VMString(v), d.Cause(serr))
}
