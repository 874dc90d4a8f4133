package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// cmkParse reads a listApis answer the way cloudmonkey's `cmk sync` does (config/cache.go:
// unchecked type assertions on every field it reads), failing where cmk would panic.
func cmkParse(t *testing.T, res map[string]any) map[string]map[string]any {
	t.Helper()
	if _, ok := res["count"].(float64); !ok {
		t.Fatalf("listApis without count: %v", res)
	}
	out := map[string]map[string]any{}
	for _, node := range res["api"].([]any) {
		a := node.(map[string]any)
		name, ok1 := a["name"].(string)
		_, ok2 := a["isasync"].(bool)
		_, ok3 := a["description"].(string)
		params, ok4 := a["params"].([]any)
		resp, ok5 := a["response"].([]any)
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
			t.Fatalf("api entry cmk cannot read: %v", a)
		}
		for _, pn := range params {
			p := pn.(map[string]any)
			_, ok1 := p["name"].(string)
			_, ok2 := p["type"].(string)
			_, ok3 := p["required"].(bool)
			_, ok4 := p["description"].(string)
			_, ok5 := p["length"].(float64)
			if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
				t.Fatalf("param of %s cmk cannot read: %v", name, p)
			}
			if r, ok := p["related"]; ok {
				if _, ok := r.(string); !ok {
					t.Fatalf("related of %s is not a string: %v", name, p)
				}
			}
		}
		// cmk collects the response names for its output filter completion (filter=...).
		for _, rn := range resp {
			if r, ok := rn.(map[string]any); ok {
				if _, ok := r["name"].(string); !ok {
					t.Fatalf("response field of %s without a name: %v", name, r)
				}
			}
		}
		out[name] = a
	}
	return out
}

func param(t *testing.T, a map[string]any, name string) map[string]any {
	t.Helper()
	for _, p := range a["params"].([]any) {
		if p.(map[string]any)["name"] == name {
			return p.(map[string]any)
		}
	}
	t.Fatalf("%s has no parameter %s", a["name"], name)
	return nil
}

func TestListApis(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	reg := e.Server.API.Reg.All()
	// cmk sync sends listall=true, which listApis ignores.
	apis := cmkParse(t, mgmttest.Do(t, e.Admin, "listApis", map[string]string{"listall": "true"}))
	if len(apis) != len(reg) {
		t.Fatalf("root admin sees %d of %d commands", len(apis), len(reg))
	}
	for _, cmd := range reg {
		a := apis[cmd.Name]
		if a == nil {
			t.Fatalf("%s missing from listApis", cmd.Name)
		}
		if a["isasync"] != cmd.Async || a["description"] != cmd.Description || len(a["params"].([]any)) != len(cmd.Params) {
			t.Errorf("%s: %v", cmd.Name, a)
		}
		for _, p := range cmd.Params {
			got := param(t, a, p.Name)
			if got["type"] != string(p.Type) || got["required"] != p.Required {
				t.Errorf("%s %s: %v", cmd.Name, p.Name, got)
			}
		}
	}
	if apis["deleteDomain"]["isasync"] != true || apis["listRoles"]["since"] != "4.9.0" {
		t.Fatalf("isasync/since: %v %v", apis["deleteDomain"], apis["listRoles"])
	}
	// Paging parameters of list commands, and "related" for ids (cmk completes ids with the
	// related list command).
	param(t, apis["listDomains"], "pagesize")
	for _, c := range []struct{ api, param, want string }{
		{"createDomain", "parentdomainid", "listDomains"},
		{"listConfigurations", "domainid", "listDomains"},
		{"updateRole", "id", "listRoles"},
		{"deleteRole", "id", "listRoles"},
		{"createRolePermission", "roleid", "listRoles"},
		{"deleteRolePermission", "id", "listRolePermissions"},
	} {
		rel, _ := param(t, apis[c.api], c.param)["related"].(string)
		if !strings.Contains(","+rel+",", ","+c.want+",") || strings.Contains(rel, "delete") {
			t.Errorf("%s %s related = %q, want it to name %s", c.api, c.param, rel, c.want)
		}
	}
	if _, ok := param(t, apis["createDomain"], "name")["related"]; ok {
		t.Errorf("a string parameter has related")
	}
	if rel := apis["listRoles"]["related"]; rel != "createRole,updateRole" {
		t.Errorf("listRoles related = %v", rel)
	}

	one := mgmttest.Do(t, e.Admin, "listApis", map[string]string{"name": "listRoles"})
	if one["count"].(float64) != 1 || items(one, "api")[0]["name"] != "listRoles" {
		t.Fatalf("listApis by name: %v", one)
	}
	if text := mgmttest.Fail(t, e.Admin, "listApis", map[string]string{"name": "launchRocket"}, 431); !strings.Contains(text, "launchRocket") {
		t.Fatalf("unknown api: %s", text)
	}

	// A user sees exactly the commands its role type and rules allow.
	user, _ := keyedAccount(t, e, "user", defaultRole(t, e, iam.RoleUser), "")
	mine := cmkParse(t, mgmttest.Do(t, user, "listApis", nil))
	for _, cmd := range reg {
		if (cmd.Roles&api.User != 0) != (mine[cmd.Name] != nil) {
			t.Errorf("user listApis and %s (roles %b) disagree", cmd.Name, cmd.Roles)
		}
	}
	if mine["listDomains"] == nil || mine["createDomain"] != nil || mine["listConfigurations"] != nil {
		t.Fatalf("user apis: %v", len(mine))
	}
	mgmttest.Fail(t, user, "listApis", map[string]string{"name": "createDomain"}, 431)
}

