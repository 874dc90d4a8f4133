package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
)

// waitIso polls listIsos until the ISO is ready.
func waitIso(t *testing.T, c *api.Client, id string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		l := items(mgmttest.Do(t, c, "listIsos", map[string]string{"isofilter": "self", "id": id}), "iso")
		if len(l) == 1 && l[0]["isready"] == true {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ISO %s never ready: %v", id, l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// simulatorDownloads makes the Simulator's template and ISO downloads take d for this test.
func simulatorDownloads(t *testing.T, d time.Duration) {
	old := template.SimulatorDownloadTime
	template.SimulatorDownloadTime = d
	t.Cleanup(func() { template.SimulatorDownloadTime = old })
}

func TestIsoAttachDetach(t *testing.T) {
	simulatorDownloads(t, 200*time.Millisecond)
	v := newVMEnv(t, false)
	e := v.Env
	vm := v.deploy(t, v.tenant, nil)
	vmID := vm["id"].(string)
	iso := items(mgmttest.Do(t, v.tenant, "registerIso", map[string]string{"name": "tools", "displaytext": "Tools",
		"url": "http://images.example.org/tools.iso", "zoneid": v.zoneID, "bootable": "false"}), "iso")[0]
	isoID := iso["id"].(string)
	waitIso(t, v.tenant, isoID)
	other, _ := tenant(t, e, "other", "0", "")
	otherIso := items(mgmttest.Do(t, other, "registerIso", map[string]string{"name": "theirs", "displaytext": "theirs",
		"url": "http://images.example.org/theirs.iso", "zoneid": v.zoneID, "bootable": "false"}), "iso")[0]["id"].(string)
	waitIso(t, other, otherIso)

	// Another tenant's VM or private ISO is out of reach; nothing changes.
	tplRefuse(t, e, other, "attachIso", map[string]string{"id": otherIso, "virtualmachineid": vmID}, 531, "permission")
	tplRefuse(t, e, v.tenant, "attachIso", map[string]string{"id": otherIso, "virtualmachineid": vmID}, 531, "permission")
	tplRefuse(t, e, v.tenant, "detachIso", map[string]string{"virtualmachineid": vmID}, 431, "no ISO attached")

	got := mgmttest.DoAsync(t, v.tenant, "attachIso", map[string]string{"id": isoID, "virtualmachineid": vmID})["virtualmachine"].(map[string]any)
	if got["isoid"] != isoID || got["isoname"] != "tools" {
		t.Fatalf("attachIso: %v", got)
	}
	tplRefuse(t, e, v.tenant, "attachIso", map[string]string{"id": isoID, "virtualmachineid": vmID}, 431, "already attached")
	// An attached ISO cannot be deleted.
	tplRefuse(t, e, v.tenant, "deleteIso", map[string]string{"id": isoID}, 431, "used by other vms")
	got = mgmttest.DoAsync(t, v.tenant, "detachIso", map[string]string{"virtualmachineid": vmID})["virtualmachine"].(map[string]any)
	if _, ok := got["isoid"]; ok {
		t.Fatalf("detachIso left the ISO: %v", got)
	}
	// The template a VM was deployed from cannot be deleted while the VM exists, unless forced.
	text := mgmttest.Fail(t, e.Admin, "deleteTemplate", map[string]string{"id": vm["templateid"].(string)}, 431)
	if !strings.Contains(text, "are using it") {
		t.Fatalf("deleteTemplate of a template in use: %s", text)
	}
	mgmttest.DoAsync(t, v.tenant, "deleteIso", map[string]string{"id": isoID})
}
