package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsSysctls are set in every router namespace before its devices exist (the default/
// values are what new devices start from): routing on, ICMP redirects off (guests reach
// each other through the router when they use public IPs), secondary addresses promoted
// when a primary goes (public IPs come and go), and a gratuitous ARP whenever a device
// comes up or changes its MAC (a router moved to another host announces itself).
var nsSysctls = []struct{ name, value string }{
	{"net/ipv4/ip_forward", "1"},
	{"net/ipv4/conf/all/send_redirects", "0"},
	{"net/ipv4/conf/default/send_redirects", "0"},
	{"net/ipv4/conf/all/promote_secondaries", "1"},
	{"net/ipv4/conf/default/promote_secondaries", "1"},
	{"net/ipv4/conf/all/arp_notify", "1"},
	{"net/ipv4/conf/default/arp_notify", "1"},
}

// Apply makes the router of s.ID what s says: it creates or converges the namespace, its
// sysctls, the veths into the bridges, the addresses, the default route and the nftables
// table. It is idempotent: applying the same spec again changes nothing. Bad input is
// refused before anything is touched; a failure half way removes what this call created.
func (m *Manager) Apply(ctx context.Context, s Spec) error {
	if err := s.check(); err != nil {
		return err
	}
	start := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	log := m.log.With("id", s.ID)
	undo := &reverter{}
	defer undo.run(log) // no-op after undo.success
	path := m.Path(s.ID)

	ok, err := isNetns(path)
	if err != nil {
		return err
	}
	if !ok {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", path, err)
		}
		if err := createNetns(path); err != nil {
			return err
		}
		undo.add("delete namespace "+path, func() error { return deleteNetns(path) })
		log.Info("router namespace created", "path", path)
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", path, err)
	}
	defer ns.Close()
	in, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink handle in %s: %w", path, err)
	}
	defer in.Close()
	if err := in.SetSocketTimeout(socketTimeout); err != nil {
		return fmt.Errorf("netlink handle in %s: %w", path, err)
	}
	nc, err := nftables.New(nftables.WithNetNSFd(int(ns)), nftables.AsLasting())
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", path, err)
	}
	defer nc.CloseLasting()

	if err := inNetns(path, func() error {
		for _, sc := range nsSysctls {
			if err := writeSysctl(sc.name, sc.value); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	lo, err := in.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback in %s: %w", path, err)
	}
	if lo.Attrs().Flags&net.FlagUp == 0 {
		if err := in.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up in %s: %w", path, err)
		}
	}

	// The firewall comes first: a new router's links come up behind it, and a changed one
	// swaps its whole ruleset in one step.
	nftStart := time.Now()
	changed, err := (&nftApplier{c: nc, log: log}).apply(&s)
	if err != nil {
		return err
	}
	nftTook := time.Since(nftStart)
	if err := ctx.Err(); err != nil {
		return err
	}

	hostGuest, hostPublic := hostNames(s.ID)
	r := &routerLinks{m: m, in: in, ns: ns, path: path, log: log, undo: undo}
	if err := r.leg(ctx, hostGuest, guestDev, &s.Guest); err != nil {
		return err
	}
	if s.Public != nil {
		if err := r.leg(ctx, hostPublic, publicDev, s.Public); err != nil {
			return err
		}
		if err := r.defaultRoute(s.Public.Gateway); err != nil {
			return err
		}
	} else if err := m.delLink(hostPublic); err != nil {
		return err
	}
	undo.success()
	log.Debug("router applied", "nft_changed", changed, "nft_took", nftTook, "took", time.Since(start))
	return nil
}

// routerLinks converges one router's veths.
type routerLinks struct {
	m    *Manager
	in   *netlink.Handle // inside the router namespace
	ns   netns.NsHandle
	path string
	log  *slog.Logger
	undo *reverter
}

