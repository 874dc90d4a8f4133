package db_test

import (
	"errors"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
)

func TestVMVolumeNicTables(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		d := dbtest.Open(t, url, true)
		ctx := t.Context()
		q := d.SQL
		v := &db.VM{ID: "vm1", Name: "web", DisplayName: "Web", AccountID: "acct", DomainID: "dom", ZoneID: "z", ServiceOfferingID: "so",
			TemplateID: "t", CPUNumber: 2, CPUSpeed: 1000, Memory: 512, State: db.VMStopped, DisplayVM: true, KeyPairs: "k1,k2",
			Details: map[string]string{"cpuNumber": "2"}, Created: 1}
		if err := db.InsertVM(ctx, q, v); err != nil {
			t.Fatal(err)
		}
		if v.Seq == 0 {
			t.Fatal("no seq from insert")
		}
		dup := *v
		dup.ID, dup.Name, dup.KeyPairs = "vm2", "WEB", "k22"
		if err := db.InsertVM(ctx, q, &dup); !db.IsDuplicate(err) {
			t.Fatalf("same host name in account and zone: %v", err)
		}
		dup.ZoneID = "z2"
		if err := db.InsertVM(ctx, q, &dup); err != nil {
			t.Fatalf("same name in another zone: %v", err)
		}
		got, err := db.GetVM(ctx, q, "vm1")
		if err != nil || got.Details["cpuNumber"] != "2" || got.Seq != v.Seq || got.InstanceName() != v.InstanceName() || !got.DisplayVM {
			t.Fatalf("get: %+v %v", got, err)
		}
		got.State, got.HostID = db.VMRunning, "h1"
		if err := db.UpdateVM(ctx, q, got); err != nil {
			t.Fatal(err)
		}
		stale := *got
		stale.Version--
		if err := db.UpdateVM(ctx, q, &stale); !errors.Is(err, db.ErrConflict) {
			t.Fatalf("stale update: %v", err)
		}
		for _, c := range []struct {
			f    db.VMFilter
			want int
		}{
			{db.VMFilter{}, 2},
			{db.VMFilter{States: []string{"running"}}, 1},
			{db.VMFilter{KeyPair: "k2"}, 1},
			{db.VMFilter{KeyPair: "k"}, 0},
			{db.VMFilter{Keyword: "we"}, 2},
			{db.VMFilter{HostID: "h1"}, 1},
			{db.VMFilter{IDs: []string{"vm1", "vm2", "x"}}, 2},
			{db.VMFilter{ExcludeStates: []string{db.VMStopped}}, 1},
			{db.VMFilter{Scope: db.Scope{AccountID: "other"}}, 0},
		} {
			if _, n, err := db.ListVMs(ctx, q, c.f); err != nil || n != c.want {
				t.Errorf("%+v: %d, %v; want %d", c.f, n, err, c.want)
			}
		}
		use, err := db.SumVMCompute(ctx, q)
		if err != nil || len(use) != 1 || use[0].HostID != "h1" || use[0].CPUMHz != 2000 || use[0].MemoryMiB != 512 || use[0].Cores != 2 {
			t.Fatalf("sum compute: %+v %v", use, err)
		}
		if ok, err := db.SetVMPowerState(ctx, q, "vm1", db.PowerOn, 5); !ok || err != nil {
			t.Fatalf("power: %v %v", ok, err)
		}
		if hv, err := db.ListHostVMs(ctx, q, "h1"); err != nil || len(hv) != 1 || hv[0].PowerState != db.PowerOn {
			t.Fatalf("host vms: %+v %v", hv, err)
		}

		o := &db.Volume{ID: "vol1", Name: "ROOT-1", AccountID: "acct", DomainID: "dom", ZoneID: "z", PoolID: "p1", VMID: "vm1",
			Type: db.VolumeRoot, Size: 10 << 30, State: db.VolumeReady, DisplayVolume: true, Created: 1}
		if err := db.InsertVolume(ctx, q, o); err != nil {
			t.Fatal(err)
		}
		gv, err := db.GetVolume(ctx, q, "vol1")
		if err != nil || gv.VMName != "web" || gv.DeviceID != 0 || gv.ProvisioningType != "thin" {
			t.Fatalf("get volume: %+v %v", gv, err)
		}
		gv.VMID, gv.State = "", db.VolumeDestroy
		if err := db.UpdateVolume(ctx, q, gv); err != nil {
			t.Fatal(err)
		}
		if vs, n, err := db.ListVolumes(ctx, q, db.VolumeFilter{VMID: "vm1"}); err != nil || n != 0 || len(vs) != 0 {
			t.Fatalf("detached volume still listed for its vm: %d %v", n, err)
		}
		if sums, err := db.SumVolumeBytes(ctx, q); err != nil || len(sums) != 1 || sums[0].Bytes != 10<<30 {
			t.Fatalf("sum volume bytes: %+v %v", sums, err)
		}

		n := &db.Nic{ID: "n1", VMID: "vm1", NetworkID: "net", IPAddress: "10.0.0.5", MACAddress: db.NewMAC(), IsDefault: true, Created: 1}
		if err := db.InsertNic(ctx, q, n); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertNic(ctx, q, &db.Nic{ID: "n2", VMID: "vm2", NetworkID: "net", IPAddress: "10.0.0.5", MACAddress: db.NewMAC(), Created: 1}); !db.IsDuplicate(err) {
			t.Fatalf("one address twice on a network: %v", err)
		}
		if inUse, _ := db.NicIPInUse(ctx, q, "net", "10.0.0.5"); !inUse {
			t.Fatal("address not in use")
		}
		if _, n, _ := db.ListVMs(ctx, q, db.VMFilter{NetworkID: "net"}); n != 1 {
			t.Fatalf("network filter: %d", n)
		}
		if err := db.RemoveVMNics(ctx, q, "vm1", 2); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertNic(ctx, q, &db.Nic{ID: "n3", VMID: "vm2", NetworkID: "net", IPAddress: "10.0.0.5", MACAddress: n.MACAddress, Created: 1}); err != nil {
			t.Fatalf("address and MAC of a removed nic reused: %v", err)
		}

		g := &db.AffinityGroup{ID: "g1", Name: "spread", Type: db.AffinityHostAnti, AccountID: "acct", DomainID: "dom", Created: 1}
		if err := db.InsertAffinityGroup(ctx, q, g); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertAffinityGroup(ctx, q, &db.AffinityGroup{ID: "g2", Name: "SPREAD", Type: db.AffinityHost, AccountID: "acct", DomainID: "dom", Created: 1}); !db.IsDuplicate(err) {
			t.Fatalf("duplicate group name: %v", err)
		}
		if err := db.SetVMAffinityGroups(ctx, q, "vm1", []string{"g1"}); err != nil {
			t.Fatal(err)
		}
		hosts, err := db.AffinityGroupHosts(ctx, q, []string{"g1"}, "vm2")
		if err != nil || len(hosts["g1"]) != 1 || hosts["g1"][0] != "h1" {
			t.Fatalf("group hosts: %v %v", hosts, err)
		}
		if _, n, _ := db.ListVMs(ctx, q, db.VMFilter{AffinityGroupID: "g1"}); n != 1 {
			t.Fatalf("affinity filter: %d", n)
		}
		if gs, n, err := db.ListAffinityGroups(ctx, q, db.AffinityGroupFilter{VMID: "vm1"}); err != nil || n != 1 || gs[0].Name != "spread" {
			t.Fatalf("groups of vm: %d %v", n, err)
		}
		if err := db.RemoveAffinityGroup(ctx, q, "g1"); err != nil {
			t.Fatal(err)
		}
		if m, _ := db.ListAffinityMembers(ctx, q, nil); len(m) != 0 {
			t.Fatalf("members left: %d", len(m))
		}
	})
}
