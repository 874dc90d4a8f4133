package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

var (
	// ErrNotManaged is wrapped for a name this package does not own (no atbr- prefix).
	ErrNotManaged = errors.New("not an atbr- bridge")
	// ErrBusy is wrapped by Remove when guest ports are still attached and force is false.
	ErrBusy = errors.New("bridge has ports attached")
	// ErrNotBridge is wrapped when a link with the bridge's name exists but is no bridge.
	ErrNotBridge = errors.New("link exists and is not a bridge")
)

// Options shape a guest network's bridge. The zero value is a plain bridge with the
// kernel's default MTU, joined to nothing but the guests' own ports.
type Options struct {
	// MTU is set on the bridge and on its VLAN or VXLAN link; 0 leaves the kernel's choice
	// (a new bridge takes 1500, or its ports' smallest MTU once it has ports).
	MTU int
	// VLAN, when set, joins the bridge to the wire through an 802.1Q sub-interface.
	VLAN *VLANLink
	// VXLAN, when set, joins the bridge to other hosts through a VXLAN tunnel.
	VXLAN *VXLANLink
}

// VLANLink is an 802.1Q sub-interface "<Uplink>.<ID>" enslaved to the bridge.
type VLANLink struct {
	Uplink string // the host's device that carries tagged frames, e.g. "eth1" or "bond0"
	ID     int    // 1-4094
}

// VXLANLink is a tunnel "vxlan<VNI>" enslaved to the bridge, without MAC learning. Where
// broadcast and unknown frames go is either the peer VTEPs' all-zero FDB rows kept by
// Manager.SetPeers (head-end replication, the default) or, when Group is set, a multicast
// group the underlay carries.
type VXLANLink struct {
	VNI      int        // 1-16777215
	Local    netip.Addr // this host's underlay address: the tunnel's source
	Underlay string     // the device the tunnel's packets leave by
	Port     int        // UDP port; 0 is IANA's 4789
	// Group, when valid, is the multicast group the tunnel joins on Underlay instead of
	// head-end replication (CloudStack's multicast VXLAN; mind the host's
	// net.ipv4.igmp_max_memberships, 20 by default, which caps the groups per host).
	Group netip.Addr
}

// Info is one managed bridge as the kernel has it.
type Info struct {
	Name  string
	Index int
	MTU   int
	Up    bool // administratively up (IFF_UP)
	Ports []Port
}

// Port is one device enslaved to a bridge.
type Port struct {
	Name  string
	Index int
	Type  string // netlink's link type: "tuntap", "veth", "vxlan", "vlan", ...
}

// own reports whether the port is a bridge's own link to the wire (its VLAN sub-interface
// or VXLAN tunnel), which Remove deletes with the bridge, rather than a guest's port.
func (p Port) own() bool { return p.Type == "vlan" || p.Type == "vxlan" }

// Manager creates, lists and removes the atbr-* bridges of one network namespace. Its
// methods are safe for concurrent use; they run one at a time.
type Manager struct {
	mu  sync.Mutex
	h   *netlink.Handle
	log *slog.Logger
}

// New opens a Manager on the network namespace ns; netns.None() means the namespace of the
// calling thread (the host's, for the agent). Close releases its netlink sockets.
func New(ns netns.NsHandle, log *slog.Logger) (*Manager, error) {
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	// A kernel that stops answering fails the call instead of hanging the agent.
	if err := h.SetSocketTimeout(socketTimeout); err != nil {
		h.Close()
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{h: h, log: log.With("component", "network/bridge")}, nil
}

// Close releases the Manager's netlink sockets.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.h.Close()
}

// socketTimeout bounds each netlink send and receive.
const socketTimeout = 10 * time.Second

// dumpRetries bounds the retries of a link dump the kernel interrupted (NLM_F_DUMP_INTR:
// links changed while it was dumping).
const dumpRetries = 5

// links dumps every link, again while the kernel reports the dump interrupted.
func (m *Manager) links(ctx context.Context) ([]netlink.Link, error) {
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ls, err := m.h.LinkList()
		if err == nil {
			return ls, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) || i+1 >= dumpRetries {
			return nil, fmt.Errorf("list links: %w", err)
		}
		m.log.Debug("link dump interrupted, retrying", "try", i+1)
	}
}

// byName returns the link called name, or nil when there is none.
func (m *Manager) byName(name string) (netlink.Link, error) {
	l, err := m.h.LinkByName(name)
	if isNotFound(err) {
		return nil, nil
	}
	return l, err
}

