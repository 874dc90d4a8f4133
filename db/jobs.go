package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Job statuses, as queryAsyncJobResult reports them.
const (
	JobPending   = 0
	JobSucceeded = 1
	JobFailed    = 2
)

// Job is a durable async job. While pending it may be owned by one management server whose
// lease runs until LeaseUntil; once the lease lapses any server may claim it.
type Job struct {
	Seq                         int64
	ID, Cmd, Params             string
	UserID, AccountID, DomainID string
	InstanceType, InstanceID    string
	Status, ProcStatus          int
	ResultCode                  int
	ResultType, Result          string
	Owner                       string
	LeaseUntil                  int64
	Attempts                    int
	Created, Completed          int64
}

const jobCols = `seq, id, cmd, params, user_id, account_id, domain_id, instance_type, instance_id, status, proc_status, result_code,
	result_type, COALESCE(result,''), COALESCE(owner,''), lease_until, attempts, created, COALESCE(completed,0)`

func scanJob(s interface{ Scan(...any) error }) (*Job, error) {
	var j Job
	if err := s.Scan(&j.Seq, &j.ID, &j.Cmd, &j.Params, &j.UserID, &j.AccountID, &j.DomainID, &j.InstanceType, &j.InstanceID,
		&j.Status, &j.ProcStatus, &j.ResultCode, &j.ResultType, &j.Result, &j.Owner, &j.LeaseUntil, &j.Attempts, &j.Created, &j.Completed); err != nil {
		return nil, err
	}
	return &j, nil
}

// InsertJob writes a pending job; call it in the transaction that starts the state change.
// A job written with Owner set is claimed already (LeaseUntil, Attempts as ClaimJobs sets
// them): the server that enqueues it runs it at once, and another takes it over only when the
// lease lapses.
func InsertJob(ctx context.Context, q Querier, j *Job) error {
	j.ResultType = "object"
	var owner any
	if j.Owner != "" {
		owner = j.Owner
	}
	_, err := q.ExecContext(ctx, `INSERT INTO async_jobs (id, cmd, params, user_id, account_id, domain_id, instance_type, instance_id,
		status, proc_status, result_code, result_type, owner, lease_until, attempts, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 'object', ?, ?, ?, ?)`,
		j.ID, j.Cmd, j.Params, j.UserID, j.AccountID, j.DomainID, j.InstanceType, j.InstanceID, owner, j.LeaseUntil, j.Attempts, j.Created)
	if err != nil {
		return fmt.Errorf("db: insert job: %w", err)
	}
	return nil
}

// GetJob returns a job by id.
func GetJob(ctx context.Context, q Querier, id string) (*Job, error) {
	j, err := scanJob(q.QueryRowContext(ctx, "SELECT "+jobCols+" FROM async_jobs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get job: %w", err)
	}
	return j, nil
}

