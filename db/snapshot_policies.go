package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SnapshotPolicy is a recurring snapshot policy on a volume (CloudStack's snapshot_policy).
// IntervalType is CloudStack's number: 0 hourly, 1 daily, 2 weekly, 3 monthly.
type SnapshotPolicy struct {
	ID, VolumeID, AccountID, DomainID string
	IntervalType                      int
	Schedule, Timezone                string
	MaxSnaps                          int
	ForDisplay, Active                bool
	NextRun, LastRun                  int64
	LastJobID                         string
	Version, Created                  int64
	// Joined for rendering.
	VolumeName, ZoneID, AccountName, DomainPath string
}

func snapshotPolicyLiveKey(volumeID string, interval int) string {
	return volumeID + "/" + strconv.Itoa(interval)
}

const snapshotPolicyCols = `p.id, p.volume_id, p.account_id, p.domain_id, p.interval_type, p.schedule, p.timezone, p.max_snaps, p.for_display,
	p.active, p.next_run, COALESCE(p.last_run,0), COALESCE(p.last_job_id,''), p.version, p.created, COALESCE(v.name,''), COALESCE(v.zone_id,''),
	COALESCE(a.name,''), COALESCE(d.path,'')`

const snapshotPolicyFrom = ` FROM snapshot_policies p LEFT JOIN volumes v ON v.id = p.volume_id LEFT JOIN accounts a ON a.id = p.account_id
	LEFT JOIN domains d ON d.id = p.domain_id`

func scanSnapshotPolicy(sc interface{ Scan(...any) error }) (*SnapshotPolicy, error) {
	var p SnapshotPolicy
	var disp, active int
	if err := sc.Scan(&p.ID, &p.VolumeID, &p.AccountID, &p.DomainID, &p.IntervalType, &p.Schedule, &p.Timezone, &p.MaxSnaps, &disp, &active,
		&p.NextRun, &p.LastRun, &p.LastJobID, &p.Version, &p.Created, &p.VolumeName, &p.ZoneID, &p.AccountName, &p.DomainPath); err != nil {
		return nil, err
	}
	p.ForDisplay, p.Active = disp == 1, active == 1
	return &p, nil
}

// InsertSnapshotPolicy creates a policy; a live policy of the same volume and interval gives
// an error IsDuplicate accepts.
func InsertSnapshotPolicy(ctx context.Context, q Querier, p *SnapshotPolicy) error {
	_, err := q.ExecContext(ctx, `INSERT INTO snapshot_policies (id, volume_id, account_id, domain_id, interval_type, schedule, timezone,
		max_snaps, for_display, active, next_run, live_key, version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		p.ID, p.VolumeID, p.AccountID, p.DomainID, p.IntervalType, p.Schedule, p.Timezone, p.MaxSnaps, boolInt(p.ForDisplay),
		boolInt(p.Active), p.NextRun, snapshotPolicyLiveKey(p.VolumeID, p.IntervalType), p.Created)
	if err != nil {
		return fmt.Errorf("db: insert snapshot policy: %w", err)
	}
	return nil
}

// GetSnapshotPolicy returns a live policy by id.
func GetSnapshotPolicy(ctx context.Context, q Querier, id string) (*SnapshotPolicy, error) {
	p, err := scanSnapshotPolicy(q.QueryRowContext(ctx, "SELECT "+snapshotPolicyCols+snapshotPolicyFrom+" WHERE p.id = ? AND p.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get snapshot policy: %w", err)
	}
	return p, nil
}

// GetSnapshotPolicyFor returns a volume's live policy of an interval type.
func GetSnapshotPolicyFor(ctx context.Context, q Querier, volumeID string, interval int) (*SnapshotPolicy, error) {
	p, err := scanSnapshotPolicy(q.QueryRowContext(ctx, "SELECT "+snapshotPolicyCols+snapshotPolicyFrom+" WHERE p.live_key = ?",
		snapshotPolicyLiveKey(volumeID, interval)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get snapshot policy: %w", err)
	}
	return p, nil
}

// SnapshotPolicyFilter selects policies.
type SnapshotPolicyFilter struct {
	ID, VolumeID  string
	IDs           []string
	ForDisplay    *bool
	Scope         Scope
	Where         string
	WhereArgs     []any
	Limit, Offset int
}

// ListSnapshotPolicies returns matching live policies, ordered by volume and interval, and
// the total before paging.
func ListSnapshotPolicies(ctx context.Context, q Querier, f SnapshotPolicyFilter) ([]*SnapshotPolicy, int, error) {
	w := []string{"p.removed IS NULL"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "p.id = ?"), append(args, f.ID)
	}
	if f.VolumeID != "" {
		w, args = append(w, "p.volume_id = ?"), append(args, f.VolumeID)
	}
	if len(f.IDs) > 0 {
		w = append(w, "p.id IN ("+placeholders(len(f.IDs))+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if f.ForDisplay != nil {
		w, args = append(w, "p.for_display = ?"), append(args, boolInt(*f.ForDisplay))
	}
	w, args = f.Scope.apply(w, args, "p.account_id", "d.path")
	if f.Where != "" {
		w, args = append(w, f.Where), append(args, f.WhereArgs...)
	}
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+snapshotPolicyFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count snapshot policies: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+snapshotPolicyCols+snapshotPolicyFrom+" WHERE "+where+
		" ORDER BY p.volume_id, p.interval_type"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list snapshot policies: %w", err)
	}
	out, err := scanAll(rows, "list snapshot policies", scanSnapshotPolicy)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateSnapshotPolicy writes a policy's schedule, timezone, max snapshots, display flag,
// active flag and next run if its version still matches (ErrConflict otherwise).
func UpdateSnapshotPolicy(ctx context.Context, q Querier, p *SnapshotPolicy) error {
	res, err := q.ExecContext(ctx, `UPDATE snapshot_policies SET schedule = ?, timezone = ?, max_snaps = ?, for_display = ?, active = ?,
		next_run = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL`, p.Schedule, p.Timezone, p.MaxSnaps,
		boolInt(p.ForDisplay), boolInt(p.Active), p.NextRun, p.ID, p.Version)
	if err != nil {
		return fmt.Errorf("db: update snapshot policy: %w", err)
	}
	return expectOne(res)
}

// MarkSnapshotPolicyRun records that the scheduler fired a policy (its job id) and moves its
// next run on, if its version still matches: two schedulers can never both fire one run.
func MarkSnapshotPolicyRun(ctx context.Context, q Querier, p *SnapshotPolicy, ran, next int64, jobID string) error {
	res, err := q.ExecContext(ctx, `UPDATE snapshot_policies SET last_run = ?, next_run = ?, last_job_id = ?, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`, ran, next, nullable(jobID), p.ID, p.Version)
	if err != nil {
		return fmt.Errorf("db: mark snapshot policy run: %w", err)
	}
	return expectOne(res)
}

// RemoveSnapshotPolicy soft-deletes a policy.
func RemoveSnapshotPolicy(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE snapshot_policies SET removed = ?, live_key = NULL, version = version + 1 WHERE id = ? AND removed IS NULL",
		Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove snapshot policy: %w", err)
	}
	return expectOne(res)
}

// RemoveVolumeSnapshotPolicies soft-deletes every policy of a volume (the volume is deleted).
func RemoveVolumeSnapshotPolicies(ctx context.Context, q Querier, volumeID string) error {
	if _, err := q.ExecContext(ctx, "UPDATE snapshot_policies SET removed = ?, live_key = NULL, version = version + 1 WHERE volume_id = ? AND removed IS NULL",
		Now(), volumeID); err != nil {
		return fmt.Errorf("db: remove volume snapshot policies: %w", err)
	}
	return nil
}

// DueSnapshotPolicies returns up to limit active live policies whose next run is at or before
// now, earliest first.
func DueSnapshotPolicies(ctx context.Context, q Querier, now int64, limit int) ([]*SnapshotPolicy, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+snapshotPolicyCols+snapshotPolicyFrom+
		" WHERE p.removed IS NULL AND p.active = 1 AND p.next_run <= ? ORDER BY p.next_run, p.id"+page(limit, 0), now)
	if err != nil {
		return nil, fmt.Errorf("db: due snapshot policies: %w", err)
	}
	return scanAll(rows, "due snapshot policies", scanSnapshotPolicy)
}
