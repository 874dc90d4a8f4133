package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Affinity group types (CloudStack's processors' types).
const (
	AffinityHostAnti = "host anti-affinity"
	AffinityHost     = "host affinity"
)

// AffinityGroup is a named set of VMs the planner keeps on different hosts (anti-affinity) or
// on one host (affinity).
type AffinityGroup struct {
	ID, Name, Description string
	Type                  string
	AccountID, DomainID   string
	ACLType               string // Account or Domain
	Version, Created      int64
	// Joined for rendering.
	AccountName, DomainName, DomainPath string
}

func affinityLiveKey(accountID, name string) string { return accountID + "/" + strings.ToLower(name) }

const affinityCols = `g.id, g.name, COALESCE(g.description,''), g.type, g.account_id, g.domain_id, g.acl_type, g.version, g.created,
	COALESCE(a.name,''), COALESCE(d.name,''), COALESCE(d.path,'')`

const affinityFrom = ` FROM affinity_groups g LEFT JOIN accounts a ON a.id = g.account_id LEFT JOIN domains d ON d.id = g.domain_id`

func scanAffinityGroup(s interface{ Scan(...any) error }) (*AffinityGroup, error) {
	var g AffinityGroup
	if err := s.Scan(&g.ID, &g.Name, &g.Description, &g.Type, &g.AccountID, &g.DomainID, &g.ACLType, &g.Version, &g.Created,
		&g.AccountName, &g.DomainName, &g.DomainPath); err != nil {
		return nil, err
	}
	return &g, nil
}

// InsertAffinityGroup creates a group; a live group of the same name in the account gives an
// error IsDuplicate accepts.
func InsertAffinityGroup(ctx context.Context, q Querier, g *AffinityGroup) error {
	if g.ACLType == "" {
		g.ACLType = "Account"
	}
	_, err := q.ExecContext(ctx, `INSERT INTO affinity_groups (id, name, description, type, account_id, domain_id, acl_type, live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`, g.ID, g.Name, nullable(g.Description), g.Type, g.AccountID, g.DomainID, g.ACLType,
		affinityLiveKey(g.AccountID, g.Name), g.Created)
	if err != nil {
		return fmt.Errorf("db: insert affinity group: %w", err)
	}
	return nil
}

// GetAffinityGroup returns a live group by id.
func GetAffinityGroup(ctx context.Context, q Querier, id string) (*AffinityGroup, error) {
	g, err := scanAffinityGroup(q.QueryRowContext(ctx, "SELECT "+affinityCols+affinityFrom+" WHERE g.id = ? AND g.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get affinity group: %w", err)
	}
	return g, nil
}

// GetAffinityGroupByName returns an account's live group by name (case-insensitive).
func GetAffinityGroupByName(ctx context.Context, q Querier, accountID, name string) (*AffinityGroup, error) {
	g, err := scanAffinityGroup(q.QueryRowContext(ctx, "SELECT "+affinityCols+affinityFrom+" WHERE g.live_key = ? AND g.removed IS NULL",
		affinityLiveKey(accountID, name)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get affinity group: %w", err)
	}
	return g, nil
}

// AffinityGroupFilter selects live groups.
type AffinityGroupFilter struct {
	ID, Name, Type, Keyword string
	VMID                    string // groups the VM is a member of
	Scope                   Scope
	Limit, Offset           int
}

// ListAffinityGroups returns matching groups and the total count before paging.
func ListAffinityGroups(ctx context.Context, q Querier, f AffinityGroupFilter) ([]*AffinityGroup, int, error) {
	w := []string{"g.removed IS NULL"}
	var args []any
	add := func(cond string, a ...any) { w, args = append(w, cond), append(args, a...) }
	if f.ID != "" {
		add("g.id = ?", f.ID)
	}
	if f.Name != "" {
		add("LOWER(g.name) = LOWER(?)", f.Name)
	}
	if f.Type != "" {
		add("LOWER(g.type) = LOWER(?)", f.Type)
	}
	if f.Keyword != "" {
		add("LOWER(g.name) LIKE ?"+LikeEscape, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	if f.VMID != "" {
		add("g.id IN (SELECT m.group_id FROM affinity_group_vm_map m WHERE m.vm_id = ?)", f.VMID)
	}
	w, args = f.Scope.apply(w, args, "g.account_id", "d.path")
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+affinityFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count affinity groups: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+affinityCols+affinityFrom+" WHERE "+where+" ORDER BY g.created, g.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list affinity groups: %w", err)
	}
	out, err := scanAll(rows, "list affinity groups", scanAffinityGroup)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// RemoveAffinityGroup soft-deletes a group and drops its memberships.
func RemoveAffinityGroup(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE affinity_groups SET removed = ?, live_key = NULL, version = version + 1 WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove affinity group: %w", err)
	}
	if err := expectOne(res); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, "DELETE FROM affinity_group_vm_map WHERE group_id = ?", id); err != nil {
		return fmt.Errorf("db: remove affinity group members: %w", err)
	}
	return nil
}

