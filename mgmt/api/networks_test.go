package api_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// netState fingerprints everything a network command may change.
func netState(t *testing.T, e *mgmttest.Env) string {
	t.Helper()
	return dbtest.Fingerprint(t, e.Server.DB.SQL, "networks", "network_ips", "vnet_allocations", "public_ips", "vlan_ranges", "capacity",
		"resource_counts", "resource_tags")
}

func netRefuse(t *testing.T, e *mgmttest.Env, c *api.Client, cmd string, p map[string]string, code int) string {
	t.Helper()
	before := netState(t, e)
	text := mgmttest.Fail(t, c, cmd, p, code)
	if netState(t, e) != before {
		t.Fatalf("%s %v was refused (%s) but changed the database", cmd, p, text)
	}
	return text
}

// netRefuseJob runs an async command as c whose job must fail with code, changing nothing.
func netRefuseJob(t *testing.T, e *mgmttest.Env, c *api.Client, cmd string, p map[string]string, code int) string {
	t.Helper()
	before := netState(t, e)
	res := mgmttest.Do(t, c, cmd, p)
	j, err := c.Wait(context.Background(), res["jobid"].(string))
	if err != nil {
		t.Fatalf("wait for %s: %v", cmd, err)
	}
	r, _ := j["jobresult"].(map[string]any)
	if j["jobstatus"].(float64) != 2 || fmt.Sprint(r["errorcode"]) != fmt.Sprint(code) {
		t.Fatalf("%s %v: want a failed job with code %d, got %v", cmd, p, code, j)
	}
	if netState(t, e) != before {
		t.Fatalf("%s %v failed but changed the database", cmd, p)
	}
	return fmt.Sprint(r["errortext"])
}

func netOffering(t *testing.T, e *mgmttest.Env, name string) string {
	t.Helper()
	o, err := db.GetNetworkOfferingByName(context.Background(), e.Server.DB.Read(), name)
	if err != nil {
		t.Fatalf("offering %s: %v", name, err)
	}
	if o.State != "Enabled" {
		t.Fatalf("offering %s is %s", name, o.State)
	}
	return o.ID
}

func netCount(t *testing.T, e *mgmttest.Env, accountID, typ string) int64 {
	t.Helper()
	c, err := db.ResourceCounts(context.Background(), e.Server.DB.Read(), "account", accountID)
	if err != nil {
		t.Fatal(err)
	}
	return c[typ]
}

func TestIsolatedNetworkLifecycle(t *testing.T) {
	testIsolatedNetworkLifecycle(t, mgmttest.Start(t, mgmttest.Options{}))
}

func TestIsolatedNetworkLifecycleMariaDB(t *testing.T) {
	testIsolatedNetworkLifecycle(t, mgmttest.Start(t, mgmttest.Options{MySQL: true}))
}

