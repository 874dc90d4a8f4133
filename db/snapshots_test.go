package db_test

import (
	"errors"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
)

// Snapshot policies: one live policy per volume and interval, due ones found by next run, and
// a run marked only once (the version check two schedulers race on).
func TestSnapshotPolicyRows(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		d := dbtest.Open(t, url, true)
		ctx := t.Context()
		p := &db.SnapshotPolicy{ID: "p1", VolumeID: "v1", AccountID: "a1", DomainID: "d1", IntervalType: 1, Schedule: "30:02", Timezone: "UTC",
			MaxSnaps: 3, ForDisplay: true, Active: true, NextRun: 1000, Created: 1}
		if err := db.InsertSnapshotPolicy(ctx, d.SQL, p); err != nil {
			t.Fatal(err)
		}
		dup := *p
		dup.ID = "p2"
		if err := db.InsertSnapshotPolicy(ctx, d.SQL, &dup); !db.IsDuplicate(err) {
			t.Fatalf("a second daily policy on one volume: %v", err)
		}
		dup.IntervalType = 0
		if err := db.InsertSnapshotPolicy(ctx, d.SQL, &dup); err != nil {
			t.Fatalf("an hourly policy beside the daily one: %v", err)
		}
		due, err := db.DueSnapshotPolicies(ctx, d.SQL, 999, 10)
		if err != nil || len(due) != 0 {
			t.Fatalf("due before their time: %v %v", due, err)
		}
		due, err = db.DueSnapshotPolicies(ctx, d.SQL, 1000, 10)
		if err != nil || len(due) != 2 {
			t.Fatalf("due: %v %v", due, err)
		}
		got, err := db.GetSnapshotPolicyFor(ctx, d.SQL, "v1", 1)
		if err != nil || got.ID != "p1" {
			t.Fatalf("policy for v1 daily: %v %v", got, err)
		}
		if err := db.MarkSnapshotPolicyRun(ctx, d.SQL, got, 1000, 5000, "j1"); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkSnapshotPolicyRun(ctx, d.SQL, got, 1000, 5000, "j2"); !errors.Is(err, db.ErrConflict) {
			t.Fatalf("a run marked twice: %v", err)
		}
		got, _ = db.GetSnapshotPolicy(ctx, d.SQL, "p1")
		if got.NextRun != 5000 || got.LastRun != 1000 || got.LastJobID != "j1" {
			t.Fatalf("after the run: %+v", got)
		}
		if err := db.RemoveVolumeSnapshotPolicies(ctx, d.SQL, "v1"); err != nil {
			t.Fatal(err)
		}
		if list, n, err := db.ListSnapshotPolicies(ctx, d.SQL, db.SnapshotPolicyFilter{VolumeID: "v1"}); err != nil || n != 0 || len(list) != 0 {
			t.Fatalf("policies of a removed volume: %v %d %v", list, n, err)
		}
		// Removed policies free their slot.
		p.ID = "p3"
		if err := db.InsertSnapshotPolicy(ctx, d.SQL, p); err != nil {
			t.Fatalf("a new daily policy after removal: %v", err)
		}
	})
}

// Snapshots: filters, oldest-first order for pruning, removal with copies, usage.
func TestSnapshotRows(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		d := dbtest.Open(t, url, true)
		ctx := t.Context()
		for i, id := range []string{"s1", "s2", "s3"} {
			s := &db.Snapshot{ID: id, Name: "snap-" + id, AccountID: "a1", DomainID: "d1", ZoneID: "z1", VolumeID: "v1", VolumeType: "ROOT",
				SnapshotType: db.SnapshotRecurring, IntervalType: "DAILY", Size: 100, State: db.SnapshotBackedUp, Created: int64(10 + i)}
			if id == "s3" {
				s.SnapshotType, s.IntervalType, s.PhysicalSize = db.SnapshotManual, "", 40
			}
			if err := db.InsertSnapshot(ctx, d.SQL, s); err != nil {
				t.Fatal(err)
			}
			if err := db.InsertSnapshotStoreRef(ctx, d.SQL, &db.SnapshotStoreRef{ID: "r" + id, SnapshotID: id, StoreID: "store1", StoreRole: "Image",
				InstallPath: "snapshots/v1/" + id, Size: 100, State: "Ready", Created: 1}); err != nil {
				t.Fatal(err)
			}
		}
		list, n, err := db.ListSnapshots(ctx, d.SQL, db.SnapshotFilter{VolumeID: "v1", SnapshotType: "recurring", IntervalType: "daily", OldestFirst: true})
		if err != nil || n != 2 || list[0].ID != "s1" || list[1].ID != "s2" || list[0].StoreID != "store1" {
			t.Fatalf("recurring daily, oldest first: %v %d %v", list, n, err)
		}
		list, _, _ = db.ListSnapshots(ctx, d.SQL, db.SnapshotFilter{StoreID: "store1"})
		if len(list) != 3 || list[0].ID != "s3" {
			t.Fatalf("on store1, newest first: %v", list)
		}
		u, err := db.AccountSnapshotUsage(ctx, d.SQL, "a1")
		if err != nil || u.Count != 3 || u.Bytes != 240 {
			t.Fatalf("usage: %+v %v", u, err)
		}
		s1, _ := db.GetSnapshot(ctx, d.SQL, "s1")
		if err := db.RemoveSnapshot(ctx, d.SQL, "s1", s1.Version+1); !errors.Is(err, db.ErrConflict) {
			t.Fatalf("remove with a stale version: %v", err)
		}
		if err := db.RemoveSnapshot(ctx, d.SQL, "s1", s1.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetSnapshot(ctx, d.SQL, "s1"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("removed snapshot found: %v", err)
		}
		if n, _ := db.CountStoreSnapshots(ctx, d.SQL, "store1"); n != 2 {
			t.Fatalf("copies on store1 after removing one snapshot: %d", n)
		}
		if refs, _ := db.ListSnapshotStoreRefs(ctx, d.SQL, "s1"); len(refs) != 0 {
			t.Fatalf("a removed snapshot's copies: %v", refs)
		}
	})
}
