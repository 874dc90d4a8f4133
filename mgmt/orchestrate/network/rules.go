package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// Network rules of Isolated networks (CloudStack's FirewallManager and RulesManager): ingress
// firewall rules on a public IP, egress firewall rules per network, port forwarding rules.
// A rule's row is written (state Add) with its job; the job applies the network's rules
// (ApplyRules) and the rule is Active. A deletion marks the rule Revoke and applies; the row
// then goes.

// ApplyRules is the one step of every rule job that programs the network's router with the
// network's rules: its ingress firewall, egress firewall and port forwarding rules and its
// static NAT addresses, the whole set (RouterSpecOf), after the rows changed. A router not
// placed yet (the network has had no VM) gets them when its first VM places it. Once the
// router's host has applied them, the rows settle as CloudStack's do: Revoke rules are
// deleted, Add rules become Active. A host that refuses fails the job and leaves the rows.
func ApplyRules(ctx context.Context, d *orchestrate.Deps, networkID string) error {
	if err := syncPlacedRouter(ctx, d, networkID); err != nil {
		return err
	}
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		_, err := db.ApplyRuleStates(ctx, tx, networkID)
		return err
	})
}

// PortRange is an inclusive range of ports.
type PortRange struct{ Start, End int }

// PortForwardingRanges lists the public port ranges (with their protocol) that port
// forwarding rules not being deleted use on a public IP, for load balancer rules to check
// theirs against (and port forwarding against theirs).
func PortForwardingRanges(ctx context.Context, q db.Querier, ipID string) (map[string][]PortRange, error) {
	rules, _, err := db.ListRules(ctx, q, db.RuleFilter{IPID: ipID, Purpose: db.PurposePortForwarding, NotRevoked: true})
	if err != nil {
		return nil, err
	}
	out := map[string][]PortRange{}
	for _, r := range rules {
		out[r.Protocol] = append(out[r.Protocol], PortRange{r.StartPort, r.EndPort})
	}
	return out, nil
}

// EgressDefaultAllow reports a network's offering's egress default policy (CloudStack's
// egressdefaultpolicy): true, egress is allowed and egress rules deny what they match; false,
// egress is denied and egress rules allow what they match.
func EgressDefaultAllow(ctx context.Context, q db.Querier, n *db.Network) (bool, error) {
	o, err := db.GetNetworkOffering(ctx, q, n.NetworkOfferingID)
	if err != nil {
		return false, err
	}
	return o.EgressDefaultPolicy, nil
}

// RuleString is how CloudStack names a rule in messages.
func RuleString(r *db.FirewallRule) string {
	return fmt.Sprintf("Rule[%s-%s-%s]", r.ID, r.Purpose, r.State)
}

// RuleSpec is a firewall or port forwarding rule to create, its syntax checked by the caller.
// Ports are -1 when not given.
type RuleSpec struct {
	Purpose, TrafficType       string
	IPID, NetworkID            string // lower-case
	Protocol                   string // lower-case
	StartPort, EndPort         int
	IcmpType, IcmpCode         int
	CIDRs, DestCIDRs           []string
	VMID, VMIP                 string
	DestStartPort, DestEndPort int
	OpenFirewall               bool
	ForDisplay                 bool
}

// Protocols each purpose accepts (the virtual router's SupportedProtocols and
// SupportedEgressProtocols capabilities).
var ruleProtocols = map[string][]string{
	db.PurposeFirewall:       {"tcp", "udp", "icmp", "all"},
	db.PurposePortForwarding: {"tcp", "udp"},
}

func validPort(p int) bool { return p >= 1 && p <= 65535 }

// checkPorts is CloudStack's validateFirewallRule on ports and protocol.
func checkPorts(spec *RuleSpec, zoneName string) error {
	if spec.StartPort != -1 && !validPort(spec.StartPort) {
		return orchestrate.ErrParam("publicPort is an invalid value: %d", spec.StartPort)
	}
	if spec.EndPort != -1 && !validPort(spec.EndPort) {
		return orchestrate.ErrParam("Public port range is an invalid value: %d", spec.EndPort)
	}
	if spec.StartPort != -1 && spec.EndPort != -1 && spec.StartPort > spec.EndPort {
		return orchestrate.ErrParam("Start port can't be bigger than end port")
	}
	ok := false
	for _, p := range ruleProtocols[spec.Purpose] {
		ok = ok || p == spec.Protocol
	}
	if !ok {
		return orchestrate.ErrParam("Protocol %s is not supported in zone %s (protocol)", spec.Protocol, zoneName)
	}
	return nil
}

