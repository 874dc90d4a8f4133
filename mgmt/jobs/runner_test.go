package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/jobs"
	"github.com/google/uuid"
)

func testLog() *slog.Logger {
	if os.Getenv("ATOLL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// server is one runner on its own database handle, as a management server has.
type server struct {
	d      *db.DB
	r      *jobs.Runner
	cancel context.CancelFunc
	done   chan struct{}
}

// startRunner runs a runner named owner on its own handle of url until stop or cleanup.
func startRunner(t *testing.T, url, owner string, lease time.Duration, handlers map[string]jobs.Func, opts ...func(*jobs.Runner)) *server {
	t.Helper()
	d := dbtest.Open(t, url, true)
	r := jobs.NewRunner(d, owner, testLog())
	r.Lease = lease
	for _, o := range opts {
		o(r)
	}
	for cmd, f := range handlers {
		r.Handle(cmd, f)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{d: d, r: r, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(s.done); r.Run(ctx) }()
	t.Cleanup(s.stop) // runs before the handle's Close (cleanups run last-in first-out)
	return s
}

// stop cancels the runner and waits for it to hand its jobs back.
func (s *server) stop() {
	s.cancel()
	<-s.done
}

// enqueue inserts a pending job for object (typ, inst) in its own transaction.
func enqueue(t *testing.T, d *db.DB, cmd, typ, inst string) *db.Job {
	t.Helper()
	j := &db.Job{ID: uuid.NewString(), Cmd: cmd, Params: "{}", UserID: "u", AccountID: "a", DomainID: "d",
		InstanceType: typ, InstanceID: inst, Created: db.Now()}
	if err := d.Transaction(t.Context(), func(tx db.Tx) error { return db.InsertJob(t.Context(), tx, j) }); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	got, err := db.GetJob(t.Context(), d.SQL, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// waitJob polls until the job is no longer pending.
func waitJob(t *testing.T, d *db.DB, id string, max time.Duration) *db.Job {
	t.Helper()
	deadline := time.Now().Add(max)
	for {
		j, err := db.GetJob(t.Context(), d.Read(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != db.JobPending {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s (%s) still pending after %v: owner %q, lease %d, attempts %d", id, j.Cmd, max, j.Owner, j.LeaseUntil, j.Attempts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or max elapses.
func waitFor(t *testing.T, max time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(max)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", max, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder is a handler shared by every runner of a test: it counts executions and checks
// that no two jobs of one object ever run at once.
type recorder struct {
	mu       sync.Mutex
	runs     map[string]int       // job id -> executions
	ranOn    map[string]string    // job id -> owner of the last execution
	started  map[string]time.Time // job id -> start of the last execution
	order    map[string][]int64   // object -> seqs in the order they started
	running  map[string]string    // object -> job running now
	overlaps []string
	cur, max int // jobs running now, at most
	// block, when set, holds a job until its channel is closed (or the job's context ends).
	block map[string]chan struct{}
	work  time.Duration
}

func newRecorder() *recorder {
	return &recorder{runs: map[string]int{}, ranOn: map[string]string{}, started: map[string]time.Time{},
		order: map[string][]int64{}, running: map[string]string{}, block: map[string]chan struct{}{}}
}

func (rec *recorder) handler(owner string) jobs.Func {
	return func(ctx context.Context, j *db.Job) jobs.Outcome {
		obj := j.InstanceType + "/" + j.InstanceID
		rec.mu.Lock()
		rec.runs[j.ID]++
		rec.ranOn[j.ID] = owner
		rec.started[j.ID] = time.Now()
		rec.order[obj] = append(rec.order[obj], j.Seq)
		if other, ok := rec.running[obj]; ok {
			rec.overlaps = append(rec.overlaps, fmt.Sprintf("%s started on %s while %s of the same object was running", j.ID, owner, other))
		}
		rec.running[obj] = j.ID
		rec.cur++
		rec.max = max(rec.max, rec.cur)
		block, work := rec.block[j.ID], rec.work
		rec.mu.Unlock()
		defer func() {
			rec.mu.Lock()
			if rec.running[obj] == j.ID {
				delete(rec.running, obj)
			}
			rec.cur--
			rec.mu.Unlock()
		}()
		if block != nil {
			select {
			case <-block:
			case <-ctx.Done():
				return jobs.Failure(530, "cancelled")
			}
		}
		if work > 0 {
			time.Sleep(work)
		}
		return jobs.Outcome{Status: db.JobSucceeded, Result: fmt.Sprintf(`{"seq":%d,"by":%q}`, j.Seq, owner)}
	}
}

func (rec *recorder) count(id string) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.runs[id]
}

func (rec *recorder) holdJob(id string) chan struct{} {
	c := make(chan struct{})
	rec.mu.Lock()
	rec.block[id] = c
	rec.mu.Unlock()
	return c
}

func (rec *recorder) checkNoOverlap(t *testing.T) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, o := range rec.overlaps {
		t.Error(o)
	}
}

// Two servers, many objects, several jobs per object enqueued while both run: every job runs
// exactly once and succeeds, jobs of one object never overlap and start in insertion order,
// and jobs of different objects run in parallel.
func TestEveryJobRunsOnceInOrder(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		rec := newRecorder()
		rec.work = 3 * time.Millisecond
		// Four workers each, fewer than the objects: neither server can hold all the work.
		four := func(r *jobs.Runner) { r.Workers = 4 }
		a := startRunner(t, url, "server-a", 5*time.Second, map[string]jobs.Func{"work": rec.handler("server-a")}, four)
		b := startRunner(t, url, "server-b", 5*time.Second, map[string]jobs.Func{"work": rec.handler("server-b")}, four)
		const objects, perObject = 12, 10
		var ids []string
		inserted := map[string][]int64{}
		began := time.Now()
		for i := 0; i < perObject; i++ {
			for o := 0; o < objects; o++ {
				d := []*db.DB{a.d, b.d}[(i+o)%2] // enqueued through both servers
				j := enqueue(t, d, "work", "Thing", fmt.Sprintf("obj-%02d", o))
				ids = append(ids, j.ID)
				inserted["Thing/"+j.InstanceID] = append(inserted["Thing/"+j.InstanceID], j.Seq)
			}
			a.r.Wake()
			b.r.Wake()
		}
		perOwner := map[string]int{}
		for _, id := range ids {
			j := waitJob(t, a.d, id, 30*time.Second)
			if j.Status != db.JobSucceeded || j.Attempts != 1 || j.Completed == 0 {
				t.Errorf("job %s: status %d, attempts %d, completed %d", id, j.Status, j.Attempts, j.Completed)
			}
			var res struct{ By string }
			if err := json.Unmarshal([]byte(j.Result), &res); err != nil || res.By != j.Owner {
				t.Errorf("job %s: result %s recorded by owner %q", id, j.Result, j.Owner)
			}
			perOwner[j.Owner]++
		}
		elapsed := time.Since(began)
		rec.checkNoOverlap(t)
		for _, id := range ids {
			if n := rec.count(id); n != 1 {
				t.Errorf("job %s ran %d times", id, n)
			}
		}
		rec.mu.Lock()
		for obj, want := range inserted {
			if got := rec.order[obj]; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: jobs started in order %v, inserted %v", obj, got, want)
			}
		}
		maxParallel := rec.max
		rec.mu.Unlock()
		if maxParallel < 2 {
			t.Errorf("at most %d job ran at a time across %d objects", maxParallel, objects)
		}
		if perOwner["server-a"] == 0 || perOwner["server-b"] == 0 {
			t.Errorf("work not shared between the servers: %v", perOwner)
		}
		t.Logf("%d jobs on %d objects in %v; at most %d at once; per server %v", len(ids), objects, elapsed.Round(time.Millisecond), maxParallel, perOwner)
	})
}

// Jobs of different objects run at the same time: each waits until all of them are running.
func TestDifferentObjectsRunInParallel(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		const n = 6
		var wg sync.WaitGroup
		wg.Add(n)
		all := make(chan struct{})
		go func() { wg.Wait(); close(all) }()
		barrier := func(ctx context.Context, j *db.Job) jobs.Outcome {
			wg.Done()
			select {
			case <-all:
				return jobs.Outcome{Status: db.JobSucceeded, Result: "{}"}
			case <-time.After(10 * time.Second):
				return jobs.Failure(530, "the other jobs never ran alongside this one")
			case <-ctx.Done():
				return jobs.Failure(530, "cancelled")
			}
		}
		a := startRunner(t, url, "server-a", 5*time.Second, map[string]jobs.Func{"barrier": barrier})
		startRunner(t, url, "server-b", 5*time.Second, map[string]jobs.Func{"barrier": barrier})
		var ids []string
		for i := 0; i < n; i++ {
			ids = append(ids, enqueue(t, a.d, "barrier", "Thing", fmt.Sprintf("p%d", i)).ID)
		}
		for _, id := range ids {
			if j := waitJob(t, a.d, id, 15*time.Second); j.Status != db.JobSucceeded {
				t.Fatalf("job %s: %s", id, j.Result)
			}
		}
	})
}

// With MySQL's auto-increment, a job that took its seq first can commit after a later job of
// the same object was inserted. The later job must not start while the earlier one is still
// uncommitted, and the earlier one must not run alongside it once committed: they run one
// after the other, in seq order. (SQLite has one writer, so commit order is seq order there.)
func TestLateCommittedJobWaitsItsTurn(t *testing.T) {
	url := dbtest.NewMySQLDatabase(t)
	rec := newRecorder()
	rec.work = 50 * time.Millisecond
	a := startRunner(t, url, "server-a", 5*time.Second, map[string]jobs.Func{"work": rec.handler("server-a")})
	startRunner(t, url, "server-b", 5*time.Second, map[string]jobs.Func{"work": rec.handler("server-b")})
	ctx := t.Context()
	early := &db.Job{ID: uuid.NewString(), Cmd: "work", Params: "{}", UserID: "u", AccountID: "a", DomainID: "d",
		InstanceType: "Vm", InstanceID: "vm-1", Created: db.Now()}
	tx, err := a.d.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := db.InsertJob(ctx, tx, early); err != nil { // takes its seq now, commits later
		t.Fatal(err)
	}
	late := enqueue(t, a.d, "work", "Vm", "vm-1")
	// Both servers poll every 50 ms: give them several rounds to (wrongly) start the later job.
	time.Sleep(400 * time.Millisecond)
	if n := rec.count(late.ID); n != 0 {
		t.Fatal("the later job started while an earlier job of its object was uncommitted")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{early.ID, late.ID} {
		if j := waitJob(t, a.d, id, 10*time.Second); j.Status != db.JobSucceeded || rec.count(id) != 1 {
			t.Fatalf("job %s: status %d, ran %d times", id, j.Status, rec.count(id))
		}
	}
	rec.checkNoOverlap(t)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := rec.order["Vm/vm-1"]; len(got) != 2 || got[0] > got[1] {
		t.Fatalf("ran in seq order %v; want the earlier-inserted job first", got)
	}
}

// A job inserted by a transaction that stays open does not hold up jobs of other objects,
// nor the renewal of running jobs' leases.
func TestUncommittedJobBlocksOnlyItsObject(t *testing.T) {
	url := dbtest.NewMySQLDatabase(t)
	rec := newRecorder()
	a := startRunner(t, url, "server-a", 600*time.Millisecond, map[string]jobs.Func{"work": rec.handler("server-a")})
	ctx := t.Context()
	long := enqueue(t, a.d, "work", "Vm", "vm-long")
	release := rec.holdJob(long.ID)
	waitFor(t, 10*time.Second, "the long job to start", func() bool { return rec.count(long.ID) == 1 })
	tx, err := a.d.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := db.InsertJob(ctx, tx, &db.Job{ID: uuid.NewString(), Cmd: "work", Params: "{}", UserID: "u", AccountID: "a",
		DomainID: "d", InstanceType: "Vm", InstanceID: "vm-1", Created: db.Now()}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, a.d, "work", "Vm", "vm-1") // its claim waits for the open transaction
	other := enqueue(t, a.d, "work", "Vm", "vm-2")
	waitJob(t, a.d, other.ID, 10*time.Second)
	// Hold the uncommitted job for several leases: the long job's lease keeps being renewed.
	time.Sleep(1500 * time.Millisecond)
	j, err := db.GetJob(ctx, a.d.Read(), long.ID)
	if err != nil || j.Owner != "server-a" || j.LeaseUntil < db.Now() || j.Attempts != 1 {
		t.Fatalf("long job while a claim waits: %+v %v", j, err)
	}
	tx.Rollback()
	close(release)
	waitJob(t, a.d, long.ID, 10*time.Second)
}

// A runner whose context ends hands its unfinished job back at once (owner NULL, lease 0),
// long before its lease would lapse, and the other server runs it to completion.
func TestCancelledRunnerHandsJobsBack(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		rec := newRecorder()
		a := startRunner(t, url, "server-a", 30*time.Second, map[string]jobs.Func{"work": rec.handler("server-a")})
		j := enqueue(t, a.d, "work", "Vm", "vm-1")
		rec.holdJob(j.ID) // never released: only cancellation ends it on server-a
		a.r.Wake()
		waitFor(t, 10*time.Second, "server-a to start the job", func() bool { return rec.count(j.ID) == 1 })
		a.stop()
		got, err := db.GetJob(t.Context(), a.d.Read(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != db.JobPending || got.Owner != "" || got.LeaseUntil != 0 || got.Attempts != 1 {
			t.Fatalf("after server-a stopped: status %d, owner %q, lease %d, attempts %d; want pending, no owner, lease 0",
				got.Status, got.Owner, got.LeaseUntil, got.Attempts)
		}
		rec.mu.Lock()
		delete(rec.block, j.ID)
		rec.mu.Unlock()
		began := time.Now()
		b := startRunner(t, url, "server-b", 30*time.Second, map[string]jobs.Func{"work": rec.handler("server-b")})
		done := waitJob(t, b.d, j.ID, 10*time.Second)
		if done.Status != db.JobSucceeded || done.Owner != "server-b" || done.Attempts != 2 || rec.count(j.ID) != 2 {
			t.Fatalf("after server-b: status %d, owner %q, attempts %d, runs %d", done.Status, done.Owner, done.Attempts, rec.count(j.ID))
		}
		t.Logf("handed back and finished by the other server in %v (lease 30 s)", time.Since(began).Round(time.Millisecond))
	})
}

// A job whose function finished successfully just as its server stopped is recorded, not
// handed back to be run again.
func TestFinishedJobRecordedDuringShutdown(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		started := make(chan struct{})
		runs := 0
		finish := func(ctx context.Context, j *db.Job) jobs.Outcome {
			runs++
			close(started)
			<-ctx.Done() // the work completes regardless, as the server is stopping
			return jobs.Outcome{Status: db.JobSucceeded, Result: `{"success":true}`}
		}
		a := startRunner(t, url, "server-a", 30*time.Second, map[string]jobs.Func{"finish": finish})
		j := enqueue(t, a.d, "finish", "Vm", "vm-1")
		a.r.Wake()
		<-started
		a.stop()
		got, err := db.GetJob(t.Context(), a.d.Read(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != db.JobSucceeded || got.Result != `{"success":true}` || runs != 1 {
			t.Fatalf("job finished during shutdown: status %d, result %q, owner %q, runs %d; want recorded as succeeded",
				got.Status, got.Result, got.Owner, runs)
		}
	})
}

// A server that dies keeps its claim until the lease lapses; then another server takes the
// job over and runs it, and nothing runs it before the lease lapses.
func TestDeadOwnerTakenOverAfterLease(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		rec := newRecorder()
		b := startRunner(t, url, "server-b", 5*time.Second, map[string]jobs.Func{"work": rec.handler("server-b")})
		j := enqueue(t, b.d, "work", "Vm", "vm-1")
		// Claim as a server that then dies at once: it never renews nor releases.
		now := db.Now()
		ok, err := claim(t, b.d, j.ID, "dead-server", now, now+500)
		if err != nil || !ok {
			t.Fatalf("claim as the dead server: %v %v", ok, err)
		}
		done := waitJob(t, b.d, j.ID, 10*time.Second)
		rec.mu.Lock()
		startedAt := rec.started[j.ID]
		rec.mu.Unlock()
		if done.Status != db.JobSucceeded || done.Owner != "server-b" || done.Attempts != 2 || rec.count(j.ID) != 1 {
			t.Fatalf("takeover: status %d, owner %q, attempts %d, runs %d", done.Status, done.Owner, done.Attempts, rec.count(j.ID))
		}
		if startedAt.UnixMilli() < now+500 {
			t.Fatalf("taken over %d ms before the dead server's lease lapsed", now+500-startedAt.UnixMilli())
		}
	})
}

// A real runner that dies (its database connection is gone: no renewal, no hand-back) loses
// its job to the other server once the lease lapses.
func TestDeadRunnerTakenOver(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		rec := newRecorder()
		a := startRunner(t, url, "server-a", 600*time.Millisecond, map[string]jobs.Func{"work": rec.handler("server-a")})
		j := enqueue(t, a.d, "work", "Vm", "vm-1")
		rec.holdJob(j.ID)
		a.r.Wake()
		waitFor(t, 10*time.Second, "server-a to start the job", func() bool { return rec.count(j.ID) == 1 })
		a.d.Close() // server-a is cut off from the database: it can neither renew nor release
		rec.mu.Lock()
		delete(rec.block, j.ID)
		rec.mu.Unlock()
		b := startRunner(t, url, "server-b", 5*time.Second, map[string]jobs.Func{"work": rec.handler("server-b")})
		done := waitJob(t, b.d, j.ID, 10*time.Second)
		if done.Status != db.JobSucceeded || done.Owner != "server-b" || done.Attempts != 2 {
			t.Fatalf("takeover: status %d, owner %q, attempts %d", done.Status, done.Owner, done.Attempts)
		}
	})
}

// A running job's lease is renewed: a job that runs for several leases is not taken over.
func TestLeaseRenewedWhileRunning(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		rec := newRecorder()
		rec.work = 1500 * time.Millisecond
		a := startRunner(t, url, "server-a", 400*time.Millisecond, map[string]jobs.Func{"work": rec.handler("server-a")})
		startRunner(t, url, "server-b", 400*time.Millisecond, map[string]jobs.Func{"work": rec.handler("server-b")})
		j := enqueue(t, a.d, "work", "Vm", "vm-1")
		done := waitJob(t, a.d, j.ID, 10*time.Second)
		if done.Status != db.JobSucceeded || done.Attempts != 1 || rec.count(j.ID) != 1 {
			t.Fatalf("a job running for ~4 leases: status %d, attempts %d, runs %d (taken over despite renewals?)",
				done.Status, done.Attempts, rec.count(j.ID))
		}
		rec.checkNoOverlap(t)
	})
}

