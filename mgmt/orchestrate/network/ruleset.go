package network

import (
	"context"
	"sort"

	"github.com/atollcloud/atoll/db"
)

// RuleSet is everything a network's virtual router must enforce for its public IPs, as
// ApplyRules will hand it to the router: the rules not being deleted, grouped by kind, the
// static NAT mappings, the source NAT address and the egress default policy.
type RuleSet struct {
	NetworkID     string
	SourceNAT     string // the source NAT address; "" when none
	EgressAllow   bool   // egress default policy: true allows, egress rules deny
	Ingress       []*db.FirewallRule
	Egress        []*db.FirewallRule
	PortForwards  []*db.FirewallRule
	StaticNAT     []StaticNATMap // by public address
	PublicAddress []string       // every public address of the network, sorted
}

// StaticNATMap is one public address static-NATed to a VM's guest address.
type StaticNATMap struct{ Public, Guest, VMID string }

// Rules reads a network's RuleSet (rules in state Add or Active; Revoke ones are on their way
// out).
func Rules(ctx context.Context, q db.Querier, n *db.Network) (*RuleSet, error) {
	rs := &RuleSet{NetworkID: n.ID}
	allow, err := EgressDefaultAllow(ctx, q, n)
	if err != nil {
		return nil, err
	}
	rs.EgressAllow = allow
	rules, _, err := db.ListRules(ctx, q, db.RuleFilter{NetworkID: n.ID, NotRevoked: true})
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		switch {
		case r.Purpose == db.PurposePortForwarding:
			rs.PortForwards = append(rs.PortForwards, r)
		case r.TrafficType == db.TrafficEgress:
			rs.Egress = append(rs.Egress, r)
		default:
			rs.Ingress = append(rs.Ingress, r)
		}
	}
	ips, _, err := db.ListPublicAddresses(ctx, q, db.PublicAddressFilter{NetworkID: n.ID})
	if err != nil {
		return nil, err
	}
	for _, p := range ips {
		rs.PublicAddress = append(rs.PublicAddress, p.Address)
		if p.SourceNAT {
			rs.SourceNAT = p.Address
		}
		if p.VMID != "" {
			rs.StaticNAT = append(rs.StaticNAT, StaticNATMap{Public: p.Address, Guest: p.VMIP, VMID: p.VMID})
		}
	}
	sort.Strings(rs.PublicAddress)
	return rs, nil
}
