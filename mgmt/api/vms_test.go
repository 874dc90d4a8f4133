package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// vmEnv is a server with a Simulator zone of one cluster of two hosts (4 × 2000 MHz, 8 GiB
// each), a tenant with an isolated network, and the ids a deploy needs.
type vmEnv struct {
	*mgmttest.Env
	tenant                    *api.Client
	zoneID, offering, network string
	hosts                     []string
	accountID                 string
}

func newVMEnv(t *testing.T, mysql bool) *vmEnv {
	t.Helper()
	e := mgmttest.Start(t, mgmttest.Options{MySQL: mysql})
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "ping.interval", "value": "1"})
	for _, k := range []string{"allow.user.view.destroyed.vm", "allow.user.expunge.recover.vm"} {
		mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": k, "value": "true"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := mgmt.DemoWith(ctx, e.Admin, mgmt.DemoOptions{Zone: "vmz", Clusters: 1, HostsPerCluster: 2,
		HostQuery: "cpunumber=4&cpuspeed=2000&memory=8192"}); err != nil {
		t.Fatal(err)
	}
	v := &vmEnv{Env: e}
	z := mgmttest.Do(t, e.Admin, "listZones", map[string]string{"name": "vmz"})["zone"].([]any)[0].(map[string]any)
	v.zoneID = z["id"].(string)
	for _, h := range mgmttest.Do(t, e.Admin, "listHosts", map[string]string{"zoneid": v.zoneID, "type": "Routing"})["host"].([]any) {
		v.hosts = append(v.hosts, h.(map[string]any)["id"].(string))
	}
	mgmttest.Do(t, e.Admin, "listTemplates", map[string]string{"templatefilter": "featured"}) // readies the built-in template
	so := mgmttest.Do(t, e.Admin, "createServiceOffering", map[string]string{"name": "vm-test", "displaytext": "vm test",
		"cpunumber": "1", "cpuspeed": "1000", "memory": "1024"})["serviceoffering"].(map[string]any)
	v.offering = so["id"].(string)
	var ids []string
	v.tenant, ids = tenant(t, e, "vmuser", "0", "")
	v.accountID = ids[0]
	var offeringID string
	for _, o := range mgmttest.Do(t, e.Admin, "listNetworkOfferings", nil)["networkoffering"].([]any) {
		if m := o.(map[string]any); m["name"] == "DefaultIsolatedNetworkOfferingWithSourceNatService" {
			offeringID = m["id"].(string)
		}
	}
	n := mgmttest.Do(t, v.tenant, "createNetwork", map[string]string{"name": "net1", "displaytext": "net1", "networkofferingid": offeringID,
		"zoneid": v.zoneID})["network"].(map[string]any)
	v.network = n["id"].(string)
	return v
}

func (v *vmEnv) deploy(t *testing.T, c *api.Client, extra map[string]string) map[string]any {
	t.Helper()
	p := map[string]string{"serviceofferingid": v.offering, "templateid": db.SimulatorTemplateID, "zoneid": v.zoneID}
	for k, val := range extra {
		p[k] = val
	}
	return mgmttest.DoAsync(t, c, "deployVirtualMachine", p)["virtualmachine"].(map[string]any)
}

