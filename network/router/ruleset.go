package router

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Device names inside the router namespace.
const (
	guestDev  = "guest0"
	publicDev = "public0"
)

// tableName is the router namespace's one nftables table (family inet).
const tableName = "atoll"

// Services the router answers on its guest side (dnsmasq and the metadata and password
// servers run in the namespace).
const (
	portDHCP     = 67
	portDNS      = 53
	portHTTP     = 80   // metadata and userdata
	portPassword = 8080 // CloudStack's password server
)

// baseChain is a hooked chain of the table. Base chains stay for the table's life and hold
// one rule each: a jump to the chain of the same role in the current generation.
type baseChain struct {
	name     string
	typ      nftables.ChainType
	hook     *nftables.ChainHook
	priority *nftables.ChainPriority
	role     string // the generation chain it jumps to: role + "-" + slot
}

// baseChains: the ingress firewall sits at mangle priority in prerouting, before DNAT, so it
// sees the original destination (CloudStack's VR filters in mangle PREROUTING too).
var baseChains = []baseChain{
	{"prerouting", nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityMangle, "pre"},
	{"dnat-pre", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest, "dnat"},
	{"dnat-out", nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest, "dnat"},
	{"postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource, "snat"},
	{"input", nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter, "input"},
	{"forward", nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter, "forward"},
}

// genRoles are the generation chains, in the order they are made and listed.
var genRoles = []string{"pre", "ingress", "dnat", "snat", "input", "forward", "egress"}

// chain is one generation chain and its rules.
type chain struct {
	name  string
	rules []rule
}

// ruleset is one generation of the table's content. Its chains are named role-slot, the
// slot being "a" or "b": a new generation is built in the slot the live one does not use,
// then the base chains are switched to it in one small batch. hash identifies the content
// whatever the slot, so an unchanged spec finds its generation in place.
type ruleset struct {
	slot   string
	hash   string
	chains []chain
}

// slotPlaceholder stands for the slot while the ruleset is hashed.
const slotPlaceholder = "{slot}"

// buildRuleset renders the spec (checked already) into a generation in the given slot.
func buildRuleset(s *Spec, slot string) ruleset {
	draft := build(s, slotPlaceholder)
	h := sha256.New()
	for _, c := range draft.chains {
		fmt.Fprintf(h, "chain %s\n", c.name)
		for _, r := range c.rules {
			fmt.Fprintf(h, "%s\n", r.text)
		}
	}
	rs := build(s, slot)
	rs.hash = hex.EncodeToString(h.Sum(nil))[:16]
	return rs
}

// text renders the ruleset as nft-like lines, one chain after the other.
func (rs ruleset) text() string {
	var b strings.Builder
	for _, c := range rs.chains {
		fmt.Fprintf(&b, "chain %s\n", c.name)
		for _, r := range c.rules {
			fmt.Fprintf(&b, "\t%s\n", r.text)
		}
	}
	return b.String()
}

func genName(role, slot string) string { return role + "-" + slot }

func build(s *Spec, slot string) ruleset {
	n := func(role string) string { return genName(role, slot) }
	cidr := s.guestCIDR()
	gw := s.Guest.Addrs[0].Addr()
	var public []netip.Addr
	if s.Public != nil {
		for _, p := range s.Public.Addrs {
			public = append(public, p.Addr())
		}
	}

	// prerouting, mangle priority: everything to a public IP goes through the ingress
	// firewall, with its original destination.
	pre := []rule{match().iif("lo").accept()}
	for _, a := range public {
		pre = append(pre, match().daddr(a).jump(n("ingress")))
	}

	ingress := []rule{match().established().accept()}
	for _, r := range s.Ingress {
		for _, src := range orAll(r.Sources) {
			ingress = append(ingress, match().daddr(r.Public).saddr(src).l4(r.Proto, r.Ports, r.ICMPType, r.ICMPCode).accept())
		}
	}
	ingress = append(ingress, match().drop())

	// DNAT: port forwarding, then static NAT, from any side (guests reach their public
	// IPs too) and from the namespace itself (output).
	var dnat []rule
	for _, f := range s.PortForward {
		dnat = append(dnat, forwardRules(f)...)
	}
	for _, sn := range s.StaticNAT {
		dnat = append(dnat, match().daddr(sn.Public).nat(expr.NATTypeDestNAT, sn.Private, [2]uint16{}))
	}

	// SNAT: a guest reaching another guest through a public IP is answered through the
	// router (hairpin); static NAT and source NAT out of the public side.
	snat := []rule{match().oif(guestDev).saddr(cidr).dnatted().nat(expr.NATTypeSourceNAT, gw, [2]uint16{})}
	if s.Public != nil {
		for _, sn := range s.StaticNAT {
			snat = append(snat, match().oif(publicDev).saddr(netip.PrefixFrom(sn.Private, 32)).nat(expr.NATTypeSourceNAT, sn.Public, [2]uint16{}))
		}
		if s.SourceNAT.IsValid() {
			snat = append(snat, match().oif(publicDev).saddr(cidr).nat(expr.NATTypeSourceNAT, s.SourceNAT, [2]uint16{}))
		}
	}

	// input: the router's own services. ICMP is answered (to a public IP only when the
	// ingress firewall let it through); the guest side gets DHCP, DNS, metadata and the
	// password server; a public IP gets what the ingress firewall let through (load
	// balancers listen there).
	input := []rule{
		match().established().accept(),
		match().invalid().drop(),
		match().iif("lo").accept(),
		match().proto("icmp").accept(),
		match().l4proto("ipv6-icmp", 58).accept(),
		match().iif(guestDev).proto("udp").dport([2]uint16{portDHCP, portDHCP}).accept(),
	}
	for _, svc := range []struct {
		proto string
		port  uint16
	}{{"udp", portDNS}, {"tcp", portDNS}, {"tcp", portHTTP}, {"tcp", portPassword}} {
		input = append(input, match().iif(guestDev).saddr(cidr).proto(svc.proto).dport([2]uint16{svc.port, svc.port}).accept())
	}
	for _, a := range public {
		input = append(input, match().daddr(a).accept())
	}
	input = append(input, match().drop())

	// forward: guest to guest through the router (hairpin), DNATed traffic in (the ingress
	// firewall passed it), guests out through the egress rules.
	forward := []rule{
		match().established().accept(),
		match().invalid().drop(),
		match().iif(guestDev).oif(guestDev).accept(),
	}
	if s.Public != nil {
		forward = append(forward,
			match().iif(publicDev).oif(guestDev).dnatted().accept(),
			match().iif(guestDev).oif(publicDev).jump(n("egress")))
	}
	forward = append(forward, match().drop())

	// egress: CloudStack's default policy decides both what a rule does and what is left.
	var egress []rule
	for _, r := range s.Egress {
		for _, src := range orAll(r.Sources) {
			for _, dst := range orAll(r.Dests) {
				b := match().saddr(src).ipField("daddr", 16, dst).l4(r.Proto, r.Ports, r.ICMPType, r.ICMPCode)
				if s.EgressDefaultAllow {
					egress = append(egress, b.drop())
				} else {
					egress = append(egress, b.accept())
				}
			}
		}
	}
	if s.EgressDefaultAllow {
		egress = append(egress, match().accept())
	} else {
		egress = append(egress, match().drop())
	}

	byRole := map[string][]rule{"pre": pre, "ingress": ingress, "dnat": dnat, "snat": snat,
		"input": input, "forward": forward, "egress": egress}
	rs := ruleset{slot: slot}
	for _, role := range genRoles {
		rs.chains = append(rs.chains, chain{name: n(role), rules: byRole[role]})
	}
	return rs
}

// orAll is the prefixes, or 0.0.0.0/0 when there are none.
func orAll(ps []netip.Prefix) []netip.Prefix {
	if len(ps) == 0 {
		return []netip.Prefix{netip.PrefixFrom(netip.IPv4Unspecified(), 0)}
	}
	return ps
}

// forwardRules DNATs one port-forwarding rule: one rule when the private range is the public
// one or a single port, else one rule per port (nftables adds no offset to a port).
func forwardRules(f PortForward) []rule {
	pub, priv := f.PublicPorts, f.PrivatePorts
	one := func(pub, priv [2]uint16) rule {
		return match().daddr(f.Public).proto(f.Proto).dport(pub).nat(expr.NATTypeDestNAT, f.Private, priv)
	}
	switch {
	case pub[0] == pub[1]:
		return []rule{one(pub, priv)}
	case pub == priv:
		return []rule{match().daddr(f.Public).proto(f.Proto).dport(pub).nat(expr.NATTypeDestNAT, f.Private, [2]uint16{})}
	}
	var rs []rule
	for i := 0; i <= int(pub[1]-pub[0]); i++ {
		p, q := pub[0]+uint16(i), priv[0]+uint16(i)
		rs = append(rs, one([2]uint16{p, p}, [2]uint16{q, q}))
	}
	return rs
}
