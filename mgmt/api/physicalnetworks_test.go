package api_test

import (
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// topoZone holds the ids of an Advanced zone built by topoAdvanced.
type topoZone struct {
	zone, guestPN, publicPN, pod, publicRange string
}

// providerByName finds a provider of a physical network by name.
func topoProvider(t *testing.T, e *mgmttest.Env, pnID, name string) map[string]any {
	t.Helper()
	for _, p := range topoItems(t, mgmttest.Do(t, e.Admin, "listNetworkServiceProviders", map[string]string{"physicalnetworkid": pnID}), "networkserviceprovider") {
		if strings.EqualFold(p["name"].(string), name) {
			return p
		}
	}
	t.Fatalf("no provider %s on %s", name, pnID)
	return nil
}

// topoEnableProvider does what cs_physical_network does for nsps_enabled: enable the element
// of a router-like provider, then the provider.
func topoEnableProvider(t *testing.T, e *mgmttest.Env, pnID, name string) {
	t.Helper()
	p := topoProvider(t, e, pnID, name)
	list, cfg, key := "listVirtualRouterElements", "configureVirtualRouterElement", "virtualrouterelement"
	if strings.EqualFold(name, "InternalLbVm") {
		list, cfg, key = "listInternalLoadBalancerElements", "configureInternalLoadBalancerElement", "internalloadbalancerelement"
	}
	if name != "ConfigDrive" && name != "SecurityGroupProvider" {
		for _, el := range topoItems(t, mgmttest.Do(t, e.Admin, list, nil), key) {
			if el["nspid"] == p["id"] && el["enabled"] != true {
				res := mgmttest.DoAsync(t, e.Admin, cfg, map[string]string{"id": el["id"].(string), "enabled": "True"})
				topoWant(t, "configured element", topoObj(t, res, key), "enabled", true, "nspid", p["id"])
			}
		}
	}
	res := mgmttest.DoAsync(t, e.Admin, "updateNetworkServiceProvider", map[string]string{"id": p["id"].(string), "state": "Enabled"})
	topoWant(t, "enabled provider", topoObj(t, res, "networkserviceprovider"), "state", "Enabled", "name", p["name"])
}

// topoAdvanced builds an Advanced zone as an admin (or Ansible) would: a VXLAN guest physical
// network carrying Guest and Management traffic, a VLAN physical network carrying Public
// traffic, providers enabled, a pod and a public IP range; then enables the zone.
func topoAdvanced(t *testing.T, e *mgmttest.Env, name string) topoZone {
	t.Helper()
	a := e.Admin
	var z topoZone
	z.zone = topoObj(t, mgmttest.Do(t, a, "createZone", map[string]string{"name": name, "networktype": "Advanced",
		"dns1": "8.8.8.8", "internaldns1": "10.0.0.2", "guestcidraddress": "10.1.0.0/16"}), "zone")["id"].(string)
	g := topoObj(t, mgmttest.DoAsync(t, a, "createPhysicalNetwork", map[string]string{"zoneid": z.zone, "name": name + "-guest",
		"isolationmethods": "VXLAN", "vlan": "5000-5999", "tags": "guest"}), "physicalnetwork")
	topoWant(t, "guest physical network", g, "state", "Disabled", "isolationmethods", "VXLAN", "vlan", "5000-5999",
		"broadcastdomainrange", "ZONE", "zoneid", z.zone, "tags", "guest", "name", name+"-guest")
	z.guestPN = g["id"].(string)
	p := topoObj(t, mgmttest.DoAsync(t, a, "createPhysicalNetwork", map[string]string{"zoneid": z.zone, "name": name + "-public",
		"isolationmethods": "VLAN", "networkspeed": "10G"}), "physicalnetwork")
	z.publicPN = p["id"].(string)
	if _, ok := p["vlan"]; ok {
		t.Errorf("public physical network without vlan renders one: %v", p)
	}
	for _, tt := range []struct{ pn, typ, label string }{{z.guestPN, "Guest", "cloudbr1"}, {z.guestPN, "Management", "cloudbr0"},
		{z.publicPN, "Public", "cloudbr2"}} {
		r := topoObj(t, mgmttest.DoAsync(t, a, "addTrafficType", map[string]string{"physicalnetworkid": tt.pn, "traffictype": tt.typ,
			"kvmnetworklabel": tt.label}), "traffictype")
		topoWant(t, "traffic type", r, "traffictype", tt.typ, "physicalnetworkid", tt.pn, "kvmnetworklabel", tt.label)
	}
	for _, pn := range []string{z.guestPN, z.publicPN} {
		for _, prov := range []string{"VirtualRouter", "VpcVirtualRouter", "InternalLbVm", "ConfigDrive"} {
			topoEnableProvider(t, e, pn, prov)
		}
		mgmttest.DoAsync(t, a, "updatePhysicalNetwork", map[string]string{"id": pn, "state": "Enabled"})
	}
	z.pod = topoObj(t, mgmttest.Do(t, a, "createPod", map[string]string{"zoneid": z.zone, "name": name + "-pod1",
		"gateway": "192.168.10.1", "netmask": "255.255.255.0", "startip": "192.168.10.10", "endip": "192.168.10.100"}), "pod")["id"].(string)
	v := topoObj(t, mgmttest.Do(t, a, "createVlanIpRange", map[string]string{"zoneid": z.zone, "vlan": "100", "gateway": "203.0.113.1",
		"netmask": "255.255.255.0", "startip": "203.0.113.10", "endip": "203.0.113.59", "forvirtualnetwork": "True", "forsystemvms": "False"}), "vlan")
	z.publicRange = v["id"].(string)
	topoWant(t, "public range", v, "vlan", "vlan://100", "physicalnetworkid", z.publicPN, "forvirtualnetwork", true, "forsystemvms", false,
		"gateway", "203.0.113.1", "netmask", "255.255.255.0", "startip", "203.0.113.10", "endip", "203.0.113.59", "zoneid", z.zone,
		"cidr", "203.0.113.0/24")
	mgmttest.Do(t, a, "updateZone", map[string]string{"id": z.zone, "allocationstate": "Enabled"})
	return z
}

func TestAdvancedZone(t *testing.T) { testAdvancedZone(t, mgmttest.Start(t, mgmttest.Options{})) }

func TestAdvancedZoneMariaDB(t *testing.T) {
	testAdvancedZone(t, mgmttest.Start(t, mgmttest.Options{MySQL: true}))
}

func testAdvancedZone(t *testing.T, e *mgmttest.Env) {
	a := e.Admin
	z := topoAdvanced(t, e, "adv")

	// Capacity: 1000 guest VNIs on the guest network, 50 public addresses in the zone.
	if n := topoCap(t, e, db.CapVLAN, z.guestPN); n != 1000 {
		t.Errorf("VLAN capacity total %d, want 1000", n)
	}
	if n := topoCap(t, e, db.CapPublicIP, z.zone); n != 50 {
		t.Errorf("public IP capacity total %d, want 50", n)
	}
	if n := topoInt(t, e, "SELECT COUNT(*) FROM public_ips WHERE vlan_id = ? AND state = 'Free'", z.publicRange); n != 50 {
		t.Errorf("%d free public ip rows, want 50", n)
	}

	// Enabling the zone added Storage traffic beside Management, with its labels.
	tts := topoItems(t, mgmttest.Do(t, a, "listTrafficTypes", map[string]string{"physicalnetworkid": z.guestPN}), "traffictype")
	got := map[string]map[string]any{}
	for _, tt := range tts {
		got[tt["traffictype"].(string)] = tt
	}
	if len(got) != 3 || got["Storage"] == nil || got["Storage"]["kvmnetworklabel"] != "cloudbr0" {
		t.Fatalf("traffic types after enabling: %v", tts)
	}
	if _, ok := got["Guest"]["xennetworklabel"]; ok {
		t.Errorf("unset label rendered: %v", got["Guest"])
	}
	upd := topoObj(t, mgmttest.DoAsync(t, a, "updateTrafficType", map[string]string{"id": got["Guest"]["id"].(string),
		"kvmnetworklabel": "br-guest", "vmwarenetworklabel": "vSwitch1"}), "traffictype")
	topoWant(t, "updated traffic type", upd, "kvmnetworklabel", "br-guest", "vmwarenetworklabel", "vSwitch1", "traffictype", "Guest")

	// Providers: enabled, with their services.
	vr := topoProvider(t, e, z.guestPN, "VirtualRouter")
	topoWant(t, "VirtualRouter", vr, "state", "Enabled", "canenableindividualservice", true, "physicalnetworkid", z.guestPN)
	if s, _ := vr["servicelist"].([]any); len(s) < 5 {
		t.Errorf("VirtualRouter services: %v", vr["servicelist"])
	}
	if n := len(topoItems(t, mgmttest.Do(t, a, "listNetworkServiceProviders", map[string]string{"physicalnetworkid": z.guestPN, "state": "Enabled"}), "networkserviceprovider")); n != 4 {
		t.Errorf("%d enabled providers, want 4", n)
	}

	// Refusals, each changing nothing.
	topoRefuse(t, e, a, "createPhysicalNetwork", map[string]string{"zoneid": z.zone, "name": "late"}, 431) // zone enabled
	mgmttest.Do(t, a, "updateZone", map[string]string{"id": z.zone, "allocationstate": "Disabled"})
	for _, tc := range []struct {
		p    map[string]string
		text string
	}{
		{map[string]string{"zoneid": z.zone, "name": "x", "isolationmethods": "VXLAN", "vlan": "5500-6000"}, "overlaps"},
		{map[string]string{"zoneid": z.zone, "name": "x", "isolationmethods": "VXLAN", "vlan": "1-16777215"}, "vlan"},
		{map[string]string{"zoneid": z.zone, "name": "x", "isolationmethods": "VLAN", "vlan": "0-10"}, "vlan"},
		{map[string]string{"zoneid": z.zone, "name": "x", "isolationmethods": "VLAN", "vlan": "200-100"}, "vlan"},
		{map[string]string{"zoneid": z.zone, "name": "x", "isolationmethods": "VLAN", "vlan": "a-b"}, "vlan"},
		{map[string]string{"zoneid": z.zone, "name": "x", "isolationmethods": "VLAN,VXLAN"}, "isolation"},
		{map[string]string{"zoneid": z.zone, "name": "x", "isolationmethods": "STT"}, "isolationmethods"},
		{map[string]string{"zoneid": z.zone, "name": "x", "tags": "a,b"}, "tag"},
		{map[string]string{"zoneid": z.zone, "name": "x", "broadcastdomainrange": "POD"}, "broadcastdomainrange"},
		{map[string]string{"zoneid": "00000000-0000-4000-8000-000000000000", "name": "x"}, "Unable to find zone"},
	} {
		if text := topoRefuse(t, e, a, "createPhysicalNetwork", tc.p, 431); !strings.Contains(text, tc.text) {
			t.Errorf("createPhysicalNetwork %v: %q does not mention %q", tc.p, text, tc.text)
		}
	}
	// VLAN ranges on separate VLAN networks may not overlap either; VLAN and VXLAN ids may.
	mgmttest.DoAsync(t, a, "updatePhysicalNetwork", map[string]string{"id": z.publicPN, "vlan": "300-399"})
	topoRefuse(t, e, a, "createPhysicalNetwork", map[string]string{"zoneid": z.zone, "name": "x", "vlan": "350-450"}, 431)
	vx := topoObj(t, mgmttest.DoAsync(t, a, "createPhysicalNetwork", map[string]string{"zoneid": z.zone, "name": "vx", "isolationmethods": "VXLAN",
		"vlan": "300-399"}), "physicalnetwork")["id"].(string)
	mgmttest.DoAsync(t, a, "updatePhysicalNetwork", map[string]string{"id": z.publicPN, "vlan": ""})
	for _, tc := range []map[string]string{
		{"physicalnetworkid": z.publicPN, "traffictype": "Management"},                        // one per zone
		{"physicalnetworkid": z.guestPN, "traffictype": "Guest"},                              // twice on one network
		{"physicalnetworkid": z.guestPN, "traffictype": "Control"},                            // unknown type
		{"physicalnetworkid": z.publicPN, "traffictype": "Guest", "isolationmethod": "VXLAN"}, // not the network's
		{"physicalnetworkid": z.publicPN, "traffictype": "Guest", "vlan": "5000"},
	} {
		topoRefuse(t, e, a, "addTrafficType", tc, 431)
	}
	// A second untagged network may not carry Guest traffic beside another untagged one:
	// tagging keeps them apart.
	extra := topoObj(t, mgmttest.DoAsync(t, a, "addTrafficType", map[string]string{"physicalnetworkid": z.publicPN, "traffictype": "Guest"}), "traffictype")
	topoRefuseJob(t, e, "updatePhysicalNetwork", map[string]string{"id": z.guestPN, "tags": ""}, 431)
	mgmttest.DoAsync(t, a, "deleteTrafficType", map[string]string{"id": extra["id"].(string)})
	mgmttest.DoAsync(t, a, "updatePhysicalNetwork", map[string]string{"id": z.guestPN, "tags": ""})

	// Providers: Shutdown is refused; a router-like provider needs its element enabled.
	vpc := topoProvider(t, e, z.publicPN, "VpcVirtualRouter")
	topoRefuse(t, e, a, "updateNetworkServiceProvider", map[string]string{"id": vpc["id"].(string), "state": "Shutdown"}, 431)
	topoRefuse(t, e, a, "updateNetworkServiceProvider", map[string]string{"id": topoProvider(t, e, z.publicPN, "ConfigDrive")["id"].(string), "servicelist": "Dhcp"}, 431)
	topoRefuse(t, e, a, "addNetworkServiceProvider", map[string]string{"physicalnetworkid": z.publicPN, "name": "VirtualRouter"}, 431)
	topoRefuse(t, e, a, "addNetworkServiceProvider", map[string]string{"physicalnetworkid": z.publicPN, "name": "Netscaler"}, 431)
	var vpcElem string
	for _, el := range topoItems(t, mgmttest.Do(t, a, "listVirtualRouterElements", map[string]string{"nspid": vpc["id"].(string)}), "virtualrouterelement") {
		vpcElem = el["id"].(string)
	}
	mgmttest.DoAsync(t, a, "updateNetworkServiceProvider", map[string]string{"id": vpc["id"].(string), "state": "Disabled"})
	mgmttest.DoAsync(t, a, "configureVirtualRouterElement", map[string]string{"id": vpcElem, "enabled": "false"})
	text := topoRefuseJob(t, e, "updateNetworkServiceProvider", map[string]string{"id": vpc["id"].(string), "state": "Enabled"}, 431)
	if !strings.Contains(text, "not ready") {
		t.Errorf("enable without element: %s", text)
	}
	// Delete and add a provider back: it comes Disabled with a new element.
	mgmttest.DoAsync(t, a, "deleteNetworkServiceProvider", map[string]string{"id": vpc["id"].(string)})
	if n := topoInt(t, e, "SELECT COUNT(*) FROM virtual_router_elements WHERE nsp_id = ? AND removed IS NULL", vpc["id"]); n != 0 {
		t.Errorf("deleted provider keeps %d elements", n)
	}
	added := topoObj(t, mgmttest.DoAsync(t, a, "addNetworkServiceProvider", map[string]string{"physicalnetworkid": z.publicPN,
		"name": "vpcvirtualrouter", "servicelist": "Dhcp,Dns"}), "networkserviceprovider")
	topoWant(t, "added provider", added, "name", "VpcVirtualRouter", "state", "Disabled", "servicelist", "[Dhcp Dns]")
	el := topoObj(t, mgmttest.DoAsync(t, a, "createVirtualRouterElement", map[string]string{"nspid": added["id"].(string), "providertype": "VPCVirtualRouter"}), "virtualrouterelement")
	topoWant(t, "element of the added provider", el, "nspid", added["id"], "enabled", false)

	// Guest VNIs: growing the range grows capacity; shrinking below an allocated VNI is refused.
	mgmttest.DoAsync(t, a, "updatePhysicalNetwork", map[string]string{"id": z.guestPN, "vlan": "5000-5999,7000-7099"})
	if n := topoCap(t, e, db.CapVLAN, z.guestPN); n != 1100 {
		t.Errorf("VLAN capacity after growing: %d, want 1100", n)
	}
	topoExec(t, e, "INSERT INTO vnet_allocations (physical_network_id, vnet, zone_id, allocated) VALUES (?, 7050, ?, 1)", z.guestPN, z.zone)
	text = topoRefuseJob(t, e, "updatePhysicalNetwork", map[string]string{"id": z.guestPN, "vlan": "5000-5999"}, 536)
	if !strings.Contains(text, "7050") {
		t.Errorf("shrink refusal does not name the vnet: %s", text)
	}
	pn := topoObj(t, mgmttest.DoAsync(t, a, "updatePhysicalNetwork", map[string]string{"id": z.guestPN, "vlan": "5000-5999,7001-7100,7101-7200"}), "physicalnetwork")
	topoWant(t, "merged ranges", pn, "vlan", "5000-5999,7001-7200")

	// Deletion rules: the zone holds pods, physical networks and ranges; the public network
	// holds a range; the guest network an allocated VNI.
	text = topoRefuse(t, e, a, "deleteZone", map[string]string{"id": z.zone}, 536)
	for _, w := range []string{"pods", "physical networks", "IP ranges"} {
		if !strings.Contains(text, w) {
			t.Errorf("deleteZone refusal %q does not mention %s", text, w)
		}
	}
	topoRefuseJob(t, e, "deletePhysicalNetwork", map[string]string{"id": z.publicPN}, 536)
	topoRefuseJob(t, e, "deletePhysicalNetwork", map[string]string{"id": z.guestPN}, 536)
	topoRefuseJob(t, e, "deleteTrafficType", map[string]string{"id": got["Guest"]["id"].(string)}, 536)
	mgmttest.Do(t, a, "deleteVlanIpRange", map[string]string{"id": z.publicRange})
	if n := topoCap(t, e, db.CapPublicIP, z.zone); n != 0 {
		t.Errorf("public IP capacity after deleting the range: %d", n)
	}
	mgmttest.DoAsync(t, a, "deletePhysicalNetwork", map[string]string{"id": z.publicPN})
	for _, table := range []string{"traffic_types", "network_service_providers"} {
		if n := topoInt(t, e, "SELECT COUNT(*) FROM "+table+" WHERE physical_network_id = ? AND removed IS NULL", z.publicPN); n != 0 {
			t.Errorf("%d live %s left on the deleted physical network", n, table)
		}
	}
	topoExec(t, e, "DELETE FROM vnet_allocations WHERE physical_network_id = ?", z.guestPN)
	mgmttest.DoAsync(t, a, "deletePhysicalNetwork", map[string]string{"id": vx})
	mgmttest.DoAsync(t, a, "deletePhysicalNetwork", map[string]string{"id": z.guestPN})
	if n := topoCap(t, e, db.CapVLAN, z.guestPN); n != -1 {
		t.Errorf("VLAN capacity row left after deleting the physical network: %d", n)
	}
	topoRefuse(t, e, a, "deleteZone", map[string]string{"id": z.zone}, 536) // the pod
	mgmttest.Do(t, a, "deletePod", map[string]string{"id": z.pod})
	mgmttest.Do(t, a, "deleteZone", map[string]string{"id": z.zone})
	if n := topoInt(t, e, "SELECT COUNT(*) FROM capacity WHERE zone_id = ?", z.zone); n != 0 {
		t.Errorf("%d capacity rows left after deleting the zone", n)
	}
	for _, typ := range []string{"ZONE.CREATE", "ZONE.EDIT", "ZONE.DELETE", "POD.CREATE", "POD.DELETE", "PHYSICAL.NETWORK.CREATE",
		"PHYSICAL.NETWORK.UPDATE", "PHYSICAL.NETWORK.DELETE", "TRAFFIC.TYPE.CREATE", "TRAFFIC.TYPE.UPDATE", "TRAFFIC.TYPE.DELETE", "SERVICE.PROVIDER.CREATE",
		"SERVICE.PROVIDER.UPDATE", "SERVICE.PROVIDER.DELETE", "VLAN.IP.RANGE.CREATE", "VLAN.IP.RANGE.DELETE", "NETWORK.ELEMENT.CONFIGURE"} {
		if topoInt(t, e, "SELECT COUNT(*) FROM events WHERE type = ?", typ) == 0 {
			t.Errorf("no %s event", typ)
		}
	}
}

// TestZoneHeldByOtherResources proves deleteZone counts hosts, primary storage and image
// stores, whose rows other command families write.
func TestZoneHeldByOtherResources(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	id := topoObj(t, mgmttest.Do(t, e.Admin, "createZone", map[string]string{"name": "held", "networktype": "Advanced",
		"dns1": "8.8.8.8", "internaldns1": "10.0.0.2"}), "zone")["id"].(string)
	topoExec(t, e, `INSERT INTO image_stores (id, name, zone_id, url, provider, scope, created) VALUES ('is1', 'nfs', ?, 'nfs://x/y', 'NFS', 'ZONE', 1)`, id)
	if text := topoRefuse(t, e, e.Admin, "deleteZone", map[string]string{"id": id}, 536); !strings.Contains(text, "image stores") {
		t.Errorf("deleteZone with an image store: %s", text)
	}
	topoExec(t, e, "UPDATE image_stores SET removed = 2 WHERE id = 'is1'")
	topoExec(t, e, `INSERT INTO storage_pools (id, name, zone_id, scope, pool_type, url, provider, status, created)
		VALUES ('sp1', 'p', ?, 'ZONE', 'NetworkFilesystem', 'nfs://x/y', 'DefaultPrimary', 'Up', 1)`, id)
	topoRefuse(t, e, e.Admin, "deleteZone", map[string]string{"id": id}, 536)
	topoExec(t, e, "UPDATE storage_pools SET removed = 2 WHERE id = 'sp1'")
	topoExec(t, e, `INSERT INTO hosts (id, name, guid, type, zone_id, hypervisor_type, status, resource_state, created)
		VALUES ('h1', 'h', 'g', 'Routing', ?, 'KVM', 'Up', 'Enabled', 1)`, id)
	if text := topoRefuse(t, e, e.Admin, "deleteZone", map[string]string{"id": id}, 536); !strings.Contains(text, "hosts") {
		t.Errorf("deleteZone with a host: %s", text)
	}
	topoExec(t, e, "UPDATE hosts SET removed = 2 WHERE id = 'h1'")
	mgmttest.Do(t, e.Admin, "deleteZone", map[string]string{"id": id})
}
