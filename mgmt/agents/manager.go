package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/google/uuid"
)

// Options configure a Manager.
type Options struct {
	DB       *db.DB
	Keys     *iam.Keyring
	Config   *config.Store
	ServerID string
	Name     string
	Log      *slog.Logger
	// MonitorEvery is how often host states are checked (default 500 ms); QueuePoll how
	// often this server looks for commands queued for its hosts (default 50 ms).
	MonitorEvery, QueuePoll time.Duration
	// ServerAliveFor is how recent a management server's heartbeat must be for the hosts it
	// holds not to count as orphaned (default 30 s: three heartbeats).
	ServerAliveFor time.Duration
}

// PowerReport receives a host's VM power-state report (full: every VM on the host).
type PowerReport func(ctx context.Context, hostID string, full bool, vms []protocol.VMState)

// Manager runs one management server's side of the agents.
type Manager struct {
	o   Options
	db  *db.DB
	cfg *config.Store
	id  string
	log *slog.Logger
	ca  *CA

	onPower   atomic.Pointer[PowerReport]
	onConnect atomic.Pointer[func(ctx context.Context, hostID string)]

	mu        sync.Mutex
	sessions  map[string]*session   // host id -> the connection this server holds
	sims      map[string]*simHost   // host id -> in-process simulated agent
	open      map[*session]struct{} // every open TLS connection, registered or not
	listeners []net.Listener
	stopping  bool

	faults faultCache
	// guidLocks orders a host's registrations and connection ends on this server.
	guidLocks keyLocks

	// Admission control and batched heartbeats (admission.go).
	hsGate, regGate *gate
	load            overload
	pings           pinger
	pingCache       atomic.Pointer[pingCache]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Errors of Send.
var (
	ErrNotConnected = errors.New("agents: host is not connected")
	ErrNoHost       = errors.New("agents: no such host")
)

// New builds a manager; Start loads the CA and starts its loops.
func New(o Options) *Manager {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MonitorEvery <= 0 {
		o.MonitorEvery = 500 * time.Millisecond
	}
	if o.QueuePoll <= 0 {
		o.QueuePoll = 50 * time.Millisecond
	}
	if o.ServerAliveFor <= 0 {
		o.ServerAliveFor = 30 * time.Second
	}
	if o.Config == nil {
		o.Config = config.NewStore(o.DB)
	}
	dialect := db.SQLite
	if o.DB != nil {
		dialect = o.DB.Dialect
	}
	return &Manager{o: o, db: o.DB, cfg: o.Config, id: o.ServerID, log: o.Log.With("component", "agents"),
		sessions: map[string]*session{}, sims: map[string]*simHost{}, open: map[*session]struct{}{},
		hsGate: newGate(handshakeSlots()), regGate: newGate(regSlots(dialect)),
		pings: pinger{pending: map[string][]chan error{}, kick: make(chan struct{}, 1)}}
}

// Start loads (or creates) the agent CA, starts the host monitor and the command queue, and
// starts the simulated hosts no live server holds.
func (m *Manager) Start(ctx context.Context) error {
	ca, err := LoadOrCreateCA(ctx, m.db, m.o.Keys)
	if err != nil {
		return err
	}
	m.ca = ca
	m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	m.wg.Add(4)
	go func() { defer m.wg.Done(); m.pingWriter(m.ctx) }()
	go func() { defer m.wg.Done(); m.reportOverload(m.ctx, 10*time.Second) }()
	m.adoptSimulators(m.ctx)
	go func() { defer m.wg.Done(); m.monitor(m.ctx) }()
	go func() { defer m.wg.Done(); m.queue(m.ctx) }()
	return nil
}

// OnPowerReport installs the receiver of every host's VM power-state reports (the full report
// at registration and with each ping). Nothing is stored until VMs exist.
func (m *Manager) OnPowerReport(f PowerReport) { m.onPower.Store(&f) }

// OnConnect installs what runs, in the background, once a real host's agent has registered
// (the guest networking sync: network.HostSync).
func (m *Manager) OnConnect(f func(ctx context.Context, hostID string)) { m.onConnect.Store(&f) }

// connected runs the OnConnect hook for a host shortly after its registration is answered.
func (m *Manager) connected(hostID string) {
	f := m.onConnect.Load()
	if f == nil || *f == nil {
		return
	}
	m.Go(func(ctx context.Context) {
		select { // let the Registered answer reach the agent first
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		(*f)(ctx, hostID)
	})
}

func (m *Manager) powerReport(ctx context.Context, hostID string, full bool, vms []protocol.VMState) {
	if f := m.onPower.Load(); f != nil && *f != nil {
		(*f)(ctx, hostID, full, vms)
	}
}

// CA returns the agent CA.
func (m *Manager) CA() *CA { return m.ca }

// CAFingerprint is what agents pin when they enroll.
func (m *Manager) CAFingerprint() string { return m.ca.Fingerprint }

// ServerID is this management server's id.
func (m *Manager) ServerID() string { return m.id }

// Stop closes the listeners and every connection, stops the simulated hosts and gives up the
// hosts this server held, so that other servers take them at once.
func (m *Manager) Stop(ctx context.Context) {
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return
	}
	m.stopping = true
	lns := m.listeners
	m.listeners = nil
	sims := make([]*simHost, 0, len(m.sims))
	for _, s := range m.sims {
		sims = append(sims, s)
	}
	sessions := make([]*session, 0, len(m.sessions)+len(m.open))
	for _, s := range m.sessions {
		sessions = append(sessions, s)
	}
	for s := range m.open {
		sessions = append(sessions, s)
	}
	m.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	for _, s := range sims {
		s.stop()
	}
	for _, s := range sessions {
		s.conn.Close()
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	if err := db.ReleaseHosts(ctx, m.db.SQL, m.id, db.Now()); err != nil {
		m.log.Warn("release hosts at shutdown", "err", err)
	}
}

func (m *Manager) isStopping() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopping
}

func (m *Manager) local(hostID string) *session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions[hostID]
}

