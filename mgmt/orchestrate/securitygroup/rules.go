package securitygroup

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// PeerGroup names another group by its owner's account name and its name
// (usersecuritygrouplist[n].account/.group).
type PeerGroup struct{ Account, Group string }

// RuleSpec is authorizeSecurityGroupIngress/Egress's input, its integers parsed already (nil:
// not given).
type RuleSpec struct {
	Group                     Ref // securitygroupid, or securitygroupname in account/domainid
	Protocol                  string
	StartPort, EndPort        *int
	ICMPType, ICMPCode        *int
	CIDRs                     []string
	Peers                     []PeerGroup
	peerListGiven, cidrsGiven bool
}

// WithLists marks which of cidrlist and usersecuritygrouplist were sent (CloudStack tells a
// list sent empty from one not sent).
func (s RuleSpec) WithLists(cidrs, peers bool) RuleSpec {
	s.cidrsGiven, s.peerListGiven = cidrs, peers
	return s
}

// validSGProtocols are NetUtils.isValidSecurityGroupProto's names.
var validSGProtocols = map[string]bool{"tcp": true, "udp": true, "icmp": true, "all": true}

// normalize checks a rule's protocol and ports as CloudStack's authorizeSecurityGroupRule does
// and returns the protocol and the two numbers stored (ports, ICMP type and code, or 0/0).
func (s RuleSpec) normalize() (proto string, start, end int, err error) {
	proto = strings.ToLower(strings.TrimSpace(s.Protocol))
	if proto == "" {
		proto = "all"
	}
	icmpType, icmpCode := s.ICMPType, s.ICMPCode
	if n, nerr := strconv.Atoi(proto); nerr == nil && isDigits(proto) {
		switch {
		case n == 1:
			proto, icmpType, icmpCode = "icmp", intp(-1), intp(-1)
		case n < 0 || n > 255:
			return "", 0, 0, orchestrate.ErrParam("Invalid protocol number: %d", n)
		default:
			proto = strconv.Itoa(n)
		}
	} else if !validSGProtocols[proto] {
		return "", 0, 0, orchestrate.ErrParam("Invalid protocol %s", proto)
	}
	switch proto {
	case "icmp":
		if icmpType == nil || icmpCode == nil {
			return "", 0, 0, orchestrate.ErrParam("Invalid ICMP type/code specified, icmpType = %s, icmpCode = %s", intText(icmpType), intText(icmpCode))
		}
		t, c := *icmpType, *icmpCode
		if t == -1 && c != -1 {
			return "", 0, 0, orchestrate.ErrParam("Invalid icmp code")
		}
		if t != -1 && c == -1 {
			return "", 0, 0, orchestrate.ErrParam("Invalid icmp code: need non-negative icmp code ")
		}
		if c > 255 || t > 255 || c < -1 || t < -1 {
			return "", 0, 0, orchestrate.ErrParam("Invalid icmp type/code ")
		}
		return proto, t, c, nil
	case "all":
		if s.StartPort != nil || s.EndPort != nil {
			return "", 0, 0, orchestrate.ErrParam("Cannot specify startPort or endPort without specifying protocol")
		}
		return proto, 0, 0, nil
	case "tcp", "udp":
		if s.StartPort == nil || s.EndPort == nil {
			return "", 0, 0, orchestrate.ErrParam("Invalid port range specified, startPort = %s, endPort = %s", intText(s.StartPort), intText(s.EndPort))
		}
		a, b := *s.StartPort, *s.EndPort
		if a == 0 && b == 0 {
			b = 65535
		}
		if a > b {
			return "", 0, 0, orchestrate.ErrParam("Invalid port range %d:%d", a, b)
		}
		if a > 65535 || b > 65535 || a < -1 || b < -1 {
			return "", 0, 0, orchestrate.ErrParam("Invalid port numbers %d:%d", a, b)
		}
		if a < 0 || b < 0 {
			return "", 0, 0, orchestrate.ErrParam("Invalid port range %d:%d", a, b)
		}
		return proto, a, b, nil
	}
	return proto, 0, 0, nil // another protocol number: its ports mean nothing
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func intp(n int) *int { return &n }

func intText(p *int) string {
	if p == nil {
		return "null"
	}
	return strconv.Itoa(*p)
}

// Check validates a rule request without the database: what the command can refuse before its
// job starts.
func (s RuleSpec) Check() error {
	if s.Group.ID != "" && s.Group.Name != "" {
		return orchestrate.ErrParam("securityGroupId and securityGroupName parameters are mutually exclusive")
	}
	if len(s.CIDRs) == 0 && len(s.Peers) == 0 {
		return orchestrate.ErrParam("At least one cidr or at least one security group needs to be specified")
	}
	for _, c := range s.CIDRs {
		if _, err := netip.ParsePrefix(strings.TrimSpace(c)); err != nil {
			return orchestrate.ErrParam("Invalid cidr %s", c)
		}
	}
	for _, p := range s.Peers {
		if p.Group == "" || p.Account == "" {
			return orchestrate.ErrParam("Invalid user group specified, fields 'group' and 'account' cannot be null, please specify groups in the form:  userGroupList[0].group=XXX&userGroupList[0].account=YYY")
		}
	}
	_, _, _, err := s.normalize()
	return err
}

// ruleTarget loads the group a rule request names, for the caller to change.
func ruleTarget(ctx context.Context, q db.Querier, a orchestrate.Actor, r Ref, cmd string) (*db.SecurityGroup, error) {
	if r.Name != "" {
		owner, err := ownerID(ctx, q, a.Caller, r.AccountName, r.DomainID)
		if err != nil {
			return nil, err
		}
		g, err := byName(ctx, q, owner, r.Name, orchestrate.ErrParam("Unable to find security group %s for account id=%s", r.Name, owner))
		if err != nil {
			return nil, err
		}
		return g, orchestrate.CheckOwnerAccess(ctx, q, a.Caller, g.ID, g.AccountID, g.DomainID)
	}
	if r.ID == "" {
		return nil, orchestrate.ErrParam("Either securityGroupId or securityGroupName is required by %s command", cmd)
	}
	return Get(ctx, q, a.Caller, r.ID)
}

// Authorize adds the rules of a request to its group (authorizeSecurityGroupIngress/Egress's
// job, typ db.SGIngress or db.SGEgress): one rule per CIDR and per peer group, a rule the group
// has already left as it is; when every one was there, CloudStack's 530 "Failed to authorize".
// It returns the group and the rules it added; then the group's hosts are told (Apply).
func Authorize(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, typ string, s RuleSpec) (*db.SecurityGroup, []*db.SecurityGroupRule, error) {
	if err := s.Check(); err != nil {
		return nil, nil, err
	}
	proto, start, end, _ := s.normalize()
	cmd := "authorizeSecurityGroupIngress"
	if typ == db.SGEgress {
		cmd = "authorizeSecurityGroupEgress"
	}
	var g *db.SecurityGroup
	var added []*db.SecurityGroupRule
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		added = nil
		var err error
		if g, err = ruleTarget(ctx, tx, a, s.Group, cmd); err != nil {
			return err
		}
		owner, err := db.GetAccount(ctx, tx, g.AccountID)
		if err != nil {
			return err
		}
		// The peers: groups of accounts of the group owner's domain, each locked so that it
		// is not deleted from under the new rule.
		var peers []*db.SecurityGroup
		for _, p := range s.Peers {
			acct, err := db.GetAccountByName(ctx, tx, owner.DomainID, p.Account)
			if errors.Is(err, db.ErrNotFound) || err == nil && !strings.EqualFold(acct.State, "enabled") {
				return orchestrate.ErrParam("Nonexistent account: %s when trying to authorize security group rule  for %s:%s:%d:%d", p.Account, g.ID, proto, start, end)
			}
			if err != nil {
				return err
			}
			pg, err := byName(ctx, tx, acct.ID, p.Group, orchestrate.ErrParam("Nonexistent group %s for account %s/%s is given, unable to authorize security group rule.", p.Group, p.Account, owner.DomainID))
			if err != nil {
				return err
			}
			if pg.DomainID != owner.DomainID {
				return orchestrate.ErrDenied("Can't add security group id=%s as it belongs to different domain", pg.DomainID)
			}
			peers = append(peers, pg)
		}
		if err := db.LockSecurityGroup(ctx, tx, g.ID); err != nil {
			return err
		}
		now := db.Now()
		add := func(r *db.SecurityGroupRule) error {
			r.ID, r.GroupID, r.Type, r.Protocol, r.StartPort, r.EndPort, r.Created = uuid.NewString(), g.ID, typ, proto, start, end, now
			ok, err := db.InsertSecurityGroupRule(ctx, tx, r)
			if err != nil {
				return err
			}
			if ok {
				added = append(added, r)
			}
			return nil
		}
		for _, pg := range peers {
			if pg.ID != g.ID {
				if err := db.LockSecurityGroup(ctx, tx, pg.ID); err != nil {
					return err
				}
			}
			if err := add(&db.SecurityGroupRule{AllowedGroupID: pg.ID, AllowedGroupName: pg.Name, AllowedAccountName: pg.AccountName}); err != nil {
				return err
			}
		}
		for _, c := range s.CIDRs {
			p, _ := netip.ParsePrefix(strings.TrimSpace(c))
			if err := add(&db.SecurityGroupRule{CIDR: p.String()}); err != nil {
				return err
			}
		}
		if len(added) == 0 {
			// CloudStack's answer when every rule asked for is there already; nothing changes.
			return orchestrate.ErrInternal("Failed to authorize security group %s rule(s)", typ)
		}
		return orchestrate.Event(ctx, tx, a, "SG.AUTH."+strings.ToUpper(typ), fmt.Sprintf("Added %d %s rule(s) to security group %s", len(added), typ, g.Name), "SecurityGroup", g.ID)
	})
	if err != nil {
		return nil, nil, err
	}
	if err := Apply(ctx, d, []string{g.ID}); err != nil {
		d.Log.Warn("security groups: recording the rule change failed", "group", g.ID, "err", err)
	}
	return g, added, nil
}

