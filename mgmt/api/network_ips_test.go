package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
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

func newNetEnv(t *testing.T, url string) *netEnv { return newNetEnvTB(t, url) }

func newNetEnvTB(t testing.TB, url string) *netEnv {
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
	sn, err := network.ParseSubnet(strings.TrimSuffix(cidr, "0/24")+"1", "255.255.255.0")
	if err != nil {
		t.Fatal(err)
	}
	n := &db.Network{ID: uuid.NewString(), Name: name, ZoneID: e.zone.ID, PhysicalNetworkID: e.pn.ID, AccountID: e.acct.ID, DomainID: e.root.ID,
		NetworkOfferingID: "o", GuestType: db.GuestIsolated, TrafficType: "Guest", CIDR: sn.CIDR(), Gateway: sn.GW.String(), Netmask: sn.Mask(),
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
		// A network on an admin-specified VLAN (outside the dynamic range) keeps it: no VNI
		// allocation, none released, and a restart finds it held.
		fixed := e.isolated(t, "fixed", "10.1.4.0/24")
		if _, err := e.s.DB.SQL.ExecContext(ctx, "UPDATE networks SET broadcast_uri = 'vxlan://7000', broadcast_domain_type = 'Vxlan', services = ',Dhcp,Dns,' WHERE id = ?",
			fixed.ID); err != nil {
			t.Fatal(err)
		}
		vlans := e.used(t, db.CapVLAN, e.pn.ID)
		err = e.tx(t, func(c *Call, tx db.Tx) error {
			n := e.get(t, fixed.ID)
			if err := c.implementNetwork(tx, n); err != nil {
				return err
			}
			if held, err := c.vnetHeld(tx, n); err != nil || !held {
				return fmt.Errorf("specified vlan not held: %v %v", held, err)
			}
			if err := c.releaseNetworkResources(tx, n); err != nil {
				return err
			}
			if n.BroadcastURI != "vxlan://7000" {
				return fmt.Errorf("release dropped the specified vlan: %q", n.BroadcastURI)
			}
			return nil
		})
		if err != nil || e.used(t, db.CapVLAN, e.pn.ID) != vlans || e.get(t, fixed.ID).State != db.NetworkImplemented {
			t.Fatalf("specified vlan: %v (vlans %d -> %d)", err, vlans, e.used(t, db.CapVLAN, e.pn.ID))
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

// shared inserts a Shared network with a range of addresses (network_id set, or, for a Basic
// zone's pod range, not) and the zone's direct IP capacity.
func (e *netEnv) shared(t *testing.T, zone *db.Zone, name string, ownRange bool, acl, accountID, domainID string, sub bool) *db.Network {
	t.Helper()
	ctx := t.Context()
	n := &db.Network{ID: uuid.NewString(), Name: name, ZoneID: zone.ID, PhysicalNetworkID: e.pn.ID, AccountID: accountID, DomainID: domainID,
		NetworkOfferingID: "o", GuestType: db.GuestShared, TrafficType: "Guest", CIDR: "172.20.0.0/24", Gateway: "172.20.0.1",
		Netmask: "255.255.255.0", State: db.NetworkSetup, ACLType: acl, SubdomainAccess: sub, Services: "Dhcp,Dns,SecurityGroup,UserData",
		Created: db.Now()}
	v := &db.VlanRange{ID: uuid.NewString(), ZoneID: zone.ID, VlanTag: "vlan://untagged", Gateway: "172.20.0.1", Netmask: "255.255.255.0",
		StartIP: "172.20.0.10", EndIP: "172.20.0.12", Created: db.Now()}
	if ownRange {
		v.NetworkID = n.ID
	}
	err := e.s.DB.Transaction(ctx, func(tx db.Tx) error {
		if err := db.InsertNetwork(ctx, tx, n); err != nil {
			return err
		}
		if err := db.InsertVlanRange(ctx, tx, v); err != nil {
			return err
		}
		if err := db.InsertPublicIPs(ctx, tx, zone.ID, v.ID, []string{"172.20.0.10", "172.20.0.11", "172.20.0.12"}); err != nil {
			return err
		}
		return network.SyncIPCapacity(ctx, tx, zone.ID, false)
	})
	if err != nil {
		t.Fatal(err)
	}
	return e.get(t, n.ID)
}

// A Shared network's NIC addresses come from its range, are marked Allocated there and in the
// zone's direct IP capacity, and go back on release; a Basic zone's network uses the zone's
// pod ranges.
func TestSharedNetworkNicIP(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newNetEnv(t, url)
		ctx := t.Context()
		basic := &db.Zone{ID: uuid.NewString(), Name: "basic", NetworkType: zoneBasic, AllocationState: "Enabled", ZoneToken: "b",
			SecurityGroupsEnabled: true, Created: db.Now()}
		if err := db.InsertZone(ctx, e.s.DB.SQL, basic); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			zone     *db.Zone
			ownRange bool
		}{{e.zone, true}, {basic, false}} {
			n := e.shared(t, tc.zone, "sh-"+tc.zone.Name, tc.ownRange, db.ACLDomain, "", e.root.ID, true)
			var got []string
			for i := 0; i < 3; i++ {
				err := e.tx(t, func(c *Call, tx db.Tx) error {
					ip, err := c.allocateNicIP(tx, n, "")
					got = append(got, ip)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if strings.Join(sortedCopy(got), ",") != "172.20.0.10,172.20.0.11,172.20.0.12" {
				t.Fatalf("%s: addresses %v", tc.zone.Name, got)
			}
			if err := e.tx(t, func(c *Call, tx db.Tx) error { _, err := c.allocateNicIP(tx, n, ""); return err }); apiCode(err) != CodeCapacity {
				t.Fatalf("full shared network: %v", err)
			}
			if u := e.used(t, db.CapDirectPublicIP, tc.zone.ID); u != 3 {
				t.Fatalf("direct IP capacity used %d", u)
			}
			if err := e.tx(t, func(c *Call, tx db.Tx) error { return c.releaseNicIP(tx, n, "172.20.0.11") }); err != nil {
				t.Fatal(err)
			}
			if u := e.used(t, db.CapDirectPublicIP, tc.zone.ID); u != 2 {
				t.Fatalf("direct IP capacity after release %d", u)
			}
			var state string
			if err := e.s.DB.SQL.QueryRowContext(ctx, "SELECT state FROM public_ips WHERE zone_id = ? AND address = '172.20.0.11'", tc.zone.ID).Scan(&state); err != nil || state != "Free" {
				t.Fatalf("released address row: %s %v", state, err)
			}
		}
		rep, err := planner.New(e.s.Config).Recompute(ctx, e.s.DB.Read(), nil)
		if err != nil || !rep.OK() {
			t.Fatalf("recompute: %+v %v", rep, err)
		}
	})
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// defaultNetworkFor: an Advanced zone's only Isolated network of the account, else 431 asking
// for networkids; a Basic zone's shared network.
func TestDefaultNetworkFor(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newNetEnv(t, url)
		ctx := t.Context()
		pick := func(z *db.Zone) (*db.Network, error) {
			var n *db.Network
			err := e.tx(t, func(c *Call, tx db.Tx) error {
				var err error
				n, err = c.defaultNetworkFor(tx, z, e.acct.ID)
				return err
			})
			return n, err
		}
		// Without a Required offering: 431 asking for networkids.
		if _, err := pick(e.zone); apiCode(err) != CodeParam || !strings.Contains(err.Error(), "networkids") {
			t.Fatalf("no network: %v", err)
		}
		// With CloudStack's default offerings and a Guest physical network, the account's first
		// deploy gets a new "<account>-network", counted against its limit.
		if err := db.SeedCatalogue(ctx, e.s.DB); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertTrafficType(ctx, e.s.DB.SQL, &db.TrafficType{ID: uuid.NewString(), PhysicalNetworkID: e.pn.ID, TrafficType: "Guest",
			Created: db.Now()}); err != nil {
			t.Fatal(err)
		}
		n1, err := pick(e.zone)
		if err != nil || n1.Name != "netuser-network" || n1.State != db.NetworkAllocated || n1.CIDR != "10.1.1.0/24" || n1.Gateway != "10.1.1.1" ||
			!n1.HasService("SourceNat") || n1.AccountID != e.acct.ID {
			t.Fatalf("default network: %+v %v", n1, err)
		}
		if c, _ := db.ResourceCounts(ctx, e.s.DB.Read(), "account", e.acct.ID); c[db.ResNetwork] != 1 {
			t.Fatalf("network count %d", c[db.ResNetwork])
		}
		// Another account's network and a Shared network don't count.
		other := &db.Network{ID: uuid.NewString(), Name: "other", ZoneID: e.zone.ID, AccountID: uuid.NewString(), DomainID: e.root.ID,
			NetworkOfferingID: "o", GuestType: db.GuestIsolated, TrafficType: "Guest", State: db.NetworkAllocated, ACLType: db.ACLAccount, Created: db.Now()}
		if err := db.InsertNetwork(ctx, e.s.DB.SQL, other); err != nil {
			t.Fatal(err)
		}
		if n, err := pick(e.zone); err != nil || n.ID != n1.ID {
			t.Fatalf("one network: %v %v", n, err)
		}
		e.isolated(t, "second", "10.1.2.0/24")
		if _, err := pick(e.zone); apiCode(err) != CodeParam || !strings.Contains(err.Error(), "More than 1") {
			t.Fatalf("two networks: %v", err)
		}
		basic := &db.Zone{ID: uuid.NewString(), Name: "basic", NetworkType: zoneBasic, AllocationState: "Enabled", ZoneToken: "b",
			SecurityGroupsEnabled: true, Created: db.Now()}
		if err := db.InsertZone(ctx, e.s.DB.SQL, basic); err != nil {
			t.Fatal(err)
		}
		if _, err := pick(basic); apiCode(err) != CodeParam {
			t.Fatalf("basic zone without its network: %v", err)
		}
		sh := e.shared(t, basic, "guest", false, db.ACLDomain, "", e.root.ID, true)
		if n, err := pick(basic); err != nil || n.ID != sh.ID {
			t.Fatalf("basic zone: %v %v", n, err)
		}
		acct := e.acct
		acct.DomainPath = "ROOT"
		c := e.call(ctx)
		if err := c.networkUsableBy(sh, acct); err != nil {
			t.Fatal(err)
		}
		if err := c.networkUsableBy(other, acct); apiCode(err) != CodeAccount {
			t.Fatalf("another account's network: %v", err)
		}
		sub := &db.Account{ID: uuid.NewString(), Name: "x", DomainPath: "ROOT/sub"}
		sh.SubdomainAccess = false
		if err := c.networkUsableBy(sh, sub); apiCode(err) != CodeAccount {
			t.Fatalf("subdomain without access: %v", err)
		}
		sh.SubdomainAccess = true
		if err := c.networkUsableBy(sh, sub); err != nil {
			t.Fatalf("subdomain with access: %v", err)
		}
	})
}

// BenchmarkAllocateNicIP measures address allocation as deploys do it: one transaction per
// address, many at once, in one /16 network. ATOLL_TEST_MYSQL selects MariaDB.
func BenchmarkAllocateNicIP(b *testing.B) {
	url := "sqlite://" + filepath.Join(b.TempDir(), "bench.db")
	if os.Getenv("ATOLL_TEST_MYSQL") != "" {
		url = dbtest.NewMySQLDatabase(b)
	}
	e := newNetEnvTB(b, url)
	n := &db.Network{ID: uuid.NewString(), Name: "big", ZoneID: e.zone.ID, PhysicalNetworkID: e.pn.ID, AccountID: e.acct.ID, DomainID: e.root.ID,
		NetworkOfferingID: "o", GuestType: db.GuestIsolated, TrafficType: "Guest", CIDR: "10.20.0.0/16", Gateway: "10.20.0.1",
		Netmask: "255.255.0.0", State: db.NetworkImplemented, ACLType: db.ACLAccount, Created: db.Now()}
	if err := db.InsertNetwork(context.Background(), e.s.DB.SQL, n); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			var ip string
			err := e.s.DB.Transaction(ctx, func(tx db.Tx) error {
				var err error
				ip, err = e.call(ctx).allocateNicIP(tx, n, "")
				return err
			})
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			if seen[ip] {
				b.Errorf("%s twice", ip)
			}
			seen[ip] = true
			mu.Unlock()
		}
	})
}

