package vm

import (
	"context"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Stop stops a VM: Running -> Stopping -> Stopped, releasing the host's CPU and memory. A
// failed stop leaves the VM Running unless forced. It returns the VM to answer.
func Stop(ctx context.Context, d *orchestrate.Deps, id string, forced bool) (*db.VM, error) {
	var v *db.VM
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		if v, err = db.GetVM(ctx, tx, id); err != nil {
			return err
		}
		switch v.State {
		case db.VMStopped, db.VMStopping:
			return nil
		case db.VMRunning:
			v.State = db.VMStopping
			return db.UpdateVM(ctx, tx, v)
		}
		return orchestrate.ErrVMState(v, "stop")
	})
	if err != nil {
		return nil, err
	}
	if v.State == db.VMStopped {
		return Read(ctx, d, v.ID)
	}
	if err := StopOnHost(ctx, d, v, forced, AgentTimeout); err != nil {
		return nil, err
	}
	return Read(ctx, d, v.ID)
}

// StopOnHost stops a Stopping VM on its host, waiting at most wait for the host's answer, and
// settles it Stopped; a failure (unless forced) puts it back to Running.
func StopOnHost(ctx context.Context, d *orchestrate.Deps, v *db.VM, forced bool, wait time.Duration) error {
	serr := d.Send(ctx, v.HostID, protocol.CmdStopVM, protocol.VMRef{Name: v.InstanceName(), Force: forced}, wait)
	var failed error
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		failed = nil
		cur, err := db.GetVM(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if cur.State != db.VMStopping {
			return nil
		}
		if serr != nil && !forced {
			cur.State = db.VMRunning
			failed = orchestrate.ErrInternal("Unable to stop %s: %s", orchestrate.VMString(cur), d.Cause(serr))
			return db.UpdateVM(ctx, tx, cur)
		}
		if err := orchestrate.ReleaseCompute(ctx, tx, d.Ledger, cur); err != nil {
			return err
		}
		cur.State, cur.PowerState, cur.PowerStateUpdated = db.VMStopped, db.PowerOff, db.Now()
		if cur.HostID != "" {
			cur.LastHostID = cur.HostID
		}
		cur.HostID = ""
		return db.UpdateVM(ctx, tx, cur)
	})
	if err != nil {
		return err
	}
	if failed == nil {
		leaveHost(ctx, d, v, v.HostID)
	}
	return failed
}

// Reboot reboots a Running VM on its host. Forced, it is CloudStack's forced reboot: the VM
// is stopped (forced: its host's answer is not needed) and started again as s says, on its
// last host first; run again after a server died (attempts > 1), it carries on from the state
// it finds. It returns the VM to answer.
func Reboot(ctx context.Context, d *orchestrate.Deps, id string, forced bool, attempts int, s StartSpec) (*db.VM, error) {
	if forced {
		return forcedReboot(ctx, d, id, attempts, s)
	}
	v, err := db.GetVM(ctx, d.DB.SQL, id)
	if err != nil {
		return nil, err
	}
	if v.State != db.VMRunning {
		return nil, orchestrate.ErrVMState(v, "reboot")
	}
	if err := d.Send(ctx, v.HostID, protocol.CmdRebootVM, protocol.VMRef{Name: v.InstanceName()}, AgentTimeout); err != nil {
		return nil, orchestrate.ErrInternal("Unable to reboot %s: %s", orchestrate.VMString(v), d.Cause(err))
	}
	return Read(ctx, d, v.ID)
}

func forcedReboot(ctx context.Context, d *orchestrate.Deps, id string, attempts int, s StartSpec) (*db.VM, error) {
	var v *db.VM
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		if v, err = db.GetVM(ctx, tx, id); err != nil {
			return err
		}
		switch v.State {
		case db.VMRunning:
			v.State = db.VMStopping
			return db.UpdateVM(ctx, tx, v)
		case db.VMStopping, db.VMStopped, db.VMStarting:
			if attempts > 1 {
				return nil // an earlier run of this job got this far
			}
		}
		return orchestrate.ErrVMState(v, "reboot")
	})
	if err != nil {
		return nil, err
	}
	if v.State == db.VMStopping {
		if err := StopOnHost(ctx, d, v, true, AgentTimeout); err != nil {
			return nil, err
		}
	}
	return Start(ctx, d, id, false, nil, s)
}