// jobFails runs an async command and returns its job's error code and text.
func jobFails(t *testing.T, c *api.Client, cmd string, p map[string]string) (int, string) {
	t.Helper()
	res, err := c.Do(context.Background(), cmd, p)
	if err != nil {
		t.Fatalf("%s: refused at once: %v", cmd, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := c.Wait(ctx, res["jobid"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if j["jobstatus"].(float64) != 2 {
		t.Fatalf("%s: job did not fail: %v", cmd, j)
	}
	r := j["jobresult"].(map[string]any)
	return int(r["errorcode"].(float64)), r["errortext"].(string)
}

func (v *vmEnv) checkLedger(t *testing.T) {
	t.Helper()
	rep, err := planner.New(v.Server.API.Config).Recompute(context.Background(), v.Server.DB.Read(), planner.VMUsage)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("capacity ledger differs from what VMs and volumes hold: %v", rep.Mismatches)
	}
}

// vmFingerprint is the compute rows a refused call must leave as they were. A VM's recorded
// power state is left out: the hosts' power reports write it (pings every second here), not
// calls, and a report taken just before a VM started records it off once.
func (v *vmEnv) vmFingerprint(t *testing.T) string {
	t.Helper()
	rows, err := v.Server.DB.SQL.Query("SELECT * FROM vm_instances WHERE 1 = 0")
	if err != nil {
		t.Fatal(err)
	}
	cols, err := rows.Columns()
	rows.Close()
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, c := range cols {
		if c != "power_state" && c != "power_state_updated" {
			keep = append(keep, c)
		}
	}
	return dbtest.Fingerprint(t, v.Server.DB.SQL, "SELECT "+strings.Join(keep, ", ")+" FROM vm_instances ORDER BY id", "volumes", "nics", "affinity_group_vm_map",
		"SELECT capacity_type, object_id, used, reserved FROM capacity ORDER BY 1, 2", "resource_counts")
}

func TestVMLifecycle(t *testing.T) { testVMLifecycle(t, false) }

func testVMLifecycle(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	vm := v.deploy(t, v.tenant, map[string]string{"name": "web-1", "displayname": "Web One", "networkids": v.network,
		"userdata": "aGVsbG8=", "group": "g1"})
	id := vm["id"].(string)
	if vm["state"] != "Running" || vm["displayname"] != "Web One" || vm["name"] != "web-1" {
		t.Fatalf("deployed: %v", vm)
	}
	nics := vm["nic"].([]any)
	if len(nics) != 1 || nics[0].(map[string]any)["ipaddress"] == nil || nics[0].(map[string]any)["isdefault"] != true {
		t.Fatalf("nics: %v", nics)
	}
	if _, ok := vm["hostid"]; ok {
		t.Fatal("a tenant sees the host")
	}
	v.checkLedger(t)

	list := mgmttest.Do(t, v.tenant, "listVirtualMachines", map[string]string{"name": "web-1"})
	if list["count"].(float64) != 1 {
		t.Fatalf("list by name: %v", list)
	}
	ud := mgmttest.Do(t, v.tenant, "getVirtualMachineUserData", map[string]string{"virtualmachineid": id})["virtualmachineuserdata"].(map[string]any)
	if ud["userdata"] != "aGVsbG8=" {
		t.Fatalf("userdata: %v", ud)
	}
	vols := mgmttest.Do(t, v.tenant, "listVolumes", map[string]string{"virtualmachineid": id, "type": "ROOT"})
	if vols["count"].(float64) != 1 {
		t.Fatalf("root volumes: %v", vols)
	}

	// Wrong state: changing the offering of a running VM.
	before := v.vmFingerprint(t)
	text := mgmttest.Fail(t, v.tenant, "changeServiceForVirtualMachine", map[string]string{"id": id, "serviceofferingid": v.offering}, 431)
	if !strings.Contains(text, "Running") {
		t.Fatalf("wrong-state error: %s", text)
	}
	if code, _ := jobFails(t, v.tenant, "startVirtualMachine", map[string]string{"id": id}); code != 431 {
		t.Fatalf("starting a running vm: %d", code)
	}
	if v.vmFingerprint(t) != before {
		t.Fatal("a refused call changed the database")
	}

	// Migrate (admin) to the other host.
	adm := mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"id": id})["virtualmachine"].([]any)[0].(map[string]any)
	from := adm["hostid"].(string)
	to := v.hosts[0]
	if to == from {
		to = v.hosts[1]
	}
	moved := mgmttest.DoAsync(t, v.Admin, "migrateVirtualMachine", map[string]string{"virtualmachineid": id, "hostid": to})["virtualmachine"].(map[string]any)
	if moved["hostid"] != to || moved["state"] != "Running" {
		t.Fatalf("migrated: %v", moved)
	}
	if d := v.Server.Agents.Simulator(to); d == nil {
		t.Fatal("no simulator for the target")
	} else if vms, _ := d.ListVMs(context.Background()); len(vms) != 1 {
		t.Fatalf("the target host runs %d vms", len(vms))
	}
	v.checkLedger(t)

	stopped := mgmttest.DoAsync(t, v.tenant, "stopVirtualMachine", map[string]string{"id": id})["virtualmachine"].(map[string]any)
	if stopped["state"] != "Stopped" {
		t.Fatalf("stopped: %v", stopped)
	}
	v.checkLedger(t)
	big := mgmttest.Do(t, v.Admin, "createServiceOffering", map[string]string{"name": "vm-test-2", "displaytext": "2",
		"cpunumber": "2", "cpuspeed": "1000", "memory": "2048"})["serviceoffering"].(map[string]any)["id"].(string)
	changed := mgmttest.Do(t, v.tenant, "changeServiceForVirtualMachine", map[string]string{"id": id, "serviceofferingid": big})["virtualmachine"].(map[string]any)
	if changed["cpunumber"].(float64) != 2 || changed["memory"].(float64) != 2048 {
		t.Fatalf("changed offering: %v", changed)
	}
	upd := mgmttest.Do(t, v.tenant, "updateVirtualMachine", map[string]string{"id": id, "displayname": "Web 1", "group": "g2"})["virtualmachine"].(map[string]any)
	if upd["displayname"] != "Web 1" || upd["group"] != "g2" {
		t.Fatalf("updated: %v", upd)
	}
	started := mgmttest.DoAsync(t, v.tenant, "startVirtualMachine", map[string]string{"id": id})["virtualmachine"].(map[string]any)
	if started["state"] != "Running" {
		t.Fatalf("started: %v", started)
	}
	mgmttest.DoAsync(t, v.tenant, "rebootVirtualMachine", map[string]string{"id": id})
	v.checkLedger(t)

	destroyed := mgmttest.DoAsync(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": id})["virtualmachine"].(map[string]any)
	if destroyed["state"] != "Destroyed" {
		t.Fatalf("destroyed: %v", destroyed)
	}
	if n := mgmttest.Do(t, v.tenant, "listVirtualMachines", map[string]string{"state": "present"})["count"]; n != nil {
		t.Fatalf("state=present lists a destroyed vm: %v", n)
	}
	rec := mgmttest.Do(t, v.tenant, "recoverVirtualMachine", map[string]string{"id": id})["virtualmachine"].(map[string]any)
	if rec["state"] != "Stopped" {
		t.Fatalf("recovered: %v", rec)
	}
	mgmttest.DoAsync(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": id, "expunge": "true"})
	if n := mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"id": id})["count"]; n != nil {
		t.Fatalf("an expunged vm is listed: %v", n)
	}
	var live int
	v.Server.DB.SQL.QueryRow("SELECT COUNT(*) FROM nics WHERE removed IS NULL").Scan(&live)
	if live != 0 {
		t.Fatalf("%d nics left after expunge", live)
	}
	v.checkLedger(t)
}

func rootDomain(t *testing.T, e *mgmttest.Env) string {
	for _, d := range mgmttest.Do(t, e.Admin, "listDomains", map[string]string{"listall": "true"})["domain"].([]any) {
		if m := d.(map[string]any); m["path"] == "ROOT" {
			return m["id"].(string)
		}
	}
	t.Fatal("no ROOT domain")
	return ""
}

// Not enough capacity answers 533 at once and leaves nothing behind.
func TestDeployNoCapacity(t *testing.T) { testDeployNoCapacity(t, false) }

func testDeployNoCapacity(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	huge := mgmttest.Do(t, v.Admin, "createServiceOffering", map[string]string{"name": "huge", "displaytext": "huge",
		"cpunumber": "4", "cpuspeed": "2000", "memory": "16384"})["serviceoffering"].(map[string]any)["id"].(string)
	before := v.vmFingerprint(t)
	text := mgmttest.Fail(t, v.Admin, "deployVirtualMachine", map[string]string{"serviceofferingid": huge, "templateid": db.SimulatorTemplateID,
		"zoneid": v.zoneID, "account": "vmuser", "domainid": rootDomain(t, v.Env), "networkids": v.network}, 533)
	if !strings.Contains(text, "Unable to create a deployment for") || !strings.Contains(text, "memory") {
		t.Fatalf("533 text: %s", text)
	}
	if v.vmFingerprint(t) != before {
		t.Fatal("a deploy refused for capacity left something behind")
	}
	// A host's worth fits; the anti-affinity group then keeps a second VM off that host, and a
	// third finds no host.
	mgmttest.DoAsync(t, v.tenant, "createAffinityGroup", map[string]string{"name": "spread", "type": "host anti-affinity"})
	a := v.deploy(t, v.tenant, map[string]string{"networkids": v.network, "affinitygroupnames": "spread"})
	b := v.deploy(t, v.tenant, map[string]string{"networkids": v.network, "affinitygroupnames": "spread"})
	ha := hostOf(t, v, a["id"].(string))
	hb := hostOf(t, v, b["id"].(string))
	if ha == hb {
		t.Fatalf("anti-affinity: both on %s", ha)
	}
	before = v.vmFingerprint(t)
	text = mgmttest.Fail(t, v.tenant, "deployVirtualMachine", map[string]string{"serviceofferingid": v.offering, "templateid": db.SimulatorTemplateID,
		"zoneid": v.zoneID, "networkids": v.network, "affinitygroupnames": "spread"}, 533)
	if !strings.Contains(text, "anti-affinity") {
		t.Fatalf("anti-affinity 533: %s", text)
	}
	if v.vmFingerprint(t) != before {
		t.Fatal("a refused deploy left something behind")
	}
	v.checkLedger(t)
}

func hostOf(t *testing.T, v *vmEnv, id string) string {
	t.Helper()
	m := mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"id": id})["virtualmachine"].([]any)[0].(map[string]any)
	h, _ := m["hostid"].(string)
	return h
}

