package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// tplZone builds a zone with a pod, a cluster of the given hypervisor and an image store.
func tplZone(t *testing.T, e *mgmttest.Env, name, hypervisor string) string {
	t.Helper()
	zoneID, podID := infraZonePod(t, e, name)
	infraCluster(t, e, zoneID, podID, name+"-c", hypervisor)
	mgmttest.Do(t, e.Admin, "addImageStore", map[string]string{"name": name + "-sec", "url": "nfs://203.0.113.30/export/" + name,
		"provider": "NFS", "zoneid": zoneID})
	// Enabling a zone through the API needs its physical networks; the templates only need it enabled.
	if _, err := e.Server.DB.SQL.Exec("UPDATE zones SET allocation_state = 'Enabled' WHERE id = ?", zoneID); err != nil {
		t.Fatal(err)
	}
	return zoneID
}

func tplState(t *testing.T, e *mgmttest.Env) string {
	t.Helper()
	return dbtest.Fingerprint(t, e.Server.DB.SQL, "templates", "template_stores", "template_permissions", "resource_tags", "ssh_keypairs", "events")
}

// tplRefuse checks a command fails with code, mentions want, and changes nothing.
func tplRefuse(t *testing.T, e *mgmttest.Env, c *api.Client, cmd string, p map[string]string, code int, want string) {
	t.Helper()
	before := tplState(t, e)
	text := mgmttest.Fail(t, c, cmd, p, code)
	if !strings.Contains(text, want) {
		t.Errorf("%s %v: %q does not mention %q", cmd, p, text, want)
	}
	if tplState(t, e) != before {
		t.Errorf("%s %v was refused but changed the database", cmd, p)
	}
}

func tplList(t *testing.T, c *api.Client, p map[string]string) []map[string]any {
	t.Helper()
	return items(mgmttest.Do(t, c, "listTemplates", p), "template")
}

