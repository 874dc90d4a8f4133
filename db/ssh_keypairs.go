package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// SSHKeyPair is an account's SSH public key (CloudStack's ssh_keypairs).
type SSHKeyPair struct {
	ID, Name            string
	AccountID, DomainID string
	PublicKey           string
	Fingerprint         string
	Created             int64
	// Joined for rendering.
	AccountName, DomainName, DomainPath string
}

func sshKeyPairLiveKey(accountID, name string) string { return accountID + "/" + strings.ToLower(name) }

const sshKeyPairCols = `k.id, k.name, k.account_id, k.domain_id, k.public_key, k.fingerprint, k.created, COALESCE(a.name,''),
	COALESCE(d.name,''), COALESCE(d.path,'')`

const sshKeyPairFrom = ` FROM ssh_keypairs k LEFT JOIN accounts a ON a.id = k.account_id LEFT JOIN domains d ON d.id = k.domain_id`

func scanSSHKeyPair(s interface{ Scan(...any) error }) (*SSHKeyPair, error) {
	var k SSHKeyPair
	if err := s.Scan(&k.ID, &k.Name, &k.AccountID, &k.DomainID, &k.PublicKey, &k.Fingerprint, &k.Created, &k.AccountName,
		&k.DomainName, &k.DomainPath); err != nil {
		return nil, err
	}
	return &k, nil
}

// InsertSSHKeyPair stores a keypair; a keypair of the same name (case-insensitively) in the
// account gives an error IsDuplicate accepts.
func InsertSSHKeyPair(ctx context.Context, q Querier, k *SSHKeyPair) error {
	_, err := q.ExecContext(ctx, `INSERT INTO ssh_keypairs (id, name, account_id, domain_id, public_key, fingerprint, live_key, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, k.ID, k.Name, k.AccountID, k.DomainID, k.PublicKey, k.Fingerprint,
		sshKeyPairLiveKey(k.AccountID, k.Name), k.Created)
	if err != nil {
		return fmt.Errorf("db: insert ssh keypair: %w", err)
	}
	return nil
}

// GetSSHKeyPair returns an account's keypair by name (case-insensitively); ErrNotFound if none.
func GetSSHKeyPair(ctx context.Context, q Querier, accountID, name string) (*SSHKeyPair, error) {
	k, err := scanSSHKeyPair(q.QueryRowContext(ctx, "SELECT "+sshKeyPairCols+sshKeyPairFrom+" WHERE k.live_key = ?", sshKeyPairLiveKey(accountID, name)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get ssh keypair: %w", err)
	}
	return k, nil
}

// GetSSHKeyPairByID returns a keypair by id; ErrNotFound if none.
func GetSSHKeyPairByID(ctx context.Context, q Querier, id string) (*SSHKeyPair, error) {
	k, err := scanSSHKeyPair(q.QueryRowContext(ctx, "SELECT "+sshKeyPairCols+sshKeyPairFrom+" WHERE k.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get ssh keypair: %w", err)
	}
	return k, nil
}

// SSHKeyPairFilter selects keypairs: Name matches case-insensitively, Keyword is a substring
// of the name or fingerprint, Fingerprint matches exactly.
type SSHKeyPairFilter struct {
	ID, Name, Fingerprint, Keyword string
	Scope                          Scope
	Tags                           map[string]string
	Limit, Offset                  int
}

// ListSSHKeyPairs returns matching keypairs ordered by name, and the total before paging.
func ListSSHKeyPairs(ctx context.Context, q Querier, f SSHKeyPairFilter) ([]*SSHKeyPair, int, error) {
	w := []string{"1 = 1"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "k.id = ?"), append(args, f.ID)
	}
	if f.Name != "" {
		w, args = append(w, "LOWER(k.name) = LOWER(?)"), append(args, f.Name)
	}
	if f.Fingerprint != "" {
		w, args = append(w, "k.fingerprint = ?"), append(args, f.Fingerprint)
	}
	if f.Keyword != "" {
		kw := "%" + LikePrefix(strings.ToLower(f.Keyword))
		w, args = append(w, "(LOWER(k.name) LIKE ?"+LikeEscape+" OR k.fingerprint LIKE ?"+LikeEscape+")"), append(args, kw, kw)
	}
	w, args = f.Scope.apply(w, args, "k.account_id", "d.path")
	if clause, targs := TagFilterClause("SSHKeyPair", "k.id", f.Tags); clause != "" {
		w, args = append(w, clause), append(args, targs...)
	}
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+sshKeyPairFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count ssh keypairs: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+sshKeyPairCols+sshKeyPairFrom+" WHERE "+where+" ORDER BY k.name, k.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list ssh keypairs: %w", err)
	}
	out, err := scanAll(rows, "list ssh keypairs", scanSSHKeyPair)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// DeleteSSHKeyPair deletes a keypair; ErrConflict if it is already gone.
func DeleteSSHKeyPair(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "DELETE FROM ssh_keypairs WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("db: delete ssh keypair: %w", err)
	}
	return expectOne(res)
}
