package router

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func TestKernelSourceNATAndGatewayPing(t *testing.T) {
	l, g1, g2, out, s := standard(t)
	out.listen(t, "tcp4", 8000)
	g1.reaches(t, outsideA.Addr(), 8000, "out", pubSNAT.Addr())
	g2.reaches(t, outsideA.Addr(), 8000, "out", pubSNAT.Addr())
	if !g1.ping(t, guestGW.Addr()) {
		t.Fatal("the router does not answer ping on its guest gateway")
	}
	if out.ping(t, pubSNAT.Addr()) {
		t.Fatal("the public IP answers ping with no firewall rule")
	}
	// The outside cannot reach a guest directly.
	g1.listen(t, "tcp4", 22)
	out.blocked(t, g1Addr, 22)

	// An icmp rule opens ping to that public IP, and to no other.
	s.Ingress = []FirewallRule{{Public: pubSNAT.Addr(), Proto: "icmp", ICMPType: 8, ICMPCode: -1}}
	l.apply(s)
	if !out.ping(t, pubSNAT.Addr()) {
		t.Fatal("the public IP does not answer ping with an icmp echo-request rule")
	}
	if out.ping(t, pubPF.Addr()) {
		t.Fatal("another public IP answers ping")
	}
}

func TestKernelPortForwardNeedsFirewallRule(t *testing.T) {
	l, g1, _, out, s := standard(t)
	g1.listen(t, "tcp4", 22)
	s.PortForward = []PortForward{{Public: pubPF.Addr(), Proto: "tcp", PublicPorts: [2]uint16{2222, 2222},
		PrivatePorts: [2]uint16{22, 22}, Private: g1Addr}}
	l.apply(s)
	out.blocked(t, pubPF.Addr(), 2222)

	// A rule on the private port does not open it: rules match the original destination.
	s.Ingress = []FirewallRule{tcpRule(pubPF.Addr(), 22)}
	l.apply(s)
	out.blocked(t, pubPF.Addr(), 2222)

	s.Ingress = []FirewallRule{tcpRule(pubPF.Addr(), 2222)}
	l.apply(s)
	out.reaches(t, pubPF.Addr(), 2222, "g1", outsideA.Addr())
	// The forward goes to that IP only.
	out.blocked(t, pubSNAT.Addr(), 2222)

	// Guests reach it through the public IP too (hairpin), answered through the router.
	s.Ingress = append(s.Ingress, tcpRule(pubPF.Addr(), 2222, "10.1.1.0/24"))
	l.apply(s)
	g2 := l.host("g3", guestBridge, netip.MustParsePrefix("10.1.1.12/24"), guestGW.Addr())
	g2.reaches(t, pubPF.Addr(), 2222, "g1", guestGW.Addr())

	// Re-applied without the rule, new connections stop.
	s.Ingress = nil
	l.apply(s)
	out.blocked(t, pubPF.Addr(), 2222)
}

func TestKernelPortForwardRanges(t *testing.T) {
	l, g1, g2, out, s := standard(t)
	for _, p := range []int{8080, 8081, 9000, 9001} {
		g1.listen(t, "tcp4", p)
		g2.listen(t, "tcp4", p)
	}
	s.PortForward = []PortForward{
		// The same range on both sides: ports kept.
		{Public: pubPF.Addr(), Proto: "tcp", PublicPorts: [2]uint16{8080, 8081}, PrivatePorts: [2]uint16{8080, 8081}, Private: g1Addr},
		// A shifted range: port for port.
		{Public: pubPF.Addr(), Proto: "tcp", PublicPorts: [2]uint16{7000, 7001}, PrivatePorts: [2]uint16{9000, 9001}, Private: g2Addr},
	}
	s.Ingress = []FirewallRule{
		{Public: pubPF.Addr(), Proto: "tcp", Ports: [2]uint16{7000, 8081}, ICMPType: -1, ICMPCode: -1},
	}
	l.apply(s)
	out.reaches(t, pubPF.Addr(), 8080, "g1", outsideA.Addr())
	out.reaches(t, pubPF.Addr(), 8081, "g1", outsideA.Addr())
	out.reaches(t, pubPF.Addr(), 7000, "g2", outsideA.Addr())
	out.reaches(t, pubPF.Addr(), 7001, "g2", outsideA.Addr())
	got, err := g2.dial(t, g2Addr, 9001) // the listener is there; the mapping sent 7001 to it
	if err != nil || got != "g2 "+g2Addr.String() {
		t.Fatalf("local check of g2:9001: %q %v", got, err)
	}
}