// leg makes the veth hostName <-> inName, the host end a port of the side's bridge, the
// inner end with the side's MAC and addresses, both up. A new inner end is brought up after
// its addresses, which announces them (arp_notify); addresses added to a link already up
// are announced with a gratuitous ARP.
func (r *routerLinks) leg(ctx context.Context, hostName, inName string, sd *Side) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	br, err := r.m.host.LinkByName(sd.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", sd.Bridge, err)
	}
	if br.Type() != "bridge" {
		return fmt.Errorf("%s is a %s, not a bridge", sd.Bridge, br.Type())
	}
	mtu := br.Attrs().MTU
	hl, il, err := r.pair(hostName, inName)
	if err != nil {
		return err
	}
	if hl == nil {
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: hostName, MTU: mtu, MasterIndex: br.Attrs().Index},
			PeerName:      inName,
			PeerMTU:       uint32(mtu),
			PeerNamespace: netlink.NsFd(int(r.ns)),
		}
		if sd.MAC != nil {
			veth.PeerHardwareAddr = sd.MAC
		}
		if err := r.m.host.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s <-> %s in %s: %w", hostName, inName, r.path, err)
		}
		r.undo.add("delete veth "+hostName, func() error { return r.m.delLink(hostName) })
		r.log.Info("router veth created", "host", hostName, "inside", inName, "bridge", sd.Bridge)
		if hl, il, err = r.pair(hostName, inName); err != nil {
			return err
		}
		if hl == nil {
			return fmt.Errorf("veth %s <-> %s vanished after create", hostName, inName)
		}
	}
	ha := hl.Attrs()
	if ha.MasterIndex != br.Attrs().Index {
		if err := r.m.host.LinkSetMaster(hl, br); err != nil {
			return fmt.Errorf("attach %s to %s: %w", hostName, sd.Bridge, err)
		}
	}
	if ha.MTU != mtu {
		if err := r.m.host.LinkSetMTU(hl, mtu); err != nil {
			return fmt.Errorf("set mtu %d on %s: %w", mtu, hostName, err)
		}
	}
	if il.Attrs().MTU != mtu {
		if err := r.in.LinkSetMTU(il, mtu); err != nil {
			return fmt.Errorf("set mtu %d on %s: %w", mtu, inName, err)
		}
	}
	if sd.MAC != nil && !slices.Equal(il.Attrs().HardwareAddr, sd.MAC) {
		// A MAC change on a link that is up is announced too (arp_notify).
		if err := r.in.LinkSetHardwareAddr(il, sd.MAC); err != nil {
			return fmt.Errorf("set mac %s on %s: %w", sd.MAC, inName, err)
		}
	}
	if ha.Flags&net.FlagUp == 0 {
		if err := r.m.host.LinkSetUp(hl); err != nil {
			return fmt.Errorf("set %s up: %w", hostName, err)
		}
	}
	added, err := r.addrs(il, sd.Addrs)
	if err != nil {
		return err
	}
	if il.Attrs().Flags&net.FlagUp == 0 {
		if err := r.in.LinkSetUp(il); err != nil {
			return fmt.Errorf("set %s up in %s: %w", inName, r.path, err)
		}
		added = nil
		for _, p := range sd.Addrs {
			added = append(added, p.Addr())
		}
	}
	// A new veth drops what it sends until the kernel has activated its queue (link
	// watch, asynchronous): wait for both ends to be operationally up before announcing,
	// and before telling the caller the router is there.
	if err := waitOperUp(ctx, r.m.host, hostName); err != nil {
		return err
	}
	if err := waitOperUp(ctx, r.in, inName); err != nil {
		return err
	}
	if len(added) > 0 {
		// arp_notify announced a link that just came up; saying it again costs nothing and
		// does not depend on when the kernel's queue starts.
		if err := r.announce(inName, added); err != nil {
			r.log.Warn("gratuitous ARP", "link", inName, "err", err)
		}
	}
	return nil
}

// operUpTimeout bounds the wait for a veth's ends to become operationally up.
const operUpTimeout = 3 * time.Second

