package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// topoTables are the tables the zone, pod, physical network and IP range commands change.
var topoTables = []string{"zones", "pods", "physical_networks", "traffic_types", "network_service_providers",
	"virtual_router_elements", "vlan_ranges", "public_ips", "vnet_allocations", "capacity", "events"}

// topoFingerprint hashes every row of topoTables (capacity without its update time).
func topoFingerprint(t *testing.T, e *mgmttest.Env) string {
	t.Helper()
	tables := make([]string, 0, len(topoTables))
	for _, table := range topoTables {
		if table == "capacity" {
			table = "SELECT capacity_type, object_id, zone_id, pod_id, cluster_id, used, reserved, total, enabled FROM capacity ORDER BY 1, 2"
		}
		tables = append(tables, table)
	}
	return dbtest.Fingerprint(t, e.Server.DB.SQL, tables...)
}

// topoRefuse runs a command that must fail synchronously with code, changing nothing, and
// returns the error text.
func topoRefuse(t *testing.T, e *mgmttest.Env, c *api.Client, cmd string, p map[string]string, code int) string {
	t.Helper()
	before := topoFingerprint(t, e)
	text := mgmttest.Fail(t, c, cmd, p, code)
	if topoFingerprint(t, e) != before {
		t.Fatalf("%s %v was refused (%s) but changed the database", cmd, p, text)
	}
	return text
}

// topoRefuseJob runs an async command whose job must fail with code, changing nothing, and
// returns the error text.
func topoRefuseJob(t *testing.T, e *mgmttest.Env, cmd string, p map[string]string, code int) string {
	t.Helper()
	before := topoFingerprint(t, e)
	res := mgmttest.Do(t, e.Admin, cmd, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := e.Admin.Wait(ctx, res["jobid"].(string))
	if err != nil {
		t.Fatalf("wait for %s: %v", cmd, err)
	}
	r, _ := j["jobresult"].(map[string]any)
	if j["jobstatus"].(float64) != 2 || fmt.Sprint(r["errorcode"]) != fmt.Sprint(code) {
		t.Fatalf("%s %v: want a failed job with code %d, got %v", cmd, p, code, j)
	}
	if topoFingerprint(t, e) != before {
		t.Fatalf("%s %v failed (%v) but changed the database", cmd, p, r["errortext"])
	}
	return fmt.Sprint(r["errortext"])
}

// obj returns res[key] as an object.
func topoObj(t *testing.T, res map[string]any, key string) map[string]any {
	t.Helper()
	m, ok := res[key].(map[string]any)
	if !ok {
		t.Fatalf("no %q object in %v", key, res)
	}
	return m
}

// items returns the list under key ([] for an empty answer).
func topoItems(t *testing.T, res map[string]any, key string) []map[string]any {
	t.Helper()
	if len(res) == 0 {
		return nil
	}
	l, ok := res[key].([]any)
	if !ok {
		t.Fatalf("no %q list in %v", key, res)
	}
	out := make([]map[string]any, len(l))
	for i, v := range l {
		out[i] = v.(map[string]any)
	}
	if n := res["count"].(float64); int(n) < len(out) {
		t.Fatalf("count %v below the %d items", n, len(out))
	}
	return out
}

// want fails unless m[k] equals v (compared as printed).
func topoWant(t *testing.T, what string, m map[string]any, kv ...any) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if got, ok := m[k]; !ok || fmt.Sprint(got) != fmt.Sprint(kv[i+1]) {
			t.Errorf("%s: %s = %v (present %t), want %v; object %v", what, k, got, ok, kv[i+1], m)
		}
	}
}