// Concurrent first deploys of one account without networkids make one default network.
func TestDefaultNetworkConcurrent(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newNetEnv(t, url)
		ctx := t.Context()
		if err := db.SeedCatalogue(ctx, e.s.DB); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertTrafficType(ctx, e.s.DB.SQL, &db.TrafficType{ID: uuid.NewString(), PhysicalNetworkID: e.pn.ID, TrafficType: "Guest",
			Created: db.Now()}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		ids := make(chan string, 6)
		errs := make(chan error, 6)
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := e.tx(t, func(c *Call, tx db.Tx) error {
					n, err := c.defaultNetworkFor(tx, e.zone, e.acct.ID)
					if err == nil {
						ids <- n.ID
					}
					return err
				})
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(ids)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for id := range ids {
			seen[id] = true
		}
		// A retried transaction may report an id from its rolled-back attempt; what counts is
		// what was committed.
		list, _, err := db.ListNetworks(ctx, e.s.DB.Read(), db.NetworkFilter{Scope: db.Scope{AccountID: e.acct.ID}})
		if err != nil || len(list) != 1 || !seen[list[0].ID] {
			t.Fatalf("networks %d (%v), ids seen %v", len(list), err, seen)
		}
		if c, _ := db.ResourceCounts(ctx, e.s.DB.Read(), "account", e.acct.ID); c[db.ResNetwork] != 1 {
			t.Fatalf("network count %d", c[db.ResNetwork])
		}
	})
}

