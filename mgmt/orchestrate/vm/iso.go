package vm

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Event types for attaching ISOs (CloudStack's EventTypes).
const (
	EventISOAttach = "ISO.ATTACH"
	EventISODetach = "ISO.DETACH"
)

// AttachISO records an ISO the caller may use on a Stopped or Running VM, with the actor's job,
// in one transaction (on the Simulator the virtual CD-ROM is the VM's record; no agent command
// is sent). It returns the job's id and the VM's.
func AttachISO(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, vmID, isoID string) (jobID, id string, err error) {
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := Get(ctx, tx, a.Caller, vmID)
		if err != nil {
			return err
		}
		id = v.ID
		iso, err := db.GetTemplate(ctx, tx, strings.ToLower(isoID))
		if err != nil || !iso.IsISO() {
			return orchestrate.ErrParam("Unable to find an ISO with id %s", isoID)
		}
		if err := checkISOUse(ctx, tx, a.Caller, iso); err != nil {
			return err
		}
		if v.State != "Running" && v.State != "Stopped" {
			return orchestrate.ErrParam("Please specify a VM that is either Stopped or Running.")
		}
		if v.ISOID != "" {
			return orchestrate.ErrParam("An ISO is already attached to VM %s", v.Name)
		}
		ready, err := db.TemplateReadyInZone(ctx, tx, iso.ID, v.ZoneID)
		if err != nil {
			return err
		}
		if !ready {
			return orchestrate.ErrParam("The ISO %s is not ready in the zone of VM %s", iso.Name, v.Name)
		}
		v.ISOID = iso.ID
		if err := db.UpdateVM(ctx, tx, v); err != nil {
			return err
		}
		if err := orchestrate.Event(ctx, tx, a, EventISOAttach, fmt.Sprintf("attaching ISO %s to VM %s", iso.Name, v.Name), "VirtualMachine", v.ID); err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, JobType, v.ID)
		return err
	})
	return jobID, id, err
}

// checkISOUse answers an error unless the caller may use an ISO: a public one, one it (or an
// account it manages) owns, or one shared with its account.
func checkISOUse(ctx context.Context, q db.Querier, caller *iam.Caller, t *db.Template) error {
	if t.IsPublic || orchestrate.CheckOwnerAccess(ctx, q, caller, t.ID, t.AccountID, t.DomainID) == nil {
		return nil
	}
	shared, err := db.TemplatePermissions(ctx, q, t.ID)
	if err != nil {
		return err
	}
	if slices.Contains(shared, caller.User.AccountID) {
		return nil
	}
	return orchestrate.ErrDenied("Account %s does not have permission to use %s %s", caller.User.AccountName, "iso", t.ID)
}

// DetachISO takes the ISO off a Stopped or Running VM, with the actor's job, in one
// transaction. It returns the job's id and the VM's.
func DetachISO(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, vmID string) (jobID, id string, err error) {
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := Get(ctx, tx, a.Caller, vmID)
		if err != nil {
			return err
		}
		id = v.ID
		if v.ISOID == "" {
			return orchestrate.ErrParam("The specified VM has no ISO attached to it.")
		}
		if v.State != "Running" && v.State != "Stopped" {
			return orchestrate.ErrParam("Please specify a VM that is either Stopped or Running.")
		}
		iso := v.ISOID
		v.ISOID = ""
		if err := db.UpdateVM(ctx, tx, v); err != nil {
			return err
		}
		if err := orchestrate.Event(ctx, tx, a, EventISODetach, fmt.Sprintf("detaching ISO %s from VM %s", iso, v.Name), "VirtualMachine", v.ID); err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, JobType, v.ID)
		return err
	})
	return jobID, id, err
}
