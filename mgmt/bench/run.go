package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Targets the figures are judged against (the 2-core machine, load generator included).
const (
	TargetRequestsPerSecond = 3000
	TargetP99               = 20 * time.Millisecond
	TargetJobsPerSecond     = 1000 // on MariaDB
)

// Options configure a whole benchmark run.
type Options struct {
	Bin     string   // atoll binary for the API servers
	Dir     string   // scratch directory
	Engines []string // SQLite and/or MariaDB
	MySQL   MySQLServer
	// MySQLPid is the MariaDB server's pid (0: unknown), to tell its CPU from other processes'.
	MySQLPid int
	Only     string // "api", "jobs", "hosts", "vms", "kvm" or "" for all
	// KVM runs the KVM benchmark too (root: it starts libvirtd and nfs-ganesha); KVMRounds is
	// its number of single-VM rounds.
	KVM       bool
	KVMRounds int

	Clients   int
	Warmup    time.Duration
	Duration  time.Duration
	Domains   int
	InProcess bool

	Jobs       int
	RunnerSets []int // runner counts to try, e.g. 1 and 2
	Workers    int
	Producers  int
	Batch      int
	// PacedJobs jobs are also enqueued at PacedRate per second on one runner per engine, to
	// show latency below saturation (0: no paced run).
	PacedJobs int
	PacedRate float64

	// The host scale benchmark: one run per engine and size (0 sizes: none).
	HostsEngines      []string
	HostSizes         []int
	HostsPingInterval time.Duration
	HostsSteady       time.Duration
	HostsTimeout      time.Duration

	// The VM benchmark: one run per engine of VMsEngines (none when empty).
	VMsEngines []string
	VMClients  int
	VMAccounts int
	VMMarks    []int
	VMMeasure  int
	VMListAt   int
	VMPageSize int

	Out io.Writer // the report
	Log io.Writer // progress
}

