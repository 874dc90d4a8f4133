package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/atollcloud/atoll/agent"
	"github.com/atollcloud/atoll/mgmt/api"
)

// TargetHosts is how many hosts one management server must hold connected and heartbeating
// at ping.interval TargetPingInterval.
const (
	TargetHosts        = 10000
	TargetPingInterval = 60 * time.Second
)

// HostsOptions configure one run of the host scale benchmark.
type HostsOptions struct {
	Engine   string      // SQLite (atoll up) or MariaDB (atoll mgmt)
	MySQL    MySQLServer // for MariaDB
	MySQLPid int         // the MariaDB server's pid, for CPU figures (0: unknown)
	Bin      string      // the atoll binary: the server and the agent fleet
	Dir      string      // scratch directory
	Hosts    int         // simulated hosts, one TLS connection each
	// PingInterval is set as ping.interval before the agents start (they take it at
	// registration); Steady is the measured window once every host is Up, which should hold at
	// least one heartbeat of every host (longer than PingInterval).
	PingInterval time.Duration
	Steady       time.Duration
	// RegisterTimeout bounds the wait for every host to be Up (the run is then reported short).
	RegisterTimeout time.Duration
	Log             io.Writer
}

// HostsResult is one run's figures.
type HostsResult struct {
	Engine, Server string
	Hosts          int
	PingInterval   time.Duration
	// Registration: agent process start to the first and to every host Up (listHosts
	// state=Up, polled every 500 ms); Up is how many were Up at the end of the wait.
	FirstUp, AllUp time.Duration
	Up             int
	Refused        int // enrollments the server refused (its log), e.g. a token used twice
	// The registration phase's CPU time per host Up, in ms: the server's and the agent
	// process's (figures that other load on the machine moves little), and the machine's
	// CPU over the phase (ours = server + agents (+ MariaDB)).
	RegServerMs, RegAgentMs float64
	RegMachine              CPU
	// Work the server shed while the agents rushed in (its log): connections closed before
	// their TLS handshake, and enrollments or registrations answered "busy, try again".
	Shed, Busy int64
	// The steady window, once all hosts were Up.
	Window              time.Duration
	IdleCPU             float64 // the server's CPU, percent of a core, before the agents started
	ServerCPU, AgentCPU float64 // percent of a core over the window
	Machine             CPU     // ours = server + agents (+ MariaDB)
	IdleRSS             int64   // the server's VmRSS before the agents started, KiB
	RSS, RSSMax         int64   // the server's VmRSS at the end of the window and its maximum, KiB
	AgentRSS            int64   // the agent process's VmRSS at the end of the window, KiB
	// At the end of the window: hosts per state, and hosts whose last ping fell inside it.
	States map[string]int
	Pinged int
	Error  string // why the run fell short, if it did
}

// RegisterRate is hosts Up per second from the agents' start.
func (r HostsResult) RegisterRate() float64 {
	if r.AllUp <= 0 {
		return 0
	}
	return float64(r.Up) / r.AllUp.Seconds()
}

// Held reports whether every host was Up and pinged within the window.
func (r HostsResult) Held() bool {
	return r.Error == "" && r.Up == r.Hosts && r.States["Up"] == r.Hosts && r.Pinged == r.Hosts
}