func claim(t *testing.T, d *db.DB, id, owner string, now, until int64) (bool, error) {
	return db.ClaimJob(t.Context(), d, id, owner, now, until)
}

// Only the current owner may record a job's outcome; a server whose job was taken over is
// refused and changes nothing.
func TestCompleteJobStaleOwnerRefused(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		d := dbtest.Open(t, url, true)
		ctx := t.Context()
		j := enqueue(t, d, "work", "Vm", "vm-1")
		now := db.Now()
		if ok, err := claim(t, d, j.ID, "old", now, now+1000); err != nil || !ok {
			t.Fatalf("claim by old: %v %v", ok, err)
		}
		if ok, err := claim(t, d, j.ID, "new", now+500, now+10000); err != nil || ok {
			t.Fatalf("claim of a held job: %v %v; want refused", ok, err)
		}
		// The old owner's lease lapses (the clock is a parameter: no waiting).
		if ok, err := claim(t, d, j.ID, "new", now+1001, now+10000); err != nil || !ok {
			t.Fatalf("claim after the lease lapsed: %v %v", ok, err)
		}
		if err := db.RenewLeases(ctx, d.SQL, "old", []string{j.ID}, now+99999); err != nil {
			t.Fatal(err)
		}
		err := db.CompleteJob(ctx, d.SQL, j.ID, "old", db.JobSucceeded, 0, `{"by":"old"}`, db.Now())
		if !errors.Is(err, db.ErrConflict) {
			t.Fatalf("complete by the stale owner: %v, want ErrConflict", err)
		}
		got, _ := db.GetJob(ctx, d.Read(), j.ID)
		if got.Status != db.JobPending || got.Owner != "new" || got.LeaseUntil != now+10000 || got.Attempts != 2 {
			t.Fatalf("after the stale owner's attempts: %+v", got)
		}
		if err := db.CompleteJob(ctx, d.SQL, j.ID, "new", db.JobSucceeded, 0, `{"by":"new"}`, db.Now()); err != nil {
			t.Fatalf("complete by the owner: %v", err)
		}
		if err := db.CompleteJob(ctx, d.SQL, j.ID, "new", db.JobFailed, 530, `{}`, db.Now()); !errors.Is(err, db.ErrConflict) {
			t.Fatalf("second completion: %v, want ErrConflict", err)
		}
		if ok, err := claim(t, d, j.ID, "late", db.Now()+1e9, db.Now()+2e9); err != nil || ok {
			t.Fatalf("claim of a finished job: %v %v", ok, err)
		}
		got, _ = db.GetJob(ctx, d.Read(), j.ID)
		if got.Status != db.JobSucceeded || got.Result != `{"by":"new"}` {
			t.Fatalf("final: %+v", got)
		}
	})
}

