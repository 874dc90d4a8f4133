package secgroup

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sort"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Names in the "bridge atoll" table.
const (
	tableName = "atoll"
	fromVMMap = "from_vm" // tap -> jump to the port's egress chain ("o-<tap>-<hash>")
	toVMMap   = "to_vm"   // tap -> jump to the port's ingress chain ("i-<tap>-<hash>")
)

// baseChains are the table's hooked chains: frames bridged between ports (forward), frames
// from a port to the host's bridge device (input) and from the host to a port (output).
// Their rules never change: a port is filtered by its elements in the two maps.
var baseChains = []struct {
	name string
	hook *nftables.ChainHook
	maps []string // looked up by iifname (from_vm) or oifname (to_vm), in this order
}{
	{"forward", nftables.ChainHookForward, []string{fromVMMap, toVMMap}},
	{"input", nftables.ChainHookInput, []string{fromVMMap}},
	{"output", nftables.ChainHookOutput, []string{toVMMap}},
}

// setName is the name of a group's set of IPv4 (g4_) or IPv6 (g6_) members.
func setName(group string, v6 bool) string {
	if v6 {
		return "g6_" + group
	}
	return "g4_" + group
}

// portChain is one port's chain as it should be: its name carries a hash of its rules, so a
// chain already in the kernel under that name needs no rewrite.
type portChain struct {
	name  string
	rules [][]expr.Any
}

// plan is the desired table, built from a State without the kernel.
type plan struct {
	sets   map[string][]netip.Addr // set name -> members
	chains []portChain             // sorted by name
	fromVM map[string]string       // tap -> egress chain
	toVM   map[string]string       // tap -> ingress chain
}

func build(s State) plan {
	p := plan{sets: map[string][]netip.Addr{}, fromVM: map[string]string{}, toVM: map[string]string{}}
	for id, addrs := range s.Groups {
		v4, v6 := members(addrs)
		p.sets[setName(id, false)] = v4
		p.sets[setName(id, true)] = v6
	}
	for _, port := range s.Ports {
		out := named("o-"+port.Tap, egressRules(port))
		in := named("i-"+port.Tap, ingressRules(port))
		p.chains = append(p.chains, out, in)
		p.fromVM[port.Tap] = out.name
		p.toVM[port.Tap] = in.name
	}
	sort.Slice(p.chains, func(i, j int) bool { return p.chains[i].name < p.chains[j].name })
	return p
}

// named gives a chain its name: prefix, "-", and 12 hex digits of a hash of its rules.
func named(prefix string, rules [][]expr.Any) portChain {
	h := sha256.New()
	for _, r := range rules {
		for _, e := range r {
			b, err := expr.Marshal(byte(nftables.TableFamilyBridge), e)
			if err != nil { // only a broken expression fails; Apply's flush reports it
				b = []byte(err.Error())
			}
			h.Write(b)
		}
		h.Write([]byte{0xff})
	}
	return portChain{name: prefix + "-" + hex.EncodeToString(h.Sum(nil))[:12], rules: rules}
}

func split(ips []netip.Addr) (v4, v6 []netip.Addr) { return members(ips) }

