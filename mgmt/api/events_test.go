package api_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/google/uuid"
)

// addEvent records an event as the user behind client c, created at the given time.
func addEvent(t *testing.T, e *mgmttest.Env, c *api.Client, ev db.Event) string {
	t.Helper()
	ctx := context.Background()
	u, err := db.GetUserByAPIKey(ctx, e.Server.DB.Read(), c.Key)
	if err != nil {
		t.Fatal(err)
	}
	ev.ID, ev.UserID, ev.AccountID, ev.DomainID = uuid.NewString(), u.ID, u.AccountID, u.DomainID
	if ev.Level == "" {
		ev.Level = "INFO"
	}
	if ev.State == "" {
		ev.State = "Completed"
	}
	if ev.Created == 0 {
		ev.Created = db.Now()
	}
	if err := e.Server.DB.Transaction(ctx, func(tx db.Tx) error { return db.InsertEvent(ctx, tx, &ev) }); err != nil {
		t.Fatal(err)
	}
	return ev.ID
}

// eventTypes lists the types of the events a call returns, sorted.
func eventTypes(t *testing.T, c *api.Client, p map[string]string) []string {
	t.Helper()
	var out []string
	for _, ev := range items(mgmttest.Do(t, c, "listEvents", p), "event") {
		out = append(out, ev["type"].(string))
	}
	sort.Strings(out)
	return out
}

