package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// acctCreate creates an account (and its first user) with defaults for the required user fields.
func acctCreate(t *testing.T, c *api.Client, params map[string]string) map[string]any {
	t.Helper()
	p := map[string]string{"password": "pw-" + params["username"], "firstname": "First", "lastname": "Last",
		"email": params["username"] + "@example.org"}
	for k, v := range params {
		p[k] = v
	}
	return mgmttest.Do(t, c, "createAccount", p)["account"].(map[string]any)
}

// acctUser returns the first user of an account object.
func acctUser(a map[string]any) map[string]any { return a["user"].([]any)[0].(map[string]any) }

// acctClient registers API keys for a user (as admin) and returns a client signing with them.
func acctClient(t *testing.T, e *mgmttest.Env, userID string) *api.Client {
	t.Helper()
	k := mgmttest.Do(t, e.Admin, "registerUserKeys", map[string]string{"id": userID})["userkeys"].(map[string]any)
	return &api.Client{Endpoint: e.URL, Key: k["apikey"].(string), Secret: k["secretkey"].(string)}
}

// acctSnapshot hashes the rows a refused account or user command must not change.
func acctSnapshot(t *testing.T, e *mgmttest.Env) string {
	t.Helper()
	return dbtest.Fingerprint(t, e.Server.DB.SQL, "domains", "accounts", "users", "sessions", "events")
}

