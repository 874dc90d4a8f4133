package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// fingerprint hashes every row of the tables a command could change (jobs, sessions and the
// server heartbeat excepted), so a test can prove a refused call changed nothing.
func fingerprint(t *testing.T, e *mgmttest.Env) string {
	t.Helper()
	return dbtest.Fingerprint(t, e.Server.DB.SQL, "domains", "accounts", "users", "roles", "role_permissions", "configuration_values", "events",
		"networks", "network_ips",
		"templates", "template_stores", "template_permissions", "ssh_keypairs", "resource_tags",
		"volumes", "snapshots", "snapshot_store_refs", "snapshot_policies",
		"vm_instances", "nics", "affinity_groups", "affinity_group_vm_map",
		"service_offerings", "disk_offerings", "network_offerings", "vpc_offerings", "os_types", "resource_limits", "resource_counts")
}

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
// see or touch another tenant's account, user or domain, and a domain admin cannot reach
// outside its subtree: each call that names a foreign object by any id parameter is refused
// (or, for lists, returns none of it), and a refused call changes nothing.
func TestEveryCommandStaysInScope(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	sub := mgmttest.Do(t, e.Admin, "createDomain", map[string]string{"name": "sub"})["domain"].(map[string]any)
	subID := sub["id"].(string)
	alice, aliceIDs := tenant(t, e, "alice", "0", subID)
	bob, bobIDs := tenant(t, e, "bob", "0", "")
	subadmin, _ := tenant(t, e, "subadmin", "2", subID)

	cases := []struct {
		who     principal
		foreign []string // ids the caller must not reach
	}{
		{principal{"bob", bob}, append(aliceIDs, subID)},
		{principal{"alice", alice}, bobIDs},
		{principal{"subadmin", subadmin}, bobIDs},
	}
	checked := 0
	for _, cmd := range e.Server.API.Reg.All() {
		if cmd.NoAuth {
			continue
		}
		for _, c := range cases {
			for _, prm := range cmd.Params {
				if prm.Type != api.TUUID || newObjectID[cmd.Name+"."+prm.Name] {
					continue
				}
				for _, foreign := range c.foreign {
					params := map[string]string{}
					for _, q := range cmd.Params {
						if q.Required {
							params[q.Name] = dummy(q.Type)
						}
					}
					params[prm.Name] = foreign
					before := fingerprint(t, e)
					res, err := c.who.client.Do(context.Background(), cmd.Name, params)
					checked++
					if err == nil {
						if jobID, ok := res["jobid"].(string); ok {
							ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
							j, werr := c.who.client.Wait(ctx, jobID)
							cancel()
							if werr != nil || j["jobstatus"].(float64) != 2 {
								t.Errorf("%s as %s with %s=%s (foreign): job did not fail: %v %v", cmd.Name, c.who.name, prm.Name, foreign, j, werr)
							}
						} else if body := fmt.Sprint(res); strings.Contains(body, foreign) {
							t.Errorf("%s as %s with %s=%s (foreign): answer reveals it: %s", cmd.Name, c.who.name, prm.Name, foreign, body)
						}
					}
					if after := fingerprint(t, e); after != before && !cmd.List {
						if err != nil || res["jobid"] != nil {
							t.Errorf("%s as %s with %s=%s (foreign) was refused but changed the database", cmd.Name, c.who.name, prm.Name, foreign)
						}
					}
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d foreign-id calls checked", checked)
	}
	t.Logf("%d foreign-id calls checked across %d commands", checked, len(e.Server.API.Reg.All()))
}

// TestEveryCommandBadInput sends every command, as the admin, with each required parameter
// missing and each typed parameter malformed: each answers 431 naming the parameter and
// changes nothing. Unsigned and wrongly signed requests answer 401 for every command.
func TestEveryCommandBadInput(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
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
}
