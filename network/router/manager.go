package router

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Host-side veth names: a prefix and 8 hex digits of the id's hash (12 characters).
const (
	hostGuestPrefix  = "atrg"
	hostPublicPrefix = "atrp"
)

// socketTimeout bounds each netlink send and receive.
const socketTimeout = 10 * time.Second

// Manager creates, converges and removes router namespaces. Its methods are safe for
// concurrent use; they run one at a time.
type Manager struct {
	mu   sync.Mutex
	host *netlink.Handle // the host's namespace: bridges and the host ends of the veths
	dir  string          // where the namespaces are pinned
	log  *slog.Logger
}

// Option changes a Manager's defaults.
type Option func(*managerConfig)

type managerConfig struct {
	host netns.NsHandle
	dir  string
}

// WithHostNetns makes the Manager treat ns as the host's namespace (where the bridges
// are); the default is the namespace of the thread calling New. Tests pass a throwaway one.
func WithHostNetns(ns netns.NsHandle) Option { return func(c *managerConfig) { c.host = ns } }

// WithNetnsDir pins the router namespaces in dir instead of DefaultNetnsDir.
func WithNetnsDir(dir string) Option { return func(c *managerConfig) { c.dir = dir } }

// New opens a Manager. Close releases its netlink socket.
func New(log *slog.Logger, opts ...Option) (*Manager, error) {
	cfg := managerConfig{host: netns.None(), dir: DefaultNetnsDir}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := netlink.NewHandleAt(cfg.host, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	if err := h.SetSocketTimeout(socketTimeout); err != nil {
		h.Close()
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{host: h, dir: cfg.dir, log: log.With("component", "network/router")}, nil
}

// Close releases the Manager's netlink socket.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.host.Close()
}

// NetnsName is the router namespace's name for a network id.
func NetnsName(id string) string { return nsPrefix + id }

// Path is the file that pins the router namespace of a network: open it and setns(2), or
// give it to nsenter --net=, to run something inside.
func (m *Manager) Path(id string) string { return filepath.Join(m.dir, NetnsName(id)) }

// hostNames are the host-side veth names of a network's router.
func hostNames(id string) (guest, public string) {
	h := sha256.Sum256([]byte(id))
	x := hex.EncodeToString(h[:4])
	return hostGuestPrefix + x, hostPublicPrefix + x
}

// Do runs fn with the calling goroutine's thread inside the router namespace of id, and
// puts the thread back afterwards: sockets fn opens and processes it starts live in the
// router namespace. Goroutines fn starts do not (they run on other threads); a process
// started with SysProcAttr.Pdeathsig gets its signal when that thread ends, which Go may
// do at any time after fn returns.
func (m *Manager) Do(id string, fn func() error) error {
	if err := checkID(id); err != nil {
		return err
	}
	path := m.Path(id)
	ok, err := isNetns(path)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("router %s: %w", id, os.ErrNotExist)
	}
	return inNetns(path, fn)
}

// List returns the ids of the router namespaces present, sorted.
func (m *Manager) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(m.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", m.dir, err)
	}
	var ids []string
	for _, e := range ents {
		if id, ok := strings.CutPrefix(e.Name(), nsPrefix); ok && checkID(id) == nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Remove deletes a router: its nftables table, its veths (both ends) and its namespace.
// Processes still running inside keep an empty namespace alive until they end; the caller
// stops its daemons first. No error when the router is not there.
func (m *Manager) Remove(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.remove(id)
}

func (m *Manager) remove(id string) error {
	path := m.Path(id)
	var errs []error
	if ok, err := isNetns(path); err != nil {
		errs = append(errs, err)
	} else if ok {
		if err := m.inside(path, func(ns netns.NsHandle) error {
			c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
			if err != nil {
				return fmt.Errorf("nftables in %s: %w", path, err)
			}
			return deleteTable(c)
		}); err != nil {
			errs = append(errs, err)
		}
	}
	g, p := hostNames(id)
	for _, name := range []string{g, p} {
		if err := m.delLink(name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := deleteNetns(path); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove router %s: %w", id, err)
	}
	m.log.Info("router removed", "id", id)
	return nil
}

// inside opens the namespace at path and runs fn with it.
func (m *Manager) inside(path string, fn func(netns.NsHandle) error) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", path, err)
	}
	defer ns.Close()
	return fn(ns)
}

// delLink deletes a host link by name; no error when it is not there.
func (m *Manager) delLink(name string) error {
	l, err := m.host.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if err := m.host.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// Sweep removes every router namespace whose id is not in keep, and every host-side
// router veth (atrg*, atrp*) that belongs to none of keep: what an agent runs once it
// knows from the management server which routers it should have.
func (m *Manager) Sweep(ctx context.Context, keep []string) error {
	ids, err := m.List(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, id := range ids {
		if slices.Contains(keep, id) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		m.log.Info("sweeping a router that should not be here", "id", id)
		if err := m.remove(id); err != nil {
			errs = append(errs, err)
		}
	}
	kept := map[string]bool{}
	for _, id := range keep {
		g, p := hostNames(id)
		kept[g], kept[p] = true, true
	}
	links, err := m.host.LinkList()
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list host links: %w", err))...)
	}
	for _, l := range links {
		name := l.Attrs().Name
		if l.Type() != "veth" || kept[name] || !isRouterVeth(name) {
			continue
		}
		m.log.Info("sweeping a router veth that belongs to no router", "link", name)
		if err := m.host.LinkDel(l); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// isRouterVeth reports whether a host link name is one this package makes.
func isRouterVeth(name string) bool {
	for _, p := range []string{hostGuestPrefix, hostPublicPrefix} {
		if x, ok := strings.CutPrefix(name, p); ok && len(x) == 8 {
			if _, err := hex.DecodeString(x); err == nil {
				return true
			}
		}
	}
	return false
}

// isNotFound reports whether err says the link does not exist.
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}
