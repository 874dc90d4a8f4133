package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/google/uuid"
)

// TestVMScale measures deploys per second end to end (API call to Running, through jobs,
// planner and the Simulator agents) and listVirtualMachines over many VMs. It runs only with
// ATOLL_VM_SCALE=<deploys> (and on MariaDB when ATOLL_TEST_MYSQL is set); ATOLL_VM_LIST sets
// how many VMs the list is measured over (default 25000).
func TestVMScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ATOLL_VM_SCALE"))
	if n <= 0 {
		t.Skip("set ATOLL_VM_SCALE=<deploys> to measure")
	}
	listN := 25000
	if v, _ := strconv.Atoi(os.Getenv("ATOLL_VM_LIST")); v > 0 {
		listN = v
	}
	e := mgmttest.Start(t, mgmttest.Options{MySQL: os.Getenv("ATOLL_TEST_MYSQL") != ""})
	for _, k := range []string{"max.account.user.vms", "max.account.cpus", "max.account.memory", "max.account.volumes", "max.account.primary.storage",
		"max.domain.user.vms", "max.domain.cpus", "max.domain.memory", "max.domain.volumes", "max.domain.primary.storage"} {
		mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": k, "value": "-1"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := mgmt.DemoWith(ctx, e.Admin, mgmt.DemoOptions{Zone: "scale", Clusters: 4, HostsPerCluster: 8,
		HostQuery: "cpunumber=256&cpuspeed=4000&memory=4194304", PoolBytes: 1 << 60}); err != nil {
		t.Fatal(err)
	}
	zoneID := mgmttest.Do(t, e.Admin, "listZones", map[string]string{"name": "scale"})["zone"].([]any)[0].(map[string]any)["id"].(string)
	mgmttest.Do(t, e.Admin, "listTemplates", map[string]string{"templatefilter": "featured"})
	so := mgmttest.Do(t, e.Admin, "createServiceOffering", map[string]string{"name": "tiny", "displaytext": "tiny",
		"cpunumber": "1", "cpuspeed": "100", "memory": "64"})["serviceoffering"].(map[string]any)["id"].(string)
	var noID string
	for _, o := range mgmttest.Do(t, e.Admin, "listNetworkOfferings", nil)["networkoffering"].([]any) {
		if m := o.(map[string]any); m["name"] == "DefaultIsolatedNetworkOfferingWithSourceNatService" {
			noID = m["id"].(string)
		}
	}
	const tenants = 8
	type tn struct {
		c   *api.Client
		net string
	}
	var ts []tn
	for i := 0; i < tenants; i++ {
		c, _ := tenant(t, e, fmt.Sprintf("scale%d", i), "0", "")
		net := mgmttest.Do(t, c, "createNetwork", map[string]string{"name": "n", "displaytext": "n", "networkofferingid": noID, "zoneid": zoneID,
			"gateway": "10.8.0.1", "netmask": "255.255.0.0"})["network"].(map[string]any)["id"].(string)
		ts = append(ts, tn{c, net})
	}
	workers := 64
	lat := make([]time.Duration, n)
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	next := make(chan int)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				tt := ts[i%tenants]
				t0 := time.Now()
				res, err := tt.c.Do(ctx, "deployVirtualMachine", map[string]string{"serviceofferingid": so, "templateid": db.SimulatorTemplateID,
					"zoneid": zoneID, "networkids": tt.net})
				if err == nil {
					var j map[string]any
					j, err = tt.c.Wait(ctx, res["jobid"].(string))
					if err == nil && j["jobstatus"].(float64) != 1 {
						err = fmt.Errorf("job failed: %v", j["jobresult"])
					}
				}
				lat[i] = time.Since(t0)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("deploys: %d in %v = %.0f/s; latency p50 %v p99 %v; failures %d", n, el.Round(time.Millisecond), float64(n)/el.Seconds(),
		lat[n/2].Round(time.Millisecond), lat[n*99/100].Round(time.Millisecond), len(failures))
	if len(failures) > 0 {
		t.Errorf("first failure: %s", failures[0])
	}

	// Fill up to listN VMs directly (one account), then time the list.
	var have int
	e.Server.DB.SQL.QueryRow("SELECT COUNT(*) FROM vm_instances WHERE removed IS NULL").Scan(&have)
	acct := mgmttest.Do(t, ts[0].c, "listAccounts", nil)["account"].([]any)[0].(map[string]any)
	tx, err := e.Server.DB.SQL.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := have; i < listN; i++ {
		id := uuid.NewString()
		v := &db.VM{ID: id, Name: fmt.Sprintf("fill-%d", i), DisplayName: fmt.Sprintf("fill-%d", i), AccountID: acct["id"].(string),
			DomainID: acct["domainid"].(string), ZoneID: zoneID, ServiceOfferingID: so, TemplateID: db.SimulatorTemplateID, CPUNumber: 1,
			CPUSpeed: 100, Memory: 64, State: db.VMStopped, DisplayVM: true, Created: db.Now()}
		if err := db.InsertVM(ctx, tx, v); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertNic(ctx, tx, &db.Nic{ID: uuid.NewString(), VMID: id, NetworkID: ts[0].net, IPAddress: fmt.Sprintf("172.%d.%d.%d", i>>16, (i>>8)&255, i&255),
			MACAddress: db.NewMAC(), IsDefault: true, Created: db.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		// Timed without decoding the answer: the server's work and the transfer.
		t0 := time.Now()
		size := rawList(t, e, map[string]string{"listall": "true"})
		tAll := time.Since(t0)
		t0 = time.Now()
		const pages = 10
		for p := 1; p <= pages; p++ {
			rawList(t, e, map[string]string{"listall": "true", "page": strconv.Itoa(p), "pagesize": "500"})
		}
		tPage := time.Since(t0) / pages
		t.Logf("listVirtualMachines over %d VMs: all at once %v (%d MB), paged by 500 %v per page", listN, tAll.Round(time.Millisecond),
			size>>20, tPage.Round(time.Millisecond))
	}
}

func TestVMListProfile(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ATOLL_VM_LISTPROF"))
	if n <= 0 {
		t.Skip()
	}
	v := newVMEnv(t, os.Getenv("ATOLL_TEST_MYSQL") != "")
	ctx := context.Background()
	dom := rootDomain(t, v.Env)
	tx, _ := v.Server.DB.SQL.Begin()
	for i := 0; i < n; i++ {
		id := uuid.NewString()
		vm := &db.VM{ID: id, Name: fmt.Sprintf("fill-%d", i), AccountID: v.accountID, DomainID: dom, ZoneID: v.zoneID,
			ServiceOfferingID: v.offering, TemplateID: db.SimulatorTemplateID, CPUNumber: 1, CPUSpeed: 100, Memory: 64, State: db.VMStopped,
			DisplayVM: true, Created: db.Now()}
		if err := db.InsertVM(ctx, tx, vm); err != nil {
			t.Fatal(err)
		}
		db.InsertNic(ctx, tx, &db.Nic{ID: uuid.NewString(), VMID: id, NetworkID: v.network, IPAddress: fmt.Sprintf("172.%d.%d.%d", i>>16, (i>>8)&255, i&255),
			MACAddress: db.NewMAC(), IsDefault: true, Created: db.Now()})
	}
	tx.Commit()
	t0 := time.Now()
	list, total, err := db.ListVMs(ctx, v.Server.DB.Read(), db.VMFilter{})
	t.Logf("ListVMs %d/%d: %v %v", len(list), total, time.Since(t0), err)
	t0 = time.Now()
	_, total, err = db.ListVMs(ctx, v.Server.DB.Read(), db.VMFilter{Limit: 500, Offset: 1000})
	t.Logf("ListVMs page: %v %v", time.Since(t0), err)
	ids := make([]string, len(list))
	for i, x := range list {
		ids[i] = x.ID
	}
	t0 = time.Now()
	nics, err := db.ListNics(ctx, v.Server.DB.Read(), db.NicFilter{VMIDs: ids[:1000]})
	t.Logf("ListNics 1000: %d %v %v", len(nics), time.Since(t0), err)
	t0 = time.Now()
	ms, err := db.ListAffinityMembers(ctx, v.Server.DB.Read(), ids[:1000])
	t.Logf("members 1000: %d %v %v", len(ms), time.Since(t0), err)
	t0 = time.Now()
	tg, err := db.TagsFor(ctx, v.Server.DB.Read(), "UserVm", ids)
	t.Logf("tags all: %d %v %v", len(tg), time.Since(t0), err)
	for i := 0; i < 2; i++ {
		t0 = time.Now()
		n := rawList(t, v.Env, map[string]string{"listall": "true"})
		t.Logf("API all: %d bytes in %v", n, time.Since(t0))
		t0 = time.Now()
		n = rawList(t, v.Env, map[string]string{"listall": "true", "page": "3", "pagesize": "500"})
		t.Logf("API page: %d bytes in %v", n, time.Since(t0))
	}
}

// rawList calls listVirtualMachines as the admin and returns the answer's size, without
// decoding it (so that the time is the server's and the transfer's).
func rawList(t *testing.T, e *mgmttest.Env, p map[string]string) int {
	t.Helper()
	q := map[string]string{"command": "listVirtualMachines", "response": "json", "apiKey": e.Admin.Key, "signatureVersion": "3",
		"expires": time.Now().Add(10 * time.Minute).UTC().Format("2006-01-02T15:04:05-0700")}
	for k, v := range p {
		q[k] = v
	}
	q["signature"] = iam.Sign(q, e.Admin.Secret)
	form := url.Values{}
	for k, v := range q {
		form.Set(k, v)
	}
	resp, err := http.PostForm(e.URL, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("list: %d %v %s", resp.StatusCode, err, b[:min(len(b), 300)])
	}
	return len(b)
}
