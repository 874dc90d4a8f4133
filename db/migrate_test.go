package db_test

import (
	"regexp"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
)

// A migration of ADD COLUMNs that failed part way on MariaDB (each DDL commits on its own)
// leaves its first columns added and itself unrecorded; the next start must re-run it cleanly
// instead of stopping at "Duplicate column name". SQLite needs no such test: its migrations
// run in one transaction, so it never holds a half-applied one.
func TestMigrateResumesPartialAddColumnMariaDB(t *testing.T) {
	url := dbtest.NewMySQLDatabase(t)
	d := dbtest.Open(t, url, true)
	ctx := t.Context()
	ms, err := db.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	// Undo 0010 and every later migration's ADD COLUMNs, except 0010's first column, which
	// stays as the failed run left it, and forget that they were applied.
	addCol := regexp.MustCompile(`(?m)^\s*ALTER TABLE (\w+) ADD COLUMN (\w+)`)
	const from = 10
	first := true
	undone := 0
	for _, m := range ms {
		if m.Version < from {
			continue
		}
		for _, g := range addCol.FindAllStringSubmatch(m.SQL, -1) {
			if first {
				first = false
				continue
			}
			if _, err := d.SQL.ExecContext(ctx, "ALTER TABLE "+g[1]+" DROP COLUMN "+g[2]); err != nil {
				t.Fatalf("drop %s.%s: %v", g[1], g[2], err)
			}
		}
		undone++
	}
	if first {
		t.Fatal("migration 0010 adds no column: the test no longer covers a partial ADD COLUMN")
	}
	if _, err := d.SQL.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version >= ?", from); err != nil {
		t.Fatal(err)
	}
	var have int
	if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'service_offerings' AND COLUMN_NAME = 'bytes_read_rate'`).Scan(&have); err != nil || have != 1 {
		t.Fatalf("0010's first column before re-running: %d, %v", have, err)
	}

	n, err := d.Migrate(ctx)
	if err != nil {
		t.Fatalf("migrate after a partial 0010: %v", err)
	}
	if n != undone {
		t.Fatalf("migrate after a partial 0010: applied %d, want %d", n, undone)
	}
	if v, err := d.SchemaVersion(ctx); err != nil || v != ms[len(ms)-1].Version {
		t.Fatalf("schema version %d, %v; want %d", v, err, ms[len(ms)-1].Version)
	}
	// Every column the re-run migrations add is there, once.
	for _, m := range ms[from-1:] {
		for _, g := range addCol.FindAllStringSubmatch(m.SQL, -1) {
			var c int
			if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
				WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`, g[1], g[2]).Scan(&c); err != nil || c != 1 {
				t.Errorf("%s: column %s.%s: %d, %v", m.Name, g[1], g[2], c, err)
			}
		}
	}
	// The columns work: a row written through them reads back.
	if _, err := d.SQL.ExecContext(ctx, "SELECT bytes_read_rate, iops_write_rate_max_length FROM disk_offerings WHERE 1 = 0"); err != nil {
		t.Fatalf("read the re-added columns: %v", err)
	}
}
