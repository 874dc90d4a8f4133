package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// migrationHosts is findHostsForMigration's answer by host id.
func migrationHosts(t *testing.T, v *vmEnv, cmd, vmID string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, h := range mgmttest.Do(t, v.Admin, cmd, map[string]string{"virtualmachineid": vmID})["host"].([]any) {
		m := h.(map[string]any)
		out[m["id"].(string)] = m
	}
	return out
}

func TestFindHostsForMigration(t *testing.T) {
	v := newVMEnv(t, false)
	vm := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})
	id := vm["id"].(string)
	own := mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"id": id})["virtualmachine"].([]any)[0].(map[string]any)["hostid"].(string)
	other := v.hosts[0]
	if other == own {
		other = v.hosts[1]
	}
	for _, cmd := range []string{"findHostsForMigration", "listHosts"} {
		got := migrationHosts(t, v, cmd, id)
		if len(got) != 1 || got[other] == nil {
			t.Fatalf("%s: hosts %v, want only the other host %s", cmd, got, other)
		}
		h := got[other]
		if h["suitableformigration"] != true || h["requiresStorageMotion"] != false || h["cpuallocated"] == nil || h["name"] == "" {
			t.Fatalf("%s: %v, want suitable, no storage motion, with capacity fields", cmd, h)
		}
	}

	// A disabled host is listed but not suitable; so is one without the memory left.
	mgmttest.Do(t, v.Admin, "updateHost", map[string]string{"id": other, "allocationstate": "Disable"})
	if h := migrationHosts(t, v, "findHostsForMigration", id)[other]; h["suitableformigration"] != false {
		t.Fatalf("disabled host: %v, want not suitable", h)
	}
	mgmttest.Do(t, v.Admin, "updateHost", map[string]string{"id": other, "allocationstate": "Enable"})
	big := mgmttest.Do(t, v.Admin, "createServiceOffering", map[string]string{"name": "big", "displaytext": "big",
		"cpunumber": "1", "cpuspeed": "500", "memory": "7680"})["serviceoffering"].(map[string]any)["id"].(string)
	v.deploy(t, v.Admin, map[string]string{"serviceofferingid": big, "hostid": other})
	if h := migrationHosts(t, v, "findHostsForMigration", id)[other]; h["suitableformigration"] != false {
		t.Fatalf("full host: %v, want not suitable", h)
	}
	// The migration the answer refused is refused too.
	if code, text := jobFails(t, v.Admin, "migrateVirtualMachine", map[string]string{"virtualmachineid": id, "hostid": other}); code != 533 {
		t.Fatalf("migrate to the full host: %d %s, want 533", code, text)
	}

	// Bad input: not Running, no such VM, not an admin's call. Nothing changes.
	mgmttest.DoAsync(t, v.tenant, "stopVirtualMachine", map[string]string{"id": id})
	if text := mgmttest.Fail(t, v.Admin, "findHostsForMigration", map[string]string{"virtualmachineid": id}, 431); !strings.Contains(text, "not Running") {
		t.Fatalf("stopped VM: %q", text)
	}
	mgmttest.Fail(t, v.Admin, "findHostsForMigration", map[string]string{"virtualmachineid": "0d7c1f64-8a4e-4b1e-9a43-2b9a3f6c1d00"}, 431)
	mgmttest.Fail(t, v.Admin, "findHostsForMigration", nil, 431)
	mgmttest.Fail(t, v.tenant, "findHostsForMigration", map[string]string{"virtualmachineid": id}, 432)
	v.checkLedger(t)
}

// TestForcedDeleteHostStopsItsVMs: deleteHost forced=true on a host with VMs stops them (the
// ledger released), starts the one that offers HA again on another host, and removes the host.
func TestForcedDeleteHostStopsItsVMs(t *testing.T) { testForcedDeleteHost(t, false) }
func TestForcedDeleteHostStopsItsVMsOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	testForcedDeleteHost(t, true)
}

func testForcedDeleteHost(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	ha := mgmttest.Do(t, v.Admin, "createServiceOffering", map[string]string{"name": "ha", "displaytext": "ha",
		"cpunumber": "1", "cpuspeed": "1000", "memory": "1024", "offerha": "true"})["serviceoffering"].(map[string]any)["id"].(string)
	target, other := v.hosts[0], v.hosts[1]
	plain := v.deploy(t, v.Admin, map[string]string{"networkids": v.network, "hostid": target, "account": "vmuser", "domainid": v.domainOf(t)})["id"].(string)
	withHA := v.deploy(t, v.Admin, map[string]string{"networkids": v.network, "hostid": target, "serviceofferingid": ha, "account": "vmuser", "domainid": v.domainOf(t)})["id"].(string)

	// Not forced (and not in maintenance), it is refused.
	mgmttest.Fail(t, v.Admin, "deleteHost", map[string]string{"id": target}, 530)

	// Forced, the host's answer to the stops is not needed: here it refuses them.
	mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": "StopVM", "fail": "true", "message": "injected"})
	if _, text := jobFails(t, v.Admin, "stopVirtualMachine", map[string]string{"id": plain}); !strings.Contains(text, "injected") {
		t.Fatalf("stop under the fault: %q, want the injected failure", text)
	}
	mgmttest.Do(t, v.Admin, "deleteHost", map[string]string{"id": target, "forced": "true"})
	mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": "StopVM", "remove": "true"})
	if hs := mgmttest.Do(t, v.Admin, "listHosts", map[string]string{"id": target})["host"]; hs != nil && len(hs.([]any)) > 0 {
		t.Fatalf("host still listed: %v", hs)
	}
	vm := func(id string) map[string]any {
		return mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"id": id})["virtualmachine"].([]any)[0].(map[string]any)
	}
	if got := vm(plain); got["state"] != "Stopped" {
		t.Fatalf("VM without HA: %v, want Stopped", got["state"])
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := vm(withHA)
		if got["state"] == "Running" && got["hostid"] == other {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("VM with HA: %v on %v, want Running on %s", got["state"], got["hostid"], other)
		}
		time.Sleep(100 * time.Millisecond)
	}
	v.checkLedger(t)
}

