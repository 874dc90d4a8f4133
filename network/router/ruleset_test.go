package router

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite the golden files of the ruleset tests")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("ruleset differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestRulesetGolden(t *testing.T) {
	noPublic := baseSpec("net-private")
	noPublic.Public, noPublic.SourceNAT = nil, netip.Addr{}
	denyEgress := baseSpec("net-deny")
	denyEgress.EgressDefaultAllow = false
	denyEgress.Egress = []EgressRule{
		{Proto: "tcp", Ports: [2]uint16{80, 80}, Dests: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
		{Proto: "all", Sources: []netip.Prefix{netip.MustParsePrefix("10.1.1.10/32"), netip.MustParsePrefix("10.1.1.64/26")},
			Dests: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24")}},
	}
	for name, s := range map[string]Spec{
		"base":       baseSpec("net-base"),
		"rich":       richSpec("net-rich"),
		"nopublic":   noPublic,
		"denyegress": denyEgress,
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.check(); err != nil {
				t.Fatalf("check: %v", err)
			}
			golden(t, name+".golden", buildRuleset(&s, "a").text())
		})
	}
}

func TestRulesetHash(t *testing.T) {
	s := richSpec("net-hash")
	a, b := buildRuleset(&s, "a"), buildRuleset(&s, "b")
	if a.hash != b.hash || len(a.hash) != 16 {
		t.Fatalf("the hash depends on the slot: %q %q", a.hash, b.hash)
	}
	if a.text() == b.text() || !strings.Contains(b.text(), "jump ingress-b") {
		t.Fatal("slot b's chains are not named -b")
	}
	// The id does not change the rules (the namespace is the id's), content does.
	s2 := richSpec("net-other")
	if buildRuleset(&s2, "a").hash != a.hash {
		t.Fatal("the hash depends on the id")
	}
	s2.Ingress = s2.Ingress[1:]
	if buildRuleset(&s2, "a").hash == a.hash {
		t.Fatal("the hash misses a removed ingress rule")
	}
	s2 = richSpec("net-other")
	s2.EgressDefaultAllow = false
	if buildRuleset(&s2, "a").hash == a.hash {
		t.Fatal("the hash misses the egress default policy")
	}
}

// TestMatchExprs pins the expressions of each kind of match: the kernel test
// TestKernelTableMatchesRuleset shows nft reads them back as the text says.
func TestMatchExprs(t *testing.T) {
	ip4 := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
	}
	cat := func(parts ...[]expr.Any) []expr.Any {
		var out []expr.Any
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		rule  rule
		text  string
		exprs []expr.Any
	}{
		{"iifname", match().iif("guest0").accept(), `iifname "guest0" accept`, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("guest0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
			&expr.Verdict{Kind: expr.VerdictAccept},
		}},
		{"saddr prefix", match().saddr(netip.MustParsePrefix("10.1.1.77/25")).drop(), "ip saddr 10.1.1.0/25 drop", cat(ip4, []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 255, 255, 128}, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 1, 1, 0}},
			&expr.Verdict{Kind: expr.VerdictDrop},
		})},
		{"daddr", match().daddr(netip.MustParseAddr("203.0.113.9")).jump("x-a"), "ip daddr 203.0.113.9 jump x-a", cat(ip4, []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{203, 0, 113, 9}},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: "x-a"},
		})},
		{"all of 0.0.0.0/0", match().saddr(netip.MustParsePrefix("0.0.0.0/0")).proto("all").accept(), "meta nfproto ipv4 accept",
			cat(ip4, []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}})},
		{"tcp port range", match().proto("tcp").dport([2]uint16{1000, 2000}).accept(), "meta nfproto ipv4 tcp dport 1000-2000 accept", cat(ip4, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: []byte{0x03, 0xe8}, ToData: []byte{0x07, 0xd0}},
			&expr.Verdict{Kind: expr.VerdictAccept},
		})},
		{"icmp type and code", match().l4("icmp", [2]uint16{}, 3, 4).accept(), "icmp type destination-unreachable icmp code frag-needed accept", cat(ip4, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{3}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 1, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{4}},
			&expr.Verdict{Kind: expr.VerdictAccept},
		})},
		{"ct state", match().established().accept(), "ct state established,related accept", []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{6, 0, 0, 0}, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
			&expr.Verdict{Kind: expr.VerdictAccept},
		}},
		{"dnat to a port range", match().nat(expr.NATTypeDestNAT, netip.MustParseAddr("10.1.1.5"), [2]uint16{80, 81}), "dnat ip to 10.1.1.5:80-81", cat(ip4, []expr.Any{
			&expr.Immediate{Register: 1, Data: []byte{10, 1, 1, 5}},
			&expr.Immediate{Register: 2, Data: []byte{0, 80}},
			&expr.Immediate{Register: 3, Data: []byte{0, 81}},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, RegProtoMax: 3, Specified: true},
		})},
		{"snat", match().oif("public0").nat(expr.NATTypeSourceNAT, netip.MustParseAddr("203.0.113.10"), [2]uint16{}), `oifname "public0" snat ip to 203.0.113.10`, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("public0\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
			ip4[0], ip4[1],
			&expr.Immediate{Register: 1, Data: []byte{203, 0, 113, 10}},
			&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rule.text != tc.text {
				t.Errorf("text = %q, want %q", tc.rule.text, tc.text)
			}
			if !reflect.DeepEqual(tc.rule.exprs, tc.exprs) {
				t.Errorf("exprs:\n%#v\nwant\n%#v", tc.rule.exprs, tc.exprs)
			}
		})
	}
}

func TestForwardRules(t *testing.T) {
	f := PortForward{Public: pubPF.Addr(), Proto: "udp", PublicPorts: [2]uint16{100, 103}, PrivatePorts: [2]uint16{200, 203}, Private: g1Addr}
	var got []string
	for _, r := range forwardRules(f) {
		got = append(got, r.text)
	}
	want := []string{
		"ip daddr 203.0.113.11 udp dport 100 dnat ip to 10.1.1.10:200",
		"ip daddr 203.0.113.11 udp dport 101 dnat ip to 10.1.1.10:201",
		"ip daddr 203.0.113.11 udp dport 102 dnat ip to 10.1.1.10:202",
		"ip daddr 203.0.113.11 udp dport 103 dnat ip to 10.1.1.10:203",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("shifted range:\n%q\nwant\n%q", got, want)
	}
	// The top of the port space does not wrap.
	f.PublicPorts, f.PrivatePorts = [2]uint16{65534, 65535}, [2]uint16{1, 2}
	if rs := forwardRules(f); len(rs) != 2 || !strings.HasSuffix(rs[1].text, "udp dport 65535 dnat ip to 10.1.1.10:2") {
		t.Fatalf("top of the range: %v", rs)
	}
}

func TestRuleSizeBatches(t *testing.T) {
	s := bigSpec("net-big", 1000)
	rs := buildRuleset(&s, "a")
	total, max := 0, 0
	for _, c := range rs.chains {
		for _, r := range c.rules {
			n := ruleSize(c.name, r)
			total += n
			if n > max {
				max = n
			}
		}
	}
	if rs.count() < 2000 || total < 4*maxBatch || max > maxBatch/10 {
		t.Fatalf("%d rules, %d bytes, largest %d: want over 2000 rules filling several batches", rs.count(), total, max)
	}
	t.Logf("%d rules, about %d bytes: %d batches of at most %d", rs.count(), total, total/maxBatch+1, maxBatch)
}