// acctEvents counts the events of one type.
func acctEvents(t *testing.T, e *mgmttest.Env, typ string) int {
	t.Helper()
	_, n, err := db.ListEvents(context.Background(), e.Server.DB.Read(), db.EventFilter{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// acctNames returns the names of a listAccounts answer, in order.
func acctNames(res map[string]any) []string {
	var out []string
	list, _ := res["account"].([]any)
	for _, a := range list {
		out = append(out, a.(map[string]any)["name"].(string))
	}
	return out
}

// acctFailUnchanged runs a command that must fail with code and change nothing.
func acctFailUnchanged(t *testing.T, e *mgmttest.Env, c *api.Client, cmd string, params map[string]string, code int) string {
	t.Helper()
	before := acctSnapshot(t, e)
	text := mgmttest.Fail(t, c, cmd, params, code)
	if acctSnapshot(t, e) != before {
		t.Errorf("refused %s %v changed the database", cmd, params)
	}
	return text
}

func TestAccountCreateAndList(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	eng := mgmttest.Do(t, a, "createDomain", map[string]string{"name": "eng"})["domain"].(map[string]any)["id"].(string)
	web := mgmttest.Do(t, a, "createDomain", map[string]string{"name": "web", "parentdomainid": eng})["domain"].(map[string]any)["id"].(string)

	alice := acctCreate(t, a, map[string]string{"username": "alice", "accounttype": "0", "domainid": eng})
	if n, ok := alice["accounttype"].(float64); !ok || n != 0 {
		t.Errorf("accounttype must be the JSON number 0: %#v", alice["accounttype"])
	}
	for k, want := range map[string]any{"name": "alice", "state": "enabled", "domain": "eng", "domainpath": "ROOT/eng",
		"domainid": eng, "roletype": "User", "rolename": "User", "isdefault": false} {
		if alice[k] != want {
			t.Errorf("account %s = %#v, want %#v", k, alice[k], want)
		}
	}
	if _, ok := alice["networkdomain"]; ok {
		t.Errorf("unset networkdomain must be absent: %v", alice)
	}
	u := acctUser(alice)
	if u["username"] != "alice" || u["account"] != "alice" || u["accountid"] != alice["id"] || u["state"] != "enabled" ||
		u["usersource"] != "native" || u["email"] != "alice@example.org" || u["accounttype"] != float64(0) || u["isdefault"] != false {
		t.Errorf("first user: %v", u)
	}
	for _, k := range []string{"apikey", "secretkey", "timezone", "password"} {
		if _, ok := u[k]; ok {
			t.Errorf("user must not carry %s here: %v", k, u)
		}
	}

	bob := acctCreate(t, a, map[string]string{"username": "bob", "accounttype": "2", "networkdomain": "bob.example", "timezone": "UTC"})
	if bob["accounttype"] != float64(2) || bob["roletype"] != "DomainAdmin" || bob["networkdomain"] != "bob.example" ||
		bob["domainpath"] != "ROOT" || acctUser(bob)["timezone"] != "UTC" {
		t.Errorf("domain admin account: %v", bob)
	}
	ops := acctCreate(t, a, map[string]string{"username": "opsuser", "account": "ops", "accounttype": "1"})
	if ops["name"] != "ops" || ops["accounttype"] != float64(1) || ops["roletype"] != "Admin" || acctUser(ops)["username"] != "opsuser" {
		t.Errorf("root admin account: %v", ops)
	}
	// roleid wins over accounttype, and the account type follows the role.
	viaRole := acctCreate(t, a, map[string]string{"username": "carol", "accounttype": "1", "roleid": alice["roleid"].(string), "domainid": web})
	if viaRole["accounttype"] != float64(0) || viaRole["roleid"] != alice["roleid"] {
		t.Errorf("account by roleid: %v", viaRole)
	}
	// The same username in another domain is fine.
	acctCreate(t, a, map[string]string{"username": "alice", "account": "alice2", "accounttype": "0"})

	base := map[string]string{"password": "pw", "firstname": "F", "lastname": "L", "email": "x@example.org"}
	with := func(kv ...string) map[string]string {
		p := map[string]string{}
		for k, v := range base {
			p[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		params map[string]string
		code   int
		text   string
	}{
		{"duplicate account name", with("username", "zed", "account", "ALICE", "accounttype", "0", "domainid", eng), 431, "already exists"},
		{"duplicate username", with("username", "Alice", "account", "other", "accounttype", "0", "domainid", eng), 431, "already exists"},
		{"root admin outside ROOT", with("username", "zed", "accounttype", "1", "domainid", eng), 431, "ROOT"},
		{"unknown account type", with("username", "zed", "accounttype", "7"), 431, "accounttype"},
		{"no type and no role", with("username", "zed"), 431, "roleid"},
		{"unknown role", with("username", "zed", "roleid", "00000000-0000-4000-8000-000000000000"), 431, "role"},
		{"unknown domain", with("username", "zed", "accounttype", "0", "domainid", "00000000-0000-4000-8000-000000000000"), 431, "domain"},
		{"bad network domain", with("username", "zed", "accounttype", "0", "networkdomain", "-bad-.example"), 431, "network domain"},
		{"bad account id", with("username", "zed", "accounttype", "0", "accountid", "nope"), 431, "accountid"},
		{"missing email", map[string]string{"username": "zed", "password": "pw", "firstname": "F", "lastname": "L", "accounttype": "0"}, 431, "email"},
		{"missing password", map[string]string{"username": "zed", "email": "z@x", "firstname": "F", "lastname": "L", "accounttype": "0"}, 431, "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := acctFailUnchanged(t, e, a, "createAccount", tc.params, tc.code)
			if !strings.Contains(text, tc.text) {
				t.Errorf("error text %q does not mention %q", text, tc.text)
			}
		})
	}

	// Lists, as CloudStack scopes them.
	if got := acctNames(mgmttest.Do(t, a, "listAccounts", nil)); len(got) != 1 || got[0] != "admin" {
		t.Errorf("admin without listall lists only its own account: %v", got)
	}
	all := mgmttest.Do(t, a, "listAccounts", map[string]string{"listall": "True"})
	if all["count"] != float64(6) || len(acctNames(all)) != 6 {
		t.Errorf("listall: %v", acctNames(all))
	}
	if got := acctNames(mgmttest.Do(t, a, "listAccounts", map[string]string{"domainid": eng})); len(got) != 1 || got[0] != "alice" {
		t.Errorf("domainid lists that domain only: %v", got)
	}
	if got := acctNames(mgmttest.Do(t, a, "listAccounts", map[string]string{"domainid": eng, "isrecursive": "true"})); len(got) != 2 {
		t.Errorf("domainid+isrecursive: %v", got)
	}
	if got := acctNames(mgmttest.Do(t, a, "listAccounts", map[string]string{"domainid": eng, "listall": "true"})); len(got) != 2 {
		t.Errorf("domainid+listall: %v", got)
	}
	if got := acctNames(mgmttest.Do(t, a, "listAccounts", map[string]string{"name": "Alice", "domainid": eng, "listall": "true"})); len(got) != 1 || got[0] != "alice" {
		t.Errorf("by name (Ansible's lookup): %v", got)
	}
	if got := acctNames(mgmttest.Do(t, a, "listAccounts", map[string]string{"accounttype": "2", "listall": "true"})); len(got) != 1 || got[0] != "bob" {
		t.Errorf("by accounttype: %v", got)
	}
	if got := acctNames(mgmttest.Do(t, a, "listAccounts", map[string]string{"keyword": "LIC", "listall": "true"})); len(got) != 2 {
		t.Errorf("by keyword: %v", got)
	}
	if got := acctNames(mgmttest.Do(t, a, "listAccounts", map[string]string{"keyword": "a_i", "listall": "true"})); len(got) != 0 {
		t.Errorf("keyword '_' must match literally: %v", got)
	}
	if got := mgmttest.Do(t, a, "listAccounts", map[string]string{"state": "disabled", "listall": "true"}); len(got) != 0 {
		t.Errorf("an empty list must be exactly {}: %v", got)
	}
	byID := mgmttest.Do(t, a, "listAccounts", map[string]string{"id": alice["id"].(string)})
	if got := acctNames(byID); len(got) != 1 || got[0] != "alice" || len(byID["account"].([]any)[0].(map[string]any)["user"].([]any)) != 1 {
		t.Errorf("by id: %v", byID)
	}
	paged := mgmttest.Do(t, a, "listAccounts", map[string]string{"listall": "true", "page": "2", "pagesize": "4"})
	if paged["count"] != float64(6) || len(acctNames(paged)) != 2 {
		t.Errorf("page 2 of 4: %v", paged)
	}
	mgmttest.Fail(t, a, "listAccounts", map[string]string{"id": "00000000-0000-4000-8000-000000000000"}, 431)
	mgmttest.Fail(t, a, "listAccounts", map[string]string{"domainid": "00000000-0000-4000-8000-000000000000"}, 431)

	if acctEvents(t, e, "ACCOUNT.CREATE") != 5 || acctEvents(t, e, "USER.CREATE") != 5 {
		t.Errorf("events: %d ACCOUNT.CREATE, %d USER.CREATE", acctEvents(t, e, "ACCOUNT.CREATE"), acctEvents(t, e, "USER.CREATE"))
	}
	// No secret key anywhere in a list.
	body, _ := json.Marshal(all)
	if strings.Contains(string(body), "secretkey") {
		t.Errorf("listAccounts leaks a secret key: %s", body)
	}
}

func TestAccountUpdateStateDelete(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	eng := mgmttest.Do(t, a, "createDomain", map[string]string{"name": "eng"})["domain"].(map[string]any)["id"].(string)
	alice := acctCreate(t, a, map[string]string{"username": "alice", "accounttype": "0", "domainid": eng})
	id := alice["id"].(string)
	acctCreate(t, a, map[string]string{"username": "bob", "accounttype": "0", "domainid": eng})
	da := acctCreate(t, a, map[string]string{"username": "dana", "accounttype": "2", "domainid": eng})
	root := acctCreate(t, a, map[string]string{"username": "ops", "accounttype": "1"})
	aliceC := acctClient(t, e, acctUser(alice)["id"].(string))
	opsC := acctClient(t, e, acctUser(root)["id"].(string))

	upd := mgmttest.Do(t, a, "updateAccount", map[string]string{"id": id, "newname": "alicia", "networkdomain": "alicia.example"})["account"].(map[string]any)
	if upd["name"] != "alicia" || upd["networkdomain"] != "alicia.example" || upd["id"] != id {
		t.Errorf("updated: %v", upd)
	}
	upd = mgmttest.Do(t, a, "updateAccount", map[string]string{"account": "alicia", "domainid": eng, "networkdomain": ""})["account"].(map[string]any)
	if _, ok := upd["networkdomain"]; ok {
		t.Errorf("networkdomain not cleared: %v", upd)
	}
	acctFailUnchanged(t, e, a, "updateAccount", map[string]string{"id": id, "newname": "BOB"}, 431)
	acctFailUnchanged(t, e, a, "updateAccount", map[string]string{"id": id, "newname": " "}, 431)
	acctFailUnchanged(t, e, a, "updateAccount", map[string]string{"id": id, "networkdomain": "a..b"}, 431)
	acctFailUnchanged(t, e, a, "updateAccount", map[string]string{"account": "nobody", "domainid": eng}, 431)
	acctFailUnchanged(t, e, a, "updateAccount", map[string]string{"newname": "x"}, 431)

	// A role change moves the account type with it; Admin roles stay in ROOT; nobody changes its own role.
	upd = mgmttest.Do(t, a, "updateAccount", map[string]string{"id": id, "roleid": da["roleid"].(string)})["account"].(map[string]any)
	if upd["accounttype"] != float64(2) || upd["roletype"] != "DomainAdmin" {
		t.Errorf("role change: %v", upd)
	}
	upd = mgmttest.Do(t, a, "updateAccount", map[string]string{"id": id, "roleid": alice["roleid"].(string)})["account"].(map[string]any)
	if upd["accounttype"] != float64(0) || upd["roletype"] != "User" {
		t.Errorf("role change back: %v", upd)
	}
	acctFailUnchanged(t, e, a, "updateAccount", map[string]string{"id": id, "roleid": root["roleid"].(string)}, 531)
	acctFailUnchanged(t, e, opsC, "updateAccount", map[string]string{"id": root["id"].(string), "roleid": alice["roleid"].(string)}, 531)

	// disableAccount lock=true locks; the account's signed requests then answer 401.
	res := mgmttest.DoAsync(t, a, "disableAccount", map[string]string{"id": id, "lock": "true"})["account"].(map[string]any)
	if res["state"] != "locked" || res["id"] != id {
		t.Errorf("locked: %v", res)
	}
	mgmttest.Fail(t, aliceC, "listAccounts", nil, 401)
	res = mgmttest.Do(t, a, "enableAccount", map[string]string{"id": id})["account"].(map[string]any)
	if res["state"] != "enabled" {
		t.Errorf("enabled: %v", res)
	}
	mgmttest.Do(t, aliceC, "listAccounts", nil)
	res = mgmttest.DoAsync(t, a, "disableAccount", map[string]string{"account": "alicia", "domainid": eng, "lock": "false"})["account"].(map[string]any)
	if res["state"] != "disabled" {
		t.Errorf("disabled: %v", res)
	}
	mgmttest.Fail(t, aliceC, "listAccounts", nil, 401)
	acctFailUnchanged(t, e, a, "disableAccount", map[string]string{"id": id, "lock": "true"}, 431)
	acctFailUnchanged(t, e, a, "lockAccount", map[string]string{"account": "alicia", "domainid": eng}, 431)
	mgmttest.Do(t, a, "enableAccount", map[string]string{"account": "alicia", "domainid": eng})
	res = mgmttest.Do(t, a, "lockAccount", map[string]string{"account": "alicia", "domainid": eng})["account"].(map[string]any)
	if res["state"] != "locked" {
		t.Errorf("lockAccount: %v", res)
	}
	mgmttest.Do(t, a, "enableAccount", map[string]string{"id": id})
	if got := acctNames(mgmttest.Do(t, a, "listAccounts", map[string]string{"state": "ENABLED", "domainid": eng})); len(got) != 3 {
		t.Errorf("by state: %v", got)
	}

	// Nobody disables, locks or deletes its own account; the default admin account stays.
	admin := mgmttest.Do(t, a, "listAccounts", nil)["account"].([]any)[0].(map[string]any)
	adminID := admin["id"].(string)
	if admin["isdefault"] != true {
		t.Errorf("admin account is default: %v", admin)
	}
	acctFailUnchanged(t, e, a, "disableAccount", map[string]string{"id": adminID, "lock": "false"}, 431)
	acctFailUnchanged(t, e, a, "deleteAccount", map[string]string{"id": adminID}, 431)
	text := acctFailUnchanged(t, e, opsC, "deleteAccount", map[string]string{"id": adminID}, 431)
	if !strings.Contains(text, "default") {
		t.Errorf("deleting the default account: %s", text)
	}
	acctFailUnchanged(t, e, opsC, "lockAccount", map[string]string{"account": "admin", "domainid": admin["domainid"].(string)}, 431)
	acctFailUnchanged(t, e, a, "deleteAccount", map[string]string{"id": "00000000-0000-4000-8000-000000000000"}, 431)

	// deleteAccount is async, answers success, removes the users and frees the name.
	job := mgmttest.DoAsync(t, a, "deleteAccount", map[string]string{"id": id})
	if job["success"] != true {
		t.Errorf("deleteAccount result: %v", job)
	}
	mgmttest.Fail(t, a, "listAccounts", map[string]string{"id": id}, 431)
	mgmttest.Fail(t, aliceC, "listAccounts", nil, 401)
	if got := mgmttest.Do(t, a, "listUsers", map[string]string{"username": "alice", "listall": "true"}); len(got) != 0 {
		t.Errorf("users of a deleted account are gone: %v", got)
	}
	acctCreate(t, a, map[string]string{"username": "alice", "account": "alicia", "accounttype": "0", "domainid": eng})

	for typ, want := range map[string]int{"ACCOUNT.UPDATE": 4, "ACCOUNT.DISABLE": 3, "ACCOUNT.ENABLE": 3, "ACCOUNT.DELETE": 1} {
		if got := acctEvents(t, e, typ); got != want {
			t.Errorf("%d %s events, want %d", got, typ, want)
		}
	}
}

func TestAccountScoping(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	mk := func(name, parent string) string {
		p := map[string]string{"name": name}
		if parent != "" {
			p["parentdomainid"] = parent
		}
		return mgmttest.Do(t, a, "createDomain", p)["domain"].(map[string]any)["id"].(string)
	}
	eng := mk("eng", "")
	web := mk("web", eng)
	ops := mk("ops", "")
	da := acctCreate(t, a, map[string]string{"username": "dana", "accounttype": "2", "domainid": eng})
	erin := acctCreate(t, a, map[string]string{"username": "erin", "accounttype": "0", "domainid": eng})
	carol := acctCreate(t, a, map[string]string{"username": "carol", "accounttype": "0", "domainid": web})
	dave := acctCreate(t, a, map[string]string{"username": "dave", "accounttype": "0", "domainid": ops})
	rootDA := acctCreate(t, a, map[string]string{"username": "rootda", "accounttype": "2"})
	ops1 := acctCreate(t, a, map[string]string{"username": "ops1", "accounttype": "1"})
	daC := acctClient(t, e, acctUser(da)["id"].(string))
	erinC := acctClient(t, e, acctUser(erin)["id"].(string))
	rootDAC := acctClient(t, e, acctUser(rootDA)["id"].(string))
	daveID, daveUser := dave["id"].(string), acctUser(dave)["id"].(string)
	carolUser := acctUser(carol)["id"].(string)

	t.Run("domain admin", func(t *testing.T) {
		if got := acctNames(mgmttest.Do(t, daC, "listAccounts", nil)); len(got) != 1 || got[0] != "dana" {
			t.Errorf("own account only: %v", got)
		}
		if got := acctNames(mgmttest.Do(t, daC, "listAccounts", map[string]string{"listall": "true"})); strings.Join(got, ",") != "dana,erin,carol" {
			t.Errorf("its subtree: %v", got)
		}
		for _, c := range []struct {
			cmd    string
			params map[string]string
			code   int
		}{
			{"listAccounts", map[string]string{"id": daveID}, 531},
			{"listAccounts", map[string]string{"domainid": ops}, 531},
			{"listUsers", map[string]string{"domainid": ops}, 531},
			{"listUsers", map[string]string{"account": "dave", "domainid": ops}, 531},
			{"createAccount", map[string]string{"username": "x", "password": "p", "firstname": "F", "lastname": "L", "email": "e", "accounttype": "0", "domainid": ops}, 531},
			{"createUser", map[string]string{"username": "x", "password": "p", "firstname": "F", "lastname": "L", "email": "e", "account": "dave", "domainid": ops}, 531},
			{"updateAccount", map[string]string{"id": daveID, "newname": "x"}, 531},
			{"updateAccount", map[string]string{"id": erin["id"].(string), "roleid": ops1["roleid"].(string)}, 531},
			{"enableAccount", map[string]string{"id": daveID}, 531},
			{"disableAccount", map[string]string{"id": daveID, "lock": "true"}, 531},
			{"deleteAccount", map[string]string{"id": daveID}, 531},
			{"updateUser", map[string]string{"id": daveUser, "firstname": "x"}, 531},
			{"disableUser", map[string]string{"id": daveUser}, 531},
			{"deleteUser", map[string]string{"id": daveUser}, 531},
			{"registerUserKeys", map[string]string{"id": daveUser}, 531},
			{"getUserKeys", map[string]string{"id": daveUser}, 531},
		} {
			acctFailUnchanged(t, e, daC, c.cmd, c.params, c.code)
		}
		if got := mgmttest.Do(t, daC, "listUsers", map[string]string{"id": daveUser}); len(got) != 0 {
			t.Errorf("a foreign user id lists nothing: %v", got)
		}
		// Inside its subtree it administers.
		frank := acctCreate(t, daC, map[string]string{"username": "frank", "accounttype": "0", "domainid": web})
		if frank["domainpath"] != "ROOT/eng/web" {
			t.Errorf("created in subdomain: %v", frank)
		}
		mgmttest.DoAsync(t, daC, "disableAccount", map[string]string{"id": frank["id"].(string), "lock": "false"})
		mgmttest.Do(t, daC, "updateUser", map[string]string{"id": carolUser, "lastname": "Changed"})
		mgmttest.DoAsync(t, daC, "deleteAccount", map[string]string{"id": frank["id"].(string)})
	})

	t.Run("domain admin in ROOT", func(t *testing.T) {
		// It sees everything, but can not act on root admins nor create them.
		if got := acctNames(mgmttest.Do(t, rootDAC, "listAccounts", map[string]string{"listall": "true"})); len(got) != 7 {
			t.Errorf("sees the whole tree: %v", got)
		}
		adminAcct := mgmttest.Do(t, a, "listAccounts", nil)["account"].([]any)[0].(map[string]any)
		adminUser := acctUser(adminAcct)["id"].(string)
		for _, c := range []struct {
			cmd    string
			params map[string]string
		}{
			{"createAccount", map[string]string{"username": "x", "password": "p", "firstname": "F", "lastname": "L", "email": "e", "accounttype": "1"}},
			{"createAccount", map[string]string{"username": "x", "password": "p", "firstname": "F", "lastname": "L", "email": "e", "roleid": ops1["roleid"].(string)}},
			{"disableAccount", map[string]string{"id": ops1["id"].(string), "lock": "true"}},
			{"deleteAccount", map[string]string{"id": ops1["id"].(string)}},
			{"getUserKeys", map[string]string{"id": adminUser}},
			{"registerUserKeys", map[string]string{"id": adminUser}},
			{"updateUser", map[string]string{"id": adminUser, "password": "stolen"}},
			{"updateAccount", map[string]string{"id": erin["id"].(string), "roleid": ops1["roleid"].(string)}},
		} {
			acctFailUnchanged(t, e, rootDAC, c.cmd, c.params, 531)
		}
	})

	t.Run("user", func(t *testing.T) {
		if got := acctNames(mgmttest.Do(t, erinC, "listAccounts", map[string]string{"listall": "true"})); len(got) != 1 || got[0] != "erin" {
			t.Errorf("a user sees only its account: %v", got)
		}
		mgmttest.Do(t, erinC, "listAccounts", map[string]string{"id": erin["id"].(string)})
		mgmttest.Do(t, a, "createUser", map[string]string{"account": "erin", "domainid": eng, "username": "erin2", "password": "p",
			"firstname": "E", "lastname": "Two", "email": "e2@example.org"})
		users := mgmttest.Do(t, erinC, "listUsers", map[string]string{"listall": "true"})
		if users["count"] != float64(1) || users["user"].([]any)[0].(map[string]any)["username"] != "erin" {
			t.Errorf("a user lists only itself: %v", users)
		}
		erin2 := mgmttest.Do(t, a, "listUsers", map[string]string{"username": "erin2", "domainid": eng})["user"].([]any)[0].(map[string]any)["id"].(string)
		for _, c := range []struct {
			cmd    string
			params map[string]string
			code   int
		}{
			{"listAccounts", map[string]string{"id": carol["id"].(string)}, 531},
			{"listAccounts", map[string]string{"domainid": web}, 531},
			{"listUsers", map[string]string{"id": carolUser}, 531},
			{"listUsers", map[string]string{"id": erin2}, 531},
			{"updateUser", map[string]string{"id": carolUser, "firstname": "x"}, 531},
			{"updateUser", map[string]string{"id": erin2, "firstname": "x"}, 531},
			{"getUserKeys", map[string]string{"id": carolUser}, 531},
			{"registerUserKeys", map[string]string{"id": erin2}, 531},
			{"createAccount", map[string]string{"username": "x", "password": "p", "firstname": "F", "lastname": "L", "email": "e", "accounttype": "0"}, 432},
			{"disableUser", map[string]string{"id": carolUser}, 432},
			{"deleteAccount", map[string]string{"id": carol["id"].(string)}, 432},
		} {
			acctFailUnchanged(t, e, erinC, c.cmd, c.params, c.code)
		}
		me := mgmttest.Do(t, erinC, "updateUser", map[string]string{"id": acctUser(erin)["id"].(string), "firstname": "Erin"})["user"].(map[string]any)
		if me["firstname"] != "Erin" {
			t.Errorf("a user updates itself: %v", me)
		}
		// New keys replace the old ones at once.
		k := mgmttest.Do(t, erinC, "registerUserKeys", map[string]string{"id": acctUser(erin)["id"].(string)})["userkeys"].(map[string]any)
		mgmttest.Fail(t, erinC, "listAccounts", nil, 401)
		fresh := &api.Client{Endpoint: e.URL, Key: k["apikey"].(string), Secret: k["secretkey"].(string)}
		mgmttest.Do(t, fresh, "listAccounts", nil)
	})
	t.Run("role escalation", func(t *testing.T) {
		// A domain admin whose custom role denies listDomains may not create accounts whose
		// role allows it (the default User role), but may create ones with its own role.
		role := mgmttest.Do(t, a, "createRole", map[string]string{"name": "Narrow DA", "type": "DomainAdmin"})["role"].(map[string]any)["id"].(string)
		for _, r := range []struct{ rule, perm string }{{"listDomains", "deny"}, {"*", "allow"}} {
			mgmttest.Do(t, a, "createRolePermission", map[string]string{"roleid": role, "rule": r.rule, "permission": r.perm})
		}
		narrow := acctCreate(t, a, map[string]string{"username": "narrow", "roleid": role, "domainid": eng})
		if narrow["accounttype"] != float64(2) || narrow["rolename"] != "Narrow DA" {
			t.Errorf("custom role account: %v", narrow)
		}
		narrowC := acctClient(t, e, acctUser(narrow)["id"].(string))
		text := acctFailUnchanged(t, e, narrowC, "createAccount", map[string]string{"username": "x", "password": "p", "firstname": "F",
			"lastname": "L", "email": "e", "accounttype": "0"}, 531)
		if !strings.Contains(text, "listDomains") {
			t.Errorf("escalation error names the command: %s", text)
		}
		acctFailUnchanged(t, e, narrowC, "updateUser", map[string]string{"id": acctUser(erin)["id"].(string), "firstname": "x"}, 531)
		acctCreate(t, narrowC, map[string]string{"username": "narrow2", "roleid": role})
	})
}
