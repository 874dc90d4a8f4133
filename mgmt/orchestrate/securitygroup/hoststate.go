package securitygroup

import (
	"context"
	"sort"

	"github.com/atollcloud/atoll/db"
)

// HostState is what one host must enforce: every NIC of its active VMs that is on a network
// with security groups, each with its VM's groups' rules, and the member addresses of every
// group those rules name as their peer. It is computed from the database alone (pure reads);
// whoever programs the host turns it into its filter rules (the NIC's tap device is the
// host's business: MAC and device id identify the NIC there).
type HostState struct {
	HostID string
	Seq    int64 // db.SecurityGroupHostSeq when read: what the host has once programmed
	Nics   []NicRules
	// Members are the addresses of the active member VMs of every group a rule of Nics names
	// (group id -> IPv4 addresses of their default NICs, sorted).
	Members map[string][]string
}

// NicRules is one VM NIC and the rules on its traffic.
type NicRules struct {
	VMID, InstanceName string
	NicID, NetworkID   string
	MAC, IP, IP6       string
	DeviceID           int
	Groups             []string // the VM's group ids
	Ingress, Egress    []Rule
}

// Rule is one rule as a host applies it: traffic of Protocol ("tcp", "udp", "icmp", "all" or
// a protocol number) with ports StartPort-EndPort (tcp, udp) or ICMP type and code (icmp, -1
// any) from (ingress) or to (egress) CIDR, or the addresses of group PeerGroupID's members
// (HostState.Members).
type Rule struct {
	RuleID, GroupID    string
	Protocol           string
	StartPort, EndPort int
	ICMPType, ICMPCode int
	CIDR, PeerGroupID  string
}

func ruleOf(r *db.SecurityGroupRule) Rule {
	out := Rule{RuleID: r.ID, GroupID: r.GroupID, Protocol: r.Protocol, CIDR: r.CIDR, PeerGroupID: r.AllowedGroupID}
	if r.Protocol == "icmp" {
		out.ICMPType, out.ICMPCode = r.StartPort, r.EndPort
	} else {
		out.StartPort, out.EndPort = r.StartPort, r.EndPort
	}
	return out
}

// ComputeHostState computes what host hostID must enforce (pure reads).
func ComputeHostState(ctx context.Context, q db.Querier, hostID string) (*HostState, error) {
	st := &HostState{HostID: hostID, Nics: []NicRules{}, Members: map[string][]string{}}
	seq, err := db.SecurityGroupHostSeq(ctx, q, hostID)
	if err != nil {
		return nil, err
	}
	st.Seq = seq
	vms, _, err := db.ListVMs(ctx, q, db.VMFilter{HostID: hostID, States: activeStates})
	if err != nil {
		return nil, err
	}
	if len(vms) == 0 {
		return st, nil
	}
	vmIDs := make([]string, len(vms))
	for i, v := range vms {
		vmIDs[i] = v.ID
	}
	members, err := db.ListSecurityGroupMembers(ctx, q, vmIDs, nil)
	if err != nil {
		return nil, err
	}
	groupsOf := map[string][]string{}
	var groupIDs []string
	seen := map[string]bool{}
	for _, m := range members {
		groupsOf[m.VMID] = append(groupsOf[m.VMID], m.GroupID)
		if !seen[m.GroupID] {
			seen[m.GroupID] = true
			groupIDs = append(groupIDs, m.GroupID)
		}
	}
	rules, err := db.ListSecurityGroupRules(ctx, q, groupIDs)
	if err != nil {
		return nil, err
	}
	rulesOf := map[string][]*db.SecurityGroupRule{}
	var peers []string
	peerSeen := map[string]bool{}
	for _, r := range rules {
		rulesOf[r.GroupID] = append(rulesOf[r.GroupID], r)
		if r.AllowedGroupID != "" && !peerSeen[r.AllowedGroupID] {
			peerSeen[r.AllowedGroupID] = true
			peers = append(peers, r.AllowedGroupID)
		}
	}
	nics, err := db.ListNics(ctx, q, db.NicFilter{VMIDs: vmIDs})
	if err != nil {
		return nil, err
	}
	nets := map[string]*db.Network{}
	for _, v := range vms {
		gs := groupsOf[v.ID]
		if len(gs) == 0 {
			continue
		}
		for _, n := range nics {
			if n.VMID != v.ID {
				continue
			}
			net, ok := nets[n.NetworkID]
			if !ok {
				if net, err = db.GetNetwork(ctx, q, n.NetworkID); err != nil {
					return nil, err
				}
				nets[n.NetworkID] = net
			}
			if !networkHasGroups(net) {
				continue
			}
			nr := NicRules{VMID: v.ID, InstanceName: v.InstanceName(), NicID: n.ID, NetworkID: n.NetworkID, MAC: n.MACAddress,
				IP: n.IPAddress, IP6: n.IP6Address, DeviceID: n.DeviceID, Groups: gs, Ingress: []Rule{}, Egress: []Rule{}}
			for _, g := range gs {
				for _, r := range rulesOf[g] {
					if r.Type == db.SGEgress {
						nr.Egress = append(nr.Egress, ruleOf(r))
					} else {
						nr.Ingress = append(nr.Ingress, ruleOf(r))
					}
				}
			}
			st.Nics = append(st.Nics, nr)
		}
	}
	for _, p := range peers {
		addrs, err := memberAddresses(ctx, q, p)
		if err != nil {
			return nil, err
		}
		st.Members[p] = addrs
	}
	return st, nil
}

// networkHasGroups tells whether a network's NICs are under security groups: a Basic zone's
// guest network, or a network whose offering has the SecurityGroup service.
func networkHasGroups(n *db.Network) bool {
	return n.ZoneNetworkType == "Basic" || n.HasService("SecurityGroup")
}

// memberAddresses returns the IPv4 addresses of the default NICs of a group's active member
// VMs, wherever they run (CloudStack allows a peer group's Running members' default NIC).
func memberAddresses(ctx context.Context, q db.Querier, groupID string) ([]string, error) {
	states, sargs := placeholders(activeStates)
	rows, err := q.QueryContext(ctx, `SELECT n.ip_address FROM security_group_vm_map m JOIN vm_instances v ON v.id = m.vm_id
		JOIN nics n ON n.vm_id = v.id AND n.removed IS NULL AND n.is_default = 1
		WHERE m.group_id = ? AND v.removed IS NULL AND v.state IN `+states+` AND n.ip_address IS NOT NULL AND n.ip_address <> ''`,
		append([]any{groupID}, sargs...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var ip string
		if err := rows.Scan(&ip); err != nil {
			return nil, err
		}
		out = append(out, ip)
	}
	sort.Strings(out)
	return out, rows.Err()
}
