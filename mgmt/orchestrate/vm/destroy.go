package vm

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// DestroySpec is what a destroy also does: expunge the VM at once, and destroy the data disks
// listed with it.
type DestroySpec struct {
	Expunge   bool
	VolumeIDs []string
}

// StartDestroy checks the VM id names may be destroyed as s says (the caller may act on it,
// no delete protection on it or on the data disks listed) and queues the actor's job on it. It
// returns the job's id and the VM's.
func StartDestroy(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, s DestroySpec) (jobID, vmID string, err error) {
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := Get(ctx, tx, a.Caller, id)
		if err != nil {
			return err
		}
		if err := VMDeleteProtected(v, s.Expunge); err != nil {
			return err
		}
		for _, vid := range s.VolumeIDs {
			o, err := db.GetVolume(ctx, tx, strings.ToLower(vid))
			if errors.Is(err, db.ErrNotFound) || err == nil && (o.VMID != v.ID || o.Type != db.VolumeDataDisk) {
				return orchestrate.ErrParam("Volume %s is not a data disk attached to %s", vid, v.Name)
			}
			if err != nil {
				return err
			}
			if err := VolumeDeleteProtected(o); err != nil {
				return err
			}
		}
		vmID = v.ID
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, JobType, v.ID)
		return err
	})
	return jobID, vmID, err
}

// VMDeleteProtected refuses to destroy a VM with delete protection (CloudStack 4.20), unless it
// is destroyed already and not to be expunged (then the destroy changes nothing, as
// CloudStack's returns the VM as it is).
func VMDeleteProtected(v *db.VM, expunge bool) error {
	if v.DeleteProtection && (expunge || v.State != db.VMDestroyed && v.State != db.VMExpunging) {
		return orchestrate.ErrParam("Instance [id = %s, name = %s] has delete protection enabled and cannot be deleted.", v.ID, v.Name)
	}
	return nil
}

// VolumeDeleteProtected refuses to delete or destroy a volume with delete protection.
func VolumeDeleteProtected(o *db.Volume) error {
	if o.DeleteProtection {
		return orchestrate.ErrParam("Volume [id = %s, name = %s] has delete protection enabled and cannot be deleted", o.ID, o.Name)
	}
	return nil
}

// destroyProtected is VMDeleteProtected for v and VolumeDeleteProtected for the data disks a
// destroy names.
func destroyProtected(ctx context.Context, q db.Querier, v *db.VM, s DestroySpec) error {
	if err := VMDeleteProtected(v, s.Expunge); err != nil {
		return err
	}
	for _, vid := range s.VolumeIDs {
		o, err := db.GetVolume(ctx, q, strings.ToLower(vid))
		if errors.Is(err, db.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := VolumeDeleteProtected(o); err != nil {
			return err
		}
	}
	return nil
}

// Destroy stops a running VM, then marks it Destroyed (its ROOT volume and the listed
// DATADISKs Destroy), uncounted; with Expunge it is expunged at once. stopped is called with
// the VM's id once it is stopped, before it is destroyed (the API renders it then: an expunged
// VM's answer is the VM as it was). It returns the VM to answer (nil when expunged).
func Destroy(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, s DestroySpec, stopped func(id string) error) (*db.VM, error) {
	v, err := db.GetVM(ctx, d.DB.SQL, id)
	if err != nil {
		return nil, err
	}
	// Checked again here, as CloudStack's destroy does in its job: protection may have been set
	// since the call was taken (before anything is stopped).
	if err := destroyProtected(ctx, d.DB.SQL, v, s); err != nil {
		return nil, err
	}
	switch v.State {
	case db.VMRunning, db.VMStopping:
		if v.State == db.VMRunning {
			err = d.DB.Transaction(ctx, func(tx db.Tx) error {
				cur, err := db.GetVM(ctx, tx, v.ID)
				if err != nil {
					return err
				}
				if cur.State != db.VMRunning {
					return db.ErrConflict
				}
				cur.State = db.VMStopping
				return db.UpdateVM(ctx, tx, cur)
			})
			if err != nil {
				return nil, err
			}
		}
		if err := StopOnHost(ctx, d, v, true, AgentTimeout); err != nil {
			return nil, err
		}
	case db.VMStopped, db.VMError, db.VMDestroyed, db.VMExpunging:
	default:
		return nil, orchestrate.ErrVMState(v, "destroy")
	}
	if stopped != nil {
		if err := stopped(v.ID); err != nil {
			return nil, err
		}
	}
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		cur, err := db.GetVM(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if cur.State != db.VMStopped && cur.State != db.VMError {
			return nil // already destroyed
		}
		if err := destroyProtected(ctx, tx, cur, s); err != nil {
			return err
		}
		if cur.State == db.VMStopped {
			if err := Uncount(ctx, d, tx, cur); err != nil {
				return err
			}
			if err := DestroyVolumes(ctx, d, tx, cur, s.VolumeIDs, false); err != nil {
				return err
			}
		}
		cur.State, cur.Destroyed = db.VMDestroyed, db.Now()
		if err := db.UpdateVM(ctx, tx, cur); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "VM.DESTROY", "Destroyed VM "+cur.Name, "VirtualMachine", cur.ID)
	})
	if err != nil {
		return nil, err
	}
	if s.Expunge {
		return nil, Expunge(ctx, d, a, v.ID, true)
	}
	return Read(ctx, d, v.ID)
}

// Recover brings a Destroyed VM back to Stopped, counted again (limits apply). It returns the
// VM to answer.
func Recover(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) (*db.VM, error) {
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := Get(ctx, tx, a.Caller, id)
		if err != nil {
			return err
		}
		id = v.ID
		if v.State != db.VMDestroyed {
			return orchestrate.ErrVMState(v, "recover")
		}
		vols, _, err := db.ListVolumes(ctx, tx, db.VolumeFilter{VMID: v.ID, State: db.VolumeDestroy})
		if err != nil {
			return err
		}
		var bytes int64
		for _, o := range vols {
			o.State = db.VolumeReady
			if o.Path == "" {
				o.State = db.VolumeAllocated
			}
			bytes += o.Size
			if err := db.UpdateVolume(ctx, tx, o); err != nil {
				return err
			}
		}
		if err := d.ChargeResources(ctx, tx, v.AccountID, map[string]int64{db.ResUserVM: 1, db.ResCPU: int64(v.CPUNumber), db.ResMemory: v.Memory,
			db.ResVolume: int64(len(vols)), db.ResPrimaryStorage: bytes}); err != nil {
			return err
		}
		v.State, v.Destroyed = db.VMStopped, 0
		if err := db.UpdateVM(ctx, tx, v); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "VM.RECOVER", "Recovered VM "+v.Name, "VirtualMachine", v.ID)
	})
	if err != nil {
		return nil, err
	}
	return Read(ctx, d, id)
}

// ExpungeDestroyed expunges a Destroyed (or Error) VM for expungeVirtualMachine's job; a VM
// gone already (an earlier run, or the sweeper) is done.
func ExpungeDestroyed(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	v, err := db.GetVM(ctx, d.DB.SQL, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil // expunged by an earlier run or the sweeper
	}
	if err != nil {
		return err
	}
	switch v.State {
	case db.VMDestroyed, db.VMError, db.VMExpunging:
	default:
		return orchestrate.ErrParam("Please destroy %s before expunging it: it is in state %s", orchestrate.VMString(v), v.State)
	}
	return Expunge(ctx, d, a, v.ID, true)
}
