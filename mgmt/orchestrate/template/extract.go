package template

import (
	"context"
	"errors"
	"fmt"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// StartExtract checks that the caller may extract a template or ISO that is ready in an image
// store (of zoneID, lower-case, when set) and writes the extraction's job, in one
// transaction; it answers the job's id and the template.
func StartExtract(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, k Kind, id, zoneID string) (string, *db.Template, error) {
	var jobID string
	var out *db.Template
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		t, err := ByID(ctx, tx, k, id)
		if err != nil {
			return err
		}
		out = t
		if t.TemplateType == db.TemplateSystem || t.TemplateType == db.TemplateBuiltin {
			return orchestrate.ErrParam("Unable to extract the %s %s as it is a default System %s", k.Noun, t.Name, k.Noun)
		}
		// TemplateManagerImpl.extract: only a root admin bypasses isextractable=false (checked
		// before access, as CloudStack does), then OperateEntry access to the template.
		if !t.Extractable && !a.Caller.IsRootAdmin() {
			return orchestrate.ErrParam("Unable to extract %s id=%s as it's not extractable", k.Noun, t.ID)
		}
		if err := CheckOperate(ctx, tx, a.Caller, k, t); err != nil {
			return err
		}
		if zoneID != "" {
			if _, err := db.GetZone(ctx, tx, zoneID); errors.Is(err, db.ErrNotFound) {
				return orchestrate.ErrParam("Please specify a valid zone.")
			} else if err != nil {
				return err
			}
		}
		copies, err := db.ListTemplateCopies(ctx, tx, t.ID, zoneID)
		if err != nil {
			return err
		}
		ready := false
		for _, cp := range copies {
			ready = ready || cp.DownloadState == db.DownloadDone
		}
		if !ready {
			return orchestrate.ErrParam("The %s %s is not ready in any image store of the zone: it cannot be extracted", k.Noun, t.ID)
		}
		if err := orchestrate.Event(ctx, tx, a, k.EvExtract, fmt.Sprintf("extracting %s %s", k.Noun, t.Name), k.ResType, t.ID); err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, k.ResType, t.ID)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return jobID, out, nil
}

// Extract is the extraction's job: it answers the template and the ready copy (in zoneID
// when set) it is extracted from. On the Simulator nothing is stored, so there is nothing to
// upload: the caller answers a URL under the management server.
func Extract(ctx context.Context, d *orchestrate.Deps, k Kind, templateID, zoneID string) (*db.Template, *db.TemplateCopy, error) {
	q := d.DB.Read()
	t, err := ByID(ctx, q, k, templateID)
	if err != nil {
		return nil, nil, err
	}
	copies, err := db.ListTemplateCopies(ctx, q, t.ID, zoneID)
	if err != nil {
		return nil, nil, err
	}
	for _, cp := range copies {
		if cp.DownloadState == db.DownloadDone {
			return t, cp, nil
		}
	}
	return nil, nil, orchestrate.ErrInternal("The %s %s is no longer ready to extract", k.Noun, t.ID)
}
