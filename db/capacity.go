package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// TakeHostCompute adds a VM's CPU (MHz), memory (bytes) and cores to a host's ledger rows in
// one statement: each of CPU and memory only if used+reserved+delta stays within its limit,
// cores always (when the host has that row). Zero deltas leave their rows out. It returns how
// many rows took their delta; the caller tells which from that and undoes a partial take.
func TakeHostCompute(ctx context.Context, q Querier, hostID string, cpu, cpuLimit, mem, memLimit, cores int64) (int64, error) {
	var set, in, cond []string
	var setArgs, condArgs []any
	add := func(typ int, delta, limit int64) {
		if delta <= 0 {
			return
		}
		set, setArgs = append(set, "WHEN ? THEN ?"), append(setArgs, typ, delta)
		in = append(in, strconv.Itoa(typ))
		if limit > 0 {
			cond, condArgs = append(cond, "(capacity_type = ? AND used + reserved + ? <= ?)"), append(condArgs, typ, delta, limit)
		} else {
			cond, condArgs = append(cond, "capacity_type = ?"), append(condArgs, typ)
		}
	}
	add(CapCPU, cpu, max(cpuLimit, 1))
	add(CapMemory, mem, max(memLimit, 1))
	add(CapCPUCore, cores, 0)
	if len(set) == 0 {
		return 0, nil
	}
	args := append(append(setArgs, Now(), hostID), condArgs...)
	res, err := q.ExecContext(ctx, "UPDATE capacity SET used = used + CASE capacity_type "+strings.Join(set, " ")+" ELSE 0 END, updated = ? "+
		"WHERE object_id = ? AND capacity_type IN ("+strings.Join(in, ", ")+") AND ("+strings.Join(cond, " OR ")+")", args...)
	if err != nil {
		return 0, fmt.Errorf("db: take host compute: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("db: take host compute: %w", err)
	}
	return n, nil
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

const capacityCols = "capacity_type, object_id, zone_id, COALESCE(pod_id,''), COALESCE(cluster_id,''), used, reserved, total, enabled, updated"

func scanCapacity(s interface{ Scan(...any) error }) (*Capacity, error) {
	var c Capacity
	var enabled int
	if err := s.Scan(&c.Type, &c.ObjectID, &c.ZoneID, &c.PodID, &c.ClusterID, &c.Used, &c.Reserved, &c.Total, &enabled, &c.Updated); err != nil {
		return nil, err
	}
	c.Enabled = enabled == 1
	return &c, nil
}

// GetCapacity returns one ledger row.
func GetCapacity(ctx context.Context, q Querier, typ int, objectID string) (*Capacity, error) {
	c, err := scanCapacity(q.QueryRowContext(ctx, "SELECT "+capacityCols+" FROM capacity WHERE capacity_type = ? AND object_id = ?", typ, objectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get capacity: %w", err)
	}
	return c, nil
}

// CapacityFilter selects ledger rows; empty fields match everything.
type CapacityFilter struct {
	ZoneID, PodID, ClusterID, ObjectID string
	Types                              []int
	EnabledOnly                        bool
}

// ListCapacity returns matching ledger rows ordered by zone, type and object.
func ListCapacity(ctx context.Context, q Querier, f CapacityFilter) ([]*Capacity, error) {
	w := []string{"1 = 1"}
	var args []any
	for col, v := range map[string]string{"zone_id": f.ZoneID, "pod_id": f.PodID, "cluster_id": f.ClusterID, "object_id": f.ObjectID} {
		if v != "" {
			w, args = append(w, col+" = ?"), append(args, v)
		}
	}
	if len(f.Types) > 0 {
		w = append(w, "capacity_type IN (?"+strings.Repeat(", ?", len(f.Types)-1)+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if f.EnabledOnly {
		w = append(w, "enabled = 1")
	}
	rows, err := q.QueryContext(ctx, "SELECT "+capacityCols+" FROM capacity WHERE "+strings.Join(w, " AND ")+
		" ORDER BY zone_id, capacity_type, object_id", args...)
	if err != nil {
		return nil, fmt.Errorf("db: list capacity: %w", err)
	}
	return scanAll(rows, "list capacity", scanCapacity)
}

// SetCapacityUsed sets a row's used amount outright, for amounts measured rather than
// reserved (a pool's bytes used as its agent reports them). The row must exist.
func SetCapacityUsed(ctx context.Context, q Querier, typ int, objectID string, used int64) error {
	res, err := q.ExecContext(ctx, "UPDATE capacity SET used = ?, updated = ? WHERE capacity_type = ? AND object_id = ?", used, Now(), typ, objectID)
	if err != nil {
		return fmt.Errorf("db: set capacity used: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("db: set capacity used of %d/%s: %w", typ, objectID, ErrNotFound)
	}
	return nil
}

// HostResources is what the ledger of a routing host is built from.
type HostResources struct {
	ID, ZoneID, PodID, ClusterID string
	CPUs                         int
	CPUSpeed, Memory             int64
}

// ListHostResources returns the resources of every live routing host, for the ledger check.
func ListHostResources(ctx context.Context, q Querier) ([]HostResources, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, zone_id, COALESCE(pod_id,''), COALESCE(cluster_id,''), cpus, cpu_speed, memory FROM hosts
		WHERE removed IS NULL AND type = 'Routing' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("db: list host resources: %w", err)
	}
	defer rows.Close()
	var out []HostResources
	for rows.Next() {
		var h HostResources
		if err := rows.Scan(&h.ID, &h.ZoneID, &h.PodID, &h.ClusterID, &h.CPUs, &h.CPUSpeed, &h.Memory); err != nil {
			return nil, fmt.Errorf("db: list host resources: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// AddressCount is how many public addresses a zone has and how many of them are taken.
type AddressCount struct {
	ZoneID         string
	VirtualNetwork bool // ranges for virtual networks (type 4) or direct attached (type 8)
	Total, InUse   int64
}

// CountPublicAddresses counts, per zone and kind of range, the addresses of live ranges and
// those not Free.
func CountPublicAddresses(ctx context.Context, q Querier) ([]AddressCount, error) {
	rows, err := q.QueryContext(ctx, `SELECT p.zone_id, v.for_virtual_network, COUNT(*), SUM(CASE WHEN p.state <> 'Free' THEN 1 ELSE 0 END)
		FROM public_ips p JOIN vlan_ranges v ON v.id = p.vlan_id WHERE v.removed IS NULL
		GROUP BY p.zone_id, v.for_virtual_network ORDER BY p.zone_id`)
	if err != nil {
		return nil, fmt.Errorf("db: count public addresses: %w", err)
	}
	defer rows.Close()
	var out []AddressCount
	for rows.Next() {
		var a AddressCount
		var virt int
		var inUse sql.NullInt64
		if err := rows.Scan(&a.ZoneID, &virt, &a.Total, &inUse); err != nil {
			return nil, fmt.Errorf("db: count public addresses: %w", err)
		}
		a.VirtualNetwork, a.InUse = virt == 1, inUse.Int64
		out = append(out, a)
	}
	return out, rows.Err()
}

// NetworkVNets is a physical network's guest VLAN/VNI ranges (as physical_networks.vlan holds
// them: "100-199,300"), the network type of its zone, and how many VNIs are allocated.
type NetworkVNets struct {
	ID, ZoneID, ZoneNetworkType, Ranges string
	Allocated                           int64
}

// ListNetworkVNets returns every live physical network's VNI ranges and allocation count.
func ListNetworkVNets(ctx context.Context, q Querier) ([]*NetworkVNets, error) {
	rows, err := q.QueryContext(ctx, `SELECT n.id, n.zone_id, COALESCE(z.network_type,''), COALESCE(n.vlan,''),
		(SELECT COUNT(*) FROM vnet_allocations a WHERE a.physical_network_id = n.id)
		FROM physical_networks n LEFT JOIN zones z ON z.id = n.zone_id WHERE n.removed IS NULL ORDER BY n.id`)
	if err != nil {
		return nil, fmt.Errorf("db: list network vnets: %w", err)
	}
	defer rows.Close()
	var out []*NetworkVNets
	for rows.Next() {
		var n NetworkVNets
		if err := rows.Scan(&n.ID, &n.ZoneID, &n.ZoneNetworkType, &n.Ranges, &n.Allocated); err != nil {
			return nil, fmt.Errorf("db: list network vnets: %w", err)
		}
		out = append(out, &n)
	}
	return out, rows.Err()
}