// An agent failure leaves the VM in a correct state with nothing reserved.
func TestVMAgentFailure(t *testing.T) { testVMAgentFailure(t, false) }

func testVMAgentFailure(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": "StartVM", "fail": "true", "message": "injected"})
	res := mgmttest.Do(t, v.tenant, "deployVirtualMachine", map[string]string{"serviceofferingid": v.offering, "templateid": db.SimulatorTemplateID,
		"zoneid": v.zoneID, "networkids": v.network, "name": "broken"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := v.tenant.Wait(ctx, res["jobid"].(string))
	if err != nil || j["jobstatus"].(float64) != 2 || !strings.Contains(fmt.Sprint(j["jobresult"]), "injected") {
		t.Fatalf("deploy with a failing agent: %v %v", j, err)
	}
	vm := mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"id": res["id"].(string)})["virtualmachine"].([]any)[0].(map[string]any)
	if vm["state"] != "Error" {
		t.Fatalf("a failed deploy: %v", vm)
	}
	v.checkLedger(t)
	mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": "StartVM", "remove": "true"})

	ok := v.deploy(t, v.tenant, map[string]string{"networkids": v.network, "name": "fine"})
	mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": "StopVM", "fail": "true", "message": "injected"})
	if code, text := jobFails(t, v.tenant, "stopVirtualMachine", map[string]string{"id": ok["id"].(string)}); code != 530 || !strings.Contains(text, "injected") {
		t.Fatalf("stop with a failing agent: %d %s", code, text)
	}
	if st := hostState(t, v, ok["id"].(string)); st != "Running" {
		t.Fatalf("after a failed stop: %s", st)
	}
	forced := mgmttest.DoAsync(t, v.tenant, "stopVirtualMachine", map[string]string{"id": ok["id"].(string), "forced": "true"})["virtualmachine"].(map[string]any)
	if forced["state"] != "Stopped" {
		t.Fatalf("forced stop: %v", forced)
	}
	mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": "StopVM", "remove": "true"})
	v.checkLedger(t)

	// The expunge sweeper removes the failed VM once expunge.delay has passed.
	mgmttest.Do(t, v.Admin, "updateConfiguration", map[string]string{"name": "expunge.delay", "value": "0"})
	if err := v.Server.API.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"id": res["id"].(string)})["count"]; n != nil {
		t.Fatalf("the failed vm was not expunged: %v", n)
	}
	v.checkLedger(t)
}

