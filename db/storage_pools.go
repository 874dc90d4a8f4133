package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Storage pool states, as CloudStack's StoragePoolStatus spells them.
const (
	PoolUp                 = "Up"
	PoolPrepareMaintenance = "PrepareForMaintenance"
	PoolMaintenance        = "Maintenance"
	PoolErrorInMaintenance = "ErrorInMaintenance"
	PoolDisabled           = "Disabled"
	// PoolDown is Atoll's own: an Up pool its hosts cannot reach (CloudStack has no such state
	// and leaves the pool Up); it takes no new volumes and is Up again once a host reaches it.
	PoolDown = "Down"
)

// StoragePool is a primary storage pool (CloudStack's storage_pool table).
type StoragePool struct {
	ID, Name, ZoneID, PodID, ClusterID, HostID string
	Scope, PoolType, HostAddress, Path         string
	Port                                       int
	URL, Provider, Hypervisor                  string
	CapacityBytes                              int64
	CapacityIOPS                               sql.NullInt64
	UsedBytes                                  int64
	Tags, Status                               string
	Managed                                    bool
	Version, Created                           int64
	// Filled by GetStoragePool and ListStoragePools, for rendering: names of the zone, pod and
	// cluster, and the pool's allocated bytes (used plus reserved of its CapStorageAlloc row).
	ZoneName, PodName, ClusterName string
	Allocated                      int64
}

func poolLiveKey(zoneID, name string) string { return zoneID + "/" + strings.ToLower(name) }

const poolCols = `s.id, s.name, s.zone_id, COALESCE(s.pod_id,''), COALESCE(s.cluster_id,''), COALESCE(s.host_id,''), s.scope, s.pool_type,
	COALESCE(s.host_address,''), COALESCE(s.path,''), s.port, s.url, s.provider, COALESCE(s.hypervisor,''), s.capacity_bytes, s.capacity_iops,
	s.used_bytes, COALESCE(s.tags,''), s.status, s.managed, s.version, s.created,
	COALESCE(z.name,''), COALESCE(p.name,''), COALESCE(c.name,''), COALESCE(k.used + k.reserved, 0)`

const poolFrom = ` FROM storage_pools s LEFT JOIN zones z ON z.id = s.zone_id LEFT JOIN pods p ON p.id = s.pod_id
	LEFT JOIN clusters c ON c.id = s.cluster_id LEFT JOIN capacity k ON k.object_id = s.id AND k.capacity_type = 3`

func scanPool(s interface{ Scan(...any) error }) (*StoragePool, error) {
	var p StoragePool
	var managed int
	if err := s.Scan(&p.ID, &p.Name, &p.ZoneID, &p.PodID, &p.ClusterID, &p.HostID, &p.Scope, &p.PoolType, &p.HostAddress, &p.Path,
		&p.Port, &p.URL, &p.Provider, &p.Hypervisor, &p.CapacityBytes, &p.CapacityIOPS, &p.UsedBytes, &p.Tags, &p.Status, &managed,
		&p.Version, &p.Created, &p.ZoneName, &p.PodName, &p.ClusterName, &p.Allocated); err != nil {
		return nil, err
	}
	p.Managed = managed == 1
	return &p, nil
}

