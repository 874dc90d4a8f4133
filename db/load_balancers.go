package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Load-balancer rules (migration 0016): CloudStack's load_balancing_rules, its VM map and its
// stickiness and health-check policies. A rule moves Add -> Active as the router takes it and
// to Revoke on its way out; mappings and policies carry a revoked flag likewise.

// Load-balancer rule states (CloudStack's FirewallRule.State).
const (
	LBAdd    = "Add"
	LBActive = "Active"
	LBRevoke = "Revoke"
)

// LBRule is one load-balancer rule on a public address.
type LBRule struct {
	ID, Name, Description       string
	PublicIPID, NetworkID       string
	ZoneID, AccountID, DomainID string
	PublicPort, PrivatePort     int
	Algorithm, Protocol         string
	CIDRList                    string // comma-separated, as sent
	State                       string
	Display, OpenFirewall       bool
	Version, Created            int64
	PublicIP                    string // joined: the address
	AccountName, DomainName     string // joined
	DomainPath, ZoneName        string // joined
}

func lbLiveKey(ipID string, port int) string { return fmt.Sprintf("%s/%d", ipID, port) }

const lbCols = `r.id, r.name, COALESCE(r.description,''), r.public_ip_id, r.network_id, r.zone_id, r.account_id, r.domain_id,
	r.public_port, r.private_port, r.algorithm, COALESCE(r.protocol,''), COALESCE(r.cidr_list,''), r.state, r.display, r.open_firewall,
	r.version, r.created, COALESCE(i.address,''), COALESCE(a.name,''), COALESCE(d.name,''), COALESCE(d.path,''), COALESCE(z.name,'')`

const lbFrom = ` FROM load_balancer_rules r LEFT JOIN public_ips i ON i.id = r.public_ip_id LEFT JOIN accounts a ON a.id = r.account_id
	LEFT JOIN domains d ON d.id = r.domain_id LEFT JOIN zones z ON z.id = r.zone_id`

func scanLBRule(s interface{ Scan(...any) error }) (*LBRule, error) {
	var r LBRule
	var display, open int
	if err := s.Scan(&r.ID, &r.Name, &r.Description, &r.PublicIPID, &r.NetworkID, &r.ZoneID, &r.AccountID, &r.DomainID,
		&r.PublicPort, &r.PrivatePort, &r.Algorithm, &r.Protocol, &r.CIDRList, &r.State, &display, &open,
		&r.Version, &r.Created, &r.PublicIP, &r.AccountName, &r.DomainName, &r.DomainPath, &r.ZoneName); err != nil {
		return nil, err
	}
	r.Display, r.OpenFirewall = display == 1, open == 1
	return &r, nil
}

