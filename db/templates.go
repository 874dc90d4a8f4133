package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Template types (CloudStack's Storage.TemplateType).
const (
	TemplateUser    = "USER"
	TemplateBuiltin = "BUILTIN"
	TemplateSystem  = "SYSTEM"
)

// SimulatorTemplateID is the built-in template every Simulator zone offers, as CloudStack's
// simulator ships it (setup/db/templates.simulator.sql).
const SimulatorTemplateID = "c5a0b9f2-5b3e-4c1a-9a43-7e0d2f4b5a11"

// SimulatorTemplateName is the built-in template's name in CloudStack's simulator.
const SimulatorTemplateName = "CentOS 5.3(64-bit) no GUI (Simulator)"

// Template is a template or an ISO (Format "ISO"), CloudStack's vm_template.
type Template struct {
	ID, Name, DisplayText string
	AccountID, DomainID   string // empty AccountID: owned by the system
	Format                string // QCOW2, RAW, VHD, OVA, ISO ...
	HypervisorType        string
	OSTypeID              string
	Size                  int64 // virtual size, bytes
	PhysicalSize          int64
	IsPublic, Featured    bool
	CrossZones, Bootable  bool
	PasswordEnabled       bool
	SSHKeyEnabled         bool
	IsDynamicallyScalable bool
	Extractable           bool
	RequiresHVM           bool
	TemplateType          string // USER, BUILTIN, SYSTEM
	Checksum, URL         string
	State                 string // Active, Inactive
	Bits                  int
	TemplateTag           string
	Details               map[string]string
	SourceTemplateID      string
	SourceVolumeID        string
	SourceSnapshotID      string
	Version               int64
	Created, Removed      int64
}

// IsISO reports whether the template is an ISO.
func (t *Template) IsISO() bool { return strings.EqualFold(t.Format, "ISO") }

const templateCols = `t.id, t.name, COALESCE(t.display_text,''), t.account_id, t.domain_id, t.format, t.hypervisor_type, COALESCE(t.os_type_id,''),
	t.size, t.physical_size, t.is_public, t.featured, t.cross_zones, t.bootable, t.password_enabled, t.sshkey_enabled,
	t.dynamically_scalable, t.extractable, t.requires_hvm, t.template_type, COALESCE(t.checksum,''), COALESCE(t.url,''), t.state, t.bits,
	COALESCE(t.template_tag,''), COALESCE(t.details,''), COALESCE(t.source_template_id,''), COALESCE(t.source_volume_id,''),
	COALESCE(t.source_snapshot_id,''), t.version, t.created, COALESCE(t.removed,0)`

func scanTemplate(s interface{ Scan(...any) error }) (*Template, error) {
	var t Template
	var pub, feat, cross, boot, pw, ssh, dyn, ext, hvm int
	var details string
	if err := s.Scan(&t.ID, &t.Name, &t.DisplayText, &t.AccountID, &t.DomainID, &t.Format, &t.HypervisorType, &t.OSTypeID, &t.Size,
		&t.PhysicalSize, &pub, &feat, &cross, &boot, &pw, &ssh, &dyn, &ext, &hvm, &t.TemplateType, &t.Checksum, &t.URL, &t.State,
		&t.Bits, &t.TemplateTag, &details, &t.SourceTemplateID, &t.SourceVolumeID, &t.SourceSnapshotID, &t.Version, &t.Created,
		&t.Removed); err != nil {
		return nil, err
	}
	t.IsPublic, t.Featured, t.CrossZones, t.Bootable = pub == 1, feat == 1, cross == 1, boot == 1
	t.PasswordEnabled, t.SSHKeyEnabled, t.IsDynamicallyScalable, t.Extractable, t.RequiresHVM = pw == 1, ssh == 1, dyn == 1, ext == 1, hvm == 1
	if details != "" {
		_ = json.Unmarshal([]byte(details), &t.Details)
	}
	return &t, nil
}

func detailsJSON(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// InsertTemplate creates a template or ISO.
func InsertTemplate(ctx context.Context, q Querier, t *Template) error {
	_, err := q.ExecContext(ctx, `INSERT INTO templates (id, name, display_text, account_id, domain_id, format, hypervisor_type, os_type_id,
		size, physical_size, is_public, featured, cross_zones, bootable, password_enabled, sshkey_enabled, dynamically_scalable, extractable,
		requires_hvm, template_type, checksum, url, state, bits, template_tag, details, source_template_id, source_volume_id,
		source_snapshot_id, version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		t.ID, t.Name, nullable(t.DisplayText), t.AccountID, t.DomainID, t.Format, t.HypervisorType, nullable(t.OSTypeID), t.Size,
		t.PhysicalSize, boolInt(t.IsPublic), boolInt(t.Featured), boolInt(t.CrossZones), boolInt(t.Bootable), boolInt(t.PasswordEnabled),
		boolInt(t.SSHKeyEnabled), boolInt(t.IsDynamicallyScalable), boolInt(t.Extractable), boolInt(t.RequiresHVM), t.TemplateType,
		nullable(t.Checksum), nullable(t.URL), t.State, t.Bits, nullable(t.TemplateTag), detailsJSON(t.Details), nullable(t.SourceTemplateID),
		nullable(t.SourceVolumeID), nullable(t.SourceSnapshotID), t.Created)
	if err != nil {
		return fmt.Errorf("db: insert template: %w", err)
	}
	return nil
}

// GetTemplate returns a live (not removed) template or ISO by id; ErrNotFound otherwise.
func GetTemplate(ctx context.Context, q Querier, id string) (*Template, error) {
	t, err := scanTemplate(q.QueryRowContext(ctx, "SELECT "+templateCols+" FROM templates t WHERE t.id = ? AND t.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get template: %w", err)
	}
	return t, nil
}

// templateReadyCol counts a template's ready copies in a zone (arguments: DownloadDone, zone,
// zone), as TemplateReadyInZone's first query.
const templateReadyCol = `, (SELECT COUNT(*) FROM template_stores s
		WHERE s.template_id = t.id AND s.removed IS NULL AND s.download_state = ? AND (s.zone_id = ? OR t.cross_zones = 1
		AND NOT EXISTS (SELECT 1 FROM template_stores r WHERE r.template_id = t.id AND r.zone_id = ? AND r.removed IS NOT NULL)))`

// GetTemplateInZone is GetTemplate and TemplateReadyInZone in one read (usually).
func GetTemplateInZone(ctx context.Context, q Querier, id, zoneID string) (*Template, bool, error) {
	var t *Template
	var ready bool
	if err := ReadRows(ctx, q, ReadTemplateInZone(id, zoneID, &t, &ready)); err != nil {
		return nil, false, fmt.Errorf("db: get template: %w", err)
	}
	if t == nil {
		return nil, false, ErrNotFound
	}
	if ready || t.ID != SimulatorTemplateID {
		return t, ready, nil
	}
	ready, err := TemplateReadyInZone(ctx, q, t.ID, zoneID) // the Simulator's built-in template
	return t, ready, err
}

// extraScan scans a row's leading columns with a row scanner and the rest into extra.
type extraScan struct {
	s     interface{ Scan(...any) error }
	extra []any
}

func (e extraScan) Scan(dest ...any) error { return e.s.Scan(append(dest, e.extra...)...) }

// UpdateTemplate writes a template's mutable fields if its version still matches.
func UpdateTemplate(ctx context.Context, q Querier, t *Template) error {
	res, err := q.ExecContext(ctx, `UPDATE templates SET name = ?, display_text = ?, format = ?, os_type_id = ?, size = ?, physical_size = ?,
		is_public = ?, featured = ?, bootable = ?, password_enabled = ?, sshkey_enabled = ?, dynamically_scalable = ?, extractable = ?,
		requires_hvm = ?, state = ?, template_tag = ?, details = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL`,
		t.Name, nullable(t.DisplayText), t.Format, nullable(t.OSTypeID), t.Size, t.PhysicalSize, boolInt(t.IsPublic), boolInt(t.Featured),
		boolInt(t.Bootable), boolInt(t.PasswordEnabled), boolInt(t.SSHKeyEnabled), boolInt(t.IsDynamicallyScalable), boolInt(t.Extractable),
		boolInt(t.RequiresHVM), t.State, nullable(t.TemplateTag), detailsJSON(t.Details), t.ID, t.Version)
	if err != nil {
		return fmt.Errorf("db: update template: %w", err)
	}
	return expectOne(res)
}

// RemoveTemplate soft-deletes a template and its store copies and launch permissions.
func RemoveTemplate(ctx context.Context, q Querier, id string) error {
	now := Now()
	res, err := q.ExecContext(ctx, "UPDATE templates SET removed = ?, state = 'Inactive', version = version + 1 WHERE id = ? AND removed IS NULL", now, id)
	if err != nil {
		return fmt.Errorf("db: remove template: %w", err)
	}
	if err := expectOne(res); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, "UPDATE template_stores SET removed = ?, live_key = NULL WHERE template_id = ? AND removed IS NULL", now, id); err != nil {
		return fmt.Errorf("db: remove template copies: %w", err)
	}
	if _, err := q.ExecContext(ctx, "DELETE FROM template_permissions WHERE template_id = ?", id); err != nil {
		return fmt.Errorf("db: remove template permissions: %w", err)
	}
	return nil
}

// TemplateReadyInZone reports whether a live template is downloaded into an image store of the
// zone or, for a cross-zone template not deleted from the zone, into any image store.
func TemplateReadyInZone(ctx context.Context, q Querier, templateID, zoneID string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM template_stores s JOIN templates t ON t.id = s.template_id
		WHERE s.template_id = ? AND s.removed IS NULL AND t.removed IS NULL AND s.download_state = ? AND (s.zone_id = ? OR t.cross_zones = 1
		AND NOT EXISTS (SELECT 1 FROM template_stores r WHERE r.template_id = t.id AND r.zone_id = ? AND r.removed IS NOT NULL))`,
		templateID, DownloadDone, zoneID, zoneID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("db: template ready in zone: %w", err)
	}
	if n > 0 || templateID != SimulatorTemplateID {
		return n > 0, nil
	}
	// The Simulator's built-in template is ready in every image store of a Simulator zone,
	// even before its copies are recorded there, unless an admin deleted it from the zone.
	err = q.QueryRowContext(ctx, `SELECT COUNT(*) FROM image_stores i WHERE i.zone_id = ? AND i.removed IS NULL AND i.role = 'Image'
		AND EXISTS (SELECT 1 FROM templates t WHERE t.id = ? AND t.removed IS NULL)
		AND EXISTS (SELECT 1 FROM clusters c WHERE c.zone_id = i.zone_id AND c.removed IS NULL AND c.hypervisor_type = 'Simulator')
		AND NOT EXISTS (SELECT 1 FROM template_stores s WHERE s.template_id = ? AND s.zone_id = i.zone_id)`, zoneID, templateID, templateID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("db: template ready in zone: %w", err)
	}
	return n > 0, nil
}

// TemplateFilter selects templates (ISO true: ISOs only; false: templates only) for
// listTemplates and listIsos. Each result is one (template, zone) pair, as CloudStack's
// template_view lists them.
type TemplateFilter struct {
	ISO                     bool
	ID                      string
	IDs                     []string
	Name, Keyword, ZoneID   string
	Hypervisor              string
	Bootable, Ready, Public *bool
	Featured                *bool
	ShowRemoved             bool
	TemplateTypes           []string // when set, only these types
	// Visible is an SQL condition on t (the templates row) built by the caller for the
	// templatefilter and the caller's scope; Args are its arguments.
	Visible string
	Args    []any
	// Tags filter on resource tags (TagFilterClause).
	Tags          map[string]string
	Limit, Offset int
}

// TemplateInZone is one row of a template listing: a template and a zone it is registered in,
// with the state of its copies there.
type TemplateInZone struct {
	*Template
	ZoneID, ZoneName string
	DownloadState    string // best state among the zone's copies
	DownloadPct      int
	ErrorStr         string
	StoreSize        int64
}

// ListTemplates returns matching (template, zone) pairs ordered by name, and their total.
func ListTemplates(ctx context.Context, q Querier, f TemplateFilter) ([]*TemplateInZone, int, error) {
	w := []string{}
	var args []any
	copies := "s.removed IS NULL"
	if f.ShowRemoved {
		copies = "(s.removed IS NULL OR t2.removed IS NOT NULL)"
	} else {
		w = append(w, "t.removed IS NULL")
	}
	if f.ISO {
		w = append(w, "t.format = 'ISO'")
	} else {
		w = append(w, "t.format <> 'ISO'")
	}
	if f.ID != "" {
		w, args = append(w, "t.id = ?"), append(args, f.ID)
	}
	if len(f.IDs) > 0 {
		w = append(w, "t.id IN (?"+strings.Repeat(", ?", len(f.IDs)-1)+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if f.Name != "" {
		w, args = append(w, "t.name = ?"), append(args, f.Name)
	}
	if f.Keyword != "" {
		k := "%" + LikePrefix(strings.ToLower(f.Keyword))
		w, args = append(w, "(LOWER(t.name) LIKE ?"+LikeEscape+" OR LOWER(t.display_text) LIKE ?"+LikeEscape+")"), append(args, k, k)
	}
	if f.ZoneID != "" {
		w, args = append(w, "tz.zone_id = ?"), append(args, f.ZoneID)
	}
	if f.Hypervisor != "" {
		w, args = append(w, "LOWER(t.hypervisor_type) = LOWER(?)"), append(args, f.Hypervisor)
	}
	for col, v := range map[string]*bool{"t.bootable": f.Bootable, "t.is_public": f.Public, "t.featured": f.Featured} {
		if v != nil {
			w, args = append(w, col+" = ?"), append(args, boolInt(*v))
		}
	}
	if len(f.TemplateTypes) > 0 {
		w = append(w, "t.template_type IN (?"+strings.Repeat(", ?", len(f.TemplateTypes)-1)+")")
		for _, v := range f.TemplateTypes {
			args = append(args, v)
		}
	}
	if f.Ready != nil {
		cond := "EXISTS (SELECT 1 FROM template_stores r WHERE r.template_id = t.id AND r.zone_id = tz.zone_id AND r.removed IS NULL AND r.download_state = ?)"
		if !*f.Ready {
			cond = "NOT " + cond
		}
		w, args = append(w, cond), append(args, DownloadDone)
	}
	if f.Visible != "" {
		w, args = append(w, "("+f.Visible+")"), append(args, f.Args...)
	}
	if clause, targs := TagFilterClause(templateTagType(f.ISO), "t.id", f.Tags); clause != "" {
		w, args = append(w, clause), append(args, targs...)
	}
	from := ` FROM templates t JOIN (SELECT DISTINCT s.template_id, s.zone_id FROM template_stores s JOIN templates t2 ON t2.id = s.template_id
		WHERE ` + copies + `) tz ON tz.template_id = t.id LEFT JOIN zones z ON z.id = tz.zone_id`
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+from+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count templates: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+templateCols+", tz.zone_id, COALESCE(z.name,'')"+from+" WHERE "+where+
		" ORDER BY t.name, t.id, tz.zone_id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list templates: %w", err)
	}
	out, err := scanAll(rows, "list templates", func(s interface{ Scan(...any) error }) (*TemplateInZone, error) {
		var tz TemplateInZone
		var zoneID, zoneName string
		t, err := scanTemplate(scanTail{s, []any{&zoneID, &zoneName}})
		if err != nil {
			return nil, err
		}
		tz.Template, tz.ZoneID, tz.ZoneName = t, zoneID, zoneName
		return &tz, nil
	})
	if err != nil {
		return nil, 0, err
	}
	if err := fillCopyStates(ctx, q, out, f.ShowRemoved); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// scanTail appends extra destinations after a scan function's own.
type scanTail struct {
	s    interface{ Scan(...any) error }
	tail []any
}

func (t scanTail) Scan(dest ...any) error { return t.s.Scan(append(dest, t.tail...)...) }

func templateTagType(iso bool) string {
	if iso {
		return "ISO"
	}
	return "Template"
}

// fillCopyStates sets each pair's download state from its zone's copies: the most advanced
// copy wins (DOWNLOADED, then in progress by percent, then error).
func fillCopyStates(ctx context.Context, q Querier, list []*TemplateInZone, removed bool) error {
	if len(list) == 0 {
		return nil
	}
	ids := map[string]bool{}
	var args []any
	for _, t := range list {
		if !ids[t.ID] {
			ids[t.ID] = true
			args = append(args, t.ID)
		}
	}
	cond := " AND removed IS NULL"
	if removed {
		cond = ""
	}
	copies, err := templateCopies(ctx, q, "template_id IN (?"+strings.Repeat(", ?", len(args)-1)+")"+cond, args)
	if err != nil {
		return err
	}
	best := map[string]*TemplateCopy{}
	for _, c := range copies {
		k := c.TemplateID + "/" + c.ZoneID
		if b := best[k]; b == nil || copyRank(c) > copyRank(b) {
			best[k] = c
		}
	}
	for _, t := range list {
		if c := best[t.ID+"/"+t.ZoneID]; c != nil {
			t.DownloadState, t.DownloadPct, t.ErrorStr, t.StoreSize = c.DownloadState, c.DownloadPct, c.ErrorStr, c.Size
		}
	}
	return nil
}

func copyRank(c *TemplateCopy) int {
	switch c.DownloadState {
	case DownloadDone:
		return 1000
	case DownloadInProgress:
		return 100 + c.DownloadPct
	case DownloadNotStarted:
		return 50
	}
	return 0
}

// AddTemplatePermission shares a template with an account; sharing twice is harmless.
func AddTemplatePermission(ctx context.Context, q Querier, templateID, accountID string) error {
	var n int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM template_permissions WHERE template_id = ? AND account_id = ?", templateID, accountID).Scan(&n); err != nil {
		return fmt.Errorf("db: template permission: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := q.ExecContext(ctx, "INSERT INTO template_permissions (template_id, account_id, created) VALUES (?, ?, ?)", templateID, accountID, Now()); err != nil {
		return fmt.Errorf("db: add template permission: %w", err)
	}
	return nil
}

// RemoveTemplatePermission stops sharing a template with an account.
func RemoveTemplatePermission(ctx context.Context, q Querier, templateID, accountID string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM template_permissions WHERE template_id = ? AND account_id = ?", templateID, accountID); err != nil {
		return fmt.Errorf("db: remove template permission: %w", err)
	}
	return nil
}

// ResetTemplatePermissions stops sharing a template with anyone.
func ResetTemplatePermissions(ctx context.Context, q Querier, templateID string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM template_permissions WHERE template_id = ?", templateID); err != nil {
		return fmt.Errorf("db: reset template permissions: %w", err)
	}
	return nil
}

// TemplatePermissions returns the ids of the accounts a template is shared with.
func TemplatePermissions(ctx context.Context, q Querier, templateID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT account_id FROM template_permissions WHERE template_id = ? ORDER BY created, account_id", templateID)
	if err != nil {
		return nil, fmt.Errorf("db: template permissions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("db: template permissions: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// VMsUsingTemplate returns the names of the VMs not yet expunged that were deployed from a
// template (iso false) or have an ISO attached (iso true), in one zone when zoneID is set.
func VMsUsingTemplate(ctx context.Context, q Querier, templateID, zoneID string, iso bool) ([]string, error) {
	col := "template_id"
	if iso {
		col = "iso_id"
	}
	where := col + " = ? AND removed IS NULL AND state NOT IN ('Expunging', 'Expunged')"
	args := []any{templateID}
	if zoneID != "" {
		where, args = where+" AND zone_id = ?", append(args, zoneID)
	}
	rows, err := q.QueryContext(ctx, "SELECT name FROM vm_instances WHERE "+where+" ORDER BY name LIMIT 50", args...)
	if err != nil {
		return nil, fmt.Errorf("db: vms using template: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("db: vms using template: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
