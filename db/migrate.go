package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one numbered, append-only schema step.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("db: read migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("db: migration %q is not named NNNN_name.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("db: migration %q: %w", name, err)
		}
		body, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			return nil, fmt.Errorf("db: read migration %q: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := range out {
		if out[i].Version != i+1 {
			return nil, fmt.Errorf("db: migrations must be numbered 1..n without gaps; found %d at position %d", out[i].Version, i+1)
		}
	}
	return out, nil
}

// addColumn matches "ADD COLUMN", with or without an "IF NOT EXISTS" already after it.
var addColumn = regexp.MustCompile(`(?i)\bADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?`)

// translate rewrites the few portable tokens our migrations use into the dialect's DDL.
//
// On MySQL (MariaDB) it also makes every "ADD COLUMN" an "ADD COLUMN IF NOT EXISTS". MariaDB
// commits each DDL statement on its own, so a migration that fails part way (a server killed,
// a lost connection) leaves its first columns added but the migration unrecorded, and without
// IF NOT EXISTS every later start would stop at "Duplicate column name". With it a migration
// re-runs from the top and adds only what is missing. SQLite has no ADD COLUMN IF NOT EXISTS
// and needs none: its migrations run in one transaction, all or nothing. Migrations are thus
// written with plain "ADD COLUMN"; the rewrite is automatic so that no new migration can forget
// it. (ADD COLUMN IF NOT EXISTS, like the CREATE INDEX IF NOT EXISTS that the migrations use
// already, is MariaDB syntax: Oracle MySQL has neither.) Applied migrations are not
// checksummed, so this changes nothing for databases that are already up to date.
func (d *DB) translate(s string) string {
	var r *strings.Replacer
	if d.Dialect == MySQL {
		s = addColumn.ReplaceAllString(s, "ADD COLUMN IF NOT EXISTS ")
		r = strings.NewReplacer(
			"{{AUTOINC}}", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
			"{{TABLE}}", " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
			"{{TEXT}}", "MEDIUMTEXT",
		)
	} else {
		r = strings.NewReplacer(
			"{{AUTOINC}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
			"{{TABLE}}", "",
			"{{TEXT}}", "TEXT",
		)
	}
	return r.Replace(s)
}

// splitStatements splits a migration on semicolons that end a line.
func splitStatements(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// Migrate applies every migration not yet applied. Several servers may call it at once:
// on MySQL a named lock serialises them, on SQLite the file's write lock does.
func (d *DB) Migrate(ctx context.Context) (applied int, err error) {
	ms, err := Migrations()
	if err != nil {
		return 0, err
	}
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("db: migrate: %w", err)
	}
	defer conn.Close()
	if d.Dialect == MySQL {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('atoll_migrate', 120)").Scan(&got); err != nil {
			return 0, fmt.Errorf("db: migrate: take the migration lock: %w", err)
		}
		if got.Int64 != 1 {
			return 0, errors.New("db: migrate: another server held the migration lock for 120 s")
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('atoll_migrate')")
	}
	if _, err := conn.ExecContext(ctx, d.translate(
		"CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied BIGINT NOT NULL){{TABLE}}")); err != nil {
		return 0, fmt.Errorf("db: create schema_migrations: %w", err)
	}
	done := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return 0, fmt.Errorf("db: read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return 0, fmt.Errorf("db: read schema_migrations: %w", err)
		}
		done[v] = true
	}
	rows.Close()
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		did, err := d.apply(ctx, conn, m)
		if err != nil {
			return applied, err
		}
		if did {
			applied++
		}
	}
	return applied, nil
}

// apply runs one migration unless another server recorded it first, and reports whether it ran.
func (d *DB) apply(ctx context.Context, conn *sql.Conn, m Migration) (bool, error) {
	stmts := splitStatements(d.translate(m.SQL))
	// SQLite runs DDL inside a transaction; MySQL commits DDL implicitly, so the lock above is
	// what protects it there, and statements are written (or translated, for ADD COLUMN) to be
	// safe to re-run after a partial failure (IF NOT EXISTS).
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("db: migration %s: %w", m.Name, err)
	}
	// SQLite has no migration lock: another process may have applied this migration since we
	// read schema_migrations. The check is exact here because BEGIN IMMEDIATE holds the write lock.
	var done int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.Version).Scan(&done); err != nil {
		tx.Rollback()
		return false, fmt.Errorf("db: migration %s: %w", m.Name, err)
	}
	if done > 0 {
		return false, tx.Rollback()
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			tx.Rollback()
			return false, fmt.Errorf("db: migration %s: %q: %w", m.Name, firstLine(s), err)
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)", m.Version, m.Name, Now()); err != nil {
		tx.Rollback()
		return false, fmt.Errorf("db: record migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("db: commit migration %s: %w", m.Name, err)
	}
	return true, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// SchemaVersion returns the highest applied migration.
func (d *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := d.SQL.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("db: schema version: %w", err)
	}
	return int(v.Int64), nil
}