// InsertLBRule adds a rule; another live rule on the same public port of the address gives an
// error IsDuplicate accepts.
func InsertLBRule(ctx context.Context, q Querier, r *LBRule) error {
	_, err := q.ExecContext(ctx, `INSERT INTO load_balancer_rules (id, name, description, public_ip_id, network_id, zone_id, account_id,
		domain_id, public_port, private_port, algorithm, protocol, cidr_list, state, display, open_firewall, live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		r.ID, r.Name, nullable(r.Description), r.PublicIPID, r.NetworkID, r.ZoneID, r.AccountID, r.DomainID, r.PublicPort, r.PrivatePort,
		r.Algorithm, nullable(r.Protocol), nullable(r.CIDRList), r.State, boolInt(r.Display), boolInt(r.OpenFirewall),
		lbLiveKey(r.PublicIPID, r.PublicPort), r.Created)
	if err != nil && !IsDuplicate(err) {
		return fmt.Errorf("db: insert load balancer rule: %w", err)
	}
	return err
}

// GetLBRule returns a rule by id.
func GetLBRule(ctx context.Context, q Querier, id string) (*LBRule, error) {
	r, err := scanLBRule(q.QueryRowContext(ctx, "SELECT "+lbCols+lbFrom+" WHERE r.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get load balancer rule: %w", err)
	}
	return r, nil
}

// LBRuleFilter selects rules.
type LBRuleFilter struct {
	ID, Name, Keyword     string
	PublicIPID, NetworkID string
	ZoneID, VMID          string
	States                []string // none: every state
	Display               *bool
	Scope                 Scope
	TagClause             string
	TagArgs               []any
	Limit, Offset         int
}

// ListLBRules returns matching rules, oldest first, and the total count before paging.
func ListLBRules(ctx context.Context, q Querier, f LBRuleFilter) ([]*LBRule, int, error) {
	var w []string
	var args []any
	add := func(cond string, a ...any) { w, args = append(w, cond), append(args, a...) }
	add("1 = 1")
	for col, v := range map[string]string{"r.id": f.ID, "r.public_ip_id": f.PublicIPID, "r.network_id": f.NetworkID, "r.zone_id": f.ZoneID} {
		if v != "" {
			add(col+" = ?", v)
		}
	}
	if f.Name != "" {
		add("LOWER(r.name) = LOWER(?)", f.Name)
	}
	if f.Keyword != "" {
		add("(LOWER(r.name) LIKE ?"+LikeEscape+" OR LOWER(COALESCE(r.description,'')) LIKE ?"+LikeEscape+")",
			"%"+LikePrefix(strings.ToLower(f.Keyword)), "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	if f.VMID != "" {
		add("r.id IN (SELECT m.lb_id FROM lb_vm_map m WHERE m.vm_id = ?)", f.VMID)
	}
	if len(f.States) > 0 {
		c, a := inList("r.state", f.States)
		add(c, a...)
	}
	if f.Display != nil {
		add("r.display = ?", boolInt(*f.Display))
	}
	if f.TagClause != "" {
		add(f.TagClause, f.TagArgs...)
	}
	w, args = f.Scope.apply(w, args, "r.account_id", "d.path")
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+lbFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count load balancer rules: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+lbCols+lbFrom+" WHERE "+where+" ORDER BY r.created, r.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list load balancer rules: %w", err)
	}
	out, err := scanAll(rows, "list load balancer rules", scanLBRule)
	return out, total, err
}

// UpdateLBRule writes a rule's changeable fields and state, conditional on its version
// (ErrConflict when another change came first); a Revoke rule gives up its public port.
func UpdateLBRule(ctx context.Context, q Querier, r *LBRule) error {
	var live any = lbLiveKey(r.PublicIPID, r.PublicPort)
	if r.State == LBRevoke {
		live = nil
	}
	res, err := q.ExecContext(ctx, `UPDATE load_balancer_rules SET name = ?, description = ?, algorithm = ?, protocol = ?, cidr_list = ?,
		state = ?, display = ?, live_key = ?, version = version + 1 WHERE id = ? AND version = ?`,
		r.Name, nullable(r.Description), r.Algorithm, nullable(r.Protocol), nullable(r.CIDRList), r.State, boolInt(r.Display), live,
		r.ID, r.Version)
	if err != nil {
		return fmt.Errorf("db: update load balancer rule: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrConflict
	}
	r.Version++
	return nil
}

// DeleteLBRule removes a rule with its VM mappings and policies.
func DeleteLBRule(ctx context.Context, q Querier, id string) error {
	for _, s := range []string{"DELETE FROM lb_vm_map WHERE lb_id = ?", "DELETE FROM lb_stickiness_policies WHERE lb_id = ?",
		"DELETE FROM lb_healthcheck_policies WHERE lb_id = ?", "DELETE FROM load_balancer_rules WHERE id = ?"} {
		if _, err := q.ExecContext(ctx, s, id); err != nil {
			return fmt.Errorf("db: delete load balancer rule: %w", err)
		}
	}
	return nil
}

// LBPublicPorts returns the public ports of an address's rules that are not being revoked,
// with the rules' ids.
func LBPublicPorts(ctx context.Context, q Querier, publicIPID string) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, public_port FROM load_balancer_rules WHERE public_ip_id = ? AND state <> ?", publicIPID, LBRevoke)
	if err != nil {
		return nil, fmt.Errorf("db: list load balancer ports: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var port int
		if err := rows.Scan(&id, &port); err != nil {
			return nil, fmt.Errorf("db: list load balancer ports: %w", err)
		}
		out[id] = port
	}
	return out, rows.Err()
}

// LBVM is one address of a VM a rule balances to.
type LBVM struct {
	LBID, VMID, VMIP string
	Revoked          bool
	State            string // the health check's view of it, when known
	Created          int64
}

func scanLBVM(s interface{ Scan(...any) error }) (*LBVM, error) {
	var m LBVM
	var rev int
	if err := s.Scan(&m.LBID, &m.VMID, &m.VMIP, &rev, &m.State, &m.Created); err != nil {
		return nil, err
	}
	m.Revoked = rev == 1
	return &m, nil
}

// InsertLBVM maps a VM's address to a rule; a mapping already there gives an error
// IsDuplicate accepts.
func InsertLBVM(ctx context.Context, q Querier, m *LBVM) error {
	_, err := q.ExecContext(ctx, "INSERT INTO lb_vm_map (lb_id, vm_id, vm_ip, revoked, created) VALUES (?, ?, ?, 0, ?)",
		m.LBID, m.VMID, m.VMIP, m.Created)
	if err != nil && !IsDuplicate(err) {
		return fmt.Errorf("db: insert load balancer vm: %w", err)
	}
	return err
}

// ListLBVMs returns a rule's VM mappings (revoked ones too), by VM and address.
func ListLBVMs(ctx context.Context, q Querier, lbID string) ([]*LBVM, error) {
	rows, err := q.QueryContext(ctx, "SELECT lb_id, vm_id, vm_ip, revoked, COALESCE(state,''), created FROM lb_vm_map WHERE lb_id = ? ORDER BY created, vm_id, vm_ip", lbID)
	if err != nil {
		return nil, fmt.Errorf("db: list load balancer vms: %w", err)
	}
	return scanAll(rows, "list load balancer vms", scanLBVM)
}

// RevokeLBVM marks one mapping for removal; it reports whether a live mapping was there.
func RevokeLBVM(ctx context.Context, q Querier, lbID, vmID, vmIP string) (bool, error) {
	res, err := q.ExecContext(ctx, "UPDATE lb_vm_map SET revoked = 1 WHERE lb_id = ? AND vm_id = ? AND vm_ip = ? AND revoked = 0", lbID, vmID, vmIP)
	if err != nil {
		return false, fmt.Errorf("db: revoke load balancer vm: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// PurgeRevokedLB removes a rule's revoked mappings and policies.
func PurgeRevokedLB(ctx context.Context, q Querier, lbID string) error {
	for _, s := range []string{"DELETE FROM lb_vm_map WHERE lb_id = ? AND revoked = 1", "DELETE FROM lb_stickiness_policies WHERE lb_id = ? AND revoked = 1",
		"DELETE FROM lb_healthcheck_policies WHERE lb_id = ? AND revoked = 1"} {
		if _, err := q.ExecContext(ctx, s, lbID); err != nil {
			return fmt.Errorf("db: purge load balancer rule: %w", err)
		}
	}
	return nil
}

// RevokeLBChildren marks every mapping and policy of a rule for removal.
func RevokeLBChildren(ctx context.Context, q Querier, lbID string) error {
	for _, s := range []string{"UPDATE lb_vm_map SET revoked = 1 WHERE lb_id = ?", "UPDATE lb_stickiness_policies SET revoked = 1 WHERE lb_id = ?",
		"UPDATE lb_healthcheck_policies SET revoked = 1 WHERE lb_id = ?"} {
		if _, err := q.ExecContext(ctx, s, lbID); err != nil {
			return fmt.Errorf("db: revoke load balancer rule: %w", err)
		}
	}
	return nil
}

// DeleteLBVMsOfVM drops every mapping of a VM (it is gone) and returns the rules it was in.
func DeleteLBVMsOfVM(ctx context.Context, q Querier, vmID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT DISTINCT lb_id FROM lb_vm_map WHERE vm_id = ?", vmID)
	if err != nil {
		return nil, fmt.Errorf("db: list load balancers of vm: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if _, err := q.ExecContext(ctx, "DELETE FROM lb_vm_map WHERE vm_id = ?", vmID); err != nil {
		return nil, fmt.Errorf("db: delete load balancer vms: %w", err)
	}
	return ids, nil
}

// LBStickiness is a rule's stickiness policy.
type LBStickiness struct {
	ID, LBID, Name, Description, Method string
	Params                              map[string]string
	Display, Revoked                    bool
	Created                             int64
}

func scanLBStickiness(s interface{ Scan(...any) error }) (*LBStickiness, error) {
	var p LBStickiness
	var params string
	var display, rev int
	if err := s.Scan(&p.ID, &p.LBID, &p.Name, &p.Description, &p.Method, &params, &display, &rev, &p.Created); err != nil {
		return nil, err
	}
	p.Display, p.Revoked = display == 1, rev == 1
	p.Params = map[string]string{}
	if err := json.Unmarshal([]byte(params), &p.Params); err != nil {
		return nil, fmt.Errorf("db: stickiness policy %s params: %w", p.ID, err)
	}
	return &p, nil
}

const stickinessCols = "id, lb_id, name, COALESCE(description,''), method, params, display, revoked, created"

// InsertLBStickiness adds a stickiness policy.
func InsertLBStickiness(ctx context.Context, q Querier, p *LBStickiness) error {
	params, err := json.Marshal(p.Params)
	if err != nil {
		return fmt.Errorf("db: encode stickiness params: %w", err)
	}
	_, err = q.ExecContext(ctx, `INSERT INTO lb_stickiness_policies (id, lb_id, name, description, method, params, display, revoked, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)`, p.ID, p.LBID, p.Name, nullable(p.Description), p.Method, string(params), boolInt(p.Display), p.Created)
	if err != nil {
		return fmt.Errorf("db: insert stickiness policy: %w", err)
	}
	return nil
}

// GetLBStickiness returns a stickiness policy by id.
func GetLBStickiness(ctx context.Context, q Querier, id string) (*LBStickiness, error) {
	p, err := scanLBStickiness(q.QueryRowContext(ctx, "SELECT "+stickinessCols+" FROM lb_stickiness_policies WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get stickiness policy: %w", err)
	}
	return p, nil
}

// ListLBStickiness returns a rule's stickiness policies, revoked ones too.
func ListLBStickiness(ctx context.Context, q Querier, lbID string) ([]*LBStickiness, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+stickinessCols+" FROM lb_stickiness_policies WHERE lb_id = ? ORDER BY created, id", lbID)
	if err != nil {
		return nil, fmt.Errorf("db: list stickiness policies: %w", err)
	}
	return scanAll(rows, "list stickiness policies", scanLBStickiness)
}

// SetLBStickinessRevoked marks (or unmarks) a stickiness policy for removal.
func SetLBStickinessRevoked(ctx context.Context, q Querier, id string, revoked bool) error {
	if _, err := q.ExecContext(ctx, "UPDATE lb_stickiness_policies SET revoked = ? WHERE id = ?", boolInt(revoked), id); err != nil {
		return fmt.Errorf("db: revoke stickiness policy: %w", err)
	}
	return nil
}

// LBHealthCheck is a rule's health-check policy.
type LBHealthCheck struct {
	ID, LBID, Description, PingPath   string
	ResponseTime, Interval            int
	HealthyThreshold, UnhealthyThresh int
	Display, Revoked                  bool
	Created                           int64
}

const healthCheckCols = `id, lb_id, COALESCE(description,''), ping_path, response_time, interval_time, healthy_threshold, unhealthy_threshold,
	display, revoked, created`

func scanLBHealthCheck(s interface{ Scan(...any) error }) (*LBHealthCheck, error) {
	var p LBHealthCheck
	var display, rev int
	if err := s.Scan(&p.ID, &p.LBID, &p.Description, &p.PingPath, &p.ResponseTime, &p.Interval, &p.HealthyThreshold, &p.UnhealthyThresh,
		&display, &rev, &p.Created); err != nil {
		return nil, err
	}
	p.Display, p.Revoked = display == 1, rev == 1
	return &p, nil
}

// InsertLBHealthCheck adds a health-check policy.
func InsertLBHealthCheck(ctx context.Context, q Querier, p *LBHealthCheck) error {
	_, err := q.ExecContext(ctx, `INSERT INTO lb_healthcheck_policies (id, lb_id, description, ping_path, response_time, interval_time,
		healthy_threshold, unhealthy_threshold, display, revoked, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		p.ID, p.LBID, nullable(p.Description), p.PingPath, p.ResponseTime, p.Interval, p.HealthyThreshold, p.UnhealthyThresh,
		boolInt(p.Display), p.Created)
	if err != nil {
		return fmt.Errorf("db: insert health check policy: %w", err)
	}
	return nil
}

// GetLBHealthCheck returns a health-check policy by id.
func GetLBHealthCheck(ctx context.Context, q Querier, id string) (*LBHealthCheck, error) {
	p, err := scanLBHealthCheck(q.QueryRowContext(ctx, "SELECT "+healthCheckCols+" FROM lb_healthcheck_policies WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get health check policy: %w", err)
	}
	return p, nil
}

// ListLBHealthChecks returns a rule's health-check policies, revoked ones too.
func ListLBHealthChecks(ctx context.Context, q Querier, lbID string) ([]*LBHealthCheck, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+healthCheckCols+" FROM lb_healthcheck_policies WHERE lb_id = ? ORDER BY created, id", lbID)
	if err != nil {
		return nil, fmt.Errorf("db: list health check policies: %w", err)
	}
	return scanAll(rows, "list health check policies", scanLBHealthCheck)
}

