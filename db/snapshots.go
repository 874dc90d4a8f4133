package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Snapshot states and types, as CloudStack's Snapshot.State and Snapshot.Type spell them.
const (
	SnapshotAllocated  = "Allocated"
	SnapshotCreating   = "Creating"
	SnapshotBackingUp  = "BackingUp"
	SnapshotBackedUp   = "BackedUp"
	SnapshotError      = "Error"
	SnapshotDestroying = "Destroying"
	SnapshotDestroyed  = "Destroyed"

	SnapshotManual    = "MANUAL"
	SnapshotRecurring = "RECURRING"
)

// Snapshot is a volume snapshot (CloudStack's snapshots table).
type Snapshot struct {
	ID, Name, AccountID, DomainID, ZoneID string
	VolumeID, VolumeType, DiskOfferingID  string
	PolicyID                              string
	SnapshotType                          string // MANUAL or RECURRING
	IntervalType                          string // HOURLY, DAILY, WEEKLY, MONTHLY for recurring ones
	HypervisorType                        string
	Size, PhysicalSize                    int64
	State                                 string
	Version, Created                      int64
	// Joined for rendering by Get and List.
	AccountName, DomainName, DomainPath, ZoneName string
	VolumeName, VolumeState                       string
	VolumeRemoved                                 bool   // the volume was deleted (its snapshots stay)
	StoreID                                       string // the image store holding its copy, if any
}

const snapshotCols = `s.id, s.name, s.account_id, s.domain_id, s.zone_id, s.volume_id, s.volume_type, COALESCE(s.disk_offering_id,''),
	COALESCE(s.policy_id,''), s.snapshot_type, COALESCE(s.interval_type,''), COALESCE(s.hypervisor_type,''), s.size, s.physical_size,
	s.state, s.version, s.created, COALESCE(a.name,''), COALESCE(d.name,''), COALESCE(d.path,''), COALESCE(z.name,''),
	COALESCE(v.name,''), COALESCE(v.state,''), CASE WHEN v.id IS NULL OR v.removed IS NOT NULL THEN 1 ELSE 0 END,
	COALESCE((SELECT MIN(r.store_id) FROM snapshot_store_refs r WHERE r.snapshot_id = s.id AND r.removed IS NULL), '')`

const snapshotFrom = ` FROM snapshots s LEFT JOIN accounts a ON a.id = s.account_id LEFT JOIN domains d ON d.id = s.domain_id
	LEFT JOIN zones z ON z.id = s.zone_id LEFT JOIN volumes v ON v.id = s.volume_id`

func scanSnapshot(sc interface{ Scan(...any) error }) (*Snapshot, error) {
	var s Snapshot
	var volGone int
	if err := sc.Scan(&s.ID, &s.Name, &s.AccountID, &s.DomainID, &s.ZoneID, &s.VolumeID, &s.VolumeType, &s.DiskOfferingID, &s.PolicyID,
		&s.SnapshotType, &s.IntervalType, &s.HypervisorType, &s.Size, &s.PhysicalSize, &s.State, &s.Version, &s.Created,
		&s.AccountName, &s.DomainName, &s.DomainPath, &s.ZoneName, &s.VolumeName, &s.VolumeState, &volGone, &s.StoreID); err != nil {
		return nil, err
	}
	s.VolumeRemoved = volGone == 1
	return &s, nil
}

