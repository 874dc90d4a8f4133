// Package dbtest gives tests fresh databases on both engines: a SQLite file in a temporary
// directory, or a new database on the MariaDB server named by ATOLL_TEST_MYSQL. It imports only
// db, so the db and jobs tests do not depend on the rest of the management server.
package dbtest

import (
	"database/sql"
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
