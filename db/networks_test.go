package db_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/google/uuid"
)

func fmtNum(v int64) string { return fmt.Sprintf("n%d", v) }

func TestNetworkRowRoundTrip(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		d := open(t, url, true)
		ctx := t.Context()
		off := &db.NetworkOffering{ID: uuid.NewString(), Name: "iso", GuestIPType: db.GuestIsolated, Created: db.Now()}
		vlanOff := &db.NetworkOffering{ID: uuid.NewString(), Name: "iso-vlan", GuestIPType: db.GuestIsolated, SpecifyVlan: true, Created: db.Now()}
		for _, o := range []*db.NetworkOffering{off, vlanOff} {
			if err := db.InsertNetworkOffering(ctx, d.SQL, o); err != nil {
				t.Fatal(err)
			}
		}
		// A network on a specifyvlan offering does not count against the limit.
		if err := db.InsertNetwork(ctx, d.SQL, &db.Network{ID: uuid.NewString(), Name: "v", ZoneID: "z1", AccountID: "a1", DomainID: "d1",
			NetworkOfferingID: vlanOff.ID, GuestType: db.GuestIsolated, TrafficType: "Guest", State: db.NetworkAllocated, ACLType: db.ACLAccount,
			Created: db.Now()}); err != nil {
			t.Fatal(err)
		}
		n := &db.Network{ID: uuid.NewString(), Name: "net1", DisplayText: "first", ZoneID: "z1", AccountID: "a1", DomainID: "d1",
			NetworkOfferingID: off.ID, GuestType: db.GuestIsolated, TrafficType: "Guest", CIDR: "10.1.1.0/24", Gateway: "10.1.1.1",
			Netmask: "255.255.255.0", State: db.NetworkAllocated, ACLType: db.ACLAccount, Services: "Dhcp,Dns,SourceNat", Created: db.Now()}
		if err := db.InsertNetwork(ctx, d.SQL, n); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetNetwork(ctx, d.SQL, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "net1" || got.CIDR != "10.1.1.0/24" || got.Services != "Dhcp,Dns,SourceNat" || !got.HasService("sourcenat") || got.HasService("Lb") {
			t.Fatalf("round trip: %+v", got)
		}
		if ok, err := db.NetworkCounted(ctx, d.SQL, got); !ok || err != nil {
			t.Fatalf("counted: %v %v", ok, err)
		}
		list, total, err := db.ListNetworks(ctx, d.SQL, db.NetworkFilter{Services: []string{"SourceNat"}})
		if err != nil || total != 1 || len(list) != 1 {
			t.Fatalf("services filter: %d %v", total, err)
		}
		if _, total, _ := db.ListNetworks(ctx, d.SQL, db.NetworkFilter{Services: []string{"Nat"}}); total != 0 {
			t.Fatalf("a part of a service name matched")
		}
		// A stale version does not update; the current one does.
		stale := *got
		got.Name = "renamed"
		if err := db.UpdateNetwork(ctx, d.SQL, got); err != nil {
			t.Fatal(err)
		}
		if err := db.UpdateNetwork(ctx, d.SQL, &stale); !errors.Is(err, db.ErrConflict) {
			t.Fatalf("stale update: %v", err)
		}
		// updateResourceCount counts a live network against its owner; a Domain network (no
		// account) and a removed one count nothing.
		if c, counted, err := db.CountAccountResources(ctx, d.SQL, "a1"); err != nil || !counted[db.ResNetwork] || c[db.ResNetwork] != 1 {
			t.Fatalf("network count %v %v %v", c, counted, err)
		}
		if err := db.RemoveNetwork(ctx, d.SQL, got); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetNetwork(ctx, d.SQL, n.ID); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("removed network still found: %v", err)
		}
		if c, _, _ := db.CountAccountResources(ctx, d.SQL, "a1"); c[db.ResNetwork] != 0 {
			t.Fatalf("a removed network still counts: %v", c)
		}
	})
}

// Many concurrent transactions allocate addresses of one small network: no address is
// handed out twice, the skipped address never, and the range fills exactly.
func TestAllocateNetworkIPConcurrent(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		d := open(t, url, true)
		ctx := t.Context()
		ranges := [][2]int64{{10, 40}, {100, 120}} // 31 + 21 values
		skip := map[int64]bool{20: true}
		const workers = 8
		var mu sync.Mutex
		seen := map[int64]int{}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; ; i++ {
					var v int64
					err := d.Transaction(ctx, func(tx db.Tx) error {
						var err error
						v, err = db.AllocateNetworkIP(ctx, tx, "net", ranges, int64(10+(w*7+i*3)%120), skip, fmtNum)
						return err
					})
					if errors.Is(err, db.ErrNotFound) {
						return
					}
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					seen[v]++
					mu.Unlock()
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(seen) != 51 {
			t.Fatalf("allocated %d distinct values, want 51", len(seen))
		}
		for v, n := range seen {
			if n != 1 || v == 20 || !(v >= 10 && v <= 40 || v >= 100 && v <= 120) {
				t.Fatalf("value %d handed out %d times", v, n)
			}
		}
		if n, _ := db.CountNetworkIPs(ctx, d.SQL, "net"); n != 51 {
			t.Fatalf("rows %d", n)
		}
		// Released values are found again, wherever the search starts.
		if ok, err := db.ReleaseNetworkIP(ctx, d.SQL, "net", 33); !ok || err != nil {
			t.Fatalf("release: %v %v", ok, err)
		}
		if v, err := db.AllocateNetworkIP(ctx, d.SQL, "net", ranges, 110, skip, fmtNum); err != nil || v != 33 {
			t.Fatalf("after release got %d, %v; want 33", v, err)
		}
	})
}

