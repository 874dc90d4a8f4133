package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

// netEnv is a bare API server over a migrated database with an Advanced zone: a VXLAN
// physical network with a guest range of two VNIs, a public range of two addresses, and a
// user account.
type netEnv struct {
	s    *Server
	zone *db.Zone
	pn   *db.PhysicalNetwork
	acct *db.Account
	root *db.Domain
}

func newNetEnv(t *testing.T, url string) *netEnv {
	t.Helper()
	d := dbtest.Open(t, url, true)
	ctx := t.Context()
	if _, err := iam.Bootstrap(ctx, d, "password"); err != nil {
		t.Fatal(err)
	}
	keys, err := iam.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	e := &netEnv{s: New(d, keys, nil, config.NewStore(d), slog.New(slog.NewTextHandler(io.Discard, nil)), "test")}
	if e.root, err = db.GetDomainByPath(ctx, d.Read(), "ROOT"); err != nil {
		t.Fatal(err)
	}
	now := db.Now()
	e.acct = &db.Account{ID: uuid.NewString(), Name: "netuser", Type: db.AccountUser, DomainID: e.root.ID, State: "enabled", Created: now}
	e.zone = &db.Zone{ID: uuid.NewString(), Name: "z1", NetworkType: zoneAdvanced, AllocationState: "Enabled", ZoneToken: "t", Created: now}
	e.pn = &db.PhysicalNetwork{ID: uuid.NewString(), ZoneID: e.zone.ID, Name: "pn", IsolationMethods: isoVXLAN, Vlan: "5000-5001",
		BroadcastDomainRange: "ZONE", State: "Enabled", Created: now}
	err = d.Transaction(ctx, func(tx db.Tx) error {
		if err := db.InsertAccount(ctx, tx, e.acct); err != nil {
			return err
		}
		if err := db.InsertZone(ctx, tx, e.zone); err != nil {
			return err
		}
		if err := db.InsertPhysicalNetwork(ctx, tx, e.pn); err != nil {
			return err
		}
		if err := db.SetCapacityTotal(ctx, tx, db.Capacity{Type: db.CapVLAN, ObjectID: e.pn.ID, ZoneID: e.zone.ID, Total: 2}); err != nil {
			return err
		}
		v := &db.VlanRange{ID: uuid.NewString(), ZoneID: e.zone.ID, PhysicalNetworkID: e.pn.ID, VlanTag: "vlan://untagged", Gateway: "198.51.100.1",
			Netmask: "255.255.255.0", StartIP: "198.51.100.10", EndIP: "198.51.100.11", ForVirtualNetwork: true, Created: now}
		if err := db.InsertVlanRange(ctx, tx, v); err != nil {
			return err
		}
		if err := db.InsertPublicIPs(ctx, tx, e.zone.ID, v.ID, []string{"198.51.100.10", "198.51.100.11"}); err != nil {
			return err
		}
		return db.SetCapacityTotal(ctx, tx, db.Capacity{Type: db.CapPublicIP, ObjectID: e.zone.ID, ZoneID: e.zone.ID, Total: 2})
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *netEnv) call(ctx context.Context) *Call {
	return &Call{Ctx: ctx, S: e.s, Caller: &iam.Caller{User: &db.User{AccountID: e.acct.ID, DomainID: e.root.ID, DomainPath: "ROOT", AccountType: db.AccountUser}}}
}

// isolated inserts an Allocated Isolated network of the account with SourceNat.
func (e *netEnv) isolated(t *testing.T, name, cidr string) *db.Network {
	t.Helper()
	sn, err := parseSubnet(strings.TrimSuffix(cidr, "0/24")+"1", "255.255.255.0")
	if err != nil {
		t.Fatal(err)
	}
	n := &db.Network{ID: uuid.NewString(), Name: name, ZoneID: e.zone.ID, PhysicalNetworkID: e.pn.ID, AccountID: e.acct.ID, DomainID: e.root.ID,
		NetworkOfferingID: "o", GuestType: db.GuestIsolated, TrafficType: "Guest", CIDR: sn.cidr(), Gateway: sn.gw.String(), Netmask: sn.mask(),
		State: db.NetworkAllocated, ACLType: db.ACLAccount, Services: "Dhcp,Dns,SourceNat", Created: db.Now()}
	if err := db.InsertNetwork(t.Context(), e.s.DB.SQL, n); err != nil {
		t.Fatal(err)
	}
	return e.get(t, n.ID)
}

func (e *netEnv) get(t *testing.T, id string) *db.Network {
	t.Helper()
	n, err := db.GetNetwork(t.Context(), e.s.DB.Read(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *netEnv) tx(t *testing.T, fn func(c *Call, tx db.Tx) error) error {
	t.Helper()
	return e.s.DB.Transaction(t.Context(), func(tx db.Tx) error { return fn(e.call(t.Context()), tx) })
}

func (e *netEnv) used(t *testing.T, typ int, id string) int64 {
	t.Helper()
	c, err := db.GetCapacity(t.Context(), e.s.DB.Read(), typ, id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Used
}

func apiCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// implementNetwork takes a VNI and a source NAT address with their capacity and the account's
// public_ip count; a third network finds no VNI left (533) and leaves nothing behind; the
// release gives everything back and the ledger recomputes equal.
func TestImplementNetwork(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newNetEnv(t, url)
		ctx := t.Context()
		n1 := e.isolated(t, "n1", "10.1.1.0/24")
		n2 := e.isolated(t, "n2", "10.1.2.0/24")
		n3 := e.isolated(t, "n3", "10.1.3.0/24")
		for _, n := range []*db.Network{n1, n2} {
			if err := e.tx(t, func(c *Call, tx db.Tx) error { return c.implementNetwork(tx, n) }); err != nil {
				t.Fatal(err)
			}
			got := e.get(t, n.ID)
			if got.State != db.NetworkImplemented || !strings.HasPrefix(got.BroadcastURI, "vxlan://500") || got.BroadcastDomainType != "Vxlan" {
				t.Fatalf("implemented network: %+v", got)
			}
			ips, err := db.ListNetworkPublicIPs(ctx, e.s.DB.Read(), n.ID)
			if err != nil || len(ips) != 1 || !ips[0].SourceNAT || ips[0].AccountID != e.acct.ID {
				t.Fatalf("source nat: %+v %v", ips, err)
			}
			// Implementing again changes nothing.
			if err := e.tx(t, func(c *Call, tx db.Tx) error { return c.implementNetwork(tx, got) }); err != nil {
				t.Fatal(err)
			}
		}
		if e.get(t, n1.ID).BroadcastURI == e.get(t, n2.ID).BroadcastURI {
			t.Fatal("two networks share a VNI")
		}
		if e.used(t, db.CapVLAN, e.pn.ID) != 2 || e.used(t, db.CapPublicIP, e.zone.ID) != 2 {
			t.Fatalf("ledger: vlan %d public %d", e.used(t, db.CapVLAN, e.pn.ID), e.used(t, db.CapPublicIP, e.zone.ID))
		}
		if c, _ := db.ResourceCounts(ctx, e.s.DB.Read(), "account", e.acct.ID); c[db.ResPublicIP] != 2 {
			t.Fatalf("public_ip count %d", c[db.ResPublicIP])
		}
		err := e.tx(t, func(c *Call, tx db.Tx) error { return c.implementNetwork(tx, n3) })
		if apiCode(err) != CodeCapacity {
			t.Fatalf("third network: %v, want 533", err)
		}
		if got := e.get(t, n3.ID); got.State != db.NetworkAllocated || got.BroadcastURI != "" {
			t.Fatalf("refused network changed: %+v", got)
		}
		// Release n1: its VNI and address come back.
		err = e.tx(t, func(c *Call, tx db.Tx) error {
			n := e.get(t, n1.ID)
			if err := c.releaseNetworkResources(tx, n); err != nil {
				return err
			}
			n.State = db.NetworkAllocated
			return db.UpdateNetwork(ctx, tx, n)
		})
		if err != nil {
			t.Fatal(err)
		}
		if e.used(t, db.CapVLAN, e.pn.ID) != 1 || e.used(t, db.CapPublicIP, e.zone.ID) != 1 {
			t.Fatal("release did not return capacity")
		}
		if c, _ := db.ResourceCounts(ctx, e.s.DB.Read(), "account", e.acct.ID); c[db.ResPublicIP] != 1 {
			t.Fatalf("public_ip count after release %d", c[db.ResPublicIP])
		}
		if err := e.tx(t, func(c *Call, tx db.Tx) error { return c.implementNetwork(tx, e.get(t, n3.ID)) }); err != nil {
			t.Fatalf("n3 after release: %v", err)
		}
		rep, err := planner.New(e.s.Config).Recompute(ctx, e.s.DB.Read(), nil)
		if err != nil || !rep.OK() {
			t.Fatalf("recompute: %+v %v", rep, err)
		}
	})
}

// Concurrent first deploys on one Allocated network: it is implemented once, with one VNI
// and one source NAT address.
func TestImplementNetworkConcurrent(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newNetEnv(t, url)
		n := e.isolated(t, "n", "10.1.1.0/24")
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- e.tx(t, func(c *Call, tx db.Tx) error {
					cur, err := db.GetNetwork(c.Ctx, tx, n.ID)
					if err != nil {
						return err
					}
					return c.implementNetwork(tx, cur)
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if e.used(t, db.CapVLAN, e.pn.ID) != 1 || e.used(t, db.CapPublicIP, e.zone.ID) != 1 {
			t.Fatalf("implemented more than once: vlan %d public %d", e.used(t, db.CapVLAN, e.pn.ID), e.used(t, db.CapPublicIP, e.zone.ID))
		}
	})
}

// allocateNicIP: concurrent deploys never share an address, never get the gateway; a
// requested address must be in range and free (431 naming ipaddress); a full network is 533.
func TestAllocateNicIP(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newNetEnv(t, url)
		// A /28: .1 is the gateway, .0 and .15 network and broadcast: 13 addresses.
		n := e.isolated(t, "small", "10.9.9.0/24")
		n.CIDR, n.Netmask = "10.9.9.0/28", "255.255.255.240"
		if _, err := e.s.DB.SQL.ExecContext(t.Context(), "UPDATE networks SET cidr = ?, netmask = ? WHERE id = ?", n.CIDR, n.Netmask, n.ID); err != nil {
			t.Fatal(err)
		}
		n = e.get(t, n.ID)
		alloc := func(req string) (string, error) {
			var ip string
			err := e.tx(t, func(c *Call, tx db.Tx) error {
				var err error
				ip, err = c.allocateNicIP(tx, n, req)
				return err
			})
			return ip, err
		}
		if ip, err := alloc("10.9.9.5"); err != nil || ip != "10.9.9.5" {
			t.Fatalf("requested: %s %v", ip, err)
		}
		for _, bad := range []string{"10.9.9.5", "10.9.9.1", "10.9.9.0", "10.9.9.15", "10.9.10.3", "nonsense", "fe80::1"} {
			_, err := alloc(bad)
			if apiCode(err) != CodeParam || !strings.Contains(err.Error(), "ipaddress") {
				t.Errorf("requested %s: %v, want 431 naming ipaddress", bad, err)
			}
		}
		var mu sync.Mutex
		seen := map[string]bool{"10.9.9.5": true}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ip, err := alloc("")
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if seen[ip] {
					errs <- fmt.Errorf("address %s handed out twice", ip)
				}
				seen[ip] = true
			}()
		}
		wg.Wait()
		close(errs)
		full := 0
		for err := range errs {
			if apiCode(err) != CodeCapacity {
				t.Fatal(err)
			}
			full++
		}
		if len(seen) != 13 || full != 8 || seen["10.9.9.1"] {
			t.Fatalf("%d addresses handed out (%d refused as full): %v", len(seen), full, seen)
		}
		if err := e.tx(t, func(c *Call, tx db.Tx) error { return c.releaseNicIP(tx, n, "10.9.9.7") }); err != nil {
			t.Fatal(err)
		}
		if ip, err := alloc(""); err != nil || ip != "10.9.9.7" {
			t.Fatalf("after release: %s %v", ip, err)
		}
	})
}