// SetVMAffinityGroups replaces a VM's group memberships.
func SetVMAffinityGroups(ctx context.Context, q Querier, vmID string, groupIDs []string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM affinity_group_vm_map WHERE vm_id = ?", vmID); err != nil {
		return fmt.Errorf("db: set vm affinity groups: %w", err)
	}
	now := Now()
	for _, g := range groupIDs {
		if _, err := q.ExecContext(ctx, "INSERT INTO affinity_group_vm_map (group_id, vm_id, created) VALUES (?, ?, ?)", g, vmID, now); err != nil {
			return fmt.Errorf("db: set vm affinity groups: %w", err)
		}
	}
	return nil
}

// AffinityMember is one membership row with what rendering and planning need of the group.
type AffinityMember struct {
	GroupID, VMID, Name, Type, Description string
}

// ListAffinityMembers returns the memberships of the given VMs (all VMs when vmIDs is nil)
// with their groups' names and types.
func ListAffinityMembers(ctx context.Context, q Querier, vmIDs []string) ([]*AffinityMember, error) {
	from, where := " FROM affinity_group_vm_map m", ""
	var args []any
	if vmIDs != nil {
		if len(vmIDs) == 0 {
			return nil, nil
		}
		c, a := inList("m.vm_id", vmIDs)
		from, where, args = from+forceIndex("affinity_group_vm_map_vm"), " AND "+c, a
	}
	query := `SELECT m.group_id, m.vm_id, g.name, g.type, COALESCE(g.description,'')` + from +
		` JOIN affinity_groups g ON g.id = m.group_id WHERE g.removed IS NULL` + where
	rows, err := q.QueryContext(ctx, query+" ORDER BY m.vm_id, g.name", args...)
	if err != nil {
		return nil, fmt.Errorf("db: list affinity members: %w", err)
	}
	return scanAll(rows, "list affinity members", func(s interface{ Scan(...any) error }) (*AffinityMember, error) {
		var m AffinityMember
		return &m, s.Scan(&m.GroupID, &m.VMID, &m.Name, &m.Type, &m.Description)
	})
}

// AffinityGroupHosts returns, for each of the groups, the hosts on which its member VMs other
// than exceptVM are placed (host_id of VMs not Destroyed/Expunged; last_host_id of stopped ones
// counts too, as CloudStack's processors check both), as group id -> host ids.
//
// It is the planner's read of the groups, so it first locks their rows (LockAffinityGroups):
// q must be the transaction that places the VM and records its host, and two placements into
// one group then run one after the other, the second seeing the first's host. Without the
// lock, two concurrent deploys into a host anti-affinity group could both read "no member yet"
// and land on the same host (on MariaDB; SQLite runs writing transactions one at a time).
func AffinityGroupHosts(ctx context.Context, q Querier, groupIDs []string, exceptVM string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(groupIDs) == 0 {
		return out, nil
	}
	if err := LockAffinityGroups(ctx, q, groupIDs); err != nil {
		return nil, err
	}
	c, args := inList("m.group_id", groupIDs)
	args = append(args, exceptVM)
	rows, err := q.QueryContext(ctx, `SELECT m.group_id, COALESCE(v.host_id,''), COALESCE(v.last_host_id,'') FROM affinity_group_vm_map m
		JOIN vm_instances v ON v.id = m.vm_id WHERE `+c+` AND v.id <> ? AND v.removed IS NULL AND v.state NOT IN ('Destroyed','Expunging','Expunged','Error')`,
		args...)
	if err != nil {
		return nil, fmt.Errorf("db: affinity group hosts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g, h, last string
		if err := rows.Scan(&g, &h, &last); err != nil {
			return nil, fmt.Errorf("db: affinity group hosts: %w", err)
		}
		if h == "" {
			h = last
		}
		if h != "" {
			out[g] = append(out[g], h)
		}
	}
	return out, rows.Err()
}

// CountAffinityGroupVMs counts a group's member VMs.
func CountAffinityGroupVMs(ctx context.Context, q Querier, groupID string) (int, error) {
	return count(ctx, q, "affinity_group_vm_map", "group_id = ?", []any{groupID})
}

// LockAffinityGroups locks the rows of the live groups among ids until the transaction q ends
// (a version bump: an exclusive row lock on MariaDB, the write lock on SQLite), in id order so
// that placements locking overlapping sets cannot deadlock.
func LockAffinityGroups(ctx context.Context, q Querier, ids []string) error {
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	for i, id := range sorted {
		if i > 0 && id == sorted[i-1] {
			continue
		}
		if _, err := q.ExecContext(ctx, "UPDATE affinity_groups SET version = version + 1 WHERE id = ? AND removed IS NULL", id); err != nil {
			return fmt.Errorf("db: lock affinity group: %w", err)
		}
	}
	return nil
}
