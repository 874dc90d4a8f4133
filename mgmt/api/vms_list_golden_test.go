package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// TestVMListGolden proves that listVirtualMachines answers byte for byte what an earlier
// build answered over the same database. With ATOLL_LIST_GOLDEN=<dir>, the first run builds a
// varied data set (deployed VMs with tags, affinity groups, key pairs, user data, details, a
// data disk, two NICs, destroyed and stopped VMs, and 1,200 more rows cloned from them) in
// <dir>/atoll.db and records the answers of many list calls (admin, domain admin, tenant;
// filters, paging, details, userdata) in <dir>/answers; later runs (with another build) answer
// the same calls over a copy of that database and must match the recorded bytes.
func TestVMListGolden(t *testing.T) {
	dir := os.Getenv("ATOLL_LIST_GOLDEN")
	if dir == "" {
		t.Skip("set ATOLL_LIST_GOLDEN=<dir> to record or compare")
	}
	fresh := false
	if _, err := os.Stat(filepath.Join(dir, "atoll.db")); err != nil {
		fresh = true
		if err := os.MkdirAll(filepath.Join(dir, "answers"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	work := t.TempDir()
	if !fresh {
		for _, f := range []string{"atoll.db", "secrets.key"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(work, f), b, 0o600)
		}
	} else {
		work = dir
	}
	e := mgmttest.Start(t, mgmttest.Options{DBURL: "sqlite://" + filepath.Join(work, "atoll.db"), KeyFile: filepath.Join(work, "secrets.key")})
	var keys map[string][2]string
	if fresh {
		keys = goldenData(t, e)
		b, _ := json.Marshal(keys)
		os.WriteFile(filepath.Join(dir, "keys.json"), b, 0o600)
	} else {
		b, err := os.ReadFile(filepath.Join(dir, "keys.json"))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(b, &keys)
	}
	keys["admin"] = [2]string{e.Admin.Key, e.Admin.Secret}
	var ids struct{ VM, VM2, Net, Host, Group, Tmpl, Offer, Zone string }
	if b, err := os.ReadFile(filepath.Join(dir, "ids.json")); err == nil {
		json.Unmarshal(b, &ids)
	}
	calls := []struct {
		who string
		p   map[string]string
	}{
		{"admin", map[string]string{"listall": "true"}},
		{"admin", map[string]string{"listall": "true", "page": "1", "pagesize": "500"}},
		{"admin", map[string]string{"listall": "true", "page": "2", "pagesize": "500"}},
		{"admin", map[string]string{"listall": "true", "page": "3", "pagesize": "500"}},
		{"admin", map[string]string{"listall": "true", "page": "1", "pagesize": "3"}},
		{"admin", map[string]string{"listall": "true", "page": "9", "pagesize": "500"}},
		{"admin", map[string]string{}},
		{"admin", map[string]string{"listall": "true", "details": "min"}},
		{"admin", map[string]string{"listall": "true", "userdata": "true", "page": "1", "pagesize": "50"}},
		{"admin", map[string]string{"listall": "true", "userdata": "true"}},
		{"admin", map[string]string{"listall": "true", "state": "Running"}},
		{"admin", map[string]string{"listall": "true", "state": "present"}},
		{"admin", map[string]string{"listall": "true", "state": "Destroyed"}},
		{"admin", map[string]string{"listall": "true", "keyword": "web"}},
		{"admin", map[string]string{"listall": "true", "name": "web-1"}},
		{"admin", map[string]string{"listall": "true", "id": ids.VM}},
		{"admin", map[string]string{"listall": "true", "ids": ids.VM + "," + ids.VM2}},
		{"admin", map[string]string{"listall": "true", "networkid": ids.Net}},
		{"admin", map[string]string{"listall": "true", "hostid": ids.Host}},
		{"admin", map[string]string{"listall": "true", "zoneid": ids.Zone, "page": "2", "pagesize": "100"}},
		{"admin", map[string]string{"listall": "true", "templateid": ids.Tmpl}},
		{"admin", map[string]string{"listall": "true", "serviceofferingid": ids.Offer}},
		{"admin", map[string]string{"listall": "true", "affinitygroupid": ids.Group}},
		{"admin", map[string]string{"listall": "true", "keypair": "kp1"}},
		{"admin", map[string]string{"listall": "true", "groupid": "g1"}},
		{"admin", map[string]string{"listall": "true", "tags[0].key": "tier", "tags[0].value": "web"}},
		{"admin", map[string]string{"listall": "true", "retrieveonlyresourcecount": "true"}},
		{"admin", map[string]string{"listall": "true", "haenable": "false", "page": "1", "pagesize": "20"}},
		{"admin", map[string]string{"listall": "true", "displayvm": "true", "page": "4", "pagesize": "300"}},
		{"tenant", map[string]string{}},
		{"tenant", map[string]string{"listall": "true"}},
		{"tenant", map[string]string{"page": "2", "pagesize": "100"}},
		{"tenant", map[string]string{"state": "Destroyed"}},
		{"tenant2", map[string]string{"listall": "true"}},
		{"subadmin", map[string]string{"listall": "true"}},
		{"subadmin", map[string]string{"listall": "true", "page": "1", "pagesize": "2"}},
		{"subadmin", map[string]string{}},
	}
	var bad []string
	for i, cl := range calls {
		k := keys[cl.who]
		got := goldenCall(t, e.URL, k[0], k[1], cl.p)
		f := filepath.Join(dir, "answers", fmt.Sprintf("%02d.json", i))
		if fresh {
			os.WriteFile(f, got, 0o644)
			continue
		}
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Power reports after the restart move lastupdated; everything else must be identical.
		got, want = lastUpdated.ReplaceAll(got, []byte(`"lastupdated":"-"`)), lastUpdated.ReplaceAll(want, []byte(`"lastupdated":"-"`))
		if !bytes.Equal(got, want) {
			n := 0
			for n < len(got) && n < len(want) && got[n] == want[n] {
				n++
			}
			bad = append(bad, fmt.Sprintf("call %d %s %v: %d bytes, want %d; first difference at %d: got %q want %q", i, cl.who, cl.p,
				len(got), len(want), n, got[max(0, n-80):min(len(got), n+80)], want[max(0, n-80):min(len(want), n+80)]))
		}
	}
	if fresh {
		t.Logf("recorded %d answers in %s", len(calls), dir)
	}
	for _, b := range bad {
		t.Error(b)
	}
}

var lastUpdated = regexp.MustCompile(`"lastupdated":"[^"]*"`)

func goldenCall(t *testing.T, endpoint, key, secret string, p map[string]string) []byte {
	t.Helper()
	q := map[string]string{"command": "listVirtualMachines", "response": "json", "apiKey": key, "signatureVersion": "3",
		"expires": time.Now().Add(10 * time.Minute).UTC().Format("2006-01-02T15:04:05-0700")}
	for k, v := range p {
		q[k] = v
	}
	q["signature"] = iam.Sign(q, secret)
	form := url.Values{}
	for k, v := range q {
		form.Set(k, v)
	}
	resp, err := http.PostForm(endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(fmt.Sprintf("%d\n", resp.StatusCode)), b...)
}

// goldenData builds the data set and returns the callers' keys.
func goldenData(t *testing.T, e *mgmttest.Env) map[string][2]string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, k := range []string{"allow.user.view.destroyed.vm", "expunge.delay"} {
		v := "true"
		if k == "expunge.delay" {
			v = "100000"
		}
		mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": k, "value": v})
	}
	if err := mgmt.DemoWith(ctx, e.Admin, mgmt.DemoOptions{Zone: "gz", Clusters: 1, HostsPerCluster: 2,
		HostQuery: "cpunumber=64&cpuspeed=2000&memory=819200"}); err != nil {
		t.Fatal(err)
	}
	z := mgmttest.Do(t, e.Admin, "listZones", map[string]string{"name": "gz"})["zone"].([]any)[0].(map[string]any)["id"].(string)
	var hosts []string
	for _, h := range mgmttest.Do(t, e.Admin, "listHosts", map[string]string{"zoneid": z, "type": "Routing"})["host"].([]any) {
		hosts = append(hosts, h.(map[string]any)["id"].(string))
	}
	mgmttest.Do(t, e.Admin, "listTemplates", map[string]string{"templatefilter": "featured"})
	so := mgmttest.Do(t, e.Admin, "createServiceOffering", map[string]string{"name": "g-small", "displaytext": "g small",
		"cpunumber": "1", "cpuspeed": "500", "memory": "128"})["serviceoffering"].(map[string]any)["id"].(string)
	custom := mgmttest.Do(t, e.Admin, "createServiceOffering", map[string]string{"name": "g-custom", "displaytext": "g custom",
		"customized": "true"})["serviceoffering"].(map[string]any)["id"].(string)
	var diskOffering string
	for _, d := range mgmttest.Do(t, e.Admin, "listDiskOfferings", nil)["diskoffering"].([]any) {
		if m := d.(map[string]any); m["name"] == "Small" {
			diskOffering = m["id"].(string)
		}
	}
	var noID string
	for _, o := range mgmttest.Do(t, e.Admin, "listNetworkOfferings", nil)["networkoffering"].([]any) {
		if m := o.(map[string]any); m["name"] == "DefaultIsolatedNetworkOfferingWithSourceNatService" {
			noID = m["id"].(string)
		}
	}
	sub := mgmttest.Do(t, e.Admin, "createDomain", map[string]string{"name": "gsub"})["domain"].(map[string]any)["id"].(string)
	ten, tenIDs := tenant(t, e, "gold", "0", "")
	ten2, _ := tenant(t, e, "gold2", "0", sub)
	subadmin, _ := tenant(t, e, "goldsub", "2", sub)
	net := func(c *api.Client, name, gw string) string {
		return mgmttest.Do(t, c, "createNetwork", map[string]string{"name": name, "displaytext": name, "networkofferingid": noID, "zoneid": z,
			"gateway": gw, "netmask": "255.255.0.0"})["network"].(map[string]any)["id"].(string)
	}
	n1, n2, n3 := net(ten, "gn1", "10.1.0.1"), net(ten, "gn2", "10.2.0.1"), net(ten2, "gn3", "10.3.0.1")
	mgmttest.Do(t, ten, "createSSHKeyPair", map[string]string{"name": "kp1"})
	mgmttest.Do(t, ten, "createSSHKeyPair", map[string]string{"name": "kp2"})
	ag := mgmttest.DoAsync(t, ten, "createAffinityGroup", map[string]string{"name": "spread", "type": "host anti-affinity"})
	_ = ag
	agID := mgmttest.Do(t, ten, "listAffinityGroups", map[string]string{"name": "spread"})["affinitygroup"].([]any)[0].(map[string]any)["id"].(string)
	deploy := func(c *api.Client, p map[string]string) map[string]any {
		q := map[string]string{"serviceofferingid": so, "templateid": db.SimulatorTemplateID, "zoneid": z}
		for k, v := range p {
			q[k] = v
		}
		return mgmttest.DoAsync(t, c, "deployVirtualMachine", q)["virtualmachine"].(map[string]any)
	}
	vm1 := deploy(ten, map[string]string{"name": "web-1", "displayname": "Web One", "networkids": n1 + "," + n2, "keypair": "kp1",
		"userdata": "aGVsbG8=", "group": "g1", "affinitygroupids": agID, "diskofferingid": diskOffering})
	vm2 := deploy(ten, map[string]string{"name": "web-2", "networkids": n1, "keypairs": "kp1,kp2", "affinitygroupids": agID,
		"serviceofferingid": custom, "details[0].cpuNumber": "2", "details[0].cpuSpeed": "700", "details[0].memory": "256"})
	vm3 := deploy(ten, map[string]string{"name": "db-1", "networkids": n2, "startvm": "false"})
	vm4 := deploy(ten, map[string]string{"name": "old-1", "networkids": n1})
	mgmttest.DoAsync(t, ten, "destroyVirtualMachine", map[string]string{"id": vm4["id"].(string)})
	vm5 := deploy(ten2, map[string]string{"name": "sub-1", "networkids": n3})
	_ = vm3
	_ = vm5
	mgmttest.DoAsync(t, ten, "createTags", map[string]string{"resourcetype": "UserVm", "resourceids": vm1["id"].(string),
		"tags[0].key": "tier", "tags[0].value": "web", "tags[1].key": "owner", "tags[1].value": "ops"})
	mgmttest.DoAsync(t, ten, "createTags", map[string]string{"resourcetype": "UserVm", "resourceids": vm2["id"].(string),
		"tags[0].key": "tier", "tags[0].value": "web"})

	// 1,200 more rows cloned from the deployed ones, with their NICs.
	q := e.Server.DB.SQL
	all, _, err := db.ListVMs(ctx, q, db.VMFilter{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Seq < all[j].Seq })
	tx, err := q.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1200; i++ {
		src := all[i%len(all)]
		nics, err := db.ListNics(ctx, tx, db.NicFilter{VMID: src.ID})
		if err != nil {
			t.Fatal(err)
		}
		v := *src
		v.ID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		v.Name = fmt.Sprintf("clone-%04d", i)
		v.DisplayName = strings.ToUpper(v.Name)
		if i%3 == 0 {
			v.DisplayName = ""
		}
		v.Created = 1700000000000 + int64(i)*1000
		if i%5 == 0 {
			v.State, v.HostID, v.PowerState = db.VMStopped, "", db.PowerOff
		}
		if i%11 == 0 {
			v.Details = map[string]string{"key\"q": fmt.Sprintf("<v%d>&\u2028é", i)}
		}
		if i%13 == 0 {
			v.SecurityGroups = "default, 11111111-2222-4333-8444-555555555555"
		}
		if i%17 == 0 {
			v.Group, v.HAEnabled, v.DisplayVM = "g1", true, false
		}
		if i%19 == 0 {
			v.DiskOfferingID = diskOffering
			v.UserData = "d29ybGQ="
		}
		if i%23 == 0 {
			v.ISOID = v.TemplateID
		}
		if err := db.InsertVM(ctx, tx, &v); err != nil {
			t.Fatal(err)
		}
		for k, n := range nics {
			c := *n
			c.ID = fmt.Sprintf("00000000-0000-4000-9000-%010d%02d", i, k)
			c.VMID = v.ID
			c.IPAddress = fmt.Sprintf("10.%d.%d.%d", 100+k, i/250, i%250+2)
			c.MACAddress = fmt.Sprintf("02:01:00:%02x:%02x:%02x", k, i/256, i%256)
			if i%7 == 0 {
				c.IP6Address, c.BroadcastURI = "fd00::1", "vlan://123"
			}
			if err := db.InsertNic(ctx, tx, &c); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var ids struct{ VM, VM2, Net, Host, Group, Tmpl, Offer, Zone string }
	ids.VM, ids.VM2, ids.Net, ids.Host, ids.Group = vm1["id"].(string), vm2["id"].(string), n1, hosts[1], agID
	ids.Tmpl, ids.Offer, ids.Zone = db.SimulatorTemplateID, so, z
	b, _ := json.Marshal(ids)
	os.WriteFile(filepath.Join(filepath.Dir(e.DBURL[len("sqlite://"):]), "ids.json"), b, 0o644)
	_ = tenIDs
	return map[string][2]string{"tenant": {ten.Key, ten.Secret}, "tenant2": {ten2.Key, ten2.Secret}, "subadmin": {subadmin.Key, subadmin.Secret}}
}
