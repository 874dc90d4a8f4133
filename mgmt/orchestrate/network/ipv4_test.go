package network

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

func TestParseSubnet(t *testing.T) {
	for _, c := range []struct {
		gw, mask                      string
		cidr, network, bcast, last, m string
	}{
		{"10.1.1.1", "255.255.255.0", "10.1.1.0/24", "10.1.1.0", "10.1.1.255", "10.1.1.254", "255.255.255.0"},
		{" 192.168.7.65 ", "255.255.255.192", "192.168.7.64/26", "192.168.7.64", "192.168.7.127", "192.168.7.126", "255.255.255.192"},
		{"172.16.0.1", "255.255.255.254", "172.16.0.0/31", "172.16.0.0", "172.16.0.1", "172.16.0.1", "255.255.255.254"},
		{"203.0.113.9", "255.255.255.255", "203.0.113.9/32", "203.0.113.9", "203.0.113.9", "203.0.113.9", "255.255.255.255"},
		{"10.200.3.4", "255.0.0.0", "10.0.0.0/8", "10.0.0.0", "10.255.255.255", "10.255.255.254", "255.0.0.0"},
	} {
		sn, err := ParseSubnet(c.gw, c.mask)
		if err != nil {
			t.Fatalf("%s/%s: %v", c.gw, c.mask, err)
		}
		if sn.CIDR() != c.cidr || sn.Network().String() != c.network || sn.Broadcast().String() != c.bcast ||
			sn.LastUsable().String() != c.last || sn.Mask() != c.m || sn.GW.String() != strings.TrimSpace(c.gw) {
			t.Errorf("%s/%s: cidr %s network %s broadcast %s last %s mask %s gw %s", c.gw, c.mask, sn.CIDR(), sn.Network(),
				sn.Broadcast(), sn.LastUsable(), sn.Mask(), sn.GW)
		}
	}
	for _, c := range []struct{ gw, mask, want string }{
		{"10.1.1", "255.255.255.0", "valid gateway"},
		{"fe80::1", "255.255.255.0", "valid gateway"},
		{"10.1.1.1", "255.0.255.0", "valid netmask"},
		{"10.1.1.1", "0.0.0.0", "valid netmask"},
		{"10.1.1.1", "24", "valid netmask"},
	} {
		_, err := ParseSubnet(c.gw, c.mask)
		var oe *orchestrate.Error
		if !errors.As(err, &oe) || oe.Code != orchestrate.CodeParam || !strings.Contains(oe.Text, c.want) {
			t.Errorf("%s/%s: %v, want 431 %q", c.gw, c.mask, err, c.want)
		}
	}
}

func TestSubnetOverlapsAndRanges(t *testing.T) {
	a, _ := ParseSubnet("10.1.0.1", "255.255.0.0")
	b, _ := ParseSubnet("10.1.5.1", "255.255.255.0")
	c, _ := ParseSubnet("10.2.0.1", "255.255.255.0")
	if !a.Overlaps(b) || !b.Overlaps(a) || a.Overlaps(c) {
		t.Errorf("overlaps: a~b %v b~a %v a~c %v", a.Overlaps(b), b.Overlaps(a), a.Overlaps(c))
	}
	if sn := SubnetOf(netip.MustParsePrefix("10.1.1.0/24")); sn.Network().Next().String() != "10.1.1.1" || sn.CIDR() != "10.1.1.0/24" {
		t.Errorf("SubnetOf: %+v", sn)
	}
	if _, err := SubnetOfCIDR("10.1.1.0/33"); err == nil {
		t.Error("SubnetOfCIDR took /33")
	}
	r, ok := ParseIPRange("10.0.0.250", "10.0.1.2")
	if !ok || r.Size() != 9 || len(r.Addrs()) != 9 || r.Addrs()[6] != "10.0.1.0" {
		t.Errorf("range across an octet: %v %d %v", ok, r.Size(), r.Addrs())
	}
	if _, ok := ParseIPRange("10.0.0.9", "10.0.0.8"); ok {
		t.Error("a range whose start is above its end parsed")
	}
	o, _ := ParseIPRange("10.0.1.2", "10.0.1.9")
	p, _ := ParseIPRange("10.0.1.3", "10.0.1.9")
	if !r.Overlaps(o) || r.Overlaps(p) {
		t.Errorf("range overlaps: %v %v", r.Overlaps(o), r.Overlaps(p))
	}
	if last, ok := ParseIPRange("255.255.255.254", "255.255.255.255"); !ok || len(last.Addrs()) != 2 {
		t.Errorf("the last addresses: %v", last.Addrs())
	}
}

func TestCheckRange(t *testing.T) {
	sn, _ := ParseSubnet("192.168.10.1", "255.255.255.0")
	r, err := sn.CheckRange(" 192.168.10.10", "192.168.10.20 ", "startip", "endip")
	if err != nil || r.Lo.String() != "192.168.10.10" || r.Hi.String() != "192.168.10.20" || r.Size() != 11 {
		t.Fatalf("range: %+v %v", r, err)
	}
	for _, c := range []struct{ start, end, want string }{
		{"192.168.10.x", "192.168.10.20", "start address of the IP range (startip) is not a valid IP address"},
		{"192.168.10.10", "", "end address of the IP range (endip) is not a valid IP address"},
		{"192.168.11.10", "192.168.11.20", "The startip address 192.168.11.10 of the IP range is not in the CIDR subnet 192.168.10.0/24"},
		{"192.168.10.10", "192.168.10.255", "The endip address 192.168.10.255 is the network or broadcast address of subnet 192.168.10.0/24"},
		{"192.168.10.20", "192.168.10.10", "must have a lower value than the end IP address (endip)"},
		{"192.168.10.1", "192.168.10.9", "The gateway 192.168.10.1 must not be part of the IP range 192.168.10.1-192.168.10.9"},
	} {
		_, err := sn.CheckRange(c.start, c.end, "startip", "endip")
		var oe *orchestrate.Error
		if !errors.As(err, &oe) || oe.Code != orchestrate.CodeParam || !strings.Contains(oe.Text, c.want) {
			t.Errorf("%s-%s: %v, want 431 %q", c.start, c.end, err, c.want)
		}
	}
	// A /31 has no network or broadcast address to refuse.
	p2p, _ := ParseSubnet("10.9.9.0", "255.255.255.254")
	if _, err := p2p.CheckRange("10.9.9.1", "10.9.9.1", "startip", "endip"); err != nil {
		t.Errorf("/31: %v", err)
	}
}
