package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

func limitsByType(t *testing.T, res map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, l := range items(res, "resourcelimit") {
		if _, bad := l["limit"]; bad {
			t.Errorf("a resourcelimit has a limit key (cs_resourcelimit breaks on it): %v", l)
		}
		out[l["resourcetypename"].(string)] = l
	}
	return out
}

func countsByType(t *testing.T, res map[string]any) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, c := range items(res, "resourcecount") {
		out[c["resourcetypename"].(string)] = c["resourcecount"].(float64)
	}
	return out
}

// listResourceLimits and updateResourceLimit as CloudStack (and cs_resourcelimit) use them:
// defaults from max.account.* / max.domain.*, storage in GiB, root admins and ROOT unlimited,
// explicit limits per account and domain, a domain bounded by its parent, and CloudStack's
// refusals, none of which changes anything.
func TestResourceLimits(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	sub := mgmttest.Do(t, e.Admin, "createDomain", map[string]string{"name": "sub"})["domain"].(map[string]any)["id"].(string)
	alice, aliceIDs := tenant(t, e, "alice", "0", sub)
	subadmin, _ := tenant(t, e, "subadmin", "2", sub)

	own := limitsByType(t, mgmttest.Do(t, alice, "listResourceLimits", nil))
	for typ, want := range map[string]float64{"user_vm": 20, "public_ip": 20, "volume": 20, "snapshot": 20, "template": 20, "network": 20,
		"vpc": 20, "cpu": 40, "memory": 40960, "primary_storage": 200, "secondary_storage": 400} {
		if l := own[typ]; l == nil || l["max"].(float64) != want || l["account"] != "alice" || l["domainid"] != sub {
			t.Errorf("alice's %s limit: %v, want max %v", typ, l, want)
		}
	}
	if len(own) != 12 || own["user_vm"]["resourcetype"] != "0" || own["secondary_storage"]["resourcetype"] != "11" {
		t.Errorf("limits %v", own)
	}
	// A tenant naming another domain still gets its own limits.
	if l := limitsByType(t, mgmttest.Do(t, alice, "listResourceLimits", map[string]string{"domainid": sub, "resourcetype": "8"})); len(l) != 1 || l["cpu"]["account"] != "alice" {
		t.Errorf("alice with domainid: %v", l)
	}
	admin := limitsByType(t, mgmttest.Do(t, e.Admin, "listResourceLimits", map[string]string{"resourcetype": "0"}))
	if admin["user_vm"]["max"].(float64) != -1 || len(admin) != 1 {
		t.Errorf("root admin's limits: %v", admin)
	}
	dom := limitsByType(t, mgmttest.Do(t, e.Admin, "listResourceLimits", map[string]string{"domainid": sub}))
	if dom["user_vm"]["max"].(float64) != 40 || dom["secondary_storage"]["max"].(float64) != 800 || dom["cpu"]["account"] != nil {
		t.Errorf("sub's limits: %v", dom)
	}
	root := limitsByType(t, mgmttest.Do(t, e.Admin, "listResourceLimits", map[string]string{"domainid": rootDomainID(t, e), "resourcetypename": "cpu"}))
	if root["cpu"]["max"].(float64) != -1 {
		t.Errorf("ROOT's limits: %v", root)
	}

	// What cs_resourcelimit sends: account, domainid, resourcetype, max.
	up := mgmttest.Do(t, e.Admin, "updateResourceLimit", map[string]string{"account": "alice", "domainid": sub, "resourcetype": "10", "max": "50"})["resourcelimit"].(map[string]any)
	if up["max"].(float64) != 50 || up["resourcetype"] != "10" || up["account"] != "alice" {
		t.Errorf("updated %v", up)
	}
	if l := limitsByType(t, mgmttest.Do(t, e.Admin, "listResourceLimits", map[string]string{"account": "alice", "domainid": sub, "resourcetype": "10"})); l["primary_storage"]["max"].(float64) != 50 {
		t.Errorf("after update: %v", l)
	}
	if l := limitsByType(t, mgmttest.Do(t, alice, "listResourceLimits", map[string]string{"resourcetype": "10"})); l["primary_storage"]["max"].(float64) != 50 {
		t.Errorf("alice after update: %v", l)
	}
	mgmttest.Do(t, e.Admin, "updateResourceLimit", map[string]string{"domainid": sub, "resourcetype": "8", "max": "10"})
	mgmttest.Do(t, e.Admin, "updateResourceLimit", map[string]string{"account": "alice", "domainid": sub, "resourcetype": "7"}) // no max: unlimited
	if l := limitsByType(t, mgmttest.Do(t, alice, "listResourceLimits", map[string]string{"resourcetype": "7"})); l["vpc"]["max"].(float64) != -1 {
		t.Errorf("vpc without max: %v", l)
	}
	child := mgmttest.Do(t, e.Admin, "createDomain", map[string]string{"name": "child", "parentdomainid": sub})["domain"].(map[string]any)["id"].(string)
	if l := limitsByType(t, mgmttest.Do(t, e.Admin, "listResourceLimits", map[string]string{"domainid": child, "resourcetype": "8"})); l["cpu"]["max"].(float64) != 10 {
		t.Errorf("child inherits its parent's explicit limit: %v", l)
	}

	before := dbtest.Fingerprint(t, e.Server.DB.SQL, "resource_limits", "resource_counts", "events")
	for _, c := range []struct {
		params map[string]string
		code   int
		want   string
	}{
		{map[string]string{"account": "alice", "domainid": sub, "resourcetype": "0", "max": "-2"}, 431, "at least '0'"},
		{map[string]string{"account": "alice", "domainid": sub, "resourcetype": "12", "max": "1"}, 431, "valid resource type"},
		{map[string]string{"resourcetype": "0", "max": "1"}, 431, "AccountId or domainId have to be specified"},
		{map[string]string{"account": "alice", "resourcetype": "0", "max": "1"}, 431, "Account must be specified with domainId"},
		{map[string]string{"account": "nobody", "domainid": sub, "resourcetype": "0", "max": "1"}, 431, "Unable to find account"},
		{map[string]string{"account": "admin", "domainid": rootDomainID(t, e), "resourcetype": "0", "max": "5"}, 431, "Only -1 limit is supported for Root Admin"},
		{map[string]string{"domainid": rootDomainID(t, e), "resourcetype": "0", "max": "5"}, 531, "ROOT domain"},
		{map[string]string{"domainid": child, "resourcetype": "8", "max": "20"}, 431, "please specify a value less than or equal to 10"},
		{map[string]string{"domainid": child, "resourcetype": "8", "max": "-1"}, 431, "please specify a value less than or equal to 10"},
		{map[string]string{"domainid": sub, "resourcetype": "0", "max": "1", "projectid": "00000000-0000-4000-8000-000000000000"}, 431, "project"},
	} {
		if text := mgmttest.Fail(t, e.Admin, "updateResourceLimit", c.params, c.code); !strings.Contains(text, c.want) {
			t.Errorf("updateResourceLimit %v: %q, want %q", c.params, text, c.want)
		}
	}
	mgmttest.Fail(t, alice, "updateResourceLimit", map[string]string{"account": "alice", "domainid": sub, "resourcetype": "0", "max": "100"}, 432)
	if text := mgmttest.Fail(t, subadmin, "updateResourceLimit", map[string]string{"domainid": sub, "resourcetype": "0", "max": "100"}, 531); !strings.Contains(text, "permission denied") {
		t.Errorf("subadmin on its own domain: %s", text)
	}
	if text := mgmttest.Fail(t, subadmin, "updateResourceLimit", map[string]string{"account": "subadmin", "domainid": sub, "resourcetype": "0", "max": "100"}, 531); !strings.Contains(text, "own account") {
		t.Errorf("subadmin on its own account: %s", text)
	}
	if dbtest.Fingerprint(t, e.Server.DB.SQL, "resource_limits", "resource_counts", "events") != before {
		t.Error("a refused updateResourceLimit changed the database")
	}
	// A domain admin sets limits below it.
	mgmttest.Do(t, subadmin, "updateResourceLimit", map[string]string{"account": "alice", "domainid": sub, "resourcetype": "0", "max": "3"})
	mgmttest.Do(t, subadmin, "updateResourceLimit", map[string]string{"domainid": child, "resourcetype": "8", "max": "4"})
	_ = aliceIDs
}

