package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// OSCategory is a guest OS category (CloudStack's guest_os_category).
type OSCategory struct {
	ID       string
	Name     string
	Featured bool
	SortKey  int
	Created  int64
}

// OSType is a guest OS type (CloudStack's guest_os).
type OSType struct {
	ID            string
	Description   string
	CategoryID    string
	IsUserDefined bool
	ForDisplay    bool
	Version       int64
	Created       int64
}

const osTypeCols = "id, description, category_id, is_user_defined, for_display, version, created"

func scanOSType(s interface{ Scan(...any) error }) (*OSType, error) {
	var t OSType
	var user, display int
	if err := s.Scan(&t.ID, &t.Description, &t.CategoryID, &user, &display, &t.Version, &t.Created); err != nil {
		return nil, err
	}
	t.IsUserDefined, t.ForDisplay = user == 1, display == 1
	return &t, nil
}

func scanOSCategory(s interface{ Scan(...any) error }) (*OSCategory, error) {
	var c OSCategory
	var featured int
	if err := s.Scan(&c.ID, &c.Name, &featured, &c.SortKey, &c.Created); err != nil {
		return nil, err
	}
	c.Featured = featured == 1
	return &c, nil
}

// InsertOSCategory creates a guest OS category.
func InsertOSCategory(ctx context.Context, q Querier, c *OSCategory) error {
	_, err := q.ExecContext(ctx, "INSERT INTO os_categories (id, name, featured, sort_key, created) VALUES (?, ?, ?, ?, ?)",
		c.ID, c.Name, boolInt(c.Featured), c.SortKey, c.Created)
	if err != nil {
		return fmt.Errorf("db: insert os category: %w", err)
	}
	return nil
}

// InsertOSType creates a guest OS type; a live one with the same description gives an error
// IsDuplicate accepts.
func InsertOSType(ctx context.Context, q Querier, t *OSType) error {
	_, err := q.ExecContext(ctx, `INSERT INTO os_types (id, category_id, description, is_user_defined, for_display, live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?)`, t.ID, t.CategoryID, t.Description, boolInt(t.IsUserDefined), boolInt(t.ForDisplay),
		strings.ToLower(t.Description), t.Created)
	if err != nil {
		return fmt.Errorf("db: insert os type: %w", err)
	}
	return nil
}

// GetOSType returns a live guest OS type by id.
func GetOSType(ctx context.Context, q Querier, id string) (*OSType, error) {
	t, err := scanOSType(q.QueryRowContext(ctx, "SELECT "+osTypeCols+" FROM os_types WHERE id = ? AND removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get os type: %w", err)
	}
	return t, nil
}

// CachedOSType is GetOSType kept for the life of the process: guest OS types are catalogue
// rows, written when the catalogue is seeded and never changed or removed. (Commands that
// change them, such as updateGuestOs, would have to clear this cache on every server.)
func (d *DB) CachedOSType(ctx context.Context, q Querier, id string) (*OSType, error) {
	if t, ok := d.osTypes.Load(id); ok {
		return t.(*OSType), nil
	}
	t, err := GetOSType(ctx, q, id)
	if err != nil {
		return nil, err
	}
	d.osTypes.Store(id, t)
	return t, nil
}

