package config

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
)

// Store reads and writes setting values.
type Store struct {
	DB     *db.DB
	byName map[string]*Setting
}

// NewStore returns a store over the catalogue.
func NewStore(d *db.DB) *Store {
	s := &Store{DB: d, byName: map[string]*Setting{}}
	for i := range Catalogue {
		s.byName[Catalogue[i].Name] = &Catalogue[i]
	}
	return s
}

// Lookup returns a setting's description by name.
func (s *Store) Lookup(name string) (*Setting, bool) {
	st, ok := s.byName[name]
	return st, ok
}

// Value is a setting's effective value at a scope.
type Value struct {
	*Setting
	Value   string
	IsSet   bool // a value is stored at exactly this scope
	Scope   string
	ScopeID string
}

// Values returns every setting (or the one named) as seen at a scope: the value stored there,
// else the global value, else the default. At a non-global scope only settings that may be set
// there are returned.
func (s *Store) Values(ctx context.Context, q db.Querier, scope, scopeID, name string) ([]Value, error) {
	global, err := db.ConfigValues(ctx, q, Global, "")
	if err != nil {
		return nil, err
	}
	var scoped map[string]db.ConfigValue
	if scope != Global {
		if scoped, err = db.ConfigValues(ctx, q, scope, scopeID); err != nil {
			return nil, err
		}
	}
	var out []Value
	for i := range Catalogue {
		st := &Catalogue[i]
		if name != "" && st.Name != name {
			continue
		}
		if !slices.Contains(st.Scopes, scope) {
			continue
		}
		v := Value{Setting: st, Value: st.Default, Scope: scope, ScopeID: scopeID}
		if g, ok := global[st.Name]; ok && g.Value.Valid {
			v.Value, v.IsSet = g.Value.String, scope == Global
		}
		if sv, ok := scoped[st.Name]; ok && sv.Value.Valid {
			v.Value, v.IsSet = sv.Value.String, true
		}
		out = append(out, v)
	}
	return out, nil
}

// Get returns a setting's effective value at a scope (falling back to global, then default).
func (s *Store) Get(ctx context.Context, scope, scopeID, name string) (string, error) {
	vs, err := s.Values(ctx, s.DB.Read(), scope, scopeID, name)
	if err != nil {
		return "", err
	}
	if len(vs) == 0 {
		if st, ok := s.byName[name]; ok {
			return st.Default, nil
		}
		return "", fmt.Errorf("config: unknown setting %s", name)
	}
	return vs[0].Value, nil
}

// Check validates a value against a setting's type.
func (st *Setting) Check(value string) error {
	switch st.Type {
	case "Integer", "Long":
		if _, err := strconv.ParseInt(value, 10, 64); err != nil {
			return fmt.Errorf("value %q of %s must be an integer", value, st.Name)
		}
	case "Float":
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			return fmt.Errorf("value %q of %s must be a number", value, st.Name)
		}
	case "Boolean":
		if !strings.EqualFold(value, "true") && !strings.EqualFold(value, "false") {
			return fmt.Errorf("value %q of %s must be true or false", value, st.Name)
		}
	}
	return nil
}

// Set stores a value at a scope; a nil value resets it to the inherited one.
func (s *Store) Set(ctx context.Context, q db.Querier, scope, scopeID, name string, value *string) error {
	v := db.ConfigValue{Name: name, Scope: scope, ScopeID: scopeID, Updated: db.Now()}
	if value != nil {
		v.Value = sql.NullString{String: *value, Valid: true}
	}
	if s.DB != nil {
		s.DB.InvalidateConfig(scope, scopeID)
	}
	return db.SetConfigValue(ctx, q, v)
}
