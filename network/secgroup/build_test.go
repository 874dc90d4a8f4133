package secgroup

import (
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// render writes a rule's expressions one line each, close to "nft --debug=netlink".
func render(exprs []expr.Any) string {
	var b strings.Builder
	for _, e := range exprs {
		b.WriteString("  ")
		switch e := e.(type) {
		case *expr.Payload:
			base := map[expr.PayloadBase]string{expr.PayloadBaseLLHeader: "link", expr.PayloadBaseNetworkHeader: "network",
				expr.PayloadBaseTransportHeader: "transport"}[e.Base]
			fmt.Fprintf(&b, "[ payload load %db @ %s header + %d => reg %d ]", e.Len, base, e.Offset, e.DestRegister)
		case *expr.Cmp:
			op := map[expr.CmpOp]string{expr.CmpOpEq: "eq", expr.CmpOpNeq: "neq"}[e.Op]
			fmt.Fprintf(&b, "[ cmp %s reg %d 0x%s ]", op, e.Register, hex.EncodeToString(e.Data))
		case *expr.Range:
			fmt.Fprintf(&b, "[ range eq reg %d 0x%s 0x%s ]", e.Register, hex.EncodeToString(e.FromData), hex.EncodeToString(e.ToData))
		case *expr.Bitwise:
			fmt.Fprintf(&b, "[ bitwise reg %d = ( reg %d & 0x%s ) ^ 0x%s ]", e.DestRegister, e.SourceRegister,
				hex.EncodeToString(e.Mask), hex.EncodeToString(e.Xor))
		case *expr.Lookup:
			if e.IsDestRegSet {
				fmt.Fprintf(&b, "[ lookup reg %d set %s dreg %d ]", e.SourceRegister, e.SetName, e.DestRegister)
			} else {
				fmt.Fprintf(&b, "[ lookup reg %d set %s ]", e.SourceRegister, e.SetName)
			}
		case *expr.Meta:
			key := map[expr.MetaKey]string{expr.MetaKeyL4PROTO: "l4proto", expr.MetaKeyMARK: "mark",
				expr.MetaKeyIIFNAME: "iifname", expr.MetaKeyOIFNAME: "oifname"}[e.Key]
			if e.SourceRegister {
				fmt.Fprintf(&b, "[ meta set %s with reg %d ]", key, e.Register)
			} else {
				fmt.Fprintf(&b, "[ meta load %s => reg %d ]", key, e.Register)
			}
		case *expr.Ct:
			fmt.Fprintf(&b, "[ ct load state => reg %d ]", e.Register)
		case *expr.Verdict:
			v := map[expr.VerdictKind]string{expr.VerdictAccept: "accept", expr.VerdictDrop: "drop",
				expr.VerdictReturn: "return", expr.VerdictJump: "jump"}[e.Kind]
			fmt.Fprintf(&b, "[ immediate reg 0 %s%s ]", v, strings.TrimSpace(" "+e.Chain))
		default:
			fmt.Fprintf(&b, "[ %T %+v ]", e, e)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func renderChain(name string, rules [][]expr.Any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "chain %s\n", name)
	for i, r := range rules {
		fmt.Fprintf(&b, " rule %d\n%s", i, render(r))
	}
	return b.String()
}

// golden compares got with testdata/name (or rewrites it under -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; got:\n%s", path, got)
	}
}

// TestBuildGolden builds the chains of two ports and checks every expression against the
// golden files: one port with both address families, every kind of rule and egress rules;
// one with neither addresses nor rules (all IPv4 but DHCP dropped, all egress allowed).
func TestBuildGolden(t *testing.T) {
	s := State{
		Ports: []Port{
			{
				Tap: "at525400000001", MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1},
				IPs: []netip.Addr{netip.MustParseAddr("10.1.1.5"), netip.MustParseAddr("2001:db8::5"), netip.MustParseAddr("10.1.1.6")},
				Ingress: []Rule{
					{Proto: "tcp", Ports: [2]uint16{22, 22}, CIDRs: cidrs("192.0.2.0/24", "2001:db8:1::/48")},
					{Proto: "udp", Ports: [2]uint16{1000, 2000}},
					{Proto: "icmp", ICMPType: 8, ICMPCode: 0, CIDRs: cidrs("0.0.0.0/0")},
					{Proto: "icmp", ICMPType: -1, ICMPCode: -1, CIDRs: cidrs("::/0")},
					{Proto: "all", Group: "sg-1"},
					{Proto: "47", CIDRs: cidrs("::ffff:198.51.100.0/120")},
				},
				Egress: []Rule{{Proto: "tcp", Ports: [2]uint16{443, 443}, CIDRs: cidrs("203.0.113.9/32")}},
			},
			{Tap: "at525400000002", MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}},
		},
		Groups: map[string][]netip.Addr{"sg-1": {netip.MustParseAddr("10.1.1.7"), netip.MustParseAddr("::ffff:10.1.1.8"),
			netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("10.1.1.7")}},
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	p := build(s)
	var all strings.Builder
	for _, c := range p.chains {
		all.WriteString(renderChain(c.name, c.rules))
	}
	golden(t, "ports.golden", all.String())

	var base strings.Builder
	for _, bc := range baseChains {
		base.WriteString(renderChain(bc.name, baseRules(bc.maps, map[string]*nftables.Set{fromVMMap: {}, toVMMap: {}})))
	}
	base.WriteString(renderChain(ctTableName+" prerouting/output", ctRules()))
	golden(t, "base.golden", base.String())

	// Group members by family, deduplicated; maps to the hashed chain names.
	if got := fmt.Sprint(p.sets); got != "map[g4_sg-1:[10.1.1.7 10.1.1.8] g6_sg-1:[2001:db8::7]]" {
		t.Errorf("sets = %s", got)
	}
	for _, tap := range []string{"at525400000001", "at525400000002"} {
		if !strings.HasPrefix(p.fromVM[tap], "o-"+tap+"-") || !strings.HasPrefix(p.toVM[tap], "i-"+tap+"-") {
			t.Errorf("maps for %s: %q %q", tap, p.fromVM[tap], p.toVM[tap])
		}
	}
}

