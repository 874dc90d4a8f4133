package snapshots_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/snapshots"
)

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time                                          { return time.UnixMilli(c.t.Load()) }
func (c *clock) add(d time.Duration)                                     { c.t.Add(d.Milliseconds()) }
func newClock(t time.Time) *clock                                        { c := &clock{}; c.t.Store(t.UnixMilli()); return c }
func quiet() *slog.Logger                                                { return slog.New(slog.DiscardHandler) }
func noFire(context.Context, *db.SnapshotPolicy, time.Time, int64) error { return nil }

// One leader at a time; a leader that stops renewing (crashed) is replaced once its lease
// lapses, not before; a leader that stops cleanly hands over at once.
func TestSchedulerLease(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		d := dbtest.Open(t, url, true)
		ctx := t.Context()
		clk := newClock(time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC))
		mk := func(owner string) *snapshots.Scheduler {
			s := snapshots.New(d, owner, noFire, quiet())
			s.Lease, s.Now = 3*time.Second, clk.now
			return s
		}
		a, b := mk("a"), mk("b")
		a.Step(ctx)
		b.Step(ctx)
		if !a.Leader() || b.Leader() {
			t.Fatalf("first step: a leader %v, b leader %v", a.Leader(), b.Leader())
		}
		clk.add(2 * time.Second)
		a.Step(ctx) // renews
		clk.add(2 * time.Second)
		b.Step(ctx)
		if b.Leader() {
			t.Fatal("b took a lease a renewed 2 s ago (3 s lease)")
		}
		// a crashes: no more steps. After the lease lapses, b takes over.
		clk.add(3100 * time.Millisecond)
		b.Step(ctx)
		if !b.Leader() {
			t.Fatal("b did not take over a lapsed lease")
		}
		a.Step(ctx)
		if a.Leader() {
			t.Fatal("a came back and took the lease b holds")
		}
		if owner, _, _ := db.LeaseHolder(ctx, d.SQL, snapshots.LeaseName); owner != "b" {
			t.Fatalf("lease owner %q", owner)
		}
		// b stops cleanly (Run releases): a takes over at once.
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { b.Run(rctx); close(done) }()
		time.Sleep(50 * time.Millisecond)
		cancel()
		<-done
		a.Step(ctx)
		if !a.Leader() {
			t.Fatal("a did not take over a released lease at once")
		}
	})
}

// Many servers race for a lapsed lease: exactly one wins.
func TestSchedulerLeaseRace(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		d := dbtest.Open(t, url, true)
		ctx := t.Context()
		for round := 0; round < 5; round++ {
			now := int64(1_000_000 + round*10_000)
			var wins atomic.Int32
			done := make(chan struct{})
			for i := 0; i < 8; i++ {
				go func(i int) {
					defer func() { done <- struct{}{} }()
					ok, err := db.AcquireLease(ctx, d.SQL, "race", string(rune('a'+i))+"x", now, now+5000)
					if err != nil {
						t.Error(err)
					}
					if ok {
						wins.Add(1)
					}
				}(i)
			}
			for i := 0; i < 8; i++ {
				<-done
			}
			if wins.Load() != 1 {
				t.Fatalf("round %d: %d winners", round, wins.Load())
			}
		}
	})
}
