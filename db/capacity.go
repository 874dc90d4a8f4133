package db

import (
	"context"
	"fmt"
)

// Capacity types, CloudStack's numbering (Capacity.CAPACITY_TYPE_*).
const (
	CapMemory         = 0
	CapCPU            = 1 // MHz
	CapStorage        = 2 // primary storage used
	CapStorageAlloc   = 3 // primary storage allocated
	CapPublicIP       = 4
	CapPrivateIP      = 5
	CapSecondary      = 6
	CapVLAN           = 7
	CapDirectPublicIP = 8
	CapLocalStorage   = 9
	CapCPUCore        = 90
)

// Capacity is one ledger row.
type Capacity struct {
	Type                     int
	ObjectID                 string
	ZoneID, PodID, ClusterID string
	Used, Reserved, Total    int64
	Enabled                  bool
	Updated                  int64
}

// SetCapacityTotal creates a ledger row or changes its total (a host registering, a pool
// resized), leaving used and reserved as they are.
func SetCapacityTotal(ctx context.Context, q Querier, c Capacity) error {
	res, err := q.ExecContext(ctx, `UPDATE capacity SET total = ?, zone_id = ?, pod_id = ?, cluster_id = ?, updated = ?
		WHERE capacity_type = ? AND object_id = ?`, c.Total, c.ZoneID, nullable(c.PodID), nullable(c.ClusterID), Now(), c.Type, c.ObjectID)
	if err != nil {
		return fmt.Errorf("db: set capacity total: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	_, err = q.ExecContext(ctx, `INSERT INTO capacity (capacity_type, object_id, zone_id, pod_id, cluster_id, used, reserved, total, enabled, updated)
		VALUES (?, ?, ?, ?, ?, 0, 0, ?, 1, ?)`, c.Type, c.ObjectID, c.ZoneID, nullable(c.PodID), nullable(c.ClusterID), c.Total, Now())
	if err != nil {
		return fmt.Errorf("db: insert capacity: %w", err)
	}
	return nil
}

// AdjustCapacityUsed adds delta (negative to release) to a row's used amount. With a positive
// delta and limit > 0 the update only happens if used+reserved+delta stays within limit (the
// total times its over-provisioning factor); it returns false when it would not fit.
func AdjustCapacityUsed(ctx context.Context, q Querier, typ int, objectID string, delta, limit int64) (bool, error) {
	query := "UPDATE capacity SET used = used + ?, updated = ? WHERE capacity_type = ? AND object_id = ?"
	args := []any{delta, Now(), typ, objectID}
	if delta > 0 && limit > 0 {
		query += " AND used + reserved + ? <= ?"
		args = append(args, delta, limit)
	}
	if delta < 0 {
		query += " AND used + ? >= 0"
		args = append(args, delta)
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("db: adjust capacity: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("db: adjust capacity: %w", err)
	}
	return n == 1, nil
}

// DeleteCapacity removes every ledger row of an object (a host or pool removed).
func DeleteCapacity(ctx context.Context, q Querier, objectID string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM capacity WHERE object_id = ?", objectID); err != nil {
		return fmt.Errorf("db: delete capacity: %w", err)
	}
	return nil
}

// SetCapacityEnabled marks an object's rows as counted or not (host in maintenance, disabled).
func SetCapacityEnabled(ctx context.Context, q Querier, objectID string, enabled bool) error {
	if _, err := q.ExecContext(ctx, "UPDATE capacity SET enabled = ?, updated = ? WHERE object_id = ?", boolInt(enabled), Now(), objectID); err != nil {
		return fmt.Errorf("db: set capacity enabled: %w", err)
	}
	return nil
}
