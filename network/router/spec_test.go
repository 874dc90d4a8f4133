package router

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestSpecCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(*Spec)
		mention string // "" when the spec is valid
	}{
		{"base", func(*Spec) {}, ""},
		{"rich", func(s *Spec) { *s = richSpec("net-x") }, ""},
		{"no public side", func(s *Spec) { s.Public, s.SourceNAT = nil, netip.Addr{} }, ""},
		{"empty id", func(s *Spec) { s.ID = "" }, "id"},
		{"id with a slash", func(s *Spec) { s.ID = "../etc" }, "may hold only"},
		{"long bridge name", func(s *Spec) { s.Guest.Bridge = "abcdefghijklmnop" }, "guest bridge"},
		{"no guest address", func(s *Spec) { s.Guest.Addrs = nil }, "guest side has no address"},
		{"ipv6 guest", func(s *Spec) { s.Guest.Addrs = []netip.Prefix{netip.MustParsePrefix("fd00::1/64")} }, "IPv4"},
		{"network address", func(s *Spec) { s.Guest.Addrs = []netip.Prefix{netip.MustParsePrefix("10.1.1.0/24")} }, "not a host address"},
		{"guest gateway", func(s *Spec) { s.Guest.Gateway = netip.MustParseAddr("10.1.1.254") }, "takes no gateway"},
		{"multicast MAC", func(s *Spec) { s.Public.MAC = net.HardwareAddr{1, 0, 0, 0, 0, 1} }, "unicast"},
		{"gateway off subnet", func(s *Spec) { s.Public.Gateway = netip.MustParseAddr("198.51.100.1") }, "on none"},
		{"public overlaps guest", func(s *Spec) { s.Public.Addrs = append(s.Public.Addrs, netip.MustParsePrefix("10.1.0.5/16")) }, "overlaps"},
		{"foreign source NAT", func(s *Spec) { s.SourceNAT = netip.MustParseAddr("198.51.100.1") }, "not an address of the public side"},
		{"source NAT without public", func(s *Spec) { s.Public = nil }, "needs a public side"},
		{"static NAT on source NAT", func(s *Spec) { s.StaticNAT = []StaticNAT{{pubSNAT.Addr(), g1Addr}} }, "is the source NAT"},
		{"static NAT outside guests", func(s *Spec) { s.StaticNAT = []StaticNAT{{pubPF.Addr(), netip.MustParseAddr("10.2.0.1")}} }, "not a guest address"},
		{"static NAT to the gateway", func(s *Spec) { s.StaticNAT = []StaticNAT{{pubPF.Addr(), guestGW.Addr()}} }, "not a guest address"},
		{"static NAT twice", func(s *Spec) {
			s.StaticNAT = []StaticNAT{{pubPF.Addr(), g1Addr}, {pubSNAT1.Addr(), g1Addr}}
		}, "has static NAT already"},
		{"port forward on static NAT", func(s *Spec) {
			s.StaticNAT = []StaticNAT{{pubPF.Addr(), g1Addr}}
			s.PortForward = []PortForward{{pubPF.Addr(), "tcp", [2]uint16{22, 22}, [2]uint16{22, 22}, g2Addr}}
		}, "has static NAT"},
		{"port forward bad proto", func(s *Spec) {
			s.PortForward = []PortForward{{pubPF.Addr(), "icmp", [2]uint16{22, 22}, [2]uint16{22, 22}, g2Addr}}
		}, "not tcp or udp"},
		{"port forward lengths", func(s *Spec) {
			s.PortForward = []PortForward{{pubPF.Addr(), "tcp", [2]uint16{22, 23}, [2]uint16{22, 22}, g2Addr}}
		}, "differ in length"},
		{"port forward reversed", func(s *Spec) {
			s.PortForward = []PortForward{{pubPF.Addr(), "tcp", [2]uint16{23, 22}, [2]uint16{23, 22}, g2Addr}}
		}, "not a range"},
		{"port forward port 0", func(s *Spec) {
			s.PortForward = []PortForward{{pubPF.Addr(), "tcp", [2]uint16{0, 0}, [2]uint16{22, 22}, g2Addr}}
		}, "not a range"},
		{"port forward shifted too wide", func(s *Spec) {
			s.PortForward = []PortForward{{pubPF.Addr(), "tcp", [2]uint16{1000, 1256}, [2]uint16{2000, 2256}, g2Addr}}
		}, "at most 256"},
		{"port forward same wide range", func(s *Spec) {
			s.PortForward = []PortForward{{pubPF.Addr(), "tcp", [2]uint16{1000, 9000}, [2]uint16{1000, 9000}, g2Addr}}
		}, ""},
		{"port forwards overlap", func(s *Spec) {
			s.PortForward = []PortForward{
				{pubPF.Addr(), "tcp", [2]uint16{1000, 1010}, [2]uint16{1000, 1010}, g2Addr},
				{pubPF.Addr(), "tcp", [2]uint16{1010, 1010}, [2]uint16{22, 22}, g1Addr},
			}
		}, "overlap"},
		{"port forwards of two protocols", func(s *Spec) {
			s.PortForward = []PortForward{
				{pubPF.Addr(), "tcp", [2]uint16{53, 53}, [2]uint16{53, 53}, g2Addr},
				{pubPF.Addr(), "udp", [2]uint16{53, 53}, [2]uint16{53, 53}, g2Addr},
			}
		}, ""},
		{"ingress on a foreign address", func(s *Spec) { s.Ingress = []FirewallRule{tcpRule(netip.MustParseAddr("192.0.2.1"), 22)} }, "not an address of the public side"},
		{"ingress bad proto", func(s *Spec) { s.Ingress = []FirewallRule{{Public: pubPF.Addr(), Proto: "gre"}} }, "not tcp, udp, icmp or all"},
		{"ingress icmp with ports", func(s *Spec) {
			s.Ingress = []FirewallRule{{Public: pubPF.Addr(), Proto: "icmp", Ports: [2]uint16{1, 1}, ICMPType: -1, ICMPCode: -1}}
		}, "icmp takes no ports"},
		{"ingress icmp code without type", func(s *Spec) {
			s.Ingress = []FirewallRule{{Public: pubPF.Addr(), Proto: "icmp", ICMPType: -1, ICMPCode: 3}}
		}, "needs an icmp type"},
		{"ingress icmp type 256", func(s *Spec) {
			s.Ingress = []FirewallRule{{Public: pubPF.Addr(), Proto: "icmp", ICMPType: 256, ICMPCode: -1}}
		}, "-1 or 0-255"},
		{"ingress tcp every port", func(s *Spec) { s.Ingress = []FirewallRule{{Public: pubPF.Addr(), Proto: "tcp"}} }, ""},
		{"ingress all with ports", func(s *Spec) {
			s.Ingress = []FirewallRule{{Public: pubPF.Addr(), Proto: "all", Ports: [2]uint16{1, 2}}}
		}, "takes no ports"},
		{"ingress ipv6 source", func(s *Spec) {
			s.Ingress = []FirewallRule{{Public: pubPF.Addr(), Proto: "all", Sources: []netip.Prefix{netip.MustParsePrefix("::/0")}}}
		}, "not an IPv4 CIDR"},
		{"egress ipv6 destination", func(s *Spec) {
			s.Egress = []EgressRule{{Proto: "all", Dests: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}}}
		}, "egress rule 0 destination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec("net-check")
			tc.edit(&s)
			err := s.check()
			if tc.mention == "" {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				return
			}
			if !errors.Is(err, errSpec) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("check = %v, want an invalid spec error mentioning %q", err, tc.mention)
			}
		})
	}
}