// SetLBHealthCheckRevoked marks (or unmarks) a health-check policy for removal.
func SetLBHealthCheckRevoked(ctx context.Context, q Querier, id string, revoked bool) error {
	if _, err := q.ExecContext(ctx, "UPDATE lb_healthcheck_policies SET revoked = ? WHERE id = ?", boolInt(revoked), id); err != nil {
		return fmt.Errorf("db: revoke health check policy: %w", err)
	}
	return nil
}

// PublicIPForLB returns a public address by id (ErrNotFound when there is none).
func PublicIPForLB(ctx context.Context, q Querier, id string) (*PublicIP, error) {
	p, err := scanPublicIP(q.QueryRowContext(ctx, "SELECT "+publicIPCols+" FROM public_ips i JOIN vlan_ranges v ON v.id = i.vlan_id WHERE i.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get public ip: %w", err)
	}
	return p, nil
}

// DropRevokedLBVM removes a revoked mapping of a VM's address (it is being mapped again).
func DropRevokedLBVM(ctx context.Context, q Querier, lbID, vmID, vmIP string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM lb_vm_map WHERE lb_id = ? AND vm_id = ? AND vm_ip = ? AND revoked = 1", lbID, vmID, vmIP); err != nil {
		return fmt.Errorf("db: drop revoked load balancer vm: %w", err)
	}
	return nil
}

