package api_test

import (
	"reflect"
	"testing"

	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// TestDeployResultMatchesList checks that a deploy's job result, which the server that
// deployed the VM renders from what it holds in memory, says exactly what listVirtualMachines
// then reads from the database, for a tenant and for an admin (who sees host and instance
// names).
func TestDeployResultMatchesList(t *testing.T) { testDeployResultMatchesList(t, false) }

// On MariaDB the deploy's writes also go in fewer round trips (db.Deferred): the same must hold.
func TestDeployResultMatchesListOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	testDeployResultMatchesList(t, true)
}

func testDeployResultMatchesList(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	for _, tc := range []struct {
		name  string
		extra map[string]string
		admin bool
	}{
		{"tenant", map[string]string{"name": "res-1", "displayname": "Result One", "networkids": v.network, "group": "g1",
			"userdata": "aGVsbG8="}, false},
		{"admin", map[string]string{"name": "res-2", "hostid": v.hosts[1]}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := v.tenant
			if tc.admin {
				c = v.Admin
			}
			got := v.deploy(t, c, tc.extra)
			list := mgmttest.Do(t, c, "listVirtualMachines", map[string]string{"id": got["id"].(string), "listall": "true"})["virtualmachine"].([]any)
			if len(list) != 1 {
				t.Fatalf("listed %d VMs", len(list))
			}
			want := list[0].(map[string]any)
			delete(got, "password")
			if !reflect.DeepEqual(got, want) {
				for k := range want {
					if !reflect.DeepEqual(got[k], want[k]) {
						t.Errorf("%s: job result %v, list %v", k, got[k], want[k])
					}
				}
				for k := range got {
					if _, ok := want[k]; !ok {
						t.Errorf("%s: only in the job result: %v", k, got[k])
					}
				}
			}
			if tc.admin && (got["hostname"] == nil || got["hostname"] == "" || got["instancename"] == nil) {
				t.Errorf("admin result without host or instance name: %v", got)
			}
		})
	}
}
