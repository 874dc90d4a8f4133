package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Network rule purposes, traffic types and states (CloudStack's FirewallRule.Purpose,
// TrafficType and State).
const (
	PurposeFirewall       = "Firewall"
	PurposePortForwarding = "PortForwarding"

	TrafficIngress = "Ingress"
	TrafficEgress  = "Egress"

	RuleAdd    = "Add"
	RuleActive = "Active"
	RuleRevoke = "Revoke"
)

// FirewallRule is a firewall (ingress or egress) or port forwarding rule (firewall_rules).
// Ports are -1 when not set; IcmpType and IcmpCode likewise.
type FirewallRule struct {
	ID, Purpose, TrafficType, State string
	NetworkID, IPID                 string
	AccountID, DomainID             string
	Protocol                        string
	StartPort, EndPort              int
	IcmpType, IcmpCode              int
	CIDRs, DestCIDRs                string // comma-separated
	VMID, VMIP                      string
	DestStartPort, DestEndPort      int
	RelatedRuleID                   string
	ForDisplay                      bool
	Created                         int64
	// Joined for rendering.
	Address, VMName, VMDisplayName string
	AccountName, DomainName        string
	DomainPath                     string
}

const ruleCols = `r.id, r.purpose, r.traffic_type, r.state, r.network_id, COALESCE(r.ip_id,''), COALESCE(r.account_id,''), r.domain_id,
	r.protocol, COALESCE(r.start_port,-1), COALESCE(r.end_port,-1), COALESCE(r.icmp_type,-1), COALESCE(r.icmp_code,-1), COALESCE(r.cidrs,''),
	COALESCE(r.dest_cidrs,''), COALESCE(r.vm_id,''), COALESCE(r.vm_ip,''), COALESCE(r.dest_start_port,-1), COALESCE(r.dest_end_port,-1),
	COALESCE(r.related_rule_id,''), r.for_display, r.created, COALESCE(i.address,''), COALESCE(vm.name,''), COALESCE(vm.display_name,''),
	COALESCE(a.name,''), COALESCE(d.name,''), COALESCE(d.path,'')`

const ruleFrom = ` FROM firewall_rules r LEFT JOIN public_ips i ON i.id = r.ip_id LEFT JOIN vm_instances vm ON vm.id = r.vm_id
	LEFT JOIN accounts a ON a.id = r.account_id LEFT JOIN domains d ON d.id = r.domain_id`

func scanRule(s interface{ Scan(...any) error }) (*FirewallRule, error) {
	var r FirewallRule
	var disp int
	if err := s.Scan(&r.ID, &r.Purpose, &r.TrafficType, &r.State, &r.NetworkID, &r.IPID, &r.AccountID, &r.DomainID, &r.Protocol,
		&r.StartPort, &r.EndPort, &r.IcmpType, &r.IcmpCode, &r.CIDRs, &r.DestCIDRs, &r.VMID, &r.VMIP, &r.DestStartPort, &r.DestEndPort,
		&r.RelatedRuleID, &disp, &r.Created, &r.Address, &r.VMName, &r.VMDisplayName, &r.AccountName, &r.DomainName, &r.DomainPath); err != nil {
		return nil, err
	}
	r.ForDisplay = disp == 1
	return &r, nil
}

func nullPort(p int) any {
	if p < 0 {
		return nil
	}
	return p
}

// InsertRule creates a rule.
func InsertRule(ctx context.Context, q Querier, r *FirewallRule) error {
	_, err := q.ExecContext(ctx, `INSERT INTO firewall_rules (id, purpose, traffic_type, state, network_id, ip_id, account_id, domain_id,
		protocol, start_port, end_port, icmp_type, icmp_code, cidrs, dest_cidrs, vm_id, vm_ip, dest_start_port, dest_end_port,
		related_rule_id, for_display, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Purpose, r.TrafficType, r.State, r.NetworkID, nullable(r.IPID), nullable(r.AccountID), r.DomainID, r.Protocol,
		nullPort(r.StartPort), nullPort(r.EndPort), nullPort(r.IcmpType), nullPort(r.IcmpCode), nullable(r.CIDRs), nullable(r.DestCIDRs),
		nullable(r.VMID), nullable(r.VMIP), nullPort(r.DestStartPort), nullPort(r.DestEndPort), nullable(r.RelatedRuleID),
		boolInt(r.ForDisplay), r.Created)
	if err != nil {
		return fmt.Errorf("db: insert rule: %w", err)
	}
	return nil
}

// GetRule returns a rule by id.
func GetRule(ctx context.Context, q Querier, id string) (*FirewallRule, error) {
	r, err := scanRule(q.QueryRowContext(ctx, "SELECT "+ruleCols+ruleFrom+" WHERE r.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get rule: %w", err)
	}
	return r, nil
}

// RuleFilter selects rules; NotRevoked leaves out rules being deleted.
type RuleFilter struct {
	ID, Purpose, TrafficType, NetworkID, IPID, VMID, RelatedRuleID, Keyword string
	ForDisplay                                                              *bool
	NotRevoked                                                              bool
	Scope                                                                   Scope
	TagClause                                                               string
	TagArgs                                                                 []any
	Limit, Offset                                                           int
}

// ListRules returns matching rules, oldest first, and the total before paging.
func ListRules(ctx context.Context, q Querier, f RuleFilter) ([]*FirewallRule, int, error) {
	var w []string
	var args []any
	for _, c := range []struct{ col, v string }{{"r.id", f.ID}, {"r.purpose", f.Purpose}, {"r.traffic_type", f.TrafficType},
		{"r.network_id", f.NetworkID}, {"r.ip_id", f.IPID}, {"r.vm_id", f.VMID}, {"r.related_rule_id", f.RelatedRuleID}} {
		if c.v != "" {
			w, args = append(w, c.col+" = ?"), append(args, c.v)
		}
	}
	if f.ForDisplay != nil {
		w, args = append(w, "r.for_display = ?"), append(args, boolInt(*f.ForDisplay))
	}
	if f.NotRevoked {
		w = append(w, "r.state <> 'Revoke'")
	}
	if f.Keyword != "" {
		kw := "%" + LikePrefix(strings.ToLower(f.Keyword))
		w, args = append(w, "(LOWER(r.protocol) LIKE ?"+LikeEscape+" OR COALESCE(i.address,'') LIKE ?"+LikeEscape+")"), append(args, kw, kw)
	}
	if f.TagClause != "" {
		w, args = append(w, f.TagClause), append(args, f.TagArgs...)
	}
	w, args = f.Scope.apply(w, args, "r.account_id", "d.path")
	where := ""
	if len(w) > 0 {
		where = " WHERE " + strings.Join(w, " AND ")
	}
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+ruleFrom+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count rules: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+ruleCols+ruleFrom+where+" ORDER BY r.created, r.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list rules: %w", err)
	}
	out, err := scanAll(rows, "list rules", scanRule)
	return out, total, err
}

// UpdateRule writes a rule's changeable fields (port forwarding target and ports, CIDRs,
// display, state).
func UpdateRule(ctx context.Context, q Querier, r *FirewallRule) error {
	res, err := q.ExecContext(ctx, `UPDATE firewall_rules SET state = ?, cidrs = ?, vm_id = ?, vm_ip = ?, dest_start_port = ?,
		dest_end_port = ?, for_display = ? WHERE id = ?`, r.State, nullable(r.CIDRs), nullable(r.VMID), nullable(r.VMIP),
		nullPort(r.DestStartPort), nullPort(r.DestEndPort), boolInt(r.ForDisplay), r.ID)
	if err != nil {
		return fmt.Errorf("db: update rule: %w", err)
	}
	return expectOne(res)
}

// RevokeRules marks rules Revoke: those with the id (and the firewall rules opened for it),
// or all of an address's (ipID), or all of a network's; the next ApplyRules removes them.
func RevokeRules(ctx context.Context, q Querier, ruleID, ipID, networkID string) (int64, error) {
	var res sql.Result
	var err error
	switch {
	case ruleID != "":
		res, err = q.ExecContext(ctx, "UPDATE firewall_rules SET state = 'Revoke' WHERE id = ? OR related_rule_id = ?", ruleID, ruleID)
	case ipID != "":
		res, err = q.ExecContext(ctx, "UPDATE firewall_rules SET state = 'Revoke' WHERE ip_id = ?", ipID)
	default:
		res, err = q.ExecContext(ctx, "UPDATE firewall_rules SET state = 'Revoke' WHERE network_id = ?", networkID)
	}
	if err != nil {
		return 0, fmt.Errorf("db: revoke rules: %w", err)
	}
	return res.RowsAffected()
}

// ApplyRuleStates is what applying a network's rules does to their rows: Revoke rules go,
// Add rules become Active. It answers how many rows changed.
func ApplyRuleStates(ctx context.Context, q Querier, networkID string) (int64, error) {
	res, err := q.ExecContext(ctx, "DELETE FROM resource_tags WHERE resource_id IN (SELECT id FROM firewall_rules WHERE network_id = ? AND state = 'Revoke')", networkID)
	if err != nil {
		return 0, fmt.Errorf("db: apply rules: %w", err)
	}
	res, err = q.ExecContext(ctx, "DELETE FROM firewall_rules WHERE network_id = ? AND state = 'Revoke'", networkID)
	if err != nil {
		return 0, fmt.Errorf("db: apply rules: %w", err)
	}
	gone, _ := res.RowsAffected()
	res, err = q.ExecContext(ctx, "UPDATE firewall_rules SET state = 'Active' WHERE network_id = ? AND state = 'Add'", networkID)
	if err != nil {
		return 0, fmt.Errorf("db: apply rules: %w", err)
	}
	added, _ := res.RowsAffected()
	return gone + added, nil
}

// DeleteRule removes a rule row and the firewall rules opened for it (a rule never applied).
func DeleteRule(ctx context.Context, q Querier, id string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM firewall_rules WHERE id = ? OR related_rule_id = ?", id, id); err != nil {
		return fmt.Errorf("db: delete rule: %w", err)
	}
	return nil
}

// DeleteNetworkRules removes every rule of a network (and their tags), for its deletion.
func DeleteNetworkRules(ctx context.Context, q Querier, networkID string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM resource_tags WHERE resource_id IN (SELECT id FROM firewall_rules WHERE network_id = ?)", networkID); err != nil {
		return fmt.Errorf("db: delete network rules: %w", err)
	}
	if _, err := q.ExecContext(ctx, "DELETE FROM firewall_rules WHERE network_id = ?", networkID); err != nil {
		return fmt.Errorf("db: delete network rules: %w", err)
	}
	return nil
}
