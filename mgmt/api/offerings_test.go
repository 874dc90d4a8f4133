package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// byName indexes a list answer by "name".
func byName(t *testing.T, res map[string]any, key string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, it := range items(res, key) {
		out[it["name"].(string)] = it
	}
	return out
}

// A fresh cloud lists CloudStack's defaults under CloudStack's names, to tenants too.
func TestDefaultCatalogue(t *testing.T) { defaultCatalogue(t, mgmttest.Options{}) }

func TestDefaultCatalogueMariaDB(t *testing.T) { defaultCatalogue(t, mgmttest.Options{MySQL: true}) }

func defaultCatalogue(t *testing.T, o mgmttest.Options) {
	e := mgmttest.Start(t, o)
	bob, _ := tenant(t, e, "bob", "0", "")
	for _, c := range []*struct{ name string }{{"admin"}, {"bob"}} {
		client := e.Admin
		if c.name == "bob" {
			client = bob
		}
		so := byName(t, mgmttest.Do(t, client, "listServiceOfferings", nil), "serviceoffering")
		small, medium := so["Small Instance"], so["Medium Instance"]
		if small == nil || small["cpunumber"].(float64) != 1 || small["cpuspeed"].(float64) != 500 || small["memory"].(float64) != 512 ||
			small["iscustomized"] != false || small["storagetype"] != "shared" {
			t.Errorf("%s: Small Instance %v", c.name, small)
		}
		if medium == nil || medium["cpuspeed"].(float64) != 1000 || medium["memory"].(float64) != 1024 {
			t.Errorf("%s: Medium Instance %v", c.name, medium)
		}
		if _, sys := so["System Offering For Software Router"]; sys {
			t.Errorf("%s: a system offering is listed without issystem", c.name)
		}
		do := byName(t, mgmttest.Do(t, client, "listDiskOfferings", nil), "diskoffering")
		for name, gb := range map[string]float64{"Small": 5, "Medium": 20, "Large": 100, "Custom": 0} {
			if do[name] == nil || do[name]["disksize"].(float64) != gb || do[name]["iscustomized"] != (gb == 0) {
				t.Errorf("%s: disk offering %s: %v", c.name, name, do[name])
			}
		}
		no := byName(t, mgmttest.Do(t, client, "listNetworkOfferings", nil), "networkoffering")
		for name, gt := range map[string]string{"DefaultIsolatedNetworkOfferingWithSourceNatService": "Isolated",
			"DefaultIsolatedNetworkOffering": "Isolated", "DefaultSharedNetworkOffering": "Shared", "DefaultSharedNetworkOfferingWithSGService": "Shared"} {
			o := no[name]
			if o == nil || o["guestiptype"] != gt || o["state"] != "Enabled" || o["isdefault"] != true {
				t.Errorf("%s: network offering %s: %v", c.name, name, o)
			}
		}
		sn := no["DefaultIsolatedNetworkOfferingWithSourceNatService"]
		services := map[string]string{}
		for _, s := range sn["service"].([]any) {
			m := s.(map[string]any)
			services[m["name"].(string)] = m["provider"].([]any)[0].(map[string]any)["name"].(string)
		}
		for _, s := range []string{"Dhcp", "Dns", "UserData", "Firewall", "Gateway", "Lb", "SourceNat", "StaticNat", "PortForwarding", "Vpn"} {
			if services[s] != "VirtualRouter" {
				t.Errorf("%s: source NAT offering service %s provider %q", c.name, s, services[s])
			}
		}
		if sn["availability"] != "Required" || sn["specifyvlan"] != false {
			t.Errorf("source NAT offering: %v", sn)
		}
		if sg := no["DefaultSharedNetworkOfferingWithSGService"]; !strings.Contains(offeringsJSON(sg["service"]), "SecurityGroupProvider") {
			t.Errorf("SG offering services %v", sg["service"])
		}
		vpc := byName(t, mgmttest.Do(t, client, "listVPCOfferings", map[string]string{"state": "Enabled", "isdefault": "true"}), "vpcoffering")
		if vpc["Default VPC offering"] == nil {
			t.Errorf("%s: no Default VPC offering: %v", c.name, vpc)
		}
		ot := mgmttest.Do(t, client, "listOsTypes", nil)
		found := map[string]map[string]any{}
		for _, o := range items(ot, "ostype") {
			found[o["description"].(string)] = o
		}
		for _, d := range []string{"Other Linux (64-bit)", "Other (64-bit)", "Ubuntu 22.04 LTS", "Debian GNU/Linux 12 (64-bit)", "CentOS Stream 9",
			"Rocky Linux 9", "AlmaLinux 9", "Red Hat Enterprise Linux 9.0", "SUSE Linux Enterprise Server 15 (64-bit)", "Fedora Linux (64 bit)",
			"Windows Server 2022 (64-bit)", "Windows 11 (64-bit)"} {
			if found[d] == nil {
				t.Errorf("%s: OS type %s missing", c.name, d)
			}
		}
		if o := found["Other Linux (64-bit)"]; o != nil && o["oscategoryname"] != "Other" {
			t.Errorf("Other Linux (64-bit) category %v", o["oscategoryname"])
		}
		cats := byName(t, mgmttest.Do(t, client, "listOsCategories", nil), "oscategory")
		for _, n := range []string{"Ubuntu", "Debian", "Fedora", "CentOS", "Rocky Linux", "Alma Linux", "RedHat", "SUSE", "Windows", "Other"} {
			if cats[n] == nil {
				t.Errorf("%s: OS category %s missing", c.name, n)
			}
		}
		// Filters.
		if l := items(mgmttest.Do(t, client, "listOsTypes", map[string]string{"description": "other linux (64-bit)"}), "ostype"); len(l) != 1 {
			t.Errorf("listOsTypes by description: %v", l)
		}
		// A part of the description matches, as CloudStack's LIKE %description%; LIKE's own
		// wildcards are taken literally.
		ubuntu := items(mgmttest.Do(t, client, "listOsTypes", map[string]string{"description": "ubuntu"}), "ostype")
		for _, o := range ubuntu {
			if d := o["description"].(string); !strings.Contains(strings.ToLower(d), "ubuntu") {
				t.Errorf("listOsTypes description=ubuntu listed %q", d)
			}
		}
		if len(ubuntu) < 2 {
			t.Errorf("listOsTypes description=ubuntu: %d types, want the Ubuntu family", len(ubuntu))
		}
		if l := items(mgmttest.Do(t, client, "listOsTypes", map[string]string{"description": "%"}), "ostype"); len(l) != 0 {
			t.Errorf("listOsTypes description=%%: %d types, want none", len(l))
		}
		if l := items(mgmttest.Do(t, client, "listOsTypes", map[string]string{"oscategoryid": cats["Windows"]["id"].(string)}), "ostype"); len(l) < 4 {
			t.Errorf("listOsTypes by category: %d", len(l))
		}
		paged := mgmttest.Do(t, client, "listOsTypes", map[string]string{"page": "2", "pagesize": "5"})
		if len(items(paged, "ostype")) != 5 || paged["count"].(float64) < 30 {
			t.Errorf("listOsTypes paged: %d items, count %v", len(items(paged, "ostype")), paged["count"])
		}
	}
	mgmttest.Fail(t, bob, "listServiceOfferings", map[string]string{"issystem": "true"}, 531)
	sys := byName(t, mgmttest.Do(t, e.Admin, "listServiceOfferings", map[string]string{"issystem": "true"}), "serviceoffering")
	if sys["System Offering For Software Router"] == nil {
		t.Errorf("system offerings: %v", sys)
	}
}

