package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Security group rule types and the name of every account's own group.
const (
	SGIngress            = "ingress"
	SGEgress             = "egress"
	DefaultSGName        = "default"
	DefaultSGDescription = "Default Security Group"
)

// SecurityGroup is a named set of ingress and egress rules its member VMs' NICs get.
type SecurityGroup struct {
	ID, Name, Description string
	AccountID, DomainID   string
	Version, Created      int64
	// Joined for rendering.
	AccountName, DomainName, DomainPath string
}

// SecurityGroupRule is one rule of a group: traffic of a protocol and port range (or ICMP
// type and code) from (ingress) or to (egress) a CIDR or the members of another group.
type SecurityGroupRule struct {
	ID, GroupID, Type, Protocol string
	StartPort, EndPort          int // the ICMP type and code for icmp
	CIDR                        string
	AllowedGroupID              string
	Created                     int64
	// Joined for rendering: the allowed group's name and its owner's account name.
	AllowedGroupName, AllowedAccountName string
}

func sgLiveKey(accountID, name string) string { return accountID + "/" + strings.ToLower(name) }

// RuleKey is what makes two rules one: the group, type, protocol, ports and peer.
func (r *SecurityGroupRule) RuleKey() string {
	peer := "cidr:" + r.CIDR
	if r.AllowedGroupID != "" {
		peer = "group:" + r.AllowedGroupID
	}
	return strings.Join([]string{r.GroupID, r.Type, r.Protocol, strconv.Itoa(r.StartPort), strconv.Itoa(r.EndPort), peer}, "/")
}

const sgCols = `g.id, g.name, COALESCE(g.description,''), g.account_id, g.domain_id, g.version, g.created,
	COALESCE(a.name,''), COALESCE(d.name,''), COALESCE(d.path,'')`

const sgFrom = ` FROM security_groups g LEFT JOIN accounts a ON a.id = g.account_id LEFT JOIN domains d ON d.id = g.domain_id`

func scanSecurityGroup(s interface{ Scan(...any) error }) (*SecurityGroup, error) {
	var g SecurityGroup
	if err := s.Scan(&g.ID, &g.Name, &g.Description, &g.AccountID, &g.DomainID, &g.Version, &g.Created,
		&g.AccountName, &g.DomainName, &g.DomainPath); err != nil {
		return nil, err
	}
	return &g, nil
}

// InsertSecurityGroup creates a group; a group of the same name in the account gives an error
// IsDuplicate accepts.
func InsertSecurityGroup(ctx context.Context, q Querier, g *SecurityGroup) error {
	_, err := q.ExecContext(ctx, `INSERT INTO security_groups (id, name, description, account_id, domain_id, live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?)`, g.ID, g.Name, nullable(g.Description), g.AccountID, g.DomainID, sgLiveKey(g.AccountID, g.Name), g.Created)
	if err != nil {
		return fmt.Errorf("db: insert security group: %w", err)
	}
	return nil
}

func getSecurityGroup(ctx context.Context, q Querier, where string, arg any) (*SecurityGroup, error) {
	g, err := scanSecurityGroup(q.QueryRowContext(ctx, "SELECT "+sgCols+sgFrom+" WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get security group: %w", err)
	}
	return g, nil
}

// GetSecurityGroup returns a group by id.
func GetSecurityGroup(ctx context.Context, q Querier, id string) (*SecurityGroup, error) {
	return getSecurityGroup(ctx, q, "g.id = ?", id)
}

// GetSecurityGroupByName returns an account's group by name (case-insensitive).
func GetSecurityGroupByName(ctx context.Context, q Querier, accountID, name string) (*SecurityGroup, error) {
	return getSecurityGroup(ctx, q, "g.live_key = ?", sgLiveKey(accountID, name))
}

// SecurityGroupFilter selects groups.
type SecurityGroupFilter struct {
	ID, Name, Keyword string
	VMID              string // groups the VM is a member of
	Scope             Scope
	TagClause         string // from TagFilterClause, on g.id
	TagArgs           []any
	Limit, Offset     int
}

