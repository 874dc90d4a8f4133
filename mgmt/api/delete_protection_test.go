package api_test

import (
	"strings"
	"testing"

	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// TestDeleteProtection: CloudStack 4.20's delete protection. A VM or volume with it set is
// not destroyed or deleted (431, nothing changes) until it is cleared.
func TestDeleteProtection(t *testing.T) { testDeleteProtection(t, false) }
func TestDeleteProtectionOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	testDeleteProtection(t, true)
}

func testDeleteProtection(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	id := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})["id"].(string)
	got := mgmttest.Do(t, v.tenant, "updateVirtualMachine", map[string]string{"id": id, "deleteprotection": "true"})["virtualmachine"].(map[string]any)
	if got["deleteprotection"] != true {
		t.Fatalf("updateVirtualMachine deleteprotection=true: %v", got["deleteprotection"])
	}
	listed := mgmttest.Do(t, v.tenant, "listVirtualMachines", map[string]string{"id": id})["virtualmachine"].([]any)[0].(map[string]any)
	if listed["deleteprotection"] != true {
		t.Fatalf("listed: deleteprotection %v", listed["deleteprotection"])
	}

	do := items(mgmttest.Do(t, v.tenant, "listDiskOfferings", map[string]string{"name": "Small"}), "diskoffering")[0]["id"].(string)
	vol := mgmttest.DoAsync(t, v.tenant, "createVolume", map[string]string{"name": "keep", "diskofferingid": do, "zoneid": v.zoneID})["volume"].(map[string]any)
	volID := vol["id"].(string)
	if vol["deleteprotection"] != false {
		t.Fatalf("new volume: deleteprotection %v", vol["deleteprotection"])
	}
	up := mgmttest.DoAsync(t, v.tenant, "updateVolume", map[string]string{"id": volID, "deleteprotection": "true", "name": "kept"})["volume"].(map[string]any)
	if up["deleteprotection"] != true || up["name"] != "kept" {
		t.Fatalf("updateVolume: %v %v", up["deleteprotection"], up["name"])
	}
	mgmttest.DoAsync(t, v.tenant, "attachVolume", map[string]string{"id": volID, "virtualmachineid": id})

	before := v.vmFingerprint(t)
	if text := mgmttest.Fail(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": id}, 431); !strings.Contains(text, "has delete protection enabled") {
		t.Fatalf("destroy of a protected VM: %q", text)
	}
	if after := v.vmFingerprint(t); after != before {
		t.Fatal("a refused destroy changed rows")
	}
	mgmttest.Do(t, v.tenant, "updateVirtualMachine", map[string]string{"id": id, "deleteprotection": "false"})
	before = v.vmFingerprint(t)
	if text := mgmttest.Fail(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": id, "volumeids": volID}, 431); !strings.Contains(text, "Volume [id = "+volID) {
		t.Fatalf("destroy with a protected data disk: %q", text)
	}
	if after := v.vmFingerprint(t); after != before {
		t.Fatal("a refused destroy changed rows")
	}
	mgmttest.DoAsync(t, v.tenant, "detachVolume", map[string]string{"id": volID})
	if text := mgmttest.Fail(t, v.tenant, "deleteVolume", map[string]string{"id": volID}, 431); !strings.Contains(text, "has delete protection enabled") {
		t.Fatalf("delete of a protected volume: %q", text)
	}
	// What updateVolume does not do, it refuses; a tenant may not hide a volume.
	mgmttest.Fail(t, v.tenant, "updateVolume", map[string]string{"id": volID, "state": "Ready"}, 431)
	mgmttest.Fail(t, v.tenant, "updateVolume", map[string]string{"id": volID, "displayvolume": "false"}, 531)
	mgmttest.DoAsync(t, v.tenant, "updateVolume", map[string]string{"id": volID, "deleteprotection": "false"})
	mgmttest.Do(t, v.tenant, "deleteVolume", map[string]string{"id": volID})
	mgmttest.DoAsync(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": id})

	// A destroyed VM with protection: destroying it again changes nothing and succeeds; an
	// expunge is refused (CloudStack skips the check only for a destroy without expunge).
	mgmttest.Do(t, v.tenant, "updateVirtualMachine", map[string]string{"id": id, "deleteprotection": "true"})
	mgmttest.DoAsync(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": id})
	if text := mgmttest.Fail(t, v.tenant, "destroyVirtualMachine", map[string]string{"id": id, "expunge": "true"}, 431); !strings.Contains(text, "has delete protection enabled") {
		t.Fatalf("expunge of a protected destroyed VM: %q", text)
	}
	v.checkLedger(t)
}
