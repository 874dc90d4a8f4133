package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// User logs in and signs requests on behalf of an account.
type User struct {
	ID, AccountID, DomainID string
	Username                string
	Password                string // KDF hash
	FirstName, LastName     string
	Email, Timezone         string
	State                   string // enabled, disabled, locked
	APIKey                  string
	SecretKey               string // encrypted at rest; see mgmt/iam
	Source                  string
	IsDefault               bool
	LoginAttempts           int
	Version                 int64
	Created                 int64
	// Joined for rendering and checks.
	AccountName, AccountState  string
	AccountType                int
	RoleID, RoleName, RoleType string
	DomainName, DomainPath     string
}

const userCols = `u.id, u.account_id, u.domain_id, u.username, u.password, COALESCE(u.firstname,''), COALESCE(u.lastname,''),
	COALESCE(u.email,''), COALESCE(u.timezone,''), u.state, COALESCE(u.api_key,''), COALESCE(u.secret_key,''), u.source,
	u.is_default, u.login_attempts, u.version, u.created, a.name, a.state, a.type, a.role_id, COALESCE(r.name,''), COALESCE(r.type,''),
	d.name, d.path`

const userFrom = ` FROM users u JOIN accounts a ON a.id = u.account_id JOIN domains d ON d.id = u.domain_id LEFT JOIN roles r ON r.id = a.role_id`

func scanUser(s interface{ Scan(...any) error }) (*User, error) {
	var u User
	var def int
	if err := s.Scan(&u.ID, &u.AccountID, &u.DomainID, &u.Username, &u.Password, &u.FirstName, &u.LastName, &u.Email,
		&u.Timezone, &u.State, &u.APIKey, &u.SecretKey, &u.Source, &def, &u.LoginAttempts, &u.Version, &u.Created,
		&u.AccountName, &u.AccountState, &u.AccountType, &u.RoleID, &u.RoleName, &u.RoleType, &u.DomainName, &u.DomainPath); err != nil {
		return nil, err
	}
	u.IsDefault = def == 1
	return &u, nil
}

func userLiveKey(domainID, username string) string { return domainID + "/" + strings.ToLower(username) }

