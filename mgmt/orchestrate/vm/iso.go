package vm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Event types for attaching ISOs (CloudStack's EventTypes).
const (
	EventISOAttach = "ISO.ATTACH"
	EventISODetach = "ISO.DETACH"
)

// isoCommandTimeout bounds an ISO change on a VM's host (the host opens the image store).
const isoCommandTimeout = 2 * time.Minute

// AttachISO checks attachIso's rules for an ISO the caller may use and a Stopped or Running
// VM, and writes the event and the actor's job in one transaction; the job (RunAttachISO)
// changes the VM. It returns the job's id and the VM's.
func AttachISO(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, vmID, isoID string) (jobID, id string, err error) {
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, iso, err := checkAttachISO(ctx, tx, a, vmID, isoID)
		if err != nil {
			return err
		}
		id = v.ID
		if v.ISOID != "" {
			return orchestrate.ErrParam("An ISO is already attached to VM %s", v.Name)
		}
		if err := orchestrate.Event(ctx, tx, a, EventISOAttach, fmt.Sprintf("attaching ISO %s to VM %s", iso.Name, v.Name), "VirtualMachine", v.ID); err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, JobType, v.ID)
		return err
	})
	return jobID, id, err
}

// checkAttachISO loads the VM and the ISO of an attach and applies CloudStack's rules: an
// ISO the caller may use, ready in the VM's zone, and a VM that is Stopped or Running.
func checkAttachISO(ctx context.Context, q db.Querier, a orchestrate.Actor, vmID, isoID string) (*db.VM, *db.Template, error) {
	v, err := Get(ctx, q, a.Caller, vmID)
	if err != nil {
		return nil, nil, err
	}
	iso, err := db.GetTemplate(ctx, q, strings.ToLower(isoID))
	if err != nil || !iso.IsISO() {
		return nil, nil, orchestrate.ErrParam("Unable to find an ISO with id %s", isoID)
	}
	if err := checkISOUse(ctx, q, a.Caller, iso); err != nil {
		return nil, nil, err
	}
	if v.State != db.VMRunning && v.State != db.VMStopped {
		return nil, nil, orchestrate.ErrParam("Please specify a VM that is either Stopped or Running.")
	}
	ready, err := db.TemplateReadyInZone(ctx, q, iso.ID, v.ZoneID)
	if err != nil {
		return nil, nil, err
	}
	if !ready {
		return nil, nil, orchestrate.ErrParam("The ISO %s is not ready in the zone of VM %s", iso.Name, v.Name)
	}
	return v, iso, nil
}

// RunAttachISO is attachIso's job. As CloudStack does, a Running VM's host puts the ISO in
// the VM's CD-ROM drive first, and the VM records it only if that worked; a Stopped VM
// records it, and its next start boots with it. Run again (a job taken over), it finds the
// ISO recorded already and only makes sure the host has it.
func RunAttachISO(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, vmID, isoID string) error {
	q := d.DB.Read()
	v, iso, err := checkAttachISO(ctx, q, a, vmID, isoID)
	if err != nil {
		return err
	}
	if v.ISOID != "" && v.ISOID != iso.ID {
		return orchestrate.ErrParam("An ISO is already attached to VM %s", v.Name)
	}
	if err := changeISO(ctx, d, q, v, iso.ID); err != nil {
		return orchestrate.ErrInternal("Failed to attach iso: %s", d.Cause(err))
	}
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := db.GetVM(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if v.ISOID == iso.ID {
			return nil
		}
		if v.ISOID != "" {
			return orchestrate.ErrParam("An ISO is already attached to VM %s", v.Name)
		}
		v.ISOID = iso.ID
		return db.UpdateVM(ctx, tx, v)
	})
}

// changeISO has a Running VM's real host put the ISO isoID in its CD-ROM drive ("" ejects
// it). Any other VM has nothing on a host to change: a Simulator VM's CD-ROM is its record.
func changeISO(ctx context.Context, d *orchestrate.Deps, q db.Querier, v *db.VM, isoID string) error {
	if v.State != db.VMRunning || v.HostID == "" || !orchestrate.RealHost(v) {
		return nil
	}
	cmd := protocol.ISOCommand{VM: v.InstanceName()}
	name := protocol.CmdDetachISO
	if isoID != "" {
		ref, err := orchestrate.ISOSource(ctx, q, isoID, v.ZoneID)
		if err != nil {
			return err
		}
		cmd.ISO, name = ref, protocol.CmdAttachISO
	}
	return d.Send(ctx, v.HostID, name, cmd, isoCommandTimeout)
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

// DetachISO checks detachIso's rules (a Stopped or Running VM with an ISO attached) and
// writes the event and the actor's job in one transaction; the job (RunDetachISO) changes
// the VM. It returns the job's id and the VM's.
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
		if v.State != db.VMRunning && v.State != db.VMStopped {
			return orchestrate.ErrParam("Please specify a VM that is either Stopped or Running.")
		}
		if err := orchestrate.Event(ctx, tx, a, EventISODetach, fmt.Sprintf("detaching ISO %s from VM %s", v.ISOID, v.Name), "VirtualMachine", v.ID); err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, JobType, v.ID)
		return err
	})
	return jobID, id, err
}

// RunDetachISO is detachIso's job: a Running VM's host ejects the ISO first, and the VM
// forgets it only if that worked (CloudStack's order); a Stopped VM just forgets it. Run
// again after it succeeded, it finds no ISO and does nothing.
func RunDetachISO(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, vmID string) error {
	v, err := Get(ctx, d.DB.Read(), a.Caller, vmID)
	if err != nil {
		return err
	}
	if v.ISOID == "" {
		return nil
	}
	if v.State != db.VMRunning && v.State != db.VMStopped {
		return orchestrate.ErrParam("Please specify a VM that is either Stopped or Running.")
	}
	if err := changeISO(ctx, d, d.DB.Read(), v, ""); err != nil {
		return orchestrate.ErrInternal("Failed to detach iso: %s", d.Cause(err))
	}
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		u, err := db.GetVM(ctx, tx, v.ID)
		if err != nil || u.ISOID != v.ISOID {
			return err
		}
		u.ISOID = ""
		return db.UpdateVM(ctx, tx, u)
	})
}
