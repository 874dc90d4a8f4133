package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Domain is a node of the domain tree. Path is CloudStack's display path: "ROOT", "ROOT/a/b".
type Domain struct {
	ID            string
	ParentID      string
	Name          string
	Path          string
	Level         int
	NetworkDomain string
	State         string
	Version       int64
	Created       int64
	// Set only by ListDomains with DomainFilter.Details, for rendering: the parent's name and
	// whether the domain has live children.
	ParentName string
	HasChild   bool
}

// ErrNotFound is returned when a row does not exist (or was removed).
var ErrNotFound = errors.New("db: not found")

const domainCols = "id, COALESCE(parent_id,''), name, path, level, COALESCE(network_domain,''), state, version, created"

func scanDomain(s interface{ Scan(...any) error }) (*Domain, error) {
	var d Domain
	if err := s.Scan(&d.ID, &d.ParentID, &d.Name, &d.Path, &d.Level, &d.NetworkDomain, &d.State, &d.Version, &d.Created); err != nil {
		return nil, err
	}
	return &d, nil
}

func domainLiveKey(parentID, name string) string { return parentID + "/" + strings.ToLower(name) }

// InsertDomain creates a domain; a live sibling of the same name gives an error IsDuplicate accepts.
func InsertDomain(ctx context.Context, q Querier, d *Domain) error {
	var parent any
	if d.ParentID != "" {
		parent = d.ParentID
	}
	_, err := q.ExecContext(ctx, `INSERT INTO domains (id, parent_id, name, path, level, network_domain, state, live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`, d.ID, parent, d.Name, d.Path, d.Level, nullable(d.NetworkDomain), d.State,
		domainLiveKey(d.ParentID, d.Name), d.Created)
	if err != nil {
		return fmt.Errorf("db: insert domain: %w", err)
	}
	return nil
}

// GetDomain returns a live domain by id.
func GetDomain(ctx context.Context, q Querier, id string) (*Domain, error) {
	d, err := scanDomain(q.QueryRowContext(ctx, "SELECT "+domainCols+" FROM domains WHERE id = ? AND removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get domain: %w", err)
	}
	return d, nil
}

// GetDomainByPath returns a live domain by its display path, case-insensitively.
func GetDomainByPath(ctx context.Context, q Querier, path string) (*Domain, error) {
	d, err := scanDomain(q.QueryRowContext(ctx, "SELECT "+domainCols+" FROM domains WHERE LOWER(path) = LOWER(?) AND removed IS NULL", path))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get domain by path: %w", err)
	}
	return d, nil
}

// DomainFilter selects domains for listing.
type DomainFilter struct {
	ID       string
	Name     string
	Level    *int
	ParentID string
	// Under restricts to a subtree: the domain with this path and, if Recursive, its descendants.
	Under     string
	Recursive bool
	Limit     int
	Offset    int
	// Details fills ParentName and HasChild in the same query.
	Details bool
}

// where builds the filter over the domains table aliased d.
func (f DomainFilter) where() (string, []any) {
	w := []string{"d.removed IS NULL"}
	var args []any
	if f.ID != "" {
		w = append(w, "d.id = ?")
		args = append(args, f.ID)
	}
	if f.Name != "" {
		w = append(w, "LOWER(d.name) = LOWER(?)")
		args = append(args, f.Name)
	}
	if f.Level != nil {
		w = append(w, "d.level = ?")
		args = append(args, *f.Level)
	}
	if f.ParentID != "" {
		w = append(w, "d.parent_id = ?")
		args = append(args, f.ParentID)
	}
	if f.Under != "" {
		if f.Recursive {
			w = append(w, "(d.path = ? OR d.path LIKE ?"+LikeEscape+")")
			args = append(args, f.Under, LikePrefix(f.Under+"/"))
		} else {
			w = append(w, "d.path = ?")
			args = append(args, f.Under)
		}
	}
	return strings.Join(w, " AND "), args
}

const domainColsD = "d.id, COALESCE(d.parent_id,''), d.name, d.path, d.level, COALESCE(d.network_domain,''), d.state, d.version, d.created"

// domainDetails are the columns and join that DomainFilter.Details adds.
const (
	domainDetailCols = `, p.id, COALESCE(p.name,''),
		CASE WHEN EXISTS (SELECT 1 FROM domains c WHERE c.parent_id = d.id AND c.removed IS NULL) THEN 1 ELSE 0 END`
	domainDetailJoin = " LEFT JOIN domains p ON p.id = d.parent_id AND p.removed IS NULL"
)

