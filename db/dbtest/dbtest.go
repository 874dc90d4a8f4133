// Package dbtest gives tests fresh databases on both engines: a SQLite file in a temporary
// directory, or a new database on the MariaDB server named by ATOLL_TEST_MYSQL. It imports only
// db, so the db and jobs tests do not depend on the rest of the management server.
package dbtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/google/uuid"
)

// MySQLBase returns ATOLL_TEST_MYSQL ("mysql://user:pass@tcp(127.0.0.1:3306)/"). When it is
// unset a test skips, except under CI=true, where a missing database is a failure.
func MySQLBase(t testing.TB) string {
	t.Helper()
	base := os.Getenv("ATOLL_TEST_MYSQL")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("ATOLL_TEST_MYSQL is not set: CI must run the MariaDB tier (make test starts MariaDB)")
		}
		t.Skip("ATOLL_TEST_MYSQL not set; run `make test` to start MariaDB")
	}
	return base
}

// NewMySQLDatabase creates an empty database on the test MariaDB server, dropped at cleanup,
// and returns its URL.
func NewMySQLDatabase(t testing.TB) string {
	t.Helper()
	base := MySQLBase(t)
	name := "atoll_t_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	dsn := strings.TrimPrefix(base, "mysql://")
	conn, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if c, err := sql.Open("mysql", dsn); err == nil {
			c.Exec("DROP DATABASE IF EXISTS " + name)
			c.Close()
		}
	})
	return base + name
}

// Engines runs f as subtest "sqlite" on a fresh SQLite file and as subtest "mariadb" on a
// fresh MariaDB database; f gets the database URL.
func Engines(t *testing.T, f func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "sqlite://"+filepath.Join(t.TempDir(), "atoll.db")) })
	t.Run("mariadb", func(t *testing.T) { f(t, NewMySQLDatabase(t)) })
}

// Open opens url, migrated if migrate is set, and closes it at cleanup.
func Open(t testing.TB, url string, migrate bool) *db.DB {
	t.Helper()
	d, err := db.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { d.Close() })
	if migrate {
		if _, err := d.Migrate(t.Context()); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	return d
}

// Fingerprint hashes every row of the given tables (a name, or a whole SELECT for tables whose
// volatile columns must be left out), so a test can prove a refused call changed nothing.
func Fingerprint(t testing.TB, q db.Querier, tables ...string) string {
	t.Helper()
	h := sha256.New()
	for _, table := range tables {
		query := table
		if !strings.HasPrefix(strings.ToUpper(table), "SELECT ") {
			query = "SELECT * FROM " + table + " ORDER BY 1, 2"
		}
		rows, err := q.QueryContext(context.Background(), query)
		if err != nil {
			t.Fatalf("fingerprint %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%s:%v\n", table, vals)
		}
		rows.Close()
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
