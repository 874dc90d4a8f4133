package router

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// rule is one nftables rule: its expressions and the same rule in nft's notation, which the
// golden tests read and the logs show.
type rule struct {
	text  string
	exprs []expr.Any
}

// rb builds a rule match by match; a verdict or a NAT statement ends it.
type rb struct {
	text  []string
	exprs []expr.Any
	ip4   bool // meta nfproto ipv4 is in the rule already
	ip4At int  // where its text goes, if nothing after it implies it
}

func match() *rb { return &rb{} }

func (b *rb) add(text string, es ...expr.Any) *rb {
	if text != "" {
		b.text = append(b.text, text)
	}
	b.exprs = append(b.exprs, es...)
	return b
}

// ifName is a device name as the kernel compares it: IFNAMSIZ bytes, NUL padded.
func ifName(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

func (b *rb) iif(name string) *rb {
	return b.add(fmt.Sprintf("iifname %q", name),
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifName(name)})
}

func (b *rb) oif(name string) *rb {
	return b.add(fmt.Sprintf("oifname %q", name),
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifName(name)})
}

// ipv4 makes the rule match IPv4 only: an inet table sees IPv6 too, and an IPv4 header
// field must not be read from an IPv6 packet.
func (b *rb) ipv4() *rb {
	if b.ip4 {
		return b
	}
	b.ip4, b.ip4At = true, len(b.text)
	return b.add("",
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}})
}

// ipField matches the IPv4 source (offset 12) or destination (16) against a prefix.
func (b *rb) ipField(name string, offset uint32, p netip.Prefix) *rb {
	b.ipv4()
	p = p.Masked()
	text := "ip " + name + " " + p.String()
	if p.Bits() == 32 {
		text = "ip " + name + " " + p.Addr().String()
	}
	if p.Bits() == 0 {
		return b // every IPv4 address
	}
	b.add(text, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4})
	if p.Bits() < 32 {
		m := make([]byte, 4)
		for i := 0; i < p.Bits(); i++ {
			m[i/8] |= 0x80 >> (i % 8)
		}
		b.add("", &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m, Xor: make([]byte, 4)})
	}
	a := p.Addr().As4()
	return b.add("", &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]})
}

func (b *rb) saddr(p netip.Prefix) *rb { return b.ipField("saddr", 12, p) }

func (b *rb) daddr(a netip.Addr) *rb { return b.ipField("daddr", 16, netip.PrefixFrom(a, 32)) }

// protoNumbers are the protocols rules name.
var protoNumbers = map[string]byte{"icmp": unix.IPPROTO_ICMP, "tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP}

// proto matches the layer 4 protocol; "all" matches any IPv4 packet.
func (b *rb) proto(p string) *rb {
	b.ipv4()
	if p == "all" {
		return b
	}
	return b.add("meta l4proto "+p,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNumbers[p]}})
}

// l4proto matches a protocol number in either family (for ICMPv6).
func (b *rb) l4proto(name string, n byte) *rb {
	return b.add("meta l4proto "+name,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{n}})
}

// dport matches the transport destination port range; zero matches every port. The
// protocol must be matched before (tcp or udp).
func (b *rb) dport(r [2]uint16) *rb {
	if r == [2]uint16{} {
		return b
	}
	// nft writes "meta l4proto tcp th dport 22" as "tcp dport 22"; so does the text.
	text := "th dport " + portText(r)
	if n := len(b.text); n > 0 && strings.HasPrefix(b.text[n-1], "meta l4proto ") {
		text = strings.TrimPrefix(b.text[n-1], "meta l4proto ") + " dport " + portText(r)
		b.text = b.text[:n-1]
	}
	b.add(text, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
	if r[0] == r[1] {
		return b.add("", &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r[0])})
	}
	return b.add("", &expr.Range{Op: expr.CmpOpEq, Register: 1,
		FromData: binaryutil.BigEndian.PutUint16(r[0]), ToData: binaryutil.BigEndian.PutUint16(r[1])})
}

func portText(r [2]uint16) string {
	if r[0] == r[1] {
		return strconv.Itoa(int(r[0]))
	}
	return strconv.Itoa(int(r[0])) + "-" + strconv.Itoa(int(r[1]))
}

// icmp matches an ICMP type and code, -1 being any; the protocol must be matched before.
func (b *rb) icmp(typ, code int) *rb {
	if typ >= 0 {
		// nft writes "meta l4proto icmp icmp type 8" as "icmp type echo-request".
		if n := len(b.text); n > 0 && b.text[n-1] == "meta l4proto icmp" {
			b.text = b.text[:n-1]
		}
		b.add("icmp type "+icmpName(icmpTypes, typ),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(typ)}})
	}
	if code >= 0 {
		b.add("icmp code "+icmpName(icmpCodes, code),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 1, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(code)}})
	}
	return b
}