func TestKernelStaticNAT(t *testing.T) {
	l, _, g2, out, s := standard(t)
	g2.listen(t, "tcp4", 80)
	out.listen(t, "tcp4", 8000)
	s.StaticNAT = []StaticNAT{{Public: pubSNAT1.Addr(), Private: g2Addr}}
	l.apply(s)
	// Out: g2 leaves by its static NAT address, not the source NAT one.
	g2.reaches(t, outsideA.Addr(), 8000, "out", pubSNAT1.Addr())
	// In: denied until a rule allows it.
	out.blocked(t, pubSNAT1.Addr(), 80)
	s.Ingress = []FirewallRule{tcpRule(pubSNAT1.Addr(), 80)}
	l.apply(s)
	out.reaches(t, pubSNAT1.Addr(), 80, "g2", outsideA.Addr())
	if out.ping(t, pubSNAT1.Addr()) {
		t.Fatal("ping through static NAT passed with a tcp-only rule")
	}
}

func TestKernelIngressSourceCIDR(t *testing.T) {
	l, g1, _, outA, s := standard(t)
	outB := l.host("outb", publicBridge, outsideB, netip.Addr{})
	g1.listen(t, "tcp4", 22)
	s.PortForward = []PortForward{{Public: pubPF.Addr(), Proto: "tcp", PublicPorts: [2]uint16{22, 22},
		PrivatePorts: [2]uint16{22, 22}, Private: g1Addr}}
	s.Ingress = []FirewallRule{tcpRule(pubPF.Addr(), 22, outsideA.Addr().String()+"/32")}
	l.apply(s)
	outA.reaches(t, pubPF.Addr(), 22, "g1", outsideA.Addr())
	outB.blocked(t, pubPF.Addr(), 22)
	// Two sources: both pass.
	s.Ingress = []FirewallRule{tcpRule(pubPF.Addr(), 22, "203.0.113.254/32", "203.0.113.252/31")}
	l.apply(s)
	outA.reaches(t, pubPF.Addr(), 22, "g1", outsideA.Addr())
	outB.reaches(t, pubPF.Addr(), 22, "g1", outsideB.Addr())
}

func TestKernelEgress(t *testing.T) {
	l, g1, g2, out, s := standard(t)
	out.listen(t, "tcp4", 8000)
	out.listen(t, "tcp4", 8001)
	egress := func(port uint16, sources ...string) EgressRule {
		r := EgressRule{Proto: "tcp", Ports: [2]uint16{port, port}, ICMPType: -1, ICMPCode: -1}
		for _, s := range sources {
			r.Sources = append(r.Sources, netip.MustParsePrefix(s))
		}
		return r
	}

	t.Run("default allow: rules deny", func(t *testing.T) {
		s.EgressDefaultAllow = true
		s.Egress = []EgressRule{egress(8000)}
		l.apply(s)
		g1.blocked(t, outsideA.Addr(), 8000)
		g1.reaches(t, outsideA.Addr(), 8001, "out", pubSNAT.Addr())
		if !g1.ping(t, outsideA.Addr()) {
			t.Fatal("ping out denied under default allow")
		}
	})
	t.Run("default deny: rules allow", func(t *testing.T) {
		s.EgressDefaultAllow = false
		s.Egress = []EgressRule{egress(8001, "10.1.1.10/32")}
		l.apply(s)
		g1.blocked(t, outsideA.Addr(), 8000)
		g1.reaches(t, outsideA.Addr(), 8001, "out", pubSNAT.Addr())
		g2.blocked(t, outsideA.Addr(), 8001) // not in the rule's sources
		if g1.ping(t, outsideA.Addr()) {
			t.Fatal("ping out allowed under default deny")
		}
		// An icmp rule with a destination opens ping to it.
		s.Egress = append(s.Egress, EgressRule{Proto: "icmp", ICMPType: -1, ICMPCode: -1,
			Dests: []netip.Prefix{netip.PrefixFrom(outsideA.Addr(), 32)}})
		l.apply(s)
		if !g2.ping(t, outsideA.Addr()) {
			t.Fatal("ping out denied with an icmp egress rule")
		}
		// The router itself stays reachable: egress filters what goes out only.
		if !g2.ping(t, guestGW.Addr()) {
			t.Fatal("the gateway does not answer ping under default deny")
		}
	})
}