// Run runs the selected benchmarks and prints the report.
func Run(ctx context.Context, o Options) error {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Only != "" && o.Only != "api" && o.Only != "jobs" && o.Only != "hosts" && o.Only != "vms" && o.Only != "kvm" && o.Only != "network" {
		return fmt.Errorf("bench: -only %q: want api, jobs, hosts, vms, kvm or network", o.Only)
	}
	if o.Only == "network" || o.Only == "" && o.KVM {
		fmt.Fprintln(o.Log, "== guest networking data plane benchmark")
		r, err := RunNetwork(ctx, o.Log)
		if err != nil {
			return fmt.Errorf("network benchmark: %w", err)
		}
		o.reportNetwork(r)
		if o.Only == "network" {
			return nil
		}
	}
	if o.Only == "kvm" || o.Only == "" && o.KVM {
		fmt.Fprintln(o.Log, "== KVM benchmark")
		r, err := RunKVM(ctx, KVMOptions{Bin: o.Bin, Dir: o.Dir, Rounds: o.KVMRounds, Log: o.Log})
		if err != nil {
			return fmt.Errorf("kvm benchmark: %w", err)
		}
		o.reportKVM(r)
		if o.Only == "kvm" {
			return nil
		}
	}
	if len(o.Engines) == 0 {
		return fmt.Errorf("bench: no engine")
	}
	for _, e := range append(append(append([]string(nil), o.Engines...), o.HostsEngines...), o.VMsEngines...) {
		if e != SQLite && e != MariaDB {
			return fmt.Errorf("bench: unknown engine %q: want %s or %s", e, SQLite, MariaDB)
		}
		if e == MariaDB && o.MySQL.Base == "" {
			return fmt.Errorf("bench: the %s engine needs a server URL (-mysql or ATOLL_BENCH_MYSQL)", MariaDB)
		}
	}
	var apis []*APIResult
	var jobRuns []*JobsResult
	var hostRuns []*HostsResult
	var vmRuns []*VMsResult
	var mysqlSettings string
	for _, e := range append(append(append([]string(nil), o.Engines...), o.HostsEngines...), o.VMsEngines...) {
		if e == MariaDB {
			s, err := o.MySQL.Settings(ctx)
			if err != nil {
				return err
			}
			mysqlSettings = s
		}
	}
	if o.Only == "" || o.Only == "api" {
		fmt.Fprintln(o.Log, "== API benchmark")
		for _, e := range o.Engines {
			r, err := RunAPI(ctx, APIOptions{Engine: e, MySQL: o.MySQL, Bin: o.Bin, Dir: o.Dir, InProcess: o.InProcess, Domains: o.Domains, MySQLPid: o.MySQLPid,
				Load: LoadOptions{Clients: o.Clients, Warmup: o.Warmup, Duration: o.Duration}, Log: o.Log})
			if err != nil {
				return fmt.Errorf("api benchmark on %s: %w", e, err)
			}
			apis = append(apis, r)
		}
	}
	if o.Only == "" || o.Only == "jobs" {
		fmt.Fprintln(o.Log, "== job benchmark")
		for _, e := range o.Engines {
			for _, n := range o.RunnerSets {
				r, err := RunJobs(ctx, JobsOptions{Engine: e, MySQL: o.MySQL, Dir: o.Dir, Jobs: o.Jobs, Runners: n, Workers: o.Workers,
					Producers: o.Producers, Batch: o.Batch, MySQLPid: o.MySQLPid, Log: o.Log})
				if err != nil {
					return fmt.Errorf("job benchmark on %s with %d runner(s): %w", e, n, err)
				}
				jobRuns = append(jobRuns, r)
			}
			if o.PacedJobs > 0 && o.PacedRate > 0 {
				r, err := RunJobs(ctx, JobsOptions{Engine: e, MySQL: o.MySQL, Dir: o.Dir, Jobs: o.PacedJobs, Runners: 1, Workers: o.Workers,
					Producers: o.Producers, Batch: o.Batch, Rate: o.PacedRate, MySQLPid: o.MySQLPid, Log: o.Log})
				if err != nil {
					return fmt.Errorf("paced job benchmark on %s: %w", e, err)
				}
				jobRuns = append(jobRuns, r)
			}
		}
	}
	if (o.Only == "" || o.Only == "hosts") && len(o.HostSizes) > 0 {
		fmt.Fprintln(o.Log, "== host scale benchmark")
		for _, e := range o.HostsEngines {
			for _, n := range o.HostSizes {
				r, err := RunHosts(ctx, HostsOptions{Engine: e, MySQL: o.MySQL, MySQLPid: o.MySQLPid, Bin: o.Bin, Dir: o.Dir, Hosts: n,
					PingInterval: o.HostsPingInterval, Steady: o.HostsSteady, RegisterTimeout: o.HostsTimeout, Log: o.Log})
				if err != nil {
					return fmt.Errorf("host scale benchmark on %s with %d hosts: %w", e, n, err)
				}
				hostRuns = append(hostRuns, r)
			}
		}
	}
	if o.Only == "" || o.Only == "vms" {
		fmt.Fprintln(o.Log, "== VM benchmark")
		for _, e := range o.VMsEngines {
			r, err := RunVMs(ctx, VMsOptions{Engine: e, MySQL: o.MySQL, MySQLPid: o.MySQLPid, Bin: o.Bin, Dir: o.Dir, Clients: o.VMClients, Accounts: o.VMAccounts,
				Marks: o.VMMarks, Measure: o.VMMeasure, ListAt: o.VMListAt, PageSize: o.VMPageSize, InProcess: o.InProcess, Log: o.Log})
			if err != nil {
				return fmt.Errorf("VM benchmark on %s: %w", e, err)
			}
			vmRuns = append(vmRuns, r)
		}
	}
	o.report(apis, jobRuns, mysqlSettings)
	o.reportHosts(hostRuns)
	o.reportVMs(vmRuns)
	return nil
}

