package host

import (
	"context"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// JobType is the instance type of a host's jobs (jobs of one host run one at a time).
const JobType = "Host"

// CanMaintain tells whether a host in resource state rs may be put into maintenance.
func CanMaintain(rs string) bool {
	switch rs {
	case db.HostResourceEnabled, db.HostResourceDisabled, db.HostResourceErrorInMaint, db.HostResourceErrorInPrepare:
		return true
	}
	return false
}

// InMaintenance tells whether resource state rs is one of maintenance (or on its way to it).
func InMaintenance(rs string) bool {
	switch rs {
	case db.HostResourcePrepareMaint, db.HostResourceMaintenance, db.HostResourceErrorInMaint, db.HostResourceErrorInPrepare:
		return true
	}
	return false
}

// StartPrepareMaintenance moves the host to PrepareForMaintenance in the transaction that
// writes the actor's job, and returns the job's id and the host's. The caller wakes the runner.
func StartPrepareMaintenance(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) (jobID, hostID string, err error) {
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		h, err := Load(ctx, tx, id)
		if err != nil {
			return err
		}
		if !CanMaintain(h.ResourceState) {
			return orchestrate.ErrParam("Host %s is in resource state %s: it cannot be put into maintenance", h.Name, h.ResourceState)
		}
		h.ResourceState = db.HostResourcePrepareMaint
		if err := db.UpdateHost(ctx, tx, h); err != nil {
			return err
		}
		hostID = h.ID
		if jobID, err = orchestrate.EnqueueJob(ctx, tx, a, JobType, h.ID); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "MAINT.PREPARE", "Preparing host "+h.Name+" for maintenance", "Host", h.ID)
	})
	if err != nil {
		return "", "", err
	}
	return jobID, hostID, nil
}

// PrepareMaintenance finishes the move to Maintenance once nothing runs on the host (no VM
// runs anywhere yet, so at once) and takes the host's capacity out of the ledger's sums. It
// returns the host's id.
func PrepareMaintenance(ctx context.Context, d *orchestrate.Deps, id string) (string, error) {
	var hostID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		h, err := Load(ctx, tx, id)
		if err != nil {
			return err
		}
		hostID = h.ID
		switch h.ResourceState {
		case db.HostResourceMaintenance:
			return nil // done by an earlier run of this job
		case db.HostResourcePrepareMaint:
		default:
			return orchestrate.ErrInternal("Host %s left PrepareForMaintenance (now %s): maintenance was cancelled", h.Name, h.ResourceState)
		}
		h.ResourceState = db.HostResourceMaintenance
		if err := db.UpdateHost(ctx, tx, h); err != nil {
			return err
		}
		return db.SetCapacityEnabled(ctx, tx, h.ID, false)
	})
	if err != nil {
		return "", err
	}
	return hostID, nil
}

// CancelMaintenance enables a host in maintenance again, with its capacity back in the
// ledger's sums. It returns the host's id.
func CancelMaintenance(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) (string, error) {
	var hostID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		h, err := Load(ctx, tx, id)
		if err != nil {
			return err
		}
		hostID = h.ID
		if h.ResourceState == db.HostResourceEnabled {
			return nil // done by an earlier run of this job
		}
		if !InMaintenance(h.ResourceState) {
			return orchestrate.ErrInternal("Host %s is not in maintenance (resource state %s)", h.Name, h.ResourceState)
		}
		h.ResourceState = db.HostResourceEnabled
		if err := db.UpdateHost(ctx, tx, h); err != nil {
			return err
		}
		if err := db.SetCapacityEnabled(ctx, tx, h.ID, true); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "MAINT.CANCEL", "Cancelling maintenance of host "+h.Name, "Host", h.ID)
	})
	if err != nil {
		return "", err
	}
	return hostID, nil
}