// tplWait polls listTemplates until the template is ready in the zone, recording the statuses seen.
func tplWait(t *testing.T, c *api.Client, id, zoneID string) (map[string]any, []string) {
	t.Helper()
	var seen []string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		l := tplList(t, c, map[string]string{"templatefilter": "self", "id": id, "zoneid": zoneID})
		if len(l) == 1 {
			st := fmt.Sprint(l[0]["status"])
			if len(seen) == 0 || seen[len(seen)-1] != st {
				seen = append(seen, st)
			}
			if l[0]["isready"] == true {
				return l[0], seen
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("template %s never became ready in zone %s (statuses %v)", id, zoneID, seen)
	return nil, nil
}

const tplSHA = "{SHA-256}e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestTemplateLifecycle(t *testing.T) { templateLifecycle(t, mgmttest.Options{}) }

func TestTemplateLifecycleMariaDB(t *testing.T) { templateLifecycle(t, mgmttest.Options{MySQL: true}) }

func templateLifecycle(t *testing.T, o mgmttest.Options) {
	simulatorDownloads(t, 600*time.Millisecond)
	e := mgmttest.Start(t, o)
	sim := tplZone(t, e, "simz", "Simulator")
	kvm := tplZone(t, e, "kvmz", "KVM")
	alice, aliceIDs := tenant(t, e, "alice", "0", "")
	bob, _ := tenant(t, e, "bob", "0", "")
	rootID := items(mgmttest.Do(t, e.Admin, "listDomains", map[string]string{"name": "ROOT"}), "domain")[0]["id"].(string)

	// Every Simulator zone offers CloudStack's built-in simulator template, ready.
	b := tplList(t, alice, map[string]string{"templatefilter": "featured", "zoneid": sim})
	if len(b) != 1 || b[0]["name"] != db.SimulatorTemplateName || b[0]["isready"] != true || b[0]["templatetype"] != "BUILTIN" ||
		b[0]["account"] != "system" || b[0]["status"] != "Download Complete" || b[0]["crossZones"] != true {
		t.Fatalf("built-in template: %v", b)
	}
	if l := tplList(t, alice, map[string]string{"templatefilter": "featured", "zoneid": kvm}); len(l) != 0 {
		t.Fatalf("a KVM zone offers the Simulator template: %v", l)
	}
	if ok, err := db.TemplateReadyInZone(context.Background(), e.Server.DB.SQL, db.SimulatorTemplateID, sim); !ok || err != nil {
		t.Fatalf("built-in template not ready in the Simulator zone: %v", err)
	}

	reg := map[string]string{"name": "tiny", "displaytext": "Tiny Linux", "format": "QCOW2", "hypervisor": "kvm", "zoneid": sim,
		"url": "http://images.example.org/tiny.qcow2.bz2", "checksum": tplSHA, "passwordenabled": "true"}
	// Bad input: CloudStack's errors, nothing changed.
	for _, tc := range []struct {
		k, v, want string
	}{
		{"checksum", "{SHA-256}abc", "not a valid SHA-256"},
		{"checksum", "{WHIRL}e3b0c44298fc1c149afbf4c8996fb924", "not supported"},
		{"checksum", "xyz", "not a valid MD5"},
		{"format", "FLOPPY", "Image format: FLOPPY is incorrect"},
		{"hypervisor", "Hyper", "Hypervisor Type: Hyper is invalid"},
		{"url", "ftp://images.example.org/tiny.qcow2", "Unsupported scheme"},
		{"url", "file:///tmp/tiny.qcow2", "File://"},
		{"url", "http://127.0.0.1/tiny.qcow2", "Illegal host"},
		{"url", "http://images.example.org/tiny.vhd", "invalid for the format qcow2"},
		{"url", "http://images.example.org/tiny.txt", "Please specify a valid qcow2"},
		{"zoneid", "-1", "can only be owned a Root Admin account"},
		{"zoneid", "00000000-0000-4000-8000-000000000000", "Please specify a valid zone"},
		{"bits", "16", "bits"},
	} {
		p := map[string]string{}
		for k, v := range reg {
			p[k] = v
		}
		p[tc.k] = tc.v
		tplRefuse(t, e, alice, "registerTemplate", p, 431, tc.want)
	}
	tplRefuse(t, e, alice, "registerTemplate", map[string]string{"name": "x", "displaytext": "x", "format": "QCOW2", "hypervisor": "KVM",
		"zoneid": "nope", "url": "http://images.example.org/x.qcow2"}, 431, "zoneid")

	res := mgmttest.Do(t, alice, "registerTemplate", reg)
	regd := items(res, "template")
	if len(regd) != 1 || regd[0]["isready"] != false || !strings.HasSuffix(fmt.Sprint(regd[0]["status"]), "% Downloaded") ||
		regd[0]["checksum"] != tplSHA || regd[0]["account"] != "alice" || regd[0]["zoneid"] != sim {
		t.Fatalf("registerTemplate answered %v", res)
	}
	if tags, ok := regd[0]["tags"].([]any); !ok || len(tags) != 0 {
		t.Fatalf("a template must always carry tags: %v", regd[0])
	}
	tid := regd[0]["id"].(string)
	got, seen := tplWait(t, alice, tid, sim)
	if got["status"] != "Download Complete" || got["size"] != float64(api.SimulatedTemplateSize) || got["passwordenabled"] != true ||
		got["hypervisor"] != "KVM" || got["format"] != "QCOW2" || got["displaytext"] != "Tiny Linux" {
		t.Fatalf("downloaded template: %v", got)
	}
	if len(seen) < 2 {
		t.Errorf("download progress not shown: statuses %v", seen)
	}
	if ok, _ := db.TemplateReadyInZone(context.Background(), e.Server.DB.SQL, tid, sim); !ok {
		t.Fatal("TemplateReadyInZone: not ready")
	}
	if ok, _ := db.TemplateReadyInZone(context.Background(), e.Server.DB.SQL, tid, kvm); ok {
		t.Fatal("TemplateReadyInZone: ready in another zone")
	}
	// cs_template finds it by exact name.
	if l := tplList(t, alice, map[string]string{"templatefilter": "self", "name": "tiny", "zoneid": sim}); len(l) != 1 {
		t.Fatalf("listTemplates name=tiny: %v", l)
	}
	if l := tplList(t, alice, map[string]string{"templatefilter": "self", "name": "tin"}); len(l) != 0 {
		t.Fatalf("listTemplates name=tin matched: %v", l)
	}
	if l := tplList(t, alice, map[string]string{"templatefilter": "executable", "keyword": "tin"}); len(l) != 1 {
		t.Fatalf("listTemplates keyword=tin: %v", l)
	}

	// Another tenant neither sees nor touches it.
	for _, f := range []string{"self", "selfexecutable", "sharedexecutable", "executable", "community", "featured"} {
		for _, tl := range tplList(t, bob, map[string]string{"templatefilter": f}) {
			if tl["id"] == tid {
				t.Fatalf("bob sees alice's private template with filter %s", f)
			}
		}
	}
	tplRefuse(t, e, bob, "listTemplates", map[string]string{"templatefilter": "all"}, 431, "admin only")
	tplRefuse(t, e, bob, "updateTemplate", map[string]string{"id": tid, "displaytext": "mine"}, 531, "permission")
	tplRefuse(t, e, bob, "deleteTemplate", map[string]string{"id": tid}, 531, "permission")
	tplRefuse(t, e, bob, "updateTemplatePermissions", map[string]string{"id": tid, "ispublic": "true"}, 431, "unable to update permissions")
	tplRefuse(t, e, bob, "createTags", map[string]string{"resourceids": tid, "resourcetype": "Template", "tags[0].key": "a",
		"tags[0].value": "b"}, 531, "permissions")
	tplRefuse(t, e, bob, "registerTemplate", map[string]string{"name": "x", "displaytext": "x", "format": "QCOW2", "hypervisor": "KVM",
		"zoneid": sim, "url": "http://images.example.org/x.qcow2", "account": "alice", "domainid": rootID}, 531, "permission denied")
	tplRefuse(t, e, alice, "listTemplates", map[string]string{"templatefilter": "mine"}, 431, "Invalid template filter")

	// Sharing with bob.
	mgmttest.Do(t, alice, "updateTemplatePermissions", map[string]string{"id": tid, "op": "add", "accounts": "bob"})
	perm := mgmttest.Do(t, alice, "listTemplatePermissions", map[string]string{"id": tid})["templatepermission"].(map[string]any)
	if acc := perm["account"].([]any); len(acc) != 1 || acc[0] != "bob" || perm["ispublic"] != false {
		t.Fatalf("listTemplatePermissions: %v", perm)
	}
	for _, f := range []string{"sharedexecutable", "executable"} {
		if l := tplList(t, bob, map[string]string{"templatefilter": f, "name": "tiny"}); len(l) != 1 {
			t.Fatalf("bob does not see the shared template with %s: %v", f, l)
		}
	}
	// An admin listing for bob (as cs_instance does with account and domainid) sees what bob sees.
	if l := tplList(t, e.Admin, map[string]string{"templatefilter": "executable", "account": "bob", "domainid": rootID, "name": "tiny"}); len(l) != 1 {
		t.Fatalf("admin listing bob's executable templates: %v", l)
	}
	tplRefuse(t, e, alice, "updateTemplatePermissions", map[string]string{"id": tid, "op": "add", "accounts": "nobody"}, 431, "account not found")
	tplRefuse(t, e, alice, "updateTemplatePermissions", map[string]string{"id": tid, "op": "grant", "accounts": "bob"}, 431, "Invalid operation")
	tplRefuse(t, e, alice, "updateTemplatePermissions", map[string]string{"id": tid, "isfeatured": "true"}, 531, "featured")
	mgmttest.Do(t, alice, "updateTemplatePermissions", map[string]string{"id": tid, "op": "reset"})
	if l := tplList(t, bob, map[string]string{"templatefilter": "executable", "name": "tiny"}); len(l) != 0 {
		t.Fatalf("bob still sees the template after reset: %v", l)
	}
	// Public: community shows it to bob.
	mgmttest.Do(t, alice, "updateTemplatePermissions", map[string]string{"id": tid, "ispublic": "true", "isextractable": "true"})
	if l := tplList(t, bob, map[string]string{"templatefilter": "community", "name": "tiny"}); len(l) != 1 || l[0]["ispublic"] != true ||
		l[0]["isextractable"] != true {
		t.Fatalf("community: %v", l)
	}

	// Update, as cs_template does.
	u := mgmttest.Do(t, alice, "updateTemplate", map[string]string{"id": tid, "displaytext": "Tiny 2", "passwordenabled": "false",
		"isdynamicallyscalable": "true"})["template"].(map[string]any)
	if u["displaytext"] != "Tiny 2" || u["passwordenabled"] != false || u["isdynamicallyscalable"] != true {
		t.Fatalf("updateTemplate: %v", u)
	}
	tplRefuse(t, e, alice, "updateTemplate", map[string]string{"id": tid, "format": "FLOPPY"}, 431, "Image format")

	// Tags on templates, and the tags filter of listTemplates.
	mgmttest.DoAsync(t, alice, "createTags", map[string]string{"resourceids": tid, "resourcetype": "template", "tags[0].key": "env",
		"tags[0].value": "prod"})
	l := tplList(t, alice, map[string]string{"templatefilter": "self", "tags[0].key": "env", "tags[0].value": "prod"})
	if len(l) != 1 || len(l[0]["tags"].([]any)) != 1 {
		t.Fatalf("listTemplates by tag: %v", l)
	}
	tag := l[0]["tags"].([]any)[0].(map[string]any)
	if tag["key"] != "env" || tag["value"] != "prod" || tag["resourcetype"] != "Template" || tag["resourceid"] != tid || tag["account"] != "alice" {
		t.Fatalf("tag: %v", tag)
	}
	if l := tplList(t, alice, map[string]string{"templatefilter": "self", "tags[0].key": "env", "tags[0].value": "dev"}); len(l) != 0 {
		t.Fatalf("listTemplates by another tag value: %v", l)
	}
	tplRefuse(t, e, alice, "createTags", map[string]string{"resourceids": tid, "resourcetype": "Template", "tags[0].key": "env",
		"tags[0].value": "x"}, 431, "tag env already on Template")
	tplRefuse(t, e, alice, "createTags", map[string]string{"resourceids": tid, "resourcetype": "Template", "tags[0].key": "k"}, 431, "null or empty")
	tplRefuse(t, e, alice, "createTags", map[string]string{"resourceids": tid, "resourcetype": "Gizmo", "tags[0].key": "k", "tags[0].value": "v"}, 431, "Invalid resource type")
	tplRefuse(t, e, alice, "createTags", map[string]string{"resourceids": aliceIDs[0], "resourcetype": "Template", "tags[0].key": "k", "tags[0].value": "v"}, 431, "Unable to find resource")
	if tl := items(mgmttest.Do(t, alice, "listTags", map[string]string{"resourcetype": "template", "resourceid": tid}), "tag"); len(tl) != 1 {
		t.Fatalf("listTags: %v", tl)
	}
	if tl := items(mgmttest.Do(t, bob, "listTags", map[string]string{"resourceid": tid}), "tag"); len(tl) != 0 {
		t.Fatalf("bob lists alice's tags: %v", tl)
	}
	tplRefuse(t, e, bob, "deleteTags", map[string]string{"resourceids": tid, "resourcetype": "Template"}, 531, "permission")
	mgmttest.DoAsync(t, alice, "deleteTags", map[string]string{"resourceids": tid, "resourcetype": "Template", "tags[0].key": "ENV"})
	if tl := items(mgmttest.Do(t, alice, "listTags", map[string]string{"resourceid": tid}), "tag"); len(tl) != 0 {
		t.Fatalf("tag survived deleteTags: %v", tl)
	}
	tplRefuse(t, e, alice, "deleteTags", map[string]string{"resourceids": tid, "resourcetype": "Template"}, 431, "Failed to delete tags")

	// Extract: CloudStack's answer, with a URL under this management server.
	ex := mgmttest.DoAsync(t, alice, "extractTemplate", map[string]string{"id": tid, "mode": "HTTP_DOWNLOAD", "zoneid": sim})["template"].(map[string]any)
	if ex["extractMode"] != "HTTP_DOWNLOAD" || ex["state"] != "DOWNLOAD_URL_CREATED" || !strings.HasPrefix(fmt.Sprint(ex["url"]), e.URL[:strings.Index(e.URL, "/client")]) {
		t.Fatalf("extractTemplate: %v", ex)
	}
	tplRefuse(t, e, alice, "extractTemplate", map[string]string{"id": db.SimulatorTemplateID, "mode": "HTTP_DOWNLOAD"}, 431, "default System template")
	tplRefuse(t, e, alice, "extractTemplate", map[string]string{"id": tid, "mode": "SCP"}, 431, "extract Mode")

	// A copy into another Simulator zone; a real (KVM) zone downloads through one of its hosts,
	// and with none Up the download fails, saying so.
	sim2 := tplZone(t, e, "simz2", "Simulator")
	cp := mgmttest.DoAsync(t, alice, "copyTemplate", map[string]string{"id": tid, "sourcezoneid": sim, "destzoneid": sim2})["template"].(map[string]any)
	if cp["zoneid"] != sim2 || cp["isready"] != true {
		t.Fatalf("copyTemplate: %v", cp)
	}
	tplRefuse(t, e, alice, "copyTemplate", map[string]string{"id": tid, "sourcezoneid": sim, "destzoneid": sim}, 431, "different source and destination")
	kv := items(mgmttest.Do(t, alice, "registerTemplate", map[string]string{"name": "real", "displaytext": "real", "format": "QCOW2",
		"hypervisor": "KVM", "zoneid": kvm, "url": "http://images.example.org/real.qcow2"}), "template")[0]
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := tplList(t, alice, map[string]string{"templatefilter": "self", "id": kv["id"].(string)})
		if strings.Contains(fmt.Sprint(l[0]["status"]), "No host in the zone is Up") {
			if l[0]["isready"] != false {
				t.Fatalf("a failed download is ready: %v", l[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a download into a real image store did not fail clearly: %v", l)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Delete in one zone, then everywhere.
	mgmttest.DoAsync(t, alice, "deleteTemplate", map[string]string{"id": tid, "zoneid": sim2})
	if l := tplList(t, alice, map[string]string{"templatefilter": "self", "id": tid}); len(l) != 1 || l[0]["zoneid"] != sim {
		t.Fatalf("after deleting in one zone: %v", l)
	}
	mgmttest.DoAsync(t, alice, "deleteTemplate", map[string]string{"id": tid})
	if l := tplList(t, alice, map[string]string{"templatefilter": "self", "id": tid}); len(l) != 0 {
		t.Fatalf("deleted template still listed: %v", l)
	}
	if l := tplList(t, e.Admin, map[string]string{"templatefilter": "all", "id": tid, "showremoved": "true"}); len(l) == 0 || l[0]["removed"] == nil {
		t.Fatalf("showremoved: %v", l)
	}
	tplRefuse(t, e, alice, "deleteTemplate", map[string]string{"id": tid}, 431, "unable to find template")
	// The built-in template belongs to the system: only the root admin may delete it.
	tplRefuse(t, e, alice, "deleteTemplate", map[string]string{"id": db.SimulatorTemplateID}, 531, "permission")
	tplRefuse(t, e, alice, "updateTemplate", map[string]string{"id": db.SimulatorTemplateID, "name": "mine"}, 531, "permission")
	// Deleted from a zone by the root admin, it stays gone there, even when a store is added.
	mgmttest.DoAsync(t, e.Admin, "deleteTemplate", map[string]string{"id": db.SimulatorTemplateID, "zoneid": sim2})
	mgmttest.Do(t, e.Admin, "addImageStore", map[string]string{"name": "simz2-sec2", "url": "nfs://203.0.113.31/export/s2",
		"provider": "NFS", "zoneid": sim2})
	if l := tplList(t, alice, map[string]string{"templatefilter": "featured", "zoneid": sim2}); len(l) != 0 {
		t.Fatalf("the built-in template came back in a zone it was deleted from: %v", l)
	}
	if ok, _ := db.TemplateReadyInZone(context.Background(), e.Server.DB.SQL, db.SimulatorTemplateID, sim2); ok {
		t.Fatal("the built-in template is ready in a zone it was deleted from")
	}
	if l := tplList(t, alice, map[string]string{"templatefilter": "featured", "zoneid": sim}); len(l) != 1 {
		t.Fatalf("the built-in template went from another zone too: %v", l)
	}
}

func TestIsoLifecycle(t *testing.T) {
	simulatorDownloads(t, 200*time.Millisecond)
	e := mgmttest.Start(t, mgmttest.Options{})
	sim := tplZone(t, e, "isoz", "Simulator")
	alice, _ := tenant(t, e, "alice", "0", "")
	bob, _ := tenant(t, e, "bob", "0", "")
	p := map[string]string{"name": "rescue", "displaytext": "Rescue", "url": "http://images.example.org/rescue.iso", "zoneid": sim,
		"bootable": "false"}
	tplRefuse(t, e, alice, "registerIso", map[string]string{"name": "r", "displaytext": "r", "url": "http://images.example.org/r.iso",
		"zoneid": sim}, 431, "valid GuestOS")
	tplRefuse(t, e, alice, "registerIso", map[string]string{"name": "r", "displaytext": "r", "url": "http://images.example.org/r.qcow2",
		"zoneid": sim, "bootable": "false"}, 431, "invalid for the format iso")
	iso := items(mgmttest.Do(t, alice, "registerIso", p), "iso")[0]
	id := iso["id"].(string)
	if iso["format"] != "ISO" || iso["bootable"] != false {
		t.Fatalf("registerIso: %v", iso)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := items(mgmttest.Do(t, alice, "listIsos", map[string]string{"isofilter": "self", "id": id}), "iso")
		if len(l) == 1 && l[0]["isready"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ISO never ready: %v", l)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// isready=false filters nothing, as cs_iso's lookups rely on.
	if l := items(mgmttest.Do(t, alice, "listIsos", map[string]string{"isofilter": "self", "isready": "false", "name": "rescue"}), "iso"); len(l) != 1 {
		t.Fatalf("listIsos isready=false: %v", l)
	}
	// ISOs and templates stay apart.
	if l := tplList(t, alice, map[string]string{"templatefilter": "self", "id": id}); len(l) != 0 {
		t.Fatalf("an ISO is listed as a template: %v", l)
	}
	if l := items(mgmttest.Do(t, alice, "listIsos", map[string]string{"isofilter": "self", "bootable": "true"}), "iso"); len(l) != 0 {
		t.Fatalf("bootable=true lists a non-bootable ISO: %v", l)
	}
	if l := items(mgmttest.Do(t, bob, "listIsos", map[string]string{"isofilter": "executable"}), "iso"); len(l) != 0 {
		t.Fatalf("bob sees alice's ISO: %v", l)
	}
	tplRefuse(t, e, alice, "updateTemplate", map[string]string{"id": id, "name": "x"}, 431, "unable to find template")
	u := mgmttest.Do(t, alice, "updateIso", map[string]string{"id": id, "displaytext": "Rescue 2"})["iso"].(map[string]any)
	if u["displaytext"] != "Rescue 2" {
		t.Fatalf("updateIso: %v", u)
	}
	tplRefuse(t, e, bob, "deleteIso", map[string]string{"id": id}, 531, "permission")
	mgmttest.DoAsync(t, alice, "deleteIso", map[string]string{"id": id})
	if l := items(mgmttest.Do(t, alice, "listIsos", map[string]string{"isofilter": "self"}), "iso"); len(l) != 0 {
		t.Fatalf("deleted ISO still listed: %v", l)
	}
}

// A download that would take the owner past its secondary storage limit fails, and the
// counts stay what updateResourceCount recomputes.
func TestTemplateSecondaryStorageLimit(t *testing.T) {
	simulatorDownloads(t, 100*time.Millisecond)
	e := mgmttest.Start(t, mgmttest.Options{})
	sim := tplZone(t, e, "limz", "Simulator")
	carol, ids := tenant(t, e, "carol", "0", "")
	rootID := items(mgmttest.Do(t, e.Admin, "listDomains", map[string]string{"name": "ROOT"}), "domain")[0]["id"].(string)
	mgmttest.Do(t, e.Admin, "updateResourceLimit", map[string]string{"account": "carol", "domainid": rootID, "resourcetype": "11", "max": "0"})
	tpl := items(mgmttest.Do(t, carol, "registerTemplate", map[string]string{"name": "big", "displaytext": "big", "format": "QCOW2",
		"hypervisor": "KVM", "zoneid": sim, "url": "http://images.example.org/big.qcow2"}), "template")[0]
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := tplList(t, carol, map[string]string{"templatefilter": "self", "id": tpl["id"].(string)})
		if st := fmt.Sprint(l[0]["status"]); !strings.HasSuffix(st, "% Downloaded") {
			if l[0]["isready"] != false || !strings.Contains(st, "secondary_storage") {
				t.Fatalf("a download past the limit: %v", l[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("download never ended: %v", l)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int64
	if err := e.Server.DB.SQL.QueryRow("SELECT COALESCE(SUM(count_value),0) FROM resource_counts WHERE owner_id = ? AND resource_type = ?",
		ids[0], db.ResSecondaryStorage).Scan(&n); err != nil {
		t.Fatal(err)
	} else if n != 0 {
		t.Fatalf("secondary storage count %d after a refused download, want 0", n)
	}
}