// removeAccountNetworks (deleteAccount's cleanup) destroys the account's networks and returns
// what they held; a network with a NIC refuses and changes nothing.
func TestRemoveAccountNetworks(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newNetEnv(t, url)
		ctx := t.Context()
		a := e.isolated(t, "a", "10.1.1.0/24")
		e.isolated(t, "b", "10.1.2.0/24")
		var ip string
		err := e.tx(t, func(c *Call, tx db.Tx) error {
			if err := c.implementNetwork(tx, a); err != nil {
				return err
			}
			var err error
			ip, err = c.allocateNicIP(tx, a, "")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		err = e.tx(t, func(c *Call, tx db.Tx) error { return c.removeAccountNetworks(tx, e.acct.ID) })
		if apiCode(err) != CodeResourceInUse {
			t.Fatalf("with a NIC: %v", err)
		}
		if list, _, _ := db.ListNetworks(ctx, e.s.DB.Read(), db.NetworkFilter{Scope: db.Scope{AccountID: e.acct.ID}}); len(list) != 2 {
			t.Fatalf("refused cleanup removed networks: %d left", len(list))
		}
		err = e.tx(t, func(c *Call, tx db.Tx) error {
			if err := c.releaseNicIP(tx, e.get(t, a.ID), ip); err != nil {
				return err
			}
			return c.removeAccountNetworks(tx, e.acct.ID)
		})
		if err != nil {
			t.Fatal(err)
		}
		if list, _, _ := db.ListNetworks(ctx, e.s.DB.Read(), db.NetworkFilter{Scope: db.Scope{AccountID: e.acct.ID}}); len(list) != 0 {
			t.Fatalf("%d networks left", len(list))
		}
		if e.used(t, db.CapVLAN, e.pn.ID) != 0 || e.used(t, db.CapPublicIP, e.zone.ID) != 0 {
			t.Fatal("capacity not returned")
		}
		if c, _ := db.ResourceCounts(ctx, e.s.DB.Read(), "account", e.acct.ID); c[db.ResPublicIP] != 0 {
			t.Fatalf("public_ip count %d", c[db.ResPublicIP])
		}
	})
}

