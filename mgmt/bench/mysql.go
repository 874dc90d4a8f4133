package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"

	_ "github.com/go-sql-driver/mysql" // the "mysql" driver for creating databases
)

// MySQLServer is a MariaDB/MySQL server given as a base URL "mysql://user:pass@tcp(host:port)/".
type MySQLServer struct {
	Base string
}

func (m MySQLServer) dsn() string {
	base := strings.TrimPrefix(m.Base, "mysql://")
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[:i+1]
	}
	return base
}

// CreateDatabase makes an empty database with a fresh name and returns its atoll URL.
func (m MySQLServer) CreateDatabase(ctx context.Context, prefix string) (url, name string, err error) {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name = prefix + hex.EncodeToString(b)
	c, err := sql.Open("mysql", m.dsn())
	if err != nil {
		return "", "", fmt.Errorf("bench: mysql: %w", err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", fmt.Errorf("bench: create database: %w", err)
	}
	return "mysql://" + m.dsn() + name, name, nil
}

// DropDatabase removes a database CreateDatabase made.
func (m MySQLServer) DropDatabase(ctx context.Context, name string) error {
	c, err := sql.Open("mysql", m.dsn())
	if err != nil {
		return fmt.Errorf("bench: mysql: %w", err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		return fmt.Errorf("bench: drop database: %w", err)
	}
	return nil
}

// Settings reads the server settings that decide write throughput, for the report.
func (m MySQLServer) Settings(ctx context.Context) (string, error) {
	c, err := sql.Open("mysql", m.dsn())
	if err != nil {
		return "", fmt.Errorf("bench: mysql: %w", err)
	}
	defer c.Close()
	var version string
	var flush, syncBinlog, pool, logBin int64
	err = c.QueryRowContext(ctx, `SELECT @@version, @@innodb_flush_log_at_trx_commit, @@sync_binlog, @@innodb_buffer_pool_size, @@log_bin`).
		Scan(&version, &flush, &syncBinlog, &pool, &logBin)
	if err != nil {
		return "", fmt.Errorf("bench: read mysql settings: %w", err)
	}
	return fmt.Sprintf("MariaDB %s, innodb_flush_log_at_trx_commit=%d, sync_binlog=%d, log_bin=%d, innodb_buffer_pool_size=%dM",
		version, flush, syncBinlog, logBin, pool>>20), nil
}

// GlobalStatus reads counters of SHOW GLOBAL STATUS by name (e.g. Questions, Innodb_deadlocks).
// The names are this package's constants, not input: SHOW takes no placeholders.
func (m MySQLServer) GlobalStatus(ctx context.Context, names ...string) (map[string]int64, error) {
	c, err := sql.Open("mysql", m.dsn())
	if err != nil {
		return nil, fmt.Errorf("bench: mysql: %w", err)
	}
	defer c.Close()
	out := make(map[string]int64, len(names))
	for _, n := range names {
		var name string
		var v int64
		if err := c.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE '"+n+"'").Scan(&name, &v); err != nil {
			return nil, fmt.Errorf("bench: mysql status %s: %w", n, err)
		}
		out[n] = v
	}
	return out, nil
}
