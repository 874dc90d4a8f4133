package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Session is a logged-in user's session: ID is the SHA-256 of the JSESSIONID cookie value,
// SessionKey the CSRF token the client must echo as the sessionkey parameter.
type Session struct {
	ID, SessionKey, UserID string
	Created, Expires       int64
}

// InsertSession stores a session.
func InsertSession(ctx context.Context, q Querier, s *Session) error {
	_, err := q.ExecContext(ctx, "INSERT INTO sessions (id, session_key, user_id, created, expires) VALUES (?, ?, ?, ?, ?)",
		s.ID, s.SessionKey, s.UserID, s.Created, s.Expires)
	if err != nil {
		return fmt.Errorf("db: insert session: %w", err)
	}
	return nil
}

// GetSession returns an unexpired session.
func GetSession(ctx context.Context, q Querier, id string) (*Session, error) {
	var s Session
	err := q.QueryRowContext(ctx, "SELECT id, session_key, user_id, created, expires FROM sessions WHERE id = ? AND expires > ?", id, Now()).
		Scan(&s.ID, &s.SessionKey, &s.UserID, &s.Created, &s.Expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get session: %w", err)
	}
	return &s, nil
}

// TouchSession extends a session's expiry.
func TouchSession(ctx context.Context, q Querier, id string, expires int64) error {
	if _, err := q.ExecContext(ctx, "UPDATE sessions SET expires = ? WHERE id = ?", expires, id); err != nil {
		return fmt.Errorf("db: touch session: %w", err)
	}
	return nil
}

// DeleteSession ends a session.
func DeleteSession(ctx context.Context, q Querier, id string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", id); err != nil {
		return fmt.Errorf("db: delete session: %w", err)
	}
	return nil
}

// DeleteSessionsOfUser ends every session of a user (on disable, lock, delete).
func DeleteSessionsOfUser(ctx context.Context, q Querier, userID string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("db: delete sessions of user: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes expired sessions.
func DeleteExpiredSessions(ctx context.Context, q Querier) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM sessions WHERE expires <= ?", Now()); err != nil {
		return fmt.Errorf("db: delete expired sessions: %w", err)
	}
	return nil
}