func TestNames(t *testing.T) {
	g, p := hostNames("6f1c2e0a-1111-4222-8333-944455556666")
	if len(g) != 12 || len(p) != 12 || g[:4] != "atrg" || p[:4] != "atrp" || g[4:] != p[4:] {
		t.Fatalf("host names %q %q", g, p)
	}
	if !isRouterVeth(g) || !isRouterVeth(p) || isRouterVeth("atrgzzzzzzzz") || isRouterVeth("atbr-x") {
		t.Fatal("isRouterVeth")
	}
	if g2, _ := hostNames("6f1c2e0a-1111-4222-8333-944455556667"); g2 == g {
		t.Fatal("two ids, one name")
	}
	if NetnsName("x") != "atr-x" {
		t.Fatal(NetnsName("x"))
	}
}

func TestGARPFrame(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	got := garpFrame(mac, netip.MustParseAddr("203.0.113.10"))
	want := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x08, 0x06, // Ethernet, ARP
		0, 1, 0x08, 0, 6, 4, 0, 1, // Ethernet/IPv4, request
		0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 203, 0, 113, 10, // sender
		0, 0, 0, 0, 0, 0, 203, 0, 113, 10, // target: the same address
	}
	if string(got) != string(want) {
		t.Fatalf("frame\n% x\nwant\n% x", got, want)
	}
}
