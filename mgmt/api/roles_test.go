package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/google/uuid"
)

// keyedAccount inserts, straight into the database, an enabled account in a domain (ROOT when
// domainID is "") with one user holding API keys and the given role, and returns a signed
// client for that user and the account's id. It keeps these tests independent of the account
// commands.
func keyedAccount(t *testing.T, e *mgmttest.Env, name, roleID, domainID string) (*api.Client, string) {
	t.Helper()
	ctx := context.Background()
	d := e.Server.DB
	if domainID == "" {
		root, err := db.GetDomainByPath(ctx, d.Read(), "ROOT")
		if err != nil {
			t.Fatal(err)
		}
		domainID = root.ID
	}
	role, err := db.GetRole(ctx, d.Read(), roleID)
	if err != nil {
		t.Fatalf("role %s: %v", roleID, err)
	}
	key, secret := iam.RandomKey(64), iam.RandomKey(64)
	enc, err := e.Server.Keys.Encrypt(secret)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := iam.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	a := &db.Account{ID: uuid.NewString(), Name: name, Type: iam.AccountTypeForRole(role.Type), DomainID: domainID, RoleID: roleID,
		State: "enabled", Created: db.Now()}
	u := &db.User{ID: uuid.NewString(), AccountID: a.ID, DomainID: domainID, Username: name, Password: hash, State: "enabled",
		Source: "UNKNOWN", APIKey: key, SecretKey: enc, Created: db.Now()}
	err = d.Transaction(ctx, func(tx db.Tx) error {
		if err := db.InsertAccount(ctx, tx, a); err != nil {
			return err
		}
		return db.InsertUser(ctx, tx, u)
	})
	if err != nil {
		t.Fatalf("insert account %s: %v", name, err)
	}
	return &api.Client{Endpoint: e.URL, Key: key, Secret: secret}, a.ID
}

