package secgroup

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/network/internal/netnstest"
	"github.com/google/nftables"
)

// sgHost is the kernel tier's host: a namespace with a bridge, a Manager on it, and guest
// stand-in namespaces on veths whose host ends play the VMs' taps.
type sgHost struct {
	*netnstest.NS
	m *Manager
}

func newSGHost(t *testing.T) *sgHost {
	t.Helper()
	host := netnstest.New(t, "host")
	host.Bridge(t, "atbr-sg")
	m, err := New(host.Handle, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &sgHost{NS: host, m: m}
}

// guest puts a guest namespace on the bridge: tap<i> on the host, eth0 with mac and
// 10.9.0.<i>/24 in the guest, serving TCP on 22, 80, 7000 and 8080.
func (h *sgHost) guest(t *testing.T, i int) (*netnstest.NS, Port) {
	t.Helper()
	g := netnstest.New(t, fmt.Sprintf("guest%d", i))
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0x09, byte(i)}
	tap := fmt.Sprintf("tap%d", i)
	netnstest.Veth(t, h.NS, tap, g, "eth0", mac)
	h.Plug(t, tap, "atbr-sg")
	ip := fmt.Sprintf("10.9.0.%d", i)
	g.Addr(t, "eth0", ip+"/24")
	for _, port := range []string{"22", "80", "7000", "8080"} {
		g.Serve(t, ip+":"+port)
	}
	return g, Port{Tap: tap, MAC: mac, IPs: []netip.Addr{netip.MustParseAddr(ip)}}
}

func (h *sgHost) apply(t *testing.T, s State) {
	t.Helper()
	start := time.Now()
	if err := h.m.Apply(context.Background(), s); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	t.Logf("timing: Apply of %d ports took %v", len(s.Ports), time.Since(start).Round(time.Microsecond))
}

// chains lists the port chains of the table, sorted.
func (h *sgHost) chains(t *testing.T) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(h.Handle)))
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.ListChainsOfTableFamily(nftables.TableFamilyBridge)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ch := range all {
		if ch.Table.Name == tableName && ch.Hooknum == nil {
			out = append(out, ch.Name)
		}
	}
	slices.Sort(out)
	return out
}

// tables lists the namespace's nftables tables as "family name".
func (h *sgHost) tables(t *testing.T) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(h.Handle)))
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tb := range all {
		out = append(out, fmt.Sprintf("%d %s", tb.Family, tb.Name))
	}
	slices.Sort(out)
	return out
}

func tcp(t *testing.T, from *netnstest.NS, to string, want bool) {
	t.Helper()
	tcpFrom(t, from, netip.Addr{}, to, want)
}

func tcpFrom(t *testing.T, from *netnstest.NS, src netip.Addr, to string, want bool) {
	t.Helper()
	got, err := from.Dial(to, src, time.Second)
	// An admitted connection may need a retry on a loaded machine: the first SYN can wait
	// for neighbour discovery longer than a second (seen once in CI with IPv6).
	for try := 0; want && err != nil && try < 2; try++ {
		got, err = from.Dial(to, src, 3*time.Second)
	}
	switch {
	case want && err != nil:
		t.Fatalf("%s -> %s: %v, want admitted", from.Name, to, err)
	case want && !strings.HasPrefix(got, "hi from "):
		t.Fatalf("%s -> %s: greeting %q", from.Name, to, got)
	case !want && err == nil:
		t.Fatalf("%s -> %s admitted, want dropped", from.Name, to)
	}
}

func ping(t *testing.T, from *netnstest.NS, to string, want bool) {
	t.Helper()
	out, err := from.Run(5*time.Second, "busybox", "ping", "-c", "1", "-W", "1", to)
	switch {
	case want && err != nil:
		t.Fatalf("%s ping %s: %v, want a reply", from.Name, to, err)
	case !want && err == nil:
		t.Fatalf("%s ping %s answered, want dropped: %s", from.Name, to, out)
	}
}