// InsertUser creates a user; usernames are unique within a domain.
func InsertUser(ctx context.Context, q Querier, u *User) error {
	_, err := q.ExecContext(ctx, `INSERT INTO users (id, account_id, domain_id, username, password, firstname, lastname, email, timezone,
		state, api_key, secret_key, source, is_default, live_key, version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		u.ID, u.AccountID, u.DomainID, u.Username, u.Password, nullable(u.FirstName), nullable(u.LastName), nullable(u.Email),
		nullable(u.Timezone), u.State, nullable(u.APIKey), nullable(u.SecretKey), u.Source, boolInt(u.IsDefault),
		userLiveKey(u.DomainID, u.Username), u.Created)
	if err != nil {
		return fmt.Errorf("db: insert user: %w", err)
	}
	return nil
}

func getUser(ctx context.Context, q Querier, where string, arg any) (*User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, "SELECT "+userCols+userFrom+" WHERE "+where+" AND u.removed IS NULL AND a.removed IS NULL", arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get user: %w", err)
	}
	return u, nil
}

// GetUser returns a live user by id.
func GetUser(ctx context.Context, q Querier, id string) (*User, error) {
	return getUser(ctx, q, "u.id = ?", id)
}

// GetUserByAPIKey returns the live user holding an API key.
func GetUserByAPIKey(ctx context.Context, q Querier, key string) (*User, error) {
	return getUser(ctx, q, "u.api_key = ?", key)
}

// GetUserByName returns a live user by username within a domain.
func GetUserByName(ctx context.Context, q Querier, domainID, username string) (*User, error) {
	return getUser(ctx, q, "u.live_key = ?", userLiveKey(domainID, username))
}

// UserFilter selects users for listing.
type UserFilter struct {
	ID, Username, State, AccountName, APIKey string
	AccountType                              *int
	// AccountIDs limits to users of these accounts (in addition to Scope).
	AccountIDs []string
	// Sources limits to users of these sources (UNKNOWN, NATIVE, LDAP ...), case-insensitively.
	Sources []string
	// Keyword matches part of the username, first or last name, email, state or account name.
	Keyword       string
	Scope         Scope
	Limit, Offset int
}

// ListUsers returns matching users and the total before paging.
func ListUsers(ctx context.Context, q Querier, f UserFilter) ([]*User, int, error) {
	w := []string{"u.removed IS NULL", "a.removed IS NULL"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "u.id = ?"), append(args, f.ID)
	}
	if f.Username != "" {
		w, args = append(w, "LOWER(u.username) = LOWER(?)"), append(args, f.Username)
	}
	if f.State != "" {
		w, args = append(w, "LOWER(u.state) = LOWER(?)"), append(args, f.State)
	}
	if f.AccountName != "" {
		w, args = append(w, "LOWER(a.name) = LOWER(?)"), append(args, f.AccountName)
	}
	if f.APIKey != "" {
		w, args = append(w, "u.api_key = ?"), append(args, f.APIKey)
	}
	if f.AccountType != nil {
		w, args = append(w, "a.type = ?"), append(args, *f.AccountType)
	}
	if f.AccountIDs != nil {
		w, args = append(w, "u.account_id IN ("+userInList(len(f.AccountIDs))+")"), userAppendArgs(args, f.AccountIDs)
	}
	if f.Sources != nil {
		lower := make([]string, len(f.Sources))
		for i, s := range f.Sources {
			lower[i] = strings.ToLower(s)
		}
		w, args = append(w, "LOWER(u.source) IN ("+userInList(len(lower))+")"), userAppendArgs(args, lower)
	}
	if f.Keyword != "" {
		kw := "%" + LikePrefix(strings.ToLower(f.Keyword))
		var or []string
		for _, col := range []string{"u.username", "u.firstname", "u.lastname", "u.email", "u.state", "a.name"} {
			or, args = append(or, "LOWER("+col+") LIKE ?"+LikeEscape), append(args, kw)
		}
		w = append(w, "("+strings.Join(or, " OR ")+")")
	}
	w, args = f.Scope.apply(w, args, "u.account_id", "d.path")
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+userFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count users: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+userCols+userFrom+" WHERE "+where+" ORDER BY d.path, a.name, u.username"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list users: %w", err)
	}
	out, err := scanAll(rows, "list users", scanUser)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateUser writes the mutable fields if the version still matches.
func UpdateUser(ctx context.Context, q Querier, u *User) error {
	res, err := q.ExecContext(ctx, `UPDATE users SET username = ?, password = ?, firstname = ?, lastname = ?, email = ?, timezone = ?,
		state = ?, api_key = ?, secret_key = ?, login_attempts = ?, live_key = ?, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`, u.Username, u.Password, nullable(u.FirstName), nullable(u.LastName),
		nullable(u.Email), nullable(u.Timezone), u.State, nullable(u.APIKey), nullable(u.SecretKey), u.LoginAttempts,
		userLiveKey(u.DomainID, u.Username), u.ID, u.Version)
	if err != nil {
		return fmt.Errorf("db: update user: %w", err)
	}
	return expectOne(res)
}

// RemoveUser soft-deletes a user and frees its API key.
func RemoveUser(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE users SET removed = ?, live_key = NULL, api_key = NULL, secret_key = NULL, version = version + 1 WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove user: %w", err)
	}
	return expectOne(res)
}

// RemoveUsersOfAccount soft-deletes every user of an account.
func RemoveUsersOfAccount(ctx context.Context, q Querier, accountID string) error {
	_, err := q.ExecContext(ctx, "UPDATE users SET removed = ?, live_key = NULL, api_key = NULL, secret_key = NULL, version = version + 1 WHERE account_id = ? AND removed IS NULL", Now(), accountID)
	if err != nil {
		return fmt.Errorf("db: remove users of account: %w", err)
	}
	return nil
}

// CountLiveUsers counts live users of an account.
func CountLiveUsers(ctx context.Context, q Querier, accountID string) (int, error) {
	return count(ctx, q, "users", "account_id = ? AND removed IS NULL", []any{accountID})
}

// userInList returns n comma-separated placeholders, or NULL for none, so an empty IN list
// matches nothing.
func userInList(n int) string {
	if n == 0 {
		return "NULL"
	}
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func userAppendArgs(args []any, ss []string) []any {
	for _, s := range ss {
		args = append(args, s)
	}
	return args
}
