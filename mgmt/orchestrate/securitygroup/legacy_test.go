package securitygroup_test

import (
	"context"
	"reflect"
	"sort"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/orchestrate/securitygroup"
	"github.com/google/uuid"
)

// TestAdoptLegacy: groups a VM recorded in vm_instances.security_groups before security groups
// existed become its memberships (named ones made for its owner, ids of no group left out),
// the record is cleared, and a second run changes nothing.
func TestAdoptLegacy(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		ctx := context.Background()
		w := build(t, url)
		d := w.d
		// bob's v4 recorded names and an id of nothing; alice's v3, out of its groups, the name
		// of her existing group; v1 has memberships already and a record.
		if err := db.SetVMSecurityGroups(ctx, d.SQL, w.v3.ID, nil); err != nil {
			t.Fatal(err)
		}
		for id, rec := range map[string]string{w.v4.ID: "Web,db-tier,,default," + uuid.NewString(), w.v3.ID: "WEB", w.v1.ID: "whatever"} {
			if _, err := d.SQL.ExecContext(ctx, "UPDATE vm_instances SET security_groups = ? WHERE id = ?", rec, id); err != nil {
				t.Fatal(err)
			}
		}
		before := dbtest.Fingerprint(t, d.SQL, "SELECT group_id, vm_id FROM security_group_vm_map WHERE vm_id = '"+w.v1.ID+"'")
		if err := securitygroup.AdoptLegacy(ctx, d, nil); err != nil {
			t.Fatal(err)
		}
		names := func(vmID, accountID string) []string {
			ms, err := db.ListSecurityGroupMembers(ctx, d.SQL, []string{vmID}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, m := range ms {
				g, err := db.GetSecurityGroup(ctx, d.SQL, m.GroupID)
				if err != nil {
					t.Fatal(err)
				}
				if g.AccountID != accountID {
					t.Fatalf("group %s of another account", g.Name)
				}
				out = append(out, g.Name)
			}
			sort.Strings(out)
			return out
		}
		if got := names(w.v4.ID, w.v4.AccountID); !reflect.DeepEqual(got, []string{"Web", "db-tier", "default"}) {
			t.Fatalf("v4's groups %v, want bob's Web, db-tier and default, made", got)
		}
		if ms, err := db.ListSecurityGroupMembers(ctx, d.SQL, []string{w.v3.ID}, nil); err != nil || len(ms) != 1 || ms[0].GroupID != w.web.ID {
			t.Fatalf("v3's groups %v %v, want alice's existing web", ms, err)
		}
		if after := dbtest.Fingerprint(t, d.SQL, "SELECT group_id, vm_id FROM security_group_vm_map WHERE vm_id = '"+w.v1.ID+"'"); after != before {
			t.Fatal("v1's memberships changed")
		}
		var left int
		if err := d.SQL.QueryRowContext(ctx, "SELECT COUNT(*) FROM vm_instances WHERE security_groups IS NOT NULL AND security_groups <> ''").Scan(&left); err != nil || left != 0 {
			t.Fatalf("records left: %d %v", left, err)
		}
		all := dbtest.Fingerprint(t, d.SQL, "security_groups", "security_group_vm_map")
		if err := securitygroup.AdoptLegacy(ctx, d, nil); err != nil {
			t.Fatal(err)
		}
		if dbtest.Fingerprint(t, d.SQL, "security_groups", "security_group_vm_map") != all {
			t.Fatal("a second run changed something")
		}
	})
}
