package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Account types, as CloudStack numbers them.
const (
	AccountUser        = 0
	AccountRootAdmin   = 1
	AccountDomainAdmin = 2
)

// Account owns resources; it lives in one domain and has one role.
type Account struct {
	ID            string
	Name          string
	Type          int
	DomainID      string
	RoleID        string
	State         string // enabled, disabled, locked
	NetworkDomain string
	IsDefault     bool
	Version       int64
	Created       int64
	// Joined for rendering.
	DomainName, DomainPath, RoleName, RoleType string
}

const accountCols = `a.id, a.name, a.type, a.domain_id, a.role_id, a.state, COALESCE(a.network_domain,''), a.is_default, a.version, a.created,
	d.name, d.path, COALESCE(r.name,''), COALESCE(r.type,'')`

const accountFrom = ` FROM accounts a JOIN domains d ON d.id = a.domain_id LEFT JOIN roles r ON r.id = a.role_id`

func scanAccount(s interface{ Scan(...any) error }) (*Account, error) {
	var a Account
	var def int
	if err := s.Scan(&a.ID, &a.Name, &a.Type, &a.DomainID, &a.RoleID, &a.State, &a.NetworkDomain, &def, &a.Version, &a.Created,
		&a.DomainName, &a.DomainPath, &a.RoleName, &a.RoleType); err != nil {
		return nil, err
	}
	a.IsDefault = def == 1
	return &a, nil
}

func accountLiveKey(domainID, name string) string { return domainID + "/" + strings.ToLower(name) }

// InsertAccount creates an account.
func InsertAccount(ctx context.Context, q Querier, a *Account) error {
	_, err := q.ExecContext(ctx, `INSERT INTO accounts (id, name, type, domain_id, role_id, state, network_domain, is_default, live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`, a.ID, a.Name, a.Type, a.DomainID, a.RoleID, a.State, nullable(a.NetworkDomain),
		boolInt(a.IsDefault), accountLiveKey(a.DomainID, a.Name), a.Created)
	if err != nil {
		return fmt.Errorf("db: insert account: %w", err)
	}
	return nil
}

// GetAccount returns a live account by id.
func GetAccount(ctx context.Context, q Querier, id string) (*Account, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, "SELECT "+accountCols+accountFrom+" WHERE a.id = ? AND a.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get account: %w", err)
	}
	return a, nil
}

// GetAccountByName returns a live account by name within a domain.
func GetAccountByName(ctx context.Context, q Querier, domainID, name string) (*Account, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, "SELECT "+accountCols+accountFrom+" WHERE a.live_key = ?", accountLiveKey(domainID, name)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get account by name: %w", err)
	}
	return a, nil
}

// AccountFilter selects accounts for listing.
type AccountFilter struct {
	ID, Name, State string
	Type            *int
	RoleID          string
	// Keyword matches part of the name or the state, case-insensitively.
	Keyword       string
	Scope         Scope
	Limit, Offset int
}

// ListAccounts returns matching accounts and the total count before paging.
func ListAccounts(ctx context.Context, q Querier, f AccountFilter) ([]*Account, int, error) {
	w := []string{"a.removed IS NULL"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "a.id = ?"), append(args, f.ID)
	}
	if f.Name != "" {
		w, args = append(w, "LOWER(a.name) = LOWER(?)"), append(args, f.Name)
	}
	if f.State != "" {
		w, args = append(w, "LOWER(a.state) = LOWER(?)"), append(args, f.State)
	}
	if f.Type != nil {
		w, args = append(w, "a.type = ?"), append(args, *f.Type)
	}
	if f.RoleID != "" {
		w, args = append(w, "a.role_id = ?"), append(args, f.RoleID)
	}
	if f.Keyword != "" {
		kw := "%" + LikePrefix(strings.ToLower(f.Keyword))
		w = append(w, "(LOWER(a.name) LIKE ?"+LikeEscape+" OR LOWER(a.state) LIKE ?"+LikeEscape+")")
		args = append(args, kw, kw)
	}
	w, args = f.Scope.apply(w, args, "a.id", "d.path")
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+accountFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count accounts: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+accountCols+accountFrom+" WHERE "+where+" ORDER BY d.path, a.name"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list accounts: %w", err)
	}
	out, err := scanAll(rows, "list accounts", scanAccount)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateAccount writes the mutable fields (name, type, state, network domain, role) if the
// version still matches.
func UpdateAccount(ctx context.Context, q Querier, a *Account) error {
	res, err := q.ExecContext(ctx, `UPDATE accounts SET name = ?, type = ?, state = ?, network_domain = ?, role_id = ?, live_key = ?, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`, a.Name, a.Type, a.State, nullable(a.NetworkDomain), a.RoleID,
		accountLiveKey(a.DomainID, a.Name), a.ID, a.Version)
	if err != nil {
		return fmt.Errorf("db: update account: %w", err)
	}
	return expectOne(res)
}

// RemoveAccount soft-deletes an account.
func RemoveAccount(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE accounts SET removed = ?, live_key = NULL, version = version + 1 WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove account: %w", err)
	}
	return expectOne(res)
}

// CountLiveAccountsInDomain counts accounts in exactly this domain.
func CountLiveAccountsInDomain(ctx context.Context, q Querier, domainID string) (int, error) {
	return count(ctx, q, "accounts", "domain_id = ? AND removed IS NULL", []any{domainID})
}