// ClearLBVMStates forgets the health check's view of a rule's VMs.
func ClearLBVMStates(ctx context.Context, q Querier, lbID string) error {
	if _, err := q.ExecContext(ctx, "UPDATE lb_vm_map SET state = NULL WHERE lb_id = ?", lbID); err != nil {
		return fmt.Errorf("db: clear load balancer vm states: %w", err)
	}
	return nil
}

// SetLBVMRevoked marks (or unmarks) one mapping for removal.
func SetLBVMRevoked(ctx context.Context, q Querier, lbID, vmID, vmIP string, revoked bool) error {
	if _, err := q.ExecContext(ctx, "UPDATE lb_vm_map SET revoked = ? WHERE lb_id = ? AND vm_id = ? AND vm_ip = ?", boolInt(revoked), lbID, vmID, vmIP); err != nil {
		return fmt.Errorf("db: revoke load balancer vm: %w", err)
	}
	return nil
}

// DeleteLBVM removes one mapping.
func DeleteLBVM(ctx context.Context, q Querier, lbID, vmID, vmIP string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM lb_vm_map WHERE lb_id = ? AND vm_id = ? AND vm_ip = ?", lbID, vmID, vmIP); err != nil {
		return fmt.Errorf("db: delete load balancer vm: %w", err)
	}
	return nil
}

// DeleteLBStickiness removes a stickiness policy.
func DeleteLBStickiness(ctx context.Context, q Querier, id string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM lb_stickiness_policies WHERE id = ?", id); err != nil {
		return fmt.Errorf("db: delete stickiness policy: %w", err)
	}
	return nil
}

// DeleteLBHealthCheck removes a health-check policy.
func DeleteLBHealthCheck(ctx context.Context, q Querier, id string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM lb_healthcheck_policies WHERE id = ?", id); err != nil {
		return fmt.Errorf("db: delete health check policy: %w", err)
	}
	return nil
}