func (o Options) report(apis []*APIResult, jobRuns []*JobsResult, mysqlSettings string) {
	w := o.Out
	fmt.Fprintf(w, "\nAtoll benchmark, %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "machine: %d CPU(s) (%s), %s %s/%s; server, database and load generator share it\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintln(w, "SQLite : modernc.org/sqlite, WAL, synchronous=NORMAL, busy_timeout=10s, one writer connection + 8 readers (db.Open)")
	if mysqlSettings != "" {
		fmt.Fprintf(w, "MariaDB: %s (scripts/mariadb.sh), READ COMMITTED, 64 connections per server\n", mysqlSettings)
	}
	if len(apis) > 0 {
		a := apis[0]
		fmt.Fprintf(w, "\n1. Signed API requests: listDomains listall=true (%d domains in each answer)\n", a.Domains)
		fmt.Fprintf(w, "   %d concurrent clients, one keep-alive connection each, closed loop; every request freshly signed\n", o.Clients)
		fmt.Fprintf(w, "   (HMAC-SHA1, signatureVersion=3 + expires) with the admin's key and verified by the server.\n")
		fmt.Fprintf(w, "   %s warm-up, then %s measured; latency = request sent to last byte read; an answer counts as\n", o.Warmup, o.Duration)
		fmt.Fprintf(w, "   an error unless HTTP 200 with the expected count. Target: >= %d req/s with p99 <= %s.\n\n", TargetRequestsPerSecond, ms(TargetP99)+" ms")
		fmt.Fprintf(w, "   %-8s %-11s %9s %7s %7s %8s %8s %8s %8s  %-15s %10s  %s\n", "engine", "server", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "cpu ours/others", "cpu ms/req", "target")
		for _, r := range apis {
			l := r.Load
			verdict := "met"
			if l.PerSecond() < TargetRequestsPerSecond || l.Latency.P99 > TargetP99 || l.Errors > 0 {
				verdict = "SHORT"
			}
			fmt.Fprintf(w, "   %-8s %-11s %9d %7d %7.0f %8s %8s %8s %8s  %-15s %10s  %s\n", r.Engine, r.Server, l.Requests, l.Errors, l.PerSecond(),
				ms(l.Latency.P50), ms(l.Latency.P90), ms(l.Latency.P99), ms(l.Latency.Max), l.CPU, l.CPU.per(l.Window, l.Requests), verdict)
		}
		fmt.Fprintln(w)
		for _, r := range apis {
			fmt.Fprintf(w, "   %s: admin key pair from %s\n", r.Engine, r.KeysVia)
		}
		for _, r := range apis {
			if r.Load.FirstError != "" {
				fmt.Fprintf(w, "   first error on %s: %s\n", r.Engine, r.Load.FirstError)
			}
		}
	}
	if len(apis)+len(jobRuns) > 0 {
		fmt.Fprintf(w, "\ncpu ours/others: percent of one core over the measured time (%d%% = every core busy), used by\n", 100*runtime.NumCPU())
		fmt.Fprintf(w, "the benchmark's own processes (load generator, server, database) and by everything else on the\n")
		fmt.Fprintf(w, "machine; a large 'others' figure means the run was disturbed and its figures are low. cpu ms/req\n")
		fmt.Fprintf(w, "and cpu ms/job: the benchmark's own CPU time per request or job, the figure least moved by others.\n")
	}
	if len(jobRuns) > 0 {
		j := jobRuns[0]
		fmt.Fprintf(w, "\n2. No-op async jobs through mgmt/jobs.Runner on the real database\n")
		fmt.Fprintf(w, "   Jobs enqueued with db.InsertJob in committed transactions (%d job(s) each) by %d concurrent producers,\n", j.Batch, j.Producers)
		fmt.Fprintf(w, "   each waking its server's runner as an API handler does; every runner has its own connection pool (a\n")
		fmt.Fprintf(w, "   management server of its own) and %d workers; a no-op handler. jobs/s = jobs / (first enqueue to\n", j.Workers)
		fmt.Fprintf(w, "   last completion); latency = each job's created to completed time (ms resolution). 'flood': all jobs\n")
		fmt.Fprintf(w, "   offered at once, so latency includes the queue; 'N/s': offered at that pace, latency below\n")
		fmt.Fprintf(w, "   saturation. Target: >= %d jobs/s on MariaDB (flood).\n\n", TargetJobsPerSecond)
		fmt.Fprintf(w, "   %-8s %7s %7s %6s %6s %9s %7s %8s %8s %8s %8s  %-15s %10s  %s\n", "engine", "runners", "offered", "jobs", "failed",
			"enqueue/s", "jobs/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "cpu ours/others", "cpu ms/job", "target")
		for _, r := range jobRuns {
			verdict := "-"
			offered := "flood"
			if r.Rate > 0 {
				offered = fmt.Sprintf("%.0f/s", r.Rate)
			} else if r.Engine == MariaDB {
				verdict = "met"
				if r.PerSecond() < TargetJobsPerSecond || r.Failed > 0 {
					verdict = "SHORT"
				}
			}
			fmt.Fprintf(w, "   %-8s %7d %7s %6d %6d %9.0f %7.0f %8s %8s %8s %8s  %-15s %10s  %s\n", r.Engine, r.Runners, offered, r.Jobs, r.Failed,
				float64(r.Jobs)/r.Enqueue.Seconds(), r.PerSecond(), ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max),
				r.CPU, r.CPU.per(r.CPUWindow, r.Jobs), verdict)
		}
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