// egressRules filter frames from the VM: anti-spoofing first (its MAC; its IPs for IPv4,
// ARP and IPv6), then DHCP and neighbour discovery, replies of established connections,
// and the egress rules, which end in a drop once there is one.
func egressRules(p Port) [][]expr.Any {
	v4, v6 := split(p.IPs)
	arpIPs := append([]netip.Addr{netip.IPv4Unspecified()}, v4...) // ARP probes (RFC 5227) come from 0.0.0.0
	v6ok := append([]netip.Addr{netip.IPv6Unspecified()}, v6...)   // DAD comes from ::
	rules := [][]expr.Any{
		rule(expr.VerdictDrop, etherSrcNot(p.MAC)),
		rule(expr.VerdictDrop, etherType(etherARP), arpSenderMACNot(p.MAC)),
		rule(expr.VerdictDrop, etherType(etherARP), arpSenderIPNone(arpIPs)),
		rule(expr.VerdictReturn, etherType(etherARP)),
		// DHCP: the client may ask (from 0.0.0.0 too), the VM may not serve.
		rule(expr.VerdictReturn, etherType(etherIPv4), udp(68, 67)),
		rule(expr.VerdictDrop, etherType(etherIPv4), udp(67, 0)),
		rule(expr.VerdictDrop, etherType(etherIPv4), addrNone(false, v4)),
		rule(expr.VerdictDrop, etherType(etherIPv6), addrNone(true, v6ok), notLinkLocal6()),
		// Neighbour discovery (router and neighbour solicitations, advertisements) and the
		// DHCPv6 client pass; router advertisements and a DHCPv6 server do not.
		rule(expr.VerdictReturn, etherType(etherIPv6), icmpTypes(protoICMPv6, 133, 133)),
		rule(expr.VerdictReturn, etherType(etherIPv6), icmpTypes(protoICMPv6, 135, 136)),
		rule(expr.VerdictDrop, etherType(etherIPv6), icmpTypes(protoICMPv6, 134, 134)),
		rule(expr.VerdictReturn, etherType(etherIPv6), udp(546, 547)),
		rule(expr.VerdictDrop, etherType(etherIPv6), udp(547, 0)),
		rule(expr.VerdictDrop, etherTypeNone(etherIPv4, etherIPv6)),
		rule(expr.VerdictReturn, established()),
	}
	for _, r := range p.Egress {
		rules = append(rules, ruleExprs(r, false, expr.VerdictReturn)...)
	}
	if len(p.Egress) > 0 {
		rules = append(rules, rule(expr.VerdictDrop))
	}
	return rules
}

// ingressRules filter frames to the VM: replies of its connections, ARP, DHCP replies and
// neighbour discovery pass, then what the ingress rules admit; the rest is dropped.
func ingressRules(p Port) [][]expr.Any {
	rules := [][]expr.Any{
		rule(expr.VerdictAccept, established()),
		rule(expr.VerdictAccept, etherType(etherARP)),
		rule(expr.VerdictAccept, etherType(etherIPv4), udp(67, 68)),
		rule(expr.VerdictAccept, etherType(etherIPv6), icmpTypes(protoICMPv6, 134, 136)),
		rule(expr.VerdictAccept, etherType(etherIPv6), udp(547, 546)),
	}
	for _, r := range p.Ingress {
		rules = append(rules, ruleExprs(r, true, expr.VerdictAccept)...)
	}
	return append(rules, rule(expr.VerdictDrop))
}

// ruleExprs turns one security group rule into nftables rules: one per family it applies
// to and per CIDR (or group) it names. ingress matches the source address, egress the
// destination.
func ruleExprs(r Rule, ingress bool, v expr.VerdictKind) [][]expr.Any {
	proto, _ := r.proto() // checked by State.check
	var out [][]expr.Any
	for _, v6 := range []bool{false, true} {
		eth, icmp := uint16(etherIPv4), protoICMP
		if v6 {
			eth, icmp = etherIPv6, protoICMPv6
		}
		var l4 []expr.Any
		switch {
		case proto == protoICMP:
			l4 = l4proto(icmp)
			if r.ICMPType >= 0 {
				l4 = icmpTypes(icmp, byte(r.ICMPType), byte(r.ICMPType))
			}
			if r.ICMPCode >= 0 {
				l4 = append(l4, icmpCode(byte(r.ICMPCode))...)
			}
		case proto >= 0:
			l4 = l4proto(proto)
			if (proto == protoTCP || proto == protoUDP) && r.Ports != [2]uint16{} {
				l4 = append(l4, thPort(2, r.Ports[0], r.Ports[1])...)
			}
		}
		var addrs [][]expr.Any
		for _, c := range r.CIDRs {
			if c.Addr().Unmap().Is6() == v6 {
				if c.Addr().Is4In6() {
					c = netip.PrefixFrom(c.Addr().Unmap(), max(c.Bits()-96, 0))
				}
				addrs = append(addrs, prefix(ingress, c))
			}
		}
		if r.Group != "" {
			addrs = append(addrs, inSet(v6, ingress, setName(r.Group, v6)))
		}
		if len(r.CIDRs) == 0 && r.Group == "" {
			addrs = append(addrs, nil) // from (to) anywhere
		}
		for _, a := range addrs {
			out = append(out, rule(v, etherType(eth), l4, a))
		}
	}
	return out
}
