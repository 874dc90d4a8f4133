package template

import (
	"context"
	"errors"
	"fmt"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// CopySpec is a copyTemplate or copyIso: from a source zone (any zone holding a ready copy
// when empty) into destination zones, ids in lower case.
type CopySpec struct {
	SourceZoneID string
	DestZoneIDs  []string // at least one
}

// StartCopy records copies (downloading) of a template or ISO in the image stores of the
// destination zones and writes the job that waits for them (Wait), in one transaction; it
// answers the job's id and the template.
func StartCopy(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, k Kind, id string, s CopySpec) (string, *db.Template, error) {
	var jobID string
	var out *db.Template
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		t, err := ByID(ctx, tx, k, id)
		if err != nil {
			return err
		}
		out = t
		if err := CheckOperate(ctx, tx, a.Caller, k, t); err != nil {
			return err
		}
		if t.TemplateType == db.TemplateSystem {
			return orchestrate.ErrParam("Unable to copy the system %s %s", k.Noun, t.Name)
		}
		src := s.SourceZoneID
		if src != "" {
			if _, err := db.GetZone(ctx, tx, src); errors.Is(err, db.ErrNotFound) {
				return orchestrate.ErrParam("Please specify a valid source zone.")
			} else if err != nil {
				return err
			}
			ready, err := db.TemplateReadyInZone(ctx, tx, t.ID, src)
			if err != nil {
				return err
			}
			if !ready {
				return orchestrate.ErrParam("Please specify a %s that is installed on secondary storage host in zone %s", k.Noun, src)
			}
		} else {
			copies, err := db.ListTemplateCopies(ctx, tx, t.ID, "")
			if err != nil {
				return err
			}
			ok := false
			for _, cp := range copies {
				ok = ok || cp.DownloadState == db.DownloadDone
			}
			if !ok {
				return orchestrate.ErrParam("Unable to find a secondary storage host that has the %s %s ready", k.Noun, t.ID)
			}
		}
		var zones []*db.Zone
		for _, z := range s.DestZoneIDs {
			if z == src {
				return orchestrate.ErrParam("Please specify different source and destination zones.")
			}
			zone, err := zoneFor(ctx, tx, a.Caller, z, "Please specify a valid destination zone.")
			if err != nil {
				return err
			}
			zones = append(zones, zone)
		}
		if _, err := addCopies(ctx, tx, t, zones); err != nil {
			return err
		}
		for _, z := range zones {
			cs, err := db.ListTemplateCopies(ctx, tx, t.ID, z.ID)
			if err != nil {
				return err
			}
			if len(cs) == 0 {
				return orchestrate.ErrInternal("Unable to find image store in zone %s to copy the %s to", z.Name, k.Noun)
			}
		}
		if err := orchestrate.Event(ctx, tx, a, k.EvCopy, fmt.Sprintf("copying %s %s", k.Noun, t.Name), k.ResType, t.ID); err != nil {
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
