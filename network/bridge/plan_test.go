package bridge

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestOptionsCheck(t *testing.T) {
	local := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name    string
		opts    Options
		wantErr string // "" : valid
	}{
		{"zero", Options{}, ""},
		{"mtu", Options{MTU: 9000}, ""},
		{"negative mtu", Options{MTU: -1}, "mtu -1"},
		{"vlan", Options{VLAN: &VLANLink{Uplink: "eth1", ID: 100}}, ""},
		{"vlan id 0", Options{VLAN: &VLANLink{Uplink: "eth1", ID: 0}}, "vlan id 0"},
		{"vlan id 4095", Options{VLAN: &VLANLink{Uplink: "eth1", ID: 4095}}, "vlan id 4095"},
		{"vlan no uplink", Options{VLAN: &VLANLink{ID: 5}}, "vlan uplink"},
		{"vlan name fits", Options{VLAN: &VLANLink{Uplink: "enp0s31f6", ID: 4094}}, ""},
		{"vlan name too long", Options{VLAN: &VLANLink{Uplink: "enx001122334455", ID: 100}}, "enx001122334455.100"},
		{"vxlan", Options{VXLAN: &VXLANLink{VNI: 5001, Local: local, Underlay: "eth0"}}, ""},
		{"vxlan v6", Options{VXLAN: &VXLANLink{VNI: 1, Local: netip.MustParseAddr("2001:db8::1"), Underlay: "eth0"}}, ""},
		{"vxlan vni 0", Options{VXLAN: &VXLANLink{VNI: 0, Local: local, Underlay: "eth0"}}, "vni 0"},
		{"vxlan vni 2^24", Options{VXLAN: &VXLANLink{VNI: 1 << 24, Local: local, Underlay: "eth0"}}, "vni 16777216"},
		{"vxlan no local", Options{VXLAN: &VXLANLink{VNI: 5, Underlay: "eth0"}}, "local address"},
		{"vxlan multicast local", Options{VXLAN: &VXLANLink{VNI: 5, Local: netip.MustParseAddr("239.1.1.1"), Underlay: "eth0"}}, "local address"},
		{"vxlan no underlay", Options{VXLAN: &VXLANLink{VNI: 5, Local: local}}, "underlay"},
		{"vxlan bad port", Options{VXLAN: &VXLANLink{VNI: 5, Local: local, Underlay: "eth0", Port: 70000}}, "port 70000"},
		{"both", Options{VLAN: &VLANLink{Uplink: "eth1", ID: 1}, VXLAN: &VXLANLink{VNI: 1, Local: local, Underlay: "eth0"}}, "both"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.check()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("check: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("check = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestLinkRequests checks the netlink requests built for a VLAN sub-interface and a VXLAN
// tunnel: what this kernel cannot create (802.1Q) is at least built right.
func TestLinkRequests(t *testing.T) {
	v := VLANLink{Uplink: "eth1", ID: 100}.link(7, 9000)
	wantV := &netlink.Vlan{
		LinkAttrs:    netlink.LinkAttrs{Name: "eth1.100", ParentIndex: 7, MTU: 9000},
		VlanId:       100,
		VlanProtocol: netlink.VLAN_PROTOCOL_8021Q,
	}
	if !reflect.DeepEqual(v, wantV) {
		t.Errorf("vlan request = %+v, want %+v", v, wantV)
	}
	if v.Type() != "vlan" {
		t.Errorf("vlan request type = %q", v.Type())
	}

	x := VXLANLink{VNI: 5001, Local: netip.MustParseAddr("::ffff:192.0.2.1"), Underlay: "eth0"}.link(3, 0)
	if x.Name != "vxlan5001" || x.VxlanId != 5001 || x.VtepDevIndex != 3 || x.Learning || x.Port != 4789 || x.MTU != 0 {
		t.Errorf("vxlan request = %+v", x)
	}
	if !x.SrcAddr.Equal(net.ParseIP("192.0.2.1")) || len(x.SrcAddr) != 4 {
		t.Errorf("vxlan source = %v (%d bytes), want 192.0.2.1 as 4 bytes", x.SrcAddr, len(x.SrcAddr))
	}
	if p := (VXLANLink{VNI: 1, Port: 8472}).link(1, 0).Port; p != 8472 {
		t.Errorf("vxlan port = %d, want 8472", p)
	}
}

func TestPlan(t *testing.T) {
	local := netip.MustParseAddr("192.0.2.1")
	full := Uplinks{VLAN: "eth1", VXLANLocal: local, VXLANUnderlay: "eth0", MTU: 1450}
	tests := []struct {
		name     string
		u        Uplinks
		uri      string
		wantName string
		want     Options
		wantErr  bool
	}{
		{"vlan with uplink", full, "vlan://100", "atbr-v100", Options{MTU: 1450, VLAN: &VLANLink{Uplink: "eth1", ID: 100}}, false},
		{"vxlan with underlay", full, "vxlan://5001", "atbr-x5001",
			Options{MTU: 1450, VXLAN: &VXLANLink{VNI: 5001, Local: local, Underlay: "eth0"}}, false},
		{"untagged", full, "vlan://untagged", "atbr-nabc", Options{MTU: 1450}, false},
		{"vlan host-local", Uplinks{}, "vlan://100", "atbr-v100", Options{}, false},
		{"vxlan host-local", Uplinks{}, "vxlan://5001", "atbr-x5001", Options{}, false},
		{"vxlan without underlay device", Uplinks{VXLANLocal: local}, "vxlan://5001", "", Options{}, true},
		{"vlan uplink name too long", Uplinks{VLAN: "enx001122334455"}, "vlan://100", "", Options{}, true},
		{"bad uri", full, "pvlan://1-i2", "", Options{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, opts, err := tc.u.Plan(tc.uri, "abc")
			if (err != nil) != tc.wantErr {
				t.Fatalf("Plan(%q) error = %v, want error %v", tc.uri, err, tc.wantErr)
			}
			if name != tc.wantName || !reflect.DeepEqual(opts, tc.want) {
				t.Errorf("Plan(%q) = %q, %+v; want %q, %+v", tc.uri, name, opts, tc.wantName, tc.want)
			}
			if err != nil && tc.uri != "pvlan://1-i2" && !strings.Contains(err.Error(), "bridge atbr-") {
				t.Errorf("error %q does not name the bridge", err)
			}
		})
	}
}
