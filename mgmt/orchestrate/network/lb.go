package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// Load-balancer rules of isolated networks (CloudStack's LoadBalancingRulesManagerImpl with
// the VirtualRouter provider's rules, HAProxy's): a rule balances one public port of a public
// address the network holds (its source NAT address included: the default offerings are in
// conserve mode) over a private port of VMs with a NIC in the network. Rows change first;
// ApplyLB then brings the router in line and settles the rows (Add -> Active, revoked rows
// removed).

// CloudStack's NETWORK_RULE_CONFLICT_ERROR and NetworkRuleConflictException's cserrorcode.
const (
	CodeRuleConflict = 537
	CSRuleConflict   = 4360
)

// haproxyStatsPort is CloudStack's network.lb.haproxy.stats.port default: the router's
// HAProxy answers its statistics there, so no rule may take it.
const haproxyStatsPort = 8081

// LBAlgorithms are the algorithms the provider supports (SupportedLBAlgorithms).
var LBAlgorithms = []string{"roundrobin", "leastconn", "source"}

// lbProtocols are the protocols CloudStack's HAProxy validation knows; udp is among them
// but HAProxy cannot balance it.
var lbProtocols = []string{"tcp", "udp", "tcp-proxy", "ssl"}

// ErrRuleConflict is CloudStack's NetworkRuleConflictException.
func ErrRuleConflict(format string, args ...any) *orchestrate.Error {
	return orchestrate.Errorf(CodeRuleConflict, CSRuleConflict, format, args...)
}

// CheckLBAlgorithm returns the algorithm lower-cased, or CloudStack's refusal.
func CheckLBAlgorithm(a string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(a))
	for _, ok := range LBAlgorithms {
		if v == ok {
			return v, nil
		}
	}
	return "", orchestrate.ErrParam("Invalid algorithm: %s", a)
}

// CheckLBProtocol returns a rule's protocol lower-cased ("" when none was given), refusing
// what HAProxy can't do as CloudStack does.
func CheckLBProtocol(p string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(p))
	if v == "" {
		return "", nil
	}
	found := false
	for _, ok := range lbProtocols {
		found = found || v == ok
	}
	if !found {
		return "", orchestrate.ErrParam("protocol %s is not in valid protocols [%s]", v, strings.Join(lbProtocols, ", "))
	}
	if v == "udp" {
		return "", orchestrate.ErrParam("LB service provider cannot support this rule: HAProxy does not balance udp (protocol)")
	}
	return v, nil
}

// CheckLBCIDRs validates a rule's CIDR list (addresses or prefixes, IPv4 or IPv6) and returns
// it comma-joined.
func CheckLBCIDRs(list []string) (string, error) {
	out := make([]string, 0, len(list))
	for _, c := range list {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if _, err := netip.ParsePrefix(c); err != nil {
			if _, err := netip.ParseAddr(c); err != nil {
				return "", orchestrate.ErrParam("CIDR [%s] is invalid (cidrlist).", c)
			}
		}
		out = append(out, c)
	}
	return strings.Join(out, ","), nil
}

// LBSpec is a new rule of createLoadBalancerRule, its syntax checked by the caller.
type LBSpec struct {
	Name, Description       string
	PublicIPID              string
	NetworkID               string // optional: must be the address's network
	PublicPort, PrivatePort int
	Algorithm               string // as sent
	Protocol                string // as sent, may be ""
	CIDRs                   []string
	OpenFirewall            bool
	Display                 bool
}

// lbRule reads a rule the caller may change, with CloudStack's error for an unknown id.
func lbRule(ctx context.Context, q db.Querier, a orchestrate.Actor, id string) (*db.LBRule, error) {
	r, err := db.GetLBRule(ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find load balancer rule by id %s", id)
	}
	if err != nil {
		return nil, err
	}
	if err := orchestrate.CheckOwnerAccess(ctx, q, a.Caller, id, r.AccountID, r.DomainID); err != nil {
		return nil, err
	}
	return r, nil
}

// LBRuleForCaller reads a rule the caller may see and change (lists of a rule's instances and
// policies, and every change, check the same access as CloudStack's checkAccess).
func LBRuleForCaller(ctx context.Context, q db.Querier, a orchestrate.Actor, id string) (*db.LBRule, error) {
	return lbRule(ctx, q, a, id)
}

