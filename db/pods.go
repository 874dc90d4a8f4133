package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Pod is a rack or row of a zone (CloudStack's host_pod_ref), with its management IP range.
type Pod struct {
	ID              string
	ZoneID          string
	Name            string
	Gateway         string
	Netmask         string
	StartIP, EndIP  string
	AllocationState string // Enabled or Disabled
	Version         int64
	Created         int64
	// Joined for rendering.
	ZoneName string
}

const podCols = `p.id, p.zone_id, p.name, COALESCE(p.gateway,''), COALESCE(p.netmask,''), COALESCE(p.start_ip,''),
	COALESCE(p.end_ip,''), p.allocation_state, p.version, p.created, z.name`

const podFrom = ` FROM pods p JOIN zones z ON z.id = p.zone_id`

func scanPod(s interface{ Scan(...any) error }) (*Pod, error) {
	var p Pod
	if err := s.Scan(&p.ID, &p.ZoneID, &p.Name, &p.Gateway, &p.Netmask, &p.StartIP, &p.EndIP, &p.AllocationState,
		&p.Version, &p.Created, &p.ZoneName); err != nil {
		return nil, err
	}
	return &p, nil
}

func podLiveKey(zoneID, name string) string { return zoneID + "/" + strings.ToLower(name) }

// InsertPod creates a pod; a live pod of the same name in the zone gives an error IsDuplicate accepts.
func InsertPod(ctx context.Context, q Querier, p *Pod) error {
	_, err := q.ExecContext(ctx, `INSERT INTO pods (id, zone_id, name, gateway, netmask, start_ip, end_ip, allocation_state, live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`, p.ID, p.ZoneID, p.Name, nullable(p.Gateway), nullable(p.Netmask), nullable(p.StartIP),
		nullable(p.EndIP), p.AllocationState, podLiveKey(p.ZoneID, p.Name), p.Created)
	if err != nil {
		return fmt.Errorf("db: insert pod: %w", err)
	}
	return nil
}

// GetPod returns a live pod by id.
func GetPod(ctx context.Context, q Querier, id string) (*Pod, error) {
	p, err := scanPod(q.QueryRowContext(ctx, "SELECT "+podCols+podFrom+" WHERE p.id = ? AND p.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get pod: %w", err)
	}
	return p, nil
}

// PodFilter selects pods for listing.
type PodFilter struct {
	ID, ZoneID, Name, AllocationState, Keyword string
	Limit, Offset                              int
}

// ListPods returns matching pods and the total count before paging.
func ListPods(ctx context.Context, q Querier, f PodFilter) ([]*Pod, int, error) {
	w := []string{"p.removed IS NULL"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "p.id = ?"), append(args, f.ID)
	}
	if f.ZoneID != "" {
		w, args = append(w, "p.zone_id = ?"), append(args, f.ZoneID)
	}
	if f.Name != "" {
		w, args = append(w, "LOWER(p.name) = LOWER(?)"), append(args, f.Name)
	}
	if f.AllocationState != "" {
		w, args = append(w, "LOWER(p.allocation_state) = LOWER(?)"), append(args, f.AllocationState)
	}
	if f.Keyword != "" {
		w, args = append(w, "LOWER(p.name) LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+podFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count pods: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+podCols+podFrom+" WHERE "+where+" ORDER BY p.created, p.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list pods: %w", err)
	}
	out, err := scanAll(rows, "list pods", scanPod)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdatePod writes a pod's mutable fields if its version still matches.
func UpdatePod(ctx context.Context, q Querier, p *Pod) error {
	res, err := q.ExecContext(ctx, `UPDATE pods SET name = ?, gateway = ?, netmask = ?, start_ip = ?, end_ip = ?, allocation_state = ?,
		live_key = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL`, p.Name, nullable(p.Gateway), nullable(p.Netmask),
		nullable(p.StartIP), nullable(p.EndIP), p.AllocationState, podLiveKey(p.ZoneID, p.Name), p.ID, p.Version)
	if err != nil {
		return fmt.Errorf("db: update pod: %w", err)
	}
	return expectOne(res)
}

// RemovePod soft-deletes a pod.
func RemovePod(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE pods SET removed = ?, live_key = NULL, version = version + 1 WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove pod: %w", err)
	}
	return expectOne(res)
}

// PodUsage counts the live things a pod holds that keep it from being deleted.
type PodUsage struct {
	Clusters, Hosts, StoragePools int
	VMs                           int // not expunged, placed in the pod
}

// CountPodUsage counts a pod's clusters, hosts and pod-scoped storage pools in one query.
func CountPodUsage(ctx context.Context, q Querier, podID string) (PodUsage, error) {
	var u PodUsage
	err := q.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM clusters WHERE pod_id = ? AND removed IS NULL),
		(SELECT COUNT(*) FROM hosts WHERE pod_id = ? AND removed IS NULL),
		(SELECT COUNT(*) FROM storage_pools WHERE pod_id = ? AND removed IS NULL),
		(SELECT COUNT(*) FROM vm_instances WHERE pod_id = ? AND removed IS NULL)`, podID, podID, podID, podID).Scan(&u.Clusters, &u.Hosts, &u.StoragePools, &u.VMs)
	if err != nil {
		return u, fmt.Errorf("db: count pod usage: %w", err)
	}
	return u, nil
}