// sqlInt runs a single-value query.
func topoInt(t *testing.T, e *mgmttest.Env, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := e.Server.DB.SQL.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func topoExec(t *testing.T, e *mgmttest.Env, q string, args ...any) {
	t.Helper()
	if _, err := e.Server.DB.SQL.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// capTotal is a capacity row's total, or -1 without a row.
func topoCap(t *testing.T, e *mgmttest.Env, typ int, objectID string) int64 {
	t.Helper()
	if topoInt(t, e, "SELECT COUNT(*) FROM capacity WHERE capacity_type = ? AND object_id = ?", typ, objectID) == 0 {
		return -1
	}
	return topoInt(t, e, "SELECT total FROM capacity WHERE capacity_type = ? AND object_id = ?", typ, objectID)
}

func TestZoneCreateListUpdate(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	// No zones: exactly {} (Ansible's get_zone relies on it).
	if res := mgmttest.Do(t, a, "listZones", nil); len(res) != 0 {
		t.Fatalf("empty listZones: %v", res)
	}
	z := topoObj(t, mgmttest.Do(t, a, "createZone", map[string]string{"name": "z1", "networktype": "advanced", "dns1": "8.8.8.8",
		"dns2": "8.8.4.4", "internaldns1": "10.0.0.2", "ip6dns1": "2001:4860:4860::8888", "domain": "cloud.example",
		"localstorageenabled": "True"}), "zone")
	topoWant(t, "created zone", z, "name", "z1", "networktype", "Advanced", "allocationstate", "Disabled", "dns1", "8.8.8.8",
		"dns2", "8.8.4.4", "internaldns1", "10.0.0.2", "ip6dns1", "2001:4860:4860::8888", "domain", "cloud.example",
		"localstorageenabled", true, "securitygroupsenabled", false, "guestcidraddress", "10.1.1.0/24", "dhcpprovider", "VirtualRouter")
	for _, k := range []string{"id", "zonetoken"} {
		if z[k] == nil || z[k] == "" {
			t.Errorf("zone lacks %s: %v", k, z)
		}
	}
	for _, absent := range []string{"internaldns2", "ip6dns2", "domainid"} {
		if _, ok := z[absent]; ok {
			t.Errorf("zone has unset field %s: %v", absent, z)
		}
	}
	id := z["id"].(string)

	// Refusals name the parameter and change nothing.
	for _, tc := range []struct {
		p    map[string]string
		text string
	}{
		{map[string]string{"name": "Z1", "networktype": "Basic", "dns1": "8.8.8.8", "internaldns1": "8.8.8.8"}, "already exists"},
		{map[string]string{"name": "z2", "networktype": "Flat", "dns1": "8.8.8.8", "internaldns1": "8.8.8.8"}, "networktype"},
		{map[string]string{"name": "z2", "networktype": "Basic", "dns1": "8.8.8", "internaldns1": "8.8.8.8"}, "dns1"},
		{map[string]string{"name": "z2", "networktype": "Basic", "dns1": "8.8.8.8", "internaldns1": "8.8.8.8", "ip6dns1": "8.8.8.8"}, "ip6dns1"},
		{map[string]string{"name": "z2", "networktype": "Advanced", "dns1": "8.8.8.8", "internaldns1": "8.8.8.8", "guestcidraddress": "8.8.0.0/16"}, "guestcidraddress"},
		{map[string]string{"name": "z2", "networktype": "Advanced", "dns1": "8.8.8.8", "internaldns1": "8.8.8.8", "allocationstate": "Maybe"}, "allocationstate"},
		{map[string]string{"name": "z2", "networktype": "Advanced", "dns1": "8.8.8.8", "internaldns1": "8.8.8.8", "domain": "-bad-"}, "network domain"},
	} {
		text := topoRefuse(t, e, a, "createZone", tc.p, 431)
		if !strings.Contains(text, tc.text) {
			t.Errorf("createZone %v: error %q does not mention %q", tc.p, text, tc.text)
		}
	}

	// Lookups as the Ansible modules do them: by name (any case) and by id.
	if got := topoItems(t, mgmttest.Do(t, a, "listZones", map[string]string{"name": "Z1"}), "zone"); len(got) != 1 || got[0]["id"] != id {
		t.Fatalf("listZones name=Z1: %v", got)
	}
	if got := topoItems(t, mgmttest.Do(t, a, "listZones", map[string]string{"id": strings.ToUpper(id)}), "zone"); len(got) != 1 {
		t.Fatalf("listZones by upper-case id: %v", got)
	}
	if got := mgmttest.Do(t, a, "listZones", map[string]string{"networktype": "Basic"}); len(got) != 0 {
		t.Fatalf("listZones networktype=Basic: %v", got)
	}

	// Update, as cs_zone sends it: the same common args plus id.
	u := topoObj(t, mgmttest.Do(t, a, "updateZone", map[string]string{"id": id, "name": "z1-renamed", "dns1": "1.1.1.1", "dns2": "",
		"guestcidraddress": "10.20.0.0/16", "localstorageenabled": "false"}), "zone")
	topoWant(t, "updated zone", u, "name", "z1-renamed", "dns1", "1.1.1.1", "guestcidraddress", "10.20.0.0/16", "localstorageenabled", false)
	if _, ok := u["dns2"]; ok {
		t.Errorf("cleared dns2 still rendered: %v", u)
	}
	topoRefuse(t, e, a, "updateZone", map[string]string{"id": "00000000-0000-4000-8000-000000000000", "name": "x"}, 431)
	// Enabling needs Management traffic on a physical network.
	text := topoRefuse(t, e, a, "updateZone", map[string]string{"id": id, "allocationstate": "Enabled"}, 431)
	if !strings.Contains(text, "Management") {
		t.Errorf("enable without management traffic: %s", text)
	}
	if n := topoInt(t, e, "SELECT COUNT(*) FROM events WHERE type IN ('ZONE.CREATE', 'ZONE.EDIT') AND resource_id = ?", id); n != 2 {
		t.Errorf("zone events: %d, want 2", n)
	}
	mgmttest.Do(t, a, "deleteZone", map[string]string{"id": id})
	if got := mgmttest.Do(t, a, "listZones", nil); len(got) != 0 {
		t.Fatalf("after delete: %v", got)
	}
	topoRefuse(t, e, a, "deleteZone", map[string]string{"id": id}, 431)
	// The name is free again.
	mgmttest.Do(t, a, "createZone", map[string]string{"name": "z1-renamed", "networktype": "Basic", "dns1": "8.8.8.8", "internaldns1": "8.8.8.8"})
}

// TestZoneVisibility proves non-admins see only enabled zones that are public or dedicated to
// their domain, without the addresses inside the zone.
func TestZoneVisibility(t *testing.T) { testZoneVisibility(t, mgmttest.Start(t, mgmttest.Options{})) }

func TestZoneVisibilityMariaDB(t *testing.T) {
	testZoneVisibility(t, mgmttest.Start(t, mgmttest.Options{MySQL: true}))
}

func testZoneVisibility(t *testing.T, e *mgmttest.Env) {
	a := e.Admin
	sub := topoObj(t, mgmttest.Do(t, a, "createDomain", map[string]string{"name": "sub"}), "domain")["id"].(string)
	user, _ := tenant(t, e, "zuser", "0", "")
	subUser, _ := tenant(t, e, "zsubuser", "0", sub)
	basic := func(name, domainID string) string {
		p := map[string]string{"name": name, "networktype": "Basic", "dns1": "8.8.8.8", "internaldns1": "10.0.0.2", "allocationstate": "Enabled"}
		if domainID != "" {
			p["domainid"] = domainID
		}
		return topoObj(t, mgmttest.Do(t, a, "createZone", p), "zone")["id"].(string)
	}
	public, dedicated := basic("public", ""), basic("dedicated", sub)
	mgmttest.Do(t, a, "createZone", map[string]string{"name": "off", "networktype": "Basic", "dns1": "8.8.8.8", "internaldns1": "10.0.0.2"})
	if n := len(topoItems(t, mgmttest.Do(t, a, "listZones", nil), "zone")); n != 3 {
		t.Fatalf("admin sees %d zones, want 3", n)
	}
	got := topoItems(t, mgmttest.Do(t, user, "listZones", nil), "zone")
	if len(got) != 1 || got[0]["id"] != public {
		t.Fatalf("ROOT user sees %v, want only the public enabled zone", got)
	}
	if _, ok := got[0]["dns1"]; ok {
		t.Errorf("user view shows dns1: %v", got[0])
	}
	topoWant(t, "user zone", got[0], "networktype", "Basic", "securitygroupsenabled", true, "allocationstate", "Enabled")
	got = topoItems(t, mgmttest.Do(t, subUser, "listZones", nil), "zone")
	if len(got) != 2 {
		t.Fatalf("sub user sees %v, want the public and the dedicated zone", got)
	}
	d := topoItems(t, mgmttest.Do(t, subUser, "listZones", map[string]string{"id": dedicated}), "zone")[0]
	topoWant(t, "dedicated zone", d, "domainid", sub, "domainname", "sub")
	mgmttest.Fail(t, user, "createZone", map[string]string{"name": "x", "networktype": "Basic", "dns1": "8.8.8.8", "internaldns1": "8.8.8.8"}, 432)
	mgmttest.Fail(t, user, "listPods", nil, 432)
}
