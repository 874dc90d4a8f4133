package api_test

import (
	"fmt"
	"testing"

	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// TestListDomainsRendersTree checks the fields listDomains computes with the list itself
// (parent id and name, haschild), paging totals, and that a removed child no longer counts.
func TestListDomainsRendersTree(t *testing.T) {
	for _, mysql := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "mariadb"}[mysql], func(t *testing.T) {
			if mysql {
				mgmttest.MySQLBase(t)
			}
			e := mgmttest.Start(t, mgmttest.Options{MySQL: mysql})
			a := e.Admin
			ids := map[string]string{}
			create := func(name, parent string) {
				p := map[string]string{"name": name}
				if parent != "" {
					p["parentdomainid"] = ids[parent]
				}
				ids[name] = mgmttest.Do(t, a, "createDomain", p)["domain"].(map[string]any)["id"].(string)
			}
			create("a", "")
			create("b", "")
			create("a1", "a")
			create("a2", "a")
			create("a1x", "a1")
			byPath := func(params map[string]string) (map[string]map[string]any, float64) {
				res := mgmttest.Do(t, a, "listDomains", params)
				out := map[string]map[string]any{}
				list, _ := res["domain"].([]any)
				for _, d := range list {
					m := d.(map[string]any)
					out[m["path"].(string)] = m
				}
				n, _ := res["count"].(float64)
				return out, n
			}
			all, n := byPath(map[string]string{"listall": "true"})
			if n != 6 || len(all) != 6 {
				t.Fatalf("listall: count %v, %d domains", n, len(all))
			}
			want := []struct {
				path, parent string
				child        bool
			}{
				{"ROOT", "", true}, {"ROOT/a", "ROOT", true}, {"ROOT/b", "ROOT", false},
				{"ROOT/a/a1", "a", true}, {"ROOT/a/a2", "a", false}, {"ROOT/a/a1/a1x", "a1", false},
			}
			for _, w := range want {
				d := all[w.path]
				if d == nil {
					t.Fatalf("%s missing from %v", w.path, all)
				}
				if d["haschild"] != w.child {
					t.Errorf("%s haschild = %v, want %v", w.path, d["haschild"], w.child)
				}
				if w.parent == "" {
					if _, ok := d["parentdomainid"]; ok {
						t.Errorf("ROOT has a parent: %v", d)
					}
					continue
				}
				if d["parentdomainname"] != w.parent || (w.parent != "ROOT" && d["parentdomainid"] != ids[w.parent]) {
					t.Errorf("%s parent = %v %v, want %s", w.path, d["parentdomainname"], d["parentdomainid"], w.parent)
				}
			}
			// A domain admin of a lists its subtree, whose top's parent lies outside it.
			acct := mgmttest.Do(t, a, "createAccount", map[string]string{"account": "aadmin", "username": "aadmin", "password": "pw",
				"firstname": "F", "lastname": "L", "email": "aadmin@example.org", "accounttype": "2", "domainid": ids["a"]})["account"].(map[string]any)
			keys := mgmttest.Do(t, a, "registerUserKeys", map[string]string{"id": acct["user"].([]any)[0].(map[string]any)["id"].(string)})["userkeys"].(map[string]any)
			sub := &api.Client{Endpoint: e.URL, Key: keys["apikey"].(string), Secret: keys["secretkey"].(string)}
			res := mgmttest.Do(t, sub, "listDomains", map[string]string{"listall": "true"})
			if res["count"].(float64) != 4 {
				t.Fatalf("domain admin's listall: %v", res)
			}
			for _, d := range res["domain"].([]any) {
				m := d.(map[string]any)
				if m["haschild"] != all[m["path"].(string)]["haschild"] || m["parentdomainname"] != all[m["path"].(string)]["parentdomainname"] ||
					m["parentdomainid"] != all[m["path"].(string)]["parentdomainid"] {
					t.Errorf("domain admin sees %v, admin %v", m, all[m["path"].(string)])
				}
			}
			// A page keeps the total of the whole listing.
			page, n := byPath(map[string]string{"listall": "true", "page": "2", "pagesize": "4"})
			if n != 6 || len(page) != 2 {
				t.Fatalf("page 2 of 4: count %v, %d domains: %v", n, len(page), page)
			}
			if _, n := byPath(map[string]string{"listall": "true", "page": "3", "pagesize": "4"}); n != 0 {
				t.Fatalf("past the last page: count %v", n)
			}
			// Once a1x is gone, a1 has no child any more.
			mgmttest.DoAsync(t, a, "deleteDomain", map[string]string{"id": ids["a1x"]})
			got, _ := byPath(map[string]string{"id": ids["a1"]})
			if d := got["ROOT/a/a1"]; d == nil || d["haschild"] != false {
				t.Fatalf("a1 after its child was deleted: %v", got)
			}
			// A wider tree: b gets 30 children.
			for i := 0; i < 30; i++ {
				create(fmt.Sprintf("n%02d", i), "b")
			}
			if all, n := byPath(map[string]string{"listall": "true"}); n != 35 || all["ROOT/b"]["haschild"] != true ||
				all["ROOT/b/n07"]["parentdomainname"] != "b" {
				t.Fatalf("after 30 more: count %v, b %v", n, all["ROOT/b"])
			}
		})
	}
}
