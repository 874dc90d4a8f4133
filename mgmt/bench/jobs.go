package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/jobs"
	"github.com/google/uuid"
)

// NoopCommand is the job command the benchmark registers; its handler does nothing.
const NoopCommand = "benchNoop"

// JobsOptions configure the job benchmark on one engine.
type JobsOptions struct {
	Engine    string
	MySQL     MySQLServer
	Dir       string
	Jobs      int // how many jobs
	Runners   int // runners ("management servers"), each with its own database handle
	Workers   int // each runner's workers (0: the runner's default)
	Producers int // concurrent enqueuers, like concurrent API requests
	Batch     int // jobs per enqueue transaction
	// Rate paces the enqueues at this many jobs per second; 0 enqueues as fast as the
	// producers can (a flood, which measures throughput; latency then includes the queue).
	Rate     float64
	Timeout  time.Duration
	MySQLPid int // the MariaDB server's pid, for CPU figures (0: unknown)
	Log      io.Writer
}

// JobsResult is one run's figures.
type JobsResult struct {
	Engine           string
	Runners, Workers int
	Producers, Batch int
	Rate             float64 // offered jobs per second, 0 for a flood
	Jobs, Failed     int
	Enqueue          time.Duration // first enqueue to last commit
	Elapsed          time.Duration // first enqueue to last completion
	Latency          Summary       // enqueue to completion, per job
	CPU              CPU           // over the run
	CPUWindow        time.Duration // what CPU covers
}

// PerSecond is completed jobs per second, end to end.
func (r JobsResult) PerSecond() float64 { return float64(r.Jobs) / r.Elapsed.Seconds() }

