package bridge

import (
	"errors"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/hypervisor"
)

func TestBridgeName(t *testing.T) {
	const uuid = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
	tests := []struct {
		name, uri, netID string
		want             string
		wantErr          error // nil: no error; errAny: some error
	}{
		{"vlan", "vlan://100", uuid, "atbr-v100", nil},
		{"vlan leading zeros", "vlan://0100", "", "atbr-v100", nil},
		{"vlan upper-case scheme", "VLAN://7", "", "atbr-v7", nil},
		{"vlan lowest", "vlan://1", "", "atbr-v1", nil},
		{"vlan highest", "vlan://4094", "", "atbr-v4094", nil},
		{"vxlan", "vxlan://5001", uuid, "atbr-x5001", nil},
		{"vxlan highest vni", "vxlan://16777215", "", "atbr-x16777215", nil},
		{"untagged from uuid", "", uuid, "atbr-n3f2504e04", nil},
		{"vlan untagged", "vlan://untagged", uuid, "atbr-n3f2504e04", nil},
		{"vlan -1 is untagged", "vlan://-1", uuid, "atbr-n3f2504e04", nil},
		{"untagged short numeric id", "", "204", "atbr-n204", nil},
		{"untagged skips non-hex", "", "net-xyz-0a-ff", "atbr-ne0aff", nil},
		{"untagged without hex", "", "xyz-q", "", errAny},
		{"untagged empty id", "", "", "", errAny},
		{"vlan 0", "vlan://0", "", "", ErrBadBroadcast},
		{"vlan 4095", "vlan://4095", "", "", ErrBadBroadcast},
		{"vlan not a number", "vlan://ten", "", "", ErrBadBroadcast},
		{"vlan empty id", "vlan://", "", "", ErrBadBroadcast},
		{"vlan signed", "vlan://+5", "", "", ErrBadBroadcast},
		{"vxlan 0", "vxlan://0", "", "", ErrBadBroadcast},
		{"vxlan 2^24", "vxlan://16777216", "", "", ErrBadBroadcast},
		{"vxlan huge", "vxlan://99999999999999999999", "", "", ErrBadBroadcast},
		{"pvlan", "pvlan://100-i200", uuid, "", ErrBadBroadcast},
		{"lswitch", "lswitch:abc", uuid, "", ErrBadBroadcast},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BridgeName(hypervisor.NicSpec{BroadcastURI: tc.uri, NetworkID: tc.netID})
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("BridgeName(%q, %q): %v", tc.uri, tc.netID, err)
			case tc.wantErr != nil && err == nil:
				t.Fatalf("BridgeName(%q, %q) = %q, want an error", tc.uri, tc.netID, got)
			case tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("BridgeName(%q, %q): %v, want %v", tc.uri, tc.netID, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("BridgeName(%q, %q) = %q, want %q", tc.uri, tc.netID, got, tc.want)
			}
			if err == nil {
				if len(got) > 15 {
					t.Errorf("%q is %d characters, Linux allows 15", got, len(got))
				}
				if err := checkBridgeName(got); err != nil {
					t.Errorf("the name is not one Ensure takes: %v", err)
				}
			}
		})
	}
}

var errAny = errors.New("any error")

// TestBridgeNameLimit checks the 15-character limit over the longest inputs of every kind,
// and that different networks get different names as far as nine hex characters allow.
func TestBridgeNameLimit(t *testing.T) {
	seen := map[string]string{}
	for _, in := range [][2]string{
		{"vlan://4094", ""},
		{"vlan://409", ""},
		{"vxlan://409", ""},
		{"vxlan://16777215", ""},
		{"vxlan://1677721", ""},
		{"", strings.Repeat("f", 64)},
		{"", "fffffffe"},
		{"", "ffffffffe"},
		{"", "409"},
	} {
		got, err := NameFor(in[0], in[1])
		if err != nil {
			t.Fatalf("NameFor(%q, %q): %v", in[0], in[1], err)
		}
		if len(got) > 15 {
			t.Errorf("NameFor(%q, %q) = %q: %d characters, Linux allows 15", in[0], in[1], got, len(got))
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q both name %q", other, in, got)
		}
		seen[got] = in[0] + "|" + in[1]
	}
	// Ids that agree in their first nine hex characters share a name: the cost of the limit.
	a, _ := NameFor("", strings.Repeat("f", 64))
	b, _ := NameFor("", "ffffffff-ffff-ffff-ffff-ffffffffffff")
	if a != b || len(a) != 15 {
		t.Errorf("long ids: %q and %q, want the same 15-character name", a, b)
	}
}

func TestParseBroadcast(t *testing.T) {
	tests := []struct {
		uri  string
		want Broadcast
	}{
		{"", Broadcast{Kind: Untagged}},
		{"vlan://untagged", Broadcast{Kind: Untagged}},
		{"vlan://42", Broadcast{Kind: VLAN, ID: 42}},
		{"vxlan://5001", Broadcast{Kind: VXLAN, ID: 5001}},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			got, err := ParseBroadcast(tc.uri)
			if err != nil || got != tc.want {
				t.Errorf("ParseBroadcast(%q) = %+v, %v; want %+v", tc.uri, got, err, tc.want)
			}
		})
	}
}

func TestCheckBridgeName(t *testing.T) {
	tests := []struct {
		name    string
		ok      bool
		managed bool // false with !ok: the error wraps ErrNotManaged
	}{
		{"atbr-v100", true, true},
		{"atbr-x16777215", true, true},
		{"atbr-n123456789", true, true},
		{"atbr-n1234567890", false, true}, // 16 characters
		{"atbr-", false, false},
		{"eth0", false, false},
		{"cloudbr0", false, false},
		{"at525400123456", false, false}, // a tap
		{"atbr-a/b", false, true},
		{"atbr-a b", false, true},
		{"atbr-a:1", false, true},
		{"", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBridgeName(tc.name)
			if (err == nil) != tc.ok {
				t.Fatalf("checkBridgeName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
			if !tc.ok && !tc.managed && !errors.Is(err, ErrNotManaged) {
				t.Errorf("checkBridgeName(%q) = %v, want ErrNotManaged", tc.name, err)
			}
		})
	}
}