// RunHosts starts a management server with an agent endpoint on a free loopback port, builds a
// zone, pod and Simulator cluster through the API, sets ping.interval, issues a batch of
// host tokens for the cluster (createHostToken hosts=N), and runs one `atoll agent
// --hypervisor simulator --hosts N` process against it: every host enrolls (token + CSR),
// reconnects with its certificate and is added to the cluster as it registers. It times
// registration, then measures the server over a steady window.
func RunHosts(ctx context.Context, o HostsOptions) (*HostsResult, error) {
	res := &HostsResult{Engine: o.Engine, Hosts: o.Hosts, PingInterval: o.PingInterval, States: map[string]int{}}
	agentAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	ao := APIOptions{Engine: o.Engine, MySQL: o.MySQL, Bin: o.Bin, Dir: o.Dir, AgentListen: agentAddr,
		ServerLog: filepath.Join(o.Dir, fmt.Sprintf("hosts-server-%s-%d.log", o.Engine, o.Hosts)), Log: o.Log}
	var ar APIResult
	t, pid, stop, err := ao.start(ctx, &ar)
	if err != nil {
		return nil, err
	}
	defer stop()
	res.Server = ar.Server
	c := t.client()
	do := func(cmd string, p map[string]string) (map[string]any, error) {
		r, err := c.Do(ctx, cmd, p)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", cmd, err)
		}
		return r, nil
	}
	if _, err := do("updateConfiguration", map[string]string{"name": "ping.interval",
		"value": strconv.Itoa(int(o.PingInterval.Seconds()))}); err != nil {
		return nil, err
	}
	z, err := do("createZone", map[string]string{"name": "scale", "networktype": "Advanced", "dns1": "192.0.2.53", "internaldns1": "192.0.2.53"})
	if err != nil {
		return nil, err
	}
	p, err := do("createPod", map[string]string{"zoneid": objID(z, "zone"), "name": "pod-1", "gateway": "192.168.100.1",
		"netmask": "255.255.255.0", "startip": "192.168.100.10", "endip": "192.168.100.250"})
	if err != nil {
		return nil, err
	}
	cl, err := do("addCluster", map[string]string{"zoneid": objID(z, "zone"), "podid": objID(p, "pod"), "clustername": "cluster-1",
		"hypervisor": "Simulator", "clustertype": "CloudManaged"})
	if err != nil {
		return nil, err
	}
	tok, err := do("createHostToken", map[string]string{"clusterid": objID(cl, "cluster"), "hosts": strconv.Itoa(o.Hosts)})
	if err != nil {
		return nil, err
	}
	ht, _ := tok["hosttoken"].(map[string]any)
	token, _ := ht["token"].(string)
	fp, _ := ht["cafingerprint"].(string)
	if token == "" || fp == "" {
		return nil, fmt.Errorf("bench: createHostToken answered no token: %v", tok)
	}

	// The idle server, before any agent: a short baseline.
	idle0 := markCPU([]int{pid})
	if err := sleep(ctx, 3*time.Second); err != nil {
		return nil, err
	}
	res.IdleCPU = cpuBetween(idle0, markCPU([]int{pid}), runtime.NumCPU()).Ours
	res.IdleRSS = vmRSS(pid)

	fmt.Fprintf(o.Log, "   %s: %d simulated hosts, ping.interval %v ...\n", res.Server, o.Hosts, o.PingInterval)
	began := time.Now()
	agents, err := StartCmd(o.Bin, []string{"agent", "--mgmt", agentAddr, "--hypervisor", "simulator", "--hosts", strconv.Itoa(o.Hosts),
		"--token", token, "--ca-fingerprint", fp, "--state-dir", "", "--name", "scale", "--log-level", "warn"},
		filepath.Join(o.Dir, fmt.Sprintf("hosts-agents-%s-%d.log", o.Engine, o.Hosts)))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := agents.Stop(); err != nil {
			fmt.Fprintln(o.Log, "   warning: agents:", err)
		}
	}()
	countUp := func() (int, error) {
		r, err := c.Do(ctx, "listHosts", map[string]string{"state": "Up", "type": "Routing", "pagesize": "1", "page": "1"})
		if err != nil {
			return 0, err
		}
		n, _ := r["count"].(float64)
		return int(n), nil
	}
	regPids := []int{pid, agents.Pid()}
	if o.Engine == MariaDB && o.MySQLPid != 0 {
		regPids = append(regPids, o.MySQLPid)
	}
	reg0 := markCPU(append([]int{pid}, regPids[2:]...)) // the agent process has just started
	srv0 := procTicks(pid)
	deadline := began.Add(o.RegisterTimeout)
	for {
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
		n, err := countUp()
		if err != nil {
			return nil, err
		}
		if n > 0 && res.FirstUp == 0 {
			res.FirstUp = time.Since(began)
		}
		res.Up, res.AllUp = n, time.Since(began)
		if n >= o.Hosts {
			break
		}
		if done, err := agents.Exited(); done {
			res.Error = fmt.Sprintf("the agent process exited (%v): %s", err, agents.Tail(3))
			break
		}
		if time.Now().After(deadline) {
			res.Error = fmt.Sprintf("%d of %d hosts Up after %v", n, o.Hosts, o.RegisterTimeout)
			break
		}
	}
	res.RegMachine = cpuBetween(reg0, markCPU(regPids), runtime.NumCPU())
	if res.Up > 0 {
		res.RegServerMs = float64(procTicks(pid)-srv0) * 1000 / clockTicks / float64(res.Up)
		res.RegAgentMs = float64(procTicks(agents.Pid())) * 1000 / clockTicks / float64(res.Up)
	}
	fmt.Fprintf(o.Log, "   %d/%d hosts Up after %v; steady window %v ...\n", res.Up, o.Hosts, res.AllUp.Round(time.Millisecond), o.Steady)

	// The steady window.
	pids := []int{pid, agents.Pid()}
	if o.Engine == MariaDB && o.MySQLPid != 0 {
		pids = append(pids, o.MySQLPid)
	}
	windowStart := time.Now()
	m0, s0, a0 := markCPU(pids), markCPU([]int{pid}), markCPU([]int{agents.Pid()})
	for time.Since(windowStart) < o.Steady {
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
		res.RSSMax = max(res.RSSMax, vmRSS(pid))
	}
	m1, s1, a1 := markCPU(pids), markCPU([]int{pid}), markCPU([]int{agents.Pid()})
	res.Window = time.Since(windowStart)
	res.RSS, res.AgentRSS = vmRSS(pid), vmRSS(agents.Pid())
	res.RSSMax = max(res.RSSMax, res.RSS)
	cores := runtime.NumCPU()
	res.Machine = cpuBetween(m0, m1, cores)
	res.ServerCPU = cpuBetween(s0, s1, cores).Ours
	res.AgentCPU = cpuBetween(a0, a1, cores).Ours

	// Every host's state and last ping at the end of the window (outside it: one big list).
	all, err := c.Do(ctx, "listHosts", map[string]string{"type": "Routing", "pagesize": "-1"})
	if err != nil {
		return nil, fmt.Errorf("bench: listHosts: %w", err)
	}
	since := windowStart.Truncate(time.Second)
	hosts, _ := all["host"].([]any)
	for _, h := range hosts {
		m, _ := h.(map[string]any)
		st, _ := m["state"].(string)
		res.States[st]++
		lp, _ := m["lastpinged"].(string)
		if tm, err := time.Parse("2006-01-02T15:04:05-0700", lp); err == nil && !tm.Before(since) {
			res.Pinged++
		}
	}
	res.Refused = countLines(ao.ServerLog, "enrollment refused")
	res.Shed = sumField(ao.ServerLog, "connections_closed_before_handshake=")
	res.Busy = sumField(ao.ServerLog, "busy_answers=")
	if res.Error == "" && res.Pinged < o.Hosts && res.Window < o.PingInterval {
		res.Error = fmt.Sprintf("the window (%v) is shorter than ping.interval", res.Window.Round(time.Second))
	}
	return res, nil
}

