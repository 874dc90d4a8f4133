package agents

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atollcloud/atoll/agent"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/hypervisor/simulator"
	"github.com/google/uuid"
)

// SimGUIDPrefix starts the guid of every in-process simulated host ("sim/<cluster id>/<path>").
const SimGUIDPrefix = "sim/"

// SimulatorPath returns "<cluster>/<host>" of a simulator URL (http://sim/<cluster>/<host>,
// CloudStack's simulator convention) and whether u is one.
func SimulatorPath(u string) (string, bool) {
	pu, err := url.Parse(u)
	if err != nil || !strings.EqualFold(pu.Scheme, "http") || !strings.EqualFold(pu.Host, "sim") {
		return "", false
	}
	p := strings.Trim(pu.Path, "/")
	if p == "" {
		return "", false
	}
	return p, true
}

// SimulatorGUID is the guid of the simulated host at a simulator URL path in a cluster.
func SimulatorGUID(clusterID, path string) string {
	return SimGUIDPrefix + clusterID + "/" + strings.ToLower(path)
}

// simulatorInfo reads optional hardware from a simulator URL's query: cpunumber, cpuspeed
// (MHz), memory (MiB), localstorage (GiB).
func simulatorInfo(u string) hypervisor.HostInfo {
	var info hypervisor.HostInfo
	pu, err := url.Parse(u)
	if err != nil {
		return info
	}
	q := pu.Query()
	num := func(k string) int64 { n, _ := strconv.ParseInt(q.Get(k), 10, 64); return max(n, 0) }
	info.CPUCores = int(num("cpunumber"))
	info.CPUSpeedMHz = num("cpuspeed")
	info.MemoryBytes = num("memory") << 20
	info.LocalStorageBytes = num("localstorage") << 30
	return info
}

// simHost is a simulated host's agent running in this process.
type simHost struct {
	guid   string
	agent  *agent.Agent
	driver *simulator.Driver
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *simHost) stop() {
	s.cancel()
	<-s.done
}

// serverAlive reports whether a management server's heartbeat is recent.
func (m *Manager) serverAlive(ctx context.Context, id string) bool {
	servers, err := db.ListMgmtServers(ctx, m.db.Read())
	if err != nil {
		return true // when in doubt, do not take a host from a server that may hold it
	}
	for _, s := range servers {
		if s.ID == id {
			return s.State == "Up" && s.LastSeen >= db.Now()-m.o.ServerAliveFor.Milliseconds()
		}
	}
	return false
}

// StartSimulator starts the in-process agent of a simulated host on this server (nothing if
// it runs here already). A host another live server holds is left to it.
func (m *Manager) StartSimulator(ctx context.Context, hostID string) error {
	h, err := db.GetHost(ctx, m.db.SQL, hostID)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(h.GUID, SimGUIDPrefix) {
		return fmt.Errorf("agents: host %s is not a simulated host", h.Name)
	}
	m.mu.Lock()
	running := m.sims[hostID] != nil
	m.mu.Unlock()
	if running {
		return nil
	}
	if h.Owner != m.id {
		if h.Owner != "" && m.serverAlive(ctx, h.Owner) {
			return fmt.Errorf("agents: simulated host %s runs on management server %s", h.Name, h.Owner)
		}
		if err := db.ClaimHost(ctx, m.db.SQL, h.ID, h.Version, m.id); err != nil {
			return fmt.Errorf("agents: take over simulated host %s: %w", h.Name, err)
		}
	}
	drv := simulator.New(simulatorInfo(h.URL))
	scope := faultScope{zone: h.ZoneID, cluster: h.ClusterID, host: h.ID}
	drv.SetFaultSource(func(ctx context.Context, command string) (simulator.Fault, bool) {
		return m.faultFor(ctx, scope, command)
	})
	guid := h.GUID
	a, err := agent.New(agent.Config{Servers: []string{"in-process"}, GUID: guid, Name: h.Name, Address: h.IPAddress,
		Driver: drv, Log: m.o.Log, MinBackoff: 20 * time.Millisecond, MaxBackoff: time.Second,
		Dial: func(ctx context.Context, _ string) (net.Conn, error) { return m.pipe(guid) }})
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return errors.New("agents: the management server is shutting down")
	}
	if m.sims[hostID] != nil {
		m.mu.Unlock()
		return nil
	}
	runCtx, cancel := context.WithCancel(m.ctx)
	sh := &simHost{guid: guid, agent: a, driver: drv, cancel: cancel, done: make(chan struct{})}
	m.sims[hostID] = sh
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		defer close(sh.done)
		_ = a.Run(runCtx)
	}()
	return nil
}

// pipe connects a simulated host's agent to this server over an in-memory connection.
func (m *Manager) pipe(guid string) (net.Conn, error) {
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return nil, errors.New("agents: the management server is shutting down")
	}
	m.wg.Add(1)
	m.mu.Unlock()
	agentEnd, serverEnd := net.Pipe()
	go func() {
		defer m.wg.Done()
		m.serve(serverEnd, &session{sim: true, simGUID: guid, remoteIP: "in-process"})
	}()
	return agentEnd, nil
}

