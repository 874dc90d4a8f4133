package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// AgentCA is the management servers' certificate authority for agent TLS.
type AgentCA struct {
	ID      string
	CertPEM string
	KeyEnc  string // the PEM key, encrypted with the servers' keyring
	Created int64
}

// GetAgentCA returns the CA row with id.
func GetAgentCA(ctx context.Context, q Querier, id string) (*AgentCA, error) {
	var ca AgentCA
	err := q.QueryRowContext(ctx, "SELECT id, cert_pem, key_enc, created FROM certificate_authority WHERE id = ?", id).
		Scan(&ca.ID, &ca.CertPEM, &ca.KeyEnc, &ca.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get agent ca: %w", err)
	}
	return &ca, nil
}

// InsertAgentCA stores a CA; a concurrent insert of the same id gives an IsDuplicate error.
func InsertAgentCA(ctx context.Context, q Querier, ca *AgentCA) error {
	_, err := q.ExecContext(ctx, "INSERT INTO certificate_authority (id, cert_pem, key_enc, created) VALUES (?, ?, ?, ?)",
		ca.ID, ca.CertPEM, ca.KeyEnc, ca.Created)
	if err != nil {
		return fmt.Errorf("db: insert agent ca: %w", err)
	}
	return nil
}

// HostToken is a one-time registration token (stored by hash). UsedGUID and UsedKey name the
// agent that used it: its guid and the SHA-256 (hex) of its public key.
type HostToken struct {
	Hash                     string
	ZoneID, PodID, ClusterID string
	HostID                   string
	Expires, Used, Created   int64
	UsedGUID, UsedKey        string
}

// InsertHostToken stores a token.
func InsertHostToken(ctx context.Context, q Querier, t *HostToken) error {
	_, err := q.ExecContext(ctx, `INSERT INTO host_tokens (token_hash, zone_id, pod_id, cluster_id, host_id, expires, created)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, t.Hash, nullable(t.ZoneID), nullable(t.PodID), nullable(t.ClusterID), nullable(t.HostID), t.Expires, t.Created)
	if err != nil {
		return fmt.Errorf("db: insert host token: %w", err)
	}
	return nil
}

// ErrTokenInvalid is returned for a token that is unknown, expired or already used.
var ErrTokenInvalid = errors.New("db: host token is unknown, expired or already used")

// UseHostToken marks an unused, unexpired token used by the agent guid whose public key has
// the digest key, and returns it. A token that the same guid with the same key already used is
// returned again while it is valid: the agent is retrying an enrollment whose answer it never
// received (it holds the private key, so nobody else can use what the retry yields). Any other
// use of a used token, and an unknown or expired one, is ErrTokenInvalid.
func UseHostToken(ctx context.Context, q Querier, hash, guid, key string, now int64) (*HostToken, error) {
	if guid == "" || key == "" {
		return nil, errors.New("db: use host token: no agent guid or key")
	}
	var t HostToken
	var used sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT token_hash, COALESCE(zone_id,''), COALESCE(pod_id,''), COALESCE(cluster_id,''), COALESCE(host_id,''),
		expires, used, created, COALESCE(used_guid,''), COALESCE(used_key,'') FROM host_tokens WHERE token_hash = ?`, hash).
		Scan(&t.Hash, &t.ZoneID, &t.PodID, &t.ClusterID, &t.HostID, &t.Expires, &used, &t.Created, &t.UsedGUID, &t.UsedKey)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrTokenInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("db: read host token: %w", err)
	}
	if t.Expires <= now {
		return nil, ErrTokenInvalid
	}
	if used.Valid {
		if t.UsedGUID != guid || t.UsedKey != key {
			return nil, ErrTokenInvalid
		}
		t.Used = used.Int64
		return &t, nil
	}
	res, err := q.ExecContext(ctx, "UPDATE host_tokens SET used = ?, used_guid = ?, used_key = ? WHERE token_hash = ? AND used IS NULL",
		now, guid, key, hash)
	if err != nil {
		return nil, fmt.Errorf("db: use host token: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, ErrTokenInvalid
	}
	t.Used, t.UsedGUID, t.UsedKey = now, guid, key
	return &t, nil
}

