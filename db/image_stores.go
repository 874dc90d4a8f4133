package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// ImageStore is a secondary (image) store (CloudStack's image_store table).
type ImageStore struct {
	ID, Name, ZoneID, URL, Protocol, Provider, Scope, Role string
	ReadOnly                                               bool
	CapacityBytes, UsedBytes                               int64
	Created                                                int64
	ZoneName                                               string // filled by Get and List
}

// Image store names are unique among live stores, as CloudStack's findByName check makes them.
func imageStoreLiveKey(name string) string { return strings.ToLower(name) }

const imageStoreCols = `i.id, i.name, COALESCE(i.zone_id,''), i.url, COALESCE(i.protocol,''), i.provider, i.scope, i.role, i.read_only,
	i.capacity_bytes, i.used_bytes, i.created, COALESCE(z.name,'')`

const imageStoreFrom = " FROM image_stores i LEFT JOIN zones z ON z.id = i.zone_id"

func scanImageStore(s interface{ Scan(...any) error }) (*ImageStore, error) {
	var i ImageStore
	var ro int
	if err := s.Scan(&i.ID, &i.Name, &i.ZoneID, &i.URL, &i.Protocol, &i.Provider, &i.Scope, &i.Role, &ro, &i.CapacityBytes, &i.UsedBytes,
		&i.Created, &i.ZoneName); err != nil {
		return nil, err
	}
	i.ReadOnly = ro == 1
	return &i, nil
}

// InsertImageStore creates an image store; a live store of the same name gives an error
// IsDuplicate accepts.
func InsertImageStore(ctx context.Context, q Querier, i *ImageStore) error {
	_, err := q.ExecContext(ctx, `INSERT INTO image_stores (id, name, zone_id, url, protocol, provider, scope, role, read_only, capacity_bytes,
		used_bytes, live_key, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		i.ID, i.Name, nullable(i.ZoneID), i.URL, nullable(i.Protocol), i.Provider, i.Scope, i.Role, boolInt(i.ReadOnly), i.CapacityBytes,
		i.UsedBytes, imageStoreLiveKey(i.Name), i.Created)
	if err != nil {
		return fmt.Errorf("db: insert image store: %w", err)
	}
	return nil
}

// GetImageStore returns a live image store by id.
func GetImageStore(ctx context.Context, q Querier, id string) (*ImageStore, error) {
	i, err := scanImageStore(q.QueryRowContext(ctx, "SELECT "+imageStoreCols+imageStoreFrom+" WHERE i.id = ? AND i.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get image store: %w", err)
	}
	return i, nil
}

// ImageStoreFilter selects image stores; name, provider and protocol match case-insensitively,
// Keyword is a substring of the name. ReadOnly, when set, matches the flag.
type ImageStoreFilter struct {
	ID, Name, ZoneID, Provider, Protocol, Keyword string
	ReadOnly                                      *bool
	Limit, Offset                                 int
}

// ListImageStores returns matching live image stores ordered by name, and the total before paging.
func ListImageStores(ctx context.Context, q Querier, f ImageStoreFilter) ([]*ImageStore, int, error) {
	w := []string{"i.removed IS NULL"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "i.id = ?"), append(args, f.ID)
	}
	if f.ZoneID != "" {
		w, args = append(w, "i.zone_id = ?"), append(args, f.ZoneID)
	}
	for col, v := range map[string]string{"i.name": f.Name, "i.provider": f.Provider, "i.protocol": f.Protocol} {
		if v != "" {
			w, args = append(w, "LOWER("+col+") = LOWER(?)"), append(args, v)
		}
	}
	if f.ReadOnly != nil {
		w, args = append(w, "i.read_only = ?"), append(args, boolInt(*f.ReadOnly))
	}
	if f.Keyword != "" {
		w, args = append(w, "LOWER(i.name) LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	where := strings.Join(w, " AND ")
	return listPaged(ctx, q, "list image stores", "image_stores i", where,
		"SELECT "+imageStoreCols+imageStoreFrom+" WHERE "+where+" ORDER BY i.name, i.id", args, f.Limit, f.Offset, scanImageStore)
}

// ImageStoreProviders returns the distinct providers of the live image stores.
func ImageStoreProviders(ctx context.Context, q Querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT DISTINCT provider FROM image_stores WHERE removed IS NULL")
	if err != nil {
		return nil, fmt.Errorf("db: image store providers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("db: image store providers: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// RemoveImageStore soft-deletes an image store; ErrConflict if it is already gone.
func RemoveImageStore(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE image_stores SET removed = ?, live_key = NULL WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove image store: %w", err)
	}
	return expectOne(res)
}
