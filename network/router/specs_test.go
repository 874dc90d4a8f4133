package router

import (
	"net/netip"
)

// The specs the unit and kernel tests share.

const (
	guestBridge  = "brg"
	publicBridge = "brp"
)

var (
	guestGW  = netip.MustParsePrefix("10.1.1.1/24")
	outsideA = netip.MustParsePrefix("203.0.113.254/24") // the public gateway
	outsideB = netip.MustParsePrefix("203.0.113.253/24")
	pubSNAT  = netip.MustParsePrefix("203.0.113.10/24")
	pubPF    = netip.MustParsePrefix("203.0.113.11/24")
	pubSNAT1 = netip.MustParsePrefix("203.0.113.12/24") // static NAT
)

var (
	g1Addr = netip.MustParseAddr("10.1.1.10")
	g2Addr = netip.MustParseAddr("10.1.1.11")
)

func tcpRule(public netip.Addr, port uint16, sources ...string) FirewallRule {
	r := FirewallRule{Public: public, Proto: "tcp", Ports: [2]uint16{port, port}, ICMPType: -1, ICMPCode: -1}
	for _, s := range sources {
		r.Sources = append(r.Sources, netip.MustParsePrefix(s))
	}
	return r
}

// baseSpec is a router with a guest side on brg and three public IPs on brp, source NAT
// on the first.
func baseSpec(id string) Spec {
	return Spec{
		ID:    id,
		Guest: Side{Bridge: guestBridge, Addrs: []netip.Prefix{guestGW}},
		Public: &Side{Bridge: publicBridge, Addrs: []netip.Prefix{pubSNAT, pubPF, pubSNAT1},
			Gateway: outsideA.Addr()},
		SourceNAT:          pubSNAT.Addr(),
		EgressDefaultAllow: true,
	}
}

// richSpec has a rule of every kind.
func richSpec(id string) Spec {
	s := baseSpec(id)
	s.StaticNAT = []StaticNAT{{Public: pubSNAT1.Addr(), Private: g2Addr}}
	s.PortForward = []PortForward{
		{Public: pubPF.Addr(), Proto: "tcp", PublicPorts: [2]uint16{2222, 2222}, PrivatePorts: [2]uint16{22, 22}, Private: g1Addr},
		{Public: pubPF.Addr(), Proto: "udp", PublicPorts: [2]uint16{5000, 5010}, PrivatePorts: [2]uint16{5000, 5010}, Private: g1Addr},
		{Public: pubPF.Addr(), Proto: "tcp", PublicPorts: [2]uint16{7000, 7002}, PrivatePorts: [2]uint16{9000, 9002}, Private: g1Addr},
	}
	s.Ingress = []FirewallRule{
		tcpRule(pubPF.Addr(), 2222, "198.51.100.0/24", "192.0.2.7/32"),
		{Public: pubPF.Addr(), Proto: "udp", Ports: [2]uint16{5000, 5010}, ICMPType: -1, ICMPCode: -1},
		{Public: pubSNAT1.Addr(), Proto: "all", ICMPType: -1, ICMPCode: -1, Sources: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}},
		{Public: pubSNAT.Addr(), Proto: "icmp", ICMPType: 8, ICMPCode: 0},
		{Public: pubSNAT.Addr(), Proto: "icmp", ICMPType: -1, ICMPCode: -1},
		{Public: pubSNAT.Addr(), Proto: "icmp", ICMPType: 3, ICMPCode: 4},
		{Public: pubSNAT.Addr(), Proto: "icmp", ICMPType: 42, ICMPCode: 77},
	}
	s.Egress = []EgressRule{
		{Proto: "tcp", Ports: [2]uint16{25, 25}, ICMPType: -1, ICMPCode: -1},
		{Proto: "udp", Ports: [2]uint16{1, 1024}, ICMPType: -1, ICMPCode: -1,
			Sources: []netip.Prefix{netip.MustParsePrefix("10.1.1.0/25")}, Dests: []netip.Prefix{netip.MustParsePrefix("8.8.8.8/32")}},
		{Proto: "icmp", ICMPType: 3, ICMPCode: -1},
		{Proto: "all", ICMPType: -1, ICMPCode: -1, Dests: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
	}
	return s
}

// bigSpec has n port-forwarding rules and n firewall rules opening them, over the public
// addresses of a /22.
func bigSpec(id string, n int) Spec {
	s := baseSpec(id)
	s.Public.Addrs = nil
	for i := 0; i < 8; i++ {
		s.Public.Addrs = append(s.Public.Addrs, netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)}), 24))
	}
	for i := 0; i < n; i++ {
		pub := s.Public.Addrs[1+i%7].Addr()
		port := uint16(10000 + i)
		priv := netip.AddrFrom4([4]byte{10, 1, 1, byte(10 + i%200)})
		s.PortForward = append(s.PortForward, PortForward{Public: pub, Proto: "tcp", PublicPorts: [2]uint16{port, port},
			PrivatePorts: [2]uint16{22, 22}, Private: priv})
		s.Ingress = append(s.Ingress, FirewallRule{Public: pub, Proto: "tcp", Ports: [2]uint16{port, port}, ICMPType: -1, ICMPCode: -1,
			Sources: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
	}
	return s
}

func netipPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// netipAddr parses an address; "" is the zero Addr.
func netipAddr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return netip.MustParseAddr(s)
}