// icmpTypes and icmpCodes are the names nft gives ICMP types and codes.
var (
	icmpTypes = map[int]string{0: "echo-reply", 3: "destination-unreachable", 4: "source-quench", 5: "redirect",
		8: "echo-request", 9: "router-advertisement", 10: "router-solicitation", 11: "time-exceeded",
		12: "parameter-problem", 13: "timestamp-request", 14: "timestamp-reply", 15: "info-request",
		16: "info-reply", 17: "address-mask-request", 18: "address-mask-reply"}
	icmpCodes = map[int]string{0: "net-unreachable", 1: "host-unreachable", 2: "prot-unreachable",
		3: "port-unreachable", 4: "frag-needed", 9: "net-prohibited", 10: "host-prohibited", 13: "admin-prohibited"}
)

func icmpName(names map[int]string, n int) string {
	if s, ok := names[n]; ok {
		return s
	}
	return strconv.Itoa(n)
}

// l4 matches a rule's protocol part: protocol, then ports or icmp type and code.
func (b *rb) l4(proto string, ports [2]uint16, icmpType, icmpCode int) *rb {
	b.proto(proto)
	switch proto {
	case "tcp", "udp":
		b.dport(ports)
	case "icmp":
		b.icmp(icmpType, icmpCode)
	}
	return b
}

// ctBits matches packets whose conntrack key (state or status) has any of bits set.
func (b *rb) ctBits(text string, key expr.CtKey, bits uint32) *rb {
	return b.add(text,
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
}

func (b *rb) established() *rb {
	return b.ctBits("ct state established,related", expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
}

func (b *rb) invalid() *rb {
	return b.ctBits("ct state invalid", expr.CtKeySTATE, expr.CtStateBitINVALID)
}

// ipsDstNAT is IPS_DST_NAT of the conntrack status: the connection was DNATed.
const ipsDstNAT = 1 << 5

func (b *rb) dnatted() *rb { return b.ctBits("ct status dnat", expr.CtKeySTATUS, ipsDstNAT) }

func (b *rb) end(text string, es ...expr.Any) rule {
	b.add(text, es...)
	// As nft does, the text says "meta nfproto ipv4" only when nothing after it (an ip
	// field, icmp) implies it.
	if b.ip4 {
		implied := false
		for _, t := range b.text[b.ip4At:] {
			implied = implied || strings.HasPrefix(t, "ip ") || strings.HasPrefix(t, "icmp ") ||
				t == "meta l4proto icmp" || strings.HasPrefix(t, "snat ip") || strings.HasPrefix(t, "dnat ip")
		}
		if !implied {
			b.text = slices.Insert(b.text, b.ip4At, "meta nfproto ipv4")
		}
	}
	return rule{text: strings.Join(b.text, " "), exprs: b.exprs}
}

func (b *rb) accept() rule { return b.end("accept", &expr.Verdict{Kind: expr.VerdictAccept}) }
func (b *rb) drop() rule   { return b.end("drop", &expr.Verdict{Kind: expr.VerdictDrop}) }
func (b *rb) jump(chain string) rule {
	return b.end("jump "+chain, &expr.Verdict{Kind: expr.VerdictJump, Chain: chain})
}

// nat ends the rule with a source or destination NAT to addr and, unless ports is zero,
// to that port range.
func (b *rb) nat(typ expr.NATType, addr netip.Addr, ports [2]uint16) rule {
	b.ipv4()
	word := "snat"
	if typ == expr.NATTypeDestNAT {
		word = "dnat"
	}
	a := addr.As4()
	n := &expr.NAT{Type: typ, Family: unix.NFPROTO_IPV4, RegAddrMin: 1}
	es := []expr.Any{&expr.Immediate{Register: 1, Data: a[:]}}
	text := word + " ip to " + addr.String()
	if ports != [2]uint16{} {
		text += ":" + portText(ports)
		es = append(es, &expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(ports[0])})
		n.RegProtoMin, n.Specified = 2, true
		if ports[1] != ports[0] {
			es = append(es, &expr.Immediate{Register: 3, Data: binaryutil.BigEndian.PutUint16(ports[1])})
			n.RegProtoMax = 3
		}
	}
	return b.end(text, append(es, n)...)
}
