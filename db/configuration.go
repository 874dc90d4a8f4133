package db

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
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

// ConfigCacheTTL bounds how stale a setting read through CachedConfigValues may be on a
// server that did not write it (CloudStack's management servers also cache settings). A write
// through this server (InvalidateConfig) takes effect here at once.
const ConfigCacheTTL = time.Second

type configEntry struct {
	values map[string]ConfigValue
	loaded time.Time
}

type configCache struct {
	mu      sync.Mutex
	entries map[string]configEntry
	// written holds when a scope was last written here: for a TTL after that its values are
	// read from the database each time, so that a read racing the writer's commit cannot
	// keep the old values for a whole TTL.
	written map[string]time.Time
}

// CachedConfigValues is ConfigValues of one scope, kept for at most ConfigCacheTTL. For hot
// paths (deploys read factors, thresholds and limit defaults); the returned map must not be
// changed. A miss reads through q, the caller's transaction when it has one: taking a second
// connection from the pool while holding row locks could exhaust the pool and deadlock.
func (d *DB) CachedConfigValues(ctx context.Context, q Querier, scope, scopeID string) (map[string]ConfigValue, error) {
	key := scope + "/" + scopeID
	now := time.Now()
	c := &d.config
	c.mu.Lock()
	e, ok := c.entries[key]
	fresh := now.Sub(c.written[key]) > ConfigCacheTTL
	c.mu.Unlock()
	if ok && fresh && now.Sub(e.loaded) < ConfigCacheTTL {
		return e.values, nil
	}
	m, err := ConfigValues(ctx, q, scope, scopeID)
	if err != nil {
		return nil, err
	}
	if fresh {
		c.mu.Lock()
		if c.entries == nil {
			c.entries = map[string]configEntry{}
		}
		if now.Sub(c.written[key]) > ConfigCacheTTL {
			c.entries[key] = configEntry{values: m, loaded: now}
		}
		c.mu.Unlock()
	}
	return m, nil
}

// InvalidateConfig forgets the cached values of a scope (this server wrote them).
func (d *DB) InvalidateConfig(scope, scopeID string) {
	key := scope + "/" + scopeID
	c := &d.config
	c.mu.Lock()
	delete(c.entries, key)
	if c.written == nil {
		c.written = map[string]time.Time{}
	}
	c.written[key] = time.Now()
	c.mu.Unlock()
}
