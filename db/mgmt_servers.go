package db

import (
	"context"
	"fmt"
)

// MgmtServer is one running (or once running) management server.
type MgmtServer struct {
	ID, Name, Address, Version, State string
	Started, LastSeen                 int64
}

// UpsertMgmtServer records a server's heartbeat.
func UpsertMgmtServer(ctx context.Context, q Querier, m *MgmtServer) error {
	res, err := q.ExecContext(ctx, "UPDATE mgmt_servers SET name = ?, address = ?, version = ?, state = ?, last_seen = ? WHERE id = ?",
		m.Name, m.Address, m.Version, m.State, m.LastSeen, m.ID)
	if err != nil {
		return fmt.Errorf("db: heartbeat mgmt server: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	_, err = q.ExecContext(ctx, "INSERT INTO mgmt_servers (id, name, address, version, state, started, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
		m.ID, m.Name, m.Address, m.Version, m.State, m.Started, m.LastSeen)
	if err != nil && !IsDuplicate(err) {
		return fmt.Errorf("db: insert mgmt server: %w", err)
	}
	return nil
}

// ListMgmtServers returns every recorded management server.
func ListMgmtServers(ctx context.Context, q Querier) ([]*MgmtServer, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, name, address, version, state, started, last_seen FROM mgmt_servers ORDER BY started")
	if err != nil {
		return nil, fmt.Errorf("db: list mgmt servers: %w", err)
	}
	defer rows.Close()
	var out []*MgmtServer
	for rows.Next() {
		var m MgmtServer
		if err := rows.Scan(&m.ID, &m.Name, &m.Address, &m.Version, &m.State, &m.Started, &m.LastSeen); err != nil {
			return nil, fmt.Errorf("db: list mgmt servers: %w", err)
		}
		out = append(out, &m)
	}
	return out, rows.Err()
}
