package bridge

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/hypervisor"
	"github.com/vishvananda/netlink"
)

// TestKernelVLAN runs the VLAN path as far as the kernel goes. A kernel without 8021q (this
// machine's) must give ErrNoVLANSupport, naming the bridge and the device, and leave nothing
// behind; a kernel with it must give "<uplink>.<vid>" enslaved to the bridge.
func TestKernelVLAN(t *testing.T) {
	n := newTestNS(t)
	ctx := context.Background()
	n.veth(t, "up0", "up0p")
	opts := Options{VLAN: &VLANLink{Uplink: "up0", ID: 100}}

	// A missing uplink is a clear error, and the bridge this call made is deleted again.
	err := n.m.Ensure(ctx, "atbr-v100", Options{VLAN: &VLANLink{Uplink: "nope0", ID: 100}})
	if err == nil || !strings.Contains(err.Error(), "bridge atbr-v100: vlan uplink nope0 does not exist") {
		t.Fatalf("Ensure on a missing uplink: %v", err)
	}
	wantList(t, n)

	err = timed(t, "Ensure with vlan", func() error { return n.m.Ensure(ctx, "atbr-v100", opts) })
	switch {
	case errors.Is(err, ErrNoVLANSupport):
		t.Logf("this kernel has no 8021q: %v", err)
		wantErrIs(t, "Ensure with vlan", err, ErrNoVLANSupport, "bridge atbr-v100", "up0.100", "8021q")
		wantList(t, n) // the bridge made for it was deleted again
		if n.exists(t, "up0.100") {
			t.Fatal("up0.100 exists after the error")
		}
		// A bridge that existed before is kept when its VLAN link fails.
		if err := n.m.Ensure(ctx, "atbr-v100", Options{}); err != nil {
			t.Fatal(err)
		}
		if err := n.m.Ensure(ctx, "atbr-v100", opts); !errors.Is(err, ErrNoVLANSupport) {
			t.Fatalf("Ensure with vlan on an existing bridge: %v", err)
		}
		wantList(t, n, "atbr-v100[]")
	case err == nil:
		t.Log("this kernel has 8021q: checking the sub-interface")
		br := n.link(t, "atbr-v100")
		vl, ok := n.link(t, "up0.100").(*netlink.Vlan)
		if !ok || vl.VlanId != 100 || vl.ParentIndex != n.link(t, "up0").Attrs().Index ||
			vl.MasterIndex != br.Attrs().Index || !isUp(vl) {
			t.Fatalf("up0.100 = %+v", n.link(t, "up0.100"))
		}
		if err := n.m.Ensure(ctx, "atbr-v100", opts); err != nil {
			t.Fatalf("second Ensure with vlan: %v", err)
		}
		wantList(t, n, "atbr-v100[up0.100:vlan]")
		// The bridge's own link is no guest port: Remove needs no force and deletes it.
		if err := n.m.Remove(ctx, "atbr-v100", false); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		if n.exists(t, "up0.100") {
			t.Fatal("up0.100 outlived its bridge")
		}
	default:
		t.Fatalf("Ensure with vlan: %v", err)
	}
	if !n.exists(t, "up0") {
		t.Fatal("the uplink is gone")
	}
}

