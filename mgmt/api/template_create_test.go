package api_test

import (
	"testing"
	"time"

	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// createTemplate from a stopped VM's ROOT volume and from a snapshot of it; a running VM's
// volume and another tenant's volume are refused.
func TestCreateTemplate(t *testing.T) {
	simulatorDownloads(t, 200*time.Millisecond)
	v := newVMEnv(t, false)
	e := v.Env
	vm := v.deploy(t, v.tenant, nil)
	vmID := vm["id"].(string)
	root := items(mgmttest.Do(t, v.tenant, "listVolumes", map[string]string{"virtualmachineid": vmID, "type": "ROOT"}), "volume")[0]
	rootID := root["id"].(string)
	var osType string
	for _, o := range items(mgmttest.Do(t, v.tenant, "listOsTypes", nil), "ostype") {
		if o["description"] == "Other Linux (64-bit)" {
			osType = o["id"].(string)
		}
	}
	if osType == "" {
		t.Fatal("no Other Linux (64-bit) OS type")
	}
	p := map[string]string{"name": "golden", "displaytext": "Golden image", "ostypeid": osType, "volumeid": rootID}
	other, _ := tenant(t, e, "other", "0", "")
	tplRefuse(t, e, other, "createTemplate", p, 531, "permission")
	tplRefuse(t, e, v.tenant, "createTemplate", p, 431, "stop it")
	tplRefuse(t, e, v.tenant, "createTemplate", map[string]string{"name": "x", "displaytext": "x", "ostypeid": osType}, 431, "neither volume ID nor snapshot ID")
	tplRefuse(t, e, v.tenant, "createTemplate", map[string]string{"name": "x", "displaytext": "x", "ostypeid": osType, "volumeid": rootID,
		"snapshotid": rootID}, 431, "only one")

	mgmttest.DoAsync(t, v.tenant, "stopVirtualMachine", map[string]string{"id": vmID})
	tpl := mgmttest.DoAsync(t, v.tenant, "createTemplate", p)["template"].(map[string]any)
	if tpl["name"] != "golden" || tpl["isready"] != true || tpl["zoneid"] != v.zoneID || tpl["ostypeid"] != osType ||
		tpl["account"] != "vmuser" || tpl["size"] != root["size"] || tpl["templatetype"] != "USER" {
		t.Fatalf("createTemplate from a volume: %v (root volume %v)", tpl, root)
	}
	// It deploys like any template.
	vm2 := v.deploy(t, v.tenant, map[string]string{"templateid": tpl["id"].(string), "name": "from-golden"})
	if vm2["templateid"] != tpl["id"] {
		t.Fatalf("deploy from the new template: %v", vm2)
	}

	snap := mgmttest.DoAsync(t, v.tenant, "createSnapshot", map[string]string{"volumeid": rootID})["snapshot"].(map[string]any)
	fromSnap := mgmttest.DoAsync(t, v.tenant, "createTemplate", map[string]string{"name": "from-snap", "displaytext": "From a snapshot",
		"ostypeid": osType, "snapshotid": snap["id"].(string)})["template"].(map[string]any)
	if fromSnap["isready"] != true || fromSnap["zoneid"] != v.zoneID {
		t.Fatalf("createTemplate from a snapshot: %v", fromSnap)
	}
	tplRefuse(t, e, other, "createTemplate", map[string]string{"name": "x", "displaytext": "x", "ostypeid": osType,
		"snapshotid": snap["id"].(string)}, 531, "permission")
}
