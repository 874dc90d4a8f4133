package secgroup

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The expressions the rules are made of, each a short list for one match. They load into
// register 1 and compare there; a rule is the concatenation of its matches and a verdict.

const (
	etherIPv4 = 0x0800
	etherARP  = 0x0806
	etherIPv6 = 0x86dd

	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// etherType matches the frame's ethertype (an untagged frame's).
func etherType(t uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 12, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(t)},
	}
}

// etherTypeNone matches a frame whose ethertype is none of ts.
func etherTypeNone(ts ...uint16) []expr.Any {
	out := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 12, Len: 2}}
	for _, t := range ts {
		out = append(out, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: be16(t)})
	}
	return out
}

// etherSrcNot matches a frame whose source MAC is not mac.
func etherSrcNot(mac net.HardwareAddr) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte(mac)},
	}
}

// arpSenderMACNot matches an (Ethernet/IPv4) ARP packet whose sender hardware address is not mac.
func arpSenderMACNot(mac net.HardwareAddr) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 6},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte(mac)},
	}
}

// arpSenderIPNone matches an ARP packet whose sender IP is none of ips.
func arpSenderIPNone(ips []netip.Addr) []expr.Any {
	out := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 14, Len: 4}}
	for _, a := range ips {
		out = append(out, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: a.AsSlice()})
	}
	return out
}

// addrOffset is where an IPv4 or IPv6 header keeps its source or destination address.
func addrOffset(v6, src bool) (off, n uint32) {
	switch {
	case v6 && src:
		return 8, 16
	case v6:
		return 24, 16
	case src:
		return 12, 4
	default:
		return 16, 4
	}
}

// loadAddr loads the packet's source or destination address.
func loadAddr(v6, src bool) expr.Any {
	off, n := addrOffset(v6, src)
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}
}

// addrNone matches a packet whose source address is none of ips (of the family v6 says).
func addrNone(v6 bool, ips []netip.Addr) []expr.Any {
	out := []expr.Any{loadAddr(v6, true)}
	for _, a := range ips {
		out = append(out, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: a.AsSlice()})
	}
	return out
}

// prefix matches a packet's source or destination address inside p; a /0 matches all and
// gives no expression.
func prefix(src bool, p netip.Prefix) []expr.Any {
	p = p.Masked()
	v6 := p.Addr().Is6()
	if p.Bits() == 0 {
		return nil
	}
	out := []expr.Any{loadAddr(v6, src)}
	if p.Bits() < p.Addr().BitLen() {
		mask := net.CIDRMask(p.Bits(), p.Addr().BitLen())
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(mask)),
			Mask: []byte(mask), Xor: make([]byte, len(mask))})
	}
	return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()})
}

// notLinkLocal6 matches an IPv6 packet whose source is outside fe80::/10.
func notLinkLocal6() []expr.Any {
	mask := net.CIDRMask(10, 128)
	return []expr.Any{
		loadAddr(true, true),
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 16, Mask: []byte(mask), Xor: make([]byte, 16)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: netip.MustParseAddr("fe80::").AsSlice()},
	}
}

// inSet matches a packet's source or destination address in the named set.
func inSet(v6, src bool, set string) []expr.Any {
	return []expr.Any{loadAddr(v6, src), &expr.Lookup{SourceRegister: 1, SetName: set}}
}

// l4proto matches the packet's transport protocol (after any IPv6 extension headers).
func l4proto(p int) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(p)}},
	}
}

// thPort matches a TCP/UDP source (off 0) or destination (off 2) port in lo-hi.
func thPort(off uint32, lo, hi uint16) []expr.Any {
	out := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2}}
	if lo == hi {
		return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(lo)})
	}
	return append(out, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: be16(lo), ToData: be16(hi)})
}

// udp matches UDP from port sport (0: any) to dport (0: any).
func udp(sport, dport uint16) []expr.Any {
	out := l4proto(protoUDP)
	if sport != 0 {
		out = append(out, thPort(0, sport, sport)...)
	}
	if dport != 0 {
		out = append(out, thPort(2, dport, dport)...)
	}
	return out
}

// icmpTypes matches ICMP (or ICMPv6: proto) messages of a type in lo-hi.
func icmpTypes(proto int, lo, hi byte) []expr.Any {
	out := append(l4proto(proto), &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1})
	if lo == hi {
		return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{lo}})
	}
	return append(out, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: []byte{lo}, ToData: []byte{hi}})
}

// icmpCode matches the ICMP code.
func icmpCode(code byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 1, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{code}},
	}
}

// established matches packets the IP layer's conntrack found established or related: the
// mark conntrack.go's inet chains set.
func established() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(EstablishedMark),
			Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// ifname is a device name as meta iifname/oifname compare it: NUL-padded to IFNAMSIZ.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

// rule concatenates matches and a verdict.
func rule(v expr.VerdictKind, matches ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, m := range matches {
		out = append(out, m...)
	}
	return append(out, verdict(v))
}
