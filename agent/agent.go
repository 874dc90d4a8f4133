package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
)

// Version is the agent's version, reported at registration.
var Version = "0.1.0-dev"

// Config configures an agent.
type Config struct {
	// Servers are management server agent endpoints (host:port), tried in the order LB gives.
	Servers []string
	// LB is static, roundrobin or shuffle; "" takes the cloud's indirect.agent.lb.algorithm
	// (sent at registration), else static.
	LB string
	// StateDir keeps the guid, key and certificates so that restarts keep the identity.
	// Empty: the identity lives in memory (simulated hosts).
	StateDir string
	GUID     string // overrides the state directory's guid
	Name     string // reported host name (default: hostname)
	Address  string // reported address (default: the local address of the connection)
	// Token and CAFingerprint enroll an agent that has no certificate yet.
	Token         string
	CAFingerprint string
	// Zone, Pod and Cluster are placement hints (ids or names); enrollment may supply them.
	Zone, Pod, Cluster string
	Driver             hypervisor.Driver
	// Storage and Network are a real host's: where VM disks live (pools and image stores
	// opened from the management server's references) and which bridge each NIC joins. Nil on
	// Simulator hosts, whose driver needs neither.
	Storage *HostStorage
	Network NetworkDriver
	// Dial, when set, replaces TLS: the connection it returns is used as is (in-process
	// simulated hosts use a net.Pipe).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	Log  *slog.Logger

	DialTimeout time.Duration // the TCP connection; default 5 s
	// HandshakeTimeout bounds the TLS handshake once connected (default 30 s): a server busy
	// with a crowd of agents queues handshakes rather than refusing them.
	HandshakeTimeout       time.Duration
	MinBackoff, MaxBackoff time.Duration // default 100 ms and 10 s
	// ReportEvery sends the full VM power-state report with every Nth ping (default 1).
	ReportEvery int
	// ConnectSlots, when set, is shared by the agents of one process (RunFleet): an agent holds
	// a slot while it connects (dial, enrollment, registration), so that N simulated hosts
	// sharing a few cores set up a bounded number of connections at a time, as N real hosts,
	// each with its own CPU, would not need to.
	ConnectSlots chan struct{}
}

// Agent is one host's agent.
type Agent struct {
	downloads downloads // template downloads into image stores (real hosts)
	uploads   uploads   // files written chunk by chunk into image stores (transfer_upload.go)
	cfg       Config
	id        *identity
	log       *slog.Logger
	cache     *answerCache

	mu       sync.Mutex
	conn     *protocol.Conn
	server   string
	servers  []string
	lb       string
	hostID   string
	interval atomic.Int64 // ping interval, ms
	// powerEvents names VMs the driver saw stop behind the agent's back (nil: it cannot tell);
	// only the goroutine running pings reads it.
	powerEvents <-chan string
	rnd         *rand.Rand

	registered chan struct{} // closed and replaced on each registration
}

// New loads (or creates) the agent's identity.
func New(cfg Config) (*Agent, error) {
	if cfg.Driver == nil {
		return nil, errors.New("agent: no hypervisor driver")
	}
	if len(cfg.Servers) == 0 {
		return nil, errors.New("agent: no management server addresses")
	}
	if err := ValidLB(cfg.LB); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 30 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.ReportEvery <= 0 {
		cfg.ReportEvery = 1
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	id, err := loadIdentity(cfg.StateDir, cfg.GUID)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, id: id, log: cfg.Log.With("component", "agent", "guid", id.guid), cache: newAnswerCache(4096),
		servers: cfg.Servers, lb: strings.ToLower(cfg.LB), rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		registered: make(chan struct{})}
	a.interval.Store(60000)
	return a, nil
}

// GUID is the agent's identity (its certificate's common name).
func (a *Agent) GUID() string { return a.id.guid }

// HostID is the host id the management server gave at the last registration.
func (a *Agent) HostID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hostID
}

// Server is the address of the management server the agent is connected to ("" if none).
func (a *Agent) Server() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == nil {
		return ""
	}
	return a.server
}

// Servers and LB are the management server list and algorithm in use (the cloud may have
// replaced the configured ones at registration).
func (a *Agent) Servers() ([]string, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.servers...), a.lb
}

// Registered returns a channel closed at the next successful registration.
func (a *Agent) Registered() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.registered
}

// Enrolled reports whether the agent holds a signed certificate.
func (a *Agent) Enrolled() bool { return a.id.cert != nil }

