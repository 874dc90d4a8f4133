package volume

import (
	"context"
	"errors"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// DetachSpec names the volume detachVolume detaches: by ID, or by the VM (VMID) and the
// device id on it. The caller has checked that exactly one of the two ways is given.
type DetachSpec struct {
	ID       string // as sent
	VMID     string // as sent
	DeviceID int
}

// toDetach resolves detachVolume's volume.
func toDetach(ctx context.Context, q db.Querier, a orchestrate.Actor, spec DetachSpec) (*db.Volume, error) {
	if spec.ID != "" {
		return ForCaller(ctx, q, a.Caller, spec.ID)
	}
	vm, err := vmFor(ctx, q, a.Caller, spec.VMID)
	if err != nil {
		return nil, err
	}
	list, _, err := db.ListVolumes(ctx, q, db.VolumeFilter{VMID: vm.ID})
	if err != nil {
		return nil, err
	}
	for _, v := range list {
		if v.DeviceID == spec.DeviceID {
			return v, nil
		}
	}
	return nil, orchestrate.ErrParam("Unable to find volume with device id %d on VM %s", spec.DeviceID, vm.Name)
}

func checkDetach(ctx context.Context, q db.Querier, v *db.Volume) (*db.VM, error) {
	if v.VMID == "" {
		return nil, orchestrate.ErrParam("Please specify a volume that is attached to a VM.")
	}
	if v.Type == db.VolumeRoot {
		return nil, orchestrate.ErrParam("Can't detach root disk")
	}
	vm, err := db.GetVM(ctx, q, v.VMID)
	if err != nil {
		return nil, err
	}
	if vm.State != db.VMRunning && vm.State != db.VMStopped && vm.State != db.VMDestroyed {
		return nil, orchestrate.ErrParam("Please specify a VM that is either running or stopped.")
	}
	return vm, nil
}

// StartDetach checks detachVolume's rules and writes its job; it returns the job's id and the
// volume's.
func StartDetach(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec DetachSpec) (jobID, volID string, err error) {
	q := d.DB.Read()
	v, err := toDetach(ctx, q, a, spec)
	if err != nil {
		return "", "", err
	}
	if _, err := checkDetach(ctx, q, v); err != nil {
		return "", "", err
	}
	if jobID, err = startJob(ctx, d, a, v.ID); err != nil {
		return "", "", err
	}
	return jobID, v.ID, nil
}

// Detach detaches a volume: a Running VM's host lets go of the disk first (a failure changes
// nothing), then the volume row loses its VM and device. A volume already detached (a
// replay) is left alone.
func Detach(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, volID string) error {
	v, err := ForCaller(ctx, d.DB.SQL, a.Caller, volID)
	if err != nil {
		return err
	}
	if v.VMID == "" {
		return nil
	}
	vm, err := checkDetach(ctx, d.DB.SQL, v)
	if err != nil {
		return err
	}
	if vm.State == db.VMRunning && vm.HostID != "" && v.PoolID != "" {
		pool, err := db.GetStoragePool(ctx, d.DB.SQL, v.PoolID)
		if err != nil {
			return err
		}
		if err := volumeCommand(ctx, d, pool, vm.HostID, protocol.CmdDetachVolume, v, func(cmd *protocol.VolumeCommand) {
			cmd.VM = vm.InstanceName()
		}); err != nil {
			return err
		}
	}
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		u, err := db.GetVolume(ctx, tx, v.ID)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil || u.VMID == "" {
			return err
		}
		u.VMID, u.DeviceID, u.Attached = "", 0, 0
		if err := db.UpdateVolume(ctx, tx, u); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, evVolumeDetach, "Detaching volume "+u.Name+" from VM "+vm.Name, "Volume", u.ID)
	})
}