// ListSecurityGroups returns matching groups and the total count before paging.
func ListSecurityGroups(ctx context.Context, q Querier, f SecurityGroupFilter) ([]*SecurityGroup, int, error) {
	w := []string{"1 = 1"}
	var args []any
	add := func(cond string, a ...any) { w, args = append(w, cond), append(args, a...) }
	if f.ID != "" {
		add("g.id = ?", f.ID)
	}
	if f.Name != "" {
		add("LOWER(g.name) = LOWER(?)", f.Name)
	}
	if f.Keyword != "" {
		add("LOWER(g.name) LIKE ?"+LikeEscape, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	if f.VMID != "" {
		add("g.id IN (SELECT m.group_id FROM security_group_vm_map m WHERE m.vm_id = ?)", f.VMID)
	}
	if f.TagClause != "" {
		add(f.TagClause, f.TagArgs...)
	}
	w, args = f.Scope.apply(w, args, "g.account_id", "d.path")
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+sgFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count security groups: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+sgCols+sgFrom+" WHERE "+where+" ORDER BY g.created, g.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list security groups: %w", err)
	}
	out, err := scanAll(rows, "list security groups", scanSecurityGroup)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// DeleteSecurityGroup removes a group and its rules (CloudStack expunges them).
func DeleteSecurityGroup(ctx context.Context, q Querier, id string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM security_group_rules WHERE group_id = ?", id); err != nil {
		return fmt.Errorf("db: delete security group rules: %w", err)
	}
	res, err := q.ExecContext(ctx, "DELETE FROM security_groups WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("db: delete security group: %w", err)
	}
	return expectOne(res)
}

// LockSecurityGroup takes the group row's write lock until the transaction q ends (a version
// bump): rule changes of one group, and the deletion of a group other rules name, serialise.
func LockSecurityGroup(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE security_groups SET version = version + 1 WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("db: lock security group: %w", err)
	}
	return expectOne(res)
}

// CountSecurityGroupVMs counts a group's member VMs.
func CountSecurityGroupVMs(ctx context.Context, q Querier, groupID string) (int, error) {
	return count(ctx, q, "security_group_vm_map", "group_id = ?", []any{groupID})
}

// CountRulesAllowing counts the rules of any group that name groupID as their peer.
func CountRulesAllowing(ctx context.Context, q Querier, groupID string) (int, error) {
	return count(ctx, q, "security_group_rules", "allowed_group_id = ?", []any{groupID})
}

