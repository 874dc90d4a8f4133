package snapshot

import (
	"context"
	"errors"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
)

// revertTarget validates revertSnapshot: a backed-up snapshot of a volume that still exists,
// is Ready, and is detached or attached to a stopped VM.
func revertTarget(ctx context.Context, q db.Querier, a orchestrate.Actor, id string) (*db.Snapshot, *db.Volume, error) {
	s, err := ForCaller(ctx, q, a.Caller, id)
	if err != nil {
		return nil, nil, err
	}
	if s.State != db.SnapshotBackedUp {
		return nil, nil, orchestrate.ErrParam("Snapshot %s is %s; only a BackedUp snapshot can be reverted", s.ID, s.State)
	}
	v, err := db.GetVolume(ctx, q, s.VolumeID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil, orchestrate.ErrParam("The volume of snapshot %s no longer exists", s.ID)
	}
	if err != nil {
		return nil, nil, err
	}
	if v.State != db.VolumeReady {
		return nil, nil, orchestrate.ErrParam("Volume %s is %s; it must be Ready to revert a snapshot onto it", v.Name, v.State)
	}
	if v.VMID != "" {
		vm, err := db.GetVM(ctx, q, v.VMID)
		if err != nil {
			return nil, nil, err
		}
		if vm.State != db.VMStopped {
			return nil, nil, orchestrate.ErrParam("The VM the specified disk is attached to is not in the shutdown state.")
		}
	}
	return s, v, nil
}

// StartRevert checks a revert of a snapshot (id as sent) and writes its job; it returns the
// job's id and the snapshot's.
func StartRevert(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) (jobID, snapID string, err error) {
	s, _, err := revertTarget(ctx, d.DB.Read(), a, id)
	if err != nil {
		return "", "", err
	}
	if jobID, err = startJob(ctx, d, a, "Snapshot", s.ID); err != nil {
		return "", "", err
	}
	return jobID, s.ID, nil
}

// Revert writes a snapshot's backup over its volume (id as sent) through a host that reaches
// the volume's pool, and returns the snapshot.
func Revert(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) (*db.Snapshot, error) {
	s, v, err := revertTarget(ctx, d.DB.SQL, a, id)
	if err != nil {
		return nil, err
	}
	pool, err := db.GetStoragePool(ctx, d.DB.SQL, v.PoolID)
	if err != nil {
		return nil, err
	}
	refs, err := db.ListSnapshotStoreRefs(ctx, d.DB.SQL, s.ID)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, orchestrate.ErrInternal("Snapshot %s has no backup to revert from", s.ID)
	}
	store, err := db.GetImageStore(ctx, d.DB.SQL, refs[0].StoreID)
	if err != nil {
		return nil, err
	}
	host, err := volume.HostForPool(ctx, d, pool, "")
	if err != nil {
		return nil, err
	}
	if err := volume.SendStorage(ctx, d, host, protocol.CmdRevertSnapshot, protocol.SnapshotCommand{SnapshotID: s.ID, Path: refs[0].InstallPath,
		Volume: volume.VolumeRef(v, pool), Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}}, nil); err != nil {
		return nil, err
	}
	if err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		return orchestrate.Event(ctx, tx, a, evSnapshotRevert, "Reverting volume "+v.Name+" to snapshot "+s.Name, "Snapshot", s.ID)
	}); err != nil {
		return nil, err
	}
	return s, nil
}
