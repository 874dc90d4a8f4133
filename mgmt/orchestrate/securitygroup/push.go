package securitygroup

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
)

// PushTimeout bounds one host's security group apply (nftables on its VM ports).
const PushTimeout = 60 * time.Second

// WireState converts a host's HostState into the agent command's body.
func WireState(st *HostState) protocol.SecurityGroupState {
	out := protocol.SecurityGroupState{Groups: map[string][]string{}}
	conv := func(rs []Rule) []protocol.SecurityGroupRule {
		var w []protocol.SecurityGroupRule
		for _, r := range rs {
			pr := protocol.SecurityGroupRule{Protocol: r.Protocol, ICMPType: -1, ICMPCode: -1, Group: r.PeerGroupID}
			switch r.Protocol {
			case "icmp":
				pr.ICMPType, pr.ICMPCode = r.ICMPType, r.ICMPCode
			case "tcp", "udp":
				if r.StartPort > 0 {
					end := r.EndPort
					if end < r.StartPort {
						end = r.StartPort
					}
					pr.Ports = [2]uint16{uint16(r.StartPort), uint16(end)}
				}
			}
			if r.CIDR != "" {
				pr.CIDRs = strings.Split(r.CIDR, ",")
			}
			w = append(w, pr)
		}
		return w
	}
	for _, n := range st.Nics {
		p := protocol.SecurityGroupPort{VM: n.InstanceName, MAC: n.MAC, Ingress: conv(n.Ingress), Egress: conv(n.Egress)}
		for _, a := range []string{n.IP, n.IP6} {
			if a != "" {
				p.IPs = append(p.IPs, a)
			}
		}
		out.Ports = append(out.Ports, p)
	}
	for g, members := range st.Members {
		out.Groups[g] = append([]string{}, members...)
	}
	return out
}

// PushHost sends a real (KVM) host everything its VM ports must enforce; a Simulator host
// simulates its guests' filtering and is sent nothing.
func PushHost(ctx context.Context, d *orchestrate.Deps, hostID string) error {
	q := d.DB.Read()
	h, err := db.GetHost(ctx, q, hostID)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil || !network.RealHost(h) {
		return err
	}
	st, err := ComputeHostState(ctx, q, hostID)
	if err != nil {
		return err
	}
	return d.Send(ctx, hostID, protocol.CmdApplySecurityGroups, WireState(st), PushTimeout)
}

// push sends each of hosts its state; a host that cannot take it now gets it when it next
// connects (network.HostSync), so failures are logged, not returned.
func push(ctx context.Context, d *orchestrate.Deps, hosts []string) {
	for _, h := range hosts {
		if err := PushHost(ctx, d, h); err != nil && d.Log != nil {
			d.Log.Warn("security groups: host not programmed", "host", h, "err", err)
		}
	}
}

func init() {
	network.HostSecurityGroups = func(ctx context.Context, q db.Querier, hostID string) (protocol.SecurityGroupState, error) {
		st, err := ComputeHostState(ctx, q, hostID)
		if err != nil {
			return protocol.SecurityGroupState{}, err
		}
		return WireState(st), nil
	}
}
