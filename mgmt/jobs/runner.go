package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/atollcloud/atoll/db"
)

// Outcome is what running a job produced.
type Outcome struct {
	Status int    // db.JobSucceeded or db.JobFailed
	Code   int    // jobresultcode: 0 on success, the error code on failure
	Result string // the jobresult JSON object
}

// Func runs one job. It must be safe to run again from the start on another server if this
// one dies part-way (it checks what is already done).
type Func func(ctx context.Context, j *db.Job) Outcome

// Runner claims and runs jobs on one management server.
type Runner struct {
	DB      *db.DB
	Owner   string        // this server's id
	Lease   time.Duration // how long a claim lasts without renewal
	Poll    time.Duration // how often to look for claimable jobs
	Workers int
	Log     *slog.Logger

	mu       sync.Mutex
	handlers map[string]Func
	delays   map[string]time.Duration
	wake     chan struct{}
	waiters  map[string][]chan struct{} // Wait calls per job id, closed when this server completes the job
	busy     int
	running  map[string]*db.Job // jobs this server is running: the only ones whose leases it renews
	idle     bool               // the last claim emptied the queue (only the claim loop uses it)
	// jobCtx and wg are Run's while it runs (nil otherwise): RunLocal starts jobs under them.
	jobCtx context.Context
	wg     *sync.WaitGroup
	// done holds the jobs this server completed in the last doneTTL, as recorded, so that a
	// Wait on one (queryAsyncJobResult right after the job ends) needs no read.
	done      map[string]doneJob
	doneOrder []string
}

// doneJob is a job as CompleteJob recorded it, and when.
type doneJob struct {
	job *db.Job
	at  time.Time
}

// doneTTL is how long a completed job is answered from memory.
const doneTTL = 10 * time.Second

// NewRunner makes a runner with defaults: 30 s lease, 50 ms poll, 16 workers. The
// environment variable ATOLL_FAULT_JOB_DELAY ("cmd=dur,cmd=dur", cmd "*" for all) delays jobs
// on this server before they run: a fault-injection hook for takeover tests.
func NewRunner(d *db.DB, owner string, log *slog.Logger) *Runner {
	r := &Runner{DB: d, Owner: owner, Lease: 30 * time.Second, Poll: 50 * time.Millisecond, Workers: 16,
		Log: log.With("component", "jobs"), handlers: map[string]Func{}, delays: map[string]time.Duration{},
		wake: make(chan struct{}, 1), waiters: map[string][]chan struct{}{}, running: map[string]*db.Job{}, done: map[string]doneJob{}}
	if v := os.Getenv("ATOLL_FAULT_JOB_DELAY"); v != "" {
		for _, kv := range strings.Split(v, ",") {
			k, d, ok := strings.Cut(kv, "=")
			dur, err := time.ParseDuration(d)
			if ok && err == nil {
				r.delays[strings.ToLower(strings.TrimSpace(k))] = dur
			}
		}
	}
	return r
}

// Handle registers the function for a command's jobs.
func (r *Runner) Handle(cmd string, f Func) {
	r.mu.Lock()
	r.handlers[strings.ToLower(cmd)] = f
	r.mu.Unlock()
}

// Wake makes the runner look for work now (after this server enqueued a job).
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx ends; then it releases the jobs it holds so that another
// server takes them at once instead of waiting for the lease.
func (r *Runner) Run(ctx context.Context) {
	poll := time.NewTicker(r.Poll)
	defer poll.Stop()
	var wg sync.WaitGroup
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	// Renewals have their own loop: a claim that waits for a row lock must not delay them.
	renewed := make(chan struct{})
	go func() { defer close(renewed); r.renewals(ctx) }()
	r.mu.Lock()
	r.jobCtx, r.wg = jobCtx, &wg
	r.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			r.jobCtx, r.wg = nil, nil // RunLocal starts nothing from here on
			r.mu.Unlock()
			cancelJobs()
			wg.Wait()
			<-renewed
			r.release()
			return
		case <-poll.C:
		case <-r.wake:
		}
		r.claim(ctx, jobCtx, &wg)
	}
}

// renewals extends the leases of the jobs this server runs every third of the lease.
func (r *Runner) renewals(ctx context.Context) {
	t := time.NewTicker(r.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		ids := make([]string, 0, len(r.running))
		for id := range r.running {
			ids = append(ids, id)
		}
		r.mu.Unlock()
		if err := db.RenewLeases(ctx, r.DB.SQL, r.Owner, ids, db.Now()+r.Lease.Milliseconds()); err != nil && ctx.Err() == nil {
			r.Log.Error("renew job leases", "err", err)
		}
	}
}

func (r *Runner) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.ReleaseJobs(ctx, r.DB.SQL, r.Owner); err != nil {
		r.Log.Warn("release job leases", "err", err)
	}
}

