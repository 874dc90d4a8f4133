package snapshot

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Event types (CloudStack's EventTypes).
const (
	evSnapshotCreate       = "SNAPSHOT.CREATE"
	evSnapshotDelete       = "SNAPSHOT.DELETE"
	evSnapshotRevert       = "SNAPSHOT.REVERT"
	evSnapshotPolicyCreate = "SNAPSHOTPOLICY.CREATE"
	evSnapshotPolicyDelete = "SNAPSHOTPOLICY.DELETE"
)

// ForCaller loads a snapshot the caller may act on (id as the caller sent it).
func ForCaller(ctx context.Context, q db.Querier, caller *iam.Caller, id string) (*db.Snapshot, error) {
	s, err := db.GetSnapshot(ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find a snapshot with id %s", id)
	}
	if err != nil {
		return nil, err
	}
	if err := orchestrate.CheckOwnerAccess(ctx, q, caller, id, s.AccountID, s.DomainID); err != nil {
		return nil, err
	}
	return s, nil
}

// startJob writes the actor's job on an object in a transaction of its own and returns its id.
func startJob(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, instanceType, id string) (string, error) {
	var jobID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, instanceType, id)
		return err
	})
	return jobID, err
}