// Drop closes the current connection; the agent connects again (to the server its
// algorithm picks).
func (a *Agent) Drop() {
	a.mu.Lock()
	c := a.conn
	a.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Run keeps the agent connected until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	backoff := a.cfg.MinBackoff
	if w, ok := a.cfg.Driver.(hypervisor.PowerWatcher); ok {
		a.powerEvents = w.WatchPower(ctx)
	}
	for ctx.Err() == nil {
		a.mu.Lock()
		order := Order(a.servers, a.lb, a.id.guid, a.rnd)
		a.mu.Unlock()
		good := false
		for _, addr := range order {
			if ctx.Err() != nil {
				break
			}
			began := time.Now()
			registered, err := a.session(ctx, addr)
			// A connection that ends at once after registering (a server refusing it at the
			// first ping) must not turn into a tight reconnect loop: it backs off too.
			if registered && time.Since(began) > time.Second {
				good = true
			}
			if err != nil && ctx.Err() == nil {
				a.log.Info("management server connection ended", "server", addr, "err", err)
			}
			if registered {
				break // reconnect from the top of the order
			}
		}
		if good {
			backoff = a.cfg.MinBackoff
			continue
		}
		// Full jitter over [backoff/2, backoff).
		wait := backoff/2 + time.Duration(a.rnd.Int64N(int64(backoff/2)+1))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		backoff = min(backoff*2, a.cfg.MaxBackoff)
	}
	return nil
}

func (a *Agent) dial(ctx context.Context, addr string) (net.Conn, error) {
	if a.cfg.Dial != nil {
		return a.cfg.Dial(ctx, addr)
	}
	cfg, err := a.id.tlsConfig(a.cfg.CAFingerprint)
	if err != nil {
		return nil, err
	}
	return dialTLS(ctx, addr, cfg, a.cfg.DialTimeout, a.cfg.HandshakeTimeout)
}

// session runs one connection: enrollment if needed, registration, then pings until the
// connection fails. registered reports whether registration succeeded.
func (a *Agent) session(ctx context.Context, addr string) (registered bool, err error) {
	release := func() {}
	if slots := a.cfg.ConnectSlots; slots != nil {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		var once sync.Once
		release = func() { once.Do(func() { <-slots }) }
	}
	defer release()
	if a.cfg.Dial == nil && a.id.cert == nil {
		if err := a.enroll(ctx, addr); err != nil {
			return false, err
		}
	}
	nc, err := a.dial(ctx, addr)
	if err != nil {
		return false, fmt.Errorf("dial %s: %w", addr, err)
	}
	conn := protocol.NewConn(nc, a.handle)
	go conn.Serve()
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	reg, err := a.register(ctx, conn, nc)
	release()
	if err != nil {
		return false, err
	}
	a.mu.Lock()
	a.conn, a.server, a.hostID = conn, addr, reg.HostID
	if reg.PingIntervalMs > 0 {
		a.interval.Store(reg.PingIntervalMs)
	}
	if a.cfg.LB == "" && reg.LB != "" && ValidLB(reg.LB) == nil {
		a.lb = strings.ToLower(reg.LB)
	}
	if len(reg.Servers) > 0 {
		a.servers = reg.Servers
	}
	close(a.registered)
	a.registered = make(chan struct{})
	a.mu.Unlock()
	a.log.Info("registered", "server", addr, "host", reg.HostID, "mgmt", reg.ServerID)
	defer func() {
		a.mu.Lock()
		if a.conn == conn {
			a.conn = nil
		}
		a.mu.Unlock()
	}()
	return true, a.pings(ctx, conn)
}

func (a *Agent) enroll(ctx context.Context, addr string) error {
	if a.cfg.Token == "" {
		return errors.New("agent: no certificate and no token to enroll with (give --token and --ca-fingerprint)")
	}
	csr, err := a.id.enrollRequest()
	if err != nil {
		return err
	}
	nc, err := a.dial(ctx, addr)
	if err != nil {
		return fmt.Errorf("dial %s to enroll: %w", addr, err)
	}
	conn := protocol.NewConn(nc, nil)
	go conn.Serve()
	defer conn.Close()
	var res protocol.Enrolled
	err = a.callPatiently(ctx, conn, 15*time.Second, protocol.TypeEnroll, protocol.Enroll{Token: a.cfg.Token, GUID: a.id.guid, CSR: csr}, &res)
	if err != nil {
		return fmt.Errorf("enroll at %s: %w", addr, err)
	}
	if err := a.id.saveEnrollment(res.CertPEM, res.CAPEM, placement{Zone: res.Zone, Pod: res.Pod, Cluster: res.Cluster}); err != nil {
		return err
	}
	if fp := normalizeFingerprint(a.cfg.CAFingerprint); fp != "" && fp != a.id.caFP {
		a.id.cert = nil
		return fmt.Errorf("agent: enrollment returned a CA %s other than the pinned %s", a.id.caFP, fp)
	}
	a.log.Info("enrolled", "server", addr)
	return nil
}

