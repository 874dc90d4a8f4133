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
		for _, prefix := range []string{"g1", "f", "g2", "h"} {
			orphans, err := db.OrphanedHosts(ctx, d.Read(), prefix, 0)
			if want := map[bool]int{true: 1, false: 0}[prefix == "g1"]; err != nil || len(orphans) != want {
				t.Fatalf("orphaned with guid prefix %q: %v %d, want %d", prefix, err, len(orphans), want)
			}
		}
		if err := db.RemoveHost(ctx, d.SQL, "h1", got.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetHostByGUID(ctx, d.SQL, "g1"); err != db.ErrNotFound {
			t.Fatalf("removed host still found by guid: %v", err)
		}
	})
}

// Heartbeats of many hosts go in one statement; the hosts the server no longer holds are named.
func TestHostPingsBatch(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		d := dbtest.Open(t, url, true)
		ctx := t.Context()
		add := func(id, owner, status string, bound bool) {
			h := &db.Host{ID: id, Name: id, GUID: "guid-" + id, Type: db.HostTypeRouting, HypervisorType: "Simulator", Status: status,
				ResourceState: db.HostResourceEnabled, Owner: owner, Disconnected: 5, Created: 1}
			if bound {
				h.ZoneID = "z"
			}
			if err := db.InsertHost(ctx, d.SQL, h); err != nil {
				t.Fatal(err)
			}
		}
		add("a", "s1", db.HostStatusUp, true)
		add("b", "s1", db.HostStatusAlert, true)
		add("c", "s2", db.HostStatusUp, true)
		add("u", "s1", db.HostStatusConnecting, false)
		if lost, err := db.HostPings(ctx, d.SQL, []string{"a", "b", "u"}, "s1", 1000); err != nil || len(lost) != 0 {
			t.Fatalf("pings of held hosts: lost %v, %v", lost, err)
		}
		for id, want := range map[string]string{"a": db.HostStatusUp, "b": db.HostStatusUp, "u": db.HostStatusConnecting} {
			h, _ := db.GetHost(ctx, d.SQL, id)
			if h.Status != want || h.LastPing != 1000 {
				t.Fatalf("host %s after a batched ping: %s, last ping %d", id, h.Status, h.LastPing)
			}
			if id == "b" && (h.Version != 1 || h.Disconnected != 0) {
				t.Fatalf("host b back Up: version %d, disconnected %d", h.Version, h.Disconnected)
			}
			if id == "a" && h.Version != 0 {
				t.Fatalf("an Up host's ping bumped its version: %d", h.Version)
			}
		}
		lost, err := db.HostPings(ctx, d.SQL, []string{"a", "c", "gone"}, "s1", 2000)
		if err != nil || len(lost) != 2 || lost[0] != "c" || lost[1] != "gone" {
			t.Fatalf("pings with hosts another server holds: lost %v, %v", lost, err)
		}
		if c, _ := db.GetHost(ctx, d.SQL, "c"); c.LastPing != 0 {
			t.Fatalf("a ping through s1 touched s2's host: %+v", c)
		}
		if a, _ := db.GetHost(ctx, d.SQL, "a"); a.LastPing != 2000 {
			t.Fatalf("host a's ping was lost: %+v", a)
		}
	})
}

// A token is used once; only the agent that used it (same guid, same key) may use it again,
// and only while it is valid.
func TestHostTokenRetry(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		d := dbtest.Open(t, url, true)
		ctx := t.Context()
		if err := db.InsertHostToken(ctx, d.SQL, &db.HostToken{Hash: "t1", ClusterID: "c", Expires: 10000, Created: 1}); err != nil {
			t.Fatal(err)
		}
		tok, err := db.UseHostToken(ctx, d.SQL, "t1", "agent-1", "key-1", 1000)
		if err != nil || tok.ClusterID != "c" || tok.Used != 1000 {
			t.Fatalf("first use: %+v %v", tok, err)
		}
		if tok, err = db.UseHostToken(ctx, d.SQL, "t1", "agent-1", "key-1", 2000); err != nil || tok.Used != 1000 || tok.ClusterID != "c" {
			t.Fatalf("the same agent's retry: %+v %v", tok, err)
		}
		for _, c := range []struct{ guid, key string }{{"agent-2", "key-1"}, {"agent-1", "key-2"}, {"agent-2", "key-2"}} {
			if _, err := db.UseHostToken(ctx, d.SQL, "t1", c.guid, c.key, 2000); err != db.ErrTokenInvalid {
				t.Fatalf("a used token taken by %s with %s: %v", c.guid, c.key, err)
			}
		}
		if _, err := db.UseHostToken(ctx, d.SQL, "t1", "agent-1", "key-1", 10000); err != db.ErrTokenInvalid {
			t.Fatalf("an expired token's retry: %v", err)
		}
		if _, err := db.UseHostToken(ctx, d.SQL, "nope", "agent-1", "key-1", 1000); err != db.ErrTokenInvalid {
			t.Fatalf("an unknown token: %v", err)
		}
	})
}
