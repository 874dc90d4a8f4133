package secgroup

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// benchState is n ports as a CloudStack zone might have them: each NIC in a "web" group
// admitting ssh from an office range, http from anywhere, everything from its own group and
// icmp echo, and (every other port) two egress rules; the group holds every NIC.
func benchState(n int) State {
	s := State{Groups: map[string][]netip.Addr{}}
	for i := range n {
		ip := netip.AddrFrom4([4]byte{10, 20, byte(i / 250), byte(i%250 + 1)})
		p := Port{
			Tap: fmt.Sprintf("at52540014%04x", i),
			MAC: net.HardwareAddr{0x52, 0x54, 0, 0x14, byte(i >> 8), byte(i)},
			IPs: []netip.Addr{ip},
			Ingress: []Rule{
				{Proto: "tcp", Ports: [2]uint16{22, 22}, CIDRs: cidrs("192.0.2.0/24", "198.51.100.0/24")},
				{Proto: "tcp", Ports: [2]uint16{80, 80}, CIDRs: cidrs("0.0.0.0/0", "::/0")},
				{Proto: "all", Group: "web"},
				{Proto: "icmp", ICMPType: 8, ICMPCode: -1},
			},
		}
		if i%2 == 0 {
			p.Egress = []Rule{
				{Proto: "udp", Ports: [2]uint16{53, 53}, CIDRs: cidrs("10.20.0.0/16")},
				{Proto: "tcp", Ports: [2]uint16{1, 65535}},
			}
		}
		s.Ports = append(s.Ports, p)
		s.Groups["web"] = append(s.Groups["web"], ip)
	}
	return s
}

// TestKernelApply100Ports measures Apply on 100 ports (the bench quotes these figures) and
// checks that the work is split into transactions and that an unchanged state writes no
// chain.
func TestKernelApply100Ports(t *testing.T) {
	h := newSGHost(t)
	ctx := context.Background()
	s := benchState(100)
	measure := func(what string, s State) applyStats {
		t.Helper()
		start := time.Now()
		if err := h.m.Apply(ctx, s); err != nil {
			t.Fatalf("Apply (%s): %v", what, err)
		}
		st := h.m.last
		t.Logf("timing: Apply of %d ports, %s, took %v (%d chains written, %d map entries switched, "+
			"%d chains deleted, %d transactions)", len(s.Ports), what, time.Since(start).Round(time.Microsecond),
			st.chains, st.switched, st.deleted, st.transactions)
		return st
	}
	st := measure("empty table", s)
	if st.chains != 200 || st.switched != 200 || st.transactions < 3 {
		t.Fatalf("first Apply: %+v, want 200 chains, 200 switches, the work split into transactions", st)
	}
	if n := len(h.chains(t)); n != 200 {
		t.Fatalf("%d port chains in the kernel, want 200", n)
	}
	if st := measure("unchanged", s); st.chains != 0 || st.switched != 0 || st.deleted != 0 {
		t.Fatalf("an unchanged state wrote: %+v", st)
	}
	s.Groups["web"] = s.Groups["web"][:50]
	if st := measure("half the group's members gone", s); st.chains != 0 || st.switched != 0 {
		t.Fatalf("a membership change wrote chains: %+v", st)
	}
	s.Ports[7].Ingress = append(s.Ports[7].Ingress, Rule{Proto: "udp", Ports: [2]uint16{161, 162}})
	if st := measure("one port's rules changed", s); st.chains != 1 || st.switched != 1 || st.deleted != 1 {
		t.Fatalf("one changed port: %+v, want 1 chain written, switched, deleted", st)
	}
	s.Ports = s.Ports[:50]
	if st := measure("half the ports gone", s); st.deleted != 100 {
		t.Fatalf("50 ports removed: %+v, want 100 chains deleted", st)
	}
	if n := len(h.chains(t)); n != 100 {
		t.Fatalf("%d port chains in the kernel, want 100", n)
	}
	start := time.Now()
	if err := h.m.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("timing: Remove took %v", time.Since(start).Round(time.Microsecond))
}
