package template

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// DeleteSpec is a deleteTemplate or deleteIso.
type DeleteSpec struct {
	ZoneID   string // lower-case; "" for every zone
	Forced   bool   // delete a template even if VMs use it (not an ISO)
	IsSystem bool   // required to delete a SYSTEM template
}

// StartDelete removes a template's or ISO's copies (in one zone, or all and then the image
// itself) and writes the deletion's job, in one transaction, and answers the job's id.
func StartDelete(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, k Kind, id string, s DeleteSpec) (string, error) {
	var jobID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		t, err := ByID(ctx, tx, k, id)
		if err != nil {
			return err
		}
		if t.TemplateType == db.TemplateSystem && !s.IsSystem {
			return orchestrate.ErrParam("Could not delete template as it is a SYSTEM template and isSystem is not set to true.")
		}
		if err := CheckOwner(ctx, tx, a.Caller, k, t); err != nil {
			return err
		}
		if s.ZoneID != "" {
			if _, err := db.GetZone(ctx, tx, s.ZoneID); errors.Is(err, db.ErrNotFound) {
				return orchestrate.ErrParam("Please specify a valid zone.")
			} else if err != nil {
				return err
			}
		}
		if !s.Forced || k.ISO {
			users, err := db.VMsUsingTemplate(ctx, tx, t.ID, s.ZoneID, k.ISO)
			if err != nil {
				return err
			}
			if len(users) > 0 {
				if k.ISO {
					return orchestrate.ErrParam("Unable to delete iso, as it's used by other vms")
				}
				return orchestrate.ErrParam("Unable to delete template with id: %s because VM instances: [%s] are using it.", t.ID, strings.Join(users, ","))
			}
		}
		if err := RemoveCopies(ctx, d, tx, t, s.ZoneID); err != nil {
			return err
		}
		if err := orchestrate.Event(ctx, tx, a, k.EvDelete, fmt.Sprintf("deleting %s %s", k.Noun, t.Name), k.ResType, t.ID); err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, k.ResType, t.ID)
		return err
	})
	return jobID, err
}