func TestKernelVXLAN(t *testing.T) {
	n := newTestNS(t)
	ctx := context.Background()
	ul := n.veth(t, "ul0", "ul0p")
	local := netip.MustParseAddr("192.0.2.1") // TEST-NET-1, inside this namespace only
	opts := Options{VXLAN: &VXLANLink{VNI: 5001, Local: local, Underlay: "ul0"}}

	if err := timed(t, "Ensure with vxlan (create)", func() error { return n.m.Ensure(ctx, "atbr-x5001", opts) }); err != nil {
		t.Fatalf("Ensure with vxlan: %v", err)
	}
	br := n.link(t, "atbr-x5001")
	vx, ok := n.link(t, "vxlan5001").(*netlink.Vxlan)
	if !ok {
		t.Fatalf("vxlan5001 is a %s", n.link(t, "vxlan5001").Type())
	}
	if vx.VxlanId != 5001 || vx.Learning || !vx.SrcAddr.Equal(net.IPv4(192, 0, 2, 1)) ||
		vx.VtepDevIndex != ul.Attrs().Index || vx.Port != 4789 || vx.MasterIndex != br.Attrs().Index || !isUp(vx) {
		t.Fatalf("vxlan5001: vni %d learning %v local %v underlay %d (want %d) port %d master %d (want %d) up %v",
			vx.VxlanId, vx.Learning, vx.SrcAddr, vx.VtepDevIndex, ul.Attrs().Index, vx.Port,
			vx.MasterIndex, br.Attrs().Index, isUp(vx))
	}
	wantList(t, n, "atbr-x5001[vxlan5001:vxlan]")

	// Idempotent, and an MTU reaches both the bridge and the tunnel.
	if err := timed(t, "Ensure with vxlan (exists)", func() error { return n.m.Ensure(ctx, "atbr-x5001", opts) }); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	withMTU := opts
	withMTU.MTU = 1400
	if err := n.m.Ensure(ctx, "atbr-x5001", withMTU); err != nil {
		t.Fatalf("Ensure with mtu: %v", err)
	}
	for _, name := range []string{"atbr-x5001", "vxlan5001"} {
		if l := n.link(t, name); l.Attrs().MTU != 1400 {
			t.Errorf("%s mtu %d, want 1400", name, l.Attrs().MTU)
		}
	}
	if n.link(t, "vxlan5001").Attrs().Index != vx.Index || n.link(t, "atbr-x5001").Attrs().Index != br.Attrs().Index {
		t.Fatal("a second Ensure replaced the links")
	}

	// The tunnel belongs to one bridge: another bridge cannot take it, and is not left behind.
	err := n.m.Ensure(ctx, "atbr-other", opts)
	if err == nil || !strings.Contains(err.Error(), "bridge atbr-other: vxlan5001 is attached to another device") {
		t.Fatalf("Ensure of a second bridge on the same tunnel: %v", err)
	}
	// Other settings for an existing tunnel are refused, not silently kept.
	other := Options{VXLAN: &VXLANLink{VNI: 5001, Local: netip.MustParseAddr("192.0.2.9"), Underlay: "ul0"}}
	if err := n.m.Ensure(ctx, "atbr-x5001", other); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Fatalf("Ensure with another local address: %v", err)
	}
	wantList(t, n, "atbr-x5001[vxlan5001:vxlan]")

	// A guest's tap makes the bridge busy; forced, Remove deletes the tunnel and leaves the tap.
	tap := hypervisor.TapName("52:54:00:00:50:01")
	n.tap(t, tap)
	n.plug(t, tap, "atbr-x5001")
	wantList(t, n, "atbr-x5001["+tap+":tuntap,vxlan5001:vxlan]")
	wantErrIs(t, "Remove with a tap", n.m.Remove(ctx, "atbr-x5001", false), ErrBusy, tap)
	if err := timed(t, "Remove vxlan bridge (forced)", func() error { return n.m.Remove(ctx, "atbr-x5001", true) }); err != nil {
		t.Fatalf("forced Remove: %v", err)
	}
	wantList(t, n)
	if n.exists(t, "vxlan5001") {
		t.Fatal("vxlan5001 outlived its bridge")
	}
	if !n.exists(t, tap) || !n.exists(t, "ul0") {
		t.Fatal("Remove deleted the tap or the underlay")
	}
}

// TestKernelEnsureFor is the agent's call: a NIC's broadcast URI and network to a ready bridge.
func TestKernelEnsureFor(t *testing.T) {
	n := newTestNS(t)
	ctx := context.Background()
	n.veth(t, "ul0", "ul0p")
	u := Uplinks{VXLANLocal: netip.MustParseAddr("192.0.2.1"), VXLANUnderlay: "ul0"}
	tests := []struct {
		uri, netID string
		want       string
	}{
		{"vxlan://77", "", "atbr-x77"},
		{"vlan://untagged", "6f1c9d2e-0000-4000-8000-000000000001", "atbr-n6f1c9d2e0"},
		{"vlan://100", "", "atbr-v100"}, // no VLAN uplink configured: a plain bridge
	}
	for _, tc := range tests {
		got, err := n.m.EnsureFor(ctx, u, tc.uri, tc.netID)
		if err != nil || got != tc.want {
			t.Fatalf("EnsureFor(%q) = %q, %v; want %q", tc.uri, got, err, tc.want)
		}
	}
	wantList(t, n, "atbr-n6f1c9d2e0[]", "atbr-v100[]", "atbr-x77[vxlan77:vxlan]")
	if _, err := n.m.EnsureFor(ctx, u, "pvlan://1-i2", ""); !errors.Is(err, ErrBadBroadcast) {
		t.Fatalf("EnsureFor(pvlan): %v", err)
	}
}
