package router

import (
	"net/netip"
	"testing"
)

func TestKernelSourceNATAndGatewayPing(t *testing.T) {
	_, g1, g2, out, _ := standard(t)
	out.listen(t, "tcp4", 8000)
	g1.reaches(t, outsideA.Addr(), 8000, "out", pubSNAT.Addr())
	g2.reaches(t, outsideA.Addr(), 8000, "out", pubSNAT.Addr())
	if !g1.ping(t, guestGW.Addr()) {
		t.Fatal("the router does not answer ping on its guest gateway")
	}
	if out.ping(t, pubSNAT.Addr()) {
		t.Fatal("the public IP answers ping with no firewall rule")
	}
	// The outside cannot reach a guest directly (no NAT, no rule).
	g1.listen(t, "tcp4", 22)
	out.blocked(t, netip.MustParseAddr("10.1.1.10"), 22)
}