func (a *Agent) register(ctx context.Context, conn *protocol.Conn, nc net.Conn) (*protocol.Registered, error) {
	info, err := a.cfg.Driver.HostInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("agent: host info: %w", err)
	}
	vms, err := a.vmStates(ctx)
	if err != nil {
		return nil, err
	}
	addr := a.cfg.Address
	if addr == "" {
		if host, _, err := net.SplitHostPort(nc.LocalAddr().String()); err == nil {
			addr = host
		}
	}
	p := a.id.placement
	r := protocol.Register{ProtocolVersion: protocol.Version, GUID: a.id.guid, Name: a.cfg.Name, Address: addr,
		HypervisorType: info.HypervisorType, HypervisorVersion: info.HypervisorVersion, CPUSockets: info.CPUSockets,
		CPUCores: info.CPUCores, CPUSpeedMHz: info.CPUSpeedMHz, MemoryBytes: info.MemoryBytes,
		LocalStorageBytes: info.LocalStorageBytes, Capabilities: a.capabilities(info.Capabilities), AgentVersion: Version,
		Zone: first(a.cfg.Zone, p.Zone), Pod: first(a.cfg.Pod, p.Pod), Cluster: first(a.cfg.Cluster, p.Cluster), VMs: vms}
	var reg protocol.Registered
	if err := a.callPatiently(ctx, conn, 20*time.Second, protocol.TypeRegister, r, &reg); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	return &reg, nil
}

// MaxBusyWait bounds the wait before sending again a request a busy server declined.
const MaxBusyWait = 30 * time.Second

// callPatiently makes a call, each attempt bounded by timeout. A server too busy to take the
// request answers when to try again (protocol.BusyError); the call is then sent again on the
// same connection after that time, spread by jitter so that a crowd of agents turned away
// together does not come back together, and doubled on each further busy answer (at most
// MaxBusyWait). Any other answer, or the connection's end, ends the call.
func (a *Agent) callPatiently(ctx context.Context, conn *protocol.Conn, timeout time.Duration, typ string, body, out any) error {
	for busy := 0; ; busy++ {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := conn.Call(cctx, typ, body, out)
		cancel()
		after := protocol.RetryAfter(err)
		if after <= 0 {
			return err
		}
		wait := min(after<<min(busy, 5), MaxBusyWait)
		wait = wait/2 + time.Duration(a.randInt64N(int64(wait)))
		a.log.Debug("management server busy; trying again", "request", typ, "after", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-conn.Done():
			return fmt.Errorf("%w (the server was busy)", err)
		case <-time.After(wait):
		}
	}
}

func (a *Agent) randInt64N(n int64) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rnd.Int64N(max(n, 1))
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (a *Agent) vmStates(ctx context.Context) ([]protocol.VMState, error) {
	vms, err := a.cfg.Driver.ListVMs(ctx)
	if err != nil {
		return nil, fmt.Errorf("agent: list vms: %w", err)
	}
	out := make([]protocol.VMState, 0, len(vms))
	for _, v := range vms {
		out = append(out, protocol.VMState{Name: v.Name, State: string(v.State)})
	}
	return out, nil
}

// pings sends a heartbeat every ping interval until the connection fails. A ping that gets no
// answer within twice the interval (at least 10 s) ends the connection: the server is gone.
// When the driver reports a VM stopped or crashed behind the agent's back, a ping carrying
// the full power report goes at once.
func (a *Agent) pings(ctx context.Context, conn *protocol.Conn) error {
	interval := time.Duration(a.interval.Load()) * time.Millisecond
	t := time.NewTicker(interval)
	defer t.Stop()
	n := 0
	for {
		full := false
		select {
		case <-conn.Done():
			return conn.Err()
		case <-t.C:
			n++
			full = n%a.cfg.ReportEvery == 0
		case name, ok := <-a.powerEvents:
			if !ok {
				a.powerEvents = nil
				continue
			}
			a.log.Info("vm stopped behind the agent's back: reporting now", "vm", name)
			full = true
		}
		if ic, ok := a.cfg.Driver.(hypervisor.Interceptor); ok {
			if err := ic.Intercept(ctx, protocol.CmdPingFaults); err != nil {
				continue // an injected fault: this host stays silent
			}
		}
		p := protocol.Ping{HostID: a.HostID()}
		if full {
			vms, err := a.vmStates(ctx)
			if err == nil {
				p.Full, p.VMs = true, vms
			}
		}
		cctx, cancel := context.WithTimeout(ctx, max(2*interval, 10*time.Second))
		var pong protocol.Pong
		err := conn.Call(cctx, protocol.TypePing, p, &pong)
		cancel()
		if err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		if pong.PingIntervalMs > 0 && time.Duration(pong.PingIntervalMs)*time.Millisecond != interval {
			interval = time.Duration(pong.PingIntervalMs) * time.Millisecond
			a.interval.Store(pong.PingIntervalMs)
			t.Reset(interval)
		}
	}
}
