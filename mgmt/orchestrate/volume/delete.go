package volume

import (
	"context"
	"errors"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// Delete deletes a detached volume (id as the caller sent it): its rows go in one
// transaction (ExpungeRows), then its disk on the pool (DropFile).
func Delete(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	var pool *db.StoragePool
	var gone *db.Volume
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := ForCaller(ctx, tx, a.Caller, id)
		if err != nil {
			return err
		}
		if v.VMID != "" {
			return orchestrate.ErrParam("Please specify a volume that is not attached to any VM.")
		}
		if err := deleteProtected(v); err != nil {
			return err
		}
		switch v.State {
		case db.VolumeReady, db.VolumeAllocated, db.VolumeUploaded, db.VolumeDestroy, "Error",
			db.VolumeNotUploaded, db.VolumeUploadError, db.VolumeUploadAbandoned:
		default:
			return orchestrate.ErrParam("Volume %s is %s; it can be deleted only when Ready, Allocated, Uploaded or Destroy", v.Name, v.State)
		}
		if n, err := db.CountVolumeSnapshots(ctx, tx, v.ID, db.SnapshotAllocated, db.SnapshotCreating, db.SnapshotBackingUp); err != nil {
			return err
		} else if n > 0 {
			return orchestrate.ErrInUse("Volume %s has snapshots being taken; try again when they are done", v.Name)
		}
		if pool, err = ExpungeRows(ctx, d, a, tx, v, false); err != nil {
			return err
		}
		gone = v
		return nil
	})
	if err != nil {
		return err
	}
	DropFile(ctx, d, pool, gone)
	return nil
}

// ExpungeRows removes a detached volume in tx: its pool's ledger gives its bytes back, its
// account is uncharged (unless Destroy already did), and it is marked Expunged with its
// snapshot policies and tags gone and an event. It returns the volume's pool (nil when it has
// none or the pool is gone) for DropFile after the commit. With noLedgerOK a pool without
// its ledger row is passed over (an account's cleanup, after the pool's removal).
func ExpungeRows(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, tx db.Tx, v *db.Volume, noLedgerOK bool) (*db.StoragePool, error) {
	var pool *db.StoragePool
	if v.PoolID != "" {
		var err error
		if pool, err = db.GetStoragePool(ctx, tx, v.PoolID); err != nil && !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
		if err := d.Ledger.ReleaseStorage(ctx, tx, v.PoolID, v.Size); err != nil && !(noLedgerOK && errors.Is(err, planner.ErrNoLedger)) {
			return nil, err
		}
	}
	if v.State != db.VolumeDestroy {
		if err := d.ChargeResources(ctx, tx, v.AccountID, map[string]int64{db.ResVolume: -1, db.ResPrimaryStorage: -v.Size}); err != nil {
			return nil, err
		}
	}
	v.State, v.Removed = db.VolumeExpunged, db.Now()
	if err := db.UpdateVolume(ctx, tx, v); err != nil {
		return nil, err
	}
	if err := db.RemoveVolumeSnapshotPolicies(ctx, tx, v.ID); err != nil {
		return nil, err
	}
	if err := db.DeleteTagsOf(ctx, tx, "Volume", v.ID); err != nil {
		return nil, err
	}
	return pool, orchestrate.Event(ctx, tx, a, evVolumeDelete, "Deleting volume "+v.Name, "Volume", v.ID)
}

// DropFile deletes an expunged volume's disk on its pool. It goes after the rows: a host that
// cannot be reached now leaves a file behind (logged), never a volume that is counted but
// unusable.
func DropFile(ctx context.Context, d *orchestrate.Deps, pool *db.StoragePool, v *db.Volume) {
	if pool == nil {
		dropStoreFile(ctx, d, v) // an uploaded volume's bytes on an image store: upload.go
		return
	}
	if v == nil {
		return
	}
	if err := volumeCommand(ctx, d, pool, "", protocol.CmdDeleteVolume, v, nil); err != nil {
		Log(d).Warn("delete volume on primary storage", "volume", v.ID, "pool", pool.ID, "err", err)
	}
	dropExtractCopy(ctx, d, v) // its copy on the image store from extractVolume: extract.go
}
