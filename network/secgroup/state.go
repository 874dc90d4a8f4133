package secgroup

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// State is every filtered port of the host and the security groups its rules name. Ports
// not in it (the bridges' other ports: the router's, the VXLAN tunnel) are not filtered.
type State struct {
	Ports []Port
	// Groups maps a group id (the security group's uuid) to its members' addresses; each
	// becomes a pair of nftables sets (IPv4, IPv6), so a membership change is a set update.
	Groups map[string][]netip.Addr
}

// Port is one VM NIC's bridge port (its tap) and its security groups' rules merged.
type Port struct {
	Tap string           // the tap device, e.g. "at525400a1b2c3"
	MAC net.HardwareAddr // the NIC's MAC: frames from the tap must carry it
	IPs []netip.Addr     // the NIC's addresses: IPv4 and ARP from the tap must carry one
	// Ingress rules admit traffic to the VM; everything else is dropped (replies to the VM's
	// own connections pass). Egress rules admit traffic from the VM; with none, all is
	// allowed (CloudStack's default), with some, only what they admit.
	Ingress, Egress []Rule
}

// Rule admits one protocol (and port range or ICMP type) from (ingress) or to (egress) some
// CIDRs and the members of a group. No CIDR and no group means anywhere.
type Rule struct {
	Proto              string    // "tcp", "udp", "icmp", "all", or a protocol number
	Ports              [2]uint16 // tcp/udp port range, inclusive; {0, 0}: every port
	ICMPType, ICMPCode int       // icmp only; -1: any
	CIDRs              []netip.Prefix
	Group              string // a key of State.Groups
}

// protoNumbers are the protocols known by name.
var protoNumbers = map[string]int{"icmp": 1, "tcp": 6, "udp": 17}

// idPattern is what a group id or a tap name may contain: nftables names and comments stay
// plain.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// check validates the whole state before anything touches the kernel.
func (s State) check() error {
	for id, members := range s.Groups {
		if len(id) > 200 || !idPattern.MatchString(id) {
			return fmt.Errorf("group id %q: want 1-200 of A-Z a-z 0-9 _ . -", id)
		}
		for _, a := range members {
			if !a.IsValid() || a.Unmap().IsUnspecified() {
				return fmt.Errorf("group %s: member %v is not an address", id, a)
			}
		}
	}
	taps := map[string]bool{}
	for i, p := range s.Ports {
		if len(p.Tap) > 15 || !idPattern.MatchString(p.Tap) {
			return fmt.Errorf("port %d: tap %q is not an interface name", i, p.Tap)
		}
		if taps[p.Tap] {
			return fmt.Errorf("port %s: listed twice", p.Tap)
		}
		taps[p.Tap] = true
		if len(p.MAC) != 6 || p.MAC[0]&1 != 0 {
			return fmt.Errorf("port %s: mac %v is not a unicast ethernet address", p.Tap, p.MAC)
		}
		for _, a := range p.IPs {
			if !a.IsValid() || a.Unmap().IsUnspecified() || a.Unmap().IsMulticast() {
				return fmt.Errorf("port %s: address %v is not a unicast address", p.Tap, a)
			}
		}
		for dir, rules := range map[string][]Rule{"ingress": p.Ingress, "egress": p.Egress} {
			for j, r := range rules {
				if err := r.check(s.Groups); err != nil {
					return fmt.Errorf("port %s: %s rule %d: %w", p.Tap, dir, j, err)
				}
			}
		}
	}
	return nil
}

func (r Rule) check(groups map[string][]netip.Addr) error {
	proto, err := r.proto()
	if err != nil {
		return err
	}
	switch {
	case proto == 6 || proto == 17:
		if r.Ports[0] > r.Ports[1] || (r.Ports[0] == 0) != (r.Ports[1] == 0) {
			return fmt.Errorf("port range %d-%d", r.Ports[0], r.Ports[1])
		}
	case r.Ports != [2]uint16{}:
		return fmt.Errorf("ports given for protocol %s", r.Proto)
	}
	if proto == 1 {
		if r.ICMPType < -1 || r.ICMPType > 255 || r.ICMPCode < -1 || r.ICMPCode > 255 {
			return fmt.Errorf("icmp type %d code %d: want -1 or 0-255", r.ICMPType, r.ICMPCode)
		}
		if r.ICMPType == -1 && r.ICMPCode != -1 {
			return fmt.Errorf("icmp code %d without a type", r.ICMPCode)
		}
	}
	for _, c := range r.CIDRs {
		if !c.IsValid() {
			return fmt.Errorf("cidr %v", c)
		}
	}
	if r.Group != "" {
		if _, ok := groups[r.Group]; !ok {
			return fmt.Errorf("group %q is not in the state's groups", r.Group)
		}
	}
	return nil
}

// proto returns the rule's IP protocol number, -1 for "all".
func (r Rule) proto() (int, error) {
	p := strings.ToLower(r.Proto)
	if p == "all" {
		return -1, nil
	}
	if n, ok := protoNumbers[p]; ok {
		return n, nil
	}
	if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 255 {
		return n, nil
	}
	return 0, fmt.Errorf("protocol %q: want tcp, udp, icmp, all or 0-255", r.Proto)
}

// members splits a group's members by family, sorted and without duplicates.
func members(addrs []netip.Addr) (v4, v6 []netip.Addr) {
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		a = a.Unmap()
		if seen[a] {
			continue
		}
		seen[a] = true
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	less := func(s []netip.Addr) func(i, j int) bool { return func(i, j int) bool { return s[i].Less(s[j]) } }
	sort.Slice(v4, less(v4))
	sort.Slice(v6, less(v6))
	return v4, v6
}