// snapshot is what an idempotent Apply must leave alone: the table as nft reads it (rule
// handles included), the links of both sides with their indexes, addresses and routes.
func (l *lab) snapshot(id string) string {
	l.t.Helper()
	var b strings.Builder
	b.WriteString(l.nftList(id))
	out, err := runCmd("nsenter", "--net="+l.m.Path(id), "nft", "-a", "list", "table", "inet", tableName)
	if err != nil {
		l.t.Fatalf("nft -a list: %v", err)
	}
	b.WriteString(out)
	for _, args := range [][]string{{"ip", "-d", "link"}, {"ip", "addr"}, {"ip", "route"}} {
		out, err := runCmd("nsenter", append([]string{"--net=" + l.m.Path(id)}, args...)...)
		if err != nil {
			l.t.Fatalf("%v: %v", args, err)
		}
		b.WriteString(out)
	}
	links, err := l.uh.LinkList()
	if err != nil {
		l.t.Fatal(err)
	}
	for _, lk := range links {
		a := lk.Attrs()
		b.WriteString(strings.Join([]string{a.Name, lk.Type(), a.HardwareAddr.String(), itoa(a.Index), itoa(a.MasterIndex), itoa(a.MTU)}, " ") + "\n")
	}
	return b.String()
}

func TestKernelApplyIsIdempotent(t *testing.T) {
	l, g1, _, out, s := standard(t)
	g1.listen(t, "tcp4", 22)
	s.PortForward = []PortForward{{Public: pubPF.Addr(), Proto: "tcp", PublicPorts: [2]uint16{2222, 2222},
		PrivatePorts: [2]uint16{22, 22}, Private: g1Addr}}
	s.Ingress = []FirewallRule{tcpRule(pubPF.Addr(), 2222, "203.0.113.0/24")}
	s.StaticNAT = []StaticNAT{{Public: pubSNAT1.Addr(), Private: g2Addr}}
	l.apply(s)
	before := l.snapshot(s.ID)
	l.apply(s)
	if after := l.snapshot(s.ID); after != before {
		t.Fatalf("a second Apply changed the router:\n--- before\n%s\n--- after\n%s", before, after)
	}
	out.reaches(t, pubPF.Addr(), 2222, "g1", outsideA.Addr())

	// A changed spec converges; one generation of chains remains.
	s.Ingress = nil
	l.apply(s)
	list := l.nftList(s.ID)
	if strings.Contains(list, "-a {") == strings.Contains(list, "-b {") {
		t.Fatalf("want the chains of one generation, got:\n%s", list)
	}
	out.blocked(t, pubPF.Addr(), 2222)

	// Drift is repaired: a flushed live chain, then a deleted table, come back.
	slot := "a"
	if strings.Contains(list, "chain pre-b {") {
		slot = "b"
	}
	if _, err := runCmd("nsenter", "--net="+l.m.Path(s.ID), "nft", "flush", "chain", "inet", tableName, "snat-"+slot); err != nil {
		t.Fatal(err)
	}
	l.apply(s)
	out.listen(t, "tcp4", 8000)
	g1.reaches(t, outsideA.Addr(), 8000, "out", pubSNAT.Addr())
	if _, err := runCmd("nsenter", "--net="+l.m.Path(s.ID), "nft", "delete", "table", "inet", tableName); err != nil {
		t.Fatal(err)
	}
	l.apply(s)
	list = l.nftList(s.ID)
	slot = "a"
	if strings.Contains(list, "chain pre-b {") {
		slot = "b"
	}
	if got, want := generationText(list), buildRuleset(&s, slot).text(); got != want {
		t.Fatalf("after the table was deleted, Apply made\n%s\nwant\n%s", got, want)
	}
	g1.reaches(t, outsideA.Addr(), 8000, "out", pubSNAT.Addr())
}

