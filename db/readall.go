package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Read is one query of a ReadAll: Row is called for each row it returns.
type Read struct {
	Query string
	Args  []any
	Row   func(rows *sql.Rows) error
}

// ReadAll runs independent reads: on MySQL in one round trip (one multi-statement query, one
// result set per read), on SQLite one after the other.
func (d *DB) ReadAll(ctx context.Context, q Querier, reads ...Read) error {
	if d.Dialect != MySQL || len(reads) == 1 {
		for _, r := range reads {
			if err := ReadRows(ctx, q, r); err != nil {
				return err
			}
		}
		return nil
	}
	queries := make([]string, len(reads))
	var args []any
	for i, r := range reads {
		if strings.Count(r.Query, "?") != len(r.Args) {
			return fmt.Errorf("db: read %d of a batch: placeholders and arguments differ", i)
		}
		queries[i] = r.Query
		args = append(args, r.Args...)
	}
	rows, err := q.QueryContext(ctx, strings.Join(queries, ";\n"), args...)
	if err != nil {
		return fmt.Errorf("db: batched reads: %w", err)
	}
	defer rows.Close()
	for i, r := range reads {
		if i > 0 && !rows.NextResultSet() {
			if err := rows.Err(); err != nil {
				return fmt.Errorf("db: batched reads: %w", err)
			}
			return fmt.Errorf("db: batched reads: %d result sets, want %d", i, len(reads))
		}
		for rows.Next() {
			if err := r.Row(rows); err != nil {
				return fmt.Errorf("db: batched read %d: %w", i, err)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("db: batched reads: %w", err)
		}
	}
	return nil
}

// ReadRows runs one Read.
func ReadRows(ctx context.Context, q Querier, r Read) error {
	rows, err := q.QueryContext(ctx, r.Query, r.Args...)
	if err != nil {
		return fmt.Errorf("db: read: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := r.Row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ReadAccount reads a live account into *dst (left nil when there is none).
func ReadAccount(id string, dst **Account) Read {
	return Read{Query: "SELECT " + accountCols + accountFrom + " WHERE a.id = ? AND a.removed IS NULL", Args: []any{id},
		Row: func(rows *sql.Rows) (err error) { *dst, err = scanAccount(rows); return err }}
}

// ReadZone reads a live zone into *dst (left nil when there is none).
func ReadZone(id string, dst **Zone) Read {
	return Read{Query: "SELECT " + zoneCols + zoneFrom + " WHERE z.id = ? AND z.removed IS NULL", Args: []any{id},
		Row: func(rows *sql.Rows) (err error) { *dst, err = scanZone(rows); return err }}
}

// ReadServiceOffering reads a live service offering into *dst (left nil when there is none).
func ReadServiceOffering(id string, dst **ServiceOffering) Read {
	return Read{Query: "SELECT " + serviceOfferingCols + " FROM service_offerings WHERE id = ? AND removed IS NULL", Args: []any{id},
		Row: func(rows *sql.Rows) (err error) { *dst, err = scanServiceOffering(rows); return err }}
}

// ReadNetwork reads a live network into *dst (left nil when there is none).
func ReadNetwork(id string, dst **Network) Read {
	return Read{Query: "SELECT " + networkCols + networkFrom + " WHERE n.id = ? AND n.removed IS NULL", Args: []any{id},
		Row: func(rows *sql.Rows) (err error) { *dst, err = scanNetwork(rows); return err }}
}

// ReadTemplateInZone reads a live template into *dst and whether a ready copy of it is in the
// zone (GetTemplateInZone without the built-in Simulator template's fallback: *ready false for
// it means "ask GetTemplateInZone").
func ReadTemplateInZone(id, zoneID string, dst **Template, ready *bool) Read {
	return Read{Query: "SELECT " + templateCols + templateReadyCol + " FROM templates t WHERE t.id = ? AND t.removed IS NULL",
		Args: []any{DownloadDone, zoneID, zoneID, id},
		Row: func(rows *sql.Rows) error {
			var n int
			t, err := scanTemplate(extraScan{rows, []any{&n}})
			*dst, *ready = t, n > 0
			return err
		}}
}