// GetOSTypeByDescription returns a live guest OS type by its description, case-insensitively.
func GetOSTypeByDescription(ctx context.Context, q Querier, description string) (*OSType, error) {
	t, err := scanOSType(q.QueryRowContext(ctx, "SELECT "+osTypeCols+" FROM os_types WHERE live_key = ?", strings.ToLower(description)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get os type by description: %w", err)
	}
	return t, nil
}

// GetOSCategory returns a guest OS category by id.
func GetOSCategory(ctx context.Context, q Querier, id string) (*OSCategory, error) {
	c, err := scanOSCategory(q.QueryRowContext(ctx, "SELECT id, name, featured, sort_key, created FROM os_categories WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get os category: %w", err)
	}
	return c, nil
}

// OSTypeFilter selects guest OS types.
type OSTypeFilter struct {
	ID, CategoryID, Description, Keyword string
	ForDisplay                           *bool
	Limit, Offset                        int
}

// ListOSTypes returns matching guest OS types and the total count before paging.
func ListOSTypes(ctx context.Context, q Querier, f OSTypeFilter) ([]*OSType, int, error) {
	w := []string{"removed IS NULL"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "id = ?"), append(args, f.ID)
	}
	if f.CategoryID != "" {
		w, args = append(w, "category_id = ?"), append(args, f.CategoryID)
	}
	if f.Description != "" {
		// CloudStack matches the description anywhere in the display name (LIKE %d%).
		w, args = append(w, "live_key LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(f.Description)))
	}
	if f.Keyword != "" {
		w, args = append(w, "live_key LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	if f.ForDisplay != nil {
		w, args = append(w, "for_display = ?"), append(args, boolInt(*f.ForDisplay))
	}
	where := strings.Join(w, " AND ")
	total, err := count(ctx, q, "os_types", where, args)
	if err != nil || total == 0 {
		return nil, 0, err
	}
	rows, err := q.QueryContext(ctx, "SELECT "+osTypeCols+" FROM os_types WHERE "+where+" ORDER BY created, id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list os types: %w", err)
	}
	out, err := scanAll(rows, "list os types", scanOSType)
	return out, total, err
}

// OSCategoryFilter selects guest OS categories.
type OSCategoryFilter struct {
	ID, Name, Keyword string
	Featured          *bool
	// WithTemplates keeps only categories that have a live template (or ISO) matching the
	// Template fields: in the zone (a copy in one of its image stores), an ISO or not, a VNF
	// template or not.
	WithTemplates            bool
	TemplateZoneID           string
	TemplateISO, TemplateVNF *bool
	Limit, Offset            int
}

// ListOSCategories returns matching guest OS categories and the total count before paging.
func ListOSCategories(ctx context.Context, q Querier, f OSCategoryFilter) ([]*OSCategory, int, error) {
	w := []string{"1 = 1"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "id = ?"), append(args, f.ID)
	}
	if f.Name != "" {
		w, args = append(w, "LOWER(name) = LOWER(?)"), append(args, f.Name)
	}
	if f.Keyword != "" {
		w, args = append(w, "LOWER(name) LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	if f.Featured != nil {
		w, args = append(w, "featured = ?"), append(args, boolInt(*f.Featured))
	}
	if f.WithTemplates {
		t := []string{"t.removed IS NULL"}
		if f.TemplateZoneID != "" {
			t, args = append(t, "EXISTS (SELECT 1 FROM template_stores s WHERE s.template_id = t.id AND s.zone_id = ?)"), append(args, f.TemplateZoneID)
		}
		if f.TemplateISO != nil && *f.TemplateISO {
			t = append(t, "t.format = 'ISO'")
		} else if f.TemplateISO != nil {
			t = append(t, "t.format <> 'ISO'")
		}
		if f.TemplateVNF != nil && *f.TemplateVNF {
			t = append(t, "1 = 0") // Atoll has no VNF templates
		}
		w = append(w, "id IN (SELECT o.category_id FROM os_types o JOIN templates t ON t.os_type_id = o.id WHERE "+strings.Join(t, " AND ")+")")
	}
	where := strings.Join(w, " AND ")
	total, err := count(ctx, q, "os_categories", where, args)
	if err != nil || total == 0 {
		return nil, 0, err
	}
	rows, err := q.QueryContext(ctx, "SELECT id, name, featured, sort_key, created FROM os_categories WHERE "+where+
		" ORDER BY sort_key, name"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list os categories: %w", err)
	}
	out, err := scanAll(rows, "list os categories", scanOSCategory)
	return out, total, err
}
