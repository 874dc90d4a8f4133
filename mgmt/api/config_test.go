package api_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/google/uuid"
)

func configNamed(t *testing.T, res map[string]any, name string) map[string]any {
	t.Helper()
	for _, c := range items(res, "configuration") {
		if c["name"] == name {
			return c
		}
	}
	t.Fatalf("no configuration %s in %v", name, res)
	return nil
}

// settingsState renders every stored setting value and the number of events, to prove a
// refused update changed nothing.
func settingsState(t *testing.T, e *mgmttest.Env) string {
	t.Helper()
	rows, err := e.Server.DB.SQL.QueryContext(t.Context(), "SELECT name, scope, scope_id, COALESCE(value, '<nil>') FROM configuration_values ORDER BY name, scope, scope_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var n, s, id, v string
		if err := rows.Scan(&n, &s, &id, &v); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s=%s\n", n, s, id, v)
	}
	var events int
	if err := e.Server.DB.SQL.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM events").Scan(&events); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "events %d", events)
	return b.String()
}

func TestListConfigurations(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	res := mgmttest.Do(t, a, "listConfigurations", nil)
	all := items(res, "configuration")
	if len(all) != len(config.Catalogue) || int(res["count"].(float64)) != len(config.Catalogue) {
		t.Fatalf("listed %d of %d settings", len(all), len(config.Catalogue))
	}
	if !sort.SliceIsSorted(all, func(i, j int) bool { return all[i]["name"].(string) < all[j]["name"].(string) }) {
		t.Fatalf("not sorted by name")
	}
	pi := configNamed(t, res, "ping.interval")
	want := map[string]any{"value": "60", "defaultvalue": "60", "category": "Advanced", "scope": "global", "isdynamic": true,
		"type": "Number", "component": "management-server"}
	for k, v := range want {
		if pi[k] != v {
			t.Errorf("ping.interval %s = %v, want %v", k, pi[k], v)
		}
	}
	if pi["description"] == "" || pi["id"] != nil {
		t.Errorf("ping.interval: %v", pi)
	}
	if c := configNamed(t, res, "ping.timeout"); c["type"] != "Decimal" {
		t.Errorf("float type: %v", c)
	}
	if c := configNamed(t, res, "use.system.public.ips"); c["type"] != "Boolean" {
		t.Errorf("boolean type: %v", c)
	}

	// name matches as a substring, as CloudStack's LIKE %name%; cs_configuration then picks
	// the exact name.
	if got := items(mgmttest.Do(t, a, "listConfigurations", map[string]string{"name": "ping."}), "configuration"); len(got) != 2 {
		t.Fatalf("name filter: %v", got)
	}
	if got := items(mgmttest.Do(t, a, "listConfigurations", map[string]string{"category": "alert"}), "configuration"); len(got) != 3 {
		t.Fatalf("category filter: %v", got)
	}
	if got := items(mgmttest.Do(t, a, "listConfigurations", map[string]string{"keyword": "overprovisioning"}), "configuration"); len(got) != 3 {
		t.Fatalf("keyword filter: %v", got)
	}
	page := mgmttest.Do(t, a, "listConfigurations", map[string]string{"page": "2", "pagesize": "5"})
	if len(items(page, "configuration")) != 5 || int(page["count"].(float64)) != len(config.Catalogue) || items(page, "configuration")[0]["name"] != all[5]["name"] {
		t.Fatalf("paging: %v", page)
	}
	if got := mgmttest.Do(t, a, "listConfigurations", map[string]string{"name": "no.such.setting"}); len(got) != 0 {
		t.Fatalf("empty list must be {}: %v", got)
	}

	// At a scope, only the settings that may be set there, with the scope and its object.
	_, acct := keyedAccount(t, e, "acct", defaultRole(t, e, iam.RoleUser), "")
	scoped := mgmttest.Do(t, a, "listConfigurations", map[string]string{"accountid": acct})
	for _, c := range items(scoped, "configuration") {
		if c["scope"] != "account" || c["id"] != nil { // CloudStack's id is a numeric one: left out
			t.Errorf("account scope: %v", c)
		}
	}
	mv := configNamed(t, scoped, "max.account.user.vms")
	if mv["value"] != "20" {
		t.Fatalf("inherited value: %v", mv)
	}
	for _, c := range items(scoped, "configuration") {
		if c["name"] == "ping.interval" {
			t.Fatalf("global-only setting listed at account scope")
		}
	}

	// Objects that do not exist (zones, clusters and pools do not exist at all yet).
	for param, what := range map[string]string{"zoneid": "zone", "clusterid": "cluster", "storageid": "storage pool", "accountid": "account", "domainid": "domain"} {
		id := uuid.NewString()
		text := mgmttest.Fail(t, a, "listConfigurations", map[string]string{param: id}, 431)
		if !strings.Contains(text, "Unable to find "+what+" by id "+id) {
			t.Errorf("%s: %s", param, text)
		}
	}
	mgmttest.Fail(t, a, "listConfigurations", map[string]string{"accountid": acct, "domainid": uuid.NewString()}, 431)
}

