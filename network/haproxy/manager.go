package haproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/atollcloud/atoll/network/internal/nsproc"
)

// Manager runs the HAProxy instances of one host, one per network id, with their files in
// StateDir/<id>. Like dnsmasq's, it keeps its state in those files only.
type Manager struct {
	stateDir string
	log      *slog.Logger
	// Binary is the haproxy program; RunAs the user it drops to ("" keeps root).
	Binary, RunAs string

	mu sync.Mutex
}

// New returns a Manager keeping its files under stateDir. HAProxy drops to the user haproxy
// when it exists (Debian's package makes it).
func New(stateDir string, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{stateDir: stateDir, log: log.With("component", "haproxy"), Binary: "haproxy"}
	if _, err := user.Lookup("haproxy"); err == nil {
		if _, err := user.LookupGroup("haproxy"); err == nil {
			m.RunAs = "haproxy"
		}
	}
	return m
}

type files struct{ dir, cfg, next, pid, sock string }

func (m *Manager) files(id string) files {
	d := filepath.Join(m.stateDir, id)
	return files{dir: d, cfg: d + "/haproxy.cfg", next: d + "/haproxy.cfg.new", pid: d + "/haproxy.pid", sock: d + "/admin.sock"}
}

func (m *Manager) pid(f files) int {
	pid, err := nsproc.ReadPID(f.pid)
	if err != nil || !nsproc.Ours(pid, f.cfg) {
		return 0
	}
	return pid
}

// PID is the pid of the network's serving HAProxy, 0 when none.
func (m *Manager) PID(id string) int {
	if nsproc.CheckID(id) != nil {
		return 0
	}
	return m.pid(m.files(id))
}

// Ensure makes the network's HAProxy serve c's rules: started when none runs, reloaded with
// -sf (connections in flight finish on the old process) when the configuration changed, left
// alone otherwise. No rule stops it. A configuration HAProxy refuses changes nothing.
func (m *Manager) Ensure(ctx context.Context, id string, c Config) error {
	if err := nsproc.CheckID(id); err != nil {
		return fmt.Errorf("haproxy: %w", err)
	}
	if err := c.check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(c.Rules) == 0 {
		return m.stop(ctx, id)
	}
	f := m.files(id)
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return fmt.Errorf("haproxy: state dir: %w", err)
	}
	cfg := render(id, c, f.sock, m.RunAs)
	old, _ := os.ReadFile(f.cfg)
	pid := m.pid(f)
	if pid != 0 && string(old) == string(cfg) {
		return nil
	}
	if err := os.WriteFile(f.next, cfg, 0o600); err != nil {
		return fmt.Errorf("haproxy: write config: %w", err)
	}
	if _, err := nsproc.Run(ctx, c.Namespace, m.Binary, "-c", "-q", "-f", f.next); err != nil {
		os.Remove(f.next)
		return fmt.Errorf("haproxy: configuration for network %s refused: %w", id, err)
	}
	if err := os.Rename(f.next, f.cfg); err != nil {
		return fmt.Errorf("haproxy: install config: %w", err)
	}
	args := []string{"-f", f.cfg, "-p", f.pid, "-D"}
	if pid != 0 {
		args = append(args, "-sf", strconv.Itoa(pid))
	}
	// -D: the parent exits once the new process has bound its sockets; a failure to bind is
	// its exit status. With -sf the new process then tells the old one to stop listening and
	// leave when its connections end.
	if _, err := nsproc.Run(ctx, c.Namespace, m.Binary, args...); err != nil {
		if pid == 0 {
			return fmt.Errorf("haproxy: start for network %s: %w", id, err)
		}
		// Put the old file back: it is what still runs, and the next Ensure must see the
		// new rules as a change to apply.
		if werr := os.WriteFile(f.cfg, old, 0o600); werr != nil {
			err = errors.Join(err, werr)
		}
		return fmt.Errorf("haproxy: reload for network %s (the old process %d still serves the old rules): %w", id, pid, err)
	}
	newPID := m.pid(f)
	if newPID == 0 || newPID == pid {
		return fmt.Errorf("haproxy: network %s: no new process behind %s after start", id, f.pid)
	}
	if pid == 0 {
		m.log.Info("started", "network", id, "pid", newPID, "rules", len(c.Rules))
	} else {
		m.log.Info("reloaded", "network", id, "pid", newPID, "old", pid, "rules", len(c.Rules))
	}
	return nil
}

// Stop stops the network's HAProxy, draining processes included, and removes its files.
func (m *Manager) Stop(ctx context.Context, id string) error {
	if err := nsproc.CheckID(id); err != nil {
		return fmt.Errorf("haproxy: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stop(ctx, id)
}

func (m *Manager) stop(ctx context.Context, id string) error {
	f := m.files(id)
	var errs []error
	for _, pid := range nsproc.FindByArg(f.cfg) {
		if err := nsproc.Stop(ctx, pid, 5*time.Second, f.cfg); err != nil {
			errs = append(errs, fmt.Errorf("haproxy: stop network %s: %w", id, err))
			continue
		}
		m.log.Info("stopped", "network", id, "pid", pid)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := os.RemoveAll(f.dir); err != nil {
		return fmt.Errorf("haproxy: remove state of network %s: %w", id, err)
	}
	return nil
}

// Instance is one network's HAProxy as List finds it.
type Instance struct {
	ID      string
	PID     int
	Running bool
}

// List returns the networks with HAProxy state on this host.
func (m *Manager) List() ([]Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids, err := nsproc.IDs(m.stateDir)
	if err != nil {
		return nil, fmt.Errorf("haproxy: list: %w", err)
	}
	out := make([]Instance, 0, len(ids))
	for _, id := range ids {
		pid := m.pid(m.files(id))
		out = append(out, Instance{ID: id, PID: pid, Running: pid != 0})
	}
	return out, nil
}

// Sweep stops and removes every network's HAProxy but those in keep.
func (m *Manager) Sweep(ctx context.Context, keep []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids, err := nsproc.IDs(m.stateDir)
	if err != nil {
		return fmt.Errorf("haproxy: sweep: %w", err)
	}
	var errs []error
	for _, id := range ids {
		if !slices.Contains(keep, id) {
			m.log.Info("sweeping leftover", "network", id)
			errs = append(errs, m.stop(ctx, id))
		}
	}
	return errors.Join(errs...)
}
