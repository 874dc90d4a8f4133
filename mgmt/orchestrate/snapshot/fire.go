package snapshot

import (
	"context"
	"errors"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
)

// Fire is the snapshot scheduler's snapshots.FireFunc (given d): in one transaction it moves
// the policy to its next run and records the snapshot and its createSnapshot job, run as a
// user of the volume's owner. A volume that cannot be snapshotted now (not Ready, a snapshot
// limit reached) only moves the policy on, as CloudStack skips that run.
func Fire(ctx context.Context, d *orchestrate.Deps, p *db.SnapshotPolicy, ran time.Time, next int64) error {
	users, _, err := db.ListUsers(ctx, d.DB.Read(), db.UserFilter{AccountIDs: []string{p.AccountID}, State: "enabled", Limit: 1})
	if err != nil {
		return err
	}
	if len(users) == 0 {
		if users, _, err = db.ListUsers(ctx, d.DB.Read(), db.UserFilter{AccountIDs: []string{p.AccountID}, Limit: 1}); err != nil {
			return err
		}
	}
	if len(users) == 0 {
		return markPolicyOnly(ctx, d, p, ran, next, "the volume's account has no user")
	}
	a := orchestrate.Actor{Caller: &iam.Caller{User: users[0]}, Cmd: "createSnapshot",
		Params: map[string]string{"volumeid": p.VolumeID, "policyid": p.ID}}
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		if err := policyUnchanged(ctx, tx, p); err != nil {
			return err
		}
		v, err := db.GetVolume(ctx, tx, p.VolumeID)
		if errors.Is(err, db.ErrNotFound) {
			return errVolumeGone
		}
		if err != nil {
			return err
		}
		_, jobID, err := newSnapshot(ctx, d, a, tx, v, p, "")
		if err != nil {
			return err
		}
		return db.MarkSnapshotPolicyRun(ctx, tx, p, ran.UnixMilli(), next, jobID)
	})
	var apiErr *orchestrate.Error
	switch {
	case err == nil:
		if d.Jobs != nil {
			d.Jobs.Wake()
		}
		return nil
	case errors.Is(err, errPolicyFired):
		return db.ErrConflict
	case errors.Is(err, errVolumeGone):
		// The volume is gone (expunged with its VM): so is its policy.
		volume.Log(d).Info("snapshot policy of a removed volume dropped", "policy", p.ID, "volume", p.VolumeID)
		return d.DB.Transaction(ctx, func(tx db.Tx) error { return db.RemoveSnapshotPolicy(ctx, tx, p.ID) })
	case errors.As(err, &apiErr):
		return markPolicyOnly(ctx, d, p, ran, next, err.Error())
	}
	return err
}

func markPolicyOnly(ctx context.Context, d *orchestrate.Deps, p *db.SnapshotPolicy, ran time.Time, next int64, why string) error {
	volume.Log(d).Warn("scheduled snapshot skipped", "policy", p.ID, "volume", p.VolumeID, "reason", why,
		"next", time.UnixMilli(next).UTC().Format(time.RFC3339))
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		if err := policyUnchanged(ctx, tx, p); err != nil {
			return err
		}
		return db.MarkSnapshotPolicyRun(ctx, tx, p, ran.UnixMilli(), next, "")
	})
	if errors.Is(err, errPolicyFired) {
		return db.ErrConflict
	}
	return err
}

// errVolumeGone: the policy's volume was removed.
var errVolumeGone = errors.New("the policy's volume is gone")

// errPolicyFired: the policy changed since the scheduler read it (another server fired this
// run, or its owner changed it); not retried.
var errPolicyFired = errors.New("snapshot policy changed since it was found due")

func policyUnchanged(ctx context.Context, tx db.Tx, p *db.SnapshotPolicy) error {
	cur, err := db.GetSnapshotPolicy(ctx, tx, p.ID)
	if errors.Is(err, db.ErrNotFound) || err == nil && cur.Version != p.Version {
		return errPolicyFired
	}
	return err
}
