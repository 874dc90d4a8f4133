package router

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Spec is what a network's router should be. Apply makes the kernel match it.
type Spec struct {
	// ID is the network's id (a uuid): the namespace is "atr-<ID>" and the host-side veth
	// names are derived from it.
	ID string
	// Guest is the router's leg in the guest network: Addrs[0] is the guests' gateway with
	// the guest CIDR's length (e.g. 10.1.1.1/24). It takes no Gateway.
	Guest Side
	// Public is the router's leg in the public network, nil for a router without one. Addrs
	// holds every public IP of the network with its range's prefix length; Gateway is the
	// default route.
	Public *Side
	// SourceNAT, when valid, is the public IP the guest CIDR leaves by.
	SourceNAT netip.Addr
	// StaticNAT maps public IPs one to one onto guests, both ways.
	StaticNAT []StaticNAT
	// PortForward sends ports of public IPs to guests.
	PortForward []PortForward
	// Ingress opens public IPs (and what static NAT and port forwarding put behind them);
	// everything else to a public IP is dropped. Rules match the original destination (the
	// public IP and the public port), as CloudStack's firewall rules do.
	Ingress []FirewallRule
	// Egress filters what the guests send out of the public side.
	Egress []EgressRule
	// EgressDefaultAllow is the network offering's egress default policy: true allows all
	// but what Egress rules match (they deny), false denies all but what they match (they
	// allow).
	EgressDefaultAllow bool
}

// Side is one leg of the router: a veth whose host end is a port of Bridge.
type Side struct {
	Bridge  string         // the bridge the host end joins; it must exist
	Addrs   []netip.Prefix // the router's addresses on this leg; the first is the primary
	Gateway netip.Addr     // the default route (public side only)
	// MAC, when set, is the router's MAC on this leg: keeping it across hosts lets a moved
	// router keep its neighbours' ARP entries.
	MAC net.HardwareAddr
}

// StaticNAT is a one-to-one NAT of a public IP onto a guest.
type StaticNAT struct {
	Public, Private netip.Addr
}

// PortForward forwards a port range of a public IP to a guest. Both ranges have the same
// length; [2]uint16{p, p} is one port.
type PortForward struct {
	Public       netip.Addr
	Proto        string // "tcp" or "udp"
	PublicPorts  [2]uint16
	PrivatePorts [2]uint16
	Private      netip.Addr
}

// FirewallRule allows traffic to a public IP.
type FirewallRule struct {
	Public netip.Addr
	Proto  string    // "tcp", "udp", "icmp" or "all"
	Ports  [2]uint16 // tcp and udp: the destination port range; zero means every port
	// ICMPType and ICMPCode narrow an icmp rule; -1 is any. A code needs a type. Other
	// protocols ignore them.
	ICMPType, ICMPCode int
	Sources            []netip.Prefix // none means 0.0.0.0/0
}

// EgressRule matches traffic the guests send out of the public side.
type EgressRule struct {
	Proto              string
	Ports              [2]uint16
	ICMPType, ICMPCode int
	Sources            []netip.Prefix // none means the whole guest CIDR
	Dests              []netip.Prefix // none means anywhere
}

// maxShiftedPorts bounds a port-forwarding rule whose private range starts elsewhere than
// its public range: nftables cannot add an offset to a port, so such a range becomes one
// rule per port.
const maxShiftedPorts = 256

// maxIDLen bounds a network id (it names a file under the netns directory).
const maxIDLen = 128

var errSpec = errors.New("invalid router spec")

// specErr wraps errSpec with what is wrong.
func specErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errSpec, fmt.Sprintf(format, a...))
}

// checkID validates a network id before it becomes a file name and device names.
func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return specErr("id %q must have 1 to %d characters", id, maxIDLen)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return specErr("id %q may hold only letters, digits, '-', '_' and '.'", id)
		}
	}
	if id == "." || id == ".." {
		return specErr("id %q is not a name", id)
	}
	return nil
}

// checkIfName validates a device name the kernel would take.
func checkIfName(what, name string) error {
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t\n:") || name == "." || name == ".." {
		return specErr("%s %q is not a valid device name (1-15 characters, no '/', ':' or spaces)", what, name)
	}
	return nil
}