// responseField returns the entry named name of a listApis response list.
func responseField(t *testing.T, list any, name string) map[string]any {
	t.Helper()
	for _, r := range list.([]any) {
		if r.(map[string]any)["name"] == name {
			return r.(map[string]any)
		}
	}
	t.Fatalf("no response field %s in %v", name, list)
	return nil
}

// checkResponseFields checks a listApis response list (and its nested ones): entries with
// CloudStack's keys, a description, one of CloudStack's type names, unique names in order.
func checkResponseFields(t *testing.T, where string, list any) {
	t.Helper()
	entries, ok := list.([]any)
	if !ok || len(entries) == 0 {
		t.Errorf("%s: response is empty or not a list: %v", where, list)
		return
	}
	prev := ""
	for _, en := range entries {
		e := en.(map[string]any)
		name, _ := e["name"].(string)
		typ, _ := e["type"].(string)
		desc, _ := e["description"].(string)
		for k := range e {
			if k != "name" && k != "type" && k != "description" && k != "response" {
				t.Errorf("%s.%s: key %s is not ApiResponseResponse's", where, name, k)
			}
		}
		if name == "" || desc == "" || api.FieldKind(typ) == "" {
			t.Errorf("%s: entry without a name, a description or a CloudStack type: %v", where, e)
		}
		if name <= prev {
			t.Errorf("%s: %s after %s: not sorted by name, or twice", where, name, prev)
		}
		prev = name
		if sub, ok := e["response"]; ok {
			if k := api.FieldKind(typ); k != "array" && k != "object" {
				t.Errorf("%s.%s: nested fields on a %s", where, name, typ)
			}
			checkResponseFields(t, where+"."+name, sub)
		}
	}
}