// ParseCIDRs checks a CIDR list (cidrlist, destcidrlist): IPv4 or IPv6 prefixes.
func ParseCIDRs(param string, list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, c := range list {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil || p.Masked() != p {
			what := "Source"
			if param == "destcidrlist" {
				what = "Destination"
			}
			return nil, orchestrate.ErrParam("%s CIDRs formatting error %s (%s)", what, c, param)
		}
		out = append(out, c)
	}
	return out, nil
}

// newRuleRow builds the row of a rule to create.
func newRuleRow(spec *RuleSpec, networkID, ipID, accountID, domainID string) *db.FirewallRule {
	return &db.FirewallRule{ID: uuid.NewString(), Purpose: spec.Purpose, TrafficType: spec.TrafficType, State: db.RuleAdd,
		NetworkID: networkID, IPID: ipID, AccountID: accountID, DomainID: domainID, Protocol: spec.Protocol,
		StartPort: spec.StartPort, EndPort: spec.EndPort, IcmpType: spec.IcmpType, IcmpCode: spec.IcmpCode,
		CIDRs: strings.Join(spec.CIDRs, ","), DestCIDRs: strings.Join(spec.DestCIDRs, ","), VMID: spec.VMID, VMIP: spec.VMIP,
		DestStartPort: spec.DestStartPort, DestEndPort: spec.DestEndPort, ForDisplay: spec.ForDisplay, Created: time.Now().UnixMilli()}
}

// CreateRule is the first step of createFirewallRule, createEgressFirewallRule and
// createPortForwardingRule, in one transaction with its job: the checks CloudStack makes, the
// rule's row (Add) and, for port forwarding with openfirewall, the ingress firewall rule
// opened for it. It answers the rule's id and the job's.
func CreateRule(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec RuleSpec) (ruleID, jobID string, err error) {
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		var r *db.FirewallRule
		var err error
		switch {
		case spec.Purpose == db.PurposePortForwarding:
			r, err = newPortForwarding(ctx, tx, a, &spec)
		case spec.TrafficType == db.TrafficEgress:
			r, err = newEgressRule(ctx, tx, a, &spec)
		default:
			r, err = newIngressRule(ctx, tx, a, &spec)
		}
		if err != nil {
			return err
		}
		if err := db.InsertRule(ctx, tx, r); err != nil {
			return err
		}
		if err := detectConflicts(ctx, tx, r); err != nil {
			return err
		}
		if spec.Purpose == db.PurposePortForwarding && spec.OpenFirewall {
			fw := newRuleRow(&RuleSpec{Purpose: db.PurposeFirewall, TrafficType: db.TrafficIngress, Protocol: r.Protocol,
				StartPort: r.StartPort, EndPort: r.EndPort, IcmpType: -1, IcmpCode: -1, CIDRs: []string{"0.0.0.0/0"}, ForDisplay: true},
				r.NetworkID, r.IPID, r.AccountID, r.DomainID)
			fw.RelatedRuleID = r.ID
			if err := db.InsertRule(ctx, tx, fw); err != nil {
				return err
			}
		}
		ev := "FIREWALL.OPEN"
		switch {
		case spec.Purpose == db.PurposePortForwarding:
			ev = "NET.RULEADD"
		case spec.TrafficType == db.TrafficEgress:
			ev = "FIREWALL.EGRESS.OPEN"
		}
		if err := orchestrate.Event(ctx, tx, a, ev, "Creating rule "+r.ID, RuleJobType, r.ID); err != nil {
			return err
		}
		ruleID = r.ID
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, RuleJobType, r.ID)
		return err
	})
	return ruleID, jobID, err
}

