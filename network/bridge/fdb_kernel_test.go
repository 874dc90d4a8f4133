package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/network/internal/netnstest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// vtepHost is one "host" of the multi-host tests: a namespace joined to the underlay
// bridge by its eth0, with a Manager of its own.
type vtepHost struct {
	*netnstest.NS
	m    *Manager
	addr netip.Addr
}

func newVTEPHost(t *testing.T, underlay *netnstest.NS, i int) *vtepHost {
	t.Helper()
	ns := netnstest.New(t, fmt.Sprintf("host%d", i))
	netnstest.Veth(t, underlay, fmt.Sprintf("ul-h%d", i), ns, "eth0", nil)
	underlay.Plug(t, fmt.Sprintf("ul-h%d", i), "ul")
	addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) // TEST-NET-1, only inside these namespaces
	ns.Addr(t, "eth0", addr.String()+"/24")
	log := slog.New(slog.NewTextHandler(t.Output(), nil)).With("host", i)
	m, err := New(ns.Handle, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return &vtepHost{NS: ns, m: m, addr: addr}
}

// network puts VNI vni's bridge and tunnel on the host (by Manager.Ensure) and one guest
// stand-in namespace on it, with address guest/24, serving TCP on :7000.
func (h *vtepHost) network(t *testing.T, vni int, group netip.Addr, guest string) *netnstest.NS {
	t.Helper()
	br := fmt.Sprintf("atbr-x%d", vni)
	opts := Options{MTU: 1450, VXLAN: &VXLANLink{VNI: vni, Local: h.addr, Underlay: "eth0", Group: group}}
	if err := h.m.Ensure(context.Background(), br, opts); err != nil {
		t.Fatalf("%s: Ensure %s: %v", h.Name, br, err)
	}
	g := netnstest.New(t, h.Name+"-guest"+guest)
	port := fmt.Sprintf("vm%d-%s", vni, strings.ReplaceAll(guest, ".", ""))
	netnstest.Veth(t, h.NS, port, g, "eth0", nil)
	h.Plug(t, port, br)
	if err := g.H.LinkSetMTU(g.Link(t, "eth0"), 1450); err != nil {
		t.Fatal(err)
	}
	g.Addr(t, "eth0", guest+"/24")
	g.Serve(t, guest+":7000")
	return g
}

// reach says whether from can open a TCP connection to to's guest address and read it.
func reach(from *netnstest.NS, to string) error {
	got, err := from.Dial(to+":7000", netip.Addr{}, 1500*time.Millisecond)
	if err == nil && !strings.HasPrefix(got, "hi from ") {
		err = fmt.Errorf("unexpected greeting %q", got)
	}
	return err
}

func wantReach(t *testing.T, from *netnstest.NS, to string, want bool) {
	t.Helper()
	err := reach(from, to)
	switch {
	case want && err != nil:
		t.Fatalf("%s -> %s: %v, want a connection", from.Name, to, err)
	case !want && err == nil:
		t.Fatalf("%s -> %s connected, want no path", from.Name, to)
	}
}

func setPeers(t *testing.T, h *vtepHost, vni int, peers ...*vtepHost) {
	t.Helper()
	var addrs []netip.Addr
	for _, p := range peers {
		addrs = append(addrs, p.addr)
	}
	if err := timed(t, fmt.Sprintf("%s SetPeers(%d, %v)", h.Name, vni, addrs), func() error {
		return h.m.SetPeers(context.Background(), vni, addrs)
	}); err != nil {
		t.Fatalf("%s: SetPeers: %v", h.Name, err)
	}
}

func wantPeers(t *testing.T, h *vtepHost, vni int, want ...*vtepHost) {
	t.Helper()
	got, err := h.m.Peers(context.Background(), vni)
	if err != nil {
		t.Fatalf("%s: Peers: %v", h.Name, err)
	}
	var w []netip.Addr
	for _, p := range want {
		w = append(w, p.addr)
	}
	slices.SortFunc(w, func(a, b netip.Addr) int { return a.Compare(b) })
	if !slices.Equal(got, w) {
		t.Fatalf("%s: Peers(%d) = %v, want %v", h.Name, vni, got, w)
	}
}

// zeroRows counts the all-zero FDB rows of a host's vxlan<vni>, whatever their state, to
// catch duplicates Peers would fold.
func zeroRows(t *testing.T, h *vtepHost, vni int) int {
	t.Helper()
	l := h.Link(t, fmt.Sprintf("vxlan%d", vni))
	rows, err := h.H.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.HardwareAddr.String() == zeroMAC.String() {
			n++
		}
	}
	return n
}