// A Basic zone's network created before any pod guest range takes the range's subnet on its
// first deploy.
func TestBasicNetworkLateSubnet(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newNetEnv(t, url)
		ctx := t.Context()
		basic := &db.Zone{ID: uuid.NewString(), Name: "basic", NetworkType: zoneBasic, AllocationState: "Enabled", ZoneToken: "b",
			SecurityGroupsEnabled: true, Created: db.Now()}
		if err := db.InsertZone(ctx, e.s.DB.SQL, basic); err != nil {
			t.Fatal(err)
		}
		n := e.shared(t, basic, "guest", false, db.ACLDomain, "", e.root.ID, true)
		if _, err := e.s.DB.SQL.ExecContext(ctx, "UPDATE networks SET gateway = NULL, netmask = NULL, cidr = NULL WHERE id = ?", n.ID); err != nil {
			t.Fatal(err)
		}
		n = e.get(t, n.ID)
		err := e.tx(t, func(c *Call, tx db.Tx) error {
			if err := c.implementNetwork(tx, n); err != nil {
				return err
			}
			_, err := c.allocateNicIP(tx, n, "")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := e.get(t, n.ID); got.Gateway != "172.20.0.1" || got.Netmask != "255.255.255.0" || got.CIDR != "172.20.0.0/24" || n.Gateway != "172.20.0.1" {
			t.Fatalf("subnet not taken: %+v", got)
		}
	})
}

