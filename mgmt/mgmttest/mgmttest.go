// Package mgmttest starts real management servers for tests: on a temporary SQLite file, or
// on a fresh database of the MariaDB server named by ATOLL_TEST_MYSQL (make test starts one).
package mgmttest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/iam"
	_ "github.com/go-sql-driver/mysql"
)

func init() { iam.PasswordIterations = 1000 } // tests hash many passwords; production keeps the slow default

// MySQLBase returns ATOLL_TEST_MYSQL; see dbtest.MySQLBase (skips, or fails under CI=true).
func MySQLBase(t testing.TB) string { return dbtest.MySQLBase(t) }

// NewMySQLDatabase creates an empty database on the test MariaDB server; see dbtest.
func NewMySQLDatabase(t testing.TB) string { return dbtest.NewMySQLDatabase(t) }

// Env is a running management server with an admin API client.
type Env struct {
	Server *mgmt.Server
	URL    string // the API endpoint
	Admin  *api.Client
	DBURL  string
	Key    string // key file
}

// Options tune Start.
type Options struct {
	MySQL   bool   // run on MariaDB instead of SQLite
	DBURL   string // share an existing database (second server)
	KeyFile string
	Lease   time.Duration
}

// Start runs a management server for the test and stops it at cleanup.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	dir := t.TempDir()
	if o.DBURL == "" {
		if o.MySQL {
			o.DBURL = NewMySQLDatabase(t)
		} else {
			o.DBURL = "sqlite://" + filepath.Join(dir, "atoll.db")
		}
	}
	if o.KeyFile == "" {
		o.KeyFile = filepath.Join(dir, "secrets.key")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("ATOLL_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx := context.Background()
	s, err := mgmt.Start(ctx, mgmt.Options{DBURL: o.DBURL, Listen: "127.0.0.1:0", KeyFile: o.KeyFile, Name: t.Name(), JobLease: o.Lease, Log: log})
	if err != nil {
		t.Fatalf("start management server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	e := &Env{Server: s, URL: "http://" + s.Addr() + "/client/api", DBURL: o.DBURL, Key: o.KeyFile}
	key, secret, err := mgmt.AdminKeys(ctx, s, filepath.Join(dir, "admin.env"))
	if err != nil {
		t.Fatalf("admin keys: %v", err)
	}
	e.Admin = &api.Client{Endpoint: e.URL, Key: key, Secret: secret}
	return e
}

// Do runs a command as c and fails the test on error.
func Do(t testing.TB, c *api.Client, cmd string, params map[string]string) map[string]any {
	t.Helper()
	res, err := c.Do(context.Background(), cmd, params)
	if err != nil {
		t.Fatalf("%s %v: %v", cmd, params, err)
	}
	return res
}

// DoAsync runs an async command, waits for its job and returns the jobresult; a failed job fails the test.
func DoAsync(t testing.TB, c *api.Client, cmd string, params map[string]string) map[string]any {
	t.Helper()
	res := Do(t, c, cmd, params)
	jobID, ok := res["jobid"].(string)
	if !ok {
		t.Fatalf("%s answered no jobid: %v", cmd, res)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := c.Wait(ctx, jobID)
	if err != nil {
		t.Fatalf("wait for %s job: %v", cmd, err)
	}
	if j["jobstatus"].(float64) != 1 {
		t.Fatalf("%s job failed: %v", cmd, j["jobresult"])
	}
	return j["jobresult"].(map[string]any)
}

// Fail runs a command that must fail with the given HTTP/error code and returns the error text.
func Fail(t testing.TB, c *api.Client, cmd string, params map[string]string, code int) string {
	t.Helper()
	_, err := c.Do(context.Background(), cmd, params)
	ce, ok := err.(*api.ClientError)
	if !ok {
		t.Fatalf("%s %v: want error %d, got %v", cmd, params, code, err)
	}
	if ce.Status != code || fmt.Sprint(ce.Body["errorcode"]) != fmt.Sprint(code) {
		t.Fatalf("%s %v: want error %d, got HTTP %d %v", cmd, params, code, ce.Status, ce.Body)
	}
	return fmt.Sprint(ce.Body["errortext"])
}
