package router

import (
	"strings"
	"testing"
	"time"
)

// TestKernelLargeRuleset applies 1,000 port-forwarding and 1,000 firewall rules: the
// ruleset takes dozens of batches, yet the switch is one, traffic follows, and a second
// Apply finds the generation in place.
func TestKernelLargeRuleset(t *testing.T) {
	l := newLab(t)
	g1 := l.host("g1", guestBridge, netipPrefix("10.1.1.10/24"), guestGW.Addr())
	out := l.host("out", publicBridge, outsideA, netipAddr(""))
	g1.listen(t, "tcp4", 22)
	s := bigSpec("net-large", 1000)
	s.Ingress[0].Sources = nil // rule 0 (203.0.113.11:10000 -> g1:22) from anywhere
	l.failDump(s.ID)

	start := time.Now()
	l.apply(s)
	first := time.Since(start)
	out.reaches(t, s.PortForward[0].Public, 10000, "g1", outsideA.Addr())
	out.blocked(t, s.PortForward[200].Public, 10200) // to g1 too, but only from 198.51.100.0/24

	start = time.Now()
	l.apply(s)
	again := time.Since(start)

	s.Ingress = s.Ingress[1:]
	start = time.Now()
	l.apply(s)
	changed := time.Since(start)
	out.blocked(t, s.PortForward[0].Public, 10000)
	list := l.nftList(s.ID)
	if n := strings.Count(list, " dnat ip to "); n != 1000 {
		t.Fatalf("the table has %d DNAT rules, want 1000", n)
	}
	t.Logf("figures: 1,000 port forwards + 1,000 firewall rules: first Apply %v, unchanged Apply %v, one rule removed %v",
		first.Round(time.Millisecond), again.Round(time.Millisecond), changed.Round(time.Millisecond))
}