func testIsolatedNetworkLifecycle(t *testing.T, e *mgmttest.Env) {
	ctx := context.Background()
	z := topoAdvanced(t, e, "n")
	alice, aliceIDs := tenant(t, e, "alice", "0", "")
	bob, _ := tenant(t, e, "bob", "0", "")
	off := netOffering(t, e, "DefaultIsolatedNetworkOfferingWithSourceNatService")
	create := func(kv ...string) map[string]string {
		p := map[string]string{"name": "web", "zoneid": z.zone, "networkofferingid": off}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
			if kv[i+1] == "" {
				delete(p, kv[i])
			}
		}
		return p
	}
	// Bad input: nothing is created.
	for _, tc := range []struct {
		p    map[string]string
		code int
		text string
	}{
		{create("networkofferingid", "00000000-0000-4000-8000-000000000000"), 431, "network offering"},
		{create("zoneid", "00000000-0000-4000-8000-000000000000"), 431, "zone"},
		{create("gateway", "10.3.0.1"), 431, "netmask"},
		{create("gateway", "8.8.8.1", "netmask", "255.255.255.0"), 431, "private"},
		{create("gateway", "10.3.0.0", "netmask", "255.255.255.0"), 431, "gateway"},
		{create("gateway", "10.3.0.1", "netmask", "255.0.255.0"), 431, "netmask"},
		{create("gateway", "10.3.0.1", "netmask", "255.255.255.252"), 431, "netmask"},
		{create("startip", "10.1.1.5"), 431, "startip"},
		{create("vlan", "100"), 431, "vlan"},
		{create("acltype", "region"), 431, "acltype"},
		{create("acltype", "domain"), 531, "domain"},
		{create("networkdomain", "-bad-"), 431, "domain"},
		{create("ip6cidr", "fd00::/64"), 431, "ip6cidr"},
		{create("account", "bob", "domainid", aliceIDs[0]), 431, ""},
		{create("networkofferingid", netOffering(t, e, "DefaultSharedNetworkOffering")), 531, "Shared"},
	} {
		text := netRefuse(t, e, alice, "createNetwork", tc.p, tc.code)
		if !strings.Contains(strings.ToLower(text), strings.ToLower(tc.text)) {
			t.Errorf("createNetwork %v: %q does not mention %q", tc.p, text, tc.text)
		}
	}
	n := topoObj(t, mgmttest.Do(t, alice, "createNetwork", create("displaytext", "Web tier")), "network")
	id := n["id"].(string)
	topoWant(t, "isolated network", n, "name", "web", "displaytext", "Web tier", "state", "Allocated", "type", "Isolated",
		"traffictype", "Guest", "acltype", "Account", "account", "alice", "zoneid", z.zone, "networkofferingid", off,
		"networkofferingname", "DefaultIsolatedNetworkOfferingWithSourceNatService", "issystem", false, "cidr", "10.1.0.0/16",
		"gateway", "10.1.0.1", "netmask", "255.255.0.0", "dns1", "8.8.8.8", "canusefordeploy", true, "physicalnetworkid", z.guestPN)
	if _, ok := n["broadcasturi"]; ok {
		t.Errorf("an Allocated network (and a user's view) shows a broadcast URI: %v", n)
	}
	if svc := fmt.Sprint(n["service"]); !strings.Contains(svc, "SourceNat") {
		t.Errorf("services: %s", svc)
	}
	if c := netCount(t, e, aliceIDs[0], db.ResNetwork); c != 1 {
		t.Errorf("network count %d, want 1", c)
	}
	// A second network with explicit gateway/netmask; names may repeat, as in CloudStack.
	n2 := topoObj(t, mgmttest.Do(t, alice, "createNetwork", create("gateway", "192.168.50.1", "netmask", "255.255.255.0", "networkdomain", "corp.example")), "network")
	topoWant(t, "second network", n2, "cidr", "192.168.50.0/24", "gateway", "192.168.50.1", "networkdomain", "corp.example", "displaytext", "web")

	// Lists: the owner sees both, another tenant none (even by id), the admin with listall.
	if got := topoItems(t, mgmttest.Do(t, alice, "listNetworks", map[string]string{"zoneid": z.zone}), "network"); len(got) != 2 {
		t.Fatalf("alice's networks: %v", got)
	}
	if got := topoItems(t, mgmttest.Do(t, alice, "listNetworks", map[string]string{"keyword": "WE", "page": "1", "pagesize": "1"}), "network"); len(got) != 1 {
		t.Fatalf("paged keyword list: %v", got)
	}
	if got := topoItems(t, mgmttest.Do(t, bob, "listNetworks", map[string]string{"id": id}), "network"); len(got) != 0 {
		t.Fatalf("bob sees alice's network: %v", got)
	}
	if got := topoItems(t, mgmttest.Do(t, e.Admin, "listNetworks", map[string]string{"listall": "true", "type": "isolated"}), "network"); len(got) != 2 {
		t.Fatalf("admin listall: %v", got)
	}
	if got := topoItems(t, mgmttest.Do(t, e.Admin, "listNetworks", map[string]string{"listall": "true", "supportedservices": "SecurityGroup"}), "network"); len(got) != 0 {
		t.Fatalf("supportedservices filter: %v", got)
	}
	// Tags (H3's createTags) filter the list.
	mgmttest.DoAsync(t, alice, "createTags", map[string]string{"resourceids": id, "resourcetype": "Network", "tags[0].key": "tier", "tags[0].value": "web"})
	got := topoItems(t, mgmttest.Do(t, alice, "listNetworks", map[string]string{"tags[0].key": "tier", "tags[0].value": "web"}), "network")
	if len(got) != 1 || got[0]["id"] != id || !strings.Contains(fmt.Sprint(got[0]["tags"]), "tier") {
		t.Fatalf("tag filter: %v", got)
	}

	// Another tenant can't change or delete it; restarting an Allocated network is refused.
	netRefuse(t, e, bob, "updateNetwork", map[string]string{"id": id, "name": "mine"}, 531)
	netRefuse(t, e, bob, "deleteNetwork", map[string]string{"id": id}, 531)
	netRefuse(t, e, alice, "restartNetwork", map[string]string{"id": id}, 431)
	netRefuse(t, e, alice, "updateNetwork", map[string]string{"id": id, "networkofferingid": netOffering(t, e, "DefaultIsolatedNetworkOffering")}, 431)
	netRefuse(t, e, alice, "updateNetwork", map[string]string{"id": id, "networkdomain": "-x-"}, 431)
	up := topoObj(t, mgmttest.DoAsync(t, alice, "updateNetwork", map[string]string{"id": id, "name": "web2", "displaytext": "Web 2", "networkofferingid": off}), "network")
	topoWant(t, "updated", up, "name", "web2", "displaytext", "Web 2")

	// A NIC on the network (a deploy's address and NIC row) keeps it from being deleted.
	topoExec(t, e, "INSERT INTO network_ips (network_id, ip_num, address, allocated) VALUES (?, 167837706, '10.1.0.10', 1)", id)
	if text := netRefuse(t, e, alice, "deleteNetwork", map[string]string{"id": id}, 536); !strings.Contains(text, "expunged") {
		t.Errorf("in-use delete: %s", text)
	}
	topoExec(t, e, "DELETE FROM network_ips WHERE network_id = ?", id)
	mgmttest.DoAsync(t, alice, "deleteNetwork", map[string]string{"id": id})
	if got := topoItems(t, mgmttest.Do(t, alice, "listNetworks", nil), "network"); len(got) != 1 {
		t.Fatalf("after delete: %v", got)
	}
	if c := netCount(t, e, aliceIDs[0], db.ResNetwork); c != 1 {
		t.Errorf("network count after delete %d, want 1", c)
	}
	if n := topoInt(t, e, "SELECT COUNT(*) FROM resource_tags WHERE resource_id = ?", id); n != 0 {
		t.Errorf("the deleted network's tags remain: %d", n)
	}
	// The network limit: a third network past max.account.networks is 532 and changes nothing.
	if err := db.SetResourceLimit(ctx, e.Server.DB.SQL, "account", aliceIDs[0], db.ResNetwork, 1); err != nil {
		t.Fatal(err)
	}
	netRefuse(t, e, alice, "createNetwork", create("name", "third"), 532)
	rep, err := planner.New(e.Server.API.Config).Recompute(ctx, e.Server.DB.Read(), nil)
	if err != nil || !rep.OK() {
		t.Fatalf("ledger: %v %v", rep, err)
	}
}

