package db_test

import (
	"testing"

	"github.com/atollcloud/atoll/db"
)

// TestDeferred checks that held-back writes land with the next write through the Deferred (or
// its Flush), that the result is the last statement's, and that a failing held-back write
// fails the write that sends it (and rolls its transaction back).
func TestDeferred(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		d := open(t, url, false)
		createCounter(t, d)
		ctx := t.Context()
		value := func(id int) int64 {
			t.Helper()
			var v int64
			if err := d.Read().QueryRowContext(ctx, "SELECT value FROM counter WHERE id = ?", id).Scan(&v); err != nil {
				t.Fatal(err)
			}
			return v
		}
		err := d.Transaction(ctx, func(tx db.Tx) error {
			w := d.Defer(tx)
			if _, err := w.Later().ExecContext(ctx, "UPDATE counter SET value = value + ? WHERE id = 1", 5); err != nil {
				return err
			}
			if _, err := w.Later().ExecContext(ctx, "INSERT INTO counter (id, value, version) VALUES (?, ?, 0)", 3, 30); err != nil {
				return err
			}
			res, err := w.ExecContext(ctx, "UPDATE counter SET value = value + 1 WHERE id IN (1, 2)")
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 2 {
				t.Errorf("rows affected %d (%v), want the last statement's 2", n, err)
			}
			if _, err := w.Later().ExecContext(ctx, "UPDATE counter SET value = value + 100 WHERE id = 3"); err != nil {
				return err
			}
			return w.Flush(ctx)
		})
		if err != nil {
			t.Fatal(err)
		}
		if a, b, c := value(1), value(2), value(3); a != 6 || b != 1 || c != 130 {
			t.Fatalf("values %d %d %d, want 6 1 130", a, b, c)
		}
		err = d.Transaction(ctx, func(tx db.Tx) error {
			w := d.Defer(tx)
			if _, err := w.Later().ExecContext(ctx, "UPDATE counter SET value = 0 WHERE id = 1"); err != nil {
				return err
			}
			if _, err := w.Later().ExecContext(ctx, "INSERT INTO counter (id, value, version) VALUES (?, 0, 0)", 2); err != nil {
				return err // on SQLite held-back writes run at once: the duplicate fails here
			}
			_, err := w.ExecContext(ctx, "UPDATE counter SET value = 0 WHERE id = 3")
			return err
		})
		if !db.IsDuplicate(err) {
			t.Fatalf("err %v, want the held-back insert's duplicate key", err)
		}
		if a, c := value(1), value(3); a != 6 || c != 130 {
			t.Fatalf("values %d %d after a failed batch, want 6 130 (rolled back)", a, c)
		}
	})
}
