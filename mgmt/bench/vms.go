package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
)

// Targets of the VM benchmark (issue 4), on MariaDB.
const (
	TargetDeploysPerSecond = 300
	TargetDeployP99        = 2 * time.Second
	TargetListAll          = time.Second
	TargetListPage         = 50 * time.Millisecond
)

// VMsOptions configure the VM benchmark on one engine.
type VMsOptions struct {
	Engine   string
	MySQL    MySQLServer
	MySQLPid int
	Bin, Dir string
	Clients  int   // concurrent deployers, each deploying and waiting for its job, closed loop
	Accounts int   // tenant accounts the deployers share (each its own isolated network)
	Marks    []int // VM counts present when a deploy rate is measured (e.g. 1000, 10000)
	Measure  int   // deploys measured at each mark
	ListAt   int   // VMs present for the listVirtualMachines figures (e.g. 25000)
	PageSize int   // page size of the paged list figure
	// InProcess runs the management server inside this process (for -cpuprofile), not as Bin.
	InProcess bool
	Log       io.Writer
}

// DeployRun is one measured batch of deployments.
type DeployRun struct {
	Present    int // VMs present before the batch
	Deploys    int // deployments that reached Running
	Failed     int
	Window     time.Duration
	Latency    Summary // deployVirtualMachine sent to its job's success read (VM Running)
	CPU        CPU
	FirstError string
	// On MariaDB, over the batch: statements the server sent (Questions, its background work
	// included) and deadlocks InnoDB detected (each rolled back and run again by its
	// transaction); -1 when not read.
	Statements, Deadlocks int64
}

// PerSecond is deployments reaching Running per second of the batch.
func (r DeployRun) PerSecond() float64 { return float64(r.Deploys) / r.Window.Seconds() }

// VMsResult is one engine's VM figures.
type VMsResult struct {
	Engine   string
	Server   string
	Clients  int
	Accounts int
	Runs     []DeployRun
	Filled   int           // VMs deployed outside the measured batches
	FillTime time.Duration // time they took
	// FillDeadlocks is the deadlocks InnoDB detected while they were deployed (-1: not read).
	FillDeadlocks int64
	Listed        int     // VMs present for the list figures
	ListAll       Summary // listVirtualMachines listall=true, no paging
	ListPage      Summary // every page of pagesize PageSize
	PageSize      int
}

// benchZone is the zone the VM benchmark deploys into: 16 large Simulator hosts in 2
// clusters, so that capacity never limits 25,000 small VMs.
var benchZone = mgmt.DemoOptions{Zone: "bench", Clusters: 2, HostsPerCluster: 8,
	HostQuery: "cpunumber=1024&cpuspeed=4000&memory=4194304", PoolBytes: 1 << 50, VNIs: "10000-19999", GuestCIDR: "10.0.0.0/8"}

// RunVMs starts a management server on the engine, builds a Simulator zone, and measures
// deployments end to end (API call to Running) at each mark, then listVirtualMachines at ListAt.
func RunVMs(ctx context.Context, o VMsOptions) (*VMsResult, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	var ar APIResult
	t, pid, stop, err := APIOptions{Engine: o.Engine, MySQL: o.MySQL, Bin: o.Bin, Dir: o.Dir, MySQLPid: o.MySQLPid,
		InProcess: o.InProcess, ServerLog: ""}.start(ctx, &ar)
	if err != nil {
		return nil, err
	}
	defer stop()
	if o.Accounts <= 0 {
		o.Accounts = 1
	}
	res := &VMsResult{Engine: o.Engine, Server: ar.Server, Clients: o.Clients, Accounts: o.Accounts, PageSize: o.PageSize, FillDeadlocks: -1}
	c := t.client()
	fmt.Fprintf(o.Log, "   %s: building the bench zone ...\n", o.Engine)
	if err := mgmt.DemoWith(ctx, c, benchZone); err != nil {
		return nil, err
	}
	d, err := prepareDeploy(ctx, t, o.Accounts)
	if err != nil {
		return nil, err
	}
	if o.Engine == MariaDB {
		d.mysql = &o.MySQL
	}
	pids := []int{}
	if pid != 0 {
		pids = append(pids, pid)
	}
	if o.Engine == MariaDB && o.MySQLPid != 0 {
		pids = append(pids, o.MySQLPid)
	}
	present := 0
	fill := func(to int) error {
		if to <= present {
			return nil
		}
		fmt.Fprintf(o.Log, "   %s: deploying %d VMs (to %d) ...\n", o.Engine, to-present, to)
		start := time.Now()
		r := d.batch(ctx, present, to-present, o.Clients, nil)
		res.FillTime += time.Since(start)
		res.Filled += r.Deploys
		present += r.Deploys
		if r.Deadlocks >= 0 {
			res.FillDeadlocks = max(res.FillDeadlocks, 0) + r.Deadlocks
		}
		if r.Failed > 0 {
			return fmt.Errorf("bench: %d of %d deployments failed while filling; first: %s", r.Failed, r.Failed+r.Deploys, r.FirstError)
		}
		return nil
	}
	for _, mark := range o.Marks {
		if err := fill(mark); err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Log, "   %s: measuring %d deployments with %d present ...\n", o.Engine, o.Measure, present)
		r := d.batch(ctx, present, o.Measure, o.Clients, pids)
		present += r.Deploys
		res.Runs = append(res.Runs, r)
	}
	if o.ListAt > 0 {
		if err := fill(o.ListAt); err != nil {
			return nil, err
		}
		res.Listed = present
		fmt.Fprintf(o.Log, "   %s: listing %d VMs ...\n", o.Engine, present)
		if res.ListAll, err = timeList(ctx, c, 5, present, func(int) map[string]string {
			return map[string]string{"listall": "true"}
		}); err != nil {
			return nil, err
		}
		pages := (present + o.PageSize - 1) / o.PageSize
		if res.ListPage, err = timeList(ctx, c, pages, o.PageSize, func(i int) map[string]string {
			return map[string]string{"listall": "true", "page": fmt.Sprint(i + 1), "pagesize": fmt.Sprint(o.PageSize)}
		}); err != nil {
			return nil, err
		}
	}
	return res, ctx.Err()
}