// InsertStoragePool creates a pool; a live pool of the same name in the zone gives an error
// IsDuplicate accepts.
func InsertStoragePool(ctx context.Context, q Querier, p *StoragePool) error {
	_, err := q.ExecContext(ctx, `INSERT INTO storage_pools (id, name, zone_id, pod_id, cluster_id, host_id, scope, pool_type, host_address,
		path, port, url, provider, hypervisor, capacity_bytes, capacity_iops, used_bytes, tags, status, managed, live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		p.ID, p.Name, p.ZoneID, nullable(p.PodID), nullable(p.ClusterID), nullable(p.HostID), p.Scope, p.PoolType, nullable(p.HostAddress),
		nullable(p.Path), p.Port, p.URL, p.Provider, nullable(p.Hypervisor), p.CapacityBytes, p.CapacityIOPS, p.UsedBytes, nullable(p.Tags),
		p.Status, boolInt(p.Managed), poolLiveKey(p.ZoneID, p.Name), p.Created)
	if err != nil {
		return fmt.Errorf("db: insert storage pool: %w", err)
	}
	return nil
}

// GetStoragePool returns a live pool by id.
func GetStoragePool(ctx context.Context, q Querier, id string) (*StoragePool, error) {
	p, err := scanPool(q.QueryRowContext(ctx, "SELECT "+poolCols+poolFrom+" WHERE s.id = ? AND s.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get storage pool: %w", err)
	}
	return p, nil
}

// StoragePoolFilter selects pools; empty fields match everything. Name and scope match
// case-insensitively, Keyword is a substring of the name.
type StoragePoolFilter struct {
	ID, Name, ZoneID, PodID, ClusterID, HostID string
	IPAddress, Path, Scope, Status, Keyword    string
	// HostAddress and Path together find a pool by its export (duplicate check).
	HostAddress   string
	Limit, Offset int
}

// ListStoragePools returns matching live pools ordered by name, and the total before paging.
func ListStoragePools(ctx context.Context, q Querier, f StoragePoolFilter) ([]*StoragePool, int, error) {
	w := []string{"s.removed IS NULL"}
	var args []any
	eq := func(col, v string) {
		if v != "" {
			w, args = append(w, col+" = ?"), append(args, v)
		}
	}
	fold := func(col, v string) {
		if v != "" {
			w, args = append(w, "LOWER("+col+") = LOWER(?)"), append(args, v)
		}
	}
	eq("s.id", f.ID)
	eq("s.zone_id", f.ZoneID)
	eq("s.pod_id", f.PodID)
	eq("s.cluster_id", f.ClusterID)
	eq("s.host_id", f.HostID)
	eq("s.path", f.Path)
	fold("s.name", f.Name)
	fold("s.host_address", f.IPAddress)
	fold("s.host_address", f.HostAddress)
	fold("s.scope", f.Scope)
	fold("s.status", f.Status)
	if f.Keyword != "" {
		w, args = append(w, "LOWER(s.name) LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	where := strings.Join(w, " AND ")
	return listPaged(ctx, q, "list storage pools", "storage_pools s", where,
		"SELECT "+poolCols+poolFrom+" WHERE "+where+" ORDER BY s.name, s.id", args, f.Limit, f.Offset, scanPool)
}

// UpdateStoragePool writes name, tags, capacity, used bytes and status if the version still
// matches (ErrConflict otherwise).
func UpdateStoragePool(ctx context.Context, q Querier, p *StoragePool) error {
	res, err := q.ExecContext(ctx, `UPDATE storage_pools SET name = ?, tags = ?, capacity_bytes = ?, capacity_iops = ?, used_bytes = ?,
		status = ?, live_key = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL`,
		p.Name, nullable(p.Tags), p.CapacityBytes, p.CapacityIOPS, p.UsedBytes, p.Status, poolLiveKey(p.ZoneID, p.Name), p.ID, p.Version)
	if err != nil {
		return fmt.Errorf("db: update storage pool: %w", err)
	}
	return expectOne(res)
}

// RemoveStoragePool soft-deletes a pool if its version still matches.
func RemoveStoragePool(ctx context.Context, q Querier, id string, version int64) error {
	res, err := q.ExecContext(ctx, "UPDATE storage_pools SET removed = ?, live_key = NULL, status = 'Removed', version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL",
		Now(), id, version)
	if err != nil {
		return fmt.Errorf("db: remove storage pool: %w", err)
	}
	return expectOne(res)
}

// CountClusterPools counts the live pools scoped to a cluster.
func CountClusterPools(ctx context.Context, q Querier, clusterID string) (int, error) {
	return count(ctx, q, "storage_pools", "cluster_id = ? AND removed IS NULL", []any{clusterID})
}
