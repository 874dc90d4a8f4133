package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
)

func engines(t *testing.T, f func(t *testing.T, url string)) { dbtest.Engines(t, f) }

func open(t *testing.T, url string, migrate bool) *db.DB { return dbtest.Open(t, url, migrate) }

func TestMigrate(t *testing.T) {
	ms, err := db.Migrations()
	if err != nil || len(ms) == 0 {
		t.Fatalf("migrations: %v (%d)", err, len(ms))
	}
	engines(t, func(t *testing.T, url string) {
		d := open(t, url, false)
		n, err := d.Migrate(t.Context())
		if err != nil || n != len(ms) {
			t.Fatalf("first migrate: applied %d, err %v; want %d", n, err, len(ms))
		}
		if v, err := d.SchemaVersion(t.Context()); err != nil || v != ms[len(ms)-1].Version {
			t.Fatalf("schema version %d, %v", v, err)
		}
		n, err = d.Migrate(t.Context())
		if err != nil || n != 0 {
			t.Fatalf("second migrate: applied %d, err %v; want 0", n, err)
		}
		// Every table the migrations create is there and empty.
		for _, table := range []string{"domains", "roles", "accounts", "users", "async_jobs", "mgmt_servers", "sessions", "events"} {
			var c int
			if err := d.Read().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&c); err != nil || c != 0 {
				t.Errorf("table %s: %d rows, %v", table, c, err)
			}
		}
	})
}

// Several servers (separate handles, as separate processes have) migrate one fresh database
// at once: every one succeeds and each migration is applied exactly once.
func TestMigrateConcurrent(t *testing.T) {
	ms, _ := db.Migrations()
	engines(t, func(t *testing.T, url string) {
		const servers = 4
		handles := make([]*db.DB, servers)
		for i := range handles {
			handles[i] = open(t, url, false)
		}
		var wg sync.WaitGroup
		applied := make([]int, servers)
		errs := make([]error, servers)
		start := make(chan struct{})
		for i := range handles {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				applied[i], errs[i] = handles[i].Migrate(t.Context())
			}()
		}
		close(start)
		wg.Wait()
		total := 0
		for i := range handles {
			if errs[i] != nil {
				t.Errorf("server %d: migrate: %v", i, errs[i])
			}
			total += applied[i]
		}
		if total != len(ms) {
			t.Errorf("applied %v migrations in total across servers; want each of %d exactly once", applied, len(ms))
		}
		var rows int
		if err := handles[0].Read().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&rows); err != nil || rows != len(ms) {
			t.Errorf("schema_migrations holds %d rows (%v); want %d", rows, err, len(ms))
		}
	})
}

// createCounter makes a one-row table the contention tests update.
func createCounter(t *testing.T, d *db.DB) {
	t.Helper()
	ctx := t.Context()
	if _, err := d.SQL.ExecContext(ctx, "CREATE TABLE counter (id INTEGER NOT NULL PRIMARY KEY, value BIGINT NOT NULL, version BIGINT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SQL.ExecContext(ctx, "INSERT INTO counter (id, value, version) VALUES (1, 0, 0), (2, 0, 0)"); err != nil {
		t.Fatal(err)
	}
}