// StopSimulator stops a simulated host's agent running on this server: its connection
// closes as if the host had died. It reports whether one was running. When it returns, this
// server no longer holds the host's connection and has recorded its end (so a restarted
// agent's registration cannot be overtaken by the old connection's end).
func (m *Manager) StopSimulator(hostID string) bool {
	m.mu.Lock()
	sh := m.sims[hostID]
	delete(m.sims, hostID)
	m.mu.Unlock()
	if sh == nil {
		return false
	}
	sh.stop()
	if s := m.local(hostID); s != nil && s.sim && s.simGUID == sh.guid {
		s.closeAndWait()
	}
	return true
}

func (m *Manager) stopSimulatorGUID(guid string) {
	m.mu.Lock()
	var id string
	for hid, sh := range m.sims {
		if sh.guid == guid {
			id = hid
		}
	}
	m.mu.Unlock()
	if id != "" {
		m.StopSimulator(id)
	}
}

// Simulator returns the driver of a simulated host running on this server (nil if none).
func (m *Manager) Simulator(hostID string) *simulator.Driver {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sh := m.sims[hostID]; sh != nil {
		return sh.driver
	}
	return nil
}

// adoptSimulators starts the simulated hosts that no live management server holds (this
// server starting, or the one that ran them died or stopped).
func (m *Manager) adoptSimulators(ctx context.Context) {
	hosts, err := db.OrphanedHosts(ctx, m.db.Read(), SimGUIDPrefix, db.Now()-m.o.ServerAliveFor.Milliseconds())
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("find orphaned simulated hosts", "err", err)
		}
		return
	}
	for _, h := range hosts {
		if err := db.ClaimHost(ctx, m.db.SQL, h.ID, h.Version, m.id); err != nil {
			continue // another server took it first
		}
		if err := m.StartSimulator(ctx, h.ID); err != nil {
			m.log.Warn("start simulated host", "host", h.ID, "err", err)
			continue
		}
		m.log.Info("took over simulated host", "host", h.ID, "name", h.Name, "previous_owner", h.Owner)
	}
}

// Fault injection.

type faultScope struct{ zone, cluster, host string }

type faultCache struct {
	mu     sync.Mutex
	list   []*db.SimulatorFault
	loaded time.Time
}

// faultTTL bounds how long a fault set on another server can go unseen here.
const faultTTL = time.Second

func (m *Manager) faultList(ctx context.Context) []*db.SimulatorFault {
	m.faults.mu.Lock()
	defer m.faults.mu.Unlock()
	if time.Since(m.faults.loaded) < faultTTL {
		return m.faults.list
	}
	list, err := db.ListSimulatorFaults(ctx, m.db.Read())
	if err != nil {
		return m.faults.list
	}
	m.faults.list, m.faults.loaded = list, time.Now()
	return list
}

func (m *Manager) invalidateFaults() {
	m.faults.mu.Lock()
	m.faults.loaded = time.Time{}
	m.faults.mu.Unlock()
}

// faultFor finds the fault for a command on a host: a host-scoped fault beats a cluster one,
// which beats a zone one; within a scope the command's own beats "*".
func (m *Manager) faultFor(ctx context.Context, s faultScope, command string) (simulator.Fault, bool) {
	best, rank := (*db.SimulatorFault)(nil), 0
	for _, f := range m.faultList(ctx) {
		r := 0
		switch {
		case f.ScopeType == db.FaultScopeHost && f.ScopeID == s.host:
			r = 30
		case f.ScopeType == db.FaultScopeCluster && f.ScopeID == s.cluster:
			r = 20
		case f.ScopeType == db.FaultScopeZone && f.ScopeID == s.zone:
			r = 10
		default:
			continue
		}
		switch {
		case strings.EqualFold(f.Command, command):
			r += 2
		case f.Command == "*":
			r++
		default:
			continue
		}
		if r > rank {
			best, rank = f, r
		}
	}
	if best == nil {
		return simulator.Fault{}, false
	}
	return simulator.Fault{Latency: time.Duration(best.LatencyMs) * time.Millisecond, Fail: best.Fail, Message: best.Message}, true
}

// SetSimulatorFault injects latency (and failure, if fail) into a command ("*": every
// command; "Ping": heartbeats, which a failing fault suppresses) of the simulated hosts of a
// zone, cluster or host. It replaces the scope's previous fault for that command.
func (m *Manager) SetSimulatorFault(ctx context.Context, scopeType, scopeID, command string, latency time.Duration, fail bool, message string) error {
	switch scopeType {
	case db.FaultScopeZone, db.FaultScopeCluster, db.FaultScopeHost:
	default:
		return fmt.Errorf("agents: fault scope %q is not zone, cluster or host", scopeType)
	}
	if command == "" {
		return errors.New("agents: a fault needs a command name (or *)")
	}
	err := m.db.Transaction(ctx, func(tx db.Tx) error {
		return db.SetSimulatorFault(ctx, tx, &db.SimulatorFault{ID: uuid.NewString(), ScopeType: scopeType, ScopeID: scopeID,
			Command: command, LatencyMs: int(latency.Milliseconds()), Fail: fail, Message: message, Created: db.Now()})
	})
	m.invalidateFaults()
	return err
}

// ClearSimulatorFaults removes a scope's faults (of one command, or all with command "").
func (m *Manager) ClearSimulatorFaults(ctx context.Context, scopeType, scopeID, command string) error {
	err := db.DeleteSimulatorFaults(ctx, m.db.SQL, scopeType, scopeID, command)
	m.invalidateFaults()
	return err
}
