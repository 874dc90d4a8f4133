package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// LikePrefix escapes s for use as a LIKE prefix pattern; the query must say LikeEscape after
// the pattern. '!' is the escape character because both engines read it the same way.
func LikePrefix(s string) string {
	r := strings.NewReplacer(`!`, `!!`, `%`, `!%`, `_`, `!_`)
	return r.Replace(s) + "%"
}

// LikeEscape goes after a LIKE pattern built with LikePrefix.
const LikeEscape = " ESCAPE '!'"

func count(ctx context.Context, q Querier, table, where string, args []any) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE "+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count %s: %w", table, err)
	}
	return n, nil
}

func page(limit, offset int) string {
	if limit <= 0 {
		return ""
	}
	return fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset)
}

func expectOne(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("db: rows affected: %w", err)
	}
	if n == 0 {
		return ErrConflict
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// listPaged runs a list query (selectSQL: SELECT ... WHERE where ORDER BY ..., without paging)
// and answers its rows and their total before paging. Paged (limit > 0), the total is a COUNT
// over countFrom first, and no rows are read when the page lies past it; unpaged, the total is
// the rows read.
func listPaged[T any](ctx context.Context, q Querier, what, countFrom, where, selectSQL string, args []any, limit, offset int,
	scan func(interface{ Scan(...any) error }) (*T, error)) ([]*T, int, error) {
	total := -1
	if limit > 0 {
		n, err := count(ctx, q, countFrom, where, args)
		if err != nil || n == 0 || offset >= n {
			return nil, n, err
		}
		total = n
	}
	rows, err := q.QueryContext(ctx, selectSQL+page(limit, offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: %s: %w", what, err)
	}
	out, err := scanAll(rows, what, scan)
	if err != nil {
		return nil, 0, err
	}
	if total < 0 {
		total = len(out)
	}
	return out, total, nil
}

// scanAll reads every row with scan, closes rows, and wraps any error as "db: <what>: ...".
func scanAll[T any](rows *sql.Rows, what string, scan func(interface{ Scan(...any) error }) (*T, error)) ([]*T, error) {
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("db: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: %s: %w", what, err)
	}
	return out, nil
}
