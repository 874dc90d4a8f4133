package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Volume helpers for the volume commands (attach, detach, resize, migrate, snapshots); the
// volumes table and its row functions are in volumes.go.

// UpHostForPool returns an Up, Enabled routing host that reaches a pool: a host of the pool's
// cluster for a cluster-scoped pool, any host of its zone (of the hypervisor, if the pool
// names one) for a zone-wide pool. ErrNotFound when none is up.
func UpHostForPool(ctx context.Context, q Querier, p *StoragePool) (string, error) {
	where, args := "h.cluster_id = ?", []any{p.ClusterID}
	if p.ClusterID == "" {
		where, args = "h.zone_id = ?", []any{p.ZoneID}
		if p.Hypervisor != "" {
			where, args = where+" AND h.hypervisor_type = ?", append(args, p.Hypervisor)
		}
	}
	var id string
	err := q.QueryRowContext(ctx, "SELECT h.id FROM hosts h WHERE "+where+` AND h.removed IS NULL AND h.type = ? AND h.status = ?
		AND h.resource_state = ? ORDER BY h.last_ping DESC, h.id LIMIT 1`, append(args, HostTypeRouting, HostStatusUp, HostResourceEnabled)...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("db: up host for pool: %w", err)
	}
	return id, nil
}

// TouchVM bumps a VM's version if it still matches (ErrConflict otherwise): changes to a VM's
// set of volumes (device ids) take it, so two attaches to one VM cannot both win.
func TouchVM(ctx context.Context, q Querier, id string, version int64) error {
	res, err := q.ExecContext(ctx, "UPDATE vm_instances SET version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL", id, version)
	if err != nil {
		return fmt.Errorf("db: touch vm: %w", err)
	}
	return expectOne(res)
}

// VMDeviceIDs returns the device ids in use by a VM's attached volumes.
func VMDeviceIDs(ctx context.Context, q Querier, vmID string) (map[int]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, COALESCE(device_id, 0) FROM volumes WHERE vm_id = ? AND removed IS NULL", vmID)
	if err != nil {
		return nil, fmt.Errorf("db: vm device ids: %w", err)
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var id string
		var dev int
		if err := rows.Scan(&id, &dev); err != nil {
			return nil, fmt.Errorf("db: vm device ids: %w", err)
		}
		out[dev] = id
	}
	return out, rows.Err()
}

// VMRootPool returns the pool of a VM's ROOT volume ("" if it has none yet).
func VMRootPool(ctx context.Context, q Querier, vmID string) (string, error) {
	var pool string
	err := q.QueryRowContext(ctx, "SELECT COALESCE(pool_id,'') FROM volumes WHERE vm_id = ? AND volume_type = ? AND removed IS NULL ORDER BY created LIMIT 1",
		vmID, VolumeRoot).Scan(&pool)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("db: vm root pool: %w", err)
	}
	return pool, nil
}