// guestCIDR is the guest network's prefix: the first guest address, masked.
func (s *Spec) guestCIDR() netip.Prefix { return s.Guest.Addrs[0].Masked() }

// hasPublic reports whether ip is one of the public side's addresses.
func (s *Spec) hasPublic(ip netip.Addr) bool {
	if s.Public == nil {
		return false
	}
	for _, p := range s.Public.Addrs {
		if p.Addr() == ip {
			return true
		}
	}
	return false
}

// check validates the spec: everything Apply refuses is refused here, before the kernel is
// touched.
func (s *Spec) check() error {
	if err := checkID(s.ID); err != nil {
		return err
	}
	if err := s.Guest.check("guest", false); err != nil {
		return err
	}
	cidr := s.guestCIDR()
	if s.Public != nil {
		if err := s.Public.check("public", true); err != nil {
			return err
		}
		for _, p := range s.Public.Addrs {
			if p.Masked().Overlaps(cidr) {
				return specErr("public address %s overlaps the guest network %s", p, cidr)
			}
		}
	}
	needPublic := func(what string, ip netip.Addr) error {
		if s.Public == nil {
			return specErr("%s %s needs a public side, and the router has none", what, ip)
		}
		if !s.hasPublic(ip) {
			return specErr("%s %s is not an address of the public side", what, ip)
		}
		return nil
	}
	inGuest := func(what string, ip netip.Addr) error {
		if !ip.Is4() || !cidr.Contains(ip) || ip == s.Guest.Addrs[0].Addr() {
			return specErr("%s %s is not a guest address of %s", what, ip, cidr)
		}
		return nil
	}
	if s.SourceNAT.IsValid() {
		if err := needPublic("source NAT address", s.SourceNAT); err != nil {
			return err
		}
	}
	staticNAT := map[netip.Addr]bool{}
	staticPriv := map[netip.Addr]bool{}
	for _, n := range s.StaticNAT {
		if err := needPublic("static NAT address", n.Public); err != nil {
			return err
		}
		if n.Public == s.SourceNAT {
			return specErr("static NAT address %s is the source NAT address", n.Public)
		}
		if err := inGuest("static NAT target", n.Private); err != nil {
			return err
		}
		if staticNAT[n.Public] || staticPriv[n.Private] {
			return specErr("static NAT %s -> %s: the public or the private address has static NAT already", n.Public, n.Private)
		}
		staticNAT[n.Public], staticPriv[n.Private] = true, true
	}
	for i, f := range s.PortForward {
		what := fmt.Sprintf("port forwarding rule %d", i)
		if err := needPublic(what+" public address", f.Public); err != nil {
			return err
		}
		if staticNAT[f.Public] {
			return specErr("%s: %s has static NAT", what, f.Public)
		}
		if err := inGuest(what+" private address", f.Private); err != nil {
			return err
		}
		if f.Proto != "tcp" && f.Proto != "udp" {
			return specErr("%s: protocol %q is not tcp or udp", what, f.Proto)
		}
		if err := checkPorts(what+" public ports", f.PublicPorts, false); err != nil {
			return err
		}
		if err := checkPorts(what+" private ports", f.PrivatePorts, false); err != nil {
			return err
		}
		n := int(f.PublicPorts[1]) - int(f.PublicPorts[0])
		if int(f.PrivatePorts[1])-int(f.PrivatePorts[0]) != n {
			return specErr("%s: public ports %d-%d and private ports %d-%d differ in length", what,
				f.PublicPorts[0], f.PublicPorts[1], f.PrivatePorts[0], f.PrivatePorts[1])
		}
		if n > 0 && f.PublicPorts[0] != f.PrivatePorts[0] && n+1 > maxShiftedPorts {
			return specErr("%s: a range whose private ports start elsewhere than its public ports may span at most %d ports", what, maxShiftedPorts)
		}
		for j, g := range s.PortForward[:i] {
			if g.Public == f.Public && g.Proto == f.Proto && g.PublicPorts[0] <= f.PublicPorts[1] && f.PublicPorts[0] <= g.PublicPorts[1] {
				return specErr("%s: %s %s ports %d-%d overlap port forwarding rule %d", what, f.Public, f.Proto,
					f.PublicPorts[0], f.PublicPorts[1], j)
			}
		}
	}
	for i, r := range s.Ingress {
		what := fmt.Sprintf("ingress rule %d", i)
		if err := needPublic(what+" address", r.Public); err != nil {
			return err
		}
		if err := checkMatch(what, r.Proto, r.Ports, r.ICMPType, r.ICMPCode); err != nil {
			return err
		}
		if err := checkPrefixes(what+" source", r.Sources); err != nil {
			return err
		}
	}
	for i, r := range s.Egress {
		what := fmt.Sprintf("egress rule %d", i)
		if err := checkMatch(what, r.Proto, r.Ports, r.ICMPType, r.ICMPCode); err != nil {
			return err
		}
		if err := checkPrefixes(what+" source", r.Sources); err != nil {
			return err
		}
		if err := checkPrefixes(what+" destination", r.Dests); err != nil {
			return err
		}
	}
	return nil
}