// waitOperUp waits until the link's operational state is up.
func waitOperUp(ctx context.Context, h *netlink.Handle, name string) error {
	deadline := time.Now().Add(operUpTimeout)
	for {
		l, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("look up %s: %w", name, err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not operationally up after %v (state %s)", name, operUpTimeout, l.Attrs().OperState)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// pair returns the two ends of a router veth when they are each other's peers. Ends that
// are not (one missing, or left from another router) are deleted, and nil returned.
func (r *routerLinks) pair(hostName, inName string) (netlink.Link, netlink.Link, error) {
	hl, err := r.m.host.LinkByName(hostName)
	if err != nil && !isNotFound(err) {
		return nil, nil, fmt.Errorf("look up %s: %w", hostName, err)
	}
	il, err := r.in.LinkByName(inName)
	if err != nil && !isNotFound(err) {
		return nil, nil, fmt.Errorf("look up %s in %s: %w", inName, r.path, err)
	}
	if hl != nil && il != nil && hl.Type() == "veth" && il.Type() == "veth" &&
		hl.Attrs().ParentIndex == il.Attrs().Index && il.Attrs().ParentIndex == hl.Attrs().Index {
		return hl, il, nil
	}
	if hl != nil {
		r.log.Warn("deleting a router veth end without its peer", "link", hostName)
		if err := r.m.host.LinkDel(hl); err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("delete %s: %w", hostName, err)
		}
	}
	if il != nil {
		r.log.Warn("deleting a router veth end without its peer", "link", inName, "netns", r.path)
		if err := r.in.LinkDel(il); err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("delete %s in %s: %w", inName, r.path, err)
		}
	}
	return nil, nil, nil
}

// addrs makes the link's IPv4 addresses exactly want, adding in want's order (the first of
// a subnet is its primary). It returns the addresses it added.
func (r *routerLinks) addrs(l netlink.Link, want []netip.Prefix) ([]netip.Addr, error) {
	cur, err := r.in.AddrList(l, unix.AF_INET)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	have := map[netip.Prefix]bool{}
	for _, a := range cur {
		p, ok := prefixOf(a.IPNet)
		if !ok {
			continue
		}
		if slices.Contains(want, p) {
			have[p] = true
			continue
		}
		if err := r.in.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return nil, fmt.Errorf("delete %s from %s: %w", p, l.Attrs().Name, err)
		}
		r.log.Info("router address removed", "link", l.Attrs().Name, "addr", p)
	}
	var added []netip.Addr
	for _, p := range want {
		if have[p] {
			continue
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
		if err := r.in.AddrAdd(l, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("add %s to %s: %w", p, l.Attrs().Name, err)
		}
		added = append(added, p.Addr())
		r.log.Info("router address added", "link", l.Attrs().Name, "addr", p)
	}
	return added, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits), true
}

// defaultRoute makes the namespace's IPv4 default route go by gw on the public side, or
// removes it when gw is not valid.
func (r *routerLinks) defaultRoute(gw netip.Addr) error {
	routes, err := r.in.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes in %s: %w", r.path, err)
	}
	pub, err := r.in.LinkByName(publicDev)
	if err != nil {
		return fmt.Errorf("look up %s in %s: %w", publicDev, r.path, err)
	}
	for _, rt := range routes {
		if rt.Dst != nil && !isDefault(rt.Dst) {
			continue
		}
		if gw.IsValid() && rt.LinkIndex == pub.Attrs().Index && rt.Gw != nil && rt.Gw.Equal(net.IP(gw.AsSlice())) {
			return nil
		}
		if err := r.in.RouteDel(&rt); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete default route in %s: %w", r.path, err)
		}
	}
	if !gw.IsValid() {
		return nil
	}
	rt := &netlink.Route{LinkIndex: pub.Attrs().Index, Gw: net.IP(gw.AsSlice()), Table: unix.RT_TABLE_MAIN}
	if err := r.in.RouteReplace(rt); err != nil {
		return fmt.Errorf("default route via %s in %s: %w", gw, r.path, err)
	}
	r.log.Info("router default route set", "gateway", gw)
	return nil
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}

// reverter holds the undo steps of a change that takes several; run undoes them newest
// first unless success was called. Undo errors are logged: the first error is what the
// caller reports.
type reverter struct {
	steps []undoStep
	done  bool
}

type undoStep struct {
	what string
	fn   func() error
}

func (r *reverter) add(what string, fn func() error) { r.steps = append(r.steps, undoStep{what, fn}) }

func (r *reverter) success() { r.done = true }

func (r *reverter) run(log *slog.Logger) {
	if r.done {
		return
	}
	for i := len(r.steps) - 1; i >= 0; i-- {
		if err := r.steps[i].fn(); err != nil {
			log.Warn("undo failed", "step", r.steps[i].what, "err", err)
		} else {
			log.Info("undone after a failed step", "step", r.steps[i].what)
		}
	}
	r.steps = nil
}
