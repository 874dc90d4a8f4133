package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Resource types whose use is counted and limited, with CloudStack's names (resourcetypename).
// Counts are numbers of objects, except ResCPU (cores), ResMemory (MiB) and the storage types
// (bytes).
const (
	ResUserVM           = "user_vm"
	ResPublicIP         = "public_ip"
	ResVolume           = "volume"
	ResSnapshot         = "snapshot"
	ResTemplate         = "template"
	ResProject          = "project"
	ResNetwork          = "network"
	ResVPC              = "vpc"
	ResCPU              = "cpu"
	ResMemory           = "memory"
	ResPrimaryStorage   = "primary_storage"
	ResSecondaryStorage = "secondary_storage"
)

// ResourceTypes lists the counted types in CloudStack's order; the index is CloudStack's
// resourcetype number (Resource.ResourceType ordinal).
var ResourceTypes = []string{ResUserVM, ResPublicIP, ResVolume, ResSnapshot, ResTemplate, ResProject, ResNetwork, ResVPC,
	ResCPU, ResMemory, ResPrimaryStorage, ResSecondaryStorage}

// ResourceTypeNumber returns CloudStack's number of a resource type, or -1.
func ResourceTypeNumber(name string) int {
	for i, t := range ResourceTypes {
		if t == name {
			return i
		}
	}
	return -1
}

// IsStorageResource reports whether a type is counted in bytes (and limited in GiB).
func IsStorageResource(t string) bool { return t == ResPrimaryStorage || t == ResSecondaryStorage }

// Owners of limits and counts.
const (
	OwnerAccount = "account"
	OwnerDomain  = "domain"
)

// Unlimited is CloudStack's RESOURCE_UNLIMITED.
const Unlimited = -1

// ResourceLimits returns the explicit limits of an owner, keyed by type.
func ResourceLimits(ctx context.Context, q Querier, ownerType, ownerID string) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, "SELECT resource_type, max_value FROM resource_limits WHERE owner_type = ? AND owner_id = ?", ownerType, ownerID)
	if err != nil {
		return nil, fmt.Errorf("db: resource limits: %w", err)
	}
	return scanTypeValues(rows, "resource limits")
}

// AccountAndDomainLimits returns in one read the explicit limits of an account (type -> max)
// and of domains (domain id -> type -> max).
func AccountAndDomainLimits(ctx context.Context, q Querier, accountID string, domainIDs []string) (map[string]int64, map[string]map[string]int64, error) {
	query := "SELECT owner_type, owner_id, resource_type, max_value FROM resource_limits WHERE (owner_type = ? AND owner_id = ?)"
	args := []any{OwnerAccount, accountID}
	if len(domainIDs) > 0 {
		query += " OR (owner_type = ? AND owner_id IN (" + strings.TrimSuffix(strings.Repeat("?,", len(domainIDs)), ",") + "))"
		args = append(args, OwnerDomain)
		for _, id := range domainIDs {
			args = append(args, id)
		}
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("db: resource limits: %w", err)
	}
	defer rows.Close()
	acct, dom := map[string]int64{}, map[string]map[string]int64{}
	for rows.Next() {
		var typ, id, t string
		var v int64
		if err := rows.Scan(&typ, &id, &t, &v); err != nil {
			return nil, nil, fmt.Errorf("db: resource limits: %w", err)
		}
		if typ == OwnerAccount {
			acct[t] = v
			continue
		}
		if dom[id] == nil {
			dom[id] = map[string]int64{}
		}
		dom[id][t] = v
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("db: resource limits: %w", err)
	}
	return acct, dom, nil
}

// ResourceLimitsOf returns the explicit limits of several owners of one type: owner id -> type -> max.
func ResourceLimitsOf(ctx context.Context, q Querier, ownerType string, ownerIDs []string) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	if len(ownerIDs) == 0 {
		return out, nil
	}
	args := []any{ownerType}
	for _, id := range ownerIDs {
		args = append(args, id)
	}
	rows, err := q.QueryContext(ctx, "SELECT owner_id, resource_type, max_value FROM resource_limits WHERE owner_type = ? AND owner_id IN ("+
		strings.TrimSuffix(strings.Repeat("?,", len(ownerIDs)), ",")+")", args...)
	if err != nil {
		return nil, fmt.Errorf("db: resource limits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, t string
		var v int64
		if err := rows.Scan(&id, &t, &v); err != nil {
			return nil, fmt.Errorf("db: resource limits: %w", err)
		}
		if out[id] == nil {
			out[id] = map[string]int64{}
		}
		out[id][t] = v
	}
	return out, rows.Err()
}