// A runner whose job was taken over while it ran (it stalled past its lease) cannot record
// its outcome over the new owner's.
func TestStalledRunnerCannotComplete(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		rec := newRecorder()
		a := startRunner(t, url, "server-a", 5*time.Second, map[string]jobs.Func{"work": rec.handler("server-a")})
		j := enqueue(t, a.d, "work", "Vm", "vm-1")
		release := rec.holdJob(j.ID)
		a.r.Wake()
		waitFor(t, 10*time.Second, "server-a to start the job", func() bool { return rec.count(j.ID) == 1 })
		// Another server took the job over (as if server-a had stalled past its lease).
		if _, err := a.d.SQL.ExecContext(t.Context(), "UPDATE async_jobs SET owner = 'server-b', lease_until = ? WHERE id = ?", db.Now()+60000, j.ID); err != nil {
			t.Fatal(err)
		}
		close(release)
		waitFor(t, 5*time.Second, "server-a's job to return", func() bool {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			return rec.cur == 0
		})
		a.stop()
		got, _ := db.GetJob(t.Context(), a.d.Read(), j.ID)
		if got.Status != db.JobPending || got.Owner != "server-b" {
			t.Fatalf("stalled server recorded its outcome: status %d, owner %q, result %q", got.Status, got.Owner, got.Result)
		}
	})
}

