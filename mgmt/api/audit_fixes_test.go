package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// Atoll has no projects: a list given any projectid answers CloudStack's 431 "Unable to find
// project by id <id>" rather than an empty list, for users and admins alike.
func TestListsRefuseProjectID(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	user, _ := tenant(t, e, "projuser", "0", "")
	const pid = "00000000-0000-4000-8000-0000000000aa"
	for _, tc := range []struct {
		cmd   string
		extra map[string]string
	}{
		{"listVolumes", nil},
		{"listSnapshots", nil},
		{"listTemplates", map[string]string{"templatefilter": "self"}},
		{"listIsos", nil},
		{"listSSHKeyPairs", nil},
		{"listTags", nil},
		{"listAffinityGroups", nil},
		{"listSnapshotPolicies", nil},
	} {
		for name, c := range map[string]*api.Client{"user": user, "admin": e.Admin} {
			p := map[string]string{"projectid": pid}
			for k, v := range tc.extra {
				p[k] = v
			}
			text := mgmttest.Fail(t, c, tc.cmd, p, 431)
			if want := "Unable to find project by id " + pid; !strings.Contains(text, want) {
				t.Errorf("%s as %s: %q, want %q", tc.cmd, name, text, want)
			}
		}
	}
	// Creating for a project is refused the same way.
	for _, tc := range []struct {
		cmd string
		p   map[string]string
	}{
		{"createSSHKeyPair", map[string]string{"name": "k"}},
		{"createAffinityGroup", map[string]string{"name": "g", "type": "host anti-affinity"}},
	} {
		tc.p["projectid"] = pid
		if text := mgmttest.Fail(t, user, tc.cmd, tc.p, 431); !strings.Contains(text, "Unable to find project by id "+pid) {
			t.Errorf("%s: %q", tc.cmd, text)
		}
	}
}

// createSnapshotPolicy refuses tags (not supported on policies) instead of ignoring them.
func TestCreateSnapshotPolicyRefusesTags(t *testing.T) {
	v := newVolEnv(t, mgmttest.Start(t, mgmttest.Options{}))
	vm := v.vm(t, db.VMStopped)
	roots := items(mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"virtualmachineid": vm.ID, "type": "ROOT"}), "volume")
	if len(roots) != 1 {
		t.Fatalf("ROOT: %v", roots)
	}
	root := roots[0]["id"].(string)
	p := map[string]string{"volumeid": root, "intervaltype": "daily", "schedule": "30:02", "timezone": "UTC", "maxsnaps": "2",
		"tags[0].key": "env", "tags[0].value": "prod"}
	count := func() any {
		return mgmttest.Do(t, v.alice, "listSnapshotPolicies", map[string]string{"volumeid": root})["count"]
	}
	before := count()
	if text := mgmttest.Fail(t, v.alice, "createSnapshotPolicy", p, 431); !strings.Contains(text, "tags") {
		t.Errorf("createSnapshotPolicy with tags: %q does not name tags", text)
	}
	if after := count(); after != before {
		t.Errorf("refused createSnapshotPolicy changed the policy count: %v -> %v", before, after)
	}
	delete(p, "tags[0].key")
	delete(p, "tags[0].value")
	mgmttest.Do(t, v.alice, "createSnapshotPolicy", p)
}

// createTemplate: a user may not make a public template while allow.public.user.templates is
// false (CloudStack's PermissionDeniedException); an admin may.
func TestCreateTemplatePublicNeedsSetting(t *testing.T) {
	simulatorDownloads(t, 200*time.Millisecond)
	v := newVMEnv(t, false)
	e := v.Env
	vm := v.deploy(t, v.tenant, nil)
	vmID := vm["id"].(string)
	rootID := items(mgmttest.Do(t, v.tenant, "listVolumes", map[string]string{"virtualmachineid": vmID, "type": "ROOT"}), "volume")[0]["id"].(string)
	var osType string
	for _, o := range items(mgmttest.Do(t, v.tenant, "listOsTypes", nil), "ostype") {
		if o["description"] == "Other Linux (64-bit)" {
			osType = o["id"].(string)
		}
	}
	mgmttest.DoAsync(t, v.tenant, "stopVirtualMachine", map[string]string{"id": vmID})
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "allow.public.user.templates", "value": "false"})
	p := map[string]string{"name": "pub", "displaytext": "Public", "ostypeid": osType, "volumeid": rootID, "ispublic": "true"}
	tplRefuse(t, e, v.tenant, "createTemplate", p, 531, "Failed to create template pub, only private templates can be created.")

	tpl := mgmttest.DoAsync(t, e.Admin, "createTemplate", p)["template"].(map[string]any)
	if tpl["ispublic"] != true {
		t.Fatalf("admin's public createTemplate: %v", tpl)
	}
	p["name"], p["ispublic"] = "priv", "false"
	if tpl := mgmttest.DoAsync(t, v.tenant, "createTemplate", p)["template"].(map[string]any); tpl["ispublic"] != false {
		t.Fatalf("user's private createTemplate: %v", tpl)
	}
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "allow.public.user.templates", "value": "true"})
	p["name"], p["ispublic"] = "pub2", "true"
	if tpl := mgmttest.DoAsync(t, v.tenant, "createTemplate", p)["template"].(map[string]any); tpl["ispublic"] != true {
		t.Fatalf("user's public createTemplate with the setting on: %v", tpl)
	}
}