func cidrs(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range s {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}

// TestKernelSecurityGroups runs CloudStack's security group semantics on a bridge: one
// filtered VM (guest1) with ingress rules, two more filtered VMs that admit everything, and
// an unfiltered router port serving DHCP.
func TestKernelSecurityGroups(t *testing.T) {
	h := newSGHost(t)
	g1, p1 := h.guest(t, 1)
	g2, p2 := h.guest(t, 2)
	g3, p3 := h.guest(t, 3)
	router := netnstest.New(t, "router")
	netnstest.Veth(t, h.NS, "rtr0", router, "eth0", nil)
	h.Plug(t, "rtr0", "atbr-sg")
	router.Addr(t, "eth0", "10.9.0.254/24")
	router.Serve(t, "10.9.0.254:7000")

	open := []Rule{{Proto: "all", CIDRs: cidrs("0.0.0.0/0")}}
	p2.Ingress, p3.Ingress = open, open
	p1.Ingress = []Rule{
		{Proto: "tcp", Ports: [2]uint16{22, 22}, CIDRs: cidrs("10.9.0.2/32")},
		{Proto: "icmp", ICMPType: 8, ICMPCode: -1, CIDRs: cidrs("0.0.0.0/0")},
		{Proto: "tcp", Ports: [2]uint16{8000, 8100}, Group: "web"},
	}
	state := func(web ...string) State {
		var members []netip.Addr
		for _, a := range web {
			members = append(members, netip.MustParseAddr(a))
		}
		return State{Ports: []Port{p1, p2, p3}, Groups: map[string][]netip.Addr{"web": members}}
	}
	h.apply(t, state())

	t.Run("ingress by cidr and port", func(t *testing.T) {
		tcp(t, g2, "10.9.0.1:22", true)
		tcp(t, g3, "10.9.0.1:22", false) // another source
		tcp(t, g2, "10.9.0.1:80", false) // no rule for the port
		tcp(t, router, "10.9.0.1:22", false)
		tcp(t, g1, "10.9.0.2:80", true) // the others admit all; g1 has no egress rules
		tcp(t, g1, "10.9.0.254:7000", true)
	})
	t.Run("icmp type", func(t *testing.T) {
		ping(t, g3, "10.9.0.1", true)
		withReply := p1
		withReply.Ingress = []Rule{{Proto: "icmp", ICMPType: 0, ICMPCode: 0, CIDRs: cidrs("0.0.0.0/0")}}
		h.apply(t, State{Ports: []Port{withReply, p2, p3}, Groups: map[string][]netip.Addr{"web": nil}})
		ping(t, g3, "10.9.0.1", false) // echo requests are type 8
		ping(t, g1, "10.9.0.3", true)  // its own pings' replies are established
		h.apply(t, state())
		ping(t, g3, "10.9.0.1", true)
	})
	t.Run("group follows membership", func(t *testing.T) {
		before := h.chains(t)
		tcp(t, g3, "10.9.0.1:8080", false)
		h.apply(t, state("10.9.0.3", "2001:db8::3"))
		tcp(t, g3, "10.9.0.1:8080", true)
		tcp(t, g2, "10.9.0.1:8080", false)
		h.apply(t, state())
		tcp(t, g3, "10.9.0.1:8080", false)
		if after := h.chains(t); !slices.Equal(before, after) {
			t.Fatalf("a membership change rewrote chains: %v -> %v", before, after)
		}
	})
	t.Run("egress rules hold once present", func(t *testing.T) {
		eg := p1
		eg.Egress = []Rule{{Proto: "tcp", Ports: [2]uint16{7000, 7000}, CIDRs: cidrs("10.9.0.2/32")}}
		h.apply(t, State{Ports: []Port{eg, p2, p3}, Groups: map[string][]netip.Addr{"web": nil}})
		tcp(t, g1, "10.9.0.2:7000", true)
		tcp(t, g1, "10.9.0.3:7000", false)
		tcp(t, g1, "10.9.0.2:80", false)
		tcp(t, g1, "10.9.0.254:7000", false)
		tcp(t, g2, "10.9.0.1:22", true) // ingress replies pass the egress rules
		ping(t, g1, "10.9.0.3", false)
		h.apply(t, state())
		tcp(t, g1, "10.9.0.3:7000", true)
	})
	t.Run("spoofing", func(t *testing.T) {
		// Another source address: dropped, also for ARP (a fresh neighbour entry is needed).
		g1.Addr(t, "eth0", "10.9.0.99/24")
		tcpFrom(t, g1, netip.MustParseAddr("10.9.0.99"), "10.9.0.254:7000", false)
		tcpFrom(t, g1, netip.MustParseAddr("10.9.0.1"), "10.9.0.254:7000", true)
		g1.DelAddr(t, "eth0", "10.9.0.99/24")
		if out, err := g1.Run(5*time.Second, "busybox", "arping", "-c", "1", "-w", "1", "-s", "10.9.0.98", "-I", "eth0", "10.9.0.254"); err == nil {
			t.Fatalf("arping from a spoofed address was answered: %s", out)
		}
		if _, err := g1.Run(5*time.Second, "busybox", "arping", "-c", "1", "-w", "1", "-I", "eth0", "10.9.0.254"); err != nil {
			t.Fatalf("arping from the port's address: %v", err)
		}
		// Another MAC: everything dropped, the right one back: traffic again.
		g1.SetMAC(t, "eth0", net.HardwareAddr{0x52, 0x54, 0, 0, 0x09, 0x99})
		tcp(t, g1, "10.9.0.254:7000", false)
		g1.SetMAC(t, "eth0", p1.MAC)
		tcp(t, g1, "10.9.0.254:7000", true)
	})
	t.Run("dhcp", func(t *testing.T) {
		dir := t.TempDir()
		conf := filepath.Join(dir, "udhcpd.conf")
		leases := filepath.Join(dir, "leases")
		if err := os.WriteFile(leases, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(conf, []byte("start 10.9.0.100\nend 10.9.0.110\ninterface eth0\n"+
			"lease_file "+leases+"\nopt subnet 255.255.255.0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// With an egress rule (and ingress rules) that admit no DHCP: only the allowances do.
		eg := p1
		eg.Egress = []Rule{{Proto: "tcp", Ports: [2]uint16{7000, 7000}, CIDRs: cidrs("10.9.0.2/32")}}
		h.apply(t, State{Ports: []Port{eg, p2, p3}, Groups: map[string][]netip.Addr{"web": nil}})
		router.Start(t, "busybox", "udhcpd", "-f", conf)
		time.Sleep(300 * time.Millisecond)
		out, err := g1.Run(20*time.Second, "busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "1", "-s", "/bin/true")
		if err != nil {
			t.Fatalf("udhcpc in guest1: %v", err)
		}
		if !strings.Contains(out, "lease of 10.9.0.1") {
			t.Fatalf("udhcpc got no lease: %s", out)
		}
		t.Logf("udhcpc: %s", strings.TrimSpace(out))
	})
	t.Run("remove", func(t *testing.T) {
		if err := h.m.Remove(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := h.tables(t); len(got) != 0 {
			t.Fatalf("tables after Remove: %v", got)
		}
		tcp(t, g3, "10.9.0.1:22", true) // nothing filters now
		if err := h.m.Remove(context.Background()); err != nil {
			t.Fatalf("second Remove: %v", err)
		}
	})
}

// TestKernelBadInputChangesNothing checks that a state Apply refuses leaves the table as it
// was, and that Apply after Remove builds it again.
func TestKernelBadInputChangesNothing(t *testing.T) {
	h := newSGHost(t)
	ctx := context.Background()
	p := Port{Tap: "tap1", MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")},
		Ingress: []Rule{{Proto: "tcp", Ports: [2]uint16{22, 22}}}}
	h.apply(t, State{Ports: []Port{p}})
	before := h.chains(t)
	bad := p
	bad.Tap = "tap2"
	bad.Ingress = []Rule{{Proto: "tcp", Ports: [2]uint16{22, 22}, Group: "missing"}}
	err := h.m.Apply(ctx, State{Ports: []Port{p, bad}})
	if err == nil || !strings.Contains(err.Error(), `port tap2: ingress rule 0: group "missing"`) {
		t.Fatalf("Apply with an unknown group: %v", err)
	}
	if after := h.chains(t); !slices.Equal(before, after) {
		t.Fatalf("a refused Apply changed the chains: %v -> %v", before, after)
	}
	if err := h.m.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	h.apply(t, State{Ports: []Port{p}})
	if after := h.chains(t); !slices.Equal(before, after) {
		t.Fatalf("Apply after Remove: %v, want %v", after, before)
	}
	if got := h.tables(t); !slices.Equal(got, []string{"1 atoll-ct", "7 atoll"}) {
		t.Fatalf("tables = %v", got)
	}
}

// TestKernelSecurityGroupsIPv6 runs ingress rules, neighbour discovery and anti-spoofing
// over IPv6.
func TestKernelSecurityGroupsIPv6(t *testing.T) {
	h := newSGHost(t)
	g1, p1 := h.guest(t, 1)
	g2, p2 := h.guest(t, 2)
	g3, p3 := h.guest(t, 3)
	for i, g := range []*netnstest.NS{g1, g2, g3} {
		a := fmt.Sprintf("2001:db8:9::%d", i+1)
		g.Addr(t, "eth0", a+"/64")
		g.Serve(t, "["+a+"]:2222")
	}
	p1.IPs = append(p1.IPs, netip.MustParseAddr("2001:db8:9::1"))
	p2.IPs = append(p2.IPs, netip.MustParseAddr("2001:db8:9::2"))
	p3.IPs = append(p3.IPs, netip.MustParseAddr("2001:db8:9::3"))
	open := []Rule{{Proto: "all"}}
	p2.Ingress, p3.Ingress = open, open
	p1.Ingress = []Rule{{Proto: "tcp", Ports: [2]uint16{2222, 2222}, CIDRs: cidrs("2001:db8:9::2/128")}}
	h.apply(t, State{Ports: []Port{p1, p2, p3}})

	tcp(t, g2, "[2001:db8:9::1]:2222", true)
	tcp(t, g3, "[2001:db8:9::1]:2222", false)
	tcp(t, g2, "10.9.0.1:22", false) // the rule is IPv6's only
	tcp(t, g1, "[2001:db8:9::3]:2222", true)
	// A source address that is not the port's.
	g1.Addr(t, "eth0", "2001:db8:9::99/64")
	tcpFrom(t, g1, netip.MustParseAddr("2001:db8:9::99"), "[2001:db8:9::2]:2222", false)
	tcpFrom(t, g1, netip.MustParseAddr("2001:db8:9::1"), "[2001:db8:9::2]:2222", true)
}
