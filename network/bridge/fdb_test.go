package bridge

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestFDBRow checks the request for a peer's row: "bridge fdb append 00:00:00:00:00:00 dev
// vxlanN dst PEER self permanent" (append, AF_BRIDGE, NTF_SELF: netlink issues 714, 1000).
func TestFDBRow(t *testing.T) {
	got := fdbRow(9, netip.MustParseAddr("::ffff:192.0.2.7"))
	want := &netlink.Neigh{
		LinkIndex:    9,
		Family:       unix.AF_BRIDGE,
		Flags:        netlink.NTF_SELF,
		State:        netlink.NUD_PERMANENT,
		IP:           net.IP{192, 0, 2, 7},
		HardwareAddr: net.HardwareAddr{0, 0, 0, 0, 0, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fdbRow = %+v, want %+v", got, want)
	}
}

// TestVXLANGroup checks the multicast option's request and its validation.
func TestVXLANGroup(t *testing.T) {
	x := VXLANLink{VNI: 7, Local: netip.MustParseAddr("192.0.2.1"), Underlay: "eth0", Group: netip.MustParseAddr("239.0.0.7")}
	if g := x.link(3, 0).Group; !g.Equal(net.ParseIP("239.0.0.7")) || len(g) != 4 {
		t.Fatalf("group in the request = %v", g)
	}
	if g := (VXLANLink{VNI: 7, Local: x.Local}).link(3, 0).Group; g != nil {
		t.Fatalf("group without the option = %v", g)
	}
	if err := (Options{VXLAN: &x}).check(); err != nil {
		t.Fatalf("check: %v", err)
	}
	for _, g := range []string{"192.0.2.9", "ff02::1"} {
		bad := x
		bad.Group = netip.MustParseAddr(g)
		if err := (Options{VXLAN: &bad}).check(); err == nil || !strings.Contains(err.Error(), "group "+g) {
			t.Errorf("check with group %s: %v", g, err)
		}
	}
}