// PurgeHostTokens deletes tokens that expired before a time.
func PurgeHostTokens(ctx context.Context, q Querier, before int64) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM host_tokens WHERE expires < ?", before); err != nil {
		return fmt.Errorf("db: purge host tokens: %w", err)
	}
	return nil
}

// Agent command statuses.
const (
	AgentCmdPending   = 0 // waiting for the host's owner
	AgentCmdRunning   = 1 // claimed by owner
	AgentCmdDone      = 2 // result holds the answer
	AgentCmdAbandoned = 3 // the caller stopped waiting
)

// AgentCommand is a command for a host whose connection another management server holds.
type AgentCommand struct {
	Seq               int64
	ID, HostID, Owner string
	Body              string
	Status            int
	Result            string
	Created, Deadline int64
	Completed         int64
}

// InsertAgentCommand queues a command.
func InsertAgentCommand(ctx context.Context, q Querier, c *AgentCommand) error {
	_, err := q.ExecContext(ctx, `INSERT INTO agent_commands (id, host_id, body, status, created, deadline) VALUES (?, ?, ?, 0, ?, ?)`,
		c.ID, c.HostID, c.Body, c.Created, c.Deadline)
	if err != nil {
		return fmt.Errorf("db: insert agent command: %w", err)
	}
	return nil
}

const agentCmdCols = "c.seq, c.id, c.host_id, COALESCE(c.owner,''), c.body, c.status, COALESCE(c.result,''), c.created, c.deadline, COALESCE(c.completed,0)"

func scanAgentCommand(s interface{ Scan(...any) error }) (*AgentCommand, error) {
	var c AgentCommand
	if err := s.Scan(&c.Seq, &c.ID, &c.HostID, &c.Owner, &c.Body, &c.Status, &c.Result, &c.Created, &c.Deadline, &c.Completed); err != nil {
		return nil, err
	}
	return &c, nil
}

// GetAgentCommand returns a queued command.
func GetAgentCommand(ctx context.Context, q Querier, id string) (*AgentCommand, error) {
	c, err := scanAgentCommand(q.QueryRowContext(ctx, "SELECT "+agentCmdCols+" FROM agent_commands c WHERE c.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get agent command: %w", err)
	}
	return c, nil
}

// CommandsForOwner returns unexpired commands for hosts whose connection owner holds that
// owner has not claimed: pending ones, and running ones claimed by a server that no longer
// holds the host (the agent moved; running them again is harmless, agents answer replays).
// The scan starts from the few pending and running commands (index agent_commands_pending),
// not from the hosts: a server holding 10,000 hosts runs it every 50 ms. (A scalar subquery
// rather than a join or EXISTS, which MariaDB may turn into a join driven by the owner's
// hosts.)
func CommandsForOwner(ctx context.Context, q Querier, owner string, now int64, limit int) ([]*AgentCommand, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+agentCmdCols+` FROM agent_commands c
		WHERE c.status IN (0, 1) AND c.deadline > ? AND (c.status = 0 OR c.owner <> ?)
		AND (SELECT h.owner FROM hosts h WHERE h.id = c.host_id AND h.removed IS NULL) = ? ORDER BY c.seq`+page(limit, 0),
		now, owner, owner)
	if err != nil {
		return nil, fmt.Errorf("db: commands for owner: %w", err)
	}
	return scanAll(rows, "commands for owner", scanAgentCommand)
}