func TestUpdateConfiguration(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	up := mgmttest.Do(t, a, "updateConfiguration", map[string]string{"name": "ping.interval", "value": "30"})["configuration"].(map[string]any)
	if up["name"] != "ping.interval" || up["value"] != "30" || up["defaultvalue"] != "60" || up["scope"] != "global" || up["category"] != "Advanced" {
		t.Fatalf("updated: %v", up)
	}
	if v := configNamed(t, mgmttest.Do(t, a, "listConfigurations", map[string]string{"name": "ping.interval"}), "ping.interval"); v["value"] != "30" {
		t.Fatalf("listed after update: %v", v)
	}
	if v, err := e.Server.API.Config.Get(t.Context(), config.Global, "", "ping.interval"); err != nil || v != "30" {
		t.Fatalf("store sees %q %v", v, err)
	}
	ev := items(mgmttest.Do(t, a, "listEvents", map[string]string{"type": "CONFIGURATION.VALUE.EDIT"}), "event")
	if len(ev) != 1 || !strings.Contains(ev[0]["description"].(string), "ping.interval") || !strings.Contains(ev[0]["description"].(string), "30") {
		t.Fatalf("event: %v", ev)
	}

	// Booleans are stored lower-case, as CloudStack does, whatever case the client sends.
	if v := mgmttest.Do(t, a, "updateConfiguration", map[string]string{"name": "use.system.public.ips", "value": "False"})["configuration"].(map[string]any); v["value"] != "false" {
		t.Fatalf("boolean: %v", v)
	}
	// Without a value nothing changes.
	if v := mgmttest.Do(t, a, "updateConfiguration", map[string]string{"name": "ping.interval"})["configuration"].(map[string]any); v["value"] != "30" {
		t.Fatalf("no value: %v", v)
	}
	// An empty value resets to the default.
	if v := mgmttest.Do(t, a, "updateConfiguration", map[string]string{"name": "ping.interval", "value": ""})["configuration"].(map[string]any); v["value"] != "60" {
		t.Fatalf("reset: %v", v)
	}

	// Refusals change nothing and say why.
	before := settingsState(t, e)
	if text := mgmttest.Fail(t, a, "updateConfiguration", map[string]string{"name": "no.such.thing", "value": "1"}, 431); !strings.Contains(text, "no.such.thing") {
		t.Fatalf("unknown name: %s", text)
	}
	for name, bad := range map[string]string{"ping.interval": "soon", "ping.timeout": "2,5", "use.system.public.ips": "yes", "job.expire.minutes": "1.5"} {
		if text := mgmttest.Fail(t, a, "updateConfiguration", map[string]string{"name": name, "value": bad}, 431); !strings.Contains(text, name) {
			t.Errorf("%s=%s: %s", name, bad, text)
		}
	}
	_, acct := keyedAccount(t, e, "acct", defaultRole(t, e, iam.RoleUser), "")
	root := items(mgmttest.Do(t, a, "listDomains", nil), "domain")[0]["id"].(string)
	if text := mgmttest.Fail(t, a, "updateConfiguration", map[string]string{"name": "ping.interval", "value": "5", "accountid": acct}, 431); !strings.Contains(text, "scope") {
		t.Fatalf("unsupported scope: %s", text)
	}
	mgmttest.Fail(t, a, "updateConfiguration", map[string]string{"name": "ping.interval", "value": "5", "domainid": root}, 431)
	zone := uuid.NewString()
	if text := mgmttest.Fail(t, a, "updateConfiguration", map[string]string{"name": "use.system.public.ips", "value": "true", "zoneid": zone}, 431); text != "Unable to find zone by id "+zone {
		t.Fatalf("zone: %s", text)
	}
	mgmttest.Fail(t, a, "updateConfiguration", map[string]string{"name": "cpu.overprovisioning.factor", "value": "2", "clusterid": uuid.NewString()}, 431)
	mgmttest.Fail(t, a, "updateConfiguration", map[string]string{"name": "storage.overprovisioning.factor", "value": "2", "storageid": uuid.NewString()}, 431)
	mgmttest.Fail(t, a, "updateConfiguration", map[string]string{"name": "max.account.user.vms", "value": "2", "accountid": uuid.NewString()}, 431)
	mgmttest.Fail(t, a, "updateConfiguration", map[string]string{"name": "max.account.user.vms", "value": "2", "accountid": acct, "domainid": root}, 431)
	if settingsState(t, e) != before {
		t.Fatalf("a refused update changed the database")
	}

	// Scoped values override the global one only at their scope.
	v := mgmttest.Do(t, a, "updateConfiguration", map[string]string{"name": "max.account.user.vms", "value": "5", "accountid": acct})["configuration"].(map[string]any)
	if v["value"] != "5" || v["scope"] != "account" || v["id"] != nil {
		t.Fatalf("account-scoped: %v", v)
	}
	d := mgmttest.Do(t, a, "updateConfiguration", map[string]string{"name": "guest.domain.suffix", "value": "corp.internal", "domainid": root})["configuration"].(map[string]any)
	if d["value"] != "corp.internal" || d["scope"] != "domain" || d["id"] != nil {
		t.Fatalf("domain-scoped: %v", d)
	}
	if g := configNamed(t, mgmttest.Do(t, a, "listConfigurations", map[string]string{"name": "max.account.user.vms"}), "max.account.user.vms"); g["value"] != "20" {
		t.Fatalf("global after scoped update: %v", g)
	}
	// What cs_configuration does: list by name and scope (paged), compare, update.
	got := configNamed(t, mgmttest.Do(t, a, "listConfigurations", map[string]string{"name": "max.account.user.vms", "accountid": acct, "page": "1", "pagesize": "500"}), "max.account.user.vms")
	if got["value"] != "5" {
		t.Fatalf("scoped list: %v", got)
	}

	// Settings are the root admin's.
	user, _ := keyedAccount(t, e, "user", defaultRole(t, e, iam.RoleUser), "")
	dadmin, _ := keyedAccount(t, e, "dadmin", defaultRole(t, e, iam.RoleDomainAdmin), "")
	for _, c := range []struct {
		cmd string
		p   map[string]string
	}{{"listConfigurations", nil}, {"updateConfiguration", map[string]string{"name": "ping.interval", "value": "1"}}} {
		mgmttest.Fail(t, user, c.cmd, c.p, 432)
		mgmttest.Fail(t, dadmin, c.cmd, c.p, 432)
	}
}
