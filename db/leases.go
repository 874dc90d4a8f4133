package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// AcquireLease takes or renews the named lease for owner until leaseUntil: it succeeds when
// owner already holds it or when it has lapsed (lease_until < now). It reports whether owner
// holds the lease afterwards. One conditional update decides, so two servers never both win.
func AcquireLease(ctx context.Context, q Querier, name, owner string, now, leaseUntil int64) (bool, error) {
	// acquired first: MySQL assigns left to right, so it must read the old owner.
	res, err := q.ExecContext(ctx, `UPDATE leases SET acquired = CASE WHEN owner = ? THEN acquired ELSE ? END,
		owner = ?, lease_until = ? WHERE name = ? AND (owner = ? OR lease_until < ?)`, owner, now, owner, leaseUntil, name, owner, now)
	if err != nil {
		return false, fmt.Errorf("db: acquire lease: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("db: acquire lease: %w", err)
	} else if n == 1 {
		return true, nil
	}
	// No row yet: the first server to insert it holds it; a duplicate means another won.
	_, err = q.ExecContext(ctx, "INSERT INTO leases (name, owner, lease_until, acquired) VALUES (?, ?, ?, ?)", name, owner, leaseUntil, now)
	if IsDuplicate(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("db: acquire lease: %w", err)
	}
	return true, nil
}

// ReleaseLease gives up the named lease if owner holds it, so another server may take it at once.
func ReleaseLease(ctx context.Context, q Querier, name, owner string) error {
	if _, err := q.ExecContext(ctx, "UPDATE leases SET owner = NULL, lease_until = 0 WHERE name = ? AND owner = ?", name, owner); err != nil {
		return fmt.Errorf("db: release lease: %w", err)
	}
	return nil
}

// LeaseHolder returns the named lease's owner and expiry ("" and 0 if never taken).
func LeaseHolder(ctx context.Context, q Querier, name string) (owner string, until int64, err error) {
	err = q.QueryRowContext(ctx, "SELECT COALESCE(owner,''), lease_until FROM leases WHERE name = ?", name).Scan(&owner, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("db: lease holder: %w", err)
	}
	return owner, until, nil
}