// TestKernelVXLANPeers is head-end replication across three "hosts": namespaces joined by
// veths to an underlay bridge, each with a Manager-made bridge and tunnel per VNI and guest
// stand-in namespaces on them.
func TestKernelVXLANPeers(t *testing.T) {
	ctx := context.Background()
	underlay := netnstest.New(t, "underlay")
	underlay.Bridge(t, "ul")
	h1, h2, h3 := newVTEPHost(t, underlay, 1), newVTEPHost(t, underlay, 2), newVTEPHost(t, underlay, 3)
	g1 := h1.network(t, 100, netip.Addr{}, "10.1.0.1")
	g2 := h2.network(t, 100, netip.Addr{}, "10.1.0.2")

	// Without peers a tunnel goes nowhere.
	wantPeers(t, h1, 100)
	wantReach(t, g1, "10.1.0.2", false)

	setPeers(t, h1, 100, h1, h2) // its own address is dropped, not listed
	setPeers(t, h2, 100, h1)
	wantPeers(t, h1, 100, h2)
	wantPeers(t, h2, 100, h1)
	wantReach(t, g1, "10.1.0.2", true)
	wantReach(t, g2, "10.1.0.1", true)

	// Idempotent: the same list again changes nothing and leaves one row per peer.
	setPeers(t, h1, 100, h2, h2)
	if n := zeroRows(t, h1, 100); n != 1 {
		t.Fatalf("host1 has %d all-zero rows after a repeated SetPeers, want 1", n)
	}

	// The peer removed: broadcast (ARP) and unknown unicast no longer reach it. The guest's
	// ARP entry and the bridge's learnt MAC are flushed so the path is not served from caches.
	setPeers(t, h1, 100)
	wantPeers(t, h1, 100)
	if err := g1.H.NeighDel(&netlink.Neigh{LinkIndex: g1.Link(t, "eth0").Attrs().Index,
		IP: net.ParseIP("10.1.0.2")}); err != nil {
		t.Logf("flush guest arp entry: %v", err)
	}
	if err := flushLearnt(h1, "vxlan100"); err != nil {
		t.Fatal(err)
	}
	wantReach(t, g1, "10.1.0.2", false)

	// A third host joins: full mesh again, and its guest reaches both.
	g3 := h3.network(t, 100, netip.Addr{}, "10.1.0.3")
	setPeers(t, h1, 100, h2, h3)
	setPeers(t, h2, 100, h1, h3)
	setPeers(t, h3, 100, h1, h2)
	wantPeers(t, h3, 100, h1, h2)
	wantReach(t, g3, "10.1.0.1", true)
	wantReach(t, g3, "10.1.0.2", true)
	wantReach(t, g1, "10.1.0.2", true)

	// A second VNI on the same hosts, same subnet: its guests reach each other and never
	// the first VNI's.
	g1b := h1.network(t, 200, netip.Addr{}, "10.1.0.11")
	g2b := h2.network(t, 200, netip.Addr{}, "10.1.0.12")
	setPeers(t, h1, 200, h2)
	setPeers(t, h2, 200, h1)
	wantReach(t, g1b, "10.1.0.12", true)
	wantReach(t, g1b, "10.1.0.2", false)
	wantReach(t, g2b, "10.1.0.1", false)
	wantReach(t, g1, "10.1.0.12", false)
	wantPeers(t, h1, 100, h2, h3) // the other VNI's rows are its own

	// Bad input changes nothing.
	for _, bad := range [][]netip.Addr{
		{netip.MustParseAddr("239.1.1.1")},
		{netip.MustParseAddr("2001:db8::1")},
		{{}},
	} {
		if err := h1.m.SetPeers(ctx, 100, bad); err == nil {
			t.Fatalf("SetPeers(%v) succeeded", bad)
		}
	}
	wantPeers(t, h1, 100, h2, h3)
	if err := h1.m.SetPeers(ctx, 999, nil); err == nil || !strings.Contains(err.Error(), "vxlan999 does not exist") {
		t.Fatalf("SetPeers on a missing tunnel: %v", err)
	}
}

// flushLearnt deletes the dynamic (learnt) MAC rows the bridge holds for a port.
func flushLearnt(h *vtepHost, port string) error {
	l, err := h.H.LinkByName(port)
	if err != nil {
		return err
	}
	rows, err := h.H.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.Flags&netlink.NTF_MASTER != 0 && r.State&netlink.NUD_PERMANENT == 0 {
			r := r
			if err := h.H.NeighDel(&r); err != nil {
				return fmt.Errorf("delete learnt %v: %w", r.HardwareAddr, err)
			}
		}
	}
	return nil
}

// TestKernelVXLANGroup is the multicast option: tunnels made with a group, no FDB rows
// from SetPeers, and the guests on two hosts reach each other through the group.
func TestKernelVXLANGroup(t *testing.T) {
	underlay := netnstest.New(t, "underlay")
	underlay.Bridge(t, "ul")
	h1, h2 := newVTEPHost(t, underlay, 1), newVTEPHost(t, underlay, 2)
	group := netip.MustParseAddr("239.1.1.100")
	// No multicast route is needed: the tunnel sends to its group by its underlay device.
	g1 := h1.network(t, 300, group, "10.3.0.1")
	h2.network(t, 300, group, "10.3.0.2")
	vx, ok := h1.Link(t, "vxlan300").(*netlink.Vxlan)
	if !ok || !vx.Group.Equal(net.ParseIP("239.1.1.100")) {
		t.Fatalf("vxlan300 = %+v, want group 239.1.1.100", h1.Link(t, "vxlan300"))
	}
	wantPeers(t, h1, 300) // the kernel's own row for the group is no peer
	wantReach(t, g1, "10.3.0.2", true)

	// Idempotent, and another group for the same tunnel is refused, not silently kept.
	opts := Options{MTU: 1450, VXLAN: &VXLANLink{VNI: 300, Local: h1.addr, Underlay: "eth0", Group: group}}
	if err := h1.m.Ensure(context.Background(), "atbr-x300", opts); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	opts.VXLAN.Group = netip.MustParseAddr("239.1.1.101")
	if err := h1.m.Ensure(context.Background(), "atbr-x300", opts); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Fatalf("Ensure with another group: %v", err)
	}
	opts.VXLAN.Group = netip.Addr{}
	if err := h1.m.Ensure(context.Background(), "atbr-x300", opts); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Fatalf("Ensure without the group: %v", err)
	}
}
