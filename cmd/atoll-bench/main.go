// Command atoll-bench measures Atoll and prints figures (make bench): signed API requests per
// second against a real atoll server process, async jobs per second through the real job
// runner, how many simulated hosts one server holds, and VM deploys and lists. This file only wires flags to mgmt/bench.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/atollcloud/atoll/mgmt/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "atoll-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o bench.Options
	engines := flag.String("engines", "sqlite,mariadb", "comma-separated engines: sqlite, mariadb")
	flag.StringVar(&o.MySQL.Base, "mysql", os.Getenv("ATOLL_BENCH_MYSQL"), "MariaDB server URL mysql://user:pass@tcp(host:port)/ (ATOLL_BENCH_MYSQL); a fresh database is made per run")
	flag.IntVar(&o.MySQLPid, "mysql-pid", 0, "the MariaDB server's pid, to tell its CPU use from other processes'")
	flag.StringVar(&o.Bin, "bin", "bin/atoll", "the atoll binary to run as the API server")
	flag.StringVar(&o.Dir, "dir", "", "scratch directory (default: a new temporary directory)")
	flag.StringVar(&o.Only, "only", "", "run only the api, jobs, hosts, vms, kvm or network benchmark")
	flag.IntVar(&o.Clients, "clients", 16, "concurrent API clients, one keep-alive connection each")
	flag.DurationVar(&o.Warmup, "warmup", 2*time.Second, "API warm-up, not measured")
	flag.DurationVar(&o.Duration, "duration", 10*time.Second, "API measured window")
	flag.IntVar(&o.Domains, "domains", 10, "child domains created under ROOT before the API run")
	flag.BoolVar(&o.InProcess, "inprocess", false, "run the API server inside this process (for -cpuprofile), not as bin")
	flag.IntVar(&o.Jobs, "jobs", 5000, "jobs per job run")
	runners := flag.String("runners", "1,2", "comma-separated runner counts (management servers on one database)")
	flag.IntVar(&o.Workers, "workers", 0, "workers per runner (0: the runner's default)")
	flag.IntVar(&o.Producers, "producers", 8, "concurrent job enqueuers")
	flag.IntVar(&o.Batch, "batch", 1, "jobs per enqueue transaction")
	flag.IntVar(&o.PacedJobs, "paced-jobs", 2000, "jobs of the paced run (one runner per engine; 0: none)")
	flag.Float64Var(&o.PacedRate, "paced-rate", 500, "jobs per second offered in the paced run")
	hostsEngines := flag.String("hosts-engines", "sqlite,mariadb", "comma-separated engines for the host scale benchmark")
	hostSizes := flag.String("hosts", "10000", "comma-separated simulated host counts for the host scale benchmark (max 10000 each; empty: none); the target is 10000")
	flag.DurationVar(&o.HostsPingInterval, "hosts-ping-interval", 60*time.Second, "ping.interval during the host scale benchmark (whole seconds)")
	flag.DurationVar(&o.HostsSteady, "hosts-steady", 65*time.Second, "the measured steady window once every host is Up (longer than -hosts-ping-interval)")
	flag.DurationVar(&o.HostsTimeout, "hosts-timeout", 600*time.Second, "how long to wait for every host to be Up (a bound, not the target: the rate is reported)")
	vmsEngines := flag.String("vms-engines", "sqlite,mariadb", "comma-separated engines for the VM benchmark (empty: none)")
	flag.IntVar(&o.VMClients, "vms-clients", 32, "concurrent deployers in the VM benchmark")
	flag.IntVar(&o.VMAccounts, "vms-accounts", 8, "tenant accounts the deployers share")
	vmMarks := flag.String("vms-marks", "1000,10000", "comma-separated VM counts present when the deploy rate is measured")
	flag.IntVar(&o.VMMeasure, "vms-measure", 1000, "deployments measured at each mark")
	flag.IntVar(&o.VMListAt, "vms-list", 25000, "VMs present for the listVirtualMachines figures (0: none)")
	flag.IntVar(&o.VMPageSize, "vms-pagesize", 500, "page size of the paged listVirtualMachines figure")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of this process to the file")
	flag.BoolVar(&o.KVM, "kvm", os.Geteuid() == 0, "run the KVM benchmark (this machine as a KVM host: needs root; default when root)")
	flag.IntVar(&o.KVMRounds, "kvm-rounds", 3, "single-VM rounds of the KVM benchmark (the median is reported)")
	flag.Parse()

	for _, e := range strings.Split(*engines, ",") {
		if e = strings.TrimSpace(e); e != "" {
			o.Engines = append(o.Engines, e)
		}
	}
	for _, s := range strings.Split(*runners, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -runners %q", *runners)
		}
		o.RunnerSets = append(o.RunnerSets, n)
	}
	for _, e := range strings.Split(*hostsEngines, ",") {
		if e = strings.TrimSpace(e); e != "" {
			o.HostsEngines = append(o.HostsEngines, e)
		}
	}
	for _, s := range strings.Split(*hostSizes, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return fmt.Errorf("bad -hosts %q: counts from 1 to 10000", *hostSizes)
		}
		o.HostSizes = append(o.HostSizes, n)
	}
	for _, e := range strings.Split(*vmsEngines, ",") {
		if e = strings.TrimSpace(e); e != "" {
			o.VMsEngines = append(o.VMsEngines, e)
		}
	}
	for _, s := range strings.Split(*vmMarks, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("bad -vms-marks %q", *vmMarks)
		}
		o.VMMarks = append(o.VMMarks, n)
	}
	if o.VMClients < 1 || o.VMAccounts < 1 || o.VMMeasure < 1 {
		return fmt.Errorf("-vms-clients, -vms-accounts and -vms-measure must be at least 1")
	}
	if o.HostsPingInterval < time.Second || o.HostsPingInterval%time.Second != 0 {
		return fmt.Errorf("bad -hosts-ping-interval %v: whole seconds, at least 1 s", o.HostsPingInterval)
	}
	if o.HostsSteady <= 0 || o.HostsTimeout <= 0 {
		return fmt.Errorf("-hosts-steady and -hosts-timeout must be positive")
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "atoll-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
	}
	o.Out, o.Log = os.Stdout, os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return bench.Run(ctx, o)
}