func TestListEvents(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	eng := mgmttest.Do(t, a, "createDomain", map[string]string{"name": "eng"})["domain"].(map[string]any)["id"].(string)
	u1, _ := keyedAccount(t, e, "u1", defaultRole(t, e, iam.RoleUser), "")
	u2, _ := keyedAccount(t, e, "u2", defaultRole(t, e, iam.RoleUser), eng)
	dadmin, _ := keyedAccount(t, e, "dadmin", defaultRole(t, e, iam.RoleDomainAdmin), eng)
	vm := uuid.NewString()
	u1ev := addEvent(t, e, u1, db.Event{Type: "VM.CREATE", Description: "Creating vm web1", ResourceType: "VirtualMachine", ResourceID: vm})
	addEvent(t, e, u1, db.Event{Type: "VM.OLD", Description: "long ago", Created: time.Date(2020, 6, 1, 12, 0, 0, 0, time.UTC).UnixMilli()})
	addEvent(t, e, u2, db.Event{Type: "VM.START", Level: "WARN", Description: "Starting vm db1"})
	addEvent(t, e, dadmin, db.Event{Type: "NETWORK.CREATE", Description: "Creating network"})

	// A user sees its own events only, whatever it asks.
	got := items(mgmttest.Do(t, u1, "listEvents", nil), "event")
	if len(got) != 2 {
		t.Fatalf("u1 events: %v", got)
	}
	var ev map[string]any
	for _, g := range got {
		if g["type"] == "VM.CREATE" {
			ev = g
		}
	}
	want := map[string]any{"id": u1ev, "type": "VM.CREATE", "level": "INFO", "state": "Completed", "description": "Creating vm web1",
		"username": "u1", "account": "u1", "domain": "ROOT", "domainpath": "ROOT", "resourceid": vm, "resourcetype": "VirtualMachine"}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("event %s = %v, want %v", k, ev[k], v)
		}
	}
	if _, err := time.Parse("2006-01-02T15:04:05-0700", ev["created"].(string)); err != nil || ev["domainid"] == nil {
		t.Errorf("event created/domainid: %v", ev)
	}
	if got := eventTypes(t, u1, map[string]string{"listall": "true"}); strings.Join(got, ",") != "VM.CREATE,VM.OLD" {
		t.Fatalf("u1 listall: %v", got)
	}
	mgmttest.Fail(t, u1, "listEvents", map[string]string{"domainid": eng}, 531)
	mgmttest.Fail(t, u1, "listEvents", map[string]string{"domainid": eng, "account": "u2"}, 531)
	if got := mgmttest.Do(t, u2, "listEvents", map[string]string{"id": u1ev}); len(got) != 0 {
		t.Fatalf("u2 sees u1's event by id: %v", got)
	}

	// An admin sees its own without listall, everything with it, or the account or domain it names.
	if got := eventTypes(t, a, nil); strings.Join(got, ",") != "DOMAIN.CREATE" {
		t.Fatalf("admin without listall: %v", got)
	}
	if got := eventTypes(t, a, map[string]string{"listall": "true"}); strings.Join(got, ",") != "DOMAIN.CREATE,NETWORK.CREATE,VM.CREATE,VM.OLD,VM.START" {
		t.Fatalf("admin listall: %v", got)
	}
	if got := eventTypes(t, a, map[string]string{"account": "u2", "domainid": eng}); strings.Join(got, ",") != "VM.START" {
		t.Fatalf("admin by account: %v", got)
	}
	if got := eventTypes(t, a, map[string]string{"domainid": eng}); strings.Join(got, ",") != "NETWORK.CREATE,VM.START" {
		t.Fatalf("admin by domain: %v", got)
	}
	if got := eventTypes(t, a, map[string]string{"id": u1ev}); strings.Join(got, ",") != "VM.CREATE" {
		t.Fatalf("admin by id: %v", got)
	}
	// A domain admin sees its subtree.
	if got := eventTypes(t, dadmin, map[string]string{"listall": "true"}); strings.Join(got, ",") != "NETWORK.CREATE,VM.START" {
		t.Fatalf("domain admin listall: %v", got)
	}
	if got := eventTypes(t, dadmin, nil); strings.Join(got, ",") != "NETWORK.CREATE" {
		t.Fatalf("domain admin own: %v", got)
	}
	mgmttest.Fail(t, dadmin, "listEvents", map[string]string{"account": "u1"}, 431) // no u1 in its own domain

	// Filters.
	all := map[string]string{"listall": "true"}
	with := func(kv ...string) map[string]string {
		p := map[string]string{}
		for k, v := range all {
			p[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	for _, c := range []struct {
		p    map[string]string
		want string
	}{
		{with("type", "VM.START"), "VM.START"},
		{with("level", "warn"), "VM.START"},
		{with("keyword", "VM DB1"), "VM.START"}, // case-insensitive, as MySQL's LIKE
		{with("keyword", "nowhere"), ""},
		{with("keyword", "vm db1"), "VM.START"},
		{with("keyword", "network"), "NETWORK.CREATE"},
		{with("resourceid", vm, "resourcetype", "virtualmachine"), "VM.CREATE"},
		{with("startdate", "2020-06-01", "enddate", "2020-06-02"), "VM.OLD"},
		{with("enddate", "2021-01-01 00:00:00"), "VM.OLD"},
		{with("startdate", "2021-01-01"), "DOMAIN.CREATE,NETWORK.CREATE,VM.CREATE,VM.START"},
		{with("state", "completed", "type", "VM.OLD"), "VM.OLD"},
		{with("archived", "true"), ""},
	} {
		if got := strings.Join(eventTypes(t, a, c.p), ","); got != c.want {
			t.Errorf("listEvents %v: %s, want %s", c.p, got, c.want)
		}
	}
	page := mgmttest.Do(t, a, "listEvents", with("page", "2", "pagesize", "2"))
	if page["count"].(float64) != 5 || len(items(page, "event")) != 2 {
		t.Fatalf("paging: %v", page)
	}
}

// TestPendingEvents: with entrytime and duration, CloudStack lists the events started between
// entrytime and duration seconds ago that have not completed.
func TestPendingEvents(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	u, _ := keyedAccount(t, e, "u", defaultRole(t, e, iam.RoleUser), "")
	now := time.Now()
	ago := func(s int) int64 { return now.Add(-time.Duration(s) * time.Second).UnixMilli() }
	stuck := addEvent(t, e, u, db.Event{Type: "VM.START", State: "Started", JobID: uuid.NewString(), Description: "stuck", Created: ago(30)})
	done := uuid.NewString()
	addEvent(t, e, u, db.Event{Type: "VM.STOP", State: "Started", JobID: done, Description: "stopping", Created: ago(40)})
	addEvent(t, e, u, db.Event{Type: "VM.STOP", State: "Completed", JobID: done, Description: "stopped", Created: ago(35)})
	addEvent(t, e, u, db.Event{Type: "VM.REBOOT", State: "Started", JobID: uuid.NewString(), Description: "fresh", Created: ago(2)})
	addEvent(t, e, u, db.Event{Type: "VM.DESTROY", State: "Started", JobID: uuid.NewString(), Description: "old", Created: ago(600)})

	got := items(mgmttest.Do(t, u, "listEvents", map[string]string{"entrytime": "60", "duration": "10"}), "event")
	if len(got) != 1 || got[0]["id"] != stuck {
		t.Fatalf("pending events: %v", got)
	}
	mgmttest.Fail(t, u, "listEvents", map[string]string{"entrytime": "10", "duration": "10"}, 431)
	// Either alone is not a pending query.
	if n := mgmttest.Do(t, u, "listEvents", map[string]string{"duration": "10"})["count"].(float64); n != 5 {
		t.Fatalf("duration alone: %v", n)
	}
}