// A panicking job and a job without a handler fail with 530; the runner keeps going.
func TestFailingJobs(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		a := startRunner(t, url, "server-a", 5*time.Second, map[string]jobs.Func{
			"panic": func(ctx context.Context, j *db.Job) jobs.Outcome { panic("boom") },
			"ok": func(ctx context.Context, j *db.Job) jobs.Outcome {
				return jobs.Outcome{Status: db.JobSucceeded, Result: "{}"}
			},
		})
		p := enqueue(t, a.d, "panic", "Vm", "vm-1")
		u := enqueue(t, a.d, "unknownCmd", "Vm", "vm-1")
		o := enqueue(t, a.d, "OK", "Vm", "vm-1") // commands match case-insensitively
		for _, c := range []struct {
			id     string
			status int
			code   int
		}{{p.ID, db.JobFailed, 530}, {u.ID, db.JobFailed, 530}, {o.ID, db.JobSucceeded, 0}} {
			j := waitJob(t, a.d, c.id, 10*time.Second)
			var res map[string]any
			if j.Status != c.status || j.ResultCode != c.code || json.Unmarshal([]byte(j.Result), &res) != nil {
				t.Errorf("%s: status %d code %d result %q", j.Cmd, j.Status, j.ResultCode, j.Result)
			}
		}
		// Wait returns the finished job.
		got, err := a.r.Wait(t.Context(), o.ID, time.Second)
		if err != nil || got.Status != db.JobSucceeded {
			t.Fatalf("Wait: %+v %v", got, err)
		}
	})
}