// TestChainNames checks that a chain's name follows its rules and only them.
func TestChainNames(t *testing.T) {
	port := Port{Tap: "tap1", MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}
	a := build(State{Ports: []Port{port}})
	b := build(State{Ports: []Port{port}, Groups: map[string][]netip.Addr{"x": {netip.MustParseAddr("10.0.0.9")}}})
	if a.fromVM["tap1"] != b.fromVM["tap1"] || a.toVM["tap1"] != b.toVM["tap1"] {
		t.Fatal("the same port got other chain names")
	}
	port.Ingress = []Rule{{Proto: "tcp", Ports: [2]uint16{22, 22}}}
	c := build(State{Ports: []Port{port}})
	if c.toVM["tap1"] == a.toVM["tap1"] || c.fromVM["tap1"] != a.fromVM["tap1"] {
		t.Fatalf("an ingress rule: in %s -> %s, out %s -> %s", a.toVM["tap1"], c.toVM["tap1"], a.fromVM["tap1"], c.fromVM["tap1"])
	}
	if len(c.toVM["tap1"]) != len("i-tap1-")+12 {
		t.Fatalf("chain name %q", c.toVM["tap1"])
	}
}

// TestStateCheck checks that bad input is refused, naming what is wrong.
func TestStateCheck(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
	ok := Port{Tap: "tap1", MAC: mac}
	tests := []struct {
		name string
		s    State
		want string
	}{
		{"tap name", State{Ports: []Port{{Tap: "a/b", MAC: mac}}}, `tap "a/b"`},
		{"long tap name", State{Ports: []Port{{Tap: "abcdefghijklmnop", MAC: mac}}}, "is not an interface name"},
		{"tap twice", State{Ports: []Port{ok, ok}}, "listed twice"},
		{"multicast mac", State{Ports: []Port{{Tap: "t", MAC: net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}}}}, "not a unicast ethernet"},
		{"no mac", State{Ports: []Port{{Tap: "t"}}}, "mac"},
		{"bad ip", State{Ports: []Port{{Tap: "t", MAC: mac, IPs: []netip.Addr{netip.MustParseAddr("0.0.0.0")}}}}, "not a unicast address"},
		{"protocol", rule1(Rule{Proto: "sctp"}), `protocol "sctp"`},
		{"protocol number", rule1(Rule{Proto: "256"}), `protocol "256"`},
		{"port order", rule1(Rule{Proto: "tcp", Ports: [2]uint16{80, 22}}), "port range 80-22"},
		{"half a range", rule1(Rule{Proto: "udp", Ports: [2]uint16{0, 22}}), "port range 0-22"},
		{"ports for icmp", rule1(Rule{Proto: "icmp", Ports: [2]uint16{1, 2}, ICMPType: -1, ICMPCode: -1}), "ports given"},
		{"icmp type", rule1(Rule{Proto: "icmp", ICMPType: 256, ICMPCode: -1}), "icmp type 256"},
		{"icmp code alone", rule1(Rule{Proto: "icmp", ICMPType: -1, ICMPCode: 3}), "code 3 without a type"},
		{"unknown group", rule1(Rule{Proto: "all", Group: "nope"}), `group "nope" is not in`},
		{"group id", State{Groups: map[string][]netip.Addr{"a b": nil}}, `group id "a b"`},
		{"group member", State{Groups: map[string][]netip.Addr{"g": {{}}}}, "member invalid IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func rule1(r Rule) State {
	return State{Ports: []Port{{Tap: "tap1", MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, Ingress: []Rule{r}}}}
}