func TestKernelRemoveAndSweep(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	a, b := baseSpec("net-a"), baseSpec("net-b")
	b.Public = nil
	b.SourceNAT = netip.Addr{}
	l.apply(a)
	l.apply(b)
	// An orphan host veth, as a crashed agent could leave.
	if err := l.uh.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "atrg0123abcd"}, PeerName: "orphan0"}); err != nil {
		t.Fatal(err)
	}
	ids, err := l.m.List(ctx)
	if err != nil || !slices.Equal(ids, []string{"net-a", "net-b"}) {
		t.Fatalf("List = %v, %v", ids, err)
	}
	if err := l.m.Sweep(ctx, []string{"net-a"}); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if ids, _ := l.m.List(ctx); !slices.Equal(ids, []string{"net-a"}) {
		t.Fatalf("after Sweep, List = %v", ids)
	}
	ag, ap := hostNames("net-a")
	bg, _ := hostNames("net-b")
	l.wantLinks(ag, ap)
	l.wantNoLinks(bg, "atrg0123abcd", "orphan0")
	if _, err := os.Stat(l.m.Path("net-b")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("net-b's namespace file: %v", err)
	}

	// Remove takes the table too, even when something still holds the namespace.
	path := l.m.Path("net-a")
	var held net.Listener
	if err := l.m.Do("net-a", func() (err error) {
		held, err = net.Listen("tcp4", "10.1.1.1:53")
		return err
	}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer held.Close()
	nsA, err := netns.GetFromPath(path) // to look inside after Remove
	if err != nil {
		t.Fatal(err)
	}
	defer nsA.Close()
	if err := l.m.Remove(ctx, "net-a"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	l.wantNoLinks(ag, ap)
	c, err := nftables.New(nftables.WithNetNSFd(int(nsA)))
	if err != nil {
		t.Fatal(err)
	}
	if tables, err := c.ListTables(); err != nil || len(tables) != 0 {
		t.Fatalf("tables left in the removed namespace: %v (err %v)", tables, err)
	}
	hA, err := netlink.NewHandleAt(nsA)
	if err != nil {
		t.Fatal(err)
	}
	defer hA.Close()
	if links, err := hA.LinkList(); err != nil || len(links) != 1 || links[0].Attrs().Name != "lo" {
		t.Fatalf("links left in the removed namespace: %v (err %v)", links, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("net-a's namespace file: %v", err)
	}
	if ids, _ := l.m.List(ctx); len(ids) != 0 {
		t.Fatalf("after Remove, List = %v", ids)
	}
	if err := l.m.Remove(ctx, "net-a"); err != nil {
		t.Fatalf("Remove again: %v", err)
	}
	if err := l.m.Do("net-a", func() error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Do on a removed router: %v", err)
	}

	// A namespace without a table or veths (an Apply that died early), and a stale file
	// that pins nothing, are removed without complaint.
	if err := createNetns(l.m.Path("net-bare")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.m.Path("net-stale"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if ids, _ := l.m.List(ctx); !slices.Equal(ids, []string{"net-bare", "net-stale"}) {
		t.Fatalf("List = %v", ids)
	}
	if err := l.m.Remove(ctx, "net-bare"); err != nil {
		t.Fatalf("Remove of a bare namespace: %v", err)
	}
	if err := l.m.Sweep(ctx, nil); err != nil {
		t.Fatalf("Sweep of a stale file: %v", err)
	}
	if ids, _ := l.m.List(ctx); len(ids) != 0 {
		t.Fatalf("List = %v", ids)
	}
}

func (l *lab) wantLinks(names ...string) {
	l.t.Helper()
	for _, n := range names {
		if _, err := l.uh.LinkByName(n); err != nil {
			l.t.Fatalf("link %s: %v", n, err)
		}
	}
}

func (l *lab) wantNoLinks(names ...string) {
	l.t.Helper()
	for _, n := range names {
		if _, err := l.uh.LinkByName(n); !isNotFound(err) {
			l.t.Fatalf("link %s is still there (err %v)", n, err)
		}
	}
}

func TestKernelFailedApplyLeavesNothing(t *testing.T) {
	l := newLab(t)
	s := baseSpec("net-fail")
	s.Public.Bridge = "nosuchbridge"
	err := l.m.Apply(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "nosuchbridge") {
		t.Fatalf("Apply with a missing bridge: %v", err)
	}
	if ids, _ := l.m.List(context.Background()); len(ids) != 0 {
		t.Fatalf("List = %v after a failed Apply", ids)
	}
	g, p := hostNames(s.ID)
	l.wantNoLinks(g, p)

	// A bad spec is refused before anything is touched.
	s = baseSpec("net-bad")
	s.StaticNAT = []StaticNAT{{Public: netip.MustParseAddr("198.51.100.1"), Private: g1Addr}}
	if err := l.m.Apply(context.Background(), s); !errors.Is(err, errSpec) {
		t.Fatalf("Apply with static NAT on a foreign address: %v", err)
	}
	if ids, _ := l.m.List(context.Background()); len(ids) != 0 {
		t.Fatalf("List = %v after a refused Apply", ids)
	}
}

// TestKernelMoveAnnounces moves a router (removed, then made again with another MAC as on
// another host): the outside's ARP entry for the public IP follows without the outside
// asking.
func TestKernelMoveAnnounces(t *testing.T) {
	l, _, _, out, s := standard(t)
	if !out.ping(t, outsideA.Addr()) { // warm nothing; just make sure out is alive
		t.Fatal("out cannot ping itself")
	}
	s.Ingress = []FirewallRule{{Public: pubSNAT.Addr(), Proto: "icmp", ICMPType: -1, ICMPCode: -1}}
	s.Public.MAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	l.apply(s)
	if !out.ping(t, pubSNAT.Addr()) {
		t.Fatal("no ping to the public IP")
	}
	out.wantNeigh(t, pubSNAT.Addr(), s.Public.MAC)
	if err := l.m.Remove(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	s.Public.MAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	l.apply(s)
	out.wantNeigh(t, pubSNAT.Addr(), s.Public.MAC)

	// An address added to a router already up is announced too.
	extra := netip.MustParsePrefix("203.0.113.20/24")
	if err := out.h.NeighSet(&netlink.Neigh{LinkIndex: out.eth(t), Family: unix.AF_INET, State: netlink.NUD_STALE,
		IP: extra.Addr().AsSlice(), HardwareAddr: net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}}); err != nil {
		t.Fatal(err)
	}
	s.Public.Addrs = append(s.Public.Addrs, extra)
	l.apply(s)
	out.wantNeigh(t, extra.Addr(), s.Public.MAC)
}

func (p *peer) eth(t *testing.T) int {
	l, err := p.h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Index
}

// wantNeigh waits up to two seconds for p's ARP entry of ip to say mac.
func (p *peer) wantNeigh(t *testing.T, ip netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ns, err := p.h.NeighList(p.eth(t), unix.AF_INET)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.IP.Equal(ip.AsSlice()) {
				last = n.HardwareAddr.String()
				if last == mac.String() {
					return
				}
			}
		}
	}
	t.Fatalf("%s's ARP entry for %s is %q, want %s", p.name, ip, last, mac)
}

func TestKernelDoRunsInside(t *testing.T) {
	l, g1, _, _, s := standard(t)
	var ln net.Listener
	if err := l.m.Do(s.ID, func() (err error) {
		ln, err = net.Listen("tcp4", guestGW.Addr().String()+":53")
		return err
	}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("router " + c.RemoteAddr().(*net.TCPAddr).IP.String() + "\n"))
			c.Close()
		}
	}()
	g1.reaches(t, guestGW.Addr(), 53, "router", g1Addr)
	// A port the router does not serve to guests stays closed.
	if err := l.m.Do(s.ID, func() error {
		l2, err := net.Listen("tcp4", guestGW.Addr().String()+":2000")
		if err == nil {
			t.Cleanup(func() { l2.Close() })
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	g1.blocked(t, guestGW.Addr(), 2000)
}

func TestKernelPublicSideRemoved(t *testing.T) {
	l, g1, _, out, s := standard(t)
	out.listen(t, "tcp4", 8000)
	g1.reaches(t, outsideA.Addr(), 8000, "out", pubSNAT.Addr())
	s.Public, s.SourceNAT = nil, netip.Addr{}
	l.apply(s)
	_, p := hostNames(s.ID)
	l.wantNoLinks(p)
	g1.blocked(t, outsideA.Addr(), 8000)
	if !g1.ping(t, guestGW.Addr()) {
		t.Fatal("the router lost its guest side")
	}
	if strings.Contains(l.nftList(s.ID), "203.0.113") {
		t.Fatal("the table still names public addresses")
	}
}

func TestKernelPortForwardUDP(t *testing.T) {
	l, g1, _, out, s := standard(t)
	g1.udpEcho(t, 5353)
	s.PortForward = []PortForward{{Public: pubPF.Addr(), Proto: "udp", PublicPorts: [2]uint16{5000, 5000},
		PrivatePorts: [2]uint16{5353, 5353}, Private: g1Addr}}
	// A tcp rule on the port does not open udp.
	s.Ingress = []FirewallRule{tcpRule(pubPF.Addr(), 5000)}
	l.apply(s)
	if got, err := out.udpAsk(t, pubPF.Addr(), 5000); err == nil {
		t.Fatalf("udp through a tcp-only rule answered %q", got)
	}
	s.Ingress = []FirewallRule{{Public: pubPF.Addr(), Proto: "udp", Ports: [2]uint16{5000, 5000}}}
	l.apply(s)
	got, err := out.udpAsk(t, pubPF.Addr(), 5000)
	if want := "g1 " + outsideA.Addr().String(); err != nil || got != want {
		t.Fatalf("udp through port forwarding: %q, %v; want %q", got, err, want)
	}
}
