package db

import (
	"context"
	"database/sql"
	"errors"
	"strings"
)

// Deferred holds back writes whose outcome the caller does not look at (the rows they insert
// are all it wants) and sends them ahead of the next write made through it: on MySQL in the
// same round trip, as one multi-statement query (the driver interpolates every argument). A
// failure of a held-back write is reported by that next write. On SQLite, where a statement
// costs no round trip, held-back writes run at once.
//
// Later returns the Querier that holds writes back; the Deferred itself sends them. The
// caller must send (Flush, or any write through the Deferred) before its transaction ends.
type Deferred struct {
	Querier
	mysql   bool
	pending []string
	args    []any
}

// Defer wraps q (a transaction, or the pool for autocommit statements).
func (d *DB) Defer(q Querier) *Deferred { return &Deferred{Querier: q, mysql: d.Dialect == MySQL} }

// Later is a Querier whose writes are held back until the next write through w; it must not
// be used to read.
func (w *Deferred) Later() Querier { return later{w} }

// ExecContext sends the held-back writes, then query, in one round trip; the result is
// query's (RowsAffected and LastInsertId of the last statement).
func (w *Deferred) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if len(w.pending) == 0 {
		return w.Querier.ExecContext(ctx, query, args...)
	}
	q := strings.Join(append(w.pending, query), ";\n")
	all := append(w.args, args...)
	w.pending, w.args = nil, nil
	return w.Querier.ExecContext(ctx, q, all...)
}

// Flush sends the held-back writes, if any.
func (w *Deferred) Flush(ctx context.Context) error {
	if len(w.pending) == 0 {
		return nil
	}
	q := strings.Join(w.pending, ";\n")
	all := w.args
	w.pending, w.args = nil, nil
	_, err := w.Querier.ExecContext(ctx, q, all...)
	return err
}

type later struct{ w *Deferred }

var errDeferredRead = errors.New("db: a read through a Deferred's Later querier")

func (l later) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if !l.w.mysql {
		return l.w.Querier.ExecContext(ctx, query, args...)
	}
	if strings.Count(query, "?") != len(args) {
		return nil, errors.New("db: a held-back write's placeholders and arguments differ")
	}
	l.w.pending = append(l.w.pending, query)
	l.w.args = append(l.w.args, args...)
	return heldBack{}, nil
}

func (l later) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return nil, errDeferredRead
}

func (l later) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	panic(errDeferredRead)
}

// heldBack is the result of a write held back: nothing is known of it yet.
type heldBack struct{}

func (heldBack) LastInsertId() (int64, error) { return 0, errors.New("db: held-back write") }
func (heldBack) RowsAffected() (int64, error) { return 0, errors.New("db: held-back write") }
