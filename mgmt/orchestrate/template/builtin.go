package template

import (
	"context"
	"errors"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// EnsureBuiltin makes the Simulator's built-in template ready in every image store of every
// Simulator zone that lacks it (stores added since it last ran).
func EnsureBuiltin(ctx context.Context, d *orchestrate.Deps) error {
	missing, err := builtinMissing(ctx, d.DB.Read())
	if err != nil || len(missing) == 0 {
		return err
	}
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		stores, err := builtinMissing(ctx, tx)
		if err != nil {
			return err
		}
		now := db.Now()
		for _, st := range stores {
			err := db.InsertTemplateCopy(ctx, tx, &db.TemplateCopy{ID: uuid.NewString(), TemplateID: db.SimulatorTemplateID, StoreID: st.ID,
				ZoneID: st.ZoneID, DownloadState: db.DownloadDone, DownloadPct: 100, Size: SimulatedTemplateSize, PhysicalSize: SimulatedTemplateSize,
				InstallPath: "template/tmpl/1/111/" + db.SimulatorTemplateID + ".vhd", Simulated: true, DownloadStarted: now, Created: now})
			if err != nil {
				return err
			}
		}
		t, err := db.GetTemplate(ctx, tx, db.SimulatorTemplateID)
		if err != nil || t.OSTypeID != "" {
			return err
		}
		// CloudStack's simulator template is CentOS 5.3 (64-bit) when the catalogue has it.
		if o, err := db.GetOSTypeByDescription(ctx, tx, "CentOS 5.3 (64-bit)"); err == nil {
			t.OSTypeID = o.ID
			return db.UpdateTemplate(ctx, tx, t)
		}
		return nil
	})
}

func builtinMissing(ctx context.Context, q db.Querier) ([]*db.ImageStore, error) {
	if _, err := db.GetTemplate(ctx, q, db.SimulatorTemplateID); errors.Is(err, db.ErrNotFound) {
		return nil, nil // an admin deleted it
	} else if err != nil {
		return nil, err
	}
	zones, err := db.SimulatorZones(ctx, q)
	if err != nil {
		return nil, err
	}
	return db.StoresMissingTemplate(ctx, q, db.SimulatorTemplateID, zones, true)
}
