package db

import (
	"context"
	"fmt"
)

// Download states of a template's copy in an image store (CloudStack's
// VMTemplateStorageResourceAssoc.Status).
const (
	DownloadNotStarted = "NOT_DOWNLOADED"
	DownloadInProgress = "DOWNLOAD_IN_PROGRESS"
	DownloadDone       = "DOWNLOADED"
	DownloadError      = "DOWNLOAD_ERROR"
)

// TemplateCopy is a template's copy in one image store (CloudStack's template_store_ref).
type TemplateCopy struct {
	ID, TemplateID, StoreID, ZoneID string
	DownloadState                   string
	DownloadPct                     int
	Size, PhysicalSize              int64
	InstallPath, ErrorStr           string
	// Simulated copies complete without fetching anything, DownloadMS after DownloadStarted.
	Simulated       bool
	DownloadStarted int64
	DownloadMS      int64
	Version         int64
	Created         int64
	Removed         int64
}

func templateCopyLiveKey(templateID, storeID string) string { return templateID + "/" + storeID }

const templateCopyCols = `id, template_id, store_id, zone_id, download_state, download_pct, size, physical_size, COALESCE(install_path,''),
	COALESCE(error_str,''), simulated, download_started, download_ms, version, created, COALESCE(removed,0)`

func scanTemplateCopy(s interface{ Scan(...any) error }) (*TemplateCopy, error) {
	var c TemplateCopy
	var sim int
	if err := s.Scan(&c.ID, &c.TemplateID, &c.StoreID, &c.ZoneID, &c.DownloadState, &c.DownloadPct, &c.Size, &c.PhysicalSize,
		&c.InstallPath, &c.ErrorStr, &sim, &c.DownloadStarted, &c.DownloadMS, &c.Version, &c.Created, &c.Removed); err != nil {
		return nil, err
	}
	c.Simulated = sim == 1
	return &c, nil
}

// InsertTemplateCopy records a template's copy in an image store; a live copy of the template
// in the same store gives an error IsDuplicate accepts.
func InsertTemplateCopy(ctx context.Context, q Querier, c *TemplateCopy) error {
	_, err := q.ExecContext(ctx, `INSERT INTO template_stores (id, template_id, store_id, zone_id, download_state, download_pct, size,
		physical_size, install_path, error_str, simulated, download_started, download_ms, live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`, c.ID, c.TemplateID, c.StoreID, c.ZoneID, c.DownloadState, c.DownloadPct,
		c.Size, c.PhysicalSize, nullable(c.InstallPath), nullable(c.ErrorStr), boolInt(c.Simulated), c.DownloadStarted, c.DownloadMS,
		templateCopyLiveKey(c.TemplateID, c.StoreID), c.Created)
	if err != nil {
		return fmt.Errorf("db: insert template copy: %w", err)
	}
	return nil
}

func templateCopies(ctx context.Context, q Querier, where string, args []any) ([]*TemplateCopy, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+templateCopyCols+" FROM template_stores WHERE "+where+" ORDER BY zone_id, created, id", args...)
	if err != nil {
		return nil, fmt.Errorf("db: list template copies: %w", err)
	}
	return scanAll(rows, "list template copies", scanTemplateCopy)
}

// ListTemplateCopies returns a template's live copies, in one zone when zoneID is set.
func ListTemplateCopies(ctx context.Context, q Querier, templateID, zoneID string) ([]*TemplateCopy, error) {
	if zoneID != "" {
		return templateCopies(ctx, q, "template_id = ? AND zone_id = ? AND removed IS NULL", []any{templateID, zoneID})
	}
	return templateCopies(ctx, q, "template_id = ? AND removed IS NULL", []any{templateID})
}

// ListCopiesInProgress returns the live copies still downloading, of one template or, with
// templateID empty, of every template.
func ListCopiesInProgress(ctx context.Context, q Querier, templateID string) ([]*TemplateCopy, error) {
	if templateID == "" {
		return templateCopies(ctx, q, "download_state = ? AND removed IS NULL", []any{DownloadInProgress})
	}
	return templateCopies(ctx, q, "template_id = ? AND download_state = ? AND removed IS NULL", []any{templateID, DownloadInProgress})
}

