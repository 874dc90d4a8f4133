package securitygroup

import (
	"reflect"
	"testing"

	"github.com/atollcloud/atoll/agent/protocol"
)

// TestWireState pins how a host's state becomes the agent's command: ports by instance name
// and MAC with their addresses, tcp/udp port ranges, icmp type and code, CIDR lists split,
// group peers by id, and the groups' member addresses.
func TestWireState(t *testing.T) {
	st := &HostState{HostID: "h", Nics: []NicRules{{VMID: "v", InstanceName: "i-2-7-VM", MAC: "02:00:00:00:00:07", IP: "10.1.1.7",
		Ingress: []Rule{
			{Protocol: "tcp", StartPort: 22, EndPort: 22, CIDR: "192.0.2.0/24,198.51.100.7/32"},
			{Protocol: "icmp", ICMPType: 8, ICMPCode: -1, CIDR: "0.0.0.0/0"},
			{Protocol: "udp", StartPort: 53, EndPort: 0, PeerGroupID: "g2"},
		},
		Egress: []Rule{{Protocol: "all", CIDR: "10.0.0.0/8"}},
	}}, Members: map[string][]string{"g2": {"10.1.1.8", "10.1.1.9"}}}
	want := protocol.SecurityGroupState{
		Ports: []protocol.SecurityGroupPort{{VM: "i-2-7-VM", MAC: "02:00:00:00:00:07", IPs: []string{"10.1.1.7"},
			Ingress: []protocol.SecurityGroupRule{
				{Protocol: "tcp", Ports: [2]uint16{22, 22}, ICMPType: -1, ICMPCode: -1, CIDRs: []string{"192.0.2.0/24", "198.51.100.7/32"}},
				{Protocol: "icmp", ICMPType: 8, ICMPCode: -1, CIDRs: []string{"0.0.0.0/0"}},
				{Protocol: "udp", Ports: [2]uint16{53, 53}, ICMPType: -1, ICMPCode: -1, Group: "g2"},
			},
			Egress: []protocol.SecurityGroupRule{{Protocol: "all", ICMPType: -1, ICMPCode: -1, CIDRs: []string{"10.0.0.0/8"}}},
		}},
		Groups: map[string][]string{"g2": {"10.1.1.8", "10.1.1.9"}},
	}
	if got := WireState(st); !reflect.DeepEqual(got, want) {
		t.Errorf("WireState:\n got %+v\nwant %+v", got, want)
	}
}