// InsertSecurityGroupRule adds a rule unless the group has it already (same RuleKey), and
// reports whether it did.
func InsertSecurityGroupRule(ctx context.Context, q Querier, r *SecurityGroupRule) (bool, error) {
	key := r.RuleKey()
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM security_group_rules WHERE rule_key = ?", key).Scan(&one)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("db: find security group rule: %w", err)
	}
	_, err = q.ExecContext(ctx, `INSERT INTO security_group_rules (id, group_id, type, protocol, start_port, end_port, cidr, allowed_group_id, rule_key, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.GroupID, r.Type, r.Protocol, r.StartPort, r.EndPort, nullable(r.CIDR), nullable(r.AllowedGroupID), key, r.Created)
	if err != nil {
		return false, fmt.Errorf("db: insert security group rule: %w", err)
	}
	return true, nil
}

const sgRuleCols = `r.id, r.group_id, r.type, r.protocol, r.start_port, r.end_port, COALESCE(r.cidr,''), COALESCE(r.allowed_group_id,''), r.created,
	COALESCE(ag.name,''), COALESCE(aa.name,'')`

const sgRuleFrom = ` FROM security_group_rules r LEFT JOIN security_groups ag ON ag.id = r.allowed_group_id LEFT JOIN accounts aa ON aa.id = ag.account_id`

func scanSecurityGroupRule(s interface{ Scan(...any) error }) (*SecurityGroupRule, error) {
	var r SecurityGroupRule
	return &r, s.Scan(&r.ID, &r.GroupID, &r.Type, &r.Protocol, &r.StartPort, &r.EndPort, &r.CIDR, &r.AllowedGroupID, &r.Created,
		&r.AllowedGroupName, &r.AllowedAccountName)
}

// GetSecurityGroupRule returns a rule by id.
func GetSecurityGroupRule(ctx context.Context, q Querier, id string) (*SecurityGroupRule, error) {
	r, err := scanSecurityGroupRule(q.QueryRowContext(ctx, "SELECT "+sgRuleCols+sgRuleFrom+" WHERE r.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get security group rule: %w", err)
	}
	return r, nil
}

// ListSecurityGroupRules returns the rules of the groups, in the order they were added.
func ListSecurityGroupRules(ctx context.Context, q Querier, groupIDs []string) ([]*SecurityGroupRule, error) {
	if len(groupIDs) == 0 {
		return nil, nil
	}
	c, args := inList("r.group_id", groupIDs)
	rows, err := q.QueryContext(ctx, "SELECT "+sgRuleCols+sgRuleFrom+" WHERE "+c+" ORDER BY r.created, r.id", args...)
	if err != nil {
		return nil, fmt.Errorf("db: list security group rules: %w", err)
	}
	return scanAll(rows, "list security group rules", scanSecurityGroupRule)
}

// DeleteSecurityGroupRule removes a rule.
func DeleteSecurityGroupRule(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "DELETE FROM security_group_rules WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("db: delete security group rule: %w", err)
	}
	return expectOne(res)
}

// SetVMSecurityGroups replaces a VM's group memberships (none: it leaves every group).
func SetVMSecurityGroups(ctx context.Context, q Querier, vmID string, groupIDs []string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM security_group_vm_map WHERE vm_id = ?", vmID); err != nil {
		return fmt.Errorf("db: set vm security groups: %w", err)
	}
	now := Now()
	seen := map[string]bool{}
	for _, g := range groupIDs {
		if seen[g] {
			continue
		}
		seen[g] = true
		if _, err := q.ExecContext(ctx, "INSERT INTO security_group_vm_map (group_id, vm_id, created) VALUES (?, ?, ?)", g, vmID, now); err != nil {
			return fmt.Errorf("db: set vm security groups: %w", err)
		}
	}
	return nil
}

// SecurityGroupMember is one membership row.
type SecurityGroupMember struct {
	GroupID, VMID string
}

// ListSecurityGroupMembers returns the memberships of the given VMs, or (vmIDs nil) of the
// given groups, ordered by VM then membership time.
func ListSecurityGroupMembers(ctx context.Context, q Querier, vmIDs, groupIDs []string) ([]*SecurityGroupMember, error) {
	var c string
	var args []any
	switch {
	case vmIDs != nil:
		if len(vmIDs) == 0 {
			return nil, nil
		}
		c, args = inList("vm_id", vmIDs)
	case len(groupIDs) > 0:
		c, args = inList("group_id", groupIDs)
	default:
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT group_id, vm_id FROM security_group_vm_map WHERE "+c+" ORDER BY vm_id, created, group_id", args...)
	if err != nil {
		return nil, fmt.Errorf("db: list security group members: %w", err)
	}
	return scanAll(rows, "list security group members", func(s interface{ Scan(...any) error }) (*SecurityGroupMember, error) {
		var m SecurityGroupMember
		return &m, s.Scan(&m.GroupID, &m.VMID)
	})
}

// DeleteAccountSecurityGroups removes every group of an account with their rules and
// memberships (deleteAccount's cleanup, once its VMs are gone).
func DeleteAccountSecurityGroups(ctx context.Context, q Querier, accountID string) error {
	for _, s := range []string{
		"DELETE FROM security_group_vm_map WHERE group_id IN (SELECT id FROM security_groups WHERE account_id = ?)",
		"DELETE FROM security_group_rules WHERE group_id IN (SELECT id FROM security_groups WHERE account_id = ?)",
		"DELETE FROM security_group_rules WHERE allowed_group_id IN (SELECT id FROM security_groups WHERE account_id = ?)",
		"DELETE FROM security_groups WHERE account_id = ?",
	} {
		if _, err := q.ExecContext(ctx, s, accountID); err != nil {
			return fmt.Errorf("db: delete account security groups: %w", err)
		}
	}
	return nil
}

// BumpSecurityGroupHostSeq counts one more change of a host's security group rule set and
// returns the new sequence number.
func BumpSecurityGroupHostSeq(ctx context.Context, q Querier, hostID string) (int64, error) {
	now := Now()
	res, err := q.ExecContext(ctx, "UPDATE security_group_host_seq SET seq = seq + 1, updated = ? WHERE host_id = ?", now, hostID)
	if err != nil {
		return 0, fmt.Errorf("db: bump security group host seq: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := q.ExecContext(ctx, "INSERT INTO security_group_host_seq (host_id, seq, updated) VALUES (?, 1, ?)", hostID, now); err != nil {
			return 0, fmt.Errorf("db: bump security group host seq: %w", err)
		}
	}
	return SecurityGroupHostSeq(ctx, q, hostID)
}

// SecurityGroupHostSeq returns a host's security group change count (0: never changed).
func SecurityGroupHostSeq(ctx context.Context, q Querier, hostID string) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, "SELECT seq FROM security_group_host_seq WHERE host_id = ?", hostID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("db: security group host seq: %w", err)
	}
	return seq, nil
}

// RenameSecurityGroup gives a group another name; a name the account's other groups have gives
// an error IsDuplicate accepts.
func RenameSecurityGroup(ctx context.Context, q Querier, g *SecurityGroup, name string) error {
	res, err := q.ExecContext(ctx, "UPDATE security_groups SET name = ?, live_key = ?, version = version + 1 WHERE id = ? AND version = ?",
		name, sgLiveKey(g.AccountID, name), g.ID, g.Version)
	if err != nil {
		return fmt.Errorf("db: rename security group: %w", err)
	}
	return expectOne(res)
}