// increment reads the counter through r and writes value+1 conditionally on the version it
// read, inside tx; a lost race is db.ErrConflict, which Transaction retries.
func increment(ctx context.Context, tx db.Tx, r db.Querier) error {
	var value, version int64
	if err := r.QueryRowContext(ctx, "SELECT value, version FROM counter WHERE id = 1").Scan(&value, &version); err != nil {
		return fmt.Errorf("read counter: %w", err)
	}
	res, err := tx.ExecContext(ctx, "UPDATE counter SET value = ?, version = version + 1 WHERE id = 1 AND version = ?", value+1, version)
	if err != nil {
		return fmt.Errorf("update counter: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return db.ErrConflict
	}
	return nil
}

// N goroutines on two handles (two servers) increment one row with conditional updates
// through Transaction: no update is lost, on either engine, whether the read happens inside
// the transaction or (as code that reads first and writes later does) outside it.
func TestTransactionNoLostUpdates(t *testing.T) {
	const workers, each = 8, 50
	engines(t, func(t *testing.T, url string) {
		handles := []*db.DB{open(t, url, false), open(t, url, false)}
		createCounter(t, handles[0])
		for _, mode := range []string{"read-in-tx", "stale-read"} {
			t.Run(mode, func(t *testing.T) {
				ctx := t.Context()
				if _, err := handles[0].SQL.ExecContext(ctx, "UPDATE counter SET value = 0 WHERE id = 1"); err != nil {
					t.Fatal(err)
				}
				var calls, conflicts atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, workers*each)
				began := time.Now()
				for w := 0; w < workers; w++ {
					d := handles[w%len(handles)]
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < each; i++ {
							err := d.Transaction(ctx, func(tx db.Tx) error {
								calls.Add(1)
								var r db.Querier = tx
								if mode == "stale-read" {
									r = d.Read()
								}
								err := increment(ctx, tx, r)
								if errors.Is(err, db.ErrConflict) {
									conflicts.Add(1)
								}
								return err
							})
							if err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Errorf("transaction failed: %v", err)
				}
				var value int64
				if err := handles[1].Read().QueryRowContext(ctx, "SELECT value FROM counter WHERE id = 1").Scan(&value); err != nil {
					t.Fatal(err)
				}
				if value != workers*each {
					t.Fatalf("counter = %d after %d increments: %d updates lost", value, workers*each, workers*each-value)
				}
				t.Logf("%d increments in %v: %d function runs, %d conflicts retried", workers*each, time.Since(began).Round(time.Millisecond),
					calls.Load(), conflicts.Load())
			})
		}
	})
}

func TestTransactionRollsBackOnError(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		d := open(t, url, false)
		createCounter(t, d)
		ctx := t.Context()
		boom := errors.New("boom")
		calls := 0
		err := d.Transaction(ctx, func(tx db.Tx) error {
			calls++
			if _, err := tx.ExecContext(ctx, "UPDATE counter SET value = 99 WHERE id = 2"); err != nil {
				return err
			}
			return fmt.Errorf("handler: %w", boom)
		})
		if !errors.Is(err, boom) || calls != 1 {
			t.Fatalf("err %v after %d calls; want boom after 1 (an ordinary error is not retried)", err, calls)
		}
		func() {
			defer func() {
				if p := recover(); p != "kaboom" {
					t.Fatalf("panic not passed on: %v", p)
				}
			}()
			d.Transaction(ctx, func(tx db.Tx) error {
				if _, err := tx.ExecContext(ctx, "UPDATE counter SET value = 98 WHERE id = 2"); err != nil {
					return err
				}
				panic("kaboom")
			})
		}()
		var v int64
		if err := d.Read().QueryRowContext(ctx, "SELECT value FROM counter WHERE id = 2").Scan(&v); err != nil || v != 0 {
			t.Fatalf("value %d (%v) after failed transactions; want 0 (rolled back)", v, err)
		}
		// The handle still works: the rolled-back transactions released the connection.
		if err := d.Transaction(ctx, func(tx db.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE counter SET value = 7 WHERE id = 2")
			return err
		}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTransactionRetriesConflicts(t *testing.T) {
	d := open(t, "sqlite://"+filepath.Join(t.TempDir(), "a.db"), false)
	ctx := t.Context()
	calls := 0
	err := d.Transaction(ctx, func(tx db.Tx) error {
		calls++
		if calls < 4 {
			return fmt.Errorf("update thing: %w", db.ErrConflict)
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("err %v after %d calls; want success on the 4th", err, calls)
	}
	// An endless conflict gives up once the retry budget is spent, with the last error.
	defer func(b time.Duration) { db.RetryBudget = b }(db.RetryBudget)
	db.RetryBudget = 300 * time.Millisecond
	calls = 0
	began := time.Now()
	err = d.Transaction(ctx, func(tx db.Tx) error { calls++; return db.ErrConflict })
	if !errors.Is(err, db.ErrConflict) || calls < 5 || time.Since(began) > 2*time.Second {
		t.Fatalf("endless conflict: err %v after %d calls in %v; want ErrConflict after the budget", err, calls, time.Since(began))
	}
	// A cancelled context stops the retries.
	cctx, cancel := context.WithCancel(ctx)
	calls = 0
	err = d.Transaction(cctx, func(tx db.Tx) error { calls++; cancel(); return db.ErrConflict })
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("cancelled: err %v after %d calls", err, calls)
	}
}

func TestRetryableClassification(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"conflict", db.ErrConflict, true},
		{"wrapped conflict", fmt.Errorf("db: update domain: %w", db.ErrConflict), true},
		{"mysql deadlock 1213", &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}, true},
		{"mysql lock wait timeout 1205", fmt.Errorf("db: x: %w", &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}), true},
		{"mysql duplicate 1062", &mysql.MySQLError{Number: 1062, Message: "Duplicate entry"}, false},
		{"mysql syntax 1064", &mysql.MySQLError{Number: 1064, Message: "You have an error in your SQL syntax"}, false},
		{"no rows", sql.ErrNoRows, false},
		{"plain", errors.New("something else"), false},
		{"context", context.Canceled, false},
	} {
		if got := db.Retryable(c.err); got != c.want {
			t.Errorf("%s: Retryable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// A real SQLITE_BUSY (a second connection that does not wait for the writer) is retryable.
func TestRetryableSQLiteBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	d := open(t, "sqlite://"+path, false)
	createCounter(t, d)
	ctx := t.Context()
	tx, err := d.SQL.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.ExecContext(ctx, "UPDATE counter SET value = 1 WHERE id = 1")
	if err == nil {
		t.Fatal("write while another connection holds the write lock succeeded")
	}
	if !db.Retryable(err) || !db.Retryable(fmt.Errorf("db: x: %w", err)) {
		t.Fatalf("SQLite busy error %q (%T) is not retryable", err, err)
	}
	if db.IsDuplicate(err) {
		t.Fatalf("busy error %q taken for a duplicate", err)
	}
}

// Real MariaDB deadlock (1213) and lock wait timeout (1205) errors are retryable.
func TestRetryableMariaDB(t *testing.T) {
	d := open(t, dbtest.NewMySQLDatabase(t), false)
	createCounter(t, d)
	ctx := t.Context()
	t.Run("deadlock", func(t *testing.T) {
		tx1, err := d.SQL.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx1.Rollback()
		tx2, err := d.SQL.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx2.Rollback()
		mustExec(t, tx1, "UPDATE counter SET value = value + 1 WHERE id = 1")
		mustExec(t, tx2, "UPDATE counter SET value = value + 1 WHERE id = 2")
		errs := make(chan error, 2)
		go func() {
			_, err := tx1.ExecContext(ctx, "UPDATE counter SET value = value + 1 WHERE id = 2")
			if err != nil {
				tx1.Rollback() // lets tx2 go on
			}
			errs <- err
		}()
		waitLockWait(t, d)
		_, err = tx2.ExecContext(ctx, "UPDATE counter SET value = value + 1 WHERE id = 1")
		if err != nil {
			tx2.Rollback()
		}
		errs <- err
		e1, e2 := <-errs, <-errs
		var victim error
		switch {
		case e1 != nil && e2 == nil:
			victim = e1
		case e2 != nil && e1 == nil:
			victim = e2
		default:
			t.Fatalf("want exactly one deadlock victim, got %v and %v", e1, e2)
		}
		var me *mysql.MySQLError
		if !errors.As(victim, &me) || me.Number != 1213 || !db.Retryable(fmt.Errorf("db: x: %w", victim)) {
			t.Fatalf("deadlock error %v is not a retryable 1213", victim)
		}
	})
	t.Run("lock wait timeout", func(t *testing.T) {
		tx1, err := d.SQL.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx1.Rollback()
		mustExec(t, tx1, "UPDATE counter SET value = value + 1 WHERE id = 1")
		conn, err := d.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 1"); err != nil {
			t.Fatal(err)
		}
		_, err = conn.ExecContext(ctx, "UPDATE counter SET value = value + 1 WHERE id = 1")
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1205 || !db.Retryable(err) {
			t.Fatalf("lock wait error %v is not a retryable 1205", err)
		}
		conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = DEFAULT")
	})
}

func mustExec(t *testing.T, q db.Querier, s string, args ...any) {
	t.Helper()
	if _, err := q.ExecContext(t.Context(), s, args...); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
}

// waitLockWait polls until some transaction waits for a row lock.
func waitLockWait(t *testing.T, d *db.DB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		if err := d.SQL.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no transaction started waiting for a lock")
}

// Names are unique among live rows only: a live duplicate (in any case) is refused with an
// error IsDuplicate recognises, and a removed name can be used again.
func TestLiveKeyUniqueness(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		d := open(t, url, true)
		ctx := t.Context()
		root := &db.Domain{ID: uuid.NewString(), Name: "ROOT", Path: "ROOT", State: "Active", Created: db.Now()}
		if err := db.InsertDomain(ctx, d.SQL, root); err != nil {
			t.Fatal(err)
		}
		newDomain := func(name string) *db.Domain {
			return &db.Domain{ID: uuid.NewString(), ParentID: root.ID, Name: name, Path: "ROOT/" + name, Level: 1, State: "Active", Created: db.Now()}
		}
		eng := newDomain("eng")
		if err := db.InsertDomain(ctx, d.SQL, eng); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"eng", "ENG"} {
			err := db.InsertDomain(ctx, d.SQL, newDomain(name))
			if err == nil || !db.IsDuplicate(err) {
				t.Fatalf("live duplicate domain %q: err %v, IsDuplicate false", name, err)
			}
			if db.Retryable(err) {
				t.Fatalf("duplicate %v classed retryable", err)
			}
		}
		// The same name under another parent is fine.
		other := &db.Domain{ID: uuid.NewString(), ParentID: eng.ID, Name: "eng", Path: "ROOT/eng/eng", Level: 2, State: "Active", Created: db.Now()}
		if err := db.InsertDomain(ctx, d.SQL, other); err != nil {
			t.Fatalf("same name under another parent: %v", err)
		}

		acct := func(name string) *db.Account {
			return &db.Account{ID: uuid.NewString(), Name: name, Type: db.AccountUser, DomainID: eng.ID, RoleID: "r", State: "enabled", Created: db.Now()}
		}
		a1 := acct("alice")
		if err := db.InsertAccount(ctx, d.SQL, a1); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertAccount(ctx, d.SQL, acct("Alice")); !db.IsDuplicate(err) {
			t.Fatalf("live duplicate account: %v", err)
		}
		// Renaming onto a live name is a duplicate too.
		a2 := acct("bob")
		if err := db.InsertAccount(ctx, d.SQL, a2); err != nil {
			t.Fatal(err)
		}
		a2.Name = "ALICE"
		if err := db.UpdateAccount(ctx, d.SQL, a2); !db.IsDuplicate(err) {
			t.Fatalf("rename onto a live account name: %v", err)
		}
		if err := db.RemoveAccount(ctx, d.SQL, a1.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.RemoveAccount(ctx, d.SQL, a1.ID); !errors.Is(err, db.ErrConflict) {
			t.Fatalf("removing a removed account: %v, want ErrConflict", err)
		}
		a3 := acct("alice")
		if err := db.InsertAccount(ctx, d.SQL, a3); err != nil {
			t.Fatalf("reuse a removed account name: %v", err)
		}
		if got, err := db.GetAccountByName(ctx, d.Read(), eng.ID, "ALICE"); err != nil || got.ID != a3.ID {
			t.Fatalf("account by name after reuse: %v %v", got, err)
		}

		// Remove and reuse a domain name twice: several removed rows share it.
		for i := 0; i < 2; i++ {
			if err := db.RemoveDomain(ctx, d.SQL, eng.ID); err != nil {
				t.Fatal(err)
			}
			eng = newDomain("Eng")
			if err := db.InsertDomain(ctx, d.SQL, eng); err != nil {
				t.Fatalf("reuse removed domain name (round %d): %v", i, err)
			}
		}
		if got, err := db.GetDomainByPath(ctx, d.Read(), "root/eng"); err != nil || got.ID != eng.ID {
			t.Fatalf("domain by path after reuse: %v %v", got, err)
		}
		list, total, err := db.ListDomains(ctx, d.Read(), db.DomainFilter{ParentID: root.ID})
		if err != nil || total != 1 || list[0].ID != eng.ID {
			t.Fatalf("live children of ROOT: %d %v", total, err)
		}
	})
}

// Version-conditional updates refuse a stale version with ErrConflict on both engines (with
// clientFoundRows, MariaDB counts matched rows, so an update that changes nothing still counts).
func TestConditionalUpdate(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		d := open(t, url, true)
		ctx := t.Context()
		dom := &db.Domain{ID: uuid.NewString(), Name: "ROOT", Path: "ROOT", State: "Active", Created: db.Now()}
		if err := db.InsertDomain(ctx, d.SQL, dom); err != nil {
			t.Fatal(err)
		}
		stale := *dom
		if err := db.UpdateDomain(ctx, d.SQL, dom); err != nil { // no change at all: still one matched row
			t.Fatalf("unchanged update: %v", err)
		}
		if err := db.UpdateDomain(ctx, d.SQL, &stale); !errors.Is(err, db.ErrConflict) {
			t.Fatalf("stale version: %v, want ErrConflict", err)
		}
		got, err := db.GetDomain(ctx, d.Read(), dom.ID)
		if err != nil || got.Version != 1 {
			t.Fatalf("version after one update: %v %v", got, err)
		}
	})
}