// InsertSnapshot creates a snapshot row.
func InsertSnapshot(ctx context.Context, q Querier, s *Snapshot) error {
	_, err := q.ExecContext(ctx, `INSERT INTO snapshots (id, name, account_id, domain_id, zone_id, volume_id, volume_type, disk_offering_id,
		policy_id, snapshot_type, interval_type, hypervisor_type, size, physical_size, state, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		s.ID, s.Name, s.AccountID, s.DomainID, s.ZoneID, s.VolumeID, s.VolumeType, nullable(s.DiskOfferingID), nullable(s.PolicyID),
		s.SnapshotType, nullable(s.IntervalType), nullable(s.HypervisorType), s.Size, s.PhysicalSize, s.State, s.Created)
	if err != nil {
		return fmt.Errorf("db: insert snapshot: %w", err)
	}
	return nil
}

// GetSnapshot returns a live (not removed) snapshot by id.
func GetSnapshot(ctx context.Context, q Querier, id string) (*Snapshot, error) {
	s, err := scanSnapshot(q.QueryRowContext(ctx, "SELECT "+snapshotCols+snapshotFrom+" WHERE s.id = ? AND s.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get snapshot: %w", err)
	}
	return s, nil
}

// SnapshotFilter selects snapshots; empty fields match everything. Name matches
// case-insensitively, Keyword is a substring of the name. Where and WhereArgs add one more
// SQL condition (a tag filter) over the alias s.
type SnapshotFilter struct {
	ID                         string
	IDs                        []string
	Name, Keyword              string
	VolumeID, ZoneID, PolicyID string
	SnapshotType, IntervalType string
	StoreID                    string // has a live copy on this image store
	PoolID                     string // taken of a volume now on this primary pool
	States                     []string
	Scope                      Scope
	Where                      string
	WhereArgs                  []any
	// OldestFirst orders by creation time ascending (default: newest first, as CloudStack lists).
	OldestFirst   bool
	Limit, Offset int
}

// ListSnapshots returns matching live snapshots and the total before paging.
func ListSnapshots(ctx context.Context, q Querier, f SnapshotFilter) ([]*Snapshot, int, error) {
	w := []string{"s.removed IS NULL"}
	var args []any
	eq := func(col, v string) {
		if v != "" {
			w, args = append(w, col+" = ?"), append(args, v)
		}
	}
	eq("s.id", f.ID)
	eq("s.volume_id", f.VolumeID)
	eq("s.zone_id", f.ZoneID)
	eq("s.policy_id", f.PolicyID)
	if len(f.IDs) > 0 {
		w = append(w, "s.id IN ("+placeholders(len(f.IDs))+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if f.Name != "" {
		w, args = append(w, "LOWER(s.name) = LOWER(?)"), append(args, f.Name)
	}
	if f.SnapshotType != "" {
		w, args = append(w, "UPPER(s.snapshot_type) = UPPER(?)"), append(args, f.SnapshotType)
	}
	if f.IntervalType != "" {
		w, args = append(w, "UPPER(s.interval_type) = UPPER(?)"), append(args, f.IntervalType)
	}
	if f.StoreID != "" {
		w, args = append(w, "EXISTS (SELECT 1 FROM snapshot_store_refs r WHERE r.snapshot_id = s.id AND r.store_id = ? AND r.removed IS NULL)"),
			append(args, f.StoreID)
	}
	if f.PoolID != "" {
		w, args = append(w, "v.pool_id = ?"), append(args, f.PoolID)
	}
	if len(f.States) > 0 {
		w = append(w, "s.state IN ("+placeholders(len(f.States))+")")
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	if f.Keyword != "" {
		w, args = append(w, "LOWER(s.name) LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	w, args = f.Scope.apply(w, args, "s.account_id", "d.path")
	if f.Where != "" {
		w, args = append(w, f.Where), append(args, f.WhereArgs...)
	}
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+snapshotFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count snapshots: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	order := " ORDER BY s.created DESC, s.id DESC"
	if f.OldestFirst {
		order = " ORDER BY s.created, s.id"
	}
	rows, err := q.QueryContext(ctx, "SELECT "+snapshotCols+snapshotFrom+" WHERE "+where+order+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list snapshots: %w", err)
	}
	out, err := scanAll(rows, "list snapshots", scanSnapshot)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateSnapshot writes a snapshot's state and sizes if its version still matches
// (ErrConflict otherwise).
func UpdateSnapshot(ctx context.Context, q Querier, s *Snapshot) error {
	res, err := q.ExecContext(ctx, `UPDATE snapshots SET name = ?, state = ?, size = ?, physical_size = ?, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`, s.Name, s.State, s.Size, s.PhysicalSize, s.ID, s.Version)
	if err != nil {
		return fmt.Errorf("db: update snapshot: %w", err)
	}
	return expectOne(res)
}

// RemoveSnapshot marks a snapshot Destroyed and removed, with its store copies, if its version
// still matches.
func RemoveSnapshot(ctx context.Context, q Querier, id string, version int64) error {
	now := Now()
	res, err := q.ExecContext(ctx, "UPDATE snapshots SET state = ?, removed = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL",
		SnapshotDestroyed, now, id, version)
	if err != nil {
		return fmt.Errorf("db: remove snapshot: %w", err)
	}
	if err := expectOne(res); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, "UPDATE snapshot_store_refs SET state = 'Destroyed', removed = ? WHERE snapshot_id = ? AND removed IS NULL", now, id); err != nil {
		return fmt.Errorf("db: remove snapshot copies: %w", err)
	}
	return nil
}

// CountVolumeSnapshots counts a volume's live snapshots in the given states (any state if none).
func CountVolumeSnapshots(ctx context.Context, q Querier, volumeID string, states ...string) (int, error) {
	where, args := "volume_id = ? AND removed IS NULL", []any{volumeID}
	if len(states) > 0 {
		where += " AND state IN (" + placeholders(len(states)) + ")"
		for _, s := range states {
			args = append(args, s)
		}
	}
	return count(ctx, q, "snapshots", where, args)
}

// SnapshotUsage is what an account's live snapshots take: their number and the bytes their
// copies take on secondary storage (physical size, or the virtual size while unknown).
type SnapshotUsage struct {
	Count int64
	Bytes int64
}

// AccountSnapshotUsage counts an account's live snapshots and their secondary-storage bytes,
// for recomputing resource counts.
func AccountSnapshotUsage(ctx context.Context, q Querier, accountID string) (SnapshotUsage, error) {
	var u SnapshotUsage
	err := q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN physical_size > 0 THEN physical_size ELSE size END), 0)
		FROM snapshots WHERE account_id = ? AND removed IS NULL`, accountID).Scan(&u.Count, &u.Bytes)
	if err != nil {
		return u, fmt.Errorf("db: account snapshot usage: %w", err)
	}
	return u, nil
}