// ruleIP locks and loads the public IP a rule is on, with the caller's access checked.
func ruleIP(ctx context.Context, tx db.Tx, a orchestrate.Actor, id, what string) (*db.PublicAddress, error) {
	// Lock first, then read: what is read is what the lock holder last committed.
	err := db.LockPublicAddress(ctx, tx, id)
	var p *db.PublicAddress
	if err == nil {
		p, err = db.GetPublicAddress(ctx, tx, id)
	}
	if errors.Is(err, db.ErrNotFound) || err == nil && p.State == db.IPFree {
		if what == "port forwarding" {
			return nil, orchestrate.ErrParam("Unable to create port forwarding rule; ip id=%s doesn't exist in the system", id)
		}
		return nil, orchestrate.ErrParam("Unable to create %s rule; couldn't locate IP address by id in the system", what)
	}
	if err != nil {
		return nil, err
	}
	if _, err := PublicIPForCaller(ctx, tx, a.Caller, p.ID, true); err != nil {
		return nil, err
	}
	return p, nil
}

// ruleNetwork is the Isolated network of a rule's address, which must offer service.
func ruleNetwork(ctx context.Context, tx db.Tx, p *db.PublicAddress, service string) (*db.Network, error) {
	if p.NetworkID == "" {
		return nil, orchestrate.ErrParam("Ip address %s is not associated with any network", p.Address)
	}
	n, err := db.GetNetwork(ctx, tx, p.NetworkID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Ip address %s is not associated with any network", p.Address)
	}
	if err != nil {
		return nil, err
	}
	if !n.HasService(service) {
		return nil, orchestrate.ErrParam("Service %s is not supported in the network id=%s", service, n.ID)
	}
	return n, nil
}

func checkIcmp(spec *RuleSpec) error {
	if spec.Protocol != "icmp" && (spec.IcmpType != -1 || spec.IcmpCode != -1) {
		return orchestrate.ErrParam("Can specify icmpCode and icmpType for ICMP protocol only")
	}
	if spec.Protocol == "icmp" && (spec.StartPort != -1 || spec.EndPort != -1) {
		return orchestrate.ErrParam("Can't specify start/end port when protocol is ICMP")
	}
	if spec.Protocol == "all" && (spec.StartPort != -1 || spec.EndPort != -1) {
		return orchestrate.ErrParam("Can't specify start/end port when protocol is ALL")
	}
	if spec.IcmpType < -1 || spec.IcmpType > 255 || spec.IcmpCode < -1 || spec.IcmpCode > 255 {
		return orchestrate.ErrParam("Invalid icmptype/icmpcode %d/%d: -1 or 0-255", spec.IcmpType, spec.IcmpCode)
	}
	return nil
}

func newIngressRule(ctx context.Context, tx db.Tx, a orchestrate.Actor, spec *RuleSpec) (*db.FirewallRule, error) {
	p, err := ruleIP(ctx, tx, a, spec.IPID, "firewall")
	if err != nil {
		return nil, err
	}
	n, err := ruleNetwork(ctx, tx, p, "Firewall")
	if err != nil {
		return nil, err
	}
	if err := checkPorts(spec, p.ZoneName); err != nil {
		return nil, err
	}
	if err := checkIcmp(spec); err != nil {
		return nil, err
	}
	if len(spec.CIDRs) == 0 {
		spec.CIDRs = []string{"0.0.0.0/0"}
	}
	return newRuleRow(spec, n.ID, p.ID, p.AccountID, p.DomainID), nil
}

func newEgressRule(ctx context.Context, tx db.Tx, a orchestrate.Actor, spec *RuleSpec) (*db.FirewallRule, error) {
	n, err := ForCaller(ctx, tx, a.Caller, spec.NetworkID, true)
	if err != nil {
		return nil, err
	}
	if n.GuestType != db.GuestIsolated || !n.HasService("Firewall") {
		return nil, orchestrate.ErrParam("Egress firewall rules are supported only on Isolated networks with the Firewall service: network %s has none (networkid)", n.Name)
	}
	// Egress rules of a network queue behind each other.
	if err := db.LockNetwork(ctx, tx, n); err != nil {
		return nil, err
	}
	if err := checkPorts(spec, n.ZoneName); err != nil {
		return nil, err
	}
	if err := checkIcmp(spec); err != nil {
		return nil, err
	}
	guest, _ := netip.ParsePrefix(n.CIDR)
	for _, c := range spec.CIDRs {
		if c == "0.0.0.0/0" {
			continue
		}
		pf, _ := netip.ParsePrefix(c)
		if !guest.IsValid() || pf.Bits() < guest.Bits() || !guest.Contains(pf.Addr()) {
			return nil, orchestrate.ErrParam("%s is not within the guest cidr %s (cidrlist)", c, n.CIDR)
		}
	}
	if len(spec.CIDRs) == 0 && n.CIDR != "" {
		spec.CIDRs = []string{n.CIDR}
	}
	return newRuleRow(spec, n.ID, "", n.AccountID, n.DomainID), nil
}

