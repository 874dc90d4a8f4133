package db_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
)

// TestListVMsToRender proves the list-rendering reads answer what ListVMs and ListNics answer
// (on the fields they fill), paged and not, including the names ListVMs joins.
func TestListVMsToRender(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		d := dbtest.Open(t, url, true)
		ctx := t.Context()
		q := d.SQL
		acct, dom := "acct", "dom"
		if err := db.InsertDomain(ctx, q, &db.Domain{ID: dom, Name: "D", Path: "ROOT/D", Level: 1, State: "Active", Created: 1}); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertAccount(ctx, q, &db.Account{ID: acct, Name: "alice", DomainID: dom, RoleID: "r", State: "enabled", Created: 1}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 40; i++ {
			v := &db.VM{ID: fmt.Sprintf("vm%02d", i), Name: fmt.Sprintf("n%02d", i), AccountID: acct, DomainID: dom, ZoneID: "z",
				ServiceOfferingID: "so", TemplateID: "t", CPUNumber: 1, CPUSpeed: 100, Memory: 64, State: db.VMRunning, DisplayVM: i%4 != 0,
				HostID: "h1", PodID: "p", Password: "pw", UserData: "dWQ=", PowerState: db.PowerOn, PowerStateUpdated: int64(i), Created: int64(100 + i)}
			if i == 5 {
				v.OSTypeID = "an id with spaces" // not packable: read again column by column
			}
			if i%3 == 0 {
				v.AccountID, v.DomainID, v.HostID, v.State = "other", "nodomain", "", db.VMStopped
				v.Details = map[string]string{"a": "b"}
			}
			if err := db.InsertVM(ctx, q, v); err != nil {
				t.Fatal(err)
			}
			for k := 0; k < 1+i%3; k++ {
				n := &db.Nic{ID: fmt.Sprintf("nic%02d-%d", i, k), VMID: v.ID, NetworkID: "net", IPAddress: fmt.Sprintf("10.0.%d.%d", k, i),
					MACAddress: fmt.Sprintf("02:00:00:00:%02x:%02x", k, i), IsDefault: k == 0, DeviceID: 2 - k, Netmask: "255.0.0.0", Created: 1}
				if i == 7 {
					n.Gateway, n.BroadcastURI = "a gateway with spaces", "vlan://7"
				}
				if err := db.InsertNic(ctx, q, n); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, g := range []string{"ga", "gb"} {
			if err := db.InsertAffinityGroup(ctx, q, &db.AffinityGroup{ID: g, Name: "name-" + g, Type: "host anti-affinity", AccountID: acct,
				DomainID: dom, Created: 1}); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 40; i += 3 {
			id := fmt.Sprintf("vm%02d", i)
			if err := db.InsertTag(ctx, q, &db.Tag{ID: "t" + id, Key: "k", Value: id, ResourceType: "UserVm", ResourceID: id, AccountID: acct,
				DomainID: dom, Created: 1}); err != nil {
				t.Fatal(err)
			}
			if err := db.InsertTag(ctx, q, &db.Tag{ID: "u" + id, Key: "a", Value: "x", ResourceType: "UserVm", ResourceID: id, AccountID: acct,
				DomainID: dom, Created: 1}); err != nil {
				t.Fatal(err)
			}
			if err := db.SetVMAffinityGroups(ctx, q, id, []string{"gb", "ga"}[:1+i%2]); err != nil {
				t.Fatal(err)
			}
		}
		trim := func(v *db.VM, userData bool) db.VM {
			c := *v
			c.PodID, c.ClusterID, c.LastHostID, c.MigrateHostID, c.PowerState, c.Password = "", "", "", "", "", ""
			c.Version, c.Destroyed, c.Removed = 0, 0, 0
			if !userData {
				c.UserData = ""
			}
			return c
		}
		for _, f := range []db.VMFilter{{}, {Limit: 7}, {Limit: 7, Offset: 35}, {Limit: 7, Offset: 40}, {DisplayOnly: true, Limit: 5, Offset: 3},
			{Scope: db.Scope{AccountID: acct}}, {States: []string{"stopped"}}, {IDs: []string{"vm05", "vm06"}}} {
			for _, ud := range []bool{false, true} {
				want, wantN, err := db.ListVMs(ctx, q, f)
				if err != nil {
					t.Fatal(err)
				}
				got, gotN, err := db.ListVMsToRender(ctx, d.Read(), f, ud)
				if err != nil {
					t.Fatal(err)
				}
				if gotN != wantN || len(got) != len(want) {
					t.Fatalf("%+v: %d VMs of %d, want %d of %d", f, len(got), gotN, len(want), wantN)
				}
				for i := range want {
					if w, g := trim(want[i], ud), *got[i]; !reflect.DeepEqual(w, g) {
						t.Fatalf("%+v: VM %d:\n got %+v\nwant %+v", f, i, g, w)
					}
				}
				if want != nil && want[0].DomainPath == "" && f.Scope.AccountID == acct {
					t.Fatalf("no domain path joined: %+v", want[0])
				}
				nics, err := db.ListNicsOfVMs(ctx, d.Read(), f)
				if err != nil {
					t.Fatal(err)
				}
				byVM := db.NicsByVM(nics)
				var ids []string
				for _, v := range want {
					ids = append(ids, v.ID)
				}
				if f.Limit == 0 {
					tags, err := db.VMTagsOf(ctx, d.Read(), f)
					if err != nil {
						t.Fatal(err)
					}
					wantTags, err := db.TagsFor(ctx, q, "UserVm", ids)
					if err != nil {
						t.Fatal(err)
					}
					if len(wantTags) == 0 && len(ids) == 40 || !reflect.DeepEqual(tags, wantTags) {
						t.Fatalf("%+v: tags %v, want %v", f, tags, wantTags)
					}
					ms, err := db.VMAffinityMembersOf(ctx, d.Read(), f)
					if err != nil {
						t.Fatal(err)
					}
					wantMs, err := db.ListAffinityMembers(ctx, q, ids)
					if err != nil {
						t.Fatal(err)
					}
					if len(wantMs) == 0 && len(ids) == 40 || !reflect.DeepEqual(ms, wantMs) {
						t.Fatalf("%+v: members %v, want %v", f, ms, wantMs)
					}
				}
				toRender, err := db.ListNicsToRender(ctx, d.Read(), ids)
				if err != nil {
					t.Fatal(err)
				}
				if len(toRender) != len(nics) {
					t.Fatalf("%+v: %d NICs by id, %d by filter", f, len(toRender), len(nics))
				}
				all := 0
				for _, v := range want {
					full, err := db.ListNics(ctx, q, db.NicFilter{VMID: v.ID})
					if err != nil {
						t.Fatal(err)
					}
					all += len(full)
					g := byVM[v.ID]
					if len(g) != len(full) {
						t.Fatalf("%s: %d NICs, want %d", v.ID, len(g), len(full))
					}
					for k, n := range full {
						w := db.Nic{ID: n.ID, VMID: n.VMID, NetworkID: n.NetworkID, IPAddress: n.IPAddress, Netmask: n.Netmask, Gateway: n.Gateway,
							IP6Address: n.IP6Address, MACAddress: n.MACAddress, IsDefault: n.IsDefault, DeviceID: n.DeviceID, BroadcastURI: n.BroadcastURI,
							IsolationURI: n.IsolationURI, TrafficType: n.TrafficType}
						if !reflect.DeepEqual(*g[k], w) {
							t.Fatalf("%s NIC %d: got %+v want %+v", v.ID, k, *g[k], w)
						}
					}
				}
				if all != len(nics) {
					t.Fatalf("%+v: %d NICs, want %d", f, len(nics), all)
				}
			}
		}
	})
}
