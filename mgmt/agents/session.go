package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
)

// session is this server's end of one agent connection.
type session struct {
	m    *Manager
	conn *protocol.Conn
	// How the peer was authenticated: an in-process simulated host (simGUID, trusted), or
	// TLS with a client certificate whose CN is certGUID ("" when it presented none, which
	// only allows enrollment).
	sim        bool
	simGUID    string
	certGUID   string
	certSerial string
	remoteIP   string

	mu     sync.Mutex
	hostID string
	guid   string // the guid the host registered with
	ended  bool   // the connection has closed (closed ran)

	done chan struct{} // closed when serve has returned (closed has run)
}

// closeAndWait closes the connection and waits until this server has let the host go.
func (s *session) closeAndWait() {
	s.conn.Close()
	<-s.done
}

func (s *session) host() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostID
}

// serve runs a connection until it closes. The caller has added it to m.wg.
func (m *Manager) serve(nc net.Conn, s *session) {
	s.m = m
	s.done = make(chan struct{})
	defer close(s.done)
	if s.remoteIP == "" {
		if host, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
			s.remoteIP = host
		}
	}
	s.conn = protocol.NewConn(nc, s.handle)
	m.track(s, true) // after s.conn is set: Stop reads it under m.mu
	defer m.track(s, false)
	if !s.sim && s.certGUID == "" {
		// Enrollment only: such a connection does not stay.
		t := time.AfterFunc(30*time.Second, func() { s.conn.Close() })
		defer t.Stop()
	}
	_ = s.conn.Serve()
	s.closed()
}

func (s *session) handle(ctx context.Context, typ string, body json.RawMessage) (any, error) {
	switch typ {
	case protocol.TypeEnroll:
		var e protocol.Enroll
		if err := json.Unmarshal(body, &e); err != nil {
			return nil, fmt.Errorf("decode enroll: %w", err)
		}
		return s.m.enroll(ctx, s, &e)
	case protocol.TypeRegister:
		var r protocol.Register
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("decode register: %w", err)
		}
		return s.register(ctx, &r)
	case protocol.TypePing:
		var p protocol.Ping
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("decode ping: %w", err)
		}
		return s.ping(ctx, &p)
	}
	return nil, fmt.Errorf("unexpected request %q", typ)
}

func (s *session) register(ctx context.Context, r *protocol.Register) (any, error) {
	if r.ProtocolVersion != protocol.Version {
		return nil, fmt.Errorf("agent protocol version %d is not supported (the server speaks %d)", r.ProtocolVersion, protocol.Version)
	}
	switch {
	case s.sim:
		if r.GUID != s.simGUID {
			return nil, fmt.Errorf("simulated host %s registered as %s", s.simGUID, r.GUID)
		}
	case s.certGUID == "":
		return nil, errors.New("a client certificate is required to register: enroll with a host token first")
	case r.GUID != s.certGUID:
		return nil, fmt.Errorf("the certificate is for %s, not %s", s.certGUID, r.GUID)
	}
	return s.m.admitReg(ctx, "registrations", func() (any, error) { return s.registerNow(ctx, r) })
}

func (s *session) registerNow(ctx context.Context, r *protocol.Register) (any, error) {
	m := s.m
	if m.isStopping() {
		return nil, errors.New("the management server is shutting down")
	}
	// The guid's lock orders this registration against the end of the host's previous
	// connection to this server (closed): without it, the old connection's "Disconnected"
	// could land after this registration's "Up", and the host would stay Disconnected, with
	// a live connection, until its next ping.
	unlock := m.guidLocks.lock(r.GUID)
	h, err := m.registerHost(ctx, s, r)
	if errors.Is(err, errSimRemoved) {
		go m.stopSimulatorGUID(r.GUID) // its host is gone: the agent stops trying
	}
	if err != nil {
		unlock()
		m.log.Warn("agent registration failed", "guid", r.GUID, "err", err)
		return nil, err
	}
	s.mu.Lock()
	ended := s.ended
	if !ended {
		s.hostID, s.guid = h.ID, r.GUID
	}
	s.mu.Unlock()
	if ended {
		// The connection closed while it registered, and closed found no host to let go of:
		// do it here, so that the host does not stay Up with no connection (unless another
		// connection of the host to this server is still open).
		m.mu.Lock()
		other := m.sessions[h.ID] != nil
		m.mu.Unlock()
		if !other {
			m.hostDisconnected(h.ID)
		}
		unlock()
		return nil, protocol.ErrClosed
	}
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		unlock()
		return nil, errors.New("the management server is shutting down")
	}
	old := m.sessions[h.ID]
	m.sessions[h.ID] = s
	m.mu.Unlock()
	unlock()
	if old != nil && old != s {
		old.conn.Close()
	}
	m.log.Info("host connected", "host", h.ID, "name", h.Name, "guid", h.GUID, "status", h.Status)
	if !h.Unbound() {
		m.powerReport(ctx, h.ID, true, r.VMs)
		if !s.sim {
			m.connected(h.ID)
		}
	}
	interval, _ := m.pingSettings(ctx)
	reg := &protocol.Registered{HostID: h.ID, ServerID: m.id, PingIntervalMs: interval.Milliseconds()}
	if !s.sim {
		reg.LB, reg.Servers = m.lbSettings(ctx)
	}
	return reg, nil
}

