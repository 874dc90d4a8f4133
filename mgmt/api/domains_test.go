package api_test

import (
	"testing"

	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

func TestDomainLifecycle(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	root := mgmttest.Do(t, a, "listDomains", nil)["domain"].([]any)[0].(map[string]any)
	if root["path"] != "ROOT" || root["level"].(float64) != 0 {
		t.Fatalf("root domain: %v", root)
	}
	eng := mgmttest.Do(t, a, "createDomain", map[string]string{"name": "eng", "networkdomain": "eng.example"})["domain"].(map[string]any)
	if eng["path"] != "ROOT/eng" || eng["parentdomainid"] != root["id"] || eng["networkdomain"] != "eng.example" {
		t.Fatalf("created: %v", eng)
	}
	sub := mgmttest.Do(t, a, "createDomain", map[string]string{"name": "web", "parentdomainid": eng["id"].(string)})["domain"].(map[string]any)
	if sub["path"] != "ROOT/eng/web" {
		t.Fatalf("sub: %v", sub)
	}
	mgmttest.Fail(t, a, "createDomain", map[string]string{"name": "ENG"}, 431)
	mgmttest.Fail(t, a, "createDomain", map[string]string{"name": "a/b"}, 431)

	// Without listall an admin sees only its own domain; with it the whole tree.
	if n := mgmttest.Do(t, a, "listDomains", nil)["count"].(float64); n != 1 {
		t.Fatalf("listDomains without listall: %v", n)
	}
	if n := mgmttest.Do(t, a, "listDomains", map[string]string{"listall": "True"})["count"].(float64); n != 3 {
		t.Fatalf("listDomains listall: %v", n)
	}
	kids := mgmttest.Do(t, a, "listDomainChildren", map[string]string{"isrecursive": "true"})
	if kids["count"].(float64) != 2 {
		t.Fatalf("children: %v", kids)
	}

	upd := mgmttest.Do(t, a, "updateDomain", map[string]string{"id": eng["id"].(string), "name": "engineering"})["domain"].(map[string]any)
	if upd["path"] != "ROOT/engineering" {
		t.Fatalf("renamed: %v", upd)
	}
	moved := mgmttest.Do(t, a, "listDomains", map[string]string{"id": sub["id"].(string)})["domain"].([]any)[0].(map[string]any)
	if moved["path"] != "ROOT/engineering/web" {
		t.Fatalf("subtree path not rewritten: %v", moved)
	}
	mgmttest.Fail(t, a, "updateDomain", map[string]string{"id": root["id"].(string), "name": "x"}, 431)

	// Deleting a domain with children needs cleanup=true.
	res, err := a.Do(t.Context(), "deleteDomain", map[string]string{"id": eng["id"].(string)})
	if err != nil {
		t.Fatal(err)
	}
	j, err := a.Wait(t.Context(), res["jobid"].(string))
	if err != nil || j["jobstatus"].(float64) != 2 || j["jobresult"].(map[string]any)["errorcode"].(float64) != 431 {
		t.Fatalf("delete without cleanup: %v %v", j, err)
	}
	mgmttest.DoAsync(t, a, "deleteDomain", map[string]string{"id": eng["id"].(string), "cleanup": "true"})
	if got := mgmttest.Do(t, a, "listDomains", map[string]string{"listall": "true"}); got["count"].(float64) != 1 {
		t.Fatalf("after delete: %v", got)
	}
	mgmttest.Fail(t, a, "deleteDomain", map[string]string{"id": root["id"].(string)}, 431)
	if got := mgmttest.Do(t, a, "listDomains", map[string]string{"name": "nothing"}); len(got) != 0 {
		t.Fatalf("empty list must be {}: %v", got)
	}
}