// ClaimJob takes a pending job whose lease has lapsed for owner, in a transaction of its own,
// unless another job of its object must go first: one pending with a lower seq, or one a server
// holds (live lease). It reports false if the job may not run now.
//
// On MySQL the object's pending jobs are read FOR UPDATE NOWAIT, so a claim never waits: if
// another transaction holds one of them (a server claiming or finishing a job of the object, or
// an insert not yet committed) the job is left for a later poll. That covers auto-increment's
// one trap: a job may take its seq before a later job of the same object and commit after it;
// the later job is not claimed while the earlier one is uncommitted, and the earlier one is not
// claimed while the later one is held. (Galera certifies only writes, not these locks, so there
// two nodes claiming two jobs of one object in the same instant are not excluded.)
func ClaimJob(ctx context.Context, d *DB, id, owner string, now, leaseUntil int64) (bool, error) {
	lock := ""
	if d.Dialect == MySQL {
		lock = " FOR UPDATE NOWAIT" // SQLite: BEGIN IMMEDIATE already holds the one write lock
	}
	var ok bool
	err := d.Transaction(ctx, func(tx Tx) error {
		ok = false
		var typ, inst string
		var seq int64
		err := tx.QueryRowContext(ctx, "SELECT instance_type, instance_id, seq FROM async_jobs WHERE id = ? AND status = 0", id).Scan(&typ, &inst, &seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("db: claim job: %w", err)
		}
		ahead, err := jobsAhead(ctx, tx, lock, typ, inst, id, seq, now)
		if lockBusy(err) {
			return nil
		}
		if err != nil || ahead {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE async_jobs SET owner = ?, lease_until = ?, attempts = attempts + 1
			WHERE id = ? AND status = 0 AND lease_until < ?`, owner, leaseUntil, id, now)
		if err != nil {
			return fmt.Errorf("db: claim job: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("db: claim job: %w", err)
		}
		ok = n == 1
		return nil
	})
	return ok, err
}

// claimableFrom selects, oldest first, the pending jobs whose lease has lapsed and that no
// other pending job of their object precedes or holds (arguments: now, now). The scan must
// walk async_jobs_claim (status, seq) and stop at the limit: left to themselves, SQLite picks
// (status, lease_until) and sorts every pending job, and MariaDB walks the primary key through
// every completed job, on each claim.
func (d *DB) claimableFrom() string {
	hint := " INDEXED BY async_jobs_claim"
	if d.Dialect == MySQL {
		hint = " FORCE INDEX (async_jobs_claim)"
	}
	return ` FROM async_jobs j` + hint + ` WHERE j.status = 0 AND j.lease_until < ?
	AND NOT EXISTS (SELECT 1 FROM async_jobs k WHERE k.instance_type = j.instance_type AND k.instance_id = j.instance_id
		AND k.status = 0 AND k.id <> j.id AND (k.seq < j.seq OR k.lease_until >= ?))
	ORDER BY j.seq`
}

// jobColsJ is jobCols on the table aliased j.
var jobColsJ = strings.ReplaceAll("j."+strings.ReplaceAll(jobCols, ", ", ", j."), "j.COALESCE(", "COALESCE(j.")

// ClaimJobs claims up to limit runnable jobs for owner in one transaction and returns them as
// claimed (owner, lease and attempts as written). It follows ClaimJob's rules for every job —
// the lease has lapsed, no pending job of its object has a lower seq or is held by a server —
// with a handful of statements for the whole batch instead of several per job:
//
//  1. the oldest claimable jobs, read whole. On MySQL they are locked FOR UPDATE SKIP LOCKED,
//     so servers claiming at the same moment take different jobs instead of colliding; the
//     async_jobs_claim index (status, seq) keeps the scan, and the locks, to the rows taken.
//  2. on MySQL, the pending jobs of their objects are locked FOR UPDATE NOWAIT, as ClaimJob
//     does: a job inserted but not yet committed (auto-increment's trap, see ClaimJob) or a job
//     another transaction is claiming or finishing makes its object busy, and that object's
//     job is left for a later poll (objects are then locked one by one to find which). On
//     SQLite, BEGIN IMMEDIATE holds the one write lock, so step 1 is already exact.
//  3. one conditional UPDATE of the runnable jobs, which this transaction has locked.
func ClaimJobs(ctx context.Context, d *DB, owner string, now, leaseUntil int64, limit int) ([]*Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	var claimed []*Job
	err := d.Transaction(ctx, func(tx Tx) error {
		claimed = nil
		lock := ""
		if d.Dialect == MySQL {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+jobColsJ+d.claimableFrom()+" LIMIT ?"+lock, now, now, limit)
		if err != nil {
			return fmt.Errorf("db: claim jobs: %w", err)
		}
		var cands []*Job
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("db: claim jobs: %w", err)
			}
			cands = append(cands, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("db: claim jobs: %w", err)
		}
		if d.Dialect == MySQL && len(cands) > 0 {
			if cands, err = runnable(ctx, tx, cands, now); err != nil {
				return err
			}
		}
		if len(cands) == 0 {
			return nil
		}
		args := []any{owner, leaseUntil}
		for _, j := range cands {
			args = append(args, j.ID)
		}
		args = append(args, now)
		res, err := tx.ExecContext(ctx, `UPDATE async_jobs SET owner = ?, lease_until = ?, attempts = attempts + 1
			WHERE id IN (`+placeholders(len(cands))+`) AND status = 0 AND lease_until < ?`, args...)
		if err != nil {
			return fmt.Errorf("db: claim jobs: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("db: claim jobs: %w", err)
		}
		if n != int64(len(cands)) {
			return ErrConflict // cannot happen with the rows locked; run the whole claim again
		}
		for _, j := range cands {
			j.Owner, j.LeaseUntil, j.Attempts = owner, leaseUntil, j.Attempts+1
		}
		claimed = cands
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// AnyClaimable reports whether some job is claimable now, with one plain read on the read
// pool: a server with nothing to do asks it before opening a claim transaction (on SQLite it
// thereby leaves the one write lock alone).
func AnyClaimable(ctx context.Context, d *DB, now int64) (bool, error) {
	var id string
	err := d.Read().QueryRowContext(ctx, "SELECT j.id"+d.claimableFrom()+" LIMIT 1", now, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("db: claimable jobs: %w", err)
	}
	return true, nil
}

// runnable locks the pending jobs of the candidates' objects (NOWAIT) and keeps the candidates
// that may run: their object is not busy and no other pending job of it comes first or is held.
func runnable(ctx context.Context, tx Tx, cands []*Job, now int64) ([]*Job, error) {
	type object struct{ typ, inst string }
	var objects []object
	seen := map[object]bool{}
	for _, j := range cands {
		o := object{j.InstanceType, j.InstanceID}
		if !seen[o] {
			seen[o] = true
			objects = append(objects, o)
		}
	}
	type peer struct {
		id         string
		seq, lease int64
		object     object
	}
	lockObjects := func(objs []object) ([]peer, error) {
		w := make([]string, len(objs))
		args := make([]any, 0, 2*len(objs))
		for i, o := range objs {
			w[i] = "(instance_type = ? AND instance_id = ?)"
			args = append(args, o.typ, o.inst)
		}
		rows, err := tx.QueryContext(ctx, "SELECT id, seq, lease_until, instance_type, instance_id FROM async_jobs WHERE status = 0 AND ("+
			strings.Join(w, " OR ")+") FOR UPDATE NOWAIT", args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []peer
		for rows.Next() {
			var p peer
			if err := rows.Scan(&p.id, &p.seq, &p.lease, &p.object.typ, &p.object.inst); err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, rows.Err()
	}
	busy := map[object]bool{}
	peers, err := lockObjects(objects)
	if lockBusy(err) {
		peers = nil
		for _, o := range objects {
			p, err := lockObjects([]object{o})
			if lockBusy(err) {
				busy[o] = true
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("db: claim jobs: lock object: %w", err)
			}
			peers = append(peers, p...)
		}
	} else if err != nil {
		return nil, fmt.Errorf("db: claim jobs: lock objects: %w", err)
	}
	blocked := map[string]bool{}
	for _, j := range cands {
		o := object{j.InstanceType, j.InstanceID}
		if busy[o] {
			blocked[j.ID] = true
			continue
		}
		for _, p := range peers {
			if p.object == o && p.id != j.ID && (p.seq < j.Seq || p.lease >= now) {
				blocked[j.ID] = true
				break
			}
		}
	}
	out := cands[:0]
	for _, j := range cands {
		if !blocked[j.ID] {
			out = append(out, j)
		}
	}
	return out, nil
}

// placeholders returns n comma-separated question marks.
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// jobsAhead reports whether another pending job of the object comes before job id or is held.
func jobsAhead(ctx context.Context, tx Tx, lock, typ, inst, id string, seq, now int64) (bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT id, seq, lease_until FROM async_jobs WHERE instance_type = ? AND instance_id = ? AND status = 0"+lock, typ, inst)
	if err != nil {
		return false, fmt.Errorf("db: claim job: lock object: %w", err)
	}
	defer rows.Close()
	ahead := false
	for rows.Next() {
		var other string
		var oseq, lease int64
		if err := rows.Scan(&other, &oseq, &lease); err != nil {
			return false, fmt.Errorf("db: claim job: %w", err)
		}
		if other != id && (oseq < seq || lease >= now) {
			ahead = true
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("db: claim job: lock object: %w", err)
	}
	return ahead, nil
}

// lockBusy reports whether a NOWAIT locking read found a row locked (MariaDB answers 1205,
// MySQL 8 3572).
func lockBusy(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1205 || me.Number == 3572)
}

// ReleaseJob hands a job its owner holds back, so that any server may claim it at once.
func ReleaseJob(ctx context.Context, q Querier, id, owner string) error {
	if _, err := q.ExecContext(ctx, "UPDATE async_jobs SET owner = NULL, lease_until = 0 WHERE id = ? AND owner = ? AND status = 0", id, owner); err != nil {
		return fmt.Errorf("db: release job: %w", err)
	}
	return nil
}

// ReleaseJobs hands back every pending job an owner holds (a server that stops cleanly).
func ReleaseJobs(ctx context.Context, q Querier, owner string) error {
	if _, err := q.ExecContext(ctx, "UPDATE async_jobs SET owner = NULL, lease_until = 0 WHERE owner = ? AND status = 0", owner); err != nil {
		return fmt.Errorf("db: release jobs: %w", err)
	}
	return nil
}

// RenewLeases extends the leases of the given pending jobs, if owner still holds them. A
// server renews only the jobs it is running, so a job it holds but no longer runs (its load or
// completion failed) lapses and is taken over instead of being held for ever.
func RenewLeases(ctx context.Context, q Querier, owner string, ids []string, leaseUntil int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{leaseUntil, owner}
	for _, id := range ids {
		args = append(args, id)
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
	if _, err := q.ExecContext(ctx, "UPDATE async_jobs SET lease_until = ? WHERE owner = ? AND status = 0 AND id IN ("+marks+")", args...); err != nil {
		return fmt.Errorf("db: renew leases: %w", err)
	}
	return nil
}

// CompleteJob records a job's outcome if the owner still holds it; it returns ErrConflict if
// the job was taken over (its result then belongs to the new owner).
func CompleteJob(ctx context.Context, q Querier, id, owner string, status, code int, result string, now int64) error {
	res, err := q.ExecContext(ctx, `UPDATE async_jobs SET status = ?, result_code = ?, result = ?, completed = ?, proc_status = 0
		WHERE id = ? AND owner = ? AND status = 0`, status, code, result, now, id, owner)
	if err != nil {
		return fmt.Errorf("db: complete job: %w", err)
	}
	return expectOne(res)
}

// JobFilter selects jobs for listAsyncJobs.
type JobFilter struct {
	ID            string
	StartDate     int64
	Scope         Scope
	Limit, Offset int
}

// ListJobs returns matching jobs, newest first, and the total before paging.
func ListJobs(ctx context.Context, q Querier, f JobFilter) ([]*Job, int, error) {
	from := " FROM async_jobs j JOIN domains d ON d.id = j.domain_id"
	w := []string{"1 = 1"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "j.id = ?"), append(args, f.ID)
	}
	if f.StartDate > 0 {
		w, args = append(w, "j.created >= ?"), append(args, f.StartDate)
	}
	w, args = f.Scope.apply(w, args, "j.account_id", "d.path")
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+from+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count jobs: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	cols := "j." + strings.ReplaceAll(jobCols, ", ", ", j.")
	cols = strings.ReplaceAll(cols, "j.COALESCE(", "COALESCE(j.")
	rows, err := q.QueryContext(ctx, "SELECT "+cols+from+" WHERE "+where+" ORDER BY j.seq DESC"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list jobs: %w", err)
	}
	out, err := scanAll(rows, "list jobs", scanJob)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}
