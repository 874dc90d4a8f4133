package db

import (
	"context"
	"database/sql"
	"fmt"
)

// ConfigValue is a setting's value at one scope ("global" with an empty ScopeID, or
// "zone", "cluster", "account", "domain", "storagepool" with the object's id).
type ConfigValue struct {
	Name, Scope, ScopeID string
	Value                sql.NullString
	Updated              int64
}

// SetConfigValue writes a setting at a scope (insert or update).
func SetConfigValue(ctx context.Context, q Querier, v ConfigValue) error {
	res, err := q.ExecContext(ctx, "UPDATE configuration_values SET value = ?, updated = ? WHERE name = ? AND scope = ? AND scope_id = ?",
		v.Value, v.Updated, v.Name, v.Scope, v.ScopeID)
	if err != nil {
		return fmt.Errorf("db: set config value: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	// MySQL reports 0 affected rows when the value did not change; the insert then hits the
	// primary key, which means the row is already as asked.
	_, err = q.ExecContext(ctx, "INSERT INTO configuration_values (name, scope, scope_id, value, updated) VALUES (?, ?, ?, ?, ?)",
		v.Name, v.Scope, v.ScopeID, v.Value, v.Updated)
	if err != nil && !IsDuplicate(err) {
		return fmt.Errorf("db: insert config value: %w", err)
	}
	return nil
}

// ConfigValues returns every stored value of a scope (all names), keyed by name.
func ConfigValues(ctx context.Context, q Querier, scope, scopeID string) (map[string]ConfigValue, error) {
	rows, err := q.QueryContext(ctx, "SELECT name, scope, scope_id, value, updated FROM configuration_values WHERE scope = ? AND scope_id = ?", scope, scopeID)
	if err != nil {
		return nil, fmt.Errorf("db: config values: %w", err)
	}
	defer rows.Close()
	out := map[string]ConfigValue{}
	for rows.Next() {
		var v ConfigValue
		if err := rows.Scan(&v.Name, &v.Scope, &v.ScopeID, &v.Value, &v.Updated); err != nil {
			return nil, fmt.Errorf("db: config values: %w", err)
		}
		out[v.Name] = v
	}
	return out, rows.Err()
}
