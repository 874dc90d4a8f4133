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

// TestPlanMulticast checks CloudStack's VNI-to-group mapping and the Uplinks option.
func TestPlanMulticast(t *testing.T) {
	for vni, want := range map[int]string{1: "239.0.0.1", 5001: "239.0.19.137", 1<<24 - 1: "239.255.255.255", 0x010203: "239.1.2.3"} {
		if got := MulticastGroup(vni).String(); got != want {
			t.Errorf("MulticastGroup(%d) = %s, want %s", vni, got, want)
		}
	}
	u := Uplinks{VXLANLocal: netip.MustParseAddr("192.0.2.1"), VXLANUnderlay: "eth0", VXLANMulticast: true}
	_, opts, err := u.Plan("vxlan://5001", "")
	if err != nil || opts.VXLAN == nil || opts.VXLAN.Group.String() != "239.0.19.137" {
		t.Fatalf("Plan with multicast = %+v, %v", opts.VXLAN, err)
	}
	u.VXLANMulticast = false
	if _, opts, _ := u.Plan("vxlan://5001", ""); opts.VXLAN.Group.IsValid() {
		t.Fatalf("Plan without multicast has group %v", opts.VXLAN.Group)
	}
	u = Uplinks{VXLANLocal: netip.MustParseAddr("2001:db8::1"), VXLANUnderlay: "eth0", VXLANMulticast: true}
	if _, _, err := u.Plan("vxlan://5001", ""); err == nil || !strings.Contains(err.Error(), "group 239.0.19.137") {
		t.Fatalf("Plan with multicast on an IPv6 underlay: %v", err)
	}
}
