package api

import (
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
	"github.com/google/uuid"
)

// Temporary: these go to mgmt/orchestrate/template with the workflows that use them.

func (c *Call) addImageCopies(tx db.Tx, t *db.Template, zones []*db.Zone) (int, error) {
	ids := make([]string, 0, len(zones))
	for _, z := range zones {
		ids = append(ids, z.ID)
	}
	stores, err := db.StoresMissingTemplate(c.Ctx, tx, t.ID, ids, false)
	if err != nil {
		return 0, err
	}
	sim, err := db.SimulatorZones(c.Ctx, tx)
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
			DownloadMS: template.SimulatorDownloadTime.Milliseconds(), Created: now}
		if !cp.Simulated {
			cp.DownloadState = db.DownloadNotStarted
		}
		if err := db.InsertTemplateCopy(c.Ctx, tx, cp); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}