// Connected reports whether this server holds a connection to the host.
func (m *Manager) Connected(hostID string) bool { return m.local(hostID) != nil }

// pingSettings reads ping.interval (seconds) and ping.timeout (a multiplier).
func (m *Manager) pingSettings(ctx context.Context) (interval time.Duration, timeout float64) {
	interval, timeout = 60*time.Second, 2.5
	if v, err := m.cfg.Get(ctx, config.Global, "", "ping.interval"); err == nil {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n > 0 {
			interval = time.Duration(n * float64(time.Second))
		}
	}
	if v, err := m.cfg.Get(ctx, config.Global, "", "ping.timeout"); err == nil {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			timeout = f
		}
	}
	return interval, timeout
}

// DefaultTimeout bounds a command when the caller's context has no deadline.
const DefaultTimeout = time.Minute

// Send runs a command on a host's agent and returns its answer. The command goes over the
// connection if this server holds it; otherwise it is queued in agent_commands for the server
// that does, and Send waits (bounded by ctx, or DefaultTimeout) for the answer.
func (m *Manager) Send(ctx context.Context, hostID, name string, body any) (*protocol.Answer, error) {
	var raw json.RawMessage
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("agents: encode %s: %w", name, err)
		}
	}
	timeout := DefaultTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	cmd := protocol.Command{ID: uuid.NewString(), Name: name, Body: raw, TimeoutMs: timeout.Milliseconds()}
	if s := m.local(hostID); s != nil {
		return s.command(ctx, cmd)
	}
	return m.sendQueued(ctx, hostID, cmd, timeout)
}

