package snapshots

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/atollcloud/atoll/db"
)

// LeaseName is the lease row the snapshot scheduler runs under.
const LeaseName = "snapshot-scheduler"

// FireFunc takes a due policy's snapshot: in one transaction it must move the policy on with
// db.MarkSnapshotPolicyRun(p, ran, next, jobID) (whose version check makes a second firing of
// the same run fail with db.ErrConflict) and create the snapshot and its job. A policy whose
// volume can no longer be snapshotted is just moved on.
type FireFunc func(ctx context.Context, p *db.SnapshotPolicy, ran time.Time, next int64) error

// Scheduler fires due snapshot policies while this server holds the scheduler lease.
type Scheduler struct {
	DB    *db.DB
	Owner string        // this management server's id
	Lease time.Duration // how long the lease lasts without renewal
	Poll  time.Duration // how often the leader looks for due policies (and renews)
	Fire  FireFunc
	Log   *slog.Logger
	// Now is the clock (tests move it).
	Now func() time.Time

	leader atomic.Bool
}

// New returns a scheduler with a 30 s lease polled every 5 s.
func New(d *db.DB, owner string, fire FireFunc, log *slog.Logger) *Scheduler {
	return &Scheduler{DB: d, Owner: owner, Lease: 30 * time.Second, Poll: 5 * time.Second, Fire: fire,
		Log: log.With("component", "snapshot-scheduler"), Now: time.Now}
}

// Leader reports whether this server held the lease at its last attempt.
func (s *Scheduler) Leader() bool { return s.leader.Load() }

// Run tries for the lease every poll; while it holds it, it fires due policies. When ctx ends
// it releases the lease so that another server takes over at once.
func (s *Scheduler) Run(ctx context.Context) {
	poll := s.Poll
	if poll <= 0 || poll > s.Lease/3 {
		poll = s.Lease / 3
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		s.Step(ctx)
		select {
		case <-ctx.Done():
			if s.leader.Swap(false) {
				rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := db.ReleaseLease(rctx, s.DB.SQL, LeaseName, s.Owner); err != nil {
					s.Log.Warn("release scheduler lease", "err", err)
				}
				cancel()
			}
			return
		case <-t.C:
		}
	}
}

// Step takes or renews the lease and, if held, fires what is due. It returns how many
// policies it fired.
func (s *Scheduler) Step(ctx context.Context) int {
	now := s.Now()
	held, err := db.AcquireLease(ctx, s.DB.SQL, LeaseName, s.Owner, now.UnixMilli(), now.Add(s.Lease).UnixMilli())
	if err != nil {
		if ctx.Err() == nil {
			s.Log.Error("take scheduler lease", "err", err)
		}
		s.leader.Store(false)
		return 0
	}
	if was := s.leader.Swap(held); was != held {
		s.Log.Info("snapshot scheduler leadership", "leader", held)
	}
	if !held {
		return 0
	}
	n, err := s.Tick(ctx, now)
	if err != nil && ctx.Err() == nil {
		s.Log.Error("fire snapshot policies", "err", err)
	}
	return n
}

// Tick fires every policy due at now (in batches), moving each to its next run after now:
// runs missed while no server held the lease are taken once, not once per missed slot.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) (int, error) {
	fired := 0
	for ctx.Err() == nil {
		due, err := db.DueSnapshotPolicies(ctx, s.DB.Read(), now.UnixMilli(), 100)
		if err != nil {
			return fired, err
		}
		progress := false
		for _, p := range due {
			next := NextRun(p, now)
			err := s.Fire(ctx, p, now, next)
			switch {
			case err == nil:
				fired++
				progress = true
			case errors.Is(err, db.ErrConflict):
				progress = true // another server (an old leader) fired this run already
			default:
				s.Log.Error("fire snapshot policy", "policy", p.ID, "volume", p.VolumeID, "err", err)
			}
		}
		if len(due) < 100 || !progress {
			return fired, nil
		}
	}
	return fired, ctx.Err()
}

// NextRun is a policy's first run after now; a policy whose schedule or timezone no longer
// parses gets a day's pause instead of a busy loop.
func NextRun(p *db.SnapshotPolicy, now time.Time) int64 {
	sc, err := ParseSchedule(p.IntervalType, p.Schedule)
	if err != nil {
		return now.Add(24 * time.Hour).UnixMilli()
	}
	loc, err := LoadTimezone(p.Timezone)
	if err != nil {
		return now.Add(24 * time.Hour).UnixMilli()
	}
	return sc.Next(now, loc).UnixMilli()
}
