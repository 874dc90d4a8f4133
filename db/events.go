package db

import (
	"context"
	"fmt"
	"strings"
)

// Event records something that happened, for listEvents (CloudStack's event log).
type Event struct {
	ID, Type, Level, State, Description string
	UserID, AccountID, DomainID         string
	ResourceType, ResourceID, JobID     string
	Created                             int64
	Username, AccountName, DomainName   string
	DomainPath                          string
}

// InsertEvent appends an event.
func InsertEvent(ctx context.Context, q Querier, e *Event) error {
	_, err := q.ExecContext(ctx, `INSERT INTO events (id, type, level, state, description, user_id, account_id, domain_id, resource_type, resource_id, job_id, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.Type, e.Level, e.State, e.Description, nullable(e.UserID), nullable(e.AccountID),
		nullable(e.DomainID), nullable(e.ResourceType), nullable(e.ResourceID), nullable(e.JobID), e.Created)
	if err != nil {
		return fmt.Errorf("db: insert event: %w", err)
	}
	return nil
}

// EventFilter selects events.
type EventFilter struct {
	ID, Type, Level, Keyword string
	State                    string
	ResourceID, ResourceType string
	Start, End               int64
	// Pending keeps only Started events that no later Completed event of the same type and
	// job (or, without a job, the same resource) has closed.
	Pending       bool
	Scope         Scope
	Limit, Offset int
}

// ListEvents returns matching events, newest first, and the total before paging.
func ListEvents(ctx context.Context, q Querier, f EventFilter) ([]*Event, int, error) {
	from := ` FROM events e LEFT JOIN users u ON u.id = e.user_id LEFT JOIN accounts a ON a.id = e.account_id LEFT JOIN domains d ON d.id = e.domain_id`
	w := []string{"1 = 1"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "e.id = ?"), append(args, f.ID)
	}
	if f.Type != "" {
		w, args = append(w, "e.type = ?"), append(args, f.Type)
	}
	if f.Level != "" {
		w, args = append(w, "UPPER(e.level) = UPPER(?)"), append(args, f.Level)
	}
	if f.State != "" {
		w, args = append(w, "LOWER(e.state) = LOWER(?)"), append(args, f.State)
	}
	if f.ResourceID != "" {
		w, args = append(w, "e.resource_id = ?"), append(args, f.ResourceID)
	}
	if f.ResourceType != "" {
		w, args = append(w, "LOWER(e.resource_type) = LOWER(?)"), append(args, f.ResourceType)
	}
	if f.Keyword != "" {
		kw := "%" + LikePrefix(strings.ToLower(f.Keyword))
		w = append(w, "(LOWER(e.description) LIKE ?"+LikeEscape+" OR LOWER(e.type) LIKE ?"+LikeEscape+" OR LOWER(e.level) LIKE ?"+LikeEscape+")")
		args = append(args, kw, kw, kw)
	}
	if f.Pending {
		w = append(w, `e.state = 'Started' AND NOT EXISTS (SELECT 1 FROM events c WHERE c.seq > e.seq AND c.state = 'Completed' AND c.type = e.type
			AND ((e.job_id IS NOT NULL AND c.job_id = e.job_id) OR (e.job_id IS NULL AND c.resource_id = e.resource_id)))`)
	}
	if f.Start > 0 {
		w, args = append(w, "e.created >= ?"), append(args, f.Start)
	}
	if f.End > 0 {
		w, args = append(w, "e.created <= ?"), append(args, f.End)
	}
	w, args = f.Scope.apply(w, args, "e.account_id", "d.path")
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+from+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count events: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT e.id, e.type, e.level, e.state, e.description, COALESCE(e.user_id,''), COALESCE(e.account_id,''),
		COALESCE(e.domain_id,''), COALESCE(e.resource_type,''), COALESCE(e.resource_id,''), COALESCE(e.job_id,''), e.created,
		COALESCE(u.username,''), COALESCE(a.name,''), COALESCE(d.name,''), COALESCE(d.path,'')`+from+" WHERE "+where+" ORDER BY e.seq DESC"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list events: %w", err)
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.ID, &e.Type, &e.Level, &e.State, &e.Description, &e.UserID, &e.AccountID, &e.DomainID, &e.ResourceType,
			&e.ResourceID, &e.JobID, &e.Created, &e.Username, &e.AccountName, &e.DomainName, &e.DomainPath); err != nil {
			return nil, 0, fmt.Errorf("db: list events: %w", err)
		}
		out = append(out, &e)
	}
	return out, total, rows.Err()
}
