package dnsmasq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/atollcloud/atoll/network/internal/nsproc"
)

// Manager runs the dnsmasq instances of one host, one per network id, each with its files in
// StateDir/<id>. It keeps no state of its own beyond those files: a restarted agent finds its
// dnsmasq processes again through their pidfiles.
type Manager struct {
	stateDir string
	log      *slog.Logger
	// Binary and ReleaseBinary are dnsmasq and dhcp_release (tests may point elsewhere).
	Binary, ReleaseBinary string

	mu sync.Mutex
}

// New returns a Manager keeping its files under stateDir.
func New(stateDir string, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{stateDir: stateDir, log: log.With("component", "dnsmasq"), Binary: "dnsmasq", ReleaseBinary: "dhcp_release"}
}

// Instance is one network's dnsmasq as List finds it.
type Instance struct {
	ID      string
	PID     int // 0 when not running
	Running bool
}

func (m *Manager) dir(id string) string { return filepath.Join(m.stateDir, id) }

// pid returns the running dnsmasq of the files, or 0.
func (m *Manager) pid(f files) int {
	pid, err := nsproc.ReadPID(f.pid)
	if err != nil || !nsproc.Ours(pid, f.conf) {
		return 0
	}
	return pid
}

// PID is the pid of the network's running dnsmasq, 0 when none.
func (m *Manager) PID(id string) int {
	if nsproc.CheckID(id) != nil {
		return 0
	}
	return m.pid(filesIn(m.dir(id)))
}

// Ensure makes the network's dnsmasq serve c: it writes the files, starts dnsmasq when none
// runs (a crashed one is started again), restarts it only when dnsmasq.conf changed, and
// otherwise sends SIGHUP after a lease change, releasing the leases c no longer grants.
func (m *Manager) Ensure(ctx context.Context, id string, c Config) error {
	if err := nsproc.CheckID(id); err != nil {
		return fmt.Errorf("dnsmasq: %w", err)
	}
	c, err := c.normalize()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	f := filesIn(m.dir(id))
	// 0755 and 0644: dnsmasq drops to nobody after start and re-reads the hosts files as such.
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return fmt.Errorf("dnsmasq: state dir: %w", err)
	}
	if err := os.Chmod(f.dir, 0o755); err != nil {
		return fmt.Errorf("dnsmasq: state dir: %w", err)
	}
	confChanged, err := nsproc.WriteFileAtomic(f.conf, renderConf(id, c, f), 0o644)
	if err != nil {
		return fmt.Errorf("dnsmasq: write config: %w", err)
	}
	hostsChanged, err := nsproc.WriteFileAtomic(f.hosts, renderHosts(c), 0o644)
	if err != nil {
		return fmt.Errorf("dnsmasq: write dhcp hosts: %w", err)
	}
	addnChanged, err := nsproc.WriteFileAtomic(f.addnHosts, renderAddnHosts(c), 0o644)
	if err != nil {
		return fmt.Errorf("dnsmasq: write hosts: %w", err)
	}

	pid := m.pid(f)
	if pid != 0 && confChanged {
		m.log.Info("configuration changed, restarting", "network", id, "pid", pid)
		if err := nsproc.Stop(ctx, pid, 5*time.Second, f.conf); err != nil {
			return fmt.Errorf("dnsmasq: stop for restart: %w", err)
		}
		pid = 0
	}
	if pid == 0 {
		return m.start(ctx, id, c, f)
	}
	// Release first, then SIGHUP: the lease goes from dnsmasq's database and the host entry
	// from its configuration, so the old address is neither renewed nor kept. The stale
	// leases are worked out from dnsmasq's own lease file on every Ensure, so a release that
	// failed once is tried again.
	held, err := os.ReadFile(f.leases)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("dnsmasq: read leases: %w", err)
	}
	gone := stale(parseLeases(held), c)
	if !hostsChanged && !addnChanged && len(gone) == 0 {
		return nil
	}
	var errs []error
	for _, l := range gone {
		if _, err := nsproc.Run(ctx, c.Namespace, m.ReleaseBinary, c.Interface, l.IP.String(), l.MAC); err != nil {
			errs = append(errs, fmt.Errorf("dnsmasq: release %s %s: %w", l.IP, l.MAC, err))
			continue
		}
		m.log.Info("released lease", "network", id, "ip", l.IP, "mac", l.MAC)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		errs = append(errs, fmt.Errorf("dnsmasq: SIGHUP %d: %w", pid, err))
	} else {
		m.log.Debug("reloaded hosts", "network", id, "pid", pid, "leases", len(c.Leases))
	}
	return errors.Join(errs...)
}

func (m *Manager) start(ctx context.Context, id string, c Config, f files) error {
	// Seed the lease database with exactly the leases granted: a lease the configuration no
	// longer grants is not carried into the new process.
	if _, err := nsproc.WriteFileAtomic(f.leases, renderLeases(c), 0o644); err != nil {
		return fmt.Errorf("dnsmasq: seed leases: %w", err)
	}
	os.Remove(f.pid)
	// dnsmasq checks its configuration and binds its sockets before it forks: a non-zero exit
	// of the parent is a refused configuration or a busy port, reported here.
	if _, err := nsproc.Run(ctx, c.Namespace, m.Binary, "--conf-file="+f.conf); err != nil {
		return fmt.Errorf("dnsmasq: start for network %s: %w", id, err)
	}
	var pid int
	for range 100 {
		if pid = m.pid(f); pid != 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pid == 0 {
		return fmt.Errorf("dnsmasq: started for network %s but no running process behind %s", id, f.pid)
	}
	m.log.Info("started", "network", id, "pid", pid, "namespace", c.Namespace, "leases", len(c.Leases))
	return nil
}

// Stop stops the network's dnsmasq and removes its files. Stopping what does not run is fine.
func (m *Manager) Stop(ctx context.Context, id string) error {
	if err := nsproc.CheckID(id); err != nil {
		return fmt.Errorf("dnsmasq: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stop(ctx, id)
}

func (m *Manager) stop(ctx context.Context, id string) error {
	f := filesIn(m.dir(id))
	if pid := m.pid(f); pid != 0 {
		if err := nsproc.Stop(ctx, pid, 5*time.Second, f.conf); err != nil {
			return fmt.Errorf("dnsmasq: stop network %s: %w", id, err)
		}
		m.log.Info("stopped", "network", id, "pid", pid)
	}
	if err := os.RemoveAll(f.dir); err != nil {
		return fmt.Errorf("dnsmasq: remove state of network %s: %w", id, err)
	}
	return nil
}

// List returns the networks that have dnsmasq state on this host, running or not.
func (m *Manager) List() ([]Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids, err := nsproc.IDs(m.stateDir)
	if err != nil {
		return nil, fmt.Errorf("dnsmasq: list: %w", err)
	}
	out := make([]Instance, 0, len(ids))
	for _, id := range ids {
		pid := m.pid(filesIn(m.dir(id)))
		out = append(out, Instance{ID: id, PID: pid, Running: pid != 0})
	}
	return out, nil
}

// Sweep stops and removes every network's dnsmasq but those in keep (reconciliation: keep is
// what the management server says should exist).
func (m *Manager) Sweep(ctx context.Context, keep []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids, err := nsproc.IDs(m.stateDir)
	if err != nil {
		return fmt.Errorf("dnsmasq: sweep: %w", err)
	}
	var errs []error
	for _, id := range ids {
		if slices.Contains(keep, id) {
			continue
		}
		m.log.Info("sweeping leftover", "network", id)
		errs = append(errs, m.stop(ctx, id))
	}
	return errors.Join(errs...)
}