// The search reads taken values in batches: a network whose first several hundred addresses
// are taken still finds the free one after them.
func TestAllocateNetworkIPPastFullBatches(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		d := open(t, url, true)
		ctx := t.Context()
		err := d.Transaction(ctx, func(tx db.Tx) error {
			for v := int64(1); v <= 700; v++ {
				if err := db.InsertNetworkIP(ctx, tx, "big", v, fmtNum(v)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		v, err := db.AllocateNetworkIP(ctx, d.SQL, "big", [][2]int64{{1, 1000}}, 1, nil, fmtNum)
		if err != nil || v != 701 {
			t.Fatalf("got %d %v, want 701", v, err)
		}
		// Starting beyond the free values wraps around.
		if _, err := db.ReleaseNetworkIP(ctx, d.SQL, "big", 5); err != nil {
			t.Fatal(err)
		}
		v, err = db.AllocateNetworkIP(ctx, d.SQL, "big", [][2]int64{{1, 701}}, 600, nil, fmtNum)
		if err != nil || v != 5 {
			t.Fatalf("wrapped: got %d %v, want 5", v, err)
		}
		if _, err := db.AllocateNetworkIP(ctx, d.SQL, "big", [][2]int64{{1, 701}}, 1, nil, fmtNum); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("full: %v", err)
		}
	})
}

func TestAllocateVnetAndSourceNAT(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		d := open(t, url, true)
		ctx := t.Context()
		var got []int64
		for i := 0; i < 3; i++ {
			v, err := db.AllocateVnet(ctx, d.SQL, "pn", "z", "a", fmt.Sprint("net", i), [][2]int64{{500, 502}}, 501)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		if fmt.Sprint(got) != "[501 502 500]" {
			t.Fatalf("vnets %v", got)
		}
		if _, err := db.AllocateVnet(ctx, d.SQL, "pn", "z", "a", "x", [][2]int64{{500, 502}}, 500); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("full range: %v", err)
		}
		if n, err := db.ReleaseVnet(ctx, d.SQL, "pn", 502, "net1"); n != 1 || err != nil {
			t.Fatalf("release: %d %v", n, err)
		}
		if n, _ := db.ReleaseVnet(ctx, d.SQL, "pn", 501, "someone-else"); n != 0 {
			t.Fatalf("released another network's vnet")
		}

		// Source NAT: only Free addresses of public, undedicated (or own) ranges.
		mk := func(id, account string, virtual bool, addrs ...string) {
			if err := db.InsertVlanRange(ctx, d.SQL, &db.VlanRange{ID: id, ZoneID: "z", VlanTag: "vlan://untagged", Gateway: "192.0.2.1",
				Netmask: "255.255.255.0", StartIP: addrs[0], EndIP: addrs[len(addrs)-1], ForVirtualNetwork: virtual, AccountID: account,
				Created: db.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := db.InsertPublicIPs(ctx, d.SQL, "z", id, addrs); err != nil {
				t.Fatal(err)
			}
		}
		mk("r-other", "other-account", true, "192.0.2.10")
		mk("r-direct", "", false, "192.0.2.20")
		mk("r-public", "", true, "192.0.2.30")
		p, err := db.AcquireSourceNATIP(ctx, d.SQL, "z", "a", "d", "net1")
		if err != nil || p.Address != "192.0.2.30" || !p.SourceNAT {
			t.Fatalf("acquire: %+v %v", p, err)
		}
		if _, err := db.AcquireSourceNATIP(ctx, d.SQL, "z", "a", "d", "net2"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("second acquire: %v", err)
		}
		ips, err := db.ListNetworkPublicIPs(ctx, d.SQL, "net1")
		if err != nil || len(ips) != 1 {
			t.Fatalf("list: %v %v", ips, err)
		}
		if err := db.FreePublicIP(ctx, d.SQL, ips[0]); err != nil {
			t.Fatal(err)
		}
		if ips, _ := db.ListNetworkPublicIPs(ctx, d.SQL, "net1"); len(ips) != 0 {
			t.Fatalf("freed address still on the network")
		}
	})
}
