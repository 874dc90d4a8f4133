package api_test

import (
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

func TestPodRules(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	zone := topoObj(t, mgmttest.Do(t, a, "createZone", map[string]string{"name": "pz", "networktype": "Advanced",
		"dns1": "8.8.8.8", "internaldns1": "10.0.0.2"}), "zone")["id"].(string)
	p := topoObj(t, mgmttest.Do(t, a, "createPod", map[string]string{"zoneid": zone, "name": "pod1", "gateway": "192.168.10.1",
		"netmask": "255.255.255.0", "startip": "192.168.10.10", "endip": "192.168.10.100"}), "pod")
	topoWant(t, "pod", p, "name", "pod1", "zoneid", zone, "zonename", "pz", "gateway", "192.168.10.1", "netmask", "255.255.255.0",
		"startip", "[192.168.10.10]", "endip", "[192.168.10.100]", "forsystemvms", "[0]", "vlanid", "[vlan://untagged]",
		"allocationstate", "Enabled")
	r := p["ipranges"].([]any)[0].(map[string]any)
	topoWant(t, "pod ip range", r, "startip", "192.168.10.10", "endip", "192.168.10.100", "forsystemvms", "0",
		"vlanid", "vlan://untagged", "cidr", "192.168.10.0/24")
	podID := p["id"].(string)

	// Without endip the range runs to the last usable address of the subnet.
	p2 := topoObj(t, mgmttest.Do(t, a, "createPod", map[string]string{"zoneid": zone, "name": "pod2", "gateway": "192.168.20.1",
		"netmask": "255.255.255.0", "startip": "192.168.20.10", "allocationstate": "Disabled"}), "pod")
	topoWant(t, "pod without endip", p2, "endip", "[192.168.20.254]", "allocationstate", "Disabled")

	// CloudStack 4.20 needs only a name and a zone: a pod without a management IP range has
	// empty range lists; a range needs gateway, netmask and startip together.
	bare := topoObj(t, mgmttest.Do(t, a, "createPod", map[string]string{"zoneid": zone, "name": "bare"}), "pod")
	topoWant(t, "pod without a range", bare, "startip", "[]", "endip", "[]", "forsystemvms", "[]", "vlanid", "[]")
	if _, ok := bare["ipranges"]; ok {
		t.Errorf("a pod without a range answers ipranges: %v", bare)
	}
	for _, miss := range []string{"gateway", "netmask", "startip"} {
		p := map[string]string{"zoneid": zone, "name": "part", "gateway": "192.168.40.1", "netmask": "255.255.255.0", "startip": "192.168.40.10"}
		delete(p, miss)
		if text := topoRefuse(t, e, a, "createPod", p, 431); !strings.Contains(text, miss) {
			t.Errorf("createPod without %s: %q does not name it", miss, text)
		}
	}
	mgmttest.Do(t, a, "deletePod", map[string]string{"id": bare["id"].(string)})

	for _, tc := range []struct {
		p    map[string]string
		text string
	}{
		{map[string]string{"name": "POD1", "gateway": "192.168.30.1", "netmask": "255.255.255.0", "startip": "192.168.30.10"}, "already exists"},
		{map[string]string{"name": "x", "gateway": "192.168.10.1", "netmask": "255.255.255.0", "startip": "192.168.10.150", "endip": "192.168.10.160"}, "conflicts with the subnet 192.168.10.0/24 of pod pod1"},
		{map[string]string{"name": "x", "gateway": "10.1.1.1", "netmask": "255.255.255.0", "startip": "10.1.1.10"}, "guest CIDR"},
		{map[string]string{"name": "x", "gateway": "192.168.30.1", "netmask": "255.255.255.0", "startip": "192.168.31.10"}, "startip"},
		{map[string]string{"name": "x", "gateway": "192.168.30.1", "netmask": "255.255.255.0", "startip": "192.168.30.10", "endip": "192.168.30.5"}, "startip"},
		{map[string]string{"name": "x", "gateway": "192.168.30.1", "netmask": "255.255.255.0", "startip": "192.168.30.0"}, "network or broadcast"},
		{map[string]string{"name": "x", "gateway": "192.168.30.20", "netmask": "255.255.255.0", "startip": "192.168.30.10", "endip": "192.168.30.30"}, "gateway"},
		{map[string]string{"name": "x", "gateway": "192.168.30.1", "netmask": "255.0.255.0", "startip": "192.168.30.10"}, "netmask"},
		{map[string]string{"name": "x", "gateway": "192.168.30.300", "netmask": "255.255.255.0", "startip": "192.168.30.10"}, "gateway"},
		{map[string]string{"name": "x", "gateway": "192.168.30.1", "netmask": "255.255.255.0", "startip": "192.168.30.10", "allocationstate": "On"}, "allocationstate"},
	} {
		tc.p["zoneid"] = zone
		if text := topoRefuse(t, e, a, "createPod", tc.p, 431); !strings.Contains(text, tc.text) {
			t.Errorf("createPod %v: %q does not mention %q", tc.p, text, tc.text)
		}
	}
	// Lookups as cs_pod does them.
	got := topoItems(t, mgmttest.Do(t, a, "listPods", map[string]string{"zoneid": zone, "name": "pod1"}), "pod")
	if len(got) != 1 || got[0]["id"] != podID {
		t.Fatalf("listPods name=pod1: %v", got)
	}
	if n := len(topoItems(t, mgmttest.Do(t, a, "listPods", map[string]string{"allocationstate": "Disabled"}), "pod")); n != 1 {
		t.Fatalf("listPods allocationstate=Disabled: %d", n)
	}

	// Update: a new range is checked like a new pod's.
	u := topoObj(t, mgmttest.Do(t, a, "updatePod", map[string]string{"id": podID, "name": "pod1b", "startip": "192.168.10.20",
		"endip": "192.168.10.120", "allocationstate": "Disabled"}), "pod")
	topoWant(t, "updated pod", u, "name", "pod1b", "startip", "[192.168.10.20]", "endip", "[192.168.10.120]", "allocationstate", "Disabled")
	topoRefuse(t, e, a, "updatePod", map[string]string{"id": podID, "name": "POD2"}, 431)
	topoRefuse(t, e, a, "updatePod", map[string]string{"id": podID, "gateway": "192.168.20.1"}, 431) // range outside the subnet
	topoRefuse(t, e, a, "updatePod", map[string]string{"id": podID, "netmask": "255.255.255.0", "gateway": "192.168.20.1",
		"startip": "192.168.20.100", "endip": "192.168.20.110"}, 431) // overlaps pod2

	// A pod holding a cluster (or a host) is not deleted.
	topoExec(t, e, `INSERT INTO clusters (id, zone_id, pod_id, name, hypervisor_type, cluster_type, allocation_state, created)
		VALUES ('c1', ?, ?, 'c1', 'KVM', 'CloudManaged', 'Enabled', 1)`, zone, podID)
	if text := topoRefuse(t, e, a, "deletePod", map[string]string{"id": podID}, 536); !strings.Contains(text, "clusters") {
		t.Errorf("deletePod with a cluster: %s", text)
	}
	topoExec(t, e, "UPDATE clusters SET removed = 2 WHERE id = 'c1'")
	mgmttest.Do(t, a, "deletePod", map[string]string{"id": podID})
	topoRefuse(t, e, a, "deletePod", map[string]string{"id": podID}, 431)
	// Its name and range are free again.
	mgmttest.Do(t, a, "createPod", map[string]string{"zoneid": zone, "name": "pod1b", "gateway": "192.168.10.1",
		"netmask": "255.255.255.0", "startip": "192.168.10.20", "endip": "192.168.10.120"})
}

// TestBasicSecurityGroupZone builds a Basic zone: always security-group enabled, one physical
// network with a POD broadcast domain, guest IP ranges per pod that go with their pod.
func TestBasicSecurityGroupZone(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	z := topoObj(t, mgmttest.Do(t, a, "createZone", map[string]string{"name": "basic", "networktype": "Basic", "dns1": "8.8.8.8",
		"internaldns1": "10.0.0.2", "securitygroupenabled": "false", "guestcidraddress": "10.1.1.0/24"}), "zone")
	topoWant(t, "basic zone", z, "networktype", "Basic", "securitygroupsenabled", true)
	if _, ok := z["guestcidraddress"]; ok {
		t.Errorf("basic zone has a guest CIDR: %v", z)
	}
	zone := z["id"].(string)
	topoRefuse(t, e, a, "createPhysicalNetwork", map[string]string{"zoneid": zone, "name": "p", "vlan": "100-200"}, 431)
	topoRefuse(t, e, a, "createPhysicalNetwork", map[string]string{"zoneid": zone, "name": "p", "broadcastdomainrange": "Zone"}, 431)
	pn := topoObj(t, mgmttest.DoAsync(t, a, "createPhysicalNetwork", map[string]string{"zoneid": zone, "name": "p"}), "physicalnetwork")
	topoWant(t, "basic physical network", pn, "broadcastdomainrange", "POD", "state", "Disabled")
	pnID := pn["id"].(string)
	if text := topoRefuse(t, e, a, "createPhysicalNetwork", map[string]string{"zoneid": zone, "name": "second"}, 431); !strings.Contains(text, "basic") {
		t.Errorf("second physical network in a basic zone: %s", text)
	}
	provs := topoItems(t, mgmttest.Do(t, a, "listNetworkServiceProviders", map[string]string{"physicalnetworkid": pnID}), "networkserviceprovider")
	if len(provs) != 5 {
		t.Fatalf("basic SG zone providers: %v", provs)
	}
	if n := topoCap(t, e, db.CapVLAN, pnID); n != -1 {
		t.Errorf("basic physical network has a VLAN capacity row: %d", n)
	}
	for _, tt := range []string{"Guest", "Management"} {
		mgmttest.DoAsync(t, a, "addTrafficType", map[string]string{"physicalnetworkid": pnID, "traffictype": tt, "kvmnetworklabel": "cloudbr0"})
	}
	topoEnableProvider(t, e, pnID, "SecurityGroupProvider")
	topoEnableProvider(t, e, pnID, "VirtualRouter")
	mgmttest.DoAsync(t, a, "updatePhysicalNetwork", map[string]string{"id": pnID, "state": "Enabled"})
	topoRefuse(t, e, a, "updatePhysicalNetwork", map[string]string{"id": pnID, "vlan": "100-200"}, 431)

	pod := topoObj(t, mgmttest.Do(t, a, "createPod", map[string]string{"zoneid": zone, "name": "pod1", "gateway": "10.10.0.1",
		"netmask": "255.255.255.0", "startip": "10.10.0.10", "endip": "10.10.0.50"}), "pod")["id"].(string)
	guest := map[string]string{"podid": pod, "gateway": "10.10.0.1", "netmask": "255.255.255.0", "startip": "10.10.0.100",
		"endip": "10.10.0.199", "forvirtualnetwork": "True"}
	if text := topoRefuse(t, e, a, "createVlanIpRange", guest, 431); !strings.Contains(text, "guest IP ranges only") {
		t.Errorf("public range in a basic zone: %s", text)
	}
	guest["forvirtualnetwork"] = "False"
	topoRefuse(t, e, a, "createVlanIpRange", map[string]string{"zoneid": zone, "gateway": "10.10.0.1", "netmask": "255.255.255.0",
		"startip": "10.10.0.100", "forvirtualnetwork": "False"}, 431) // no podid
	topoRefuse(t, e, a, "createVlanIpRange", map[string]string{"podid": pod, "gateway": "10.10.0.1", "netmask": "255.255.255.0",
		"startip": "10.10.0.40", "endip": "10.10.0.120", "forvirtualnetwork": "False"}, 431) // the pod's management range
	v := topoObj(t, mgmttest.Do(t, a, "createVlanIpRange", guest), "vlan")
	topoWant(t, "basic guest range", v, "vlan", "vlan://untagged", "podid", pod, "podname", "pod1", "physicalnetworkid", pnID,
		"forvirtualnetwork", false, "zoneid", zone)
	if n := topoCap(t, e, db.CapDirectPublicIP, zone); n != 100 {
		t.Errorf("direct IP capacity %d, want 100", n)
	}
	if n := topoCap(t, e, db.CapPublicIP, zone); n != -1 {
		t.Errorf("a basic zone has a public IP capacity row: %d", n)
	}
	// A basic SG zone is enabled without Public traffic.
	mgmttest.Do(t, a, "updateZone", map[string]string{"id": zone, "allocationstate": "Enabled"})

	// The pod's guest range goes with the pod, unless one of its addresses is in use.
	topoExec(t, e, "UPDATE public_ips SET state = 'Allocated' WHERE address = '10.10.0.150'")
	if text := topoRefuse(t, e, a, "deletePod", map[string]string{"id": pod}, 536); !strings.Contains(text, "in use") {
		t.Errorf("deletePod with an allocated guest address: %s", text)
	}
	topoExec(t, e, "UPDATE public_ips SET state = 'Free' WHERE address = '10.10.0.150'")
	mgmttest.Do(t, a, "deletePod", map[string]string{"id": pod})
	if res := mgmttest.Do(t, a, "listVlanIpRanges", map[string]string{"zoneid": zone}); len(res) != 0 {
		t.Errorf("ranges left after deleting their pod: %v", res)
	}
	if n := topoCap(t, e, db.CapDirectPublicIP, zone); n != 0 {
		t.Errorf("direct IP capacity after deleting the pod: %d", n)
	}
}
