package snapshot

import (
	"context"
	"errors"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
)

// CheckDeletable refuses deleting a snapshot that is being taken.
func CheckDeletable(s *db.Snapshot) error {
	switch s.State {
	case db.SnapshotBackedUp, db.SnapshotError, db.SnapshotAllocated:
		return nil
	}
	return orchestrate.ErrParam("Can't delete snapshot %s with state %s", s.ID, s.State)
}

// StartDelete checks that the caller may delete a snapshot (id as sent; zoneID, lowercased,
// when the caller named its zone) and writes the job; it returns the job's id and the
// snapshot's.
func StartDelete(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id, zoneID string) (jobID, snapID string, err error) {
	s, err := ForCaller(ctx, d.DB.Read(), a.Caller, id)
	if err != nil {
		return "", "", err
	}
	if zoneID != "" && zoneID != s.ZoneID {
		return "", "", orchestrate.ErrParam("Snapshot %s is not in zone %s", s.ID, zoneID)
	}
	if err := CheckDeletable(s); err != nil {
		return "", "", err
	}
	if jobID, err = startJob(ctx, d, a, "Snapshot", s.ID); err != nil {
		return "", "", err
	}
	return jobID, s.ID, nil
}

// Delete deletes a snapshot's backup (through an Up host of its zone, which reaches the
// zone's image stores) and then its rows. One already gone (a replay) is left alone.
func Delete(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	s, err := db.GetSnapshot(ctx, d.DB.SQL, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := CheckDeletable(s); err != nil {
		return err
	}
	refs, err := db.ListSnapshotStoreRefs(ctx, d.DB.SQL, s.ID)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if r.InstallPath == "" {
			continue
		}
		store, err := db.GetImageStore(ctx, d.DB.SQL, r.StoreID)
		if err != nil {
			continue
		}
		host, err := db.UpHostForPool(ctx, d.DB.Read(), &db.StoragePool{ZoneID: s.ZoneID})
		if err != nil {
			volume.Log(d).Warn("no host to delete a snapshot backup; the file stays", "snapshot", s.ID, "store", store.ID)
			continue
		}
		if err := volume.SendStorage(ctx, d, host, protocol.CmdDeleteSnapshot, protocol.SnapshotCommand{SnapshotID: s.ID, Path: r.InstallPath,
			Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}}, nil); err != nil {
			return err
		}
	}
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		cur, err := db.GetSnapshot(ctx, tx, s.ID)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := removeTx(ctx, d, tx, cur); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, evSnapshotDelete, "Deleting snapshot "+cur.Name, "Snapshot", cur.ID)
	})
}