// A job written claimed by its server (LocalClaim) runs there at once with the hint it was
// handed, without a claim (one attempt); Wait answers it from memory while it runs and once
// it has ended. If that server dies before running it, another takes it over when the lease
// lapses.
func TestLocalJobRunsAtOnceAndLapsesIfNotRun(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		release := make(chan struct{})
		var hint atomic.Value
		a := startRunner(t, url, "server-a", 2*time.Second, map[string]jobs.Func{"work": func(ctx context.Context, j *db.Job) jobs.Outcome {
			hint.Store(fmt.Sprint(jobs.HintOf(ctx)))
			<-release
			return jobs.Outcome{Status: db.JobSucceeded, Result: `{"done":true}`}
		}})
		waitFor(t, 5*time.Second, "runner a running", func() bool { _, _, ok := a.r.LocalClaim(); return ok })
		local := func(d *db.DB, r *jobs.Runner, inst string) *db.Job {
			owner, lease, ok := r.LocalClaim()
			if !ok {
				t.Fatal("LocalClaim refused by a running runner")
			}
			j := &db.Job{ID: uuid.NewString(), Cmd: "work", Params: "{}", UserID: "u", AccountID: "a", DomainID: "d",
				InstanceType: "Vm", InstanceID: inst, Created: db.Now(), Owner: owner, LeaseUntil: lease, Attempts: 1}
			if err := d.Transaction(t.Context(), func(tx db.Tx) error { return db.InsertJob(t.Context(), tx, j) }); err != nil {
				t.Fatal(err)
			}
			return j
		}
		j := local(a.d, a.r, "vm-local")
		a.r.RunLocal(j, "the hint")
		waitFor(t, 5*time.Second, "the local job started", func() bool { return hint.Load() != nil })
		if h := hint.Load().(string); h != "the hint" {
			t.Fatalf("hint %q", h)
		}
		got, err := a.r.Wait(t.Context(), j.ID, 50*time.Millisecond)
		if err != nil || got.Status != db.JobPending {
			t.Fatalf("wait on the running job: %v %v", got, err)
		}
		close(release)
		got, err = a.r.Wait(t.Context(), j.ID, 5*time.Second)
		if err != nil || got.Status != db.JobSucceeded || got.Result != `{"done":true}` || got.Completed == 0 {
			t.Fatalf("wait on the ended job: %+v %v", got, err)
		}
		stored := waitJob(t, a.d, j.ID, 5*time.Second)
		if stored.Status != db.JobSucceeded || stored.Owner != "server-a" || stored.Attempts != 1 || stored.Result != got.Result || stored.Completed != got.Completed {
			t.Fatalf("stored %+v, answered %+v", stored, got)
		}

		// Written claimed by a server that dies before running it: server b takes it over
		// once the lease lapses, and only then.
		rec := newRecorder()
		b := startRunner(t, url, "server-b", 2*time.Second, map[string]jobs.Func{"work": rec.handler("server-b")})
		a.stop()
		dead := &db.Job{ID: uuid.NewString(), Cmd: "work", Params: "{}", UserID: "u", AccountID: "a", DomainID: "d",
			InstanceType: "Vm", InstanceID: "vm-orphan", Created: db.Now(), Owner: "server-a", LeaseUntil: db.Now() + 1000, Attempts: 1}
		if err := b.d.Transaction(t.Context(), func(tx db.Tx) error { return db.InsertJob(t.Context(), tx, dead) }); err != nil {
			t.Fatal(err)
		}
		done := waitJob(t, b.d, dead.ID, 10*time.Second)
		if done.Status != db.JobSucceeded || done.Owner != "server-b" || done.Attempts != 2 || rec.count(dead.ID) != 1 {
			t.Fatalf("takeover of an unrun local job: %+v, runs %d", done, rec.count(dead.ID))
		}
		if done.Completed < dead.LeaseUntil {
			t.Fatalf("taken over before the lease lapsed")
		}
	})
}
