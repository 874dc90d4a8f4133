package api_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

func TestVlanIPRangeRules(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	z := topoAdvanced(t, e, "v")
	other := topoAdvanced(t, e, "w")
	public := func(kv ...string) map[string]string {
		p := map[string]string{"zoneid": z.zone, "vlan": "100", "gateway": "203.0.113.1", "netmask": "255.255.255.0",
			"forvirtualnetwork": "True"}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
			if kv[i+1] == "" {
				delete(p, kv[i])
			}
		}
		return p
	}
	// Extending a VLAN's addresses on the same subnet.
	second := topoObj(t, mgmttest.Do(t, a, "createVlanIpRange", public("startip", "203.0.113.100", "endip", "203.0.113.109", "forvirtualnetwork", "")), "vlan")
	topoWant(t, "second range (forvirtualnetwork defaults to true)", second, "forvirtualnetwork", true, "vlan", "vlan://100")
	if n := topoCap(t, e, db.CapPublicIP, z.zone); n != 60 {
		t.Errorf("public IP capacity %d, want 60", n)
	}
	// A different subnet on another VLAN, dedicated to the admin account.
	root := topoItems(t, mgmttest.Do(t, a, "listDomains", nil), "domain")[0]["id"].(string)
	ded := topoObj(t, mgmttest.Do(t, a, "createVlanIpRange", public("vlan", "vlan://200", "gateway", "198.51.100.1", "startip", "198.51.100.2",
		"endip", "198.51.100.5", "account", "admin", "domainid", root)), "vlan")
	topoWant(t, "dedicated range", ded, "vlan", "vlan://200", "account", "admin", "domainid", root, "domain", "ROOT")
	if n := topoCap(t, e, db.CapPublicIP, z.zone); n != 64 {
		t.Errorf("public IP capacity %d, want 64", n)
	}

	mgmttest.DoAsync(t, a, "updatePhysicalNetwork", map[string]string{"id": z.publicPN, "vlan": "500-600"})
	for _, tc := range []struct {
		p    map[string]string
		text string
	}{
		{public("startip", "203.0.113.50", "endip", "203.0.113.70"), "overlaps"},
		{public("vlan", "101", "startip", "203.0.113.200", "endip", "203.0.113.210"), "overlapped with the subnet"},
		{public("gateway", "203.0.113.254", "startip", "203.0.113.200", "endip", "203.0.113.210"), "already been added with gateway"},
		{public("vlan", "550", "gateway", "192.0.2.1", "startip", "192.0.2.10"), "dynamic vlan allocation"},
		{public("vlan", "vxlan://300", "gateway", "192.0.2.1", "startip", "192.0.2.10"), "vlan"},
		{public("vlan", "5000", "gateway", "192.0.2.1", "startip", "192.0.2.10"), "vlan"},
		{public("vlan", "abc", "gateway", "192.0.2.1", "startip", "192.0.2.10"), "vlan"},
		{public("gateway", "10.0.0.1", "netmask", "255.0.0.0", "startip", "10.0.0.2", "endip", "10.1.0.10"), "at most 65536"},
		{public("gateway", "192.168.10.1", "startip", "192.168.10.50", "endip", "192.168.10.60", "vlan", "300"), "pod"},
		{public("startip", "203.0.113.250", "endip", "203.0.113.240"), "startip"},
		{public("startip", "198.18.0.1"), "startip"},
		{public("startip", ""), "startip"},
		{public("netmask", "255.255.0.255", "startip", "203.0.113.200"), "netmask"},
		{public("startip", "203.0.113.200", "forvirtualnetwork", "False"), "Network id"},
		{public("startip", "203.0.113.200", "networkid", "00000000-0000-4000-8000-000000000000"), "network"},
		{public("startip", "203.0.113.200", "projectid", "00000000-0000-4000-8000-000000000000"), "project"},
		{public("startip", "203.0.113.200", "podid", z.pod), "podid"},
		{public("startip", "203.0.113.200", "physicalnetworkid", other.publicPN), "does not belong"},
		{public("startip", "203.0.113.200", "zoneid", "00000000-0000-4000-8000-000000000000"), "Unable to find zone"},
		{public("startip", "203.0.113.200", "zoneid", "", "physicalnetworkid", ""), "zoneid"},
		{public("startip", "203.0.113.200", "account", "nobody"), "nobody"},
	} {
		if text := topoRefuse(t, e, a, "createVlanIpRange", tc.p, 431); !strings.Contains(text, tc.text) {
			t.Errorf("createVlanIpRange %v: %q does not mention %q", tc.p, text, tc.text)
		}
	}
	// The same addresses in another zone are fine.
	mgmttest.Do(t, a, "createVlanIpRange", map[string]string{"zoneid": other.zone, "vlan": "100", "gateway": "203.0.113.1",
		"netmask": "255.255.255.0", "startip": "203.0.113.100", "endip": "203.0.113.109", "forvirtualnetwork": "True"})

	// Lists as cs_vlan_ip_range and admins filter them.
	for _, tc := range []struct {
		p map[string]string
		n int
	}{
		{map[string]string{"zoneid": z.zone}, 3},
		{map[string]string{"zoneid": z.zone, "vlan": "100"}, 2},
		{map[string]string{"zoneid": z.zone, "vlan": "vlan://200"}, 1},
		{map[string]string{"zoneid": z.zone, "account": "admin", "domainid": root}, 1},
		{map[string]string{"zoneid": z.zone, "forvirtualnetwork": "false"}, 0},
		{map[string]string{"physicalnetworkid": z.publicPN}, 3},
		{map[string]string{"id": second["id"].(string)}, 1},
		{map[string]string{}, 5},
	} {
		if got := topoItems(t, mgmttest.Do(t, a, "listVlanIpRanges", tc.p), "vlaniprange"); len(got) != tc.n {
			t.Errorf("listVlanIpRanges %v: %d ranges, want %d", tc.p, len(got), tc.n)
		}
	}

	// A range with an allocated address stays; freed, it goes and the capacity shrinks.
	topoExec(t, e, "UPDATE public_ips SET state = 'Allocated' WHERE vlan_id = ? AND address = '203.0.113.105'", second["id"])
	if text := topoRefuse(t, e, a, "deleteVlanIpRange", map[string]string{"id": second["id"].(string)}, 536); !strings.Contains(text, "in use") {
		t.Errorf("deleteVlanIpRange with an allocated address: %s", text)
	}
	topoExec(t, e, "UPDATE public_ips SET state = 'Free' WHERE vlan_id = ?", second["id"])
	mgmttest.Do(t, a, "deleteVlanIpRange", map[string]string{"id": second["id"].(string)})
	if n := topoCap(t, e, db.CapPublicIP, z.zone); n != 54 {
		t.Errorf("public IP capacity after deleting a range: %d, want 54", n)
	}
	if n := topoInt(t, e, "SELECT COUNT(*) FROM public_ips WHERE vlan_id = ?", second["id"]); n != 0 {
		t.Errorf("%d addresses left of the deleted range", n)
	}
	topoRefuse(t, e, a, "deleteVlanIpRange", map[string]string{"id": second["id"].(string)}, 431)
	// Its addresses can be added again.
	mgmttest.Do(t, a, "createVlanIpRange", public("startip", "203.0.113.100", "endip", "203.0.113.109"))
}