// objID is the id of the object under key in an answer (or of the first of a list there).
func objID(r map[string]any, key string) string {
	s, _ := api.First(r, key)["id"].(string)
	return s
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// vmRSS is a process's resident set (VmRSS in /proc/PID/status), KiB; 0 if unknown.
func vmRSS(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func countLines(file, substr string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	return strings.Count(string(data), substr)
}

// sumField adds up the integers after every occurrence of key (a slog text field "name=") in
// a file.
func sumField(file, key string) int64 {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	var sum int64
	for rest := string(data); ; {
		i := strings.Index(rest, key)
		if i < 0 {
			return sum
		}
		rest = rest[i+len(key):]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		n, _ := strconv.ParseInt(rest[:j], 10, 64)
		sum += n
	}
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat CPU times (100 on Linux).
const clockTicks = 100

// mib renders KiB as MiB.
func mib(kib int64) string { return strconv.FormatFloat(float64(kib)/1024, 'f', 0, 64) }

func (o Options) reportHosts(runs []*HostsResult) {
	if len(runs) == 0 {
		return
	}
	w := o.Out
	r0 := runs[0]
	fmt.Fprintf(w, "\n3. Simulated hosts held by one management server (agent endpoint on loopback, TLS 1.3)\n")
	fmt.Fprintf(w, "   One `atoll agent --hypervisor simulator --hosts N` process: every host enrolls with its own one-time\n")
	fmt.Fprintf(w, "   token (createHostToken clusterid=... hosts=N: a token with a cluster, so no addHost call is needed),\n")
	fmt.Fprintf(w, "   reconnects with its signed certificate and is added to the cluster as it registers; the process sets up\n")
	fmt.Fprintf(w, "   at most %d connections at a time (its hosts share this machine's cores with the server). ping.interval set\n",
		agent.FleetConnectSlots)
	fmt.Fprintf(w, "   to %v (updateConfiguration) before the agents start. reg s: agent process start to every host Up\n", r0.PingInterval)
	fmt.Fprintf(w, "   (listHosts state=Up, polled every 500 ms); hosts/s: hosts Up / that time. Then a steady window of\n")
	fmt.Fprintf(w, "   %v: server CPU (percent of one core, /proc/PID/stat), VmRSS (end / max), the agent process's CPU,\n", r0.Window.Round(time.Second))
	fmt.Fprintf(w, "   and at its end every host's state and whether its last ping fell inside the window (pinged).\n")
	fmt.Fprintf(w, "   Target: %d hosts Up and pinging at ping.interval %v.\n\n", TargetHosts, TargetPingInterval)
	fmt.Fprintf(w, "   %-8s %-10s %6s %6s %7s %8s %7s %7s %8s %8s %8s %8s %9s %9s  %-15s %s\n", "engine", "server", "hosts", "up", "reg s",
		"hosts/s", "refused", "pinged", "idle cpu", "srv cpu", "rss MiB", "max MiB", "KiB/host", "agent cpu", "cpu ours/others", "verdict")
	for _, r := range runs {
		verdict := "held"
		if !r.Held() {
			verdict = "SHORT"
		}
		if r.Held() && (r.Hosts < TargetHosts || r.PingInterval > TargetPingInterval) {
			verdict = "held (below target)"
		}
		perHost := "n/a"
		if r.Hosts > 0 && r.RSS > r.IdleRSS {
			perHost = strconv.FormatFloat(float64(r.RSS-r.IdleRSS)/float64(r.Hosts), 'f', 1, 64)
		}
		fmt.Fprintf(w, "   %-8s %-10s %6d %6d %7.1f %8.0f %7d %7d %7.1f%% %7.1f%% %8s %8s %9s %8.1f%%  %-15s %s\n", r.Engine, r.Server, r.Hosts, r.Up,
			r.AllUp.Seconds(), r.RegisterRate(), r.Refused, r.Pinged, r.IdleCPU, r.ServerCPU, mib(r.RSS), mib(r.RSSMax), perHost, r.AgentCPU,
			r.Machine, verdict)
	}
	fmt.Fprintln(w)
	for _, r := range runs {
		var states []string
		for _, st := range []string{"Up", "Connecting", "Disconnected", "Alert", "Down"} {
			if n := r.States[st]; n > 0 || st == "Up" {
				states = append(states, fmt.Sprintf("%s %d", st, n))
			}
		}
		fmt.Fprintf(w, "   %s, %d hosts: first Up after %.1f s; at the end of the window: %s; idle server RSS %s MiB\n", r.Engine, r.Hosts,
			r.FirstUp.Seconds(), strings.Join(states, ", "), mib(r.IdleRSS))
		fmt.Fprintf(w, "   %s, %d hosts: registration phase: server CPU %.2f ms per host, agent process %.2f ms per host;\n", r.Engine, r.Hosts,
			r.RegServerMs, r.RegAgentMs)
		fmt.Fprintf(w, "   machine CPU over it (percent of one core) ours/others %s\n", r.RegMachine)
		fmt.Fprintf(w, "   %s, %d hosts: shed under the rush (agents retried): %d connections closed before their TLS handshake,\n", r.Engine, r.Hosts, r.Shed)
		fmt.Fprintf(w, "   %d enrollments/registrations answered busy\n", r.Busy)
		if r.Error != "" {
			fmt.Fprintf(w, "   %s, %d hosts: %s\n", r.Engine, r.Hosts, r.Error)
		}
	}
	for _, r := range runs {
		if r.PingInterval != TargetPingInterval && r.PingInterval > 0 {
			// Heartbeats are the only per-host work in the window; scale that part by the interval.
			per := max(0, r.ServerCPU-r.IdleCPU)
			fmt.Fprintf(w, "   %s, %d hosts: EXTRAPOLATED to ping.interval %v (not measured): server CPU ~%.1f%% (idle %.1f%% + heartbeat\n",
				r.Engine, r.Hosts, TargetPingInterval, r.IdleCPU+per*r.PingInterval.Seconds()/TargetPingInterval.Seconds(), r.IdleCPU)
			fmt.Fprintf(w, "   share %.1f%% x %v/%v); memory is held per connection, not per ping: as measured.\n", per, r.PingInterval, TargetPingInterval)
		}
	}
	fmt.Fprintf(w, "   srv cpu and idle cpu: the management server alone; KiB/host: (window-end RSS - idle RSS) / hosts.\n")
}