// detectConflicts is CloudStack's FirewallManager.detectRulesConflict for the rules Atoll
// has: r against the rules of its address (or, egress, of its network) not being deleted.
func detectConflicts(ctx context.Context, tx db.Tx, r *db.FirewallRule) error {
	f := db.RuleFilter{IPID: r.IPID, NotRevoked: true}
	if r.IPID == "" {
		f = db.RuleFilter{NetworkID: r.NetworkID, Purpose: db.PurposeFirewall, TrafficType: db.TrafficEgress, NotRevoked: true}
	}
	rules, _, err := db.ListRules(ctx, tx, f)
	if err != nil {
		return err
	}
	for _, o := range rules {
		if o.ID == r.ID {
			continue
		}
		oneIsFirewall := (o.Purpose == db.PurposeFirewall || r.Purpose == db.PurposeFirewall) && (o.Purpose != r.Purpose || o.Protocol != r.Protocol)
		bothFirewall := o.Purpose == db.PurposeFirewall && r.Purpose == db.PurposeFirewall
		bothPF := o.Purpose == db.PurposePortForwarding && r.Purpose == db.PurposePortForwarding
		dupCIDRs := false
		switch {
		case bothFirewall:
			dupCIDRs = cidrsOverlap(o.CIDRs, r.CIDRs) && cidrsOverlap(o.DestCIDRs, r.DestCIDRs)
		case bothPF:
			dupCIDRs = cidrsOverlap(o.CIDRs, r.CIDRs)
		}
		if r.Protocol == "icmp" && o.Protocol == "icmp" && r.IcmpCode == o.IcmpCode && r.IcmpType == o.IcmpType && dupCIDRs {
			return orchestrate.ErrParam("New rule conflicts with existing rule: %s", RuleString(o))
		}
		nullPorts := r.StartPort == -1 && r.EndPort == -1 && o.StartPort == -1 && o.EndPort == -1
		if nullPorts && dupCIDRs && o.Protocol == r.Protocol && r.Protocol != "icmp" {
			return errNetworkRuleConflict("There is already a firewall rule specified with protocol = %s and no ports", r.Protocol)
		}
		if r.StartPort == -1 || r.EndPort == -1 || o.StartPort == -1 || o.EndPort == -1 || oneIsFirewall {
			continue
		}
		if (bothFirewall || bothPF) && !dupCIDRs {
			continue
		}
		if o.StartPort <= r.EndPort && r.StartPort <= o.EndPort {
			if bothPF && o.Protocol != r.Protocol {
				continue // the same ports with another protocol
			}
			return errNetworkRuleConflict("The range specified, %d-%d, conflicts with rule %s which has %d-%d", r.StartPort, r.EndPort,
				RuleString(o), o.StartPort, o.EndPort)
		}
	}
	if r.Purpose == db.PurposePortForwarding && r.Protocol == "tcp" && r.IPID != "" && r.StartPort != -1 {
		// Load-balancer rules hold their public port on the address too (CloudStack's
		// detectRulesConflict covers every purpose).
		lbs, err := db.LBPublicPorts(ctx, tx, r.IPID)
		if err != nil {
			return err
		}
		for id, p := range lbs {
			if p >= r.StartPort && p <= r.EndPort {
				return errNetworkRuleConflict("The range specified, %d-%d, conflicts with rule %s which has %d-%d", r.StartPort, r.EndPort,
					fmt.Sprintf("Rule[%s-LoadBalancing-Active]", id), p, p)
			}
		}
	}
	return nil
}