// TestMigrationWithLocalStorage: a VM with a volume on its host's local storage can move to no
// host (Atoll does not move volumes with a VM): every host needs storage motion, none is
// suitable, and migrateVirtualMachine refuses as CloudStack does.
func TestMigrationWithLocalStorage(t *testing.T) {
	v := newVMEnv(t, false)
	id := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})["id"].(string)
	root := mgmttest.Do(t, v.Admin, "listVolumes", map[string]string{"virtualmachineid": id, "type": "ROOT", "listall": "true"})["volume"].([]any)[0].(map[string]any)
	if _, err := v.Server.DB.SQL.Exec("UPDATE storage_pools SET scope = 'HOST' WHERE id = ?", root["storageid"]); err != nil {
		t.Fatal(err)
	}
	hosts := migrationHosts(t, v, "findHostsForMigration", id)
	if len(hosts) == 0 {
		t.Fatal("no hosts listed")
	}
	for _, h := range hosts {
		if h["suitableformigration"] != false || h["requiresStorageMotion"] != true {
			t.Fatalf("host %v: suitable %v, storage motion %v; want false, true", h["name"], h["suitableformigration"], h["requiresStorageMotion"])
		}
	}
	if _, text := jobFails(t, v.Admin, "migrateVirtualMachine", map[string]string{"virtualmachineid": id}); !strings.Contains(text, "Local storage") {
		t.Fatalf("migrate a VM on local storage: %q", text)
	}
}

// TestMigrateVirtualMachineWithVolume: with a host, the VM moves and its volumes stay on their
// pools; a mapping to another pool, a volume of another VM, a Stopped VM without a host, or
// neither host nor mapping are refused before anything moves.
func TestMigrateVirtualMachineWithVolume(t *testing.T) {
	v := newVMEnv(t, false)
	vm := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})
	id := vm["id"].(string)
	other := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})["id"].(string)
	hostOf := func() string {
		return mgmttest.Do(t, v.Admin, "listVirtualMachines", map[string]string{"id": id})["virtualmachine"].([]any)[0].(map[string]any)["hostid"].(string)
	}
	rootOf := func(vmID string) map[string]any {
		return mgmttest.Do(t, v.tenant, "listVolumes", map[string]string{"virtualmachineid": vmID})["volume"].([]any)[0].(map[string]any)
	}
	root, otherRoot := rootOf(id), rootOf(other)
	own := hostOf()
	to := v.hosts[0]
	if to == own {
		to = v.hosts[1]
	}
	mgmttest.Fail(t, v.Admin, "migrateVirtualMachineWithVolume", map[string]string{"virtualmachineid": id}, 431)
	mgmttest.Fail(t, v.Admin, "migrateVirtualMachineWithVolume", map[string]string{"virtualmachineid": id, "hostid": to,
		"migrateto[0].volume": "not-a-uuid", "migrateto[0].pool": root["storageid"].(string)}, 431)
	mgmttest.Fail(t, v.tenant, "migrateVirtualMachineWithVolume", map[string]string{"virtualmachineid": id, "hostid": to}, 432)
	pools := mgmttest.Do(t, v.Admin, "listStoragePools", nil)["storagepool"].([]any)
	var elsewhere string
	for _, p := range pools {
		if pid := p.(map[string]any)["id"].(string); pid != root["storageid"] {
			elsewhere = pid
		}
	}
	bad := []map[string]string{
		{"migrateto[0].volume": otherRoot["id"].(string), "migrateto[0].pool": otherRoot["storageid"].(string)},
	}
	if elsewhere != "" {
		bad = append(bad, map[string]string{"migrateto[0].volume": root["id"].(string), "migrateto[0].pool": elsewhere})
	}
	for _, m := range bad {
		m["virtualmachineid"], m["hostid"] = id, to
		if code, text := jobFails(t, v.Admin, "migrateVirtualMachineWithVolume", m); code != 431 || !strings.Contains(text, "volume") {
			t.Fatalf("migrateto %v: %d %s, want 431 naming the volume", m, code, text)
		}
		if h := hostOf(); h != own {
			t.Fatalf("a refused migration moved the VM to %s", h)
		}
	}
	moved := mgmttest.DoAsync(t, v.Admin, "migrateVirtualMachineWithVolume", map[string]string{"virtualmachineid": id, "hostid": to,
		"migrateto[0].volume": root["id"].(string), "migrateto[0].pool": root["storageid"].(string)})["virtualmachine"].(map[string]any)
	if moved["hostid"] != to || moved["state"] != "Running" {
		t.Fatalf("migrated VM: host %v state %v, want %s Running", moved["hostid"], moved["state"], to)
	}
	if r := rootOf(id); r["storageid"] != root["storageid"] {
		t.Fatalf("root volume moved from pool %v to %v", root["storageid"], r["storageid"])
	}
	mgmttest.DoAsync(t, v.tenant, "stopVirtualMachine", map[string]string{"id": id})
	if code, text := jobFails(t, v.Admin, "migrateVirtualMachineWithVolume", map[string]string{"virtualmachineid": id,
		"migrateto[0].volume": root["id"].(string), "migrateto[0].pool": root["storageid"].(string)}); code != 431 || !strings.Contains(text, "not supported") {
		t.Fatalf("storage-only migration of a stopped VM: %d %s", code, text)
	}
	v.checkLedger(t)
}
