package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Cluster is a group of hosts of one hypervisor in a pod (CloudStack's cluster table).
type Cluster struct {
	ID, ZoneID, PodID, Name       string
	HypervisorType, ClusterType   string
	AllocationState, ManagedState string
	Arch                          string
	Version, Created              int64
	// Filled by GetCluster and ListClusters, for rendering.
	ZoneName, PodName string
}

func clusterLiveKey(podID, name string) string { return podID + "/" + strings.ToLower(name) }

const clusterCols = `c.id, c.zone_id, c.pod_id, c.name, c.hypervisor_type, c.cluster_type, c.allocation_state, c.managed_state,
	c.arch, c.version, c.created, COALESCE(z.name,''), COALESCE(p.name,'')`

const clusterFrom = " FROM clusters c LEFT JOIN zones z ON z.id = c.zone_id LEFT JOIN pods p ON p.id = c.pod_id"

func scanCluster(s interface{ Scan(...any) error }) (*Cluster, error) {
	var c Cluster
	if err := s.Scan(&c.ID, &c.ZoneID, &c.PodID, &c.Name, &c.HypervisorType, &c.ClusterType, &c.AllocationState, &c.ManagedState,
		&c.Arch, &c.Version, &c.Created, &c.ZoneName, &c.PodName); err != nil {
		return nil, err
	}
	return &c, nil
}

// InsertCluster creates a cluster; a live cluster of the same name in the pod gives an error
// IsDuplicate accepts.
func InsertCluster(ctx context.Context, q Querier, c *Cluster) error {
	_, err := q.ExecContext(ctx, `INSERT INTO clusters (id, zone_id, pod_id, name, hypervisor_type, cluster_type, allocation_state,
		managed_state, arch, live_key, version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		c.ID, c.ZoneID, c.PodID, c.Name, c.HypervisorType, c.ClusterType, c.AllocationState, c.ManagedState, c.Arch,
		clusterLiveKey(c.PodID, c.Name), c.Created)
	if err != nil {
		return fmt.Errorf("db: insert cluster: %w", err)
	}
	return nil
}

// GetCluster returns a live cluster by id.
func GetCluster(ctx context.Context, q Querier, id string) (*Cluster, error) {
	c, err := scanCluster(q.QueryRowContext(ctx, "SELECT "+clusterCols+clusterFrom+" WHERE c.id = ? AND c.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get cluster: %w", err)
	}
	return c, nil
}

// ClusterFilter selects clusters; empty fields match everything. Name, hypervisor and the
// states match case-insensitively; Keyword is a substring of the name.
type ClusterFilter struct {
	ID, Name, ZoneID, PodID                  string
	Hypervisor, ClusterType, AllocationState string
	ManagedState, Arch, Keyword              string
	Limit, Offset                            int
}

// ListClusters returns matching live clusters ordered by name, and the total before paging.
func ListClusters(ctx context.Context, q Querier, f ClusterFilter) ([]*Cluster, int, error) {
	w := []string{"c.removed IS NULL"}
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
	eq("c.id", f.ID)
	eq("c.zone_id", f.ZoneID)
	eq("c.pod_id", f.PodID)
	fold("c.name", f.Name)
	fold("c.hypervisor_type", f.Hypervisor)
	fold("c.cluster_type", f.ClusterType)
	fold("c.allocation_state", f.AllocationState)
	fold("c.managed_state", f.ManagedState)
	fold("c.arch", f.Arch)
	if f.Keyword != "" {
		w, args = append(w, "LOWER(c.name) LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	where := strings.Join(w, " AND ")
	return listPaged(ctx, q, "list clusters", "clusters c", where,
		"SELECT "+clusterCols+clusterFrom+" WHERE "+where+" ORDER BY c.name, c.id", args, f.Limit, f.Offset, scanCluster)
}

// UpdateCluster writes name, hypervisor, type and states if the version still matches
// (ErrConflict otherwise); a name taken in the pod gives an error IsDuplicate accepts.
func UpdateCluster(ctx context.Context, q Querier, c *Cluster) error {
	res, err := q.ExecContext(ctx, `UPDATE clusters SET name = ?, hypervisor_type = ?, cluster_type = ?, allocation_state = ?,
		managed_state = ?, arch = ?, live_key = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL`,
		c.Name, c.HypervisorType, c.ClusterType, c.AllocationState, c.ManagedState, c.Arch, clusterLiveKey(c.PodID, c.Name), c.ID, c.Version)
	if err != nil {
		return fmt.Errorf("db: update cluster: %w", err)
	}
	return expectOne(res)
}

// RemoveCluster soft-deletes a cluster if its version still matches.
func RemoveCluster(ctx context.Context, q Querier, id string, version int64) error {
	res, err := q.ExecContext(ctx, "UPDATE clusters SET removed = ?, live_key = NULL, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL",
		Now(), id, version)
	if err != nil {
		return fmt.Errorf("db: remove cluster: %w", err)
	}
	return expectOne(res)
}

// CountClusterHosts counts the live hosts of a cluster.
func CountClusterHosts(ctx context.Context, q Querier, clusterID string) (int, error) {
	return count(ctx, q, "hosts", "cluster_id = ? AND removed IS NULL", []any{clusterID})
}

// ClusterHypervisors returns the distinct hypervisor types of a zone's live clusters.
func ClusterHypervisors(ctx context.Context, q Querier, zoneID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT DISTINCT hypervisor_type FROM clusters WHERE zone_id = ? AND removed IS NULL ORDER BY hypervisor_type", zoneID)
	if err != nil {
		return nil, fmt.Errorf("db: cluster hypervisors: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("db: cluster hypervisors: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// ZoneRef is what the cluster, storage and capacity code needs to know of a zone. It is read
// with its own small query so that those families do not depend on the zone code.
type ZoneRef struct {
	ID, Name, NetworkType, AllocationState string
}

// LookupZoneRef returns a live zone by id.
func LookupZoneRef(ctx context.Context, q Querier, id string) (*ZoneRef, error) {
	var z ZoneRef
	err := q.QueryRowContext(ctx, "SELECT id, name, network_type, allocation_state FROM zones WHERE id = ? AND removed IS NULL", id).
		Scan(&z.ID, &z.Name, &z.NetworkType, &z.AllocationState)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: look up zone: %w", err)
	}
	return &z, nil
}

// ListZoneRefs returns every live zone ordered by name.
func ListZoneRefs(ctx context.Context, q Querier) ([]*ZoneRef, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, name, network_type, allocation_state FROM zones WHERE removed IS NULL ORDER BY name, id")
	if err != nil {
		return nil, fmt.Errorf("db: list zones: %w", err)
	}
	defer rows.Close()
	var out []*ZoneRef
	for rows.Next() {
		var z ZoneRef
		if err := rows.Scan(&z.ID, &z.Name, &z.NetworkType, &z.AllocationState); err != nil {
			return nil, fmt.Errorf("db: list zones: %w", err)
		}
		out = append(out, &z)
	}
	return out, rows.Err()
}

// PodRef is what the cluster and storage code needs to know of a pod.
type PodRef struct {
	ID, ZoneID, Name, AllocationState string
}

// LookupPodRef returns a live pod by id.
func LookupPodRef(ctx context.Context, q Querier, id string) (*PodRef, error) {
	var p PodRef
	err := q.QueryRowContext(ctx, "SELECT id, zone_id, name, allocation_state FROM pods WHERE id = ? AND removed IS NULL", id).
		Scan(&p.ID, &p.ZoneID, &p.Name, &p.AllocationState)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: look up pod: %w", err)
	}
	return &p, nil
}

// TouchCluster bumps a live cluster's version in q, so that a transaction adding something to
// the cluster (a host, a storage pool) conflicts with one removing or changing it at the same
// moment: RemoveCluster and UpdateCluster are conditional on the version. ErrNotFound when
// the cluster is gone.
func TouchCluster(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE clusters SET version = version + 1 WHERE id = ? AND removed IS NULL", id)
	if err != nil {
		return fmt.Errorf("db: touch cluster: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
