package db_test

import (
	"database/sql"
	"testing"

	"github.com/atollcloud/atoll/db"
)

// TestReadAll checks that batched reads each get their own rows, in order, empty ones too.
func TestReadAll(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		d := open(t, url, false)
		createCounter(t, d)
		ctx := t.Context()
		got := map[int][]int64{}
		read := func(k int, query string, args ...any) db.Read {
			return db.Read{Query: query, Args: args, Row: func(rows *sql.Rows) error {
				var v int64
				if err := rows.Scan(&v); err != nil {
					return err
				}
				got[k] = append(got[k], v)
				return nil
			}}
		}
		if _, err := d.SQL.ExecContext(ctx, "UPDATE counter SET value = id * 10"); err != nil {
			t.Fatal(err)
		}
		err := d.ReadAll(ctx, d.Read(), read(0, "SELECT value FROM counter WHERE id = ?", 2),
			read(1, "SELECT value FROM counter WHERE id = ?", 9),
			read(2, "SELECT id FROM counter WHERE value >= ? ORDER BY id", 10))
		if err != nil {
			t.Fatal(err)
		}
		if len(got[0]) != 1 || got[0][0] != 20 || len(got[1]) != 0 || len(got[2]) != 2 || got[2][0] != 1 || got[2][1] != 2 {
			t.Fatalf("reads got %v", got)
		}
		if err := d.ReadAll(ctx, d.Read(), read(0, "SELECT value FROM counter WHERE id = ?"), read(1, "SELECT 1")); err == nil {
			t.Fatal("a read missing its argument was run")
		}
	})
}
