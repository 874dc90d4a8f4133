package db_test

import (
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
)

// The host heartbeat and connection updates are single conditional statements whose CASE
// arms must read the old row on both engines (MySQL assigns left to right).
func TestHostHeartbeatStatements(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		d := dbtest.Open(t, url, true)
		ctx := t.Context()
		h := &db.Host{ID: "h1", Name: "h1", GUID: "g1", Type: db.HostTypeRouting, ZoneID: "z", ClusterID: "c", HypervisorType: "Simulator",
			Status: db.HostStatusDisconnected, ResourceState: db.HostResourceEnabled, Owner: "s1", Disconnected: 123, Created: 1}
		if err := db.InsertHost(ctx, d.SQL, h); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertHost(ctx, d.SQL, &db.Host{ID: "h2", GUID: "g1", Type: db.HostTypeRouting, Status: "Up", ResourceState: "Enabled",
			HypervisorType: "KVM", Created: 1}); !db.IsDuplicate(err) {
			t.Fatalf("a second live host with one guid: %v", err)
		}
		if ok, err := db.HostPing(ctx, d.SQL, "h1", "s2", 1000); ok || err != nil {
			t.Fatalf("a ping through a server that does not own the host counted: %v %v", ok, err)
		}
		if ok, err := db.HostPing(ctx, d.SQL, "h1", "s1", 1000); !ok || err != nil {
			t.Fatalf("ping: %v %v", ok, err)
		}
		got, _ := db.GetHost(ctx, d.SQL, "h1")
		if got.Status != db.HostStatusUp || got.Disconnected != 0 || got.LastPing != 1000 || got.Version != 1 {
			t.Fatalf("after a ping from Disconnected: %+v", got)
		}
		db.HostPing(ctx, d.SQL, "h1", "s1", 2000)
		if got, _ = db.GetHost(ctx, d.SQL, "h1"); got.Version != 1 || got.LastPing != 2000 {
			t.Fatalf("a ping of an Up host must not bump its version: %+v", got)
		}
		if ok, _ := db.MarkHostDisconnected(ctx, d.SQL, "h1", "s1", 3000); !ok {
			t.Fatal("mark disconnected")
		}
		if err := db.ReleaseHosts(ctx, d.SQL, "s1", 4000); err != nil {
			t.Fatal(err)
		}
		got, _ = db.GetHost(ctx, d.SQL, "h1")
		if got.Status != db.HostStatusDisconnected || got.Disconnected != 3000 || got.Owner != "" {
			t.Fatalf("after disconnect and release: %+v", got)
		}
		orphans, err := db.OrphanedHosts(ctx, d.Read(), "g", 0)
		if err != nil || len(orphans) != 1 {
			t.Fatalf("orphaned: %v %d", err, len(orphans))
		}
		if err := db.RemoveHost(ctx, d.SQL, "h1", got.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetHostByGUID(ctx, d.SQL, "g1"); err != db.ErrNotFound {
			t.Fatalf("removed host still found by guid: %v", err)
		}
	})
}