// isNotFound reports whether err says the link does not exist.
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// List returns the atbr-* bridges, sorted by name, each with its ports sorted by name.
func (m *Manager) List(ctx context.Context) ([]Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ls, err := m.links(ctx)
	if err != nil {
		return nil, err
	}
	var out []Info
	byIndex := map[int]int{}
	for _, l := range ls {
		a := l.Attrs()
		if _, ok := l.(*netlink.Bridge); !ok || !strings.HasPrefix(a.Name, Prefix) {
			continue
		}
		byIndex[a.Index] = len(out)
		out = append(out, Info{Name: a.Name, Index: a.Index, MTU: a.MTU, Up: a.Flags&net.FlagUp != 0})
	}
	for _, l := range ls {
		a := l.Attrs()
		if i, ok := byIndex[a.MasterIndex]; ok && a.MasterIndex != 0 {
			out[i].Ports = append(out[i].Ports, Port{Name: a.Name, Index: a.Index, Type: l.Type()})
		}
	}
	for i := range out {
		sort.Slice(out[i].Ports, func(a, b int) bool { return out[i].Ports[a].Name < out[i].Ports[b].Name })
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

// Ensure makes the bridge called name exist and be up, with opts' MTU and its VLAN or VXLAN
// link when given. It is idempotent: an existing bridge is kept (its MTU set when opts has
// one) and so are its links when they match. When a step fails, the links this call created
// are deleted again; changes to links that existed before (MTU, up) are not undone.
func (m *Manager) Ensure(ctx context.Context, name string, opts Options) (err error) {
	if err := checkBridgeName(name); err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if err := opts.check(); err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var undo reverter
	defer func() {
		if err != nil {
			undo.run(m.log)
			err = fmt.Errorf("bridge %s: %w", name, err)
		}
	}()
	br, err := m.ensureBridge(ctx, name, opts.MTU, &undo)
	if err != nil {
		return err
	}
	switch {
	case opts.VLAN != nil:
		err = m.ensureVLAN(ctx, br, *opts.VLAN, opts.MTU, &undo)
	case opts.VXLAN != nil:
		err = m.ensureVXLAN(ctx, br, *opts.VXLAN, opts.MTU, &undo)
	}
	return err
}

// ensureBridge finds or creates the bridge, sets its MTU and brings it up.
func (m *Manager) ensureBridge(ctx context.Context, name string, mtu int, undo *reverter) (netlink.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l, err := m.byName(name)
	if err != nil {
		return nil, fmt.Errorf("look up: %w", err)
	}
	if l == nil {
		nb := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu}}
		switch err := m.h.LinkAdd(nb); {
		case errors.Is(err, unix.EEXIST): // made meanwhile by another process: use it
		case err != nil:
			return nil, fmt.Errorf("create: %w", err)
		default:
			m.log.Info("bridge created", "bridge", name)
			undo.add("delete bridge "+name, func() error { return m.h.LinkDel(nb) })
		}
		if l, err = m.h.LinkByName(name); err != nil {
			return nil, fmt.Errorf("look up after create: %w", err)
		}
	}
	if _, ok := l.(*netlink.Bridge); !ok {
		return nil, fmt.Errorf("%w: it is a %s", ErrNotBridge, l.Type())
	}
	if mtu > 0 && l.Attrs().MTU != mtu {
		if err := m.h.LinkSetMTU(l, mtu); err != nil {
			return nil, fmt.Errorf("set mtu %d: %w", mtu, err)
		}
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := m.h.LinkSetUp(l); err != nil {
			return nil, fmt.Errorf("set up: %w", err)
		}
	}
	return l, nil
}

// Remove deletes the bridge called name with its own VLAN or VXLAN link. It refuses, with
// ErrBusy, while other ports (guests' taps) are attached, unless force is true: then those
// ports are detached and left to their owners (libvirt deletes its taps). A missing bridge
// is no error; a name without the atbr- prefix is refused with ErrNotManaged.
func (m *Manager) Remove(ctx context.Context, name string, force bool) error {
	if err := checkBridgeName(name); err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.remove(ctx, name, force); err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	return nil
}

func (m *Manager) remove(ctx context.Context, name string, force bool) error {
	ls, err := m.links(ctx)
	if err != nil {
		return err
	}
	var br netlink.Link
	for _, l := range ls {
		if l.Attrs().Name == name {
			br = l
		}
	}
	if br == nil {
		return nil
	}
	if _, ok := br.(*netlink.Bridge); !ok {
		return fmt.Errorf("%w: it is a %s", ErrNotBridge, br.Type())
	}
	var own, guests []netlink.Link
	var guestNames []string
	for _, l := range ls {
		if l.Attrs().MasterIndex != br.Attrs().Index {
			continue
		}
		if (Port{Type: l.Type()}).own() {
			own = append(own, l)
		} else {
			guests = append(guests, l)
			guestNames = append(guestNames, l.Attrs().Name)
		}
	}
	if len(guests) > 0 && !force {
		sort.Strings(guestNames)
		return fmt.Errorf("%w: %s", ErrBusy, strings.Join(guestNames, ", "))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, l := range guests {
		if err := m.h.LinkSetNoMaster(l); err != nil {
			return fmt.Errorf("detach port %s: %w", l.Attrs().Name, err)
		}
		m.log.Info("port detached", "bridge", name, "port", l.Attrs().Name)
	}
	for _, l := range own {
		if err := m.h.LinkDel(l); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete %s link %s: %w", l.Type(), l.Attrs().Name, err)
		}
		m.log.Info("link deleted", "bridge", name, "link", l.Attrs().Name)
	}
	if err := m.h.LinkDel(br); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete: %w", err)
	}
	m.log.Info("bridge deleted", "bridge", name, "detached", len(guests))
	return nil
}