// SecondaryBytes is what a snapshot is charged on secondary storage: its physical size once
// backed up, its virtual size until then.
func (s *Snapshot) SecondaryBytes() int64 {
	if s.PhysicalSize > 0 {
		return s.PhysicalSize
	}
	return s.Size
}

// SnapshotStoreRef is where a snapshot's copy lives (CloudStack's snapshot_store_ref).
type SnapshotStoreRef struct {
	ID, SnapshotID, StoreID, StoreRole string
	InstallPath                        string
	Size, PhysicalSize                 int64
	State                              string
	Created                            int64
}

// InsertSnapshotStoreRef records a copy of a snapshot on a store.
func InsertSnapshotStoreRef(ctx context.Context, q Querier, r *SnapshotStoreRef) error {
	_, err := q.ExecContext(ctx, `INSERT INTO snapshot_store_refs (id, snapshot_id, store_id, store_role, install_path, size, physical_size,
		state, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.SnapshotID, r.StoreID, r.StoreRole, nullable(r.InstallPath), r.Size,
		r.PhysicalSize, r.State, r.Created)
	if err != nil {
		return fmt.Errorf("db: insert snapshot store ref: %w", err)
	}
	return nil
}

// UpdateSnapshotStoreRef writes a copy's path, sizes and state.
func UpdateSnapshotStoreRef(ctx context.Context, q Querier, r *SnapshotStoreRef) error {
	res, err := q.ExecContext(ctx, `UPDATE snapshot_store_refs SET install_path = ?, size = ?, physical_size = ?, state = ?
		WHERE id = ? AND removed IS NULL`, nullable(r.InstallPath), r.Size, r.PhysicalSize, r.State, r.ID)
	if err != nil {
		return fmt.Errorf("db: update snapshot store ref: %w", err)
	}
	return expectOne(res)
}

func scanSnapshotStoreRef(sc interface{ Scan(...any) error }) (*SnapshotStoreRef, error) {
	var r SnapshotStoreRef
	if err := sc.Scan(&r.ID, &r.SnapshotID, &r.StoreID, &r.StoreRole, &r.InstallPath, &r.Size, &r.PhysicalSize, &r.State, &r.Created); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListSnapshotStoreRefs returns a snapshot's live copies, oldest first.
func ListSnapshotStoreRefs(ctx context.Context, q Querier, snapshotID string) ([]*SnapshotStoreRef, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, snapshot_id, store_id, store_role, COALESCE(install_path,''), size, physical_size, state, created
		FROM snapshot_store_refs WHERE snapshot_id = ? AND removed IS NULL ORDER BY created, id`, snapshotID)
	if err != nil {
		return nil, fmt.Errorf("db: list snapshot store refs: %w", err)
	}
	return scanAll(rows, "list snapshot store refs", scanSnapshotStoreRef)
}

// CountStoreSnapshots counts the live snapshot copies on an image store (deleteImageStore
// refuses a store that still holds some).
func CountStoreSnapshots(ctx context.Context, q Querier, storeID string) (int, error) {
	return count(ctx, q, "snapshot_store_refs", "store_id = ? AND removed IS NULL", []any{storeID})
}