// RunJobs enqueues o.Jobs no-op jobs through db.InsertJob in committed transactions, as API
// handlers do, and lets o.Runners real job runners on the same database claim, run and
// complete them. Throughput and latency come from the jobs' own created and completed times.
func RunJobs(ctx context.Context, o JobsOptions) (*JobsResult, error) {
	if o.Runners < 1 || o.Producers < 1 || o.Batch < 1 || o.Jobs < 1 {
		return nil, fmt.Errorf("bench: jobs, runners, producers and batch must be positive")
	}
	dir, err := os.MkdirTemp(o.Dir, "jobs-"+o.Engine+"-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	var url string
	switch o.Engine {
	case SQLite:
		url = "sqlite://" + filepath.Join(dir, "atoll.db")
	case MariaDB:
		var name string
		if url, name, err = o.MySQL.CreateDatabase(ctx, "atoll_bench_jobs_"); err != nil {
			return nil, err
		}
		defer o.MySQL.DropDatabase(context.Background(), name)
	default:
		return nil, fmt.Errorf("bench: unknown engine %q", o.Engine)
	}
	// One database handle per runner: each stands for a management server of its own.
	dbs := make([]*db.DB, o.Runners)
	for i := range dbs {
		if dbs[i], err = db.Open(ctx, url); err != nil {
			return nil, err
		}
		defer dbs[i].Close()
	}
	if _, err := dbs[0].Migrate(ctx); err != nil {
		return nil, err
	}
	if _, err := iam.Bootstrap(ctx, dbs[0], "password"); err != nil {
		return nil, err
	}
	root, err := db.GetDomainByPath(ctx, dbs[0].Read(), "ROOT")
	if err != nil {
		return nil, err
	}
	admin, err := db.GetUserByName(ctx, dbs[0].Read(), root.ID, "admin")
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	runners := make([]*jobs.Runner, o.Runners)
	runCtx, stopRunners := context.WithCancel(ctx)
	var running sync.WaitGroup
	defer func() { stopRunners(); running.Wait() }()
	var ran atomic.Int64 // handler calls: the database is asked only once every job has run
	noop := func(context.Context, *db.Job) jobs.Outcome {
		ran.Add(1)
		return jobs.Outcome{Status: db.JobSucceeded, Result: "{}"}
	}
	for i := range runners {
		r := jobs.NewRunner(dbs[i], uuid.NewString(), log)
		if o.Workers > 0 {
			r.Workers = o.Workers
		}
		r.Handle(NoopCommand, noop)
		runners[i] = r
		running.Add(1)
		go func() { defer running.Done(); r.Run(runCtx) }()
	}
	res := &JobsResult{Engine: o.Engine, Runners: o.Runners, Workers: runners[0].Workers, Producers: o.Producers, Batch: o.Batch, Rate: o.Rate, Jobs: o.Jobs}
	offered := "as fast as they can"
	if o.Rate > 0 {
		offered = fmt.Sprintf("paced at %.0f jobs/s", o.Rate)
	}
	fmt.Fprintf(o.Log, "   %s: %d jobs, %d runner(s) x %d workers, %d producers x %d job(s)/transaction, %s ...\n",
		o.Engine, o.Jobs, o.Runners, res.Workers, o.Producers, o.Batch, offered)

	pids := []int{os.Getpid()}
	if o.Engine == MariaDB && o.MySQLPid != 0 {
		pids = append(pids, o.MySQLPid)
	}
	cpuFrom := markCPU(pids)
	start := time.Now()
	var next atomic.Int64
	var enqueueErr error
	var errOnce sync.Once
	var producers sync.WaitGroup
	for p := 0; p < o.Producers; p++ {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for ctx.Err() == nil {
				first := int(next.Add(int64(o.Batch))) - o.Batch
				if first >= o.Jobs {
					return
				}
				n := min(o.Batch, o.Jobs-first)
				if o.Rate > 0 && !sleepUntil(ctx, start.Add(time.Duration(float64(first)/o.Rate*float64(time.Second)))) {
					return
				}
				srv := first / o.Batch % o.Runners // spread enqueues over the servers
				d := dbs[srv]
				created := db.Now()
				err := d.Transaction(ctx, func(tx db.Tx) error {
					for k := 0; k < n; k++ {
						id := uuid.NewString()
						j := &db.Job{ID: id, Cmd: NoopCommand, Params: `{"command":"benchNoop","response":"json"}`,
							UserID: admin.ID, AccountID: admin.AccountID, DomainID: admin.DomainID,
							InstanceType: "None", InstanceID: id, Created: created}
						if err := db.InsertJob(ctx, tx, j); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errOnce.Do(func() { enqueueErr = err })
					return
				}
				runners[srv].Wake()
			}
		}()
	}
	producers.Wait()
	res.Enqueue = time.Since(start)
	if enqueueErr != nil {
		return nil, fmt.Errorf("bench: enqueue: %w", enqueueErr)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	for {
		// Polling the database while jobs run would add load the job system does not have: wait
		// until every job has run, then for their completions to be recorded. Every job is
		// enqueued by now, so none pending means all completed.
		pending := o.Jobs - int(ran.Load())
		if pending <= 0 {
			if err := dbs[0].Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM async_jobs WHERE status = 0").Scan(&pending); err != nil {
				return nil, fmt.Errorf("bench: count pending jobs: %w", err)
			}
		}
		if pending == 0 {
			res.CPU = cpuBetween(cpuFrom, markCPU(pids), runtime.NumCPU())
			res.CPUWindow = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bench: %d of %d jobs still pending after %s", pending, o.Jobs, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	rows, err := dbs[0].Read().QueryContext(ctx, "SELECT created, completed, status FROM async_jobs")
	if err != nil {
		return nil, fmt.Errorf("bench: read jobs: %w", err)
	}
	defer rows.Close()
	lat := make([]time.Duration, 0, o.Jobs)
	var last int64
	for rows.Next() {
		var created, completed int64
		var status int
		if err := rows.Scan(&created, &completed, &status); err != nil {
			return nil, fmt.Errorf("bench: read jobs: %w", err)
		}
		if status != db.JobSucceeded {
			res.Failed++
		}
		last = max(last, completed)
		lat = append(lat, time.Duration(completed-created)*time.Millisecond)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("bench: read jobs: %w", err)
	}
	if len(lat) != o.Jobs {
		return nil, fmt.Errorf("bench: found %d jobs, enqueued %d", len(lat), o.Jobs)
	}
	res.Elapsed = time.UnixMilli(last).Sub(start)
	res.Latency = Summarize(lat)
	return res, nil
}
