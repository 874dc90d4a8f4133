package volume

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// MigrateSpec is what migrateVolume asks for.
type MigrateSpec struct {
	VolumeID          string // as sent
	StorageID         string // the target pool, as sent
	NewDiskOfferingID string // lowercased ("" when not sent)
	LiveMigrate       bool
}

// migrateTarget validates migrateVolume and returns the volume, the target pool and the VM
// the volume is attached to (nil when none).
func migrateTarget(ctx context.Context, q db.Querier, a orchestrate.Actor, spec *MigrateSpec) (*db.Volume, *db.StoragePool, *db.VM, error) {
	v, err := ForCaller(ctx, q, a.Caller, spec.VolumeID)
	if err != nil {
		return nil, nil, nil, err
	}
	if v.State != db.VolumeReady {
		return nil, nil, nil, orchestrate.ErrParam("Volume must be in ready state; volume %s is %s", v.Name, v.State)
	}
	if v.PoolID == "" {
		return nil, nil, nil, orchestrate.ErrParam("Volume %s is not on primary storage yet; nothing to migrate", v.Name)
	}
	if nd := spec.NewDiskOfferingID; nd != "" && nd != v.DiskOfferingID {
		return nil, nil, nil, orchestrate.Errorf(orchestrate.CodeUnsupported, orchestrate.CSServerAPI, "Changing the disk offering while migrating a volume is not supported")
	}
	target, err := db.GetStoragePool(ctx, q, strings.ToLower(spec.StorageID))
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil, nil, orchestrate.ErrParam("Unable to find storage pool with ID %s", spec.StorageID)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if target.ID == v.PoolID {
		return nil, nil, nil, orchestrate.ErrParam("Volume %s is already on storage pool %s", v.Name, target.Name)
	}
	if target.ZoneID != v.ZoneID {
		return nil, nil, nil, orchestrate.ErrParam("Storage pool %s is not in the volume's zone", target.Name)
	}
	if target.Status != db.PoolUp {
		return nil, nil, nil, orchestrate.ErrParam("Destination storage pool %s is %s, not Up", target.Name, target.Status)
	}
	var vm *db.VM
	if v.VMID != "" {
		if vm, err = db.GetVM(ctx, q, v.VMID); err != nil {
			return nil, nil, nil, err
		}
		switch {
		case vm.State == db.VMRunning && !spec.LiveMigrate:
			return nil, nil, nil, orchestrate.ErrParam("Volume %s is attached to running VM %s; set livemigrate=true to migrate it live", v.Name, vm.Name)
		case vm.State != db.VMRunning && vm.State != db.VMStopped:
			return nil, nil, nil, orchestrate.ErrParam("VM %s is %s; its volumes can be migrated while it is Running or Stopped", vm.Name, vm.State)
		}
		cluster, err := VMCluster(ctx, q, vm)
		if err != nil {
			return nil, nil, nil, err
		}
		if cluster != "" && !PoolReachable(target, vm.ZoneID, cluster) {
			return nil, nil, nil, orchestrate.ErrParam("Storage pool %s cannot be reached by VM %s", target.Name, vm.Name)
		}
	}
	return v, target, vm, nil
}

// StartMigrate checks a migration and writes its job; it returns the job's id and the
// volume's.
func StartMigrate(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec MigrateSpec) (jobID, volID string, err error) {
	v, _, _, err := migrateTarget(ctx, d.DB.Read(), a, &spec)
	if err != nil {
		return "", "", err
	}
	if jobID, err = startJob(ctx, d, a, v.ID); err != nil {
		return "", "", err
	}
	return jobID, v.ID, nil
}

// Migrate (the job on volume volID) reserves the target pool and marks the volume Migrating,
// has a host copy it, then moves the volume's allocation (or, if the host failed, gives the
// target back). It returns the volume (the caller reads it again to answer).
func Migrate(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, volID string, spec MigrateSpec) (*db.Volume, error) {
	var v *db.Volume
	var target, source *db.StoragePool
	var vm *db.VM
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		if cur, err := db.GetVolume(ctx, tx, volID); err == nil && cur.State == db.VolumeMigrating {
			// A replay (the server running this job died after reserving the target):
			// carry on with the copy.
			v = cur
			if target, err = db.GetStoragePool(ctx, tx, strings.ToLower(spec.StorageID)); err != nil {
				return err
			}
			if v.VMID != "" {
				if vm, err = db.GetVM(ctx, tx, v.VMID); err != nil {
					return err
				}
			}
			source, err = db.GetStoragePool(ctx, tx, v.PoolID)
			return err
		}
		if v, target, vm, err = migrateTarget(ctx, tx, a, &spec); err != nil {
			return err
		}
		if source, err = db.GetStoragePool(ctx, tx, v.PoolID); err != nil {
			return err
		}
		if err := ReservePool(ctx, d, tx, target, v.Size); err != nil {
			return err
		}
		v.State = db.VolumeMigrating
		return db.UpdateVolume(ctx, tx, v)
	})
	if err != nil {
		if u, gerr := db.GetVolume(ctx, d.DB.SQL, volID); gerr == nil && u.PoolID == strings.ToLower(spec.StorageID) {
			return u, nil // a replay after the move was recorded
		}
		return nil, err
	}
	hostID := ""
	if vm != nil && vm.State == db.VMRunning {
		hostID = vm.HostID
	}
	var ans protocol.VolumeAnswer
	host, herr := HostForPool(ctx, d, source, hostID)
	if herr == nil {
		herr = SendStorage(ctx, d, host, protocol.CmdMigrateVolume, protocol.VolumeCommand{Volume: VolumeRef(v, source),
			Target: &protocol.PoolRef{ID: target.ID, Type: target.PoolType, URL: target.URL}, VM: vmInstance(vm)}, &ans)
	}
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		u, err := db.GetVolume(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if herr != nil {
			if err := d.Ledger.ReleaseStorage(ctx, tx, target.ID, u.Size); err != nil {
				return err
			}
			u.State = db.VolumeReady
			return db.UpdateVolume(ctx, tx, u)
		}
		if err := d.Ledger.ReleaseStorage(ctx, tx, source.ID, u.Size); err != nil {
			return err
		}
		u.PoolID, u.PodID, u.State = target.ID, target.PodID, db.VolumeReady
		if ans.Path != "" {
			u.Path = ans.Path
		}
		if err := db.UpdateVolume(ctx, tx, u); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, evVolumeMigrate, "Migrating volume "+u.Name+" to storage pool "+target.Name, "Volume", u.ID)
	})
	if herr != nil {
		if err != nil {
			Log(d).Error("undo a failed volume migration", "volume", v.ID, "err", err)
		}
		return nil, herr
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

func vmInstance(vm *db.VM) string {
	if vm == nil {
		return ""
	}
	return vm.InstanceName()
}