// lbSettings returns indirect.agent.lb.algorithm and, when the "host" setting names the
// management servers (it is "localhost" until an admin sets it), their agent endpoints.
func (m *Manager) lbSettings(ctx context.Context) (string, []string) {
	lb, _ := m.cfg.Get(ctx, "global", "", "indirect.agent.lb.algorithm")
	hosts, _ := m.cfg.Get(ctx, "global", "", "host")
	var servers []string
	if hosts != "" && hosts != "localhost" {
		port := "8250"
		m.mu.Lock()
		if len(m.listeners) > 0 {
			if _, p, err := net.SplitHostPort(m.listeners[0].Addr().String()); err == nil {
				port = p
			}
		}
		m.mu.Unlock()
		for _, h := range strings.Split(hosts, ",") {
			if h = strings.TrimSpace(h); h == "" {
				continue
			}
			if _, _, err := net.SplitHostPort(h); err != nil {
				h = net.JoinHostPort(h, port)
			}
			servers = append(servers, h)
		}
	}
	return lb, servers
}

func (s *session) ping(ctx context.Context, p *protocol.Ping) (any, error) {
	m := s.m
	hostID := s.host()
	if hostID == "" {
		return nil, errors.New("ping before registration")
	}
	if err := m.recordPing(ctx, hostID); err != nil {
		if errors.Is(err, errNotHeld) {
			// Another server holds the host now, or it was deleted: this connection is stale.
			time.AfterFunc(10*time.Millisecond, func() { s.conn.Close() })
		}
		return nil, err
	}
	if p.Full {
		m.powerReport(ctx, hostID, true, p.VMs)
	}
	return protocol.Pong{PingIntervalMs: m.cachedPingSettings(ctx).Milliseconds()}, nil
}

// command runs a command over this connection.
func (s *session) command(ctx context.Context, cmd protocol.Command) (*protocol.Answer, error) {
	var ans protocol.Answer
	if err := s.conn.Call(ctx, protocol.TypeCommand, cmd, &ans); err != nil {
		if errors.Is(err, protocol.ErrClosed) {
			return nil, fmt.Errorf("%w: %v", ErrNotConnected, err)
		}
		return nil, err
	}
	return &ans, nil
}

// closed runs when the connection has ended: a host whose connection this was becomes
// Disconnected (an unbound one, never added, is forgotten).
func (s *session) closed() {
	s.mu.Lock()
	s.ended = true
	hostID, guid := s.hostID, s.guid
	s.mu.Unlock()
	if hostID == "" {
		return // never registered, or register sees ended and lets the host go itself
	}
	m := s.m
	unlock := m.guidLocks.lock(guid)
	defer unlock()
	m.mu.Lock()
	current := m.sessions[hostID] == s
	if current {
		delete(m.sessions, hostID)
	}
	m.mu.Unlock()
	if !current {
		return // a newer connection of the same host replaced this one
	}
	m.hostDisconnected(hostID)
}

// hostDisconnected records that this server's connection to a host ended. The caller holds
// the host's guid lock, so no registration of the host on this server runs meanwhile.
func (m *Manager) hostDisconnected(hostID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := db.GetHost(ctx, m.db.SQL, hostID)
	if err != nil {
		return
	}
	if h.Unbound() && h.Owner == m.id {
		_ = db.RemoveHost(ctx, m.db.SQL, h.ID, h.Version)
		return
	}
	if ok, err := db.MarkHostDisconnected(ctx, m.db.SQL, hostID, m.id, db.Now()); err != nil {
		m.log.Warn("mark host disconnected", "host", hostID, "err", err)
	} else if ok {
		m.log.Info("host disconnected", "host", hostID, "name", h.Name)
	}
}

// keyLocks is a mutex per key (a host's guid), kept only while someone holds or waits for it.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// lock takes key's mutex and returns its release.
func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Unlock()
			k.mu.Lock()
			if l.refs--; l.refs == 0 {
				delete(k.locks, key)
			}
			k.mu.Unlock()
		})
	}
}
