package agents

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
)

// Admission control. When thousands of agents connect at once (a fleet's first start, or
// every host of a server that died reconnecting), a server that starts all their work at once
// finishes none of it in time: on 2 cores, 10,000 concurrent TLS handshakes each take longer
// than the agents' dial timeout, and registrations queue on the database (SQLite's single
// writer) past the agents' wait, so agents give up, come back and the work is done again. The
// server therefore does a bounded amount of each kind of work at a time and sheds the rest
// early and cheaply:
//   - TLS handshakes: at most handshakeSlots at once, the others wait their turn (agents give
//     a handshake 30 s, agent.Config.HandshakeTimeout); one that cannot start within
//     handshakeQueue is closed unanswered, before the expensive part (the agent backs off and
//     dials again).
//   - Enrollments and registrations: at most regSlots at once; one that cannot start within
//     regQueue is answered "busy" with a time to retry (protocol.BusyError), which agents
//     honour on the same connection, with jitter.
// Pings are not limited: they are cheap (batched, see pinger) and must keep hosts Up.

// gate admits at most cap callers at a time.
type gate struct{ slots chan struct{} }

func newGate(n int) *gate { return &gate{slots: make(chan struct{}, n)} }

// enter takes a slot, waiting up to wait (or until ctx ends); it reports whether it got one.
func (g *gate) enter(ctx context.Context, wait time.Duration) bool {
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (g *gate) leave() { <-g.slots }

// Variables rather than constants only for tests.
var (
	// handshakeQueue is how long an accepted connection may wait to start its TLS handshake:
	// agents wait 30 s for the handshake to end (agent.Config.HandshakeTimeout).
	handshakeQueue = 20 * time.Second
	// regQueue is how long an enrollment or registration may wait for a slot before it is
	// answered busy; agents wait 15 to 20 s for the answer.
	regQueue = 2 * time.Second
	// busyRetry is the base of the retry time a busy answer gives (agents add jitter and back
	// off further on consecutive busy answers).
	busyRetry = time.Second
)

// handshakeSlots leaves room for the round trips within a handshake (the agent's answer)
// while keeping the crowd out.
func handshakeSlots() int { return max(32, 8*runtime.GOMAXPROCS(0)) }

// regSlots: SQLite has one writer, so more concurrent registrations only queue on it; MySQL
// runs them in parallel.
func regSlots(d db.Dialect) int {
	if d == db.SQLite {
		return 4
	}
	return max(16, 8*runtime.GOMAXPROCS(0))
}

// overload counts the work shed since the server started, for a periodic log line.
type overload struct {
	shed, busy atomic.Int64
}

// errBusy is what an enrollment or registration refused for load answers.
func errBusy(what string) error {
	after := busyRetry + time.Duration(rand.Int64N(int64(busyRetry)))
	return &protocol.BusyError{Msg: "the management server is busy with other agents' " + what + "; try again later", After: after}
}

// admitReg runs fn if a registration slot frees up within regQueue, else answers busy.
func (m *Manager) admitReg(ctx context.Context, what string, fn func() (any, error)) (any, error) {
	if !m.regGate.enter(ctx, regQueue) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		m.load.busy.Add(1)
		return nil, errBusy(what)
	}
	defer m.regGate.leave()
	return fn()
}

// reportOverload logs, every interval, how much work was shed since the last line.
func (m *Manager) reportOverload(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var lastShed, lastBusy int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, b := m.load.shed.Load(), m.load.busy.Load()
		shed, busy := s-lastShed, b-lastBusy
		lastShed, lastBusy = s, b
		if shed+busy > 0 {
			m.log.Warn("agents: overloaded: work shed for agents to retry", "connections_closed_before_handshake", shed,
				"busy_answers", busy, "interval", every)
		}
	}
}

// The pinger: heartbeats are written in batches, one statement for all the pings that arrive
// within pingBatchWindow, instead of one statement per ping (10,000 hosts at ping.interval
// 60 s are 167 pings a second).
const (
	pingBatchWindow = 100 * time.Millisecond
	pingBatchMax    = 500
)

type pinger struct {
	mu      sync.Mutex
	pending map[string][]chan error // host id -> the pings waiting for the write
	kick    chan struct{}
}

var errNotHeld = errors.New("this management server no longer holds the host; connect again")

// recordPing records a host's heartbeat with the next batch and waits for it to be written. It
// returns errNotHeld when this server no longer holds the host.
func (m *Manager) recordPing(ctx context.Context, hostID string) error {
	ch := make(chan error, 1)
	p := &m.pings
	p.mu.Lock()
	p.pending[hostID] = append(p.pending[hostID], ch)
	n := len(p.pending)
	p.mu.Unlock()
	if n == 1 || n >= pingBatchMax {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-m.ctx.Done():
		return errors.New("the management server is shutting down")
	}
}

// pingWriter writes the batches until ctx ends.
func (m *Manager) pingWriter(ctx context.Context) {
	p := &m.pings
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		}
		t := time.NewTimer(pingBatchWindow)
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
				break wait
			case <-p.kick:
				p.mu.Lock()
				full := len(p.pending) >= pingBatchMax
				p.mu.Unlock()
				if full {
					t.Stop()
					break wait
				}
			}
		}
		p.mu.Lock()
		batch := p.pending
		p.pending = make(map[string][]chan error, len(batch))
		p.mu.Unlock()
		m.writePings(ctx, batch)
	}
}

func (m *Manager) writePings(ctx context.Context, batch map[string][]chan error) {
	if len(batch) == 0 {
		return
	}
	ids := make([]string, 0, len(batch))
	for id := range batch {
		ids = append(ids, id)
	}
	var lost []string
	var err error
	for i := 0; i < 5; i++ {
		if lost, err = db.HostPings(ctx, m.db.SQL, ids, m.id, db.Now()); err == nil || !db.Retryable(err) {
			break
		}
		time.Sleep(time.Duration(5<<i) * time.Millisecond)
	}
	gone := make(map[string]bool, len(lost))
	for _, id := range lost {
		gone[id] = true
	}
	for id, waiters := range batch {
		res := err
		if res == nil && gone[id] {
			res = errNotHeld
		}
		for _, ch := range waiters {
			ch <- res
		}
	}
}

// cachedPingSettings is pingSettings read at most once a second: every ping answers the
// interval, and 167 pings a second need not read it 167 times (a change reaches agents
// within a second more).
func (m *Manager) cachedPingSettings(ctx context.Context) time.Duration {
	now := time.Now().UnixNano()
	if c := m.pingCache.Load(); c != nil && now-c.at < int64(time.Second) {
		return c.interval
	}
	interval, _ := m.pingSettings(ctx)
	m.pingCache.Store(&pingCache{interval: interval, at: now})
	return interval
}

type pingCache struct {
	interval time.Duration
	at       int64
}