func rootDomainID(t *testing.T, e *mgmttest.Env) string {
	t.Helper()
	for _, d := range items(mgmttest.Do(t, e.Admin, "listDomains", map[string]string{"name": "ROOT"}), "domain") {
		return d["id"].(string)
	}
	t.Fatal("no ROOT domain")
	return ""
}

// A creator that charges (registerTemplate) is refused with CloudStack's 532 past the
// account's limit and changes nothing; updateResourceCount recomputes counts from the real
// rows (repairing a corrupted count) for an account, a domain and ROOT.
func TestResourceLimitReachedAndRecount(t *testing.T) { resourceLimitReached(t, mgmttest.Options{}) }

func TestResourceLimitReachedAndRecountMariaDB(t *testing.T) {
	resourceLimitReached(t, mgmttest.Options{MySQL: true})
}

func resourceLimitReached(t *testing.T, o mgmttest.Options) {
	e := mgmttest.Start(t, o)
	zoneID := tplZone(t, e, "z1", "Simulator")
	sub := mgmttest.Do(t, e.Admin, "createDomain", map[string]string{"name": "sub"})["domain"].(map[string]any)["id"].(string)
	alice, aliceIDs := tenant(t, e, "alice", "0", sub)
	mgmttest.Do(t, e.Admin, "updateResourceLimit", map[string]string{"account": "alice", "domainid": sub, "resourcetype": "4", "max": "1"})
	reg := func(name string) map[string]string {
		return map[string]string{"name": name, "displaytext": name, "format": "QCOW2", "hypervisor": "Simulator", "zoneid": zoneID,
			"url": "http://example.org/" + name + ".qcow2", "ispublic": "false"}
	}
	tpl := items(mgmttest.Do(t, alice, "registerTemplate", reg("one")), "template")[0]
	tplWait(t, alice, tpl["id"].(string), zoneID)
	before := tplState(t, e) + dbtest.Fingerprint(t, e.Server.DB.SQL, "resource_counts")
	text := mgmttest.Fail(t, alice, "registerTemplate", reg("two"), 532)
	if want := "Maximum amount of resources of Type = 'template', tag = 'null' for Account Name = alice in Domain Id = " + sub +
		" is exceeded: Account Resource Limit = 1, Current Account Resource Amount = 1, Current Account Resource Reservation = 0, Requested Resource Amount = 1."; text != want {
		t.Errorf("limit reached:\n got %s\nwant %s", text, want)
	}
	if tplState(t, e)+dbtest.Fingerprint(t, e.Server.DB.SQL, "resource_counts") != before {
		t.Error("a template refused for its limit changed the database")
	}

	counted := countsByType(t, mgmttest.Do(t, alice, "updateResourceCount", map[string]string{"domainid": sub}))
	if counted["template"] != 1 || counted["secondary_storage"] <= 0 || counted["user_vm"] != 0 {
		t.Fatalf("alice's recount: %v", counted)
	}
	// Corrupt the stored counts; the recount restores what the rows say.
	if _, err := e.Server.DB.SQL.Exec("UPDATE resource_counts SET count_value = 7 WHERE owner_id = ? AND resource_type IN ('template','secondary_storage')", aliceIDs[0]); err != nil {
		t.Fatal(err)
	}
	again := countsByType(t, mgmttest.Do(t, e.Admin, "updateResourceCount", map[string]string{"domainid": sub, "account": "alice", "resourcetype": "4"}))
	if len(again) != 1 || again["template"] != 1 {
		t.Errorf("recount of template: %v", again)
	}
	dom := countsByType(t, mgmttest.Do(t, e.Admin, "updateResourceCount", map[string]string{"domainid": sub}))
	if dom["template"] != 1 || dom["secondary_storage"] != counted["secondary_storage"] {
		t.Errorf("sub's recount: %v (alice %v)", dom, counted)
	}
	root := countsByType(t, mgmttest.Do(t, e.Admin, "updateResourceCount", map[string]string{"domainid": rootDomainID(t, e)}))
	if root["template"] < 1 || root["secondary_storage"] < counted["secondary_storage"] {
		t.Errorf("ROOT's recount: %v", root)
	}
	// After deleting the template, alice may register again.
	mgmttest.DoAsync(t, alice, "deleteTemplate", map[string]string{"id": tpl["id"].(string)})
	mgmttest.Do(t, alice, "registerTemplate", reg("three"))
	// Tenants recount only themselves.
	mgmttest.Fail(t, alice, "updateResourceCount", map[string]string{"domainid": rootDomainID(t, e)}, 531)
	mgmttest.Fail(t, alice, "updateResourceCount", map[string]string{"domainid": sub, "resourcetype": "99"}, 431)
}