func TestSharedNetworks(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	z := topoAdvanced(t, e, "s")
	alice, _ := tenant(t, e, "alice", "0", "")
	off := netOffering(t, e, "DefaultSharedNetworkOffering")
	shared := func(kv ...string) map[string]string {
		p := map[string]string{"name": "lan", "zoneid": z.zone, "networkofferingid": off, "vlan": "300", "gateway": "172.16.0.1",
			"netmask": "255.255.255.0", "startip": "172.16.0.10", "endip": "172.16.0.20"}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
			if kv[i+1] == "" {
				delete(p, kv[i])
			}
		}
		return p
	}
	for _, tc := range []struct {
		p    map[string]string
		text string
	}{
		{shared("vlan", ""), "vlan"},
		{shared("vlan", "5500"), "dynamic vlan allocation"},
		{shared("startip", ""), "startip"},
		{shared("gateway", "", "netmask", "", "startip", "", "endip", ""), "required"},
		{shared("startip", "172.16.0.30", "endip", "172.16.0.20"), "startip"},
		{shared("startip", "172.16.1.10"), "startip"},
		{shared("startip", "172.16.0.1"), "gateway"},
		{shared("startip", "203.0.113.20", "endip", "203.0.113.30", "gateway", "203.0.113.1"), "overlaps"},
		{shared("physicalnetworkid", z.publicPN, "vlan", "4000"), "Guest"},
		{shared("networkofferingid", netOffering(t, e, "DefaultSharedNetworkOfferingWithSGService")), "security groups"},
	} {
		if text := netRefuse(t, e, a, "createNetwork", tc.p, 431); !strings.Contains(text, tc.text) {
			t.Errorf("createNetwork %v: %q does not mention %q", tc.p, text, tc.text)
		}
	}
	// An Isolated offering with specifyvlan takes the admin's VLAN instead of a dynamic VNI.
	iso := map[string]string{"name": "iso-vlan", "zoneid": z.zone, "networkofferingid": netOffering(t, e, "DefaultIsolatedNetworkOffering")}
	if text := netRefuse(t, e, a, "createNetwork", iso, 431); !strings.Contains(text, "vlan is required") {
		t.Errorf("specifyvlan offering without vlan: %s", text)
	}
	iso["vlan"] = "5001"
	netRefuse(t, e, a, "createNetwork", iso, 431)
	iso["vlan"] = "777"
	netRefuse(t, e, alice, "createNetwork", iso, 531)
	in := topoObj(t, mgmttest.Do(t, a, "createNetwork", iso), "network")
	topoWant(t, "isolated network on a given vlan", in, "state", "Allocated", "broadcasturi", "vxlan://777", "vlan", "777", "type", "Isolated")
	netRefuse(t, e, a, "createNetwork", iso, 431) // the same VLAN twice

	n := topoObj(t, mgmttest.Do(t, a, "createNetwork", shared()), "network")
	id := n["id"].(string)
	topoWant(t, "shared network", n, "type", "Shared", "state", "Setup", "acltype", "Domain", "domain", "ROOT", "vlan", "300",
		"broadcasturi", "vxlan://300", "broadcastdomaintype", "Vxlan", "cidr", "172.16.0.0/24", "subdomainaccess", true)
	if _, ok := n["account"]; ok {
		t.Errorf("a Domain network has an account: %v", n)
	}
	// Its range is listed with it and counted as direct IP capacity.
	ranges := topoItems(t, mgmttest.Do(t, a, "listVlanIpRanges", map[string]string{"networkid": id}), "vlaniprange")
	if len(ranges) != 1 || ranges[0]["startip"] != "172.16.0.10" || ranges[0]["forvirtualnetwork"] != false {
		t.Fatalf("shared range: %v", ranges)
	}
	if c := topoCap(t, e, db.CapDirectPublicIP, z.zone); c != 11 {
		t.Errorf("direct IP capacity %d, want 11", c)
	}
	// The same tagged VLAN twice is refused.
	netRefuse(t, e, a, "createNetwork", shared("gateway", "172.16.5.1", "startip", "172.16.5.10", "endip", "172.16.5.20"), 431)
	// A user sees the Domain network and can't change it.
	got := topoItems(t, mgmttest.Do(t, alice, "listNetworks", map[string]string{"zoneid": z.zone}), "network")
	if len(got) != 1 || got[0]["id"] != id {
		t.Fatalf("alice's view: %v", got)
	}
	if all := topoItems(t, mgmttest.Do(t, a, "listNetworks", map[string]string{"zoneid": z.zone}), "network"); len(all) != 2 {
		t.Fatalf("admin's own networks: %v", all)
	}
	if _, ok := got[0]["broadcasturi"]; ok {
		t.Errorf("a user sees the broadcast URI: %v", got[0])
	}
	netRefuse(t, e, alice, "deleteNetwork", map[string]string{"id": id}, 531)
	netRefuse(t, e, alice, "createNetwork", shared("name", "mine", "vlan", "301", "gateway", "172.16.9.1", "startip", "172.16.9.10", "endip", "172.16.9.20"), 531)
	// Restart a Setup network; delete returns its range.
	// restartNetwork answers CloudStack's SuccessResponse; the network stays Setup.
	if r := mgmttest.DoAsync(t, a, "restartNetwork", map[string]string{"id": id, "cleanup": "true"}); r["success"] != true {
		t.Errorf("restartNetwork: %v, want success", r)
	}
	topoWant(t, "restarted", topoItems(t, mgmttest.Do(t, a, "listNetworks", map[string]string{"id": id, "listall": "true"}), "network")[0], "state", "Setup")
	mgmttest.DoAsync(t, a, "deleteNetwork", map[string]string{"id": id})
	if c := topoCap(t, e, db.CapDirectPublicIP, z.zone); c != 0 {
		t.Errorf("direct IP capacity after delete %d, want 0", c)
	}
	if n := topoInt(t, e, "SELECT COUNT(*) FROM public_ips WHERE network_id = ? OR vlan_id = ?", id, ranges[0]["id"]); n != 0 {
		t.Errorf("%d address rows left", n)
	}
}