func (r *Runner) claim(ctx, jobCtx context.Context, wg *sync.WaitGroup) {
	for ctx.Err() == nil {
		r.mu.Lock()
		free := r.Workers - r.busy
		r.mu.Unlock()
		if free <= 0 {
			return
		}
		now := db.Now()
		if r.idle {
			// Once the queue is empty most polls and wake-ups find nothing: a plain read says
			// so more cheaply than a claim transaction. Busy, the runner claims straight away.
			found, err := db.AnyClaimable(ctx, r.DB, now)
			if err != nil {
				if ctx.Err() == nil {
					r.Log.Error("find claimable jobs", "err", err)
				}
				return
			}
			if !found {
				return
			}
		}
		claimed, err := db.ClaimJobs(ctx, r.DB, r.Owner, now, now+r.Lease.Milliseconds(), free)
		if err != nil {
			if ctx.Err() == nil {
				r.Log.Error("claim jobs", "err", err)
			}
			return
		}
		// Fewer jobs than free workers: the queue is empty (or its head is blocked) for now.
		r.idle = len(claimed) < free
		if len(claimed) == 0 {
			return
		}
		r.mu.Lock()
		r.busy += len(claimed)
		for _, j := range claimed {
			r.running[j.ID] = j
		}
		r.mu.Unlock()
		for _, j := range claimed {
			wg.Add(1)
			go func(j *db.Job) {
				defer wg.Done()
				r.execute(jobCtx, j)
				r.finished(j, true)
			}(j)
		}
	}
}

// finished forgets a job this server ran and wakes its waiters; with wake, the claim loop
// looks for queued work at once (a claimed job freed a worker it counted on).
func (r *Runner) finished(j *db.Job, wake bool) {
	r.mu.Lock()
	r.busy--
	delete(r.running, j.ID)
	for _, ch := range r.waiters[j.ID] {
		close(ch)
	}
	delete(r.waiters, j.ID)
	r.mu.Unlock()
	if wake {
		r.Wake()
	}
}

// LocalClaim says how a job this server is about to enqueue may be written already claimed
// by it (db.Job Owner, LeaseUntil, Attempts), to be run at once by RunLocal after its
// transaction commits: no claim transaction, no wait for a poll. Only for a job that no
// other job can be ahead of (a new object's first job). ok is false while the runner is not
// running; the job is then enqueued unclaimed.
func (r *Runner) LocalClaim() (owner string, leaseUntil int64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobCtx == nil || r.jobCtx.Err() != nil {
		return "", 0, false
	}
	return r.Owner, db.Now() + r.Lease.Milliseconds(), true
}

// RunLocal runs a job written claimed by this server (LocalClaim) once its transaction has
// committed, with hint (what the enqueuing call already loaded; the job's function reads it
// with HintOf, and must work without it). If the runner has stopped meanwhile, the job is
// left to lapse and be taken over, as if this server had died.
func (r *Runner) RunLocal(j *db.Job, hint any) {
	r.mu.Lock()
	ctx, wg := r.jobCtx, r.wg
	if ctx == nil || ctx.Err() != nil {
		r.mu.Unlock()
		return
	}
	r.busy++
	r.running[j.ID] = j
	wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer wg.Done()
		r.execute(context.WithValue(ctx, hintKey{}, hint), j)
		r.finished(j, false) // queued jobs are found by the next poll
	}()
}

type hintKey struct{}

// HintOf returns the hint RunLocal gave the job running under ctx (nil when claimed from the
// database).
func HintOf(ctx context.Context) any { return ctx.Value(hintKey{}) }

// execute runs a job this server claimed (ClaimJobs returns it whole).
func (r *Runner) execute(ctx context.Context, j *db.Job) {
	key := strings.ToLower(j.Cmd)
	r.mu.Lock()
	f := r.handlers[key]
	delay, ok := r.delays[key]
	if !ok {
		delay = r.delays["*"]
	}
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	var out Outcome
	if f == nil {
		out = Failure(530, fmt.Sprintf("no handler for job command %s on this server", j.Cmd))
	} else {
		out = r.safeRun(ctx, f, j)
	}
	// Shutting down: a job that failed was most likely cut short, so it is handed back and
	// another server runs it; one that succeeded is done and recorded, not run again.
	if ctx.Err() != nil && out.Status != db.JobSucceeded {
		return
	}
	r.complete(j, out)
}