// SetResourceLimit stores an owner's explicit limit of a type (insert or replace).
func SetResourceLimit(ctx context.Context, q Querier, ownerType, ownerID, resourceType string, max int64) error {
	res, err := q.ExecContext(ctx, "UPDATE resource_limits SET max_value = ?, updated = ? WHERE owner_type = ? AND owner_id = ? AND resource_type = ?",
		max, Now(), ownerType, ownerID, resourceType)
	if err != nil {
		return fmt.Errorf("db: set resource limit: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	_, err = q.ExecContext(ctx, "INSERT INTO resource_limits (owner_type, owner_id, resource_type, max_value, updated) VALUES (?, ?, ?, ?, ?)",
		ownerType, ownerID, resourceType, max, Now())
	if err != nil {
		if IsDuplicate(err) {
			return ErrConflict // written concurrently; the transaction runs again
		}
		return fmt.Errorf("db: insert resource limit: %w", err)
	}
	return nil
}

// ResourceCounts returns an owner's stored counts, keyed by type (a missing type is 0).
func ResourceCounts(ctx context.Context, q Querier, ownerType, ownerID string) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, "SELECT resource_type, count_value FROM resource_counts WHERE owner_type = ? AND owner_id = ?", ownerType, ownerID)
	if err != nil {
		return nil, fmt.Errorf("db: resource counts: %w", err)
	}
	return scanTypeValues(rows, "resource counts")
}

// SumAccountCounts sums the stored counts of the live accounts of a domain subtree (every
// account when path is ""): how the ROOT domain's counts are read.
func SumAccountCounts(ctx context.Context, q Querier, domainPath string) (map[string]int64, error) {
	query := `SELECT rc.resource_type, COALESCE(SUM(rc.count_value),0) FROM resource_counts rc
		JOIN accounts a ON a.id = rc.owner_id AND a.removed IS NULL JOIN domains d ON d.id = a.domain_id
		WHERE rc.owner_type = 'account'`
	var args []any
	if domainPath != "" {
		query += " AND (d.path = ? OR d.path LIKE ?" + LikeEscape + ")"
		args = append(args, domainPath, LikePrefix(domainPath+"/"))
	}
	rows, err := q.QueryContext(ctx, query+" GROUP BY rc.resource_type", args...)
	if err != nil {
		return nil, fmt.Errorf("db: sum resource counts: %w", err)
	}
	return scanTypeValues(rows, "sum resource counts")
}

func scanTypeValues(rows *sql.Rows, what string) (map[string]int64, error) {
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var t string
		var v int64
		if err := rows.Scan(&t, &v); err != nil {
			return nil, fmt.Errorf("db: %s: %w", what, err)
		}
		out[t] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: %s: %w", what, err)
	}
	return out, nil
}