// checkLB validates a new rule against its address and network and returns the rule (not yet
// written): every refusal of CloudStack's createPublicLoadBalancerRule that Atoll can meet.
func checkLB(ctx context.Context, q db.Querier, a orchestrate.Actor, spec LBSpec) (*db.LBRule, error) {
	if !validPort(spec.PublicPort) {
		return nil, orchestrate.ErrParam("publicPort is an invalid value: %d", spec.PublicPort)
	}
	if !validPort(spec.PrivatePort) {
		return nil, orchestrate.ErrParam("privatePort is an invalid value: %d", spec.PrivatePort)
	}
	algo, err := CheckLBAlgorithm(spec.Algorithm)
	if err != nil {
		return nil, err
	}
	proto, err := CheckLBProtocol(spec.Protocol)
	if err != nil {
		return nil, err
	}
	cidrs, err := CheckLBCIDRs(spec.CIDRs)
	if err != nil {
		return nil, err
	}
	if spec.PublicIPID == "" {
		return nil, orchestrate.ErrParam("Unable to create load balancer rule: publicipid is required (Atoll's load balancers are on an isolated network's public IP address)")
	}
	ip, err := db.PublicIPForLB(ctx, q, spec.PublicIPID)
	if errors.Is(err, db.ErrNotFound) || err == nil && ip.State != "Allocated" {
		return nil, orchestrate.ErrParam("Unable to create load balancer rule, invalid IP address ID %s (publicipid)", spec.PublicIPID)
	}
	if err != nil {
		return nil, err
	}
	if err := orchestrate.CheckOwnerAccess(ctx, q, a.Caller, spec.PublicIPID, ip.AccountID, ip.DomainID); err != nil {
		return nil, err
	}
	if ip.NetworkID == "" {
		return nil, orchestrate.ErrParam("Unable to create load balancer rule ; specified sourceip id is not associated with any network (publicipid %s)", spec.PublicIPID)
	}
	if spec.NetworkID != "" && spec.NetworkID != ip.NetworkID {
		if _, err := ForCaller(ctx, q, a.Caller, spec.NetworkID, true); err != nil {
			return nil, err
		}
		return nil, orchestrate.ErrParam("IP address %s (publicipid) is not associated with network %s (networkid)", ip.Address, spec.NetworkID)
	}
	n, err := db.GetNetwork(ctx, q, ip.NetworkID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to create load balancer rule ; specified sourceip id is not associated with any network (publicipid %s)", spec.PublicIPID)
	}
	if err != nil {
		return nil, err
	}
	if n.GuestType != db.GuestIsolated || !n.HasService("Lb") {
		return nil, orchestrate.ErrParam("LB service is not supported in specified network id %s", n.ID)
	}
	if spec.PublicPort == 53 && ip.SourceNAT && n.HasService("Dns") {
		return nil, orchestrate.ErrParam("Error adding load balancer rule, cannot add port 53 with network service offering having DNS service and Source NAT.")
	}
	if spec.PublicPort == haproxyStatsPort {
		return nil, orchestrate.ErrParam("LB service provider cannot support this rule: HAProxy answers its statistics on port %d (publicport)", haproxyStatsPort)
	}
	r := &db.LBRule{ID: uuid.NewString(), Name: spec.Name, Description: spec.Description, PublicIPID: ip.ID, NetworkID: n.ID,
		ZoneID: n.ZoneID, AccountID: ip.AccountID, DomainID: ip.DomainID, PublicPort: spec.PublicPort, PrivatePort: spec.PrivatePort,
		Algorithm: algo, Protocol: proto, CIDRList: cidrs, State: db.LBAdd, Display: spec.Display, OpenFirewall: spec.OpenFirewall,
		Created: db.Now(), PublicIP: ip.Address}
	if err := checkPortConflict(ctx, q, r); err != nil {
		return nil, err
	}
	return r, nil
}