// createServiceOffering, fixed and custom, with CloudStack's validation; domain-restricted
// offerings are seen only in their domain tree; update and delete.
func TestServiceOfferings(t *testing.T) { serviceOfferings(t, mgmttest.Options{}) }

func TestServiceOfferingsMariaDB(t *testing.T) { serviceOfferings(t, mgmttest.Options{MySQL: true}) }

func serviceOfferings(t *testing.T, o mgmttest.Options) {
	e := mgmttest.Start(t, o)
	sub := mgmttest.Do(t, e.Admin, "createDomain", map[string]string{"name": "sub"})["domain"].(map[string]any)["id"].(string)
	alice, _ := tenant(t, e, "alice", "0", sub)
	bob, _ := tenant(t, e, "bob", "0", "")
	subadmin, _ := tenant(t, e, "subadmin", "2", sub)

	fixed := mgmttest.Do(t, e.Admin, "createServiceOffering", map[string]string{"name": "big", "displaytext": "Big one", "cpunumber": "4",
		"cpuspeed": "2000", "memory": "8192", "hosttags": "ssd-host", "tags": "ssd, fast", "offerha": "true", "limitcpuuse": "true",
		"deploymentplanner": "UserDispersingPlanner", "storagetype": "local", "rootdisksize": "40", "provisioningtype": "fat",
		"serviceofferingdetails[0].foo": "bar"})["serviceoffering"].(map[string]any)
	for k, want := range map[string]any{"name": "big", "displaytext": "Big one", "cpunumber": 4.0, "cpuspeed": 2000.0, "memory": 8192.0,
		"hosttags": "ssd-host", "storagetags": "ssd,fast", "offerha": true, "limitcpuuse": true, "deploymentplanner": "UserDispersingPlanner",
		"storagetype": "local", "rootdisksize": 40.0, "provisioningtype": "fat", "iscustomized": false, "issystem": false, "state": "Active"} {
		if fixed[k] != want {
			t.Errorf("fixed offering %s = %v, want %v", k, fixed[k], want)
		}
	}
	if d, _ := fixed["serviceofferingdetails"].(map[string]any); d["foo"] != "bar" {
		t.Errorf("details %v", fixed["serviceofferingdetails"])
	}
	custom := mgmttest.Do(t, e.Admin, "createServiceOffering", map[string]string{"name": "custom", "displaytext": "Custom",
		"customized": "true", "cpuspeed": "1000", "mincpunumber": "1", "maxcpunumber": "8", "minmemory": "512", "maxmemory": "16384"})["serviceoffering"].(map[string]any)
	if custom["iscustomized"] != true || custom["cpunumber"] != nil || custom["memory"] != nil {
		t.Errorf("custom offering %v", custom)
	}
	if d, _ := custom["serviceofferingdetails"].(map[string]any); d["mincpunumber"] != "1" || d["maxcpunumber"] != "8" || d["minmemory"] != "512" || d["maxmemory"] != "16384" {
		t.Errorf("custom bounds %v", custom["serviceofferingdetails"])
	}
	// Bounds through serviceofferingdetails (key/value form) and an unconstrained custom offering.
	viaDetails := mgmttest.Do(t, e.Admin, "createServiceOffering", map[string]string{"name": "custom2", "displaytext": "c2",
		"serviceofferingdetails[0].key": "mincpunumber", "serviceofferingdetails[0].value": "2",
		"serviceofferingdetails[1].key": "maxcpunumber", "serviceofferingdetails[1].value": "4",
		"serviceofferingdetails[2].key": "minmemory", "serviceofferingdetails[2].value": "1024",
		"serviceofferingdetails[3].key": "maxmemory", "serviceofferingdetails[3].value": "2048"})["serviceoffering"].(map[string]any)
	if viaDetails["iscustomized"] != true || viaDetails["serviceofferingdetails"].(map[string]any)["maxmemory"] != "2048" {
		t.Errorf("custom via details %v", viaDetails)
	}
	// listServiceOfferings with cpunumber/memory keeps custom offerings whose bounds admit them.
	fit := byName(t, mgmttest.Do(t, e.Admin, "listServiceOfferings", map[string]string{"cpunumber": "6", "memory": "4096"}), "serviceoffering")
	if fit["custom"] == nil || fit["custom2"] != nil || fit["big"] != nil || fit["Small Instance"] != nil {
		t.Errorf("listServiceOfferings cpunumber=6 memory=4096: %v", keys(fit))
	}

	before := fingerprint(t, e)
	for _, c := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"cpunumber": "1"}, "specify the memory value between 32"},
		{map[string]string{"memory": "512"}, "specify the cpu number value between 1"},
		{map[string]string{"cpunumber": "0", "memory": "512"}, "specify the cpu number value between 1"},
		{map[string]string{"cpunumber": "1", "memory": "16"}, "specify the memory value between 32"},
		{map[string]string{"customized": "true", "cpunumber": "1"}, "cpu and memory all should be null"},
		{map[string]string{"customized": "true", "mincpunumber": "4", "maxcpunumber": "2", "minmemory": "512", "maxmemory": "1024"}, "must not be greater"},
		{map[string]string{"customized": "true", "mincpunumber": "1"}, "should all be specified"},
		{map[string]string{"cpunumber": "1", "memory": "512", "storagetype": "nvme"}, "Invalid storage type nvme"},
		{map[string]string{"cpunumber": "1", "memory": "512", "deploymentplanner": "Magic"}, "Invalid name for Deployment Planner"},
		{map[string]string{"cpunumber": "1", "memory": "512", "miniops": "500", "maxiops": "100"}, "min IOPS must be less than or equal"},
		{map[string]string{"cpunumber": "1", "memory": "512", "systemvmtype": "domainrouter"}, "not a system offering"},
		{map[string]string{"cpunumber": "1", "memory": "512", "domainid": "00000000-0000-4000-8000-000000000000"}, "Unable to find domain"},
		{map[string]string{"cpunumber": "1", "memory": "512", "diskofferingid": "00000000-0000-4000-8000-000000000000"}, "Unable to find disk offering"},
	} {
		p := map[string]string{"name": "bad", "displaytext": "bad"}
		for k, v := range c.params {
			p[k] = v
		}
		if text := mgmttest.Fail(t, e.Admin, "createServiceOffering", p, 431); !strings.Contains(text, c.want) {
			t.Errorf("createServiceOffering %v: %q, want %q", c.params, text, c.want)
		}
	}
	mgmttest.Fail(t, alice, "createServiceOffering", map[string]string{"name": "x", "displaytext": "x", "cpunumber": "1", "memory": "512"}, 432)
	mgmttest.Fail(t, subadmin, "createServiceOffering", map[string]string{"name": "x", "displaytext": "x", "cpunumber": "1", "memory": "512"}, 531)
	if fingerprint(t, e) != before {
		t.Error("a refused createServiceOffering changed the database")
	}

	// A domain admin creates one for its own domain; alice (in sub) sees it, bob does not.
	subOffer := mgmttest.Do(t, subadmin, "createServiceOffering", map[string]string{"name": "subonly", "displaytext": "Sub only",
		"cpunumber": "1", "memory": "256", "domainid": sub})["serviceoffering"].(map[string]any)
	if subOffer["domainid"] != sub || subOffer["domain"] != "sub" {
		t.Errorf("sub offering %v", subOffer)
	}
	if byName(t, mgmttest.Do(t, alice, "listServiceOfferings", nil), "serviceoffering")["subonly"] == nil {
		t.Error("alice does not see her domain's offering")
	}
	if byName(t, mgmttest.Do(t, bob, "listServiceOfferings", nil), "serviceoffering")["subonly"] != nil {
		t.Error("bob sees another domain's offering")
	}
	mgmttest.Fail(t, bob, "listServiceOfferings", map[string]string{"domainid": sub}, 531)
	if l := items(mgmttest.Do(t, e.Admin, "listServiceOfferings", map[string]string{"domainid": sub}), "serviceoffering"); len(l) != 1 || l[0]["name"] != "subonly" {
		t.Errorf("listServiceOfferings domainid=sub: %v", l)
	}
	// Subadmin may not change public offerings.
	mgmttest.Fail(t, subadmin, "updateServiceOffering", map[string]string{"id": fixed["id"].(string), "name": "mine"}, 531)
	mgmttest.Fail(t, subadmin, "deleteServiceOffering", map[string]string{"id": fixed["id"].(string)}, 531)

	// Update (what cs_service_offering sends) and the Ansible lookup by name and issystem.
	up := mgmttest.Do(t, e.Admin, "updateServiceOffering", map[string]string{"id": fixed["id"].(string), "name": "bigger",
		"displaytext": "Bigger", "hosttags": "h2", "storagetags": "ssd"})["serviceoffering"].(map[string]any)
	if up["name"] != "bigger" || up["displaytext"] != "Bigger" || up["hosttags"] != "h2" || up["storagetags"] != "ssd" || up["cpunumber"].(float64) != 4 {
		t.Errorf("updated %v", up)
	}
	if l := items(mgmttest.Do(t, e.Admin, "listServiceOfferings", map[string]string{"name": "bigger", "issystem": "false"}), "serviceoffering"); len(l) != 1 {
		t.Errorf("list by name: %v", l)
	}
	mgmttest.Fail(t, e.Admin, "updateServiceOffering", map[string]string{"id": fixed["id"].(string), "state": "Gone"}, 431)
	// Inactive offerings are hidden unless asked for.
	mgmttest.Do(t, e.Admin, "updateServiceOffering", map[string]string{"id": custom["id"].(string), "state": "Inactive"})
	if byName(t, mgmttest.Do(t, e.Admin, "listServiceOfferings", nil), "serviceoffering")["custom"] != nil {
		t.Error("an Inactive offering is listed by default")
	}
	if byName(t, mgmttest.Do(t, e.Admin, "listServiceOfferings", map[string]string{"state": "all"}), "serviceoffering")["custom"] == nil {
		t.Error("state=all hides an Inactive offering")
	}
	// Delete; a second delete is refused.
	mgmttest.Do(t, e.Admin, "deleteServiceOffering", map[string]string{"id": fixed["id"].(string)})
	if l := items(mgmttest.Do(t, e.Admin, "listServiceOfferings", map[string]string{"id": fixed["id"].(string), "state": "all"}), "serviceoffering"); len(l) != 0 {
		t.Errorf("deleted offering listed: %v", l)
	}
	mgmttest.Fail(t, e.Admin, "deleteServiceOffering", map[string]string{"id": fixed["id"].(string)}, 431)
	// Paging.
	pg := mgmttest.Do(t, e.Admin, "listServiceOfferings", map[string]string{"page": "1", "pagesize": "1"})
	if len(items(pg, "serviceoffering")) != 1 || pg["count"].(float64) < 3 {
		t.Errorf("paged: %v", pg)
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// createDiskOffering, fixed and custom, validation, visibility of hidden offerings, update, delete.
func TestDiskOfferings(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	bob, _ := tenant(t, e, "bob", "0", "")
	d := mgmttest.Do(t, e.Admin, "createDiskOffering", map[string]string{"name": "fast50", "displaytext": "Fast 50", "disksize": "50",
		"tags": "ssd", "storagetype": "shared", "miniops": "100", "maxiops": "1000", "provisioningtype": "sparse"})["diskoffering"].(map[string]any)
	for k, want := range map[string]any{"disksize": 50.0, "iscustomized": false, "tags": "ssd", "miniops": 100.0, "maxiops": 1000.0,
		"provisioningtype": "sparse", "displayoffering": true, "storagetype": "shared"} {
		if d[k] != want {
			t.Errorf("disk offering %s = %v, want %v", k, d[k], want)
		}
	}
	c := mgmttest.Do(t, e.Admin, "createDiskOffering", map[string]string{"name": "any", "displaytext": "Any size", "customized": "true"})["diskoffering"].(map[string]any)
	if c["iscustomized"] != true || c["disksize"].(float64) != 0 {
		t.Errorf("custom disk offering %v", c)
	}
	before := fingerprint(t, e)
	for _, b := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"disksize": "0"}, "at least 1 GB"},
		{map[string]string{"disksize": "5000"}, "maximum size for a disk is 1024 GB"},
		{map[string]string{"disksize": "5", "miniops": "10", "maxiops": "5"}, "min IOPS must be less than or equal"},
		{map[string]string{"disksize": "5", "storagetype": "tape"}, "Invalid storage type"},
		{map[string]string{"disksize": "5", "provisioningtype": "thick"}, "Invalid provisioning type"},
	} {
		p := map[string]string{"name": "bad", "displaytext": "bad"}
		for k, v := range b.params {
			p[k] = v
		}
		if text := mgmttest.Fail(t, e.Admin, "createDiskOffering", p, 431); !strings.Contains(text, b.want) {
			t.Errorf("createDiskOffering %v: %q, want %q", b.params, text, b.want)
		}
	}
	mgmttest.Fail(t, bob, "createDiskOffering", map[string]string{"name": "x", "displaytext": "x", "disksize": "1"}, 432)
	if fingerprint(t, e) != before {
		t.Error("a refused createDiskOffering changed the database")
	}
	// cs_disk_offering's update: displayoffering=false hides it from tenants.
	up := mgmttest.Do(t, e.Admin, "updateDiskOffering", map[string]string{"id": d["id"].(string), "name": "fast50b", "displaytext": "F",
		"displayoffering": "false"})["diskoffering"].(map[string]any)
	if up["name"] != "fast50b" || up["displayoffering"] != false || up["disksize"].(float64) != 50 {
		t.Errorf("updated %v", up)
	}
	if byName(t, mgmttest.Do(t, bob, "listDiskOfferings", nil), "diskoffering")["fast50b"] != nil {
		t.Error("a hidden disk offering is listed to a tenant")
	}
	if byName(t, mgmttest.Do(t, e.Admin, "listDiskOfferings", map[string]string{"name": "fast50b"}), "diskoffering")["fast50b"] == nil {
		t.Error("admin does not see the hidden offering")
	}
	mgmttest.Fail(t, bob, "deleteDiskOffering", map[string]string{"id": d["id"].(string)}, 432)
	mgmttest.Do(t, e.Admin, "deleteDiskOffering", map[string]string{"id": d["id"].(string)})
	if l := items(mgmttest.Do(t, e.Admin, "listDiskOfferings", map[string]string{"id": d["id"].(string)}), "diskoffering"); len(l) != 0 {
		t.Errorf("deleted disk offering listed %v", l)
	}
	mgmttest.Fail(t, e.Admin, "updateDiskOffering", map[string]string{"id": d["id"].(string), "name": "z"}, 431)
}