// deployer holds what every deployVirtualMachine call names, and the tenants who deploy.
type deployer struct {
	zoneID, offeringID, templateID string
	tenants                        []benchTenant
	mysql                          *MySQLServer // the engine's server, for its counters (nil on SQLite)
}

// benchTenant is one account deploying, with its own keys and isolated network.
type benchTenant struct {
	c         *api.Client
	networkID string
}

// prepareDeploy lifts the per-account limits (the benchmark's accounts are many tenants' worth),
// creates the offering, the tenant accounts with keys and one isolated /16 network each, and
// finds the zone's ready built-in template.
func prepareDeploy(ctx context.Context, t Target, accounts int) (*deployer, error) {
	admin := t.client()
	do := func(c *api.Client, cmd string, p map[string]string) (map[string]any, error) {
		r, err := c.DoWait(ctx, cmd, p)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", cmd, err)
		}
		return r, nil
	}
	for _, name := range []string{"max.account.user.vms", "max.account.cpus", "max.account.memory", "max.account.volumes",
		"max.account.primary.storage", "max.account.public.ips", "max.account.networks"} {
		if _, err := do(admin, "updateConfiguration", map[string]string{"name": name, "value": "-1"}); err != nil {
			return nil, err
		}
	}
	d := &deployer{}
	z, err := do(admin, "listZones", map[string]string{"name": benchZone.Zone})
	if err != nil {
		return nil, err
	}
	d.zoneID = objID(z, "zone")
	so, err := do(admin, "createServiceOffering", map[string]string{"name": "bench-tiny", "displaytext": "bench-tiny",
		"cpunumber": "1", "cpuspeed": "100", "memory": "64"})
	if err != nil {
		return nil, err
	}
	d.offeringID = objID(so, "serviceoffering")
	deadline := time.Now().Add(2 * time.Minute)
	for d.templateID == "" {
		r, err := do(admin, "listTemplates", map[string]string{"templatefilter": "featured", "zoneid": d.zoneID})
		if err != nil {
			return nil, err
		}
		list, _ := r["template"].([]any)
		for _, x := range list {
			if m, _ := x.(map[string]any); m != nil && m["isready"] == true {
				d.templateID, _ = m["id"].(string)
				break
			}
		}
		if d.templateID == "" {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("bench: no ready featured template in the bench zone after 2 minutes")
			}
			if err := sleep(ctx, 500*time.Millisecond); err != nil {
				return nil, err
			}
		}
	}
	no, err := do(admin, "listNetworkOfferings", map[string]string{"name": "DefaultIsolatedNetworkOfferingWithSourceNatService"})
	if err != nil {
		return nil, err
	}
	for k := 0; k < accounts; k++ {
		name := fmt.Sprintf("bench-%02d", k)
		a, err := do(admin, "createAccount", map[string]string{"account": name, "username": name, "password": "bench-password",
			"firstname": "Bench", "lastname": name, "email": name + "@bench.example", "accounttype": "0"})
		if err != nil {
			return nil, err
		}
		users, _ := api.First(a, "account")["user"].([]any)
		if len(users) == 0 {
			return nil, fmt.Errorf("bench: createAccount answered no user")
		}
		u, _ := users[0].(map[string]any)
		uid, _ := u["id"].(string)
		keys, err := do(admin, "registerUserKeys", map[string]string{"id": uid})
		if err != nil {
			return nil, err
		}
		kk := api.First(keys, "userkeys")
		key, _ := kk["apikey"].(string)
		secret, _ := kk["secretkey"].(string)
		tc := &api.Client{Endpoint: t.Endpoint, Key: key, Secret: secret}
		n, err := do(tc, "createNetwork", map[string]string{"name": name + "-net", "displaytext": name + "-net", "zoneid": d.zoneID,
			"networkofferingid": objID(no, "networkoffering"), "gateway": fmt.Sprintf("10.%d.0.1", 16+k), "netmask": "255.255.0.0"})
		if err != nil {
			return nil, err
		}
		d.tenants = append(d.tenants, benchTenant{c: tc, networkID: objID(n, "network")})
	}
	return d, nil
}