// checkPortConflict refuses a public port another live rule of the address has, with
// CloudStack's detectRulesConflict words.
func checkPortConflict(ctx context.Context, q db.Querier, r *db.LBRule) error {
	ports, err := db.LBPublicPorts(ctx, q, r.PublicIPID)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(ports))
	for id := range ports {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if p := ports[id]; id != r.ID && p == r.PublicPort {
			return ErrRuleConflict("The range specified, %d-%d, conflicts with rule %s which has %d-%d", r.PublicPort, r.PublicPort, id, p, p)
		}
	}
	// Port forwarding rules hold theirs on the address too.
	pfs, _, err := db.ListRules(ctx, q, db.RuleFilter{IPID: r.PublicIPID, Purpose: db.PurposePortForwarding, NotRevoked: true})
	if err != nil {
		return err
	}
	for _, o := range pfs {
		if o.Protocol == "tcp" && o.StartPort <= r.PublicPort && r.PublicPort <= o.EndPort {
			return ErrRuleConflict("The range specified, %d-%d, conflicts with rule %s which has %d-%d", r.PublicPort, r.PublicPort,
				RuleString(o), o.StartPort, o.EndPort)
		}
	}
	return nil
}

// CheckCreateLB validates createLoadBalancerRule before anything is written.
func CheckCreateLB(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec LBSpec) error {
	_, err := checkLB(ctx, d.DB.Read(), a, spec)
	return err
}

// CreateLB writes a new rule in state Add (CloudStack's create phase: the rule exists before
// its job runs), records LB.CREATE and writes the actor's job on it; it returns the rule and
// the job's id.
func CreateLB(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec LBSpec) (*db.LBRule, string, error) {
	var r *db.LBRule
	var jobID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		if r, err = checkLB(ctx, tx, a, spec); err != nil {
			return err
		}
		if err := db.InsertLBRule(ctx, tx, r); db.IsDuplicate(err) {
			// A concurrent create took the port between the check and the insert.
			return checkPortConflictOrRace(ctx, tx, r)
		} else if err != nil {
			return err
		}
		if err := orchestrate.Event(ctx, tx, a, "LB.CREATE", "creating load balancer: "+r.Name, "FirewallRule", r.ID); err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, "FirewallRule", r.ID)
		return err
	})
	return r, jobID, err
}

// ApplyNewLB applies the network's rules with a new rule (createLoadBalancerRule's job); when
// the router refuses, the rule is removed again, as CloudStack's execute does.
func ApplyNewLB(ctx context.Context, d *orchestrate.Deps, id string) error {
	r, err := db.GetLBRule(ctx, d.DB.Read(), id)
	if err != nil {
		return err
	}
	return applyOrUndo(ctx, d, r.NetworkID, func(tx db.Tx) error {
		if err := db.DeleteTagsOf(ctx, tx, "LoadBalancer", id); err != nil {
			return err
		}
		return db.DeleteLBRule(ctx, tx, id)
	})
}

func checkPortConflictOrRace(ctx context.Context, q db.Querier, r *db.LBRule) error {
	if err := checkPortConflict(ctx, q, r); err != nil {
		return err
	}
	return db.ErrConflict // the transaction runs again and finds the other rule
}

