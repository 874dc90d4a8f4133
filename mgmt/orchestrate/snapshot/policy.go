package snapshot

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
	"github.com/atollcloud/atoll/mgmt/snapshots"
	"github.com/google/uuid"
)

// PolicySpec is a validated createSnapshotPolicy.
type PolicySpec struct {
	VolumeID     string // as sent
	Interval     int    // snapshots.ParseInterval's
	ScheduleText string // as sent, trimmed
	Schedule     snapshots.Schedule
	Timezone     string // as sent, trimmed
	Location     *time.Location
	MaxSnaps     int
	ForDisplay   *bool // nil when not sent
}

// CreatePolicy creates a volume's snapshot policy, or updates the volume's policy of the same
// interval (as CloudStack does), and returns it.
func CreatePolicy(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec PolicySpec) (*db.SnapshotPolicy, error) {
	var out *db.SnapshotPolicy
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := volume.ForCaller(ctx, tx, a.Caller, spec.VolumeID)
		if err != nil {
			return err
		}
		if v.State != db.VolumeReady {
			return orchestrate.ErrParam("VolumeId: %s is not in %s state but %s. Cannot take snapshot.", v.ID, db.VolumeReady, v.State)
		}
		next := spec.Schedule.Next(time.Now(), spec.Location).UnixMilli()
		p, err := db.GetSnapshotPolicyFor(ctx, tx, v.ID, spec.Interval)
		switch {
		case errors.Is(err, db.ErrNotFound):
			p = &db.SnapshotPolicy{ID: uuid.NewString(), VolumeID: v.ID, AccountID: v.AccountID, DomainID: v.DomainID, IntervalType: spec.Interval,
				Schedule: spec.ScheduleText, Timezone: spec.Timezone, MaxSnaps: spec.MaxSnaps, ForDisplay: true, Active: true, NextRun: next, Created: db.Now()}
			if spec.ForDisplay != nil {
				p.ForDisplay = *spec.ForDisplay
			}
			if err := db.InsertSnapshotPolicy(ctx, tx, p); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			// CloudStack updates the volume's policy of the same interval instead of adding one.
			if p.Schedule != spec.ScheduleText || p.Timezone != spec.Timezone {
				p.NextRun = next
			}
			p.Schedule, p.Timezone, p.MaxSnaps, p.Active = spec.ScheduleText, spec.Timezone, spec.MaxSnaps, true
			if spec.ForDisplay != nil {
				p.ForDisplay = *spec.ForDisplay
			}
			if err := db.UpdateSnapshotPolicy(ctx, tx, p); err != nil {
				return err
			}
		}
		if err := orchestrate.Event(ctx, tx, a, evSnapshotPolicyCreate, "Snapshot policy "+snapshots.IntervalName(spec.Interval)+" on volume "+v.Name,
			"SnapshotPolicy", p.ID); err != nil {
			return err
		}
		out, err = db.GetSnapshotPolicy(ctx, tx, p.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// policyForCaller loads a policy the caller may act on.
func policyForCaller(ctx context.Context, q db.Querier, caller *iam.Caller, id string) (*db.SnapshotPolicy, error) {
	p, err := db.GetSnapshotPolicy(ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find snapshot policy with id %s", id)
	}
	if err != nil {
		return nil, err
	}
	if err := orchestrate.CheckOwnerAccess(ctx, q, caller, id, p.AccountID, p.DomainID); err != nil {
		return nil, err
	}
	return p, nil
}

// StartUpdatePolicy checks that the caller may update a policy (id as sent) and writes the
// job; it returns the job's id and the policy's.
func StartUpdatePolicy(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) (jobID, policyID string, err error) {
	p, err := policyForCaller(ctx, d.DB.Read(), a.Caller, id)
	if err != nil {
		return "", "", err
	}
	if jobID, err = startJob(ctx, d, a, "SnapshotPolicy", p.ID); err != nil {
		return "", "", err
	}
	return jobID, p.ID, nil
}

// UpdatePolicy sets whether a policy is displayed (forDisplay nil: unchanged) and returns it.
func UpdatePolicy(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, forDisplay *bool) (*db.SnapshotPolicy, error) {
	var out *db.SnapshotPolicy
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		p, err := policyForCaller(ctx, tx, a.Caller, id)
		if err != nil {
			return err
		}
		if forDisplay != nil && *forDisplay != p.ForDisplay {
			p.ForDisplay = *forDisplay
			if err := db.UpdateSnapshotPolicy(ctx, tx, p); err != nil {
				return err
			}
		}
		out, err = db.GetSnapshotPolicy(ctx, tx, p.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeletePolicies deletes snapshot policies (ids as sent), all or none.
func DeletePolicies(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, ids []string) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		for _, id := range ids {
			p, err := policyForCaller(ctx, tx, a.Caller, id)
			if err != nil {
				return err
			}
			if err := db.RemoveSnapshotPolicy(ctx, tx, p.ID); err != nil {
				return err
			}
			if err := orchestrate.Event(ctx, tx, a, evSnapshotPolicyDelete, "Deleting snapshot policy "+p.ID, "SnapshotPolicy", p.ID); err != nil {
				return err
			}
		}
		return nil
	})
}