// complete records a job's outcome, retrying briefly through database trouble; if it cannot,
// it hands the job back (and stops renewing it) so that another server runs it again.
func (r *Runner) complete(j *db.Job, out Outcome) {
	ctx, cancel := context.WithTimeout(context.Background(), max(r.Lease/2, time.Second))
	defer cancel()
	for attempt := 0; ; attempt++ {
		now := db.Now()
		err := db.CompleteJob(ctx, r.DB.SQL, j.ID, r.Owner, out.Status, out.Code, out.Result, now)
		if err == nil {
			r.remember(j, out, now)
			return
		}
		if errors.Is(err, db.ErrConflict) {
			r.Log.Warn("job taken over by another server; its outcome here is dropped", "job", j.ID, "cmd", j.Cmd)
			return
		}
		select {
		case <-ctx.Done():
			r.Log.Error("record job outcome; handing the job back", "job", j.ID, "cmd", j.Cmd, "err", err)
			r.handBack(j.ID)
			return
		case <-time.After(time.Duration(50<<min(attempt, 4)) * time.Millisecond):
		}
	}
}

// remember keeps a completed job as recorded for doneTTL (see Wait), and forgets older ones.
func (r *Runner) remember(j *db.Job, out Outcome, now int64) {
	d := *j
	d.Status, d.ResultCode, d.Result, d.Completed, d.ProcStatus = out.Status, out.Code, out.Result, now, 0
	at := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done[j.ID] = doneJob{job: &d, at: at}
	r.doneOrder = append(r.doneOrder, j.ID)
	k := 0
	for k < len(r.doneOrder) && at.Sub(r.done[r.doneOrder[k]].at) > doneTTL {
		delete(r.done, r.doneOrder[k])
		k++
	}
	if k > 0 {
		r.doneOrder = append(r.doneOrder[:0], r.doneOrder[k:]...)
	}
}

func (r *Runner) handBack(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.ReleaseJob(ctx, r.DB.SQL, id, r.Owner); err != nil {
		r.Log.Warn("hand job back (it is taken over when its lease lapses)", "job", id, "err", err)
	}
}

func (r *Runner) safeRun(ctx context.Context, f Func, j *db.Job) (out Outcome) {
	defer func() {
		if p := recover(); p != nil {
			r.Log.Error("job panicked", "job", j.ID, "cmd", j.Cmd, "panic", p, "stack", string(debug.Stack()))
			out = Failure(530, InternalErrorText) // the panic's details are in the log only
		}
	}()
	return f(ctx, j)
}

// InternalErrorText is CloudStack's answer to an unexpected failure (BaseCmd.USER_ERROR_MESSAGE).
const InternalErrorText = "Internal error executing command, please contact your system administrator"

// Failure builds a failed outcome with CloudStack's error object as jobresult.
func Failure(code int, text string) Outcome {
	return Outcome{Status: db.JobFailed, Code: code, Result: fmt.Sprintf(`{"errorcode":%d,"errortext":%q}`, code, text)}
}

// Wait blocks until job id is no longer pending or max elapses, and returns it. A job this
// server runs wakes its waiters when it completes (only them: one job's end does not make
// every waiter read its job again); a job queued or pending elsewhere is read again after
// 25 ms, then less often, up to every 100 ms.
func (r *Runner) Wait(ctx context.Context, id string, max time.Duration) (*db.Job, error) {
	deadline := time.Now().Add(max)
	ch := make(chan struct{})
	r.mu.Lock()
	r.waiters[id] = append(r.waiters[id], ch)
	r.mu.Unlock()
	defer r.unwait(id, ch)
	poll := 25 * time.Millisecond
	for {
		// A job this server runs is pending, as the copy it holds says (nobody else may
		// complete it while this server renews its lease); one it completed lately is as it
		// recorded it. Only other jobs are read.
		r.mu.Lock()
		running, done := r.running[id], r.done[id]
		r.mu.Unlock()
		var j *db.Job
		var err error
		switch {
		case done.job != nil:
			d := *done.job
			return &d, nil
		case running != nil:
			c := *running
			j = &c
		default:
			j, err = db.GetJob(ctx, r.DB.Read(), id)
		}
		if err != nil || j.Status != db.JobPending || time.Now().After(deadline) {
			return j, err
		}
		local := running != nil
		wait := poll
		if local {
			// Completing here closes ch; the poll is only a safety net (the job may be
			// handed back, or recorded by another server after a takeover).
			wait = 250 * time.Millisecond
		} else {
			// Queued, or run by another server: read again after 25 ms, then less often
			// (up to every 100 ms) while it stays pending.
			poll = min(poll*3/2, 100*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return j, nil
		case <-ch:
			ch = nil // closed: read the job once more, then poll
		case <-time.After(min(wait, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// unwait forgets a waiter's channel (if the job's completion did not already).
func (r *Runner) unwait(id string, ch chan struct{}) {
	if ch == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.waiters[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(r.waiters, id)
	} else {
		r.waiters[id] = list
	}
}