// UpdateTemplateCopy writes a copy's download progress if its version still matches.
func UpdateTemplateCopy(ctx context.Context, q Querier, c *TemplateCopy) error {
	res, err := q.ExecContext(ctx, `UPDATE template_stores SET download_state = ?, download_pct = ?, size = ?, physical_size = ?,
		install_path = ?, error_str = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL`, c.DownloadState,
		c.DownloadPct, c.Size, c.PhysicalSize, nullable(c.InstallPath), nullable(c.ErrorStr), c.ID, c.Version)
	if err != nil {
		return fmt.Errorf("db: update template copy: %w", err)
	}
	return expectOne(res)
}

// RemoveTemplateCopies soft-deletes a template's copies in one zone and returns how many.
func RemoveTemplateCopies(ctx context.Context, q Querier, templateID, zoneID string) (int64, error) {
	res, err := q.ExecContext(ctx, "UPDATE template_stores SET removed = ?, live_key = NULL, version = version + 1 WHERE template_id = ? AND zone_id = ? AND removed IS NULL",
		Now(), templateID, zoneID)
	if err != nil {
		return 0, fmt.Errorf("db: remove template copies: %w", err)
	}
	return res.RowsAffected()
}

// TemplateZones returns the zones a live template has live copies in.
func TemplateZones(ctx context.Context, q Querier, templateID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT DISTINCT zone_id FROM template_stores WHERE template_id = ? AND removed IS NULL ORDER BY zone_id", templateID)
	if err != nil {
		return nil, fmt.Errorf("db: template zones: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var z string
		if err := rows.Scan(&z); err != nil {
			return nil, fmt.Errorf("db: template zones: %w", err)
		}
		out = append(out, z)
	}
	return out, rows.Err()
}

// StoresMissingTemplate returns the live image stores of the given zones that hold no live
// copy of a template (with everHeld, that never held one and are in no zone it was deleted from).
func StoresMissingTemplate(ctx context.Context, q Querier, templateID string, zoneIDs []string, everHeld bool) ([]*ImageStore, error) {
	if len(zoneIDs) == 0 {
		return nil, nil
	}
	args := []any{}
	in := "?"
	for i, z := range zoneIDs {
		if i > 0 {
			in += ", ?"
		}
		args = append(args, z)
	}
	args = append(args, templateID)
	cond := " AND NOT EXISTS (SELECT 1 FROM template_stores s WHERE s.store_id = i.id AND s.template_id = ? AND s.removed IS NULL)"
	if everHeld {
		// Nor any store of a zone the template was deleted from.
		cond = " AND NOT EXISTS (SELECT 1 FROM template_stores s WHERE s.template_id = ? AND (s.store_id = i.id OR s.zone_id = i.zone_id AND s.removed IS NOT NULL))"
	}
	rows, err := q.QueryContext(ctx, "SELECT "+imageStoreCols+imageStoreFrom+" WHERE i.removed IS NULL AND i.role = 'Image' AND i.zone_id IN ("+in+
		")"+cond+" ORDER BY i.zone_id, i.name", args...)
	if err != nil {
		return nil, fmt.Errorf("db: stores missing template: %w", err)
	}
	return scanAll(rows, "stores missing template", scanImageStore)
}

// SimulatorZones returns the live zones that have a Simulator cluster.
func SimulatorZones(ctx context.Context, q Querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT c.zone_id FROM clusters c JOIN zones z ON z.id = c.zone_id
		WHERE c.removed IS NULL AND z.removed IS NULL AND c.hypervisor_type = 'Simulator' ORDER BY c.zone_id`)
	if err != nil {
		return nil, fmt.Errorf("db: simulator zones: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var z string
		if err := rows.Scan(&z); err != nil {
			return nil, fmt.Errorf("db: simulator zones: %w", err)
		}
		out = append(out, z)
	}
	return out, rows.Err()
}

// CountTemplateCopiesInStore counts the live template and ISO copies an image store holds
// (CloudStack refuses to delete an image store that holds any).
func CountTemplateCopiesInStore(ctx context.Context, q Querier, storeID string) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM template_stores WHERE store_id = ? AND removed IS NULL", storeID).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count template copies in store: %w", err)
	}
	return n, nil
}