// storedCounts reads an account's stored counts.
func storedCounts(t *testing.T, e *mgmttest.Env, accountID string) map[string]int64 {
	t.Helper()
	m, err := db.ResourceCounts(context.Background(), e.Server.DB.Read(), db.OwnerAccount, accountID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// recountAgrees runs updateResourceCount for an account and checks every type it reports
// equals what the creators had charged: the counting queries and the charges agree.
func recountAgrees(t *testing.T, e *mgmttest.Env, accountID, account, domainID string) map[string]int64 {
	t.Helper()
	before := storedCounts(t, e, accountID)
	got := countsByType(t, mgmttest.Do(t, e.Admin, "updateResourceCount", map[string]string{"domainid": domainID, "account": account}))
	for typ, n := range got {
		if int64(n) != before[typ] {
			t.Errorf("%s: charged %d, recounted %v", typ, before[typ], n)
		}
	}
	return before
}

// VMs deployed by H4's deployVirtualMachine are charged and limited: past the account's
// instance limit the deploy job fails with 532 and leaves nothing; updateResourceCount from
// the real rows agrees with the charges before and after a destroy.
func TestLimitsWithVMs(t *testing.T) {
	v := newVMEnv(t, false)
	root := rootDomainID(t, v.Env)
	mgmttest.Do(t, v.Admin, "updateResourceLimit", map[string]string{"account": "vmuser", "domainid": root, "resourcetype": "0", "max": "2"})
	var ids []string
	for i := 0; i < 2; i++ {
		ids = append(ids, v.deploy(t, v.tenant, map[string]string{"networkids": v.network})["id"].(string))
	}
	c := recountAgrees(t, v.Env, v.accountID, "vmuser", root)
	if c[db.ResUserVM] != 2 || c[db.ResCPU] != 2 || c[db.ResMemory] != 2048 || c[db.ResVolume] != 2 || c[db.ResPrimaryStorage] <= 0 || c[db.ResPublicIP] != 1 {
		t.Errorf("counts after 2 deploys: %v", c)
	}
	before := v.vmFingerprint(t)
	text := mgmttest.Fail(t, v.tenant, "deployVirtualMachine", map[string]string{"serviceofferingid": v.offering,
		"templateid": db.SimulatorTemplateID, "zoneid": v.zoneID, "networkids": v.network}, 532)
	if !strings.Contains(text, "Type = 'user_vm'") || !strings.Contains(text, "Account Resource Limit = 2") {
		t.Errorf("third deploy: %s", text)
	}
	if v.vmFingerprint(t) != before {
		t.Error("a deploy refused for its limit changed the database")
	}
	mgmttest.DoAsync(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": ids[0], "expunge": "true"})
	c = recountAgrees(t, v.Env, v.accountID, "vmuser", root)
	if c[db.ResUserVM] != 1 || c[db.ResCPU] != 1 || c[db.ResVolume] != 1 {
		t.Errorf("counts after a destroy: %v", c)
	}
	v.deploy(t, v.tenant, map[string]string{"networkids": v.network})
	recountAgrees(t, v.Env, v.accountID, "vmuser", root)

	// listServiceOfferings virtualmachineid: the offerings the VM could change to (not its own).
	offers := byName(t, mgmttest.Do(t, v.tenant, "listServiceOfferings", map[string]string{"virtualmachineid": ids[1]}), "serviceoffering")
	if offers["vm-test"] != nil || offers["Small Instance"] == nil {
		t.Errorf("offerings for the VM: %v", keys(offers))
	}
	other, _ := tenant(t, v.Env, "other", "0", "")
	mgmttest.Fail(t, other, "listServiceOfferings", map[string]string{"virtualmachineid": ids[1]}, 431)
	// listDiskOfferings volumeid: not the volume's own offering.
	vols := items(mgmttest.Do(t, v.tenant, "listVolumes", map[string]string{"virtualmachineid": ids[1]}), "volume")
	if len(vols) == 0 {
		t.Fatal("the VM has no volume")
	}
	mgmttest.Do(t, v.tenant, "listDiskOfferings", map[string]string{"volumeid": vols[0]["id"].(string)})
	mgmttest.Fail(t, other, "listDiskOfferings", map[string]string{"volumeid": vols[0]["id"].(string)}, 431)
}