func TestConcurrentIPRanges(t *testing.T) {
	testConcurrentIPRanges(t, mgmttest.Start(t, mgmttest.Options{}))
}

func TestConcurrentIPRangesMariaDB(t *testing.T) {
	testConcurrentIPRanges(t, mgmttest.Start(t, mgmttest.Options{MySQL: true}))
}

// testConcurrentIPRanges races range creations, half of them overlapping another, and proves
// that no address is taken twice and the capacity total is exactly the addresses created.
func testConcurrentIPRanges(t *testing.T, e *mgmttest.Env) {
	z := topoAdvanced(t, e, "race")
	const n = 12
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Ranges i and i+n cover the same ten addresses of 198.51.100.0/24.
			lo := 10 + 10*(i%n)
			_, err := e.Admin.Do(context.Background(), "createVlanIpRange", map[string]string{"zoneid": z.zone, "vlan": "300",
				"gateway": "198.51.100.1", "netmask": "255.255.255.0", "startip": fmt.Sprintf("198.51.100.%d", lo),
				"endip": fmt.Sprintf("198.51.100.%d", lo+9), "forvirtualnetwork": "true"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else if ce, isAPI := err.(*api.ClientError); !isAPI || ce.Status != 431 {
			t.Errorf("racing createVlanIpRange: %v", err)
		}
	}
	if ok != n {
		t.Errorf("%d racing ranges created, want %d", ok, n)
	}
	if got, want := topoCap(t, e, db.CapPublicIP, z.zone), int64(50+10*n); got != want {
		t.Errorf("public IP capacity %d, want %d", got, want)
	}
	if got := topoInt(t, e, "SELECT COUNT(*) FROM public_ips WHERE zone_id = ?", z.zone); got != int64(50+10*n) {
		t.Errorf("%d public ip rows", got)
	}
}