// cidrsOverlap is CloudStack's detectConflictingCidrs: both empty, or one CIDR in common.
func cidrsOverlap(a, b string) bool {
	if a == "" && b == "" {
		return true
	}
	set := map[string]bool{}
	for _, c := range strings.Split(a, ",") {
		if c != "" {
			set[c] = true
		}
	}
	for _, c := range strings.Split(b, ",") {
		if set[c] {
			return true
		}
	}
	return false
}

// ActivateRule is a create job's work: the network's rules are applied, the rule is Active.
// When applying fails the rule goes again (CloudStack revokes a rule it could not apply). A
// rule already gone answers its not-found error.
func ActivateRule(ctx context.Context, d *orchestrate.Deps, id string) error {
	r, err := db.GetRule(ctx, d.DB.Read(), id)
	if errors.Is(err, db.ErrNotFound) {
		return orchestrate.ErrParam("Unable to find rule by id %s", id)
	}
	if err != nil {
		return err
	}
	if err := ApplyRules(ctx, d, r.NetworkID); err != nil {
		if derr := d.DB.Transaction(ctx, func(tx db.Tx) error { return db.DeleteRule(ctx, tx, id) }); derr != nil {
			return errors.Join(err, derr)
		}
		return err
	}
	return nil
}

// RuleForCaller loads a rule of a purpose (and traffic type) that the caller may change.
func RuleForCaller(ctx context.Context, q db.Querier, a orchestrate.Actor, id, purpose, traffic string) (*db.FirewallRule, error) {
	r, err := db.GetRule(ctx, q, strings.ToLower(id))
	if err == nil && (r.Purpose != purpose || traffic != "" && r.TrafficType != traffic) {
		err = db.ErrNotFound
	}
	if errors.Is(err, db.ErrNotFound) {
		what := "firewall rule"
		if purpose == db.PurposePortForwarding {
			what = "port forwarding rule"
		}
		return nil, orchestrate.ErrParam("Unable to find %s by id %s", what, id)
	}
	if err != nil {
		return nil, err
	}
	if err := orchestrate.CheckOwnerAccess(ctx, q, a.Caller, r.ID, r.AccountID, r.DomainID); err != nil {
		return nil, err
	}
	return r, nil
}

// RevokeRule is a delete job's work: the rule (and the firewall rules opened for it) is
// marked Revoke and the network's rules are applied without it. A rule already gone is done.
func RevokeRule(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id, purpose, traffic string) error {
	var networkID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		r, err := RuleForCaller(ctx, tx, a, id, purpose, traffic)
		if err != nil {
			return err
		}
		networkID = r.NetworkID
		if _, err := db.RevokeRules(ctx, tx, r.ID, "", ""); err != nil {
			return err
		}
		ev := "FIREWALL.CLOSE"
		switch {
		case purpose == db.PurposePortForwarding:
			ev = "NET.RULEDELETE"
		case traffic == db.TrafficEgress:
			ev = "FIREWALL.EGRESS.CLOSE"
		}
		return orchestrate.Event(ctx, tx, a, ev, "Deleting rule "+r.ID, RuleJobType, r.ID)
	})
	var oe *orchestrate.Error
	if errors.As(err, &oe) && strings.HasPrefix(oe.Text, "Unable to find") {
		return nil
	}
	if err != nil {
		return err
	}
	return ApplyRules(ctx, d, networkID)
}

// UpdateRuleDisplay is updateFirewallRule's and updateEgressFirewallRule's job: fordisplay.
// customid is refused: rules keep their ids.
func UpdateRuleDisplay(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id, traffic string, display *bool, customID string) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		r, err := RuleForCaller(ctx, tx, a, id, db.PurposeFirewall, traffic)
		if err != nil {
			return err
		}
		if customID != "" && customID != r.ID {
			return orchestrate.ErrParam("customid cannot be changed on a firewall rule")
		}
		if display == nil || *display == r.ForDisplay {
			return nil
		}
		r.ForDisplay = *display
		if err := db.UpdateRule(ctx, tx, r); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "FIREWALL.UPDATE", "Updating firewall rule "+r.ID, RuleJobType, r.ID)
	})
}