func hostState(t *testing.T, v *vmEnv, id string) string {
	m := mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"id": id})["virtualmachine"].([]any)[0].(map[string]any)
	return m["state"].(string)
}

// A VM its host reports powered off goes Stopped (power-state sync).
func TestVMPowerSync(t *testing.T) { testVMPowerSync(t, false) }

func testVMPowerSync(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	vm := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})
	h := hostOf(t, v, vm["id"].(string))
	inst := mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"id": vm["id"].(string)})["virtualmachine"].([]any)[0].(map[string]any)["instancename"].(string)
	if !v.Server.Agents.Simulator(h).PowerOffVM(inst) {
		t.Fatal("the simulator does not have the vm")
	}
	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for hostState(t, v, vm["id"].(string)) != want {
			if time.Now().After(deadline) {
				t.Fatalf("the vm did not become %s from its host's reports", want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitState("Stopped")
	v.checkLedger(t)
	// Started behind Atoll's back: the reports bring it back to Running on that host.
	if err := v.Server.Agents.Simulator(h).StartVM(context.Background(), hypervisor.VMSpec{Name: inst}); err != nil {
		t.Fatal(err)
	}
	waitState("Running")
	if hostOf(t, v, vm["id"].(string)) != h {
		t.Fatal("the vm runs on another host than the one reporting it")
	}
	v.checkLedger(t)
}

// The same on MariaDB (skipped without ATOLL_TEST_MYSQL, failed under CI).
func TestVMsOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	t.Run("lifecycle", func(t *testing.T) { testVMLifecycle(t, true) })
	t.Run("nocapacity", func(t *testing.T) { testDeployNoCapacity(t, true) })
	t.Run("agentfailure", func(t *testing.T) { testVMAgentFailure(t, true) })
	t.Run("randomworkload", func(t *testing.T) { testVMRandomWorkload(t, true) })
}

// Key pairs, passwords, restore, scaling and host affinity.
func TestVMChanges(t *testing.T) {
	v := newVMEnv(t, false)
	mgmttest.Do(t, v.tenant, "createSSHKeyPair", map[string]string{"name": "k1"})
	mgmttest.Do(t, v.tenant, "createSSHKeyPair", map[string]string{"name": "k2"})
	mgmttest.Fail(t, v.tenant, "deployVirtualMachine", map[string]string{"serviceofferingid": v.offering, "templateid": db.SimulatorTemplateID,
		"zoneid": v.zoneID, "networkids": v.network, "keypair": "nope"}, 431)
	mgmttest.Fail(t, v.tenant, "deployVirtualMachine", map[string]string{"serviceofferingid": v.offering, "templateid": db.SimulatorTemplateID,
		"zoneid": v.zoneID, "networkids": v.network, "userdata": "not base64!"}, 431)
	mgmttest.Fail(t, v.tenant, "deployVirtualMachine", map[string]string{"serviceofferingid": v.offering, "templateid": db.SimulatorTemplateID,
		"zoneid": v.zoneID, "networkids": v.network, "name": "9bad"}, 431)
	mgmttest.Fail(t, v.tenant, "deployVirtualMachine", map[string]string{"serviceofferingid": v.offering, "templateid": db.SimulatorTemplateID,
		"zoneid": v.zoneID, "networkids": v.network, "hostid": v.hosts[0]}, 531)

	mgmttest.DoAsync(t, v.tenant, "createAffinityGroup", map[string]string{"name": "together", "type": "host affinity"})
	a := v.deploy(t, v.tenant, map[string]string{"networkids": v.network, "keypair": "k1", "affinitygroupnames": "together", "name": "a"})
	b := v.deploy(t, v.tenant, map[string]string{"networkids": v.network, "affinitygroupnames": "together", "name": "b"})
	if hostOf(t, v, a["id"].(string)) != hostOf(t, v, b["id"].(string)) {
		t.Fatal("host affinity: the vms are on different hosts")
	}
	if a["keypair"] != "k1" {
		t.Fatalf("keypair: %v", a["keypair"])
	}
	groups := mgmttest.Do(t, v.tenant, "listAffinityGroups", map[string]string{"virtualmachineid": a["id"].(string)})["affinitygroup"].([]any)
	if len(groups) != 1 || len(groups[0].(map[string]any)["virtualmachineIds"].([]any)) != 2 {
		t.Fatalf("groups of a: %v", groups)
	}
	id := a["id"].(string)

	// Running: these need a stopped VM.
	if code, _ := jobFails(t, v.tenant, "resetSSHKeyForVirtualMachine", map[string]string{"id": id, "keypair": "k2"}); code != 431 {
		t.Fatalf("reset key of a running vm: %d", code)
	}
	if code, _ := jobFails(t, v.tenant, "updateVMAffinityGroup", map[string]string{"id": id, "affinitygroupnames": ""}); code != 431 {
		t.Fatalf("affinity of a running vm: %d", code)
	}
	if code, _ := jobFails(t, v.tenant, "resetPasswordForVirtualMachine", map[string]string{"id": id}); code != 431 {
		t.Fatalf("password of a vm whose template has none: %d", code)
	}
	bigger := mgmttest.Do(t, v.Admin, "createServiceOffering", map[string]string{"name": "vc-2", "displaytext": "2",
		"cpunumber": "2", "cpuspeed": "1000", "memory": "2048"})["serviceoffering"].(map[string]any)["id"].(string)
	if code, _ := jobFails(t, v.tenant, "scaleVirtualMachine", map[string]string{"id": id, "serviceofferingid": bigger}); code != 431 {
		t.Fatalf("scaling a vm that is not dynamically scalable: %d", code)
	}

	// Restore gives a new ROOT volume and keeps the VM running.
	oldRoot := mgmttest.Do(t, v.tenant, "listVolumes", map[string]string{"virtualmachineid": id, "type": "ROOT"})["volume"].([]any)[0].(map[string]any)["id"]
	restored := mgmttest.DoAsync(t, v.tenant, "restoreVirtualMachine", map[string]string{"virtualmachineid": id})["virtualmachine"].(map[string]any)
	roots := mgmttest.Do(t, v.tenant, "listVolumes", map[string]string{"virtualmachineid": id, "type": "ROOT"})["volume"].([]any)
	if restored["state"] != "Running" || len(roots) != 1 || roots[0].(map[string]any)["id"] == oldRoot {
		t.Fatalf("restored: %v, roots %v", restored["state"], roots)
	}
	v.checkLedger(t)

	mgmttest.DoAsync(t, v.tenant, "stopVirtualMachine", map[string]string{"id": id})
	reset := mgmttest.DoAsync(t, v.tenant, "resetSSHKeyForVirtualMachine", map[string]string{"id": id, "keypair": "k2"})["virtualmachine"].(map[string]any)
	if reset["keypair"] != "k2" {
		t.Fatalf("reset key: %v", reset["keypair"])
	}
	mgmttest.DoAsync(t, v.tenant, "updateVMAffinityGroup", map[string]string{"id": id, "affinitygroupnames": ""})
	scaled := mgmttest.DoAsync(t, v.tenant, "scaleVirtualMachine", map[string]string{"id": id, "serviceofferingid": bigger})["virtualmachine"].(map[string]any)
	if scaled["cpunumber"].(float64) != 2 {
		t.Fatalf("scaled while stopped: %v", scaled)
	}
	// Without allow.user.expunge.recover.vm a user may not expunge, nor see destroyed VMs
	// without allow.user.view.destroyed.vm.
	mgmttest.Do(t, v.Admin, "updateConfiguration", map[string]string{"name": "allow.user.expunge.recover.vm", "value": "false"})
	mgmttest.Fail(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": b["id"].(string), "expunge": "true"}, 531)
	mgmttest.Fail(t, v.tenant, "expungeVirtualMachine", map[string]string{"id": b["id"].(string)}, 531)
	mgmttest.DoAsync(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": b["id"].(string)})
	mgmttest.Fail(t, v.tenant, "recoverVirtualMachine", map[string]string{"id": b["id"].(string)}, 531)
	mgmttest.Do(t, v.Admin, "updateConfiguration", map[string]string{"name": "allow.user.view.destroyed.vm", "value": "false"})
	if n := mgmttest.Do(t, v.tenant, "listVirtualMachines", map[string]string{"id": b["id"].(string)})["count"]; n != nil {
		t.Fatalf("a destroyed vm is listed to its user: %v", n)
	}
	mgmttest.DoAsync(t, v.tenant, "deleteAffinityGroup", map[string]string{"name": "together"})
	if n := mgmttest.Do(t, v.tenant, "listAffinityGroups", nil)["count"]; n != nil {
		t.Fatalf("groups left: %v", n)
	}
	v.checkLedger(t)
}
