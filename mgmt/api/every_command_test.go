package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// fingerprint hashes every row of the tables a command could change (jobs, sessions and the
// server heartbeat excepted), so a test can prove a refused call changed nothing.
func fingerprint(t *testing.T, e *mgmttest.Env) string {
	t.Helper()
	return dbtest.Fingerprint(t, e.Server.DB.SQL, fingerprintTables...)
}

// fingerprintTables are the tables fingerprint reads.
var fingerprintTables = []string{"domains", "accounts", "users", "roles", "role_permissions", "configuration_values", "events",
	"networks", "network_ips",
	"templates", "template_stores", "template_permissions", "ssh_keypairs", "resource_tags",
	"volumes", "snapshots", "snapshot_store_refs", "snapshot_policies",
	"vm_instances", "nics", "affinity_groups", "affinity_group_vm_map",
	"service_offerings", "disk_offerings", "network_offerings", "vpc_offerings", "os_types", "resource_limits", "resource_counts"}

// dummy returns a well-formed value for a parameter of type typ.
func dummy(typ api.Type) string {
	switch typ {
	case api.TBool:
		return "true"
	case api.TInt, api.TLong, api.TShort:
		return "1"
	case api.TUUID:
		return "00000000-0000-4000-8000-000000000000"
	case api.TDate:
		return "2024-01-01"
	}
	return "x"
}

// newObjectID lists parameters that name the id of the object a command creates (CloudStack's
// region-sync ids), not an existing object: a foreign id there is just a chosen uuid.
var newObjectID = map[string]bool{"createDomain.domainid": true, "createAccount.accountid": true,
	"createAccount.userid": true, "createUser.userid": true}

type principal struct {
	name   string
	client *api.Client
}

// tenant creates an account of the given type in a domain, with API keys, and returns its
// client and the ids it owns (account, user).
func tenant(t *testing.T, e *mgmttest.Env, name, accountType, domainID string) (*api.Client, []string) {
	t.Helper()
	p := map[string]string{"account": name, "username": name, "password": "pw", "firstname": "F", "lastname": "L",
		"email": name + "@example.org", "accounttype": accountType}
	if domainID != "" {
		p["domainid"] = domainID
	}
	acct := mgmttest.Do(t, e.Admin, "createAccount", p)["account"].(map[string]any)
	user := acct["user"].([]any)[0].(map[string]any)
	keys := mgmttest.Do(t, e.Admin, "registerUserKeys", map[string]string{"id": user["id"].(string)})["userkeys"].(map[string]any)
	return &api.Client{Endpoint: e.URL, Key: keys["apikey"].(string), Secret: keys["secretkey"].(string)},
		[]string{acct["id"].(string), user["id"].(string)}
}

// TestEveryCommandStaysInScope proves, for every command in the registry, that a tenant cannot
// see or touch another tenant's account, user, domain or objects (VM, network, private
// template, key pair, volume, snapshot, affinity group), and a domain admin cannot reach
// outside its subtree: each call that names a foreign object by any id parameter is refused
// (or, for lists, returns none of it), a refused call changes nothing, and no refusal names
// anything of the other tenant's but the id the caller sent (see isolation_test.go).
func TestEveryCommandStaysInScope(t *testing.T) {
	everyCommandStaysInScope(t, mgmttest.Options{}, nil)
}

// TestEveryCommandBadInput sends every command, as the admin, with each required parameter
// missing and each typed parameter malformed: each answers 431 naming the parameter and
// changes nothing. Unsigned and wrongly signed requests answer 401 for every command.
// Then every parameter of every command gets every hostile shape (badInputShapes).
func TestEveryCommandBadInput(t *testing.T) { everyCommandBadInput(t, false) }

// TestEveryCommandBadInputOnMariaDB is TestEveryCommandBadInput on MariaDB (strict mode,
// utf8mb4 columns with lengths), where more malformed values reach a driver error.
func TestEveryCommandBadInputOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	everyCommandBadInput(t, true)
}

func everyCommandBadInput(t *testing.T, mysql bool) {
	e := mgmttest.Start(t, mgmttest.Options{MySQL: mysql})
	bad := map[api.Type]string{api.TBool: "maybe", api.TInt: "1x", api.TLong: "ten", api.TShort: "1.5", api.TUUID: "not-a-uuid", api.TDate: "2024-13-45"}
	for _, cmd := range e.Server.API.Reg.All() {
		var required []api.Param
		for _, p := range cmd.Params {
			if p.Required {
				required = append(required, p)
			}
		}
		full := map[string]string{}
		for _, p := range required {
			full[p.Name] = dummy(p.Type)
		}
		for _, miss := range required {
			params := map[string]string{}
			for k, v := range full {
				if k != miss.Name {
					params[k] = v
				}
			}
			before := fingerprint(t, e)
			text := mgmttest.Fail(t, e.Admin, cmd.Name, params, 431)
			if !strings.Contains(text, miss.Name) {
				t.Errorf("%s without %s: error does not name it: %s", cmd.Name, miss.Name, text)
			}
			if fingerprint(t, e) != before {
				t.Errorf("%s without %s changed the database", cmd.Name, miss.Name)
			}
		}
		for _, p := range cmd.Params {
			v, ok := bad[p.Type]
			if !ok || cmd.NoAuth {
				continue
			}
			params := map[string]string{}
			for k, val := range full {
				params[k] = val
			}
			params[p.Name] = v
			before := fingerprint(t, e)
			text := mgmttest.Fail(t, e.Admin, cmd.Name, params, 431)
			if !strings.Contains(text, p.Name) {
				t.Errorf("%s with %s=%s: error does not name the parameter: %s", cmd.Name, p.Name, v, text)
			}
			if fingerprint(t, e) != before {
				t.Errorf("%s with %s=%s changed the database", cmd.Name, p.Name, v)
			}
		}
		if cmd.NoAuth {
			continue
		}
		// Unsigned and badly signed requests.
		q := url.Values{"command": {cmd.Name}, "response": {"json"}}
		for k, v := range full {
			q.Set(k, v)
		}
		resp, err := http.Get(e.URL + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("%s unsigned: HTTP %d, want 401", cmd.Name, resp.StatusCode)
		}
		wrong := &api.Client{Endpoint: e.URL, Key: e.Admin.Key, Secret: e.Admin.Secret + "x"}
		mgmttest.Fail(t, wrong, cmd.Name, full, 401)
	}
	badInputShapes(t, e, mysql, nil)
}