// ClaimAgentCommand takes a command seen with status and owner prev for owner.
func ClaimAgentCommand(ctx context.Context, q Querier, c *AgentCommand, owner string) (bool, error) {
	query := "UPDATE agent_commands SET status = 1, owner = ? WHERE id = ? AND status = ? AND "
	args := []any{owner, c.ID, c.Status}
	if c.Owner == "" {
		query += "owner IS NULL"
	} else {
		query += "owner = ?"
		args = append(args, c.Owner)
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("db: claim agent command: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CompleteAgentCommand records a command's answer.
func CompleteAgentCommand(ctx context.Context, q Querier, id, owner, result string, now int64) error {
	_, err := q.ExecContext(ctx, "UPDATE agent_commands SET status = 2, result = ?, completed = ? WHERE id = ? AND owner = ? AND status = 1",
		result, now, id, owner)
	if err != nil {
		return fmt.Errorf("db: complete agent command: %w", err)
	}
	return nil
}

// AbandonAgentCommand marks a command nobody waits for any more, unless it is done.
func AbandonAgentCommand(ctx context.Context, q Querier, id string, now int64) error {
	_, err := q.ExecContext(ctx, "UPDATE agent_commands SET status = 3, completed = ? WHERE id = ? AND status IN (0, 1)", now, id)
	if err != nil {
		return fmt.Errorf("db: abandon agent command: %w", err)
	}
	return nil
}

// PurgeAgentCommands deletes commands whose deadline passed before a time.
func PurgeAgentCommands(ctx context.Context, q Querier, before int64) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM agent_commands WHERE deadline < ?", before); err != nil {
		return fmt.Errorf("db: purge agent commands: %w", err)
	}
	return nil
}

// Simulator fault scopes.
const (
	FaultScopeZone    = "zone"
	FaultScopeCluster = "cluster"
	FaultScopeHost    = "host"
)

// SimulatorFault injects latency or failure into a simulated host's command.
type SimulatorFault struct {
	ID                 string
	ScopeType, ScopeID string
	Command            string // a command name, or "*" for every command
	LatencyMs          int
	Fail               bool
	Message            string
	Created            int64
}

// SetSimulatorFault replaces the fault of a scope and command.
func SetSimulatorFault(ctx context.Context, q Querier, f *SimulatorFault) error {
	if err := DeleteSimulatorFaults(ctx, q, f.ScopeType, f.ScopeID, f.Command); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, `INSERT INTO simulator_faults (id, scope_type, scope_id, command, latency_ms, fail, message, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, f.ID, f.ScopeType, f.ScopeID, f.Command, f.LatencyMs, boolInt(f.Fail), nullable(f.Message), f.Created)
	if err != nil {
		return fmt.Errorf("db: insert simulator fault: %w", err)
	}
	return nil
}

// DeleteSimulatorFaults removes faults of a scope (and, if command is not "", of that command).
func DeleteSimulatorFaults(ctx context.Context, q Querier, scopeType, scopeID, command string) error {
	query := "DELETE FROM simulator_faults WHERE scope_type = ? AND scope_id = ?"
	args := []any{scopeType, scopeID}
	if command != "" {
		query += " AND LOWER(command) = LOWER(?)"
		args = append(args, command)
	}
	if _, err := q.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("db: delete simulator faults: %w", err)
	}
	return nil
}

// ListSimulatorFaults returns every fault.
func ListSimulatorFaults(ctx context.Context, q Querier) ([]*SimulatorFault, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, scope_type, scope_id, command, latency_ms, fail, COALESCE(message,''), created FROM simulator_faults ORDER BY created")
	if err != nil {
		return nil, fmt.Errorf("db: list simulator faults: %w", err)
	}
	defer rows.Close()
	var out []*SimulatorFault
	for rows.Next() {
		var f SimulatorFault
		var fail int
		if err := rows.Scan(&f.ID, &f.ScopeType, &f.ScopeID, &f.Command, &f.LatencyMs, &fail, &f.Message, &f.Created); err != nil {
			return nil, fmt.Errorf("db: list simulator faults: %w", err)
		}
		f.Fail = fail == 1
		f.Command = strings.TrimSpace(f.Command)
		out = append(out, &f)
	}
	return out, rows.Err()
}
