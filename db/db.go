package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names the SQL engine behind a DB.
type Dialect string

const (
	SQLite Dialect = "sqlite"
	MySQL  Dialect = "mysql"
)

// DB is a handle on Atoll's database.
type DB struct {
	SQL     *sql.DB
	Dialect Dialect
	// reads is a separate pool for SQLite so that readers never queue behind the one writer.
	reads *sql.DB
	// config caches settings for hot paths (CachedConfigValues).
	config configCache
	// osTypes caches guest OS types by id (CachedOSType).
	osTypes sync.Map
}

// Querier is what both *sql.DB and *sql.Tx offer; table functions take one.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open opens a database from a URL: "sqlite:///path/file.db" (or a plain path ending in
// .db) or "mysql://user:pass@tcp(host:port)/name".
func Open(ctx context.Context, url string) (*DB, error) {
	switch {
	case strings.HasPrefix(url, "mysql://"):
		return openMySQL(ctx, strings.TrimPrefix(url, "mysql://"))
	case strings.HasPrefix(url, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"))
	case strings.HasSuffix(url, ".db"):
		return openSQLite(ctx, url)
	}
	return nil, fmt.Errorf("db: unsupported database url %q (want mysql://... or sqlite://...)", url)
}

func openMySQL(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("db: parse mysql dsn: %w", err)
	}
	cfg.ParseTime = false
	cfg.MultiStatements = true
	cfg.ClientFoundRows = true // affected rows = matched rows, as on SQLite
	// Send each query with its arguments in one round trip (the driver escapes them for the
	// connection's utf8mb4 charset) instead of prepare, execute and close: three round trips.
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// READ COMMITTED keeps gap locks (and so deadlocks) rare; our writes are conditional.
	cfg.Params["tx_isolation"] = "'READ-COMMITTED'" // MariaDB 10.x name
	cfg.Params["sql_mode"] = "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("db: mysql connector: %w", err)
	}
	s := sql.OpenDB(connector)
	s.SetMaxOpenConns(64)
	s.SetMaxIdleConns(64)
	s.SetConnMaxLifetime(5 * time.Minute)
	d := &DB{SQL: s, Dialect: MySQL, reads: s}
	if err := pingRetry(ctx, s); err != nil {
		s.Close()
		return nil, err
	}
	return d, nil
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("db: empty sqlite path")
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("db: create sqlite directory: %w", err)
		}
	}
	base := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)"
	// One writer connection: SQLite has one writer anyway, and queueing in Go is cheaper and
	// fairer than spinning on SQLITE_BUSY. IMMEDIATE transactions take the write lock up front.
	w, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	// Readers map the file (256 MiB at most) instead of copying pages through read calls:
	// long lists read many pages.
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(ON)&_pragma=mmap_size(268435456)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("db: open sqlite reader: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	d := &DB{SQL: w, Dialect: SQLite, reads: r}
	if err := pingRetry(ctx, w); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func pingRetry(ctx context.Context, s *sql.DB) error {
	var err error
	for i := 0; i < 30; i++ {
		if err = s.PingContext(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("db: ping: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("db: ping: %w", err)
}

// Close closes every pool.
func (d *DB) Close() error {
	err := d.SQL.Close()
	if d.reads != nil && d.reads != d.SQL {
		if e := d.reads.Close(); err == nil {
			err = e
		}
	}
	return err
}

// Read returns the pool for read-only queries outside a transaction.
func (d *DB) Read() Querier { return d.reads }

// ErrConflict is returned by a conditional update that matched no row because another
// writer changed it first; Transaction retries the whole function when it sees it.
var ErrConflict = errors.New("db: concurrent update conflict")

// RetryBudget bounds how long Transaction keeps running a conflicted function again. A time
// budget rather than a count: under heavy contention on one row (dozens of writers, as many as
// a server has connections) an unlucky writer may lose many rounds in a row, and giving up
// after a fixed small count turned that contention into client errors.
var RetryBudget = 15 * time.Second

// Transaction runs fn in one transaction and commits it. A deadlock, a Galera certification
// failure, a busy SQLite file or ErrConflict rolls back and runs fn again, with jittered
// backoff, until it succeeds, fails otherwise, ctx ends or RetryBudget is spent. fn must
// therefore have no effect outside the transaction.
func (d *DB) Transaction(ctx context.Context, fn func(tx Tx) error) error {
	start := time.Now()
	for i := 1; ; i++ {
		err := d.once(ctx, fn)
		if err == nil || !Retryable(err) {
			return err
		}
		if time.Since(start) > RetryBudget {
			return fmt.Errorf("db: transaction gave up after %d attempts in %v: %w", i, time.Since(start).Round(time.Millisecond), err)
		}
		// 1, 2, 4 ... 32 ms, each spread over [b/2, 3b/2) so that contenders fall out of step.
		b := time.Duration(1<<min(i-1, 5)) * time.Millisecond
		backoff := b/2 + time.Duration(rand.Int64N(int64(b)))
		select {
		case <-ctx.Done():
			return fmt.Errorf("db: transaction: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
	}
}

func (d *DB) once(ctx context.Context, fn func(tx Tx) error) (err error) {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// Retryable reports whether err is a transient conflict worth running the transaction again for.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrConflict) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1213, // ER_LOCK_DEADLOCK, also Galera certification failures
			1205, // ER_LOCK_WAIT_TIMEOUT
			1047, // WSREP has not yet prepared node for application use
			1180: // commit failed (Galera)
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked") ||
		strings.Contains(msg, "(5)") && strings.Contains(msg, "sqlite") ||
		strings.Contains(msg, "Deadlock found")
}

// IsDatabaseError reports whether err came from the database: a driver's error (its text may
// carry SQL, table or column names), database/sql's, or this package's own ("db: ...").
// Callers log such an error and answer with words of their own.
func IsDatabaseError(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	var se *sqlite.Error
	if errors.As(err, &me) || errors.As(err, &se) {
		return true
	}
	for _, e := range []error{sql.ErrNoRows, sql.ErrTxDone, sql.ErrConnDone, driver.ErrBadConn, ErrNotFound, ErrConflict} {
		if errors.Is(err, e) {
			return true
		}
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "db: ") || strings.HasPrefix(msg, "sql: ") || strings.Contains(msg, ": db: ")
}

// IsDuplicate reports whether err is a unique-key violation.
func IsDuplicate(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// DuplicateKey names the unique key a duplicate-key error of MySQL is about ("" for any other
// error, and on SQLite).
func DuplicateKey(err error) string {
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1062 {
		return ""
	}
	// "Duplicate entry '...' for key 'name'" (MySQL 8 writes 'table.name').
	i := strings.LastIndex(me.Message, "for key '")
	if i < 0 {
		return ""
	}
	k := strings.TrimSuffix(me.Message[i+len("for key '"):], "'")
	if j := strings.LastIndex(k, "."); j >= 0 {
		k = k[j+1:]
	}
	return k
}

// Now is the database clock convention: Unix milliseconds, UTC.
func Now() int64 { return time.Now().UnixMilli() }

// Tx is the transaction handle Transaction passes to its function.
type Tx = *sql.Tx