// TestListApisResponse checks that listApis describes every command's response from the
// registry, typed as CloudStack's listApis types it (cmk completes its filter option with the
// names).
func TestListApisResponse(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	apis := cmkParse(t, mgmttest.Do(t, e.Admin, "listApis", nil))
	for _, cmd := range e.Server.API.Reg.All() {
		a := apis[cmd.Name]
		if a == nil {
			t.Fatalf("%s missing from listApis", cmd.Name)
		}
		checkResponseFields(t, cmd.Name, a["response"])
		if len(a["response"].([]any)) != len(cmd.Response) {
			t.Errorf("%s: %d response fields, the registry declares %d", cmd.Name, len(a["response"].([]any)), len(cmd.Response))
		}
		// BaseResponse's fields are in every top-level response.
		if responseField(t, a["response"], "jobid")["type"] != "string" || responseField(t, a["response"], "jobstatus")["type"] != "integer" {
			t.Errorf("%s: jobid/jobstatus mistyped", cmd.Name)
		}
	}
	typeOf := func(api, field string) any { return responseField(t, apis[api]["response"], field)["type"] }
	for _, c := range []struct{ api, field, want string }{
		// PodResponse's deprecated range fields are List<String> since 4.16.
		{"listPods", "startip", "list"}, {"listPods", "endip", "list"}, {"createPod", "vlanid", "list"},
		{"listPods", "ipranges", "list"}, {"listPods", "name", "string"},
		// UserVmResponse: Set<NicResponse>, Date created, Integer cpunumber, Map details.
		{"listVirtualMachines", "nic", "set"}, {"deployVirtualMachine", "created", "date"},
		{"listVirtualMachines", "cpunumber", "integer"}, {"listVirtualMachines", "details", "map"},
		{"listVirtualMachines", "tags", "set"}, {"listNetworks", "tags", "list"},
		{"listHosts", "cpuspeed", "long"}, {"listHosts", "state", "status"},
		{"listTemplates", "format", "imageformat"}, {"listTemplates", "bits", "int"},
		{"listAccounts", "user", "list"}, {"queryAsyncJobResult", "jobresult", "responseobject"},
		// SuccessResponse.
		{"deletePod", "success", "boolean"}, {"deletePod", "displaytext", "string"},
		{"deleteVolume", "success", "boolean"}, {"expungeVirtualMachine", "success", "boolean"},
	} {
		if got := typeOf(c.api, c.field); got != c.want {
			t.Errorf("%s %s: type %v, want %s", c.api, c.field, got, c.want)
		}
	}
	if n := len(apis["deleteZone"]["response"].([]any)); n != 4 {
		t.Errorf("deleteZone answers success, displaytext, jobid, jobstatus; listApis has %d fields", n)
	}
	nic := responseField(t, apis["listVirtualMachines"]["response"], "nic")
	if responseField(t, nic["response"], "ipaddress")["type"] != "string" || responseField(t, nic["response"], "isdefault")["type"] != "boolean" {
		t.Errorf("nic's nested fields: %v", nic)
	}
	ranges := responseField(t, apis["listPods"]["response"], "ipranges")
	if responseField(t, ranges["response"], "startip")["type"] != "string" {
		t.Errorf("ipranges' nested fields: %v", ranges)
	}
	// One command by name answers the same description.
	one := mgmttest.Do(t, e.Admin, "listApis", map[string]string{"name": "listPods"})
	if len(items(one, "api")[0]["response"].([]any)) != len(apis["listPods"]["response"].([]any)) {
		t.Errorf("listApis name=listPods: %v", one)
	}
}

// TestRegistryNeedsResponse: a command must declare its response fields.
func TestRegistryNeedsResponse(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "no response") {
			t.Fatalf("Add without Response: %v", r)
		}
	}()
	api.NewRegistry().Add(&api.Command{Name: "launchRocket", Roles: api.Admin})
}

func TestListCapabilities(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	c := mgmttest.Do(t, e.Admin, "listCapabilities", nil)["capability"].(map[string]any)
	want := map[string]any{"cloudstackversion": "4.20.0.0", "dynamicrolesenabled": true, "securitygroupsenabled": false,
		"userpublictemplateenabled": true, "supportELB": "false", "projectinviterequired": false, "allowusercreateprojects": true,
		"customdiskofferingminsize": 1.0, "customdiskofferingmaxsize": 1024.0, "kvmsnapshotenabled": false,
		"allowuserviewdestroyedvm": false, "allowuserexpungerecovervm": false, "regionsecondaryenabled": false,
		"dynamicscalingenabled": false, "defaultuipagesize": 20.0}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %v, want %v", k, c[k], v)
		}
	}
	if _, ok := c["apilimitmax"]; ok {
		t.Errorf("api limits reported while throttling is off: %v", c)
	}

	// Values come from the settings, at the caller's scope where CloudStack reads them so.
	user, acct := keyedAccount(t, e, "user", defaultRole(t, e, iam.RoleUser), "")
	for _, s := range []map[string]string{
		{"name": "api.throttling.enabled", "value": "true"},
		{"name": "enable.dynamic.scale.vm", "value": "true"},
		{"name": "allow.public.user.templates", "value": "false", "accountid": acct},
	} {
		mgmttest.Do(t, e.Admin, "updateConfiguration", s)
	}
	uc := mgmttest.Do(t, user, "listCapabilities", nil)["capability"].(map[string]any)
	if uc["apilimitinterval"] != 1.0 || uc["apilimitmax"] != 25.0 || uc["dynamicscalingenabled"] != true || uc["userpublictemplateenabled"] != false {
		t.Fatalf("user capabilities: %v", uc)
	}
	if ac := mgmttest.Do(t, e.Admin, "listCapabilities", nil)["capability"].(map[string]any); ac["userpublictemplateenabled"] != true {
		t.Fatalf("admin capabilities: %v", ac)
	}

	// It needs a signed request or a session, like every command but login.
	q := url.Values{"command": {"listCapabilities"}, "response": {"json"}}
	resp, err := http.Get(e.URL + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned listCapabilities: HTTP %d", resp.StatusCode)
	}
}