// check validates one leg.
func (sd *Side) check(what string, public bool) error {
	if err := checkIfName(what+" bridge", sd.Bridge); err != nil {
		return err
	}
	if len(sd.Addrs) == 0 {
		return specErr("%s side has no address", what)
	}
	seen := map[netip.Addr]bool{}
	for _, p := range sd.Addrs {
		if !p.IsValid() || !p.Addr().Is4() || p.Bits() < 1 || p.Bits() > 32 {
			return specErr("%s address %v is not an IPv4 address with a prefix length of 1-32", what, p)
		}
		a := p.Addr()
		if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || (p.Bits() < 31 && (a == p.Masked().Addr() || a == lastAddr(p))) {
			return specErr("%s address %s is not a host address", what, p)
		}
		if seen[a] {
			return specErr("%s address %s is given twice", what, a)
		}
		seen[a] = true
	}
	if sd.MAC != nil && (len(sd.MAC) != 6 || sd.MAC[0]&1 != 0 || slices.Equal(sd.MAC, make(net.HardwareAddr, 6))) {
		return specErr("%s MAC %s is not a unicast Ethernet address", what, sd.MAC)
	}
	if !public {
		if sd.Gateway.IsValid() {
			return specErr("the guest side takes no gateway (the router is the guests' gateway)")
		}
		return nil
	}
	if sd.Gateway.IsValid() {
		if !sd.Gateway.Is4() {
			return specErr("public gateway %s is not an IPv4 address", sd.Gateway)
		}
		on := false
		for _, p := range sd.Addrs {
			if p.Contains(sd.Gateway) && p.Addr() != sd.Gateway {
				on = true
			}
		}
		if !on {
			return specErr("public gateway %s is on none of the public side's subnets", sd.Gateway)
		}
	}
	return nil
}

// lastAddr is a prefix's broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

// checkPorts validates a port range; zero (both ends 0) is accepted where any says so.
func checkPorts(what string, p [2]uint16, zeroIsAny bool) error {
	if p == [2]uint16{} && zeroIsAny {
		return nil
	}
	if p[0] == 0 || p[1] < p[0] {
		return specErr("%s %d-%d are not a range within 1-65535", what, p[0], p[1])
	}
	return nil
}

// checkMatch validates the protocol part of a firewall or egress rule.
func checkMatch(what, proto string, ports [2]uint16, icmpType, icmpCode int) error {
	switch proto {
	case "tcp", "udp": // the icmp fields are ignored
		return checkPorts(what+" ports", ports, true)
	case "icmp":
		if ports != [2]uint16{} {
			return specErr("%s: icmp takes no ports", what)
		}
		if icmpType < -1 || icmpType > 255 || icmpCode < -1 || icmpCode > 255 {
			return specErr("%s: icmp type %d and code %d must be -1 or 0-255", what, icmpType, icmpCode)
		}
		if icmpType == -1 && icmpCode != -1 {
			return specErr("%s: an icmp code needs an icmp type", what)
		}
		return nil
	case "all":
		if ports != [2]uint16{} {
			return specErr("%s: protocol all takes no ports", what)
		}
		return nil
	}
	return specErr("%s: protocol %q is not tcp, udp, icmp or all", what, proto)
}

// checkPrefixes accepts IPv4 prefixes only.
func checkPrefixes(what string, ps []netip.Prefix) error {
	for _, p := range ps {
		if !p.IsValid() || !p.Addr().Is4() {
			return specErr("%s %v is not an IPv4 CIDR", what, p)
		}
	}
	return nil
}