// Concurrent creates by one account under a limit of 3 networks: exactly 3 succeed.
func TestCreateNetworkConcurrentLimit(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	z := topoAdvanced(t, e, "c")
	alice, ids := tenant(t, e, "alice", "0", "")
	if err := db.SetResourceLimit(context.Background(), e.Server.DB.SQL, "account", ids[0], db.ResNetwork, 3); err != nil {
		t.Fatal(err)
	}
	off := netOffering(t, e, "DefaultIsolatedNetworkOfferingWithSourceNatService")
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := alice.Do(context.Background(), "createNetwork", map[string]string{"name": fmt.Sprint("n", i), "zoneid": z.zone, "networkofferingid": off})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				codes["ok"]++
			} else if strings.Contains(err.Error(), "532") {
				codes["532"]++
			} else {
				codes[err.Error()]++
			}
		}(i)
	}
	wg.Wait()
	if codes["ok"] != 3 || codes["532"] != 5 {
		t.Fatalf("outcomes %v", codes)
	}
	if c := netCount(t, e, ids[0], db.ResNetwork); c != 3 {
		t.Fatalf("count %d", c)
	}
}

// A Basic zone's guest network: the admin creates it with the SG offering and no addresses
// (they come from the pods' guest ranges); the zone takes one; Isolated networks are refused.
func TestBasicZoneNetwork(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	zone := topoObj(t, mgmttest.Do(t, a, "createZone", map[string]string{"name": "basic", "networktype": "Basic", "dns1": "8.8.8.8",
		"internaldns1": "10.0.0.2"}), "zone")["id"].(string)
	pn := topoObj(t, mgmttest.DoAsync(t, a, "createPhysicalNetwork", map[string]string{"zoneid": zone, "name": "p"}), "physicalnetwork")["id"].(string)
	for _, tt := range []string{"Guest", "Management"} {
		mgmttest.DoAsync(t, a, "addTrafficType", map[string]string{"physicalnetworkid": pn, "traffictype": tt})
	}
	pod := topoObj(t, mgmttest.Do(t, a, "createPod", map[string]string{"zoneid": zone, "name": "pod1", "gateway": "10.10.0.1",
		"netmask": "255.255.255.0", "startip": "10.10.0.10", "endip": "10.10.0.50"}), "pod")["id"].(string)
	mgmttest.Do(t, a, "createVlanIpRange", map[string]string{"podid": pod, "gateway": "10.10.0.1", "netmask": "255.255.255.0",
		"startip": "10.10.0.100", "endip": "10.10.0.199", "forvirtualnetwork": "False"})
	sg := netOffering(t, e, "DefaultSharedNetworkOfferingWithSGService")
	netRefuse(t, e, a, "createNetwork", map[string]string{"name": "iso", "zoneid": zone,
		"networkofferingid": netOffering(t, e, "DefaultIsolatedNetworkOfferingWithSourceNatService")}, 431)
	netRefuse(t, e, a, "createNetwork", map[string]string{"name": "g", "zoneid": zone, "networkofferingid": sg, "vlan": "10"}, 431)
	n := topoObj(t, mgmttest.Do(t, a, "createNetwork", map[string]string{"name": "guest", "zoneid": zone, "networkofferingid": sg}), "network")
	topoWant(t, "basic network", n, "type", "Shared", "state", "Setup", "broadcastdomaintype", "Native", "gateway", "10.10.0.1",
		"netmask", "255.255.255.0", "acltype", "Domain")
	if text := netRefuse(t, e, a, "createNetwork", map[string]string{"name": "second", "zoneid": zone, "networkofferingid": sg}, 431); !strings.Contains(text, "one guest network") {
		t.Errorf("second basic network: %s", text)
	}
	alice, _ := tenant(t, e, "alice", "0", "")
	got := topoItems(t, mgmttest.Do(t, alice, "listNetworks", map[string]string{"zoneid": zone, "canusefordeploy": "true"}), "network")
	if len(got) != 1 || got[0]["id"] != n["id"] {
		t.Fatalf("alice's deployable networks: %v", got)
	}
}
