package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// usrSession logs a user in (by POST, as CloudStack wants) and returns a session-carrying
// HTTP client and the session key, or the HTTP status of a refused login.
func usrSession(t *testing.T, e *mgmttest.Env, username, password, domain string) (*http.Client, string, int) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	form := url.Values{"command": {"login"}, "username": {username}, "password": {password}, "domain": {domain}, "response": {"json"}}
	resp, err := hc.PostForm(e.URL, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	key, _ := body["loginresponse"]["sessionkey"].(string)
	return hc, key, resp.StatusCode
}

// usrSessionStatus runs listUsers over a session and returns the HTTP status.
func usrSessionStatus(t *testing.T, e *mgmttest.Env, hc *http.Client, key string) int {
	t.Helper()
	resp, err := hc.Get(e.URL + "?" + url.Values{"command": {"listUsers"}, "sessionkey": {key}, "response": {"json"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestUserLifecycle(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	acme := acctCreate(t, a, map[string]string{"username": "acme", "accounttype": "0"})
	other := acctCreate(t, a, map[string]string{"username": "other", "accounttype": "0"})
	_ = other

	bob := mgmttest.Do(t, a, "createUser", map[string]string{"account": "acme", "username": "bob", "password": "pw-bob",
		"firstname": "Bob", "lastname": "Builder", "email": "bob@example.org", "timezone": "Europe/Paris"})["user"].(map[string]any)
	bobID := bob["id"].(string)
	if n, ok := bob["accounttype"].(float64); !ok || n != 0 {
		t.Errorf("accounttype must be the JSON number 0: %#v", bob["accounttype"])
	}
	for k, want := range map[string]any{"username": "bob", "account": "acme", "accountid": acme["id"], "state": "enabled",
		"timezone": "Europe/Paris", "usersource": "native", "roletype": "User", "domain": "ROOT", "isdefault": false} {
		if bob[k] != want {
			t.Errorf("user %s = %#v, want %#v", k, bob[k], want)
		}
	}
	if _, ok := bob["apikey"]; ok {
		t.Errorf("a user without keys has no apikey: %v", bob)
	}

	base := map[string]string{"account": "acme", "password": "pw", "firstname": "F", "lastname": "L", "email": "x@example.org"}
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
	acctFailUnchanged(t, e, a, "createUser", with("username", "BOB"), 431)
	acctFailUnchanged(t, e, a, "createUser", with("username", "other"), 431)
	acctFailUnchanged(t, e, a, "createUser", with("username", "zed", "account", "nobody"), 431)
	acctFailUnchanged(t, e, a, "createUser", with("username", "zed", "userid", "not-a-uuid"), 431)
	if text := acctFailUnchanged(t, e, a, "createUser", map[string]string{"account": "acme", "username": "zed", "firstname": "F", "lastname": "L", "email": "e"}, 431); !strings.Contains(text, "password") {
		t.Errorf("missing password: %s", text)
	}

	// Keys: only registerUserKeys and getUserKeys ever show the secret.
	keys := mgmttest.Do(t, a, "registerUserKeys", map[string]string{"id": bobID})["userkeys"].(map[string]any)
	if keys["apikey"] == nil || keys["secretkey"] == nil {
		t.Fatalf("registerUserKeys: %v", keys)
	}
	listed := mgmttest.Do(t, a, "listUsers", map[string]string{"id": bobID})
	if u := listed["user"].([]any)[0].(map[string]any); u["apikey"] != keys["apikey"] {
		t.Errorf("listUsers shows the apikey: %v", u)
	}
	for _, res := range []map[string]any{listed, mgmttest.Do(t, a, "listAccounts", map[string]string{"listall": "true"})} {
		if body, _ := json.Marshal(res); strings.Contains(string(body), "secretkey") || strings.Contains(string(body), keys["secretkey"].(string)) {
			t.Errorf("a list leaks the secret key: %s", body)
		}
	}
	got := mgmttest.Do(t, a, "getUserKeys", map[string]string{"id": bobID})["userkeys"].(map[string]any)
	if got["apikey"] != keys["apikey"] || got["secretkey"] != keys["secretkey"] {
		t.Errorf("getUserKeys %v, want %v", got, keys)
	}
	bobC := &api.Client{Endpoint: e.URL, Key: keys["apikey"].(string), Secret: keys["secretkey"].(string)}
	if me := mgmttest.Do(t, bobC, "getUserKeys", map[string]string{"id": bobID})["userkeys"].(map[string]any); me["secretkey"] != keys["secretkey"] {
		t.Errorf("a user reads its own keys: %v", me)
	}

	// States: disabled and locked users' signed requests answer 401; enabling restores them.
	res := mgmttest.DoAsync(t, a, "disableUser", map[string]string{"id": bobID})["user"].(map[string]any)
	if res["state"] != "disabled" || res["id"] != bobID {
		t.Errorf("disableUser result: %v", res)
	}
	mgmttest.Fail(t, bobC, "listUsers", nil, 401)
	acctFailUnchanged(t, e, a, "lockUser", map[string]string{"id": bobID}, 431)
	if res = mgmttest.Do(t, a, "enableUser", map[string]string{"id": bobID})["user"].(map[string]any); res["state"] != "enabled" {
		t.Errorf("enableUser: %v", res)
	}
	mgmttest.Do(t, bobC, "listUsers", nil)
	if res = mgmttest.Do(t, a, "lockUser", map[string]string{"id": bobID})["user"].(map[string]any); res["state"] != "locked" {
		t.Errorf("lockUser: %v", res)
	}
	mgmttest.Fail(t, bobC, "listUsers", nil, 401)
	if st := mgmttest.Do(t, a, "listAccounts", map[string]string{"id": acme["id"].(string)})["account"].([]any)[0].(map[string]any)["state"]; st != "enabled" {
		t.Errorf("an account with an enabled user stays enabled: %v", st)
	}
	// Locking the last enabled user locks the account; enabling a user enables it again.
	mgmttest.Do(t, a, "lockUser", map[string]string{"id": acctUser(acme)["id"].(string)})
	if st := mgmttest.Do(t, a, "listAccounts", map[string]string{"id": acme["id"].(string)})["account"].([]any)[0].(map[string]any)["state"]; st != "locked" {
		t.Errorf("an account without enabled users is locked: %v", st)
	}
	mgmttest.Do(t, a, "enableUser", map[string]string{"id": bobID})
	if st := mgmttest.Do(t, a, "listAccounts", map[string]string{"id": acme["id"].(string)})["account"].([]any)[0].(map[string]any)["state"]; st != "enabled" {
		t.Errorf("enableUser enables the account: %v", st)
	}
	mgmttest.Do(t, bobC, "listUsers", nil)
	if n := len(mgmttest.Do(t, a, "listUsers", map[string]string{"state": "locked", "listall": "true"})["user"].([]any)); n != 1 {
		t.Errorf("one locked user: %d", n)
	}

	// Updates.
	upd := mgmttest.Do(t, a, "updateUser", map[string]string{"id": bobID, "username": "bobby", "firstname": "Robert",
		"lastname": "B", "email": "robert@example.org", "timezone": "UTC"})["user"].(map[string]any)
	for k, want := range map[string]any{"username": "bobby", "firstname": "Robert", "lastname": "B", "email": "robert@example.org", "timezone": "UTC"} {
		if upd[k] != want {
			t.Errorf("updated %s = %v, want %v", k, upd[k], want)
		}
	}
	acctFailUnchanged(t, e, a, "updateUser", map[string]string{"id": bobID, "username": "ACME"}, 431)
	acctFailUnchanged(t, e, a, "updateUser", map[string]string{"id": bobID, "username": " "}, 431)
	acctFailUnchanged(t, e, a, "updateUser", map[string]string{"id": bobID, "firstname": ""}, 431)
	acctFailUnchanged(t, e, a, "updateUser", map[string]string{"id": bobID, "firstname": "Changed", "userapikey": "only-a-key"}, 431)
	acctFailUnchanged(t, e, a, "updateUser", map[string]string{"id": bobID, "userapikey": a.Key, "usersecretkey": "s"}, 431)
	acctFailUnchanged(t, e, a, "updateUser", map[string]string{"id": "00000000-0000-4000-8000-000000000000", "firstname": "x"}, 431)
	mgmttest.Do(t, a, "updateUser", map[string]string{"id": bobID, "userapikey": "bob-chosen-key", "usersecretkey": "bob-chosen-secret"})
	mgmttest.Fail(t, bobC, "listUsers", nil, 401)
	bobC = &api.Client{Endpoint: e.URL, Key: "bob-chosen-key", Secret: "bob-chosen-secret"}
	mgmttest.Do(t, bobC, "listUsers", nil)

	// Passwords: a user gives its current password; an admin need not.
	acctFailUnchanged(t, e, bobC, "updateUser", map[string]string{"id": bobID, "password": "new"}, 431)
	acctFailUnchanged(t, e, bobC, "updateUser", map[string]string{"id": bobID, "password": "new", "currentpassword": "wrong"}, 431)
	acctFailUnchanged(t, e, bobC, "updateUser", map[string]string{"id": bobID, "password": " ", "currentpassword": "pw-bob"}, 431)
	mgmttest.Do(t, bobC, "updateUser", map[string]string{"id": bobID, "password": "pw-new", "currentpassword": "pw-bob"})
	if _, _, st := usrSession(t, e, "bobby", "pw-bob", "/"); st != 401 {
		t.Errorf("old password still logs in: %d", st)
	}
	mgmttest.Do(t, a, "updateUser", map[string]string{"id": bobID, "password": "pw-admin-set"})

	// Sessions end when the user is disabled, and stay ended after it is enabled again.
	hc, sk, st := usrSession(t, e, "bobby", "pw-admin-set", "/")
	if st != 200 || usrSessionStatus(t, e, hc, sk) != 200 {
		t.Fatalf("login: %d", st)
	}
	mgmttest.DoAsync(t, a, "disableUser", map[string]string{"id": bobID})
	if got := usrSessionStatus(t, e, hc, sk); got != 401 {
		t.Errorf("session of a disabled user: %d", got)
	}
	mgmttest.Do(t, a, "enableUser", map[string]string{"id": bobID})
	if got := usrSessionStatus(t, e, hc, sk); got != 401 {
		t.Errorf("a disabled user's session must be gone: %d", got)
	}
	hc, sk, _ = usrSession(t, e, "bobby", "pw-admin-set", "/")
	mgmttest.Do(t, a, "lockUser", map[string]string{"id": bobID})
	mgmttest.Do(t, a, "enableUser", map[string]string{"id": bobID})
	if got := usrSessionStatus(t, e, hc, sk); got != 401 {
		t.Errorf("a locked user's session must be gone: %d", got)
	}

	// Deletes: never oneself, never the default admin; a deleted user's keys and sessions die.
	adminAcct := mgmttest.Do(t, a, "listAccounts", nil)["account"].([]any)[0].(map[string]any)
	adminUser := acctUser(adminAcct)["id"].(string)
	acctFailUnchanged(t, e, a, "deleteUser", map[string]string{"id": adminUser}, 431)
	acctFailUnchanged(t, e, a, "disableUser", map[string]string{"id": adminUser}, 431)
	ops := acctCreate(t, a, map[string]string{"username": "ops", "accounttype": "1"})
	opsC := acctClient(t, e, acctUser(ops)["id"].(string))
	if text := acctFailUnchanged(t, e, opsC, "deleteUser", map[string]string{"id": adminUser}, 431); !strings.Contains(text, "default") {
		t.Errorf("deleting the default admin user: %s", text)
	}
	hc, sk, _ = usrSession(t, e, "bobby", "pw-admin-set", "/")
	if res := mgmttest.Do(t, a, "deleteUser", map[string]string{"id": bobID}); res["success"] != true {
		t.Errorf("deleteUser: %v", res)
	}
	mgmttest.Fail(t, bobC, "listUsers", nil, 401)
	if got := usrSessionStatus(t, e, hc, sk); got != 401 {
		t.Errorf("a deleted user's session must be gone: %d", got)
	}
	if got := mgmttest.Do(t, a, "listUsers", map[string]string{"id": bobID}); len(got) != 0 {
		t.Errorf("a deleted user is not listed: %v", got)
	}
	acctFailUnchanged(t, e, a, "deleteUser", map[string]string{"id": bobID}, 431)
	acctFailUnchanged(t, e, a, "registerUserKeys", map[string]string{"id": bobID}, 431)

	for typ, want := range map[string]int{"USER.CREATE": 4, "USER.UPDATE": 4, "USER.DISABLE": 2, "USER.ENABLE": 4,
		"USER.LOCK": 3, "USER.DELETE": 1, "REGISTER.USER.KEY": 2} {
		if got := acctEvents(t, e, typ); got != want {
			t.Errorf("%d %s events, want %d", got, typ, want)
		}
	}
}

func TestUserFilters(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	eng := mgmttest.Do(t, a, "createDomain", map[string]string{"name": "eng"})["domain"].(map[string]any)["id"].(string)
	acctCreate(t, a, map[string]string{"username": "alice", "accounttype": "0", "domainid": eng})
	acctCreate(t, a, map[string]string{"username": "dana", "accounttype": "2", "domainid": eng})
	acctCreate(t, a, map[string]string{"username": "bob", "accounttype": "0"})
	names := func(res map[string]any) string {
		var out []string
		list, _ := res["user"].([]any)
		for _, u := range list {
			out = append(out, u.(map[string]any)["username"].(string))
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		params map[string]string
		want   string
	}{
		{nil, "admin"},
		{map[string]string{"listall": "true"}, "admin,bob,alice,dana"},
		{map[string]string{"domainid": eng}, "alice,dana"},
		{map[string]string{"account": "alice", "domainid": eng}, "alice"},
		{map[string]string{"username": "BOB", "listall": "true"}, "bob"},
		{map[string]string{"accounttype": "2", "listall": "true"}, "dana"},
		{map[string]string{"keyword": "example", "listall": "true"}, "bob,alice,dana"},
		{map[string]string{"usersource": "native", "listall": "true"}, "admin,bob,alice,dana"},
		{map[string]string{"usersource": "ldap", "listall": "true"}, ""},
		{map[string]string{"state": "disabled", "listall": "true"}, ""},
	} {
		res := mgmttest.Do(t, a, "listUsers", c.params)
		if got := names(res); got != c.want {
			t.Errorf("listUsers %v = %q, want %q", c.params, got, c.want)
		}
		if c.want == "" && len(res) != 0 {
			t.Errorf("an empty list must be exactly {}: %v", res)
		}
	}
	if res := mgmttest.Do(t, a, "listUsers", map[string]string{"listall": "true", "pagesize": "3", "page": "2"}); res["count"] != float64(4) || names(res) != "dana" {
		t.Errorf("paging: %v", res)
	}
	mgmttest.Fail(t, a, "listUsers", map[string]string{"account": "nobody", "domainid": eng}, 431)
}

// TestAccountsAndUsersMariaDB runs the account and user paths that lean on the database
// (unique names, conditional updates, LIKE escapes, key lookups) on MariaDB.
func TestAccountsAndUsersMariaDB(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{MySQL: true})
	a := e.Admin
	eng := mgmttest.Do(t, a, "createDomain", map[string]string{"name": "eng"})["domain"].(map[string]any)["id"].(string)
	alice := acctCreate(t, a, map[string]string{"username": "alice", "accounttype": "0", "domainid": eng})
	if alice["accounttype"] != float64(0) || alice["state"] != "enabled" {
		t.Errorf("created: %v", alice)
	}
	acctFailUnchanged(t, e, a, "createAccount", map[string]string{"username": "x", "account": "ALICE", "password": "p", "firstname": "F",
		"lastname": "L", "email": "e", "accounttype": "0", "domainid": eng}, 431)
	acctFailUnchanged(t, e, a, "createUser", map[string]string{"account": "alice", "domainid": eng, "username": "Alice", "password": "p",
		"firstname": "F", "lastname": "L", "email": "e"}, 431)
	bob := mgmttest.Do(t, a, "createUser", map[string]string{"account": "alice", "domainid": eng, "username": "bob", "password": "p",
		"firstname": "F", "lastname": "L", "email": "e"})["user"].(map[string]any)
	bobC := acctClient(t, e, bob["id"].(string))
	if got := mgmttest.Do(t, bobC, "listUsers", nil); got["count"] != float64(1) {
		t.Errorf("bob lists itself: %v", got)
	}
	if got := acctNames(mgmttest.Do(t, a, "listAccounts", map[string]string{"keyword": "a_i", "listall": "true"})); len(got) != 0 {
		t.Errorf("keyword '_' must match literally: %v", got)
	}
	mgmttest.DoAsync(t, a, "disableUser", map[string]string{"id": bob["id"].(string)})
	mgmttest.Fail(t, bobC, "listUsers", nil, 401)
	mgmttest.Do(t, a, "enableUser", map[string]string{"id": bob["id"].(string)})
	mgmttest.Do(t, a, "updateAccount", map[string]string{"id": alice["id"].(string), "newname": "alicia"})
	if res := mgmttest.DoAsync(t, a, "disableAccount", map[string]string{"account": "alicia", "domainid": eng, "lock": "true"})["account"].(map[string]any); res["state"] != "locked" {
		t.Errorf("locked: %v", res)
	}
	mgmttest.Fail(t, bobC, "listUsers", nil, 401)
	mgmttest.Do(t, a, "enableAccount", map[string]string{"id": alice["id"].(string)})
	mgmttest.Do(t, bobC, "listUsers", nil)
	mgmttest.DoAsync(t, a, "deleteAccount", map[string]string{"id": alice["id"].(string)})
	mgmttest.Fail(t, bobC, "listUsers", nil, 401)
	acctCreate(t, a, map[string]string{"username": "bob", "account": "alicia", "accounttype": "0", "domainid": eng})
}