// Revoke removes a rule by id (revokeSecurityGroupIngress/Egress's job); the rule must be of
// the command's type. It returns the rule's group.
func Revoke(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, typ, ruleID string) (string, error) {
	var groupID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		r, err := db.GetSecurityGroupRule(ctx, tx, strings.ToLower(ruleID))
		if errors.Is(err, db.ErrNotFound) {
			return orchestrate.ErrParam("Unable to find security rule with id %s", ruleID)
		}
		if err != nil {
			return err
		}
		if r.Type != typ {
			return orchestrate.ErrParam("Mismatch in rule type for security rule with id %s", ruleID)
		}
		g, err := db.GetSecurityGroup(ctx, tx, r.GroupID)
		if err != nil {
			return err
		}
		if err := orchestrate.CheckOwnerAccess(ctx, tx, a.Caller, ruleID, g.AccountID, g.DomainID); err != nil {
			return err
		}
		if err := db.LockSecurityGroup(ctx, tx, g.ID); err != nil {
			return err
		}
		if err := db.DeleteSecurityGroupRule(ctx, tx, r.ID); err != nil {
			return err
		}
		groupID = g.ID
		return orchestrate.Event(ctx, tx, a, "SG.REVOKE."+strings.ToUpper(typ), "Revoked "+typ+" rule "+r.ID+" of security group "+g.Name, "SecurityGroup", g.ID)
	})
	if err != nil {
		return "", err
	}
	if err := Apply(ctx, d, []string{groupID}); err != nil {
		d.Log.Warn("security groups: recording the rule change failed", "group", groupID, "err", err)
	}
	return groupID, nil
}

// RuleLookup finds a rule for the API before its job starts (revoke's id check).
func RuleLookup(ctx context.Context, q db.Querier, a orchestrate.Actor, typ, ruleID string) (*db.SecurityGroupRule, error) {
	r, err := db.GetSecurityGroupRule(ctx, q, strings.ToLower(ruleID))
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find security rule with id %s", ruleID)
	}
	if err != nil {
		return nil, err
	}
	if r.Type != typ {
		return nil, orchestrate.ErrParam("Mismatch in rule type for security rule with id %s", ruleID)
	}
	g, err := db.GetSecurityGroup(ctx, q, r.GroupID)
	if err != nil {
		return nil, err
	}
	return r, orchestrate.CheckOwnerAccess(ctx, q, a.Caller, ruleID, g.AccountID, g.DomainID)
}