// createNetworkOffering starts Disabled as CloudStack does; updateNetworkOffering enables it;
// names are unique; services, providers and capabilities are validated and listed.
func TestNetworkOfferings(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	bob, _ := tenant(t, e, "bob", "0", "")
	o := mgmttest.Do(t, e.Admin, "createNetworkOffering", map[string]string{"name": "iso-nat", "displaytext": "Isolated NAT",
		"guestiptype": "Isolated", "traffictype": "GUEST", "supportedservices": "Dhcp,Dns,SourceNat,StaticNat,UserData",
		"serviceproviderlist[0].service": "Dhcp", "serviceproviderlist[0].provider": "VirtualRouter",
		"serviceproviderlist[1].service": "UserData", "serviceproviderlist[1].provider": "ConfigDrive",
		"servicecapabilitylist[0].service": "SourceNat", "servicecapabilitylist[0].capabilitytype": "SupportedSourceNatTypes",
		"servicecapabilitylist[0].capabilityvalue": "perzone", "egressdefaultpolicy": "true", "tags": "t1", "state": "present",
		"availability": "Optional"})["networkoffering"].(map[string]any)
	if o["state"] != "Disabled" || o["guestiptype"] != "Isolated" || o["traffictype"] != "Guest" || o["egressdefaultpolicy"] != true ||
		o["isdefault"] != false || o["tags"] != "t1" || o["conservemode"] != true {
		t.Errorf("created %v", o)
	}
	js := offeringsJSON(o["service"])
	for _, s := range []string{`"name":"ConfigDrive"`, `"value":"perzone"`, `"name":"StaticNat"`} {
		if !strings.Contains(js, s) {
			t.Errorf("services %s lack %s", js, s)
		}
	}
	en := mgmttest.Do(t, e.Admin, "updateNetworkOffering", map[string]string{"id": o["id"].(string), "state": "Enabled",
		"displaytext": "Isolated NAT 2", "maxconnections": "100"})["networkoffering"].(map[string]any)
	if en["state"] != "Enabled" || en["displaytext"] != "Isolated NAT 2" || en["maxconnections"].(float64) != 100 {
		t.Errorf("updated %v", en)
	}
	before := fingerprint(t, e)
	for _, b := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"name": "iso-nat"}, "already exists"},
		{map[string]string{"guestiptype": "Bridged"}, "Invalid guest type"},
		{map[string]string{"traffictype": "Public"}, "Only traffic type Guest"},
		{map[string]string{"supportedservices": "Dhcp,Teleport"}, "Invalid service Teleport"},
		{map[string]string{"supportedservices": "Dhcp", "serviceproviderlist[0].service": "Dns", "serviceproviderlist[0].provider": "VirtualRouter"}, "is not enabled for the network offering"},
		{map[string]string{"supportedservices": "Dhcp", "serviceproviderlist[0].service": "Dhcp", "serviceproviderlist[0].provider": "Nobody"}, "Invalid service provider"},
		{map[string]string{"guestiptype": "Shared", "supportedservices": "Dhcp,SourceNat"}, "SourceNat service is not supported"},
		{map[string]string{"guestiptype": "Shared", "supportedservices": "Dhcp", "specifyipranges": "false"}, "SpecifyIpRanges should always be true"},
		{map[string]string{"supportedservices": "Dhcp", "availability": "Required"}, "Availability can be Required only"},
		{map[string]string{"supportedservices": "Dhcp", "availability": "Sometimes"}, "Invalid value for Availability"},
	} {
		p := map[string]string{"name": "bad", "displaytext": "bad", "guestiptype": "Isolated", "traffictype": "Guest"}
		for k, v := range b.params {
			p[k] = v
		}
		if text := mgmttest.Fail(t, e.Admin, "createNetworkOffering", p, 431); !strings.Contains(text, b.want) {
			t.Errorf("createNetworkOffering %v: %q, want %q", b.params, text, b.want)
		}
	}
	mgmttest.Fail(t, bob, "createNetworkOffering", map[string]string{"name": "x", "displaytext": "x", "guestiptype": "Isolated", "traffictype": "Guest"}, 432)
	def := byName(t, mgmttest.Do(t, e.Admin, "listNetworkOfferings", map[string]string{"name": "DefaultSharedNetworkOffering"}), "networkoffering")
	mgmttest.Fail(t, e.Admin, "deleteNetworkOffering", map[string]string{"id": def["DefaultSharedNetworkOffering"]["id"].(string)}, 431)
	mgmttest.Fail(t, e.Admin, "updateNetworkOffering", map[string]string{"id": o["id"].(string), "state": "Broken"}, 431)
	if fingerprint(t, e) != before {
		t.Error("a refused network offering call changed the database")
	}
	// Filters: supportedservices, sourcenatsupported, guestiptype, state, forvpc.
	l := byName(t, mgmttest.Do(t, bob, "listNetworkOfferings", map[string]string{"supportedservices": "SourceNat,StaticNat", "guestiptype": "isolated", "forvpc": "false"}), "networkoffering")
	if l["iso-nat"] == nil || l["DefaultIsolatedNetworkOfferingWithSourceNatService"] == nil || l["DefaultIsolatedNetworkOffering"] != nil || len(l) != 2 {
		t.Errorf("filtered %v", keys(l))
	}
	if l := items(mgmttest.Do(t, e.Admin, "listNetworkOfferings", map[string]string{"state": "Disabled"}), "networkoffering"); len(l) != 0 {
		t.Errorf("Disabled offerings: %v", l)
	}
	mgmttest.Do(t, e.Admin, "deleteNetworkOffering", map[string]string{"id": o["id"].(string)})
	if l := items(mgmttest.Do(t, e.Admin, "listNetworkOfferings", map[string]string{"name": "iso-nat"}), "networkoffering"); len(l) != 0 {
		t.Errorf("deleted offering listed: %v", l)
	}
	// The name is free again.
	mgmttest.Do(t, e.Admin, "createNetworkOffering", map[string]string{"name": "iso-nat", "displaytext": "again", "guestiptype": "L2", "traffictype": "Guest"})
}

func offeringsJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// createVPCOffering, updateVPCOffering and deleteVPCOffering are async as in CloudStack; bad
// services are refused at once and change nothing.
func TestVPCOfferings(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	bob, _ := tenant(t, e, "bob", "0", "")
	o := mgmttest.DoAsync(t, e.Admin, "createVPCOffering", map[string]string{"name": "my-vpc", "displaytext": "My VPC",
		"supportedservices":              "Dhcp,Dns,SourceNat,NetworkACL,Lb,UserData",
		"serviceproviderlist[0].service": "Lb", "serviceproviderlist[0].provider": "InternalLbVm"})["vpcoffering"].(map[string]any)
	if o["state"] != "Disabled" || o["isdefault"] != false || !strings.Contains(offeringsJSON(o["service"]), `"InternalLbVm"`) {
		t.Errorf("created %v", o)
	}
	before := fingerprint(t, e)
	for _, b := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"supportedservices": "Dhcp,SecurityGroup"}, "not supported in VPC"},
		{map[string]string{"supportedservices": "Dhcp", "serviceproviderlist[0].service": "Dhcp", "serviceproviderlist[0].provider": "Nobody"}, "Invalid service provider"},
		{map[string]string{"name": "my-vpc", "supportedservices": "Dhcp"}, "already exists"},
	} {
		p := map[string]string{"name": "bad", "displaytext": "bad"}
		for k, v := range b.params {
			p[k] = v
		}
		if text := mgmttest.Fail(t, e.Admin, "createVPCOffering", p, 431); !strings.Contains(text, b.want) {
			t.Errorf("createVPCOffering %v: %q, want %q", b.params, text, b.want)
		}
	}
	def := items(mgmttest.Do(t, e.Admin, "listVPCOfferings", map[string]string{"isdefault": "true"}), "vpcoffering")[0]
	mgmttest.Fail(t, e.Admin, "deleteVPCOffering", map[string]string{"id": def["id"].(string)}, 431)
	mgmttest.Fail(t, bob, "createVPCOffering", map[string]string{"name": "x", "displaytext": "x"}, 432)
	if fingerprint(t, e) != before {
		t.Error("a refused VPC offering call changed the database")
	}
	up := mgmttest.DoAsync(t, e.Admin, "updateVPCOffering", map[string]string{"id": o["id"].(string), "state": "Enabled", "displaytext": "VPC 2"})["vpcoffering"].(map[string]any)
	if up["state"] != "Enabled" || up["displaytext"] != "VPC 2" {
		t.Errorf("updated %v", up)
	}
	if l := byName(t, mgmttest.Do(t, bob, "listVPCOfferings", map[string]string{"state": "Enabled", "supportedservices": "NetworkACL"}), "vpcoffering"); l["my-vpc"] == nil || l["Default VPC offering"] == nil {
		t.Errorf("listed %v", keys(l))
	}
	mgmttest.DoAsync(t, e.Admin, "deleteVPCOffering", map[string]string{"id": o["id"].(string)})
	if l := items(mgmttest.Do(t, e.Admin, "listVPCOfferings", map[string]string{"id": o["id"].(string)}), "vpcoffering"); len(l) != 0 {
		t.Errorf("deleted VPC offering listed %v", l)
	}
}