// batch deploys n VMs named from index first with the given concurrency and, when pids is not
// nil, measures the batch (CPU of pids and this process).
func (d *deployer) batch(ctx context.Context, first, n, clients int, pids []int) DeployRun {
	var (
		next    atomic.Int64
		mu      sync.Mutex
		samples []time.Duration
		r       DeployRun
	)
	r.Present = first
	var mark cpuMark
	if pids != nil {
		mark = markCPU(pids)
	}
	r.Statements, r.Deadlocks = -1, -1
	var before map[string]int64
	if d.mysql != nil {
		before, _ = d.mysql.GlobalStatus(ctx, "Questions", "Innodb_deadlocks")
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		tn := d.tenants[w%len(d.tenants)]
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				err := d.deploy(ctx, tn, fmt.Sprintf("bench-%05d", first+i))
				lat := time.Since(t0)
				mu.Lock()
				if err != nil {
					r.Failed++
					if r.FirstError == "" {
						r.FirstError = err.Error()
					}
				} else {
					r.Deploys++
					samples = append(samples, lat)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.Window = time.Since(start)
	if before != nil {
		if after, err := d.mysql.GlobalStatus(ctx, "Questions", "Innodb_deadlocks"); err == nil {
			// Less this process's own two status reads.
			r.Statements, r.Deadlocks = after["Questions"]-before["Questions"]-2, after["Innodb_deadlocks"]-before["Innodb_deadlocks"]
		}
	}
	if pids != nil {
		r.CPU = cpuBetween(mark, markCPU(pids), runtime.NumCPU())
	}
	r.Latency = Summarize(samples)
	return r
}

// deploy deploys one VM and waits until its job reports it Running.
func (d *deployer) deploy(ctx context.Context, tn benchTenant, name string) error {
	res, err := tn.c.DoWait(ctx, "deployVirtualMachine", map[string]string{"zoneid": d.zoneID, "serviceofferingid": d.offeringID,
		"templateid": d.templateID, "networkids": tn.networkID, "name": name})
	if err != nil {
		return fmt.Errorf("deploy %s: %w", name, err)
	}
	vm, _ := res["virtualmachine"].(map[string]any)
	if vm["state"] != "Running" {
		return fmt.Errorf("deploy %s: state %v, want Running", name, vm["state"])
	}
	return nil
}

// timeList calls listVirtualMachines n times (params(i) for call i) and checks each answer
// holds want VMs (a short last page excepted). A sample is the request sent to the answer's
// last byte read: the server's work and the transfer. Decoding the answer (tens of MB of JSON
// into maps for 25,000 VMs, the client's own work) and counting its VMs follow outside it.
func timeList(ctx context.Context, c *api.Client, n, want int, params func(int) map[string]string) (Summary, error) {
	samples := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		body, lat, err := rawCall(ctx, c, "listVirtualMachines", params(i))
		if err != nil {
			return Summary{}, fmt.Errorf("bench: listVirtualMachines: %w", err)
		}
		var outer map[string]map[string]any
		if err := json.Unmarshal(body, &outer); err != nil {
			return Summary{}, fmt.Errorf("bench: listVirtualMachines: not JSON: %.200s", body)
		}
		got, _ := outer["listvirtualmachinesresponse"]["virtualmachine"].([]any)
		if len(got) != want && i != n-1 {
			return Summary{}, fmt.Errorf("bench: listVirtualMachines answered %d VMs, want %d", len(got), want)
		}
		samples = append(samples, lat)
	}
	return Summarize(samples), nil
}

// rawCall sends one command (api.Client.Raw) and returns the answer's bytes and the time from
// sending the request to reading its last byte; an answer other than 200 is an error.
func rawCall(ctx context.Context, c *api.Client, command string, params map[string]string) ([]byte, time.Duration, error) {
	t0 := time.Now()
	status, body, err := c.Raw(ctx, command, params)
	lat := time.Since(t0)
	if err != nil {
		return nil, 0, err
	}
	if status != http.StatusOK {
		return nil, 0, fmt.Errorf("HTTP %d: %.300s", status, body)
	}
	return body, lat, nil
}

// reportVMs prints the VM figures.
func (o Options) reportVMs(runs []*VMsResult) {
	if len(runs) == 0 {
		return
	}
	w := o.Out
	fmt.Fprintf(w, "\n4. VM deployments end to end on the Simulator (issue 4)\n")
	fmt.Fprintf(w, "   Zone %q: %d clusters x %d Simulator hosts (%s); %d tenant accounts with\n",
		benchZone.Zone, benchZone.Clusters, benchZone.HostsPerCluster, strings.ReplaceAll(benchZone.HostQuery, "&", " "), runs[0].Accounts)
	fmt.Fprintf(w, "   their own keys and isolated network; offering 1 CPU, 100 MHz, 64 MiB; the zone's built-in template.\n")
	fmt.Fprintf(w, "   %d clients (spread over the accounts), closed loop: each signs deployVirtualMachine, then\n", runs[0].Clients)
	fmt.Fprintf(w, "   waits on queryAsyncJobResult until its job reports the VM Running (planner, capacity ledger, NIC,\n")
	fmt.Fprintf(w, "   volumes, the agent's StartVM over the protocol). latency = API call sent to success read.\n")
	fmt.Fprintf(w, "   Target on MariaDB: >= %d deploys/s with p99 <= %s.\n\n", TargetDeploysPerSecond, TargetDeployP99)
	fmt.Fprintf(w, "   %-8s %8s %8s %6s %9s %8s %8s %8s %8s  %-15s  %s\n", "engine", "present", "deploys", "failed", "deploys/s",
		"p50 ms", "p90 ms", "p99 ms", "max ms", "cpu ours/others", "target")
	for _, r := range runs {
		for _, d := range r.Runs {
			verdict := "-"
			if r.Engine == MariaDB {
				verdict = "met"
				if d.PerSecond() < TargetDeploysPerSecond || d.Latency.P99 > TargetDeployP99 || d.Failed > 0 {
					verdict = "SHORT"
				}
			}
			fmt.Fprintf(w, "   %-8s %8d %8d %6d %9.0f %8s %8s %8s %8s  %-15s  %s\n", r.Engine, d.Present, d.Deploys, d.Failed, d.PerSecond(),
				ms(d.Latency.P50), ms(d.Latency.P90), ms(d.Latency.P99), ms(d.Latency.Max), d.CPU, verdict)
			if d.FirstError != "" {
				fmt.Fprintf(w, "            first error: %s\n", d.FirstError)
			}
		}
	}
	for _, r := range runs {
		for _, d := range r.Runs {
			if d.Statements >= 0 && d.Deploys > 0 {
				fmt.Fprintf(w, "   %s at %d: %.1f statements per deploy (the server's, background work included); %d deadlocks (each run again)\n",
					r.Engine, d.Present, float64(d.Statements)/float64(d.Deploys), d.Deadlocks)
			}
		}
	}
	fmt.Fprintf(w, "\n   listVirtualMachines listall=true by the admin (5 calls all at once; every page of %d once).\n", runs[0].PageSize)
	fmt.Fprintf(w, "   latency = request sent to the answer's last byte read (server and transfer); decoding the JSON\n")
	fmt.Fprintf(w, "   (the client's work) and counting the VMs follow outside that window.\n")
	fmt.Fprintf(w, "   Targets: all at once <= %s, paged <= %s.\n\n", TargetListAll, TargetListPage)
	fmt.Fprintf(w, "   %-8s %7s %-9s %6s %8s %8s %8s  %s\n", "engine", "VMs", "how", "calls", "p50 ms", "p99 ms", "max ms", "target")
	for _, r := range runs {
		if r.Listed == 0 {
			continue
		}
		for _, l := range []struct {
			how    string
			s      Summary
			target time.Duration
		}{{"all", r.ListAll, TargetListAll}, {fmt.Sprintf("pages/%d", r.PageSize), r.ListPage, TargetListPage}} {
			verdict := "met"
			if l.s.Max > l.target {
				verdict = "SHORT"
			}
			fmt.Fprintf(w, "   %-8s %7d %-9s %6d %8s %8s %8s  %s\n", r.Engine, r.Listed, l.how, l.s.N, ms(l.s.P50), ms(l.s.P99), ms(l.s.Max), verdict)
		}
	}
	for _, r := range runs {
		if r.Filled > 0 {
			dl := ""
			if r.FillDeadlocks >= 0 {
				dl = fmt.Sprintf("; %d deadlocks among them", r.FillDeadlocks)
			}
			fmt.Fprintf(w, "   %s: %d further VMs deployed between the measured batches in %s (%.0f/s, not a headline figure)%s\n",
				r.Engine, r.Filled, r.FillTime.Round(time.Second), float64(r.Filled)/r.FillTime.Seconds(), dl)
		}
	}
}