// SetResourceCount stores an owner's count of a type (what updateResourceCount computed).
func SetResourceCount(ctx context.Context, q Querier, ownerType, ownerID, resourceType string, value int64) error {
	res, err := q.ExecContext(ctx, "UPDATE resource_counts SET count_value = ? WHERE owner_type = ? AND owner_id = ? AND resource_type = ?",
		value, ownerType, ownerID, resourceType)
	if err != nil {
		return fmt.Errorf("db: set resource count: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	_, err = q.ExecContext(ctx, "INSERT INTO resource_counts (owner_type, owner_id, resource_type, count_value) VALUES (?, ?, ?, ?)",
		ownerType, ownerID, resourceType, value)
	if err != nil {
		if IsDuplicate(err) {
			return ErrConflict
		}
		return fmt.Errorf("db: insert resource count: %w", err)
	}
	return nil
}

// tableExists reports whether a table exists (other helpers' tables land over time).
func tableExists(ctx context.Context, q Querier, table string) bool {
	var n int
	return q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE 1 = 0").Scan(&n) == nil
}

// countQuery is how one resource type is counted from real rows for one account: SQL
// returning one number, with the account id as its only argument, over table.
type countQuery struct {
	resourceType, table, sql string
}

// resourceCountQueries count each type from the tables that hold it, as the creators of
// those rows charge it (CloudStack's recalculateAccountResourceCount): VMs until destroyed;
// volumes until destroyed; source NAT and other allocated public IPs of public ranges; USER
// templates; snapshots; secondary storage as downloaded template copies plus snapshot
// backups; Isolated guest networks. A table that does not exist yet counts nothing.
var resourceCountQueries = []countQuery{
	{ResPublicIP, "public_ips", `SELECT COUNT(*) FROM public_ips i JOIN vlan_ranges v ON v.id = i.vlan_id
		WHERE i.account_id = ? AND i.is_system = 0 AND i.state = 'Allocated' AND v.for_virtual_network = 1`},
	{ResUserVM, "vm_instances", vmCounted("COUNT(*)")},
	{ResCPU, "vm_instances", vmCounted("COALESCE(SUM(cpu_number),0)")},
	{ResMemory, "vm_instances", vmCounted("COALESCE(SUM(memory),0)")},
	{ResVolume, "volumes", volumeCounted("COUNT(*)")},
	{ResPrimaryStorage, "volumes", volumeCounted("COALESCE(SUM(size),0)")},
	{ResTemplate, "templates", "SELECT COUNT(*) FROM templates WHERE account_id = ? AND removed IS NULL AND template_type = 'USER'"},
	{ResSecondaryStorage, "template_stores", `SELECT COALESCE(SUM(s.physical_size),0) FROM template_stores s JOIN templates t ON t.id = s.template_id
		WHERE t.account_id = ? AND s.removed IS NULL AND s.download_state = 'DOWNLOADED'`},
	{ResSnapshot, "snapshots", "SELECT COUNT(*) FROM snapshots WHERE account_id = ? AND removed IS NULL"},
	{ResSecondaryStorage, "snapshots", `SELECT COALESCE(SUM(CASE WHEN physical_size > 0 THEN physical_size ELSE size END),0) FROM snapshots
		WHERE account_id = ? AND removed IS NULL`},
	{ResNetwork, "networks", "SELECT COUNT(*) FROM networks WHERE account_id = ? AND removed IS NULL AND guest_type = 'Isolated' AND is_system = 0"},
}

// A VM counts (instances, CPU, memory) until it is destroyed or fails to deploy.
func vmCounted(what string) string {
	return "SELECT " + what + " FROM vm_instances WHERE account_id = ? AND removed IS NULL AND state NOT IN ('Error','Destroyed','Expunging','Expunged')"
}

// A volume counts (volumes, primary storage) until it is destroyed.
func volumeCounted(what string) string {
	return "SELECT " + what + " FROM volumes WHERE account_id = ? AND removed IS NULL AND state NOT IN ('Destroy','Expunging','Expunged')"
}

// RegisterResourceCounter adds (or replaces) how a resource type is counted from a table for
// updateResourceCount: query takes the account id as its only argument and returns one
// number. Several queries for one type are summed (secondary storage: templates + snapshots).
// Helpers owning a counted table call it from an init function if the default above is wrong.
func RegisterResourceCounter(resourceType, table, query string) {
	for i, c := range resourceCountQueries {
		if c.resourceType == resourceType && c.table == table {
			resourceCountQueries[i].sql = query
			return
		}
	}
	resourceCountQueries = append(resourceCountQueries, countQuery{resourceType, table, query})
}

// CountAccountResources counts what an account holds from the real rows, for every type some
// existing table can count. The second result lists the types it counted.
func CountAccountResources(ctx context.Context, q Querier, accountID string) (map[string]int64, map[string]bool, error) {
	out := map[string]int64{}
	counted := map[string]bool{}
	exists := map[string]bool{}
	for _, c := range resourceCountQueries {
		ok, seen := exists[c.table]
		if !seen {
			ok = tableExists(ctx, q, c.table)
			exists[c.table] = ok
		}
		if !ok {
			continue
		}
		var n sql.NullInt64
		if err := q.QueryRowContext(ctx, c.sql, accountID).Scan(&n); err != nil {
			return nil, nil, fmt.Errorf("db: count %s in %s: %w", c.resourceType, c.table, err)
		}
		out[c.resourceType] += n.Int64
		counted[c.resourceType] = true
	}
	return out, counted, nil
}

// ExceededLimit says which type AddResourceCounts refused and what the owner held then.
type ExceededLimit struct {
	ResourceType string
	Count, Limit int64
}

func (e *ExceededLimit) Error() string {
	return fmt.Sprintf("db: resource limit of %s exceeded (count %d, limit %d)", e.ResourceType, e.Count, e.Limit)
}

// AddResourceCounts adds several deltas to one owner's counts, all or nothing: a positive
// delta that would take a type past its limit (limits[type] >= 0; a type missing from limits
// is unlimited) refuses the whole set with *ExceededLimit and changes nothing. When the
// owner's rows exist it takes two statements: an UPDATE (which locks the rows, so concurrent
// chargers of the owner queue behind it) and a SELECT to check the new values. Each UPDATE
// stamps the rows it changed with a token of this call, so a row another transaction created
// after the UPDATE looked for it is seen and charged too. Counts never stay below zero.
func AddResourceCounts(ctx context.Context, q Querier, ownerType, ownerID string, deltas, limits map[string]int64) error {
	var types []string
	for _, t := range ResourceTypes {
		if deltas[t] != 0 {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		return nil
	}
	token := uuid.NewString()
	inList := func(ts []string) (string, []any) {
		args := make([]any, len(ts))
		for i, t := range ts {
			args[i] = t
		}
		return strings.TrimSuffix(strings.Repeat("?,", len(ts)), ","), args
	}
	var affected int64
	apply := func(sign int64, ts []string) error {
		var sb strings.Builder
		var args []any
		sb.WriteString("UPDATE resource_counts SET last_charge = ?, count_value = CASE resource_type")
		args = append(args, token)
		for _, t := range ts {
			sb.WriteString(" WHEN ? THEN count_value + ?")
			args = append(args, t, sign*deltas[t])
		}
		in, inArgs := inList(ts)
		sb.WriteString(" ELSE count_value END WHERE owner_type = ? AND owner_id = ? AND resource_type IN (" + in + ")")
		args = append(append(args, ownerType, ownerID), inArgs...)
		res, err := q.ExecContext(ctx, sb.String(), args...)
		if err != nil {
			return fmt.Errorf("db: add resource counts: %w", err)
		}
		affected, _ = res.RowsAffected()
		return nil
	}
	now := map[string]int64{}
	read := func(ts []string) (stale []string, err error) {
		in, inArgs := inList(ts)
		rows, err := q.QueryContext(ctx, "SELECT resource_type, count_value, COALESCE(last_charge,'') FROM resource_counts WHERE owner_type = ? AND owner_id = ? AND resource_type IN ("+in+")",
			append([]any{ownerType, ownerID}, inArgs...)...)
		if err != nil {
			return nil, fmt.Errorf("db: read resource counts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var t, tok string
			var v int64
			if err := rows.Scan(&t, &v, &tok); err != nil {
				return nil, fmt.Errorf("db: read resource counts: %w", err)
			}
			now[t] = v
			if tok != token {
				stale = append(stale, t)
			}
		}
		return stale, rows.Err()
	}
	if err := apply(1, types); err != nil {
		return err
	}
	// Every row was there and took its (positive) delta, and no limit applies: nothing to
	// check, clamp or create, so the counts need not be read back.
	unchecked := affected == int64(len(types))
	for _, t := range types {
		if lim, limited := limits[t]; deltas[t] < 0 || limited && lim >= 0 {
			unchecked = false
		}
	}
	if unchecked {
		return nil
	}
	stale, err := read(types)
	for round := 0; err == nil && len(stale) > 0; round++ {
		if round == 3 {
			return ErrConflict
		}
		if err = apply(1, stale); err == nil {
			stale, err = read(stale)
		}
	}
	if err != nil {
		return err
	}
	var missing []string
	for _, t := range types {
		if _, ok := now[t]; !ok {
			missing = append(missing, t)
			now[t] = deltas[t]
		}
	}
	for _, t := range types {
		lim, limited := limits[t]
		if d := deltas[t]; d > 0 && limited && lim >= 0 && now[t] > lim {
			if err := apply(-1, types); err != nil { // exact: nothing was clamped yet
				return err
			}
			return &ExceededLimit{ResourceType: t, Count: now[t] - d, Limit: lim}
		}
	}
	for _, t := range types {
		if _, isMissing := slicesIndex(missing, t); !isMissing && now[t] < 0 {
			if _, err := q.ExecContext(ctx, "UPDATE resource_counts SET count_value = 0 WHERE owner_type = ? AND owner_id = ? AND count_value < 0",
				ownerType, ownerID); err != nil {
				return fmt.Errorf("db: clamp resource counts: %w", err)
			}
			break
		}
	}
	for _, t := range missing {
		_, err := q.ExecContext(ctx, "INSERT INTO resource_counts (owner_type, owner_id, resource_type, count_value, last_charge) VALUES (?, ?, ?, ?, ?)",
			ownerType, ownerID, t, max(deltas[t], 0), token)
		if err != nil {
			if IsDuplicate(err) {
				return ErrConflict // created concurrently; the transaction runs again
			}
			return fmt.Errorf("db: insert resource count: %w", err)
		}
	}
	return nil
}

func slicesIndex(list []string, v string) (int, bool) {
	for i, x := range list {
		if x == v {
			return i, true
		}
	}
	return -1, false
}

// DomainsByPath returns the live domains with the given paths, keyed by id.
func DomainsByPath(ctx context.Context, q Querier, paths []string) (map[string]*Domain, error) {
	out := map[string]*Domain{}
	if len(paths) == 0 {
		return out, nil
	}
	args := make([]any, len(paths))
	for i, p := range paths {
		args[i] = p
	}
	rows, err := q.QueryContext(ctx, "SELECT "+domainCols+" FROM domains WHERE removed IS NULL AND path IN ("+
		strings.TrimSuffix(strings.Repeat("?,", len(paths)), ",")+")", args...)
	if err != nil {
		return nil, fmt.Errorf("db: domains by path: %w", err)
	}
	list, err := scanAll(rows, "domains by path", scanDomain)
	if err != nil {
		return nil, err
	}
	for _, d := range list {
		out[d.ID] = d
	}
	return out, nil
}
