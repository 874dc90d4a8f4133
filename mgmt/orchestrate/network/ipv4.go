package network

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"strings"

	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// IPv4 addresses and subnets, on net/netip. Addresses are numbered (U32, FromU32) only where
// the database keys them by number (network_ips) or a range is walked.

// U32 is an IPv4 address as a number.
func U32(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

// FromU32 is the IPv4 address numbered u.
func FromU32(u uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b)
}

func ipToU32(a netip.Addr) uint32 { return U32(a) }
func u32ToIP(u uint32) netip.Addr { return FromU32(u) }

// ParseIPv4 parses an IPv4 address (surrounding blanks ignored).
func ParseIPv4(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	return a, err == nil && a.Is4()
}

func parseIPv4(s string) (netip.Addr, bool) { return ParseIPv4(s) }

// IPRange is an inclusive range of IPv4 addresses.
type IPRange struct{ Lo, Hi netip.Addr }

// ParseIPRange parses start and end of a range; ok is false unless both are IPv4 addresses
// and start is not above end.
func ParseIPRange(start, end string) (IPRange, bool) {
	s, ok1 := ParseIPv4(start)
	e, ok2 := ParseIPv4(end)
	return IPRange{s, e}, ok1 && ok2 && s.Compare(e) <= 0
}

// Overlaps reports whether r and o share an address.
func (r IPRange) Overlaps(o IPRange) bool { return r.Lo.Compare(o.Hi) <= 0 && o.Lo.Compare(r.Hi) <= 0 }

// Size is the number of addresses of r.
func (r IPRange) Size() int64 { return int64(U32(r.Hi)) - int64(U32(r.Lo)) + 1 }

// Addrs lists r's addresses.
func (r IPRange) Addrs() []string {
	out := make([]string, 0, max(r.Size(), 0))
	for a := r.Lo; a.IsValid() && a.Compare(r.Hi) <= 0; a = a.Next() {
		out = append(out, a.String())
	}
	return out
}

// Subnet is an IPv4 gateway with its prefix length.
type Subnet struct {
	GW   netip.Addr
	Bits int
}

// ParseSubnet validates a gateway and a dotted netmask.
func ParseSubnet(gateway, netmask string) (Subnet, error) {
	gw, ok := ParseIPv4(gateway)
	if !ok {
		return Subnet{}, orchestrate.ErrParam("Please specify a valid gateway: %q is not an IPv4 address", gateway)
	}
	m, ok := ParseIPv4(netmask)
	n := 0
	if ok {
		mu := U32(m)
		n = bits.LeadingZeros32(^mu)
		ok = n >= 1 && mu == ^uint32(0)<<(32-n)
	}
	if !ok {
		return Subnet{}, orchestrate.ErrParam("Please specify a valid netmask: %q is not a netmask like 255.255.255.0", netmask)
	}
	return Subnet{gw, n}, nil
}

func parseSubnet(gateway, netmask string) (Subnet, error) { return ParseSubnet(gateway, netmask) }

// SubnetOf is the subnet of an IPv4 prefix, its address standing for the gateway.
func SubnetOf(p netip.Prefix) Subnet { return Subnet{p.Addr(), p.Bits()} }

// SubnetOfCIDR parses a CIDR as a subnet whose "gateway" is the address given.
func SubnetOfCIDR(cidr string) (Subnet, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil || !p.Addr().Is4() || p.Bits() < 1 {
		return Subnet{}, orchestrate.ErrInternal("invalid CIDR %q", cidr)
	}
	return SubnetOf(p), nil
}

// Prefix is the subnet's network prefix.
func (n Subnet) Prefix() netip.Prefix { return netip.PrefixFrom(n.GW, n.Bits).Masked() }

// Network is the subnet's network address.
func (n Subnet) Network() netip.Addr { return n.Prefix().Addr() }

// Broadcast is the subnet's broadcast address.
func (n Subnet) Broadcast() netip.Addr { return FromU32(U32(n.Network()) | ^n.maskU32()) }

// Mask is the dotted netmask.
func (n Subnet) Mask() string { return FromU32(n.maskU32()).String() }

// CIDR is the subnet as network/bits.
func (n Subnet) CIDR() string { return n.Prefix().String() }

// Contains reports whether a is in the subnet.
func (n Subnet) Contains(a netip.Addr) bool { return n.Prefix().Contains(a) }

// Overlaps reports whether the subnets share an address.
func (n Subnet) Overlaps(o Subnet) bool { return n.Prefix().Overlaps(o.Prefix()) }

// LastUsable is the address below the broadcast address (the broadcast itself in a /31 or /32).
func (n Subnet) LastUsable() netip.Addr {
	if n.Bits >= 31 {
		return n.Broadcast()
	}
	return n.Broadcast().Prev()
}

func (n Subnet) maskU32() uint32 { return ^uint32(0) << (32 - n.Bits) }

// CheckRange validates start and end addresses inside the subnet, CloudStack's checkIpRange
// plus: not the network or broadcast address, and not including the gateway.
func (n Subnet) CheckRange(start, end, startParam, endParam string) (IPRange, error) {
	s, ok := ParseIPv4(start)
	if !ok {
		return IPRange{}, orchestrate.ErrParam("The start address of the IP range (%s) is not a valid IP address: %q", startParam, start)
	}
	e, ok := ParseIPv4(end)
	if !ok {
		return IPRange{}, orchestrate.ErrParam("The end address of the IP range (%s) is not a valid IP address: %q", endParam, end)
	}
	r := IPRange{s, e}
	for _, a := range []struct {
		param string
		a     netip.Addr
	}{{startParam, r.Lo}, {endParam, r.Hi}} {
		if !n.Contains(a.a) {
			return r, orchestrate.ErrParam("The %s address %s of the IP range is not in the CIDR subnet %s", a.param, a.a, n.CIDR())
		}
		if n.Bits < 31 && (a.a == n.Network() || a.a == n.Broadcast()) {
			return r, orchestrate.ErrParam("The %s address %s is the network or broadcast address of subnet %s", a.param, a.a, n.CIDR())
		}
	}
	if r.Lo.Compare(r.Hi) > 0 {
		return r, orchestrate.ErrParam("The start IP address (%s) must have a lower value than the end IP address (%s)", startParam, endParam)
	}
	if n.GW.Compare(r.Lo) >= 0 && n.GW.Compare(r.Hi) <= 0 {
		return r, orchestrate.ErrParam("The gateway %s must not be part of the IP range %s-%s", n.GW, r.Lo, r.Hi)
	}
	return r, nil
}
