package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

func TestSnapshotPolicies(t *testing.T) {
	testSnapshotPolicies(t, mgmttest.Start(t, mgmttest.Options{}))
}

func TestSnapshotPoliciesMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	testSnapshotPolicies(t, mgmttest.Start(t, mgmttest.Options{MySQL: true}))
}

func testSnapshotPolicies(t *testing.T, e *mgmttest.Env) {
	v := newVolEnv(t, e)
	vm := v.vm(t, db.VMStopped)
	roots := items(mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"virtualmachineid": vm.ID, "type": "ROOT"}), "volume")
	if len(roots) != 1 {
		t.Fatalf("ROOT: %v", roots)
	}
	root := roots[0]["id"].(string)
	p := func(kv ...string) map[string]string {
		m := map[string]string{"volumeid": root, "intervaltype": "daily", "schedule": "30:02", "timezone": "UTC", "maxsnaps": "2"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, bad := range []map[string]string{
		p("intervaltype", "yearly"), p("schedule", "61:02"), p("schedule", "30"), p("intervaltype", "weekly", "schedule", "0:1:8"),
		p("intervaltype", "monthly", "schedule", "0:1:29"), p("timezone", "Mars/Olympus"), p("maxsnaps", "0"), p("maxsnaps", "9"),
	} {
		v.refuse(t, v.alice, "createSnapshotPolicy", bad, 431)
	}
	v.refuse(t, v.bob, "createSnapshotPolicy", p(), 531)
	alloc := volOf(mgmttest.DoAsync(t, v.alice, "createVolume", map[string]string{"name": "a", "zoneid": v.zone, "diskofferingid": v.fixed}))
	v.refuse(t, v.alice, "createSnapshotPolicy", p("volumeid", alloc["id"].(string)), 431)

	// Create, then "create" again with another schedule (cs_snapshot_policy's update): one policy.
	pol := mgmttest.Do(t, v.alice, "createSnapshotPolicy", p())["snapshotpolicy"].(map[string]any)
	if pol["intervaltype"] != float64(1) || pol["schedule"] != "30:02" || pol["timezone"] != "UTC" || pol["maxsnaps"] != float64(2) {
		t.Fatalf("createSnapshotPolicy: %v", pol)
	}
	id := pol["id"].(string)
	again := mgmttest.Do(t, v.alice, "createSnapshotPolicy", p("id", id, "schedule", "45:03", "timezone", "Europe/Berlin"))["snapshotpolicy"].(map[string]any)
	if again["id"] != id || again["schedule"] != "45:03" || again["timezone"] != "Europe/Berlin" {
		t.Fatalf("second createSnapshotPolicy: %v", again)
	}
	hourly := mgmttest.Do(t, v.alice, "createSnapshotPolicy", p("intervaltype", "HOURLY", "schedule", "15"))["snapshotpolicy"].(map[string]any)
	res := mgmttest.Do(t, v.alice, "listSnapshotPolicies", map[string]string{"volumeid": root})
	if l := items(res, "snapshotpolicy"); len(l) != 2 || res["count"] != float64(2) {
		t.Fatalf("listSnapshotPolicies: %v", res)
	}
	if l := items(mgmttest.Do(t, v.bob, "listSnapshotPolicies", map[string]string{"volumeid": root}), "snapshotpolicy"); len(l) != 0 {
		t.Fatalf("bob lists alice's policies: %v", l)
	}
	upd := mgmttest.DoAsync(t, v.alice, "updateSnapshotPolicy", map[string]string{"id": id, "fordisplay": "false"})["snapshotpolicy"].(map[string]any)
	if upd["fordisplay"] != false {
		t.Fatalf("updateSnapshotPolicy: %v", upd)
	}
	next := func() int64 {
		pp, err := db.GetSnapshotPolicy(context.Background(), e.Server.DB.Read(), id)
		if err != nil {
			t.Fatal(err)
		}
		return pp.NextRun
	}
	if n := next(); n <= db.Now() || n > db.Now()+24*3600*1000 {
		t.Fatalf("a daily policy's next run is %v", time.UnixMilli(n))
	}

	// The scheduler: make the daily policy due three times; each run takes a recurring
	// snapshot, and maxsnaps 2 keeps the newest two.
	recurring := func() []map[string]any {
		return items(mgmttest.Do(t, v.alice, "listSnapshots", map[string]string{"volumeid": root, "snapshottype": "RECURRING",
			"intervaltype": "DAILY"}), "snapshot")
	}
	var seen []string
	for run := 1; run <= 3; run++ {
		if _, err := e.Server.DB.SQL.Exec("UPDATE snapshot_policies SET next_run = 1 WHERE id = ?", id); err != nil {
			t.Fatal(err)
		}
		e.Server.Snapshots.Step(context.Background())
		deadline := time.Now().Add(20 * time.Second)
		for {
			l := recurring()
			done := 0
			for _, s := range l {
				if s["state"] == "BackedUp" {
					done++
				}
			}
			if want := min(run, 2); done == want && len(l) == want && next() > db.Now() {
				seen = append(seen, l[0]["id"].(string)) // newest first
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: recurring snapshots %v", run, l)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	l := recurring()
	if len(l) != 2 || l[0]["id"] != seen[2] || l[1]["id"] != seen[1] {
		t.Fatalf("after three runs with maxsnaps 2: %v (taken %v)", l, seen)
	}
	if c := v.count(t, db.ResSnapshot); c != 2 {
		t.Fatalf("snapshot count %d", c)
	}
	if !e.Server.Snapshots.Leader() {
		t.Fatal("the only server is not the scheduler's leader")
	}

	v.refuse(t, v.alice, "deleteSnapshotPolicies", map[string]string{}, 431)
	v.refuse(t, v.bob, "deleteSnapshotPolicies", map[string]string{"id": id}, 531)
	mgmttest.Do(t, v.alice, "deleteSnapshotPolicies", map[string]string{"ids": id + "," + hourly["id"].(string)})
	if l := items(mgmttest.Do(t, v.alice, "listSnapshotPolicies", map[string]string{"volumeid": root}), "snapshotpolicy"); len(l) != 0 {
		t.Fatalf("policies after delete: %v", l)
	}
}

// Two management servers on one database: one scheduler leader; when it stops the other
// takes over and fires due policies.
func TestSnapshotSchedulerTakeover(t *testing.T) {
	a := mgmttest.Start(t, mgmttest.Options{Lease: 2 * time.Second})
	b := mgmttest.Start(t, mgmttest.Options{DBURL: a.DBURL, KeyFile: a.Key, Lease: 2 * time.Second})
	deadline := time.Now().Add(10 * time.Second)
	for !(a.Server.Snapshots.Leader() || b.Server.Snapshots.Leader()) {
		if time.Now().After(deadline) {
			t.Fatal("no scheduler leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a.Server.Snapshots.Leader() && b.Server.Snapshots.Leader() {
		t.Fatal("two scheduler leaders")
	}
	leader, other := a, b
	if b.Server.Snapshots.Leader() {
		leader, other = b, a
	}
	// A policy, made due once the leader is gone: the other server fires it.
	v := newVolEnv(t, b) // b started last: its admin keys are the current ones
	vm := v.vm(t, db.VMStopped)
	root := items(mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"virtualmachineid": vm.ID}), "volume")[0]["id"].(string)
	pol := mgmttest.Do(t, v.alice, "createSnapshotPolicy", map[string]string{"volumeid": root, "intervaltype": "daily", "schedule": "0:3",
		"timezone": "UTC", "maxsnaps": "2"})["snapshotpolicy"].(map[string]any)["id"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leader.Server.Shutdown(ctx)
	if _, err := other.Server.DB.SQL.Exec("UPDATE snapshot_policies SET next_run = 1 WHERE id = ?", pol); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(8 * time.Second)
	for {
		p, err := db.GetSnapshotPolicy(context.Background(), other.Server.DB.Read(), pol)
		if err != nil {
			t.Fatal(err)
		}
		if other.Server.Snapshots.Leader() && p.LastJobID != "" && p.NextRun > db.Now() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other server did not take the scheduler over and fire the due policy: leader %v, policy %+v",
				other.Server.Snapshots.Leader(), p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A policy whose volume was removed is dropped when it comes due; tags given to createSnapshot
// land on the snapshot.
func TestSnapshotPolicyOfRemovedVolume(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	v := newVolEnv(t, e)
	// An admin creates a volume for alice right on a pool (storageid): Ready at once.
	v.refuse(t, v.alice, "createVolume", map[string]string{"name": "d", "zoneid": v.zone, "diskofferingid": v.fixed, "storageid": v.pool}, 531)
	d := volOf(mgmttest.DoAsync(t, e.Admin, "createVolume", map[string]string{"name": "d", "zoneid": v.zone, "diskofferingid": v.fixed,
		"storageid": v.pool, "account": "valice", "domainid": v.aliceDom}))
	if d["state"] != "Ready" || d["storageid"] != v.pool || d["account"] != "valice" {
		t.Fatalf("createVolume on a pool for alice: %v", d)
	}
	vm := v.vm(t, db.VMStopped)
	root := items(mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"virtualmachineid": vm.ID}), "volume")[0]["id"].(string)
	s := mgmttest.DoAsync(t, v.alice, "createSnapshot", map[string]string{"volumeid": root, "tags[0].key": "env", "tags[0].value": "prod"})["snapshot"].(map[string]any)
	if tags, _ := s["tags"].([]any); len(tags) != 1 || tags[0].(map[string]any)["key"] != "env" {
		t.Fatalf("createSnapshot with tags: %v", s)
	}
	if l := items(mgmttest.Do(t, v.alice, "listSnapshots", map[string]string{"tags[0].key": "env", "tags[0].value": "prod"}), "snapshot"); len(l) != 1 {
		t.Fatalf("listSnapshots by tag: %v", l)
	}
	pol := mgmttest.Do(t, v.alice, "createSnapshotPolicy", map[string]string{"volumeid": root, "intervaltype": "hourly", "schedule": "5",
		"timezone": "UTC", "maxsnaps": "1"})["snapshotpolicy"].(map[string]any)
	// The VM is expunged with its ROOT volume (as the VM code does it: the row is removed).
	if _, err := e.Server.DB.SQL.Exec("UPDATE volumes SET removed = ?, state = 'Expunged' WHERE id = ?", db.Now(), root); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Server.DB.SQL.Exec("UPDATE snapshot_policies SET next_run = 1 WHERE id = ?", pol["id"]); err != nil {
		t.Fatal(err)
	}
	e.Server.Snapshots.Step(context.Background())
	if _, err := db.GetSnapshotPolicy(context.Background(), e.Server.DB.Read(), pol["id"].(string)); err != db.ErrNotFound {
		t.Fatalf("the policy of a removed volume is still there: %v", err)
	}
	if l := items(mgmttest.Do(t, v.alice, "listSnapshots", map[string]string{"id": s["id"].(string)}), "snapshot"); len(l) != 1 || l[0]["revertable"] != false {
		t.Fatalf("a removed volume's snapshot: %v", l)
	}
}
