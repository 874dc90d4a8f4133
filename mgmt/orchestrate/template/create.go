package template

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// CreateSpec is a private template to create from a volume or a snapshot (exactly one),
// its parameters checked; ids in lower case.
type CreateSpec struct {
	Name, DisplayText    string
	OSTypeID             string
	VolumeID, SnapshotID string
	ZoneID               string // with a snapshot: the zone of the template, the snapshot's by default
	Bits                 int
	Public, Featured     bool
	PasswordEnabled      bool
	SSHKeyEnabled        bool
	DynamicScaling       bool
	RequiresHVM          bool
	TemplateTag          string
	Details              map[string]string
	Owner                Owner
}

// StartCreate records a private template made from a stopped VM's volume or a backed-up
// snapshot, charged to its owner, with copies in the zone's image stores, and writes the job
// that waits for them (Wait), in one transaction; it answers the job's id and the template.
// On the Simulator the copy completes without moving any data.
func StartCreate(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, s CreateSpec) (string, *db.Template, error) {
	t := &db.Template{ID: uuid.NewString(), Name: s.Name, DisplayText: s.DisplayText, IsPublic: s.Public, PasswordEnabled: s.PasswordEnabled,
		SSHKeyEnabled: s.SSHKeyEnabled, IsDynamicallyScalable: s.DynamicScaling, RequiresHVM: s.RequiresHVM, Bootable: true,
		TemplateType: db.TemplateUser, State: "Active", Bits: s.Bits, TemplateTag: s.TemplateTag, Details: s.Details, Created: db.Now()}
	caller := a.Caller
	var jobID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		owner, err := orchestrate.OwnerFor(ctx, tx, caller, s.Owner.Account, s.Owner.DomainID)
		if err != nil {
			return err
		}
		t.AccountID, t.DomainID = owner.ID, owner.DomainID
		if s.Public && !caller.IsAdmin() {
			allowed, err := publicUserTemplatesAllowed(ctx, d, owner.ID)
			if err != nil {
				return err
			}
			if !allowed {
				return orchestrate.ErrDenied("Failed to create template %s, only private templates can be created.", s.Name)
			}
		}
		if t.OSTypeID, err = osType(ctx, tx, s.OSTypeID); err != nil {
			return err
		}
		var zoneID string
		if s.VolumeID != "" {
			v, err := db.GetVolume(ctx, tx, s.VolumeID)
			if errors.Is(err, db.ErrNotFound) {
				return orchestrate.ErrParam("Failed to create private template record, unable to find volume %s", s.VolumeID)
			}
			if err != nil {
				return err
			}
			if err := orchestrate.CheckOwnerAccess(ctx, tx, caller, s.VolumeID, v.AccountID, v.DomainID); err != nil {
				return orchestrate.ErrDenied("Account %s does not have permission to use volume %s", caller.User.AccountName, s.VolumeID)
			}
			if v.State != "Ready" {
				return orchestrate.ErrParam("Volume %s is in state %s: a template can only be created from a Ready volume", v.ID, v.State)
			}
			if v.VMID != "" {
				vm, err := db.GetVM(ctx, tx, v.VMID)
				if err != nil && !errors.Is(err, db.ErrNotFound) {
					return err
				}
				if vm != nil && vm.State != "Stopped" {
					return orchestrate.ErrParam("VM %s the volume is attached to is in state %s: stop it to create a template from its volume", vm.Name, vm.State)
				}
			}
			zoneID, t.Size, t.SourceVolumeID, t.SourceTemplateID = v.ZoneID, v.Size, v.ID, v.TemplateID
			t.HypervisorType, t.Format = v.HypervisorType, strings.ToUpper(v.Format)
		} else {
			sn, err := db.GetSnapshot(ctx, tx, s.SnapshotID)
			if errors.Is(err, db.ErrNotFound) {
				return orchestrate.ErrParam("Failed to create private template record, unable to find snapshot %s", s.SnapshotID)
			}
			if err != nil {
				return err
			}
			if err := orchestrate.CheckOwnerAccess(ctx, tx, caller, s.SnapshotID, sn.AccountID, sn.DomainID); err != nil {
				return orchestrate.ErrDenied("Account %s does not have permission to use snapshot %s", caller.User.AccountName, s.SnapshotID)
			}
			if sn.State != "BackedUp" {
				return orchestrate.ErrParam("Snapshot id=%s is not in BackedUp state yet and can't be used for template creation", sn.ID)
			}
			zoneID, t.Size, t.SourceSnapshotID, t.HypervisorType = sn.ZoneID, sn.Size, sn.ID, sn.HypervisorType
			if v, err := db.GetVolume(ctx, tx, sn.VolumeID); err == nil {
				t.SourceTemplateID, t.Format = v.TemplateID, strings.ToUpper(v.Format)
			}
			if s.ZoneID != "" {
				zoneID = s.ZoneID
			}
		}
		if t.HypervisorType == "" {
			t.HypervisorType = "Simulator"
		}
		if t.Format == "" {
			t.Format = "QCOW2"
		}
		if t.SourceTemplateID != "" {
			if src, err := db.GetTemplate(ctx, tx, t.SourceTemplateID); err == nil && t.Size < src.Size {
				t.Size = src.Size
			}
		}
		t.PhysicalSize = t.Size
		zone, err := db.GetZone(ctx, tx, zoneID)
		if errors.Is(err, db.ErrNotFound) {
			return orchestrate.ErrParam("Please specify a valid zone.")
		}
		if err != nil {
			return err
		}
		if owner.Type == db.AccountRootAdmin {
			t.Featured = s.Featured
		}
		if err := d.ChargeResources(ctx, tx, owner.ID, map[string]int64{db.ResTemplate: 1}); err != nil {
			return err
		}
		if err := db.InsertTemplate(ctx, tx, t); err != nil {
			return err
		}
		n, err := addCopies(ctx, tx, t, []*db.Zone{zone})
		if err != nil {
			return err
		}
		if n == 0 {
			return orchestrate.ErrInternal("Unable to find image store to create the template %s in zone %s", t.Name, zone.Name)
		}
		k := TemplateKind
		if err := orchestrate.Event(ctx, tx, a, EvTemplateCreate, fmt.Sprintf("creating template %s", t.Name), k.ResType, t.ID); err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, k.ResType, t.ID)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return jobID, t, nil
}
