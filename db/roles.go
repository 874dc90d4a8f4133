package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Role is a named set of API permission rules of one role type (Admin, DomainAdmin, User ...).
type Role struct {
	ID, Name, Type, Description string
	IsDefault, IsPublic         bool
	Version, Created            int64
}

// RolePermission allows or denies the commands matching Rule (a name with '*' wildcards).
type RolePermission struct {
	ID, RoleID, Rule, Permission, Description string
	SortOrder                                 int
	Created                                   int64
	RoleName                                  string
}

const roleCols = "id, name, type, COALESCE(description,''), is_default, is_public, version, created"

func scanRole(s interface{ Scan(...any) error }) (*Role, error) {
	var r Role
	var def, pub int
	if err := s.Scan(&r.ID, &r.Name, &r.Type, &r.Description, &def, &pub, &r.Version, &r.Created); err != nil {
		return nil, err
	}
	r.IsDefault, r.IsPublic = def == 1, pub == 1
	return &r, nil
}

// InsertRole creates a role; names are unique case-insensitively.
func InsertRole(ctx context.Context, q Querier, r *Role) error {
	_, err := q.ExecContext(ctx, `INSERT INTO roles (id, name, type, description, is_default, is_public, live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)`, r.ID, r.Name, r.Type, nullable(r.Description), boolInt(r.IsDefault), boolInt(r.IsPublic),
		strings.ToLower(r.Name), r.Created)
	if err != nil {
		return fmt.Errorf("db: insert role: %w", err)
	}
	return nil
}

// GetRole returns a live role by id.
func GetRole(ctx context.Context, q Querier, id string) (*Role, error) {
	r, err := scanRole(q.QueryRowContext(ctx, "SELECT "+roleCols+" FROM roles WHERE id = ? AND removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get role: %w", err)
	}
	return r, nil
}

// RoleFilter selects roles.
type RoleFilter struct {
	ID, Name, Type string
	Limit, Offset  int
}

// ListRoles returns matching live roles and the total before paging.
func ListRoles(ctx context.Context, q Querier, f RoleFilter) ([]*Role, int, error) {
	w := []string{"removed IS NULL"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "id = ?"), append(args, f.ID)
	}
	if f.Name != "" {
		w, args = append(w, "LOWER(name) = LOWER(?)"), append(args, f.Name)
	}
	if f.Type != "" {
		w, args = append(w, "LOWER(type) = LOWER(?)"), append(args, f.Type)
	}
	where := strings.Join(w, " AND ")
	total, err := count(ctx, q, "roles", where, args)
	if err != nil || total == 0 {
		return nil, total, err
	}
	rows, err := q.QueryContext(ctx, "SELECT "+roleCols+" FROM roles WHERE "+where+" ORDER BY created, name"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list roles: %w", err)
	}
	out, err := scanAll(rows, "list roles", scanRole)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateRole writes name, description and visibility if the version matches.
func UpdateRole(ctx context.Context, q Querier, r *Role) error {
	res, err := q.ExecContext(ctx, `UPDATE roles SET name = ?, type = ?, description = ?, is_public = ?, live_key = ?, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`, r.Name, r.Type, nullable(r.Description), boolInt(r.IsPublic), strings.ToLower(r.Name), r.ID, r.Version)
	if err != nil {
		return fmt.Errorf("db: update role: %w", err)
	}
	return expectOne(res)
}

// RemoveRole soft-deletes a role and drops its permissions.
func RemoveRole(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE roles SET removed = ?, live_key = NULL, version = version + 1 WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove role: %w", err)
	}
	if err := expectOne(res); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, "DELETE FROM role_permissions WHERE role_id = ?", id); err != nil {
		return fmt.Errorf("db: remove role permissions: %w", err)
	}
	return nil
}

// CountAccountsWithRole counts live accounts using a role.
func CountAccountsWithRole(ctx context.Context, q Querier, roleID string) (int, error) {
	return count(ctx, q, "accounts", "role_id = ? AND removed IS NULL", []any{roleID})
}

// InsertRolePermission adds a rule at the end of the role's list unless SortOrder is set.
func InsertRolePermission(ctx context.Context, q Querier, p *RolePermission) error {
	_, err := q.ExecContext(ctx, `INSERT INTO role_permissions (id, role_id, rule, permission, description, sort_order, created)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, p.ID, p.RoleID, p.Rule, p.Permission, nullable(p.Description), p.SortOrder, p.Created)
	if err != nil {
		return fmt.Errorf("db: insert role permission: %w", err)
	}
	return nil
}

// NextRulePosition returns one more than the largest sort order of a role's rules.
func NextRulePosition(ctx context.Context, q Querier, roleID string) (int, error) {
	var n sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT MAX(sort_order) FROM role_permissions WHERE role_id = ?", roleID).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: next rule position: %w", err)
	}
	if !n.Valid {
		return 0, nil
	}
	return int(n.Int64) + 1, nil
}

// ListRolePermissions returns a role's rules in evaluation order (or one rule by id).
func ListRolePermissions(ctx context.Context, q Querier, roleID, id string) ([]*RolePermission, error) {
	w := "1 = 1"
	var args []any
	if roleID != "" {
		w, args = w+" AND p.role_id = ?", append(args, roleID)
	}
	if id != "" {
		w, args = w+" AND p.id = ?", append(args, id)
	}
	rows, err := q.QueryContext(ctx, `SELECT p.id, p.role_id, p.rule, p.permission, COALESCE(p.description,''), p.sort_order, p.created, r.name
		FROM role_permissions p JOIN roles r ON r.id = p.role_id WHERE `+w+` AND r.removed IS NULL ORDER BY p.role_id, p.sort_order`, args...)
	if err != nil {
		return nil, fmt.Errorf("db: list role permissions: %w", err)
	}
	defer rows.Close()
	var out []*RolePermission
	for rows.Next() {
		var p RolePermission
		if err := rows.Scan(&p.ID, &p.RoleID, &p.Rule, &p.Permission, &p.Description, &p.SortOrder, &p.Created, &p.RoleName); err != nil {
			return nil, fmt.Errorf("db: list role permissions: %w", err)
		}
		out = append(out, &p)
	}
	return out, rows.Err()
}

// UpdateRolePermission changes a rule's permission (allow/deny).
func UpdateRolePermission(ctx context.Context, q Querier, id, permission string) error {
	res, err := q.ExecContext(ctx, "UPDATE role_permissions SET permission = ? WHERE id = ?", permission, id)
	if err != nil {
		return fmt.Errorf("db: update role permission: %w", err)
	}
	return expectOne(res)
}

// SetRulePosition moves a rule to a position.
func SetRulePosition(ctx context.Context, q Querier, id string, pos int) error {
	_, err := q.ExecContext(ctx, "UPDATE role_permissions SET sort_order = ? WHERE id = ?", pos, id)
	if err != nil {
		return fmt.Errorf("db: set rule position: %w", err)
	}
	return nil
}

// DeleteRolePermission removes a rule.
func DeleteRolePermission(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "DELETE FROM role_permissions WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("db: delete role permission: %w", err)
	}
	return expectOne(res)
}