// defaultRole returns the id of the default role of a role type.
func defaultRole(t *testing.T, e *mgmttest.Env, roleType string) string {
	t.Helper()
	id, err := iam.DefaultRoleID(context.Background(), e.Server.DB.Read(), roleType)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func items(res map[string]any, key string) []map[string]any {
	var out []map[string]any
	list, _ := res[key].([]any)
	for _, v := range list {
		out = append(out, v.(map[string]any))
	}
	return out
}

func rulesOf(t *testing.T, c *api.Client, roleID string) []map[string]any {
	t.Helper()
	return items(mgmttest.Do(t, c, "listRolePermissions", map[string]string{"roleid": roleID}), "rolepermission")
}

func TestDefaultRoles(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	res := mgmttest.Do(t, e.Admin, "listRoles", nil)
	roles := items(res, "role")
	if len(roles) != 4 || res["count"].(float64) != 4 {
		t.Fatalf("default roles: %v", res)
	}
	types := map[string]bool{}
	for _, r := range roles {
		types[r["type"].(string)] = true
		if r["isdefault"] != true || r["ispublic"] != true || r["state"] != "enabled" || r["id"] == "" || r["name"] == "" || r["description"] == nil {
			t.Errorf("default role fields: %v", r)
		}
		rules := rulesOf(t, e.Admin, r["id"].(string))
		if len(rules) != 1 || rules[0]["rule"] != "*" || rules[0]["permission"] != "allow" || rules[0]["roleid"] != r["id"] || rules[0]["rolename"] != r["name"] {
			t.Errorf("rules of default role %s: %v", r["name"], rules)
		}
	}
	for _, typ := range iam.RoleTypes {
		if !types[typ] {
			t.Errorf("no default role of type %s", typ)
		}
	}
	if got := items(mgmttest.Do(t, e.Admin, "listRoles", map[string]string{"type": "domainadmin"}), "role"); len(got) != 1 || got[0]["type"] != "DomainAdmin" {
		t.Fatalf("filter by type: %v", got)
	}
	// cs_role looks a role up by exact name and takes the first.
	if got := items(mgmttest.Do(t, e.Admin, "listRoles", map[string]string{"name": "User"}), "role"); len(got) != 1 || got[0]["name"] != "User" {
		t.Fatalf("filter by name: %v", got)
	}
	if got := mgmttest.Do(t, e.Admin, "listRoles", map[string]string{"name": "nothing"}); len(got) != 0 {
		t.Fatalf("empty list must be {}: %v", got)
	}
	if got := mgmttest.Do(t, e.Admin, "listRoles", map[string]string{"keyword": "admin", "page": "1", "pagesize": "2"}); got["count"].(float64) != 3 || len(items(got, "role")) != 2 {
		t.Fatalf("keyword + paging: %v", got)
	}
	mgmttest.Fail(t, e.Admin, "listRoles", map[string]string{"type": "Superuser"}, 431)
	// Every rule of every role, without roleid.
	if all := items(mgmttest.Do(t, e.Admin, "listRolePermissions", nil), "rolepermission"); len(all) != 4 {
		t.Fatalf("all rules: %v", all)
	}
	mgmttest.Fail(t, e.Admin, "listRolePermissions", map[string]string{"roleid": uuid.NewString()}, 431)

	// Default roles cannot be changed, except made private or public again; nor their rules.
	user := defaultRole(t, e, iam.RoleUser)
	mgmttest.Fail(t, e.Admin, "updateRole", map[string]string{"id": user, "name": "Users"}, 531)
	mgmttest.Fail(t, e.Admin, "updateRole", map[string]string{"id": user, "description": "x"}, 531)
	mgmttest.Fail(t, e.Admin, "deleteRole", map[string]string{"id": user}, 531)
	mgmttest.Fail(t, e.Admin, "createRolePermission", map[string]string{"roleid": user, "rule": "listZones", "permission": "deny"}, 531)
	rule := rulesOf(t, e.Admin, user)[0]["id"].(string)
	mgmttest.Fail(t, e.Admin, "updateRolePermission", map[string]string{"roleid": user, "ruleid": rule, "permission": "deny"}, 531)
	mgmttest.Fail(t, e.Admin, "deleteRolePermission", map[string]string{"id": rule}, 531)
	if r := mgmttest.Do(t, e.Admin, "updateRole", map[string]string{"id": user, "ispublic": "false"})["role"].(map[string]any); r["ispublic"] != false || r["name"] != "User" {
		t.Fatalf("default role made private: %v", r)
	}
	mgmttest.Do(t, e.Admin, "updateRole", map[string]string{"id": user, "ispublic": "true"})
}

func TestRoleLifecycle(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	r := mgmttest.Do(t, a, "createRole", map[string]string{"name": "auditor", "type": "user", "description": "reads"})["role"].(map[string]any)
	if r["type"] != "User" || r["name"] != "auditor" || r["description"] != "reads" || r["isdefault"] != false || r["ispublic"] != true || r["state"] != "enabled" {
		t.Fatalf("created: %v", r)
	}
	id := r["id"].(string)
	if rules := rulesOf(t, a, id); len(rules) != 0 {
		t.Fatalf("a new role has no rules: %v", rules)
	}
	mgmttest.Fail(t, a, "createRole", map[string]string{"name": "AUDITOR", "type": "User"}, 431)
	mgmttest.Fail(t, a, "createRole", map[string]string{"name": "x"}, 431)
	mgmttest.Fail(t, a, "createRole", map[string]string{"name": "x", "type": "User", "roleid": id}, 431)
	mgmttest.Fail(t, a, "createRole", map[string]string{"name": "x", "type": "Operator"}, 431)
	mgmttest.Fail(t, a, "createRole", map[string]string{"name": "x", "roleid": uuid.NewString()}, 431)

	// Rules: CloudStack's pattern (API names and '*'), allow or deny, no duplicates.
	for _, bad := range []string{"list Zones", "list-zones", "*;drop"} {
		if text := mgmttest.Fail(t, a, "createRolePermission", map[string]string{"roleid": id, "rule": bad, "permission": "allow"}, 431); !strings.Contains(text, bad) {
			t.Errorf("bad rule %q: %s", bad, text)
		}
	}
	mgmttest.Fail(t, a, "createRolePermission", map[string]string{"roleid": id, "rule": "listZones", "permission": "maybe"}, 431)
	var ids []string
	for _, rp := range []struct{ rule, perm string }{{"listEvents", "Deny"}, {"list*", "allow"}, {"queryAsyncJobResult", "ALLOW"}} {
		p := mgmttest.Do(t, a, "createRolePermission", map[string]string{"roleid": id, "rule": rp.rule, "permission": rp.perm, "description": "d"})["rolepermission"].(map[string]any)
		if p["rule"] != rp.rule || p["permission"] != strings.ToLower(rp.perm) || p["roleid"] != id || p["description"] != "d" {
			t.Fatalf("created rule: %v", p)
		}
		ids = append(ids, p["id"].(string))
	}
	mgmttest.Fail(t, a, "createRolePermission", map[string]string{"roleid": id, "rule": "LISTEVENTS", "permission": "allow"}, 531)
	order := func() []string {
		var out []string
		for _, p := range rulesOf(t, a, id) {
			out = append(out, p["rule"].(string)+"="+p["permission"].(string))
		}
		return out
	}
	if got := fmt.Sprint(order()); got != "[listEvents=deny list*=allow queryAsyncJobResult=allow]" {
		t.Fatalf("rules in order: %s", got)
	}

	// Reorder: every rule, once; permission changes by ruleid; not both at once.
	mgmttest.Do(t, a, "updateRolePermission", map[string]string{"roleid": id, "ruleorder": ids[2] + "," + ids[1] + "," + ids[0]})
	if got := fmt.Sprint(order()); got != "[queryAsyncJobResult=allow list*=allow listEvents=deny]" {
		t.Fatalf("reordered: %s", got)
	}
	mgmttest.Fail(t, a, "updateRolePermission", map[string]string{"roleid": id, "ruleorder": ids[0] + "," + ids[1]}, 431)
	mgmttest.Fail(t, a, "updateRolePermission", map[string]string{"roleid": id, "ruleorder": ids[0] + "," + ids[1] + "," + ids[1]}, 431)
	mgmttest.Fail(t, a, "updateRolePermission", map[string]string{"roleid": id, "ruleorder": ids[0] + "," + ids[1] + "," + uuid.NewString()}, 431)
	mgmttest.Fail(t, a, "updateRolePermission", map[string]string{"roleid": id, "ruleorder": ids[0], "ruleid": ids[0]}, 431)
	mgmttest.Fail(t, a, "updateRolePermission", map[string]string{"roleid": id, "ruleid": ids[0]}, 431)
	mgmttest.Fail(t, a, "updateRolePermission", map[string]string{"roleid": id, "ruleid": uuid.NewString(), "permission": "deny"}, 431)
	mgmttest.Fail(t, a, "updateRolePermission", map[string]string{"roleid": uuid.NewString(), "ruleid": ids[0], "permission": "deny"}, 431)
	if res := mgmttest.Do(t, a, "updateRolePermission", map[string]string{"roleid": id, "ruleid": ids[0], "permission": "allow"}); res["success"] != true {
		t.Fatalf("update permission: %v", res)
	}
	if got := fmt.Sprint(order()); got != "[queryAsyncJobResult=allow list*=allow listEvents=allow]" {
		t.Fatalf("permission changed: %s", got)
	}
	mgmttest.Do(t, a, "deleteRolePermission", map[string]string{"id": ids[0]})
	mgmttest.Fail(t, a, "deleteRolePermission", map[string]string{"id": ids[0]}, 431)
	if got := fmt.Sprint(order()); got != "[queryAsyncJobResult=allow list*=allow]" {
		t.Fatalf("after delete: %s", got)
	}

	// Cloning copies the rules in order and the type.
	clone := mgmttest.Do(t, a, "createRole", map[string]string{"name": "auditor2", "roleid": id, "ispublic": "false"})["role"].(map[string]any)
	if clone["type"] != "User" || clone["ispublic"] != false {
		t.Fatalf("clone: %v", clone)
	}
	var cloned []string
	for _, p := range rulesOf(t, a, clone["id"].(string)) {
		cloned = append(cloned, p["rule"].(string))
	}
	if fmt.Sprint(cloned) != "[queryAsyncJobResult list*]" {
		t.Fatalf("cloned rules: %v", cloned)
	}

	// Update: name, description, visibility and, while no account uses it, type.
	up := mgmttest.Do(t, a, "updateRole", map[string]string{"id": id, "name": "auditors", "description": "reads all", "type": "DomainAdmin", "ispublic": "false"})["role"].(map[string]any)
	if up["name"] != "auditors" || up["description"] != "reads all" || up["type"] != "DomainAdmin" || up["ispublic"] != false {
		t.Fatalf("updated: %v", up)
	}
	mgmttest.Fail(t, a, "updateRole", map[string]string{"id": id, "name": "auditor2"}, 431)
	mgmttest.Fail(t, a, "updateRole", map[string]string{"id": id, "type": "Root"}, 431)
	mgmttest.Fail(t, a, "updateRole", map[string]string{"id": uuid.NewString(), "name": "x"}, 431)

	// An account using the role pins its type and keeps it from deletion.
	_, acct := keyedAccount(t, e, "aud", id, "")
	mgmttest.Fail(t, a, "updateRole", map[string]string{"id": id, "type": "User"}, 531)
	mgmttest.Do(t, a, "updateRole", map[string]string{"id": id, "type": "domainadmin", "name": "auditors"}) // same type: fine
	mgmttest.Fail(t, a, "deleteRole", map[string]string{"id": id}, 531)
	err := e.Server.DB.Transaction(context.Background(), func(tx db.Tx) error { return db.RemoveAccount(context.Background(), tx, acct) })
	if err != nil {
		t.Fatal(err)
	}
	if res := mgmttest.Do(t, a, "deleteRole", map[string]string{"id": id}); res["success"] != true {
		t.Fatalf("delete: %v", res)
	}
	mgmttest.Fail(t, a, "deleteRole", map[string]string{"id": id}, 431)
	if got := mgmttest.Do(t, a, "listRoles", map[string]string{"id": id}); len(got) != 0 {
		t.Fatalf("deleted role still listed: %v", got)
	}
	// Its name is free again.
	mgmttest.Do(t, a, "createRole", map[string]string{"name": "auditors", "type": "User"})

	// Every change left an event.
	for _, typ := range []string{"ROLE.CREATE", "ROLE.UPDATE", "ROLE.DELETE", "ROLE.PERMISSION.CREATE", "ROLE.PERMISSION.UPDATE", "ROLE.PERMISSION.DELETE"} {
		if got := mgmttest.Do(t, a, "listEvents", map[string]string{"type": typ}); got["count"] == nil {
			t.Errorf("no %s event", typ)
		}
	}
}

// TestCustomRoleRules proves a custom role works only through its rules: without rules it
// may call nothing; a deny rule refuses a command (432) the role type allows, while commands
// its allow rules match work; the first matching rule decides; and the role type still bounds
// what any rule can allow.
func TestCustomRoleRules(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	role := mgmttest.Do(t, a, "createRole", map[string]string{"name": "restricted", "type": "User"})["role"].(map[string]any)
	roleID := role["id"].(string)
	c, _ := keyedAccount(t, e, "carol", roleID, "")

	for _, cmd := range []string{"listDomains", "listEvents", "listApis", "listCapabilities"} {
		mgmttest.Fail(t, c, cmd, nil, 432)
	}

	deny := mgmttest.Do(t, a, "createRolePermission", map[string]string{"roleid": roleID, "rule": "listEvents", "permission": "deny"})["rolepermission"].(map[string]any)
	allow := mgmttest.Do(t, a, "createRolePermission", map[string]string{"roleid": roleID, "rule": "list*", "permission": "allow"})["rolepermission"].(map[string]any)
	mgmttest.Do(t, a, "createRolePermission", map[string]string{"roleid": roleID, "rule": "createDomain", "permission": "allow"})

	if text := mgmttest.Fail(t, c, "listEvents", nil, 432); !strings.Contains(text, "listEvents") {
		t.Fatalf("denied command error: %s", text)
	}
	if got := items(mgmttest.Do(t, c, "listDomains", nil), "domain"); len(got) != 1 || got[0]["path"] != "ROOT" {
		t.Fatalf("allowed listDomains: %v", got)
	}
	mgmttest.Do(t, c, "listCapabilities", nil)
	// The User role type is not authorised for createDomain, whatever the rules say.
	mgmttest.Fail(t, c, "createDomain", map[string]string{"name": "x"}, 432)
	mgmttest.Fail(t, c, "logout", nil, 432)

	// listApis shows exactly what the role may call.
	apis := map[string]bool{}
	for _, api := range items(mgmttest.Do(t, c, "listApis", nil), "api") {
		apis[api["name"].(string)] = true
	}
	if !apis["listDomains"] || !apis["listApis"] || apis["listEvents"] || apis["createDomain"] || apis["createRole"] || apis["logout"] {
		t.Fatalf("listApis for the restricted role: %v", apis)
	}

	// First match wins: with list* first, listEvents is allowed.
	mgmttest.Do(t, a, "updateRolePermission", map[string]string{"roleid": roleID, "ruleorder": allow["id"].(string) + "," + deny["id"].(string) + "," + rulesOf(t, a, roleID)[2]["id"].(string)})
	mgmttest.Do(t, c, "listEvents", nil)
	// And a denied list* takes everything back.
	mgmttest.Do(t, a, "updateRolePermission", map[string]string{"roleid": roleID, "ruleid": allow["id"].(string), "permission": "deny"})
	mgmttest.Fail(t, c, "listDomains", nil, 432)

	// A User-type role never reaches the role commands.
	mgmttest.Fail(t, c, "listRoles", nil, 432)
	mgmttest.Fail(t, c, "createRole", map[string]string{"name": "mine", "type": "Admin"}, 432)
}

// TestRoleVisibility: a domain admin may list roles (to pick one for an account) but, as in
// CloudStack, sees neither Admin-type nor private roles nor roles allowing more than its own.
func TestRoleVisibility(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	dadmin, _ := keyedAccount(t, e, "dadmin", defaultRole(t, e, iam.RoleDomainAdmin), "")
	private := mgmttest.Do(t, a, "createRole", map[string]string{"name": "hidden", "type": "User", "ispublic": "false"})["role"].(map[string]any)
	narrow := mgmttest.Do(t, a, "createRole", map[string]string{"name": "narrow", "type": "User"})["role"].(map[string]any)
	mgmttest.Do(t, a, "createRolePermission", map[string]string{"roleid": narrow["id"].(string), "rule": "listDomains", "permission": "allow"})
	// A domain admin whose role allows only list* sees no role that allows more.
	lister := mgmttest.Do(t, a, "createRole", map[string]string{"name": "lister", "type": "DomainAdmin"})["role"].(map[string]any)
	mgmttest.Do(t, a, "createRolePermission", map[string]string{"roleid": lister["id"].(string), "rule": "list*", "permission": "allow"})
	ldadmin, _ := keyedAccount(t, e, "ldadmin", lister["id"].(string), "")

	names := func(c *api.Client, p map[string]string) map[string]bool {
		out := map[string]bool{}
		for _, r := range items(mgmttest.Do(t, c, "listRoles", p), "role") {
			out[r["name"].(string)] = true
		}
		return out
	}
	got := names(dadmin, nil)
	if got["Root Admin"] || got["hidden"] || !got["User"] || !got["narrow"] || !got["Domain Admin"] || !got["Resource Admin"] {
		t.Fatalf("domain admin sees: %v", got)
	}
	if got := mgmttest.Do(t, dadmin, "listRoles", map[string]string{"id": private["id"].(string)}); len(got) != 0 {
		t.Fatalf("private role by id: %v", got)
	}
	if got := mgmttest.Do(t, dadmin, "listRoles", map[string]string{"type": "Admin"}); len(got) != 0 {
		t.Fatalf("Admin roles by type: %v", got)
	}
	if got := names(ldadmin, nil); len(got) != 2 || !got["narrow"] || !got["lister"] {
		t.Fatalf("list-only domain admin sees: %v", got)
	}
	if got := names(a, nil); len(got) != 7 {
		t.Fatalf("root admin sees every role: %v", got)
	}
	mgmttest.Fail(t, dadmin, "createRole", map[string]string{"name": "x", "type": "User"}, 432)
	mgmttest.Fail(t, dadmin, "listRolePermissions", nil, 432)
}

func TestRolesAndSettingsMariaDB(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{MySQL: true})
	a := e.Admin
	role := mgmttest.Do(t, a, "createRole", map[string]string{"name": "ops", "type": "User"})["role"].(map[string]any)
	id := role["id"].(string)
	mgmttest.Fail(t, a, "createRole", map[string]string{"name": "OPS", "type": "User"}, 431)
	var ids []string
	for _, rule := range []string{"listEvents", "list*"} {
		p := mgmttest.Do(t, a, "createRolePermission", map[string]string{"roleid": id, "rule": rule, "permission": "deny"})["rolepermission"].(map[string]any)
		ids = append(ids, p["id"].(string))
	}
	mgmttest.Do(t, a, "updateRolePermission", map[string]string{"roleid": id, "ruleorder": ids[1] + "," + ids[0]})
	mgmttest.Do(t, a, "updateRolePermission", map[string]string{"roleid": id, "ruleid": ids[1], "permission": "allow"})
	c, acct := keyedAccount(t, e, "oscar", id, "")
	mgmttest.Do(t, c, "listEvents", nil)
	mgmttest.Fail(t, a, "deleteRole", map[string]string{"id": id}, 531)

	// Setting a value twice to the same thing (MariaDB reports 0 changed rows) still works.
	for range 2 {
		v := mgmttest.Do(t, a, "updateConfiguration", map[string]string{"name": "max.account.user.vms", "value": "7", "accountid": acct})["configuration"].(map[string]any)
		if v["value"] != "7" || v["scope"] != "account" || v["id"] != nil { // CloudStack's id is numeric: left out
			t.Fatalf("account-scoped update: %v", v)
		}
	}
	g := items(mgmttest.Do(t, a, "listConfigurations", map[string]string{"name": "max.account.user.vms"}), "configuration")
	if len(g) != 1 || g[0]["value"] != "20" {
		t.Fatalf("global value unchanged: %v", g)
	}
	if ev := mgmttest.Do(t, a, "listEvents", map[string]string{"type": "CONFIGURATION.VALUE.EDIT"}); ev["count"].(float64) != 2 {
		t.Fatalf("config events: %v", ev)
	}
}