// LBPublicPortRanges lists the public port ranges ([first, last], inclusive) the
// load-balancer rules of a public address use, for the port forwarding and firewall families
// to refuse a conflicting rule (CloudStack's detectRulesConflict over all of an address's
// rules). Rules on their way out (Revoke) hold no port.
func LBPublicPortRanges(ctx context.Context, q db.Querier, publicIPID string) ([][2]int, error) {
	ports, err := db.LBPublicPorts(ctx, q, publicIPID)
	if err != nil {
		return nil, err
	}
	out := make([][2]int, 0, len(ports))
	for _, p := range ports {
		out = append(out, [2]int{p, p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out, nil
}

// ApplyLB is the one step of every load-balancer job that programs the network's router:
// it is called after the rows changed, with the network's rules as they now stand (revoked
// mappings, policies and rules included, marked so), and it settles the rows once the router
// has them: a Revoke rule and revoked mappings and policies are removed, and a rule is
// Active while it balances to at least one VM, Add otherwise (CloudStack's
// applyLoadBalancerRules). On failure the rows stay as they are; the workflows then undo
// their change (applyOrUndo), as CloudStack rolls back for the VirtualRouter provider.
//
// For now there is no router to program: the lead wires this step to the agent holding the
// network's router namespace (HAProxy configuration from LBConfig), after which it settles
// the rows as here.
func ApplyLB(ctx context.Context, d *orchestrate.Deps, networkID string) error {
	cfg, err := LoadLBConfig(ctx, d.DB.Read(), networkID)
	if err != nil {
		return err
	}
	if ProgramLB != nil {
		if err := ProgramLB(ctx, d, cfg); err != nil {
			return err
		}
	}
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		for _, rc := range cfg.Rules {
			if err := settleLB(ctx, tx, rc.Rule.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// applyOrUndo applies the network's rules; when that fails it runs undo, which puts back
// what the workflow changed, and answers the failure.
func applyOrUndo(ctx context.Context, d *orchestrate.Deps, networkID string, undo func(tx db.Tx) error) error {
	err := ApplyLB(ctx, d, networkID)
	if err == nil {
		return nil
	}
	if uerr := d.DB.Transaction(ctx, undo); uerr != nil && d.Log != nil {
		d.Log.Error("undo a load-balancer change the router refused", "network", networkID, "err", uerr)
	}
	return err
}

// restoreLB puts a rule's state (and so its hold on its public port) back to what it was.
func restoreLB(ctx context.Context, tx db.Tx, id, state string) error {
	r, err := db.GetLBRule(ctx, tx, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.State == state {
		return nil
	}
	r.State = state
	return db.UpdateLBRule(ctx, tx, r)
}

// ProgramLB, when set, sends a network's load-balancer configuration to its router (the
// lead's wiring; tests set it to see what ApplyLB would send, or to make it fail).
var ProgramLB func(ctx context.Context, d *orchestrate.Deps, cfg *LBConfig) error

// settleLB brings one rule's rows to where an applied configuration leaves them.
func settleLB(ctx context.Context, tx db.Tx, id string) error {
	r, err := db.GetLBRule(ctx, tx, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.State == db.LBRevoke {
		return db.DeleteLBRule(ctx, tx, r.ID)
	}
	if err := db.PurgeRevokedLB(ctx, tx, r.ID); err != nil {
		return err
	}
	vms, err := db.ListLBVMs(ctx, tx, r.ID)
	if err != nil {
		return err
	}
	want := db.LBAdd
	if len(vms) > 0 {
		want = db.LBActive
	}
	if r.State == want {
		return nil
	}
	r.State = want
	return db.UpdateLBRule(ctx, tx, r)
}

// LBConfig is what a network's router balances: each rule with its address, destinations
// and policies, revoked parts marked.
type LBConfig struct {
	NetworkID string
	Rules     []LBRuleConfig
}

// LBRuleConfig is one rule of an LBConfig.
type LBRuleConfig struct {
	Rule        *db.LBRule
	VMs         []*db.LBVM
	Stickiness  []*db.LBStickiness
	HealthCheck []*db.LBHealthCheck
}

// LoadLBConfig reads a network's load-balancer rules with their destinations and policies.
func LoadLBConfig(ctx context.Context, q db.Querier, networkID string) (*LBConfig, error) {
	rules, _, err := db.ListLBRules(ctx, q, db.LBRuleFilter{NetworkID: networkID})
	if err != nil {
		return nil, err
	}
	cfg := &LBConfig{NetworkID: networkID}
	for _, r := range rules {
		rc := LBRuleConfig{Rule: r}
		if rc.VMs, err = db.ListLBVMs(ctx, q, r.ID); err != nil {
			return nil, err
		}
		if rc.Stickiness, err = db.ListLBStickiness(ctx, q, r.ID); err != nil {
			return nil, err
		}
		if rc.HealthCheck, err = db.ListLBHealthChecks(ctx, q, r.ID); err != nil {
			return nil, err
		}
		cfg.Rules = append(cfg.Rules, rc)
	}
	return cfg, nil
}

// String names a rule as CloudStack's messages do.
func lbName(r *db.LBRule) string { return fmt.Sprintf("%s (%s)", r.Name, r.ID) }
