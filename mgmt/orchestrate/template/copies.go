package template

import (
	"context"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// addCopies records a copy of t, not yet downloaded, in every writable image store of each
// zone that has none; a Simulator zone's copies are simulated. It answers how many.
func addCopies(ctx context.Context, tx db.Tx, t *db.Template, zones []*db.Zone) (int, error) {
	ids := make([]string, 0, len(zones))
	for _, z := range zones {
		ids = append(ids, z.ID)
	}
	stores, err := db.StoresMissingTemplate(ctx, tx, t.ID, ids, false)
	if err != nil {
		return 0, err
	}
	sim, err := db.SimulatorZones(ctx, tx)
	if err != nil {
		return 0, err
	}
	simulated := map[string]bool{}
	for _, z := range sim {
		simulated[z] = true
	}
	now := db.Now()
	n := 0
	for _, st := range stores {
		if st.ReadOnly {
			continue
		}
		cp := &db.TemplateCopy{ID: uuid.NewString(), TemplateID: t.ID, StoreID: st.ID, ZoneID: st.ZoneID, DownloadState: db.DownloadInProgress,
			Simulated: simulated[st.ZoneID] || t.HypervisorType == "Simulator", DownloadStarted: now,
			DownloadMS: SimulatorDownloadTime.Milliseconds(), Created: now}
		if !cp.Simulated {
			cp.DownloadState = db.DownloadNotStarted
		}
		if err := db.InsertTemplateCopy(ctx, tx, cp); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// RemoveCopies removes a template's copies in one zone (all zones when zoneID is empty), in
// the caller's transaction, giving back their secondary storage; when no copy is left the
// template itself goes, with its count, permissions and tags.
func RemoveCopies(ctx context.Context, d *orchestrate.Deps, tx db.Tx, t *db.Template, zoneID string) error {
	copies, err := db.ListTemplateCopies(ctx, tx, t.ID, zoneID)
	if err != nil {
		return err
	}
	var freed int64
	zones := map[string]bool{}
	for _, cp := range copies {
		zones[cp.ZoneID] = true
		if cp.DownloadState == db.DownloadDone {
			freed += cp.PhysicalSize
		}
	}
	for z := range zones {
		if _, err := db.RemoveTemplateCopies(ctx, tx, t.ID, z); err != nil {
			return err
		}
	}
	left, err := db.TemplateZones(ctx, tx, t.ID)
	if err != nil {
		return err
	}
	deltas := map[string]int64{}
	if freed > 0 {
		deltas[db.ResSecondaryStorage] = -freed
	}
	if len(left) == 0 {
		if err := db.RemoveTemplate(ctx, tx, t.ID); err != nil {
			return err
		}
		if err := db.DeleteTagsOf(ctx, tx, tagType(t), t.ID); err != nil {
			return err
		}
		if t.TemplateType == db.TemplateUser {
			deltas[db.ResTemplate] = -1
		}
	}
	if len(deltas) > 0 && t.AccountID != "" {
		return d.ChargeResources(ctx, tx, t.AccountID, deltas)
	}
	return nil
}

// tagType is the resource type a template's or ISO's tags are recorded under.
func tagType(t *db.Template) string {
	if t.IsISO() {
		return "ISO"
	}
	return "Template"
}