func (m *Manager) sendQueued(ctx context.Context, hostID string, cmd protocol.Command, timeout time.Duration) (*protocol.Answer, error) {
	h, err := db.GetHost(ctx, m.db.Read(), hostID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrNoHost
	}
	if err != nil {
		return nil, err
	}
	switch h.Status {
	case db.HostStatusUp, db.HostStatusConnecting, db.HostStatusDisconnected:
	default:
		return nil, fmt.Errorf("%w (host %s is %s)", ErrNotConnected, h.Name, h.Status)
	}
	if h.Owner == "" && h.Status == db.HostStatusDisconnected && h.Disconnected < db.Now()-30000 {
		return nil, fmt.Errorf("%w (host %s is %s)", ErrNotConnected, h.Name, h.Status)
	}
	data, _ := json.Marshal(cmd)
	now := db.Now()
	row := &db.AgentCommand{ID: cmd.ID, HostID: hostID, Body: string(data), Created: now, Deadline: now + timeout.Milliseconds()}
	if err := db.InsertAgentCommand(ctx, m.db.SQL, row); err != nil {
		return nil, err
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = db.AbandonAgentCommand(context.WithoutCancel(ctx), m.db.SQL, cmd.ID, db.Now())
			return nil, fmt.Errorf("agents: %s on host %s: %w", cmd.Name, h.Name, ctx.Err())
		case <-t.C:
		}
		if s := m.local(hostID); s != nil {
			// The agent moved here while we waited: run it directly (replays are harmless).
			_ = db.AbandonAgentCommand(ctx, m.db.SQL, cmd.ID, db.Now())
			return s.command(ctx, cmd)
		}
		c, err := db.GetAgentCommand(ctx, m.db.Read(), cmd.ID)
		if err != nil {
			continue
		}
		if c.Status == db.AgentCmdDone {
			var ans protocol.Answer
			if err := json.Unmarshal([]byte(c.Result), &ans); err != nil {
				return nil, fmt.Errorf("agents: decode queued answer: %w", err)
			}
			return &ans, nil
		}
		if db.Now() > c.Deadline {
			_ = db.AbandonAgentCommand(ctx, m.db.SQL, cmd.ID, db.Now())
			return nil, fmt.Errorf("agents: %s on host %s: %w", cmd.Name, h.Name, context.DeadlineExceeded)
		}
	}
}

// queue runs the commands other servers queued for hosts whose connections this server holds.
func (m *Manager) queue(ctx context.Context) {
	t := time.NewTicker(m.o.QueuePoll)
	defer t.Stop()
	purge := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cmds, err := db.CommandsForOwner(ctx, m.db.Read(), m.id, db.Now(), 64)
		if err != nil {
			if ctx.Err() == nil {
				m.log.Warn("read queued agent commands", "err", err)
			}
			continue
		}
		for _, c := range cmds {
			s := m.local(c.HostID)
			if s == nil {
				continue // not connected here (yet): leave it for whoever holds the host
			}
			ok, err := db.ClaimAgentCommand(ctx, m.db.SQL, c, m.id)
			if err != nil || !ok {
				continue
			}
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				m.runQueued(ctx, s, c)
			}()
		}
		if time.Since(purge) > time.Minute {
			purge = time.Now()
			_ = db.PurgeAgentCommands(ctx, m.db.SQL, db.Now()-10*60*1000)
			_ = db.PurgeHostTokens(ctx, m.db.SQL, db.Now()-24*3600*1000)
		}
	}
}

func (m *Manager) runQueued(ctx context.Context, s *session, c *db.AgentCommand) {
	var cmd protocol.Command
	var ans *protocol.Answer
	if err := json.Unmarshal([]byte(c.Body), &cmd); err != nil {
		ans = &protocol.Answer{ID: c.ID, Error: "corrupt queued command: " + err.Error()}
	} else {
		cctx, cancel := context.WithDeadline(ctx, time.UnixMilli(c.Deadline))
		var err error
		ans, err = s.command(cctx, cmd)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return // shutting down: the next owner runs it again
			}
			ans = &protocol.Answer{ID: c.ID, Error: err.Error()}
		}
	}
	data, _ := json.Marshal(ans)
	if err := db.CompleteAgentCommand(context.WithoutCancel(ctx), m.db.SQL, c.ID, m.id, string(data), db.Now()); err != nil {
		m.log.Warn("record queued command answer", "command", c.ID, "err", err)
	}
}

// Addrs returns the agent endpoints this server listens on.
func (m *Manager) Addrs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.listeners))
	for _, ln := range m.listeners {
		out = append(out, ln.Addr().String())
	}
	return out
}

// Disconnect closes this server's connection to a host, if it holds one; a simulated host
// running here is stopped. The agent of a real host connects again by itself. When it
// returns, the closed connection is no longer this server's (Connected is false until the
// agent connects again).
func (m *Manager) Disconnect(hostID string) {
	if m.StopSimulator(hostID) {
		return
	}
	if s := m.local(hostID); s != nil {
		s.closeAndWait()
	}
}