// ListDomains returns matching domains ordered by path, and the total count before paging.
func ListDomains(ctx context.Context, q Querier, f DomainFilter) ([]*Domain, int, error) {
	where, args := f.where()
	total := -1 // unpaged: the rows are the total
	if f.Limit > 0 {
		var err error
		if total, err = count(ctx, q, "domains d", where, args); err != nil || total == 0 {
			return nil, total, err
		}
	}
	// A whole subtree answers Details itself; any other listing asks the database per row.
	fromTree := f.Details && f.wholeSubtree()
	withCols := f.Details && !fromTree
	query := "SELECT " + domainColsD + " FROM domains d WHERE " + where + " ORDER BY d.path" + page(f.Limit, f.Offset)
	if withCols {
		query = "SELECT " + domainColsD + domainDetailCols + " FROM domains d" + domainDetailJoin + " WHERE " + where +
			" ORDER BY d.path" + page(f.Limit, f.Offset)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list domains: %w", err)
	}
	defer rows.Close()
	var out []*Domain
	for rows.Next() {
		var d Domain
		dest := []any{&d.ID, &d.ParentID, &d.Name, &d.Path, &d.Level, &d.NetworkDomain, &d.State, &d.Version, &d.Created}
		var parentID sql.NullString
		var hasChild int
		if withCols {
			dest = append(dest, &parentID, &d.ParentName, &hasChild)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, 0, fmt.Errorf("db: list domains: %w", err)
		}
		if withCols {
			if d.ParentID != "" && !parentID.Valid {
				return nil, 0, fmt.Errorf("db: list domains: parent %s of %s: %w", d.ParentID, d.ID, ErrNotFound)
			}
			d.HasChild = hasChild == 1
		}
		out = append(out, &d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("db: list domains: %w", err)
	}
	rows.Close()
	if fromTree {
		if err := treeDetails(ctx, q, out); err != nil {
			return nil, 0, err
		}
	}
	if total < 0 {
		total = len(out)
	}
	return out, total, nil
}

// wholeSubtree reports whether the filter selects every live domain of a subtree (or of the
// whole tree, when it has no filter at all), unpaged. Every child of a listed domain is then
// listed too, and so is every listed domain's parent but the top one's.
func (f DomainFilter) wholeSubtree() bool {
	return (f.Under == "" || f.Recursive) && f.ID == "" && f.Name == "" && f.Level == nil && f.ParentID == "" && f.Limit <= 0
}

// treeDetails fills ParentName and HasChild of a whole subtree from the subtree itself, and
// reads only the parent of its top.
func treeDetails(ctx context.Context, q Querier, list []*Domain) error {
	byID := make(map[string]*Domain, len(list))
	for _, d := range list {
		byID[d.ID] = d
	}
	for _, d := range list {
		if d.ParentID == "" {
			continue
		}
		p := byID[d.ParentID]
		if p == nil {
			var err error
			if p, err = GetDomain(ctx, q, d.ParentID); err != nil {
				return fmt.Errorf("db: list domains: parent %s of %s: %w", d.ParentID, d.ID, err)
			}
			byID[p.ID] = p
		}
		d.ParentName = p.Name
		p.HasChild = true
	}
	return nil
}

// UpdateDomain writes name, path and network domain if the version still matches.
func UpdateDomain(ctx context.Context, q Querier, d *Domain) error {
	res, err := q.ExecContext(ctx, `UPDATE domains SET name = ?, path = ?, network_domain = ?, state = ?, live_key = ?, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`, d.Name, d.Path, nullable(d.NetworkDomain), d.State,
		domainLiveKey(d.ParentID, d.Name), d.ID, d.Version)
	if err != nil {
		return fmt.Errorf("db: update domain: %w", err)
	}
	return expectOne(res)
}

// RenameDomainSubtree rewrites the paths of every descendant of oldPath to start with newPath.
func RenameDomainSubtree(ctx context.Context, q Querier, oldPath, newPath string) error {
	_, err := q.ExecContext(ctx, `UPDATE domains SET path = CONCAT(?, SUBSTR(path, ?)), version = version + 1
		WHERE path LIKE ?`+LikeEscape+` AND removed IS NULL`, newPath, len(oldPath)+1, LikePrefix(oldPath+"/"))
	if err != nil {
		return fmt.Errorf("db: rename domain subtree: %w", err)
	}
	return nil
}

// RemoveDomain soft-deletes a domain.
func RemoveDomain(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE domains SET removed = ?, live_key = NULL, state = 'Inactive', version = version + 1 WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove domain: %w", err)
	}
	return expectOne(res)
}
