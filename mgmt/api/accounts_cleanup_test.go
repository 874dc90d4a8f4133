package api_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// liveOf counts what an account still holds, table by table.
func (v *vmEnv) liveOf(t *testing.T, accountID string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for what, q := range map[string]string{
		"vms":               "SELECT COUNT(*) FROM vm_instances WHERE account_id = ? AND removed IS NULL",
		"volumes":           "SELECT COUNT(*) FROM volumes WHERE account_id = ? AND removed IS NULL",
		"snapshots":         "SELECT COUNT(*) FROM snapshots WHERE account_id = ? AND removed IS NULL",
		"snapshot policies": "SELECT COUNT(*) FROM snapshot_policies WHERE account_id = ? AND removed IS NULL",
		"templates":         "SELECT COUNT(*) FROM templates WHERE account_id = ? AND removed IS NULL",
		"ssh key pairs":     "SELECT COUNT(*) FROM ssh_keypairs WHERE account_id = ?",
		"affinity groups":   "SELECT COUNT(*) FROM affinity_groups WHERE account_id = ? AND removed IS NULL",
		"networks":          "SELECT COUNT(*) FROM networks WHERE account_id = ? AND removed IS NULL",
		"tags":              "SELECT COUNT(*) FROM resource_tags WHERE account_id = ?",
		"limits":            "SELECT COUNT(*) FROM resource_limits WHERE owner_type = 'account' AND owner_id = ?",
		"counts":            "SELECT COUNT(*) FROM resource_counts WHERE owner_type = 'account' AND owner_id = ? AND count_value <> 0",
		"users":             "SELECT COUNT(*) FROM users WHERE account_id = ? AND removed IS NULL",
		"accounts":          "SELECT COUNT(*) FROM accounts WHERE id = ? AND removed IS NULL",
	} {
		var n int
		if err := v.Server.DB.SQL.QueryRow(q, accountID).Scan(&n); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		out[what] = n
	}
	var n int
	if err := v.Server.DB.SQL.QueryRow(`SELECT COUNT(*) FROM network_ips i WHERE NOT EXISTS (SELECT 1 FROM nics n
			WHERE n.network_id = i.network_id AND n.ip_address = i.address AND n.removed IS NULL)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	out["addresses held by no nic"] = n
	return out
}

// populate gives the tenant running and stopped VMs (tagged, in an anti-affinity group, with a
// key pair), a data volume (tagged), a snapshot, a snapshot policy and a limit.
func (v *vmEnv) populate(t *testing.T) {
	t.Helper()
	mgmttest.Do(t, v.tenant, "createSSHKeyPair", map[string]string{"name": "k1"})
	g := mgmttest.DoAsync(t, v.tenant, "createAffinityGroup", map[string]string{"name": "ag", "type": "host anti-affinity"})
	_ = g
	run := v.deploy(t, v.tenant, map[string]string{"networkids": v.network, "keypair": "k1", "affinitygroupnames": "ag"})
	v.deploy(t, v.tenant, map[string]string{"networkids": v.network, "startvm": "false"})
	mgmttest.DoAsync(t, v.tenant, "createTags", map[string]string{"resourcetype": "UserVm", "resourceids": run["id"].(string),
		"tags[0].key": "env", "tags[0].value": "prod"})
	var diskOffering string
	for _, o := range mgmttest.Do(t, v.Admin, "listDiskOfferings", nil)["diskoffering"].([]any) {
		if m := o.(map[string]any); m["name"] == "Small" {
			diskOffering = m["id"].(string)
		}
	}
	vol := mgmttest.DoAsync(t, v.tenant, "createVolume", map[string]string{"name": "data", "diskofferingid": diskOffering, "zoneid": v.zoneID})["volume"].(map[string]any)
	mgmttest.DoAsync(t, v.tenant, "attachVolume", map[string]string{"id": vol["id"].(string), "virtualmachineid": run["id"].(string)})
	mgmttest.DoAsync(t, v.tenant, "createTags", map[string]string{"resourcetype": "Volume", "resourceids": vol["id"].(string),
		"tags[0].key": "env", "tags[0].value": "prod"})
	mgmttest.DoAsync(t, v.tenant, "createVolume", map[string]string{"name": "loose", "diskofferingid": diskOffering, "zoneid": v.zoneID})
	root := mgmttest.Do(t, v.tenant, "listVolumes", map[string]string{"virtualmachineid": run["id"].(string), "type": "ROOT"})["volume"].([]any)[0].(map[string]any)["id"].(string)
	mgmttest.DoAsync(t, v.tenant, "createSnapshot", map[string]string{"volumeid": root})
	mgmttest.Do(t, v.tenant, "createSnapshotPolicy", map[string]string{"volumeid": root, "intervaltype": "daily", "schedule": "30:02",
		"timezone": "UTC", "maxsnaps": "2"})
	for _, cmd := range []string{"registerTemplate", "registerIso"} {
		p := map[string]string{"name": cmd, "displaytext": cmd, "format": "QCOW2", "hypervisor": "Simulator", "zoneid": v.zoneID,
			"url": "http://example.org/" + cmd + ".qcow2"}
		key := "template"
		if cmd == "registerIso" {
			p = map[string]string{"name": "tools", "displaytext": "tools", "url": "http://example.org/x.iso", "zoneid": v.zoneID, "bootable": "false"}
			key = "iso"
		}
		tpl := items(mgmttest.Do(t, v.tenant, cmd, p), key)[0]
		if key == "template" {
			tplWait(t, v.tenant, tpl["id"].(string), v.zoneID)
			mgmttest.DoAsync(t, v.tenant, "createTags", map[string]string{"resourcetype": "Template", "resourceids": tpl["id"].(string),
				"tags[0].key": "env", "tags[0].value": "prod"})
		}
	}
	mgmttest.Do(t, v.Admin, "updateResourceLimit", map[string]string{"account": "vmuser", "domainid": v.domainOf(t), "resourcetype": "0", "max": "20"})
}

func (v *vmEnv) domainOf(t *testing.T) string {
	a := mgmttest.Do(t, v.Admin, "listAccounts", map[string]string{"id": v.accountID})["account"].([]any)[0].(map[string]any)
	return a["domainid"].(string)
}

func TestDeleteAccountCleansUp(t *testing.T) { testDeleteAccountCleansUp(t, false) }
func TestDeleteAccountCleansUpMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	testDeleteAccountCleansUp(t, true)
}

func testDeleteAccountCleansUp(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	v.populate(t)
	before := v.liveOf(t, v.accountID)
	if before["templates"] != 2 {
		t.Fatalf("the tenant holds %d templates and ISOs, want 2", before["templates"])
	}
	for _, what := range []string{"vms", "volumes", "snapshots", "snapshot policies", "ssh key pairs", "affinity groups", "networks", "tags", "limits", "counts"} {
		if before[what] == 0 {
			t.Fatalf("the tenant holds no %s before the deletion: %v", what, before)
		}
	}
	v.checkLedger(t)

	// A deletion that dies half-way (the snapshot backup cannot be deleted) leaves the rest for
	// the next run; the run after the fault is gone finishes from the start.
	mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": "DeleteSnapshot", "fail": "true", "message": "injected"})
	code, text := jobFails(t, v.Admin, "deleteAccount", map[string]string{"id": v.accountID})
	if !strings.Contains(text, "injected") {
		t.Fatalf("failed deletion: %d %s", code, text)
	}
	mid := v.liveOf(t, v.accountID)
	if mid["vms"] != 0 || mid["accounts"] != 1 || mid["snapshots"] != 1 {
		t.Fatalf("after the failed run: %v", mid)
	}
	v.checkLedger(t)
	// What was released so far was given back to the counts: they equal what the rows hold.
	counted, _, err := db.CountAccountResources(context.Background(), v.Server.DB.SQL, v.accountID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := db.ResourceCounts(context.Background(), v.Server.DB.SQL, db.OwnerAccount, v.accountID)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{db.ResUserVM, db.ResCPU, db.ResMemory, db.ResVolume, db.ResPrimaryStorage, db.ResSnapshot, db.ResSecondaryStorage} {
		if counted[typ] != stored[typ] {
			t.Errorf("after the failed run, resource count %s: stored %d, rows hold %d", typ, stored[typ], counted[typ])
		}
	}
	mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": "DeleteSnapshot", "remove": "true"})
	mgmttest.DoAsync(t, v.Admin, "deleteAccount", map[string]string{"id": v.accountID})
	after := v.liveOf(t, v.accountID)
	for what, n := range after {
		if n != 0 {
			t.Errorf("%d %s left after deleteAccount", n, what)
		}
	}
	v.checkLedger(t)
	// Re-running a finished deletion (a job taken over after its server died) succeeds and
	// changes nothing.
	fp := dbtest.Fingerprint(t, v.Server.DB.SQL, "vm_instances", "volumes", "snapshots", "networks", "resource_counts")
	if _, err := v.Admin.Do(context.Background(), "deleteAccount", map[string]string{"id": v.accountID}); err == nil {
		t.Fatal("deleteAccount of a deleted account accepted")
	}
	if dbtest.Fingerprint(t, v.Server.DB.SQL, "vm_instances", "volumes", "snapshots", "networks", "resource_counts") != fp {
		t.Fatal("a refused deleteAccount changed rows")
	}
	for _, h := range v.hosts {
		host := mgmttest.Do(t, v.Admin, "listHosts", map[string]string{"id": h})["host"].([]any)[0].(map[string]any)
		if host["memoryallocated"] != nil && fmt.Sprint(host["memoryallocated"]) != "0" {
			t.Errorf("host %s still has memory allocated: %v", h, host["memoryallocated"])
		}
	}
}

func TestDeleteDomainCleanup(t *testing.T) { testDeleteDomainCleanup(t, false) }
func TestDeleteDomainCleanupMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	testDeleteDomainCleanup(t, true)
}

func testDeleteDomainCleanup(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	dom := mgmttest.Do(t, v.Admin, "createDomain", map[string]string{"name": "sub"})["domain"].(map[string]any)["id"].(string)
	c, ids := tenant(t, v.Env, "subuser", "0", dom)
	sub := &vmEnv{Env: v.Env, tenant: c, zoneID: v.zoneID, offering: v.offering, hosts: v.hosts, accountID: ids[0]}
	v.deploy(t, c, map[string]string{})
	mgmttest.Do(t, v.Admin, "createSSHKeyPair", map[string]string{"name": "k", "account": "subuser", "domainid": dom})
	if live := sub.liveOf(t, ids[0]); live["vms"] != 1 || live["networks"] != 1 {
		t.Fatalf("before: %v", live)
	}
	// Without cleanup: refused, nothing changes.
	fp := dbtest.Fingerprint(t, v.Server.DB.SQL, "vm_instances", "volumes", "networks", "accounts", "domains", "resource_counts")
	jobFails(t, v.Admin, "deleteDomain", map[string]string{"id": dom})
	if dbtest.Fingerprint(t, v.Server.DB.SQL, "vm_instances", "volumes", "networks", "accounts", "domains", "resource_counts") != fp {
		t.Fatal("a refused deleteDomain changed rows")
	}
	mgmttest.DoAsync(t, v.Admin, "deleteDomain", map[string]string{"id": dom, "cleanup": "true"})
	for what, n := range sub.liveOf(t, ids[0]) {
		if n != 0 {
			t.Errorf("%d %s left after deleteDomain cleanup=true", n, what)
		}
	}
	v.checkLedger(t)
}

// Infrastructure in use by compute objects refuses deletion and stays as it was.
func TestInfrastructureInUseRefusesDeletion(t *testing.T) { testInfrastructureInUse(t, false) }
func TestInfrastructureInUseRefusesDeletionMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	testInfrastructureInUse(t, true)
}

func testInfrastructureInUse(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	vm := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})
	fp := func() string {
		return dbtest.Fingerprint(t, v.Server.DB.SQL, "zones", "pods", "clusters", "hosts", "storage_pools", "physical_networks", "vm_instances", "volumes", "networks")
	}
	before := fp()
	refuse := func(cmd string, p map[string]string, want string) {
		t.Helper()
		res, err := v.Admin.Do(context.Background(), cmd, p)
		if err == nil {
			if id, ok := res["jobid"].(string); ok {
				j, werr := v.Admin.Wait(context.Background(), id)
				if werr != nil {
					t.Fatal(werr)
				}
				if j["jobstatus"].(float64) == 2 {
					err = fmt.Errorf("%v", j["jobresult"])
				}
			}
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: want a refusal with %q, got %v", cmd, want, err)
		}
		if fp() != before {
			t.Fatalf("%s: a refusal changed rows", cmd)
		}
	}
	refuse("deleteZone", map[string]string{"id": v.zoneID}, "virtual machines")
	pod := mgmttest.Do(t, v.Admin, "listPods", map[string]string{"zoneid": v.zoneID})["pod"].([]any)[0].(map[string]any)["id"].(string)
	refuse("deletePod", map[string]string{"id": pod}, "virtual machines")
	hostID := mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"id": vm["id"].(string)})["virtualmachine"].([]any)[0].(map[string]any)["hostid"].(string)
	refuse("deleteHost", map[string]string{"id": hostID}, "not in maintenance mode")
	pn := mgmttest.Do(t, v.Admin, "listPhysicalNetworks", map[string]string{"zoneid": v.zoneID})["physicalnetwork"].([]any)[0].(map[string]any)["id"].(string)
	refuse("deletePhysicalNetwork", map[string]string{"id": pn}, "networks using it")
	root := mgmttest.Do(t, v.Admin, "listVolumes", map[string]string{"virtualmachineid": vm["id"].(string), "type": "ROOT", "listall": "true"})["volume"].([]any)[0].(map[string]any)
	pool := root["storageid"].(string)
	mgmttest.DoAsync(t, v.Admin, "enableStorageMaintenance", map[string]string{"id": pool})
	before = fp()
	refuse("deleteStoragePool", map[string]string{"id": pool}, "associated volumes")
	refuse("deleteStoragePool", map[string]string{"id": pool, "forced": "true"}, "non-destroyed vols")
	// Once the VM is destroyed, its ROOT volume (Destroy) still holds the pool unless forced;
	// forced, it is expunged with the pool, and the VM's expunge later finds nothing to release.
	mgmttest.DoAsync(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": vm["id"].(string)})
	before = fp()
	refuse("deleteStoragePool", map[string]string{"id": pool}, "associated volumes")
	mgmttest.Do(t, v.Admin, "deleteStoragePool", map[string]string{"id": pool, "forced": "true"})
	var live int
	if err := v.Server.DB.SQL.QueryRow("SELECT COUNT(*) FROM volumes WHERE pool_id = ? AND removed IS NULL", pool).Scan(&live); err != nil || live != 0 {
		t.Fatalf("volumes left on the deleted pool: %d %v", live, err)
	}
	mgmttest.DoAsync(t, v.tenant, "expungeVirtualMachine", map[string]string{"id": vm["id"].(string)})
	v.checkLedger(t)
}

// Concurrent deploys into one host anti-affinity group never share a host: with two hosts, at
// most two succeed, on different hosts (on MariaDB the planner's read and the VM's insert raced
// before the group's row was locked).
func TestAntiAffinityConcurrentDeploys(t *testing.T) { testAntiAffinityConcurrent(t, false) }
func TestAntiAffinityConcurrentDeploysMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	testAntiAffinityConcurrent(t, true)
}

func testAntiAffinityConcurrent(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	for round := 0; round < 3; round++ {
		name := fmt.Sprintf("anti-%d", round)
		mgmttest.DoAsync(t, v.tenant, "createAffinityGroup", map[string]string{"name": name, "type": "host anti-affinity"})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var jobs []string
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := v.tenant.Do(context.Background(), "deployVirtualMachine", map[string]string{"serviceofferingid": v.offering,
					"templateid": "c5a0b9f2-5b3e-4c1a-9a43-7e0d2f4b5a11", "zoneid": v.zoneID, "networkids": v.network, "affinitygroupnames": name})
				if err == nil {
					mu.Lock()
					jobs = append(jobs, res["jobid"].(string))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		hosts := map[string]int{}
		for _, j := range jobs {
			r, err := v.tenant.Wait(context.Background(), j)
			if err != nil {
				t.Fatal(err)
			}
			if vm, ok := r["jobresult"].(map[string]any)["virtualmachine"].(map[string]any); ok && vm["state"] == "Running" {
				hosts[""]++
			}
		}
		delete(hosts, "")
		for _, vm := range mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"listall": "true", "state": "Running"})["virtualmachine"].([]any) {
			hosts[vm.(map[string]any)["hostid"].(string)]++
		}
		for h, n := range hosts {
			if n > 1 {
				t.Fatalf("round %d: %d VMs of anti-affinity group %s on host %s", round, n, name, h)
			}
		}
		if len(hosts) != 2 {
			t.Fatalf("round %d: want one VM on each of the two hosts, got %v (%d accepted)", round, hosts, len(jobs))
		}
		// Make room for the next round.
		for _, vm := range mgmttest.Do(t, v.tenant, "listVirtualMachines", nil)["virtualmachine"].([]any) {
			mgmttest.DoAsync(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": vm.(map[string]any)["id"].(string), "expunge": "true"})
		}
	}
	v.checkLedger(t)
}

// Deleting a tagged VM (on expunge, with its destroyed data disk), volume or snapshot drops
// its tags (networks and templates are covered by their own tests).
func TestDeletedResourcesLoseTheirTags(t *testing.T) {
	v := newVMEnv(t, false)
	tagsOf := func(id string) int {
		t.Helper()
		var n int
		if err := v.Server.DB.SQL.QueryRow("SELECT COUNT(*) FROM resource_tags WHERE resource_id = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	tag := func(typ, id string) {
		t.Helper()
		mgmttest.DoAsync(t, v.tenant, "createTags", map[string]string{"resourcetype": typ, "resourceids": id, "tags[0].key": "k", "tags[0].value": "v"})
		if tagsOf(id) != 1 {
			t.Fatalf("%s %s not tagged", typ, id)
		}
	}
	var diskOffering string
	for _, o := range mgmttest.Do(t, v.Admin, "listDiskOfferings", nil)["diskoffering"].([]any) {
		if m := o.(map[string]any); m["name"] == "Small" {
			diskOffering = m["id"].(string)
		}
	}
	vm := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})["id"].(string)
	data := mgmttest.DoAsync(t, v.tenant, "createVolume", map[string]string{"name": "d", "diskofferingid": diskOffering, "zoneid": v.zoneID})["volume"].(map[string]any)["id"].(string)
	mgmttest.DoAsync(t, v.tenant, "attachVolume", map[string]string{"id": data, "virtualmachineid": vm})
	loose := mgmttest.DoAsync(t, v.tenant, "createVolume", map[string]string{"name": "l", "diskofferingid": diskOffering, "zoneid": v.zoneID})["volume"].(map[string]any)["id"].(string)
	root := mgmttest.Do(t, v.tenant, "listVolumes", map[string]string{"virtualmachineid": vm, "type": "ROOT"})["volume"].([]any)[0].(map[string]any)["id"].(string)
	snap := mgmttest.DoAsync(t, v.tenant, "createSnapshot", map[string]string{"volumeid": root})["snapshot"].(map[string]any)["id"].(string)
	for typ, id := range map[string]string{"UserVm": vm, "Volume": data, "Snapshot": snap} {
		tag(typ, id)
	}
	tag("Volume", loose)
	tag("Volume", root)
	mgmttest.Do(t, v.tenant, "deleteVolume", map[string]string{"id": loose})
	mgmttest.DoAsync(t, v.tenant, "deleteSnapshot", map[string]string{"id": snap})
	mgmttest.DoAsync(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": vm, "volumeids": data, "expunge": "true"})
	for _, id := range []string{vm, data, loose, root, snap} {
		if n := tagsOf(id); n != 0 {
			t.Errorf("%s keeps %d tags after its deletion", id, n)
		}
	}
}
