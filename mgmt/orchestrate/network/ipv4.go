package network

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// IPv4 arithmetic.

func ipToU32(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func u32ToIP(u uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b)
}

func parseIPv4(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	return a, err == nil && a.Is4()
}

// parseIPRange parses an inclusive range of IPv4 addresses.
func parseIPRange(start, end string) (lo, hi uint32, ok bool) {
	s, ok1 := parseIPv4(start)
	e, ok2 := parseIPv4(end)
	return ipToU32(s), ipToU32(e), ok1 && ok2 && ipToU32(s) <= ipToU32(e)
}

// subnet is an IPv4 gateway with its prefix length.
type subnet struct {
	gw   netip.Addr
	bits int
}

// parseSubnet validates a gateway and a dotted netmask.
func parseSubnet(gateway, netmask string) (subnet, error) {
	gw, ok := parseIPv4(gateway)
	if !ok {
		return subnet{}, orchestrate.ErrParam("Please specify a valid gateway: %q is not an IPv4 address", gateway)
	}
	m, ok := parseIPv4(netmask)
	bits := 0
	if ok {
		mu := ipToU32(m)
		for bits < 32 && mu&(1<<(31-bits)) != 0 {
			bits++
		}
		ok = bits >= 1 && mu == ^uint32(0)<<(32-bits)
	}
	if !ok {
		return subnet{}, orchestrate.ErrParam("Please specify a valid netmask: %q is not a netmask like 255.255.255.0", netmask)
	}
	return subnet{gw, bits}, nil
}

// subnetOfCIDR parses a CIDR as a subnet whose "gateway" is the address given.
func subnetOfCIDR(cidr string) (subnet, error) {
	i := strings.IndexByte(cidr, '/')
	if i < 0 {
		return subnet{}, orchestrate.ErrInternal("invalid CIDR %q", cidr)
	}
	var bits int
	if _, err := fmt.Sscanf(cidr[i+1:], "%d", &bits); err != nil || bits < 1 || bits > 32 {
		return subnet{}, orchestrate.ErrInternal("invalid CIDR %q", cidr)
	}
	a, ok := parseIPv4(cidr[:i])
	if !ok {
		return subnet{}, orchestrate.ErrInternal("invalid CIDR %q", cidr)
	}
	return subnet{gw: a, bits: bits}, nil
}

func (n subnet) maskU32() uint32   { return ^uint32(0) << (32 - n.bits) }
func (n subnet) network() uint32   { return ipToU32(n.gw) & n.maskU32() }
func (n subnet) broadcast() uint32 { return n.network() | ^n.maskU32() }
func (n subnet) mask() string      { return u32ToIP(n.maskU32()).String() }
func (n subnet) cidr() string      { return u32ToIP(n.network()).String() + "/" + strconv.Itoa(n.bits) }