// A deletion racing a deploy never leaves a NIC's address on a deleted network: either the
// deploy's address stops the deletion, or the deploy finds the network gone.
func TestDeleteNetworkRacesDeploy(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newNetEnv(t, url)
		ctx := t.Context()
		for i := 0; i < 10; i++ {
			n := e.isolated(t, fmt.Sprint("race", i), "10.1.1.0/24")
			if _, err := e.s.DB.SQL.ExecContext(ctx, "UPDATE networks SET state = 'Implemented', services = ',Dhcp,' WHERE id = ?", n.ID); err != nil {
				t.Fatal(err)
			}
			n = e.get(t, n.ID)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				_ = e.tx(t, func(c *Call, tx db.Tx) error {
					cur := *n
					if _, err := c.allocateNicIP(tx, &cur, ""); err != nil {
						return err
					}
					time.Sleep(30 * time.Millisecond) // the rest of a deploy
					return nil
				})
			}()
			go func() {
				defer wg.Done()
				time.Sleep(10 * time.Millisecond)
				_ = e.tx(t, func(c *Call, tx db.Tx) error {
					cur, err := db.GetNetwork(c.Ctx, tx, n.ID)
					if err != nil {
						return err
					}
					return c.destroyNetwork(tx, cur)
				})
			}()
			wg.Wait()
			_, gone := db.GetNetwork(ctx, e.s.DB.Read(), n.ID)
			held, err := db.CountNetworkIPs(ctx, e.s.DB.Read(), n.ID)
			if err != nil {
				t.Fatal(err)
			}
			if errors.Is(gone, db.ErrNotFound) && held > 0 {
				t.Fatalf("round %d: the network was deleted under a NIC's address", i)
			}
		}
	})
}
