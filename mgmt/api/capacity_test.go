package api_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

// capacityOf indexes a listCapacity answer by type (one line per type expected).
func capacityOf(t *testing.T, res map[string]any) map[int]map[string]any {
	t.Helper()
	out := map[int]map[string]any{}
	for _, c := range items(res, "capacity") {
		typ := int(c["type"].(float64))
		if _, dup := out[typ]; dup {
			t.Fatalf("type %d listed twice: %v", typ, res)
		}
		out[typ] = c
	}
	return out
}

// TestListCapacity proves listCapacity sums the ledger per zone, pod or cluster, with CPU and
// memory totals over-provisioned by each cluster's factor and allocated storage by each
// pool's, as CloudStack reports them.
func TestListCapacity(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	ctx := context.Background()
	zoneID, podID := infraZonePod(t, e, "zone")
	c1 := infraCluster(t, e, zoneID, podID, "c1", "Simulator")["id"].(string)
	c2 := infraCluster(t, e, zoneID, podID, "c2", "Simulator")["id"].(string)
	mgmttest.Do(t, a, "updateConfiguration", map[string]string{"name": "cpu.overprovisioning.factor", "value": "2", "clusterid": c1})
	h1 := infraHost(t, e, zoneID, podID, c1, 4, 2000, 8<<30) // 8000 MHz × 2
	infraHost(t, e, zoneID, podID, c2, 2, 1000, 4<<30)       // 2000 MHz × 1
	pool := mgmttest.Do(t, a, "createStoragePool", map[string]string{"zoneid": zoneID, "clusterid": c1, "name": "p", "url": "nfs://h/p",
		"capacitybytes": "1000"})["storagepool"].(map[string]any)["id"].(string)
	l := planner.New(e.Server.API.Config)
	err := e.Server.DB.Transaction(ctx, func(tx db.Tx) error {
		if err := l.ReserveCompute(ctx, tx, h1, planner.Compute{CPUMHz: 4500, Cores: 2, Memory: 2 << 30}, planner.Options{}); err != nil {
			return err
		}
		return l.ReserveStorage(ctx, tx, pool, 500, planner.Options{})
	})
	if err != nil {
		t.Fatal(err)
	}
	// Another zone, to show the zone filter works.
	otherZone, otherPod := infraZonePod(t, e, "other")
	oc := infraCluster(t, e, otherZone, otherPod, "oc", "KVM")["id"].(string)
	infraHost(t, e, otherZone, otherPod, oc, 1, 1000, 1<<30)

	res := mgmttest.Do(t, a, "listCapacity", map[string]string{"zoneid": zoneID})
	byType := capacityOf(t, res)
	check := func(typ int, used, total, allocated float64, pct string) {
		t.Helper()
		c, ok := byType[typ]
		if !ok {
			t.Fatalf("no type %d in %v", typ, res)
		}
		if c["capacityused"] != used || c["capacitytotal"] != total || c["capacityallocated"] != allocated || c["percentused"] != pct ||
			c["zoneid"] != zoneID || c["zonename"] != "zone" || c["name"] != planner.TypeName(typ) {
			t.Errorf("type %d: %v; want used %v total %v allocated %v percent %s", typ, c, used, total, allocated, pct)
		}
		if _, ok := c["podid"]; ok {
			t.Errorf("zone-level line has a pod: %v", c)
		}
	}
	check(db.CapCPU, 4500, 18000, 4500, "25")
	check(db.CapMemory, float64(2<<30), float64(12<<30), float64(2<<30), "16.67")
	check(db.CapCPUCore, 2, 6, 2, "33.33")
	check(db.CapStorage, 0, 1000, 500, "0")
	check(db.CapStorageAlloc, 500, 2000, 500, "25")
	if res["count"] != float64(len(byType)) {
		t.Errorf("count %v for %d lines", res["count"], len(byType))
	}

	// Every zone, by zone name; one type.
	all := items(mgmttest.Do(t, a, "listCapacity", map[string]string{"type": "1"}), "capacity")
	if len(all) != 2 || all[0]["zonename"] != "other" || all[1]["zonename"] != "zone" || all[0]["capacitytotal"] != float64(1000) {
		t.Errorf("cpu of all zones: %v", all)
	}
	// Per cluster: the lines name the cluster and its pod.
	cl := capacityOf(t, mgmttest.Do(t, a, "listCapacity", map[string]string{"clusterid": c2}))
	if c := cl[db.CapCPU]; c["clusterid"] != c2 || c["clustername"] != "c2" || c["podid"] != podID || c["podname"] != "zone-pod" || c["capacitytotal"] != float64(2000) {
		t.Errorf("cluster line: %v", c)
	}
	if _, ok := cl[db.CapStorage]; ok {
		t.Errorf("c2 has no pools, yet lists storage: %v", cl)
	}
	if c := capacityOf(t, mgmttest.Do(t, a, "listCapacity", map[string]string{"podid": podID}))[db.CapCPU]; c["podid"] != podID || c["capacitytotal"] != float64(18000) {
		t.Errorf("pod line: %v", c)
	}
	// Sorted by usage: within the zone, per pod, highest first.
	top := items(mgmttest.Do(t, a, "listCapacity", map[string]string{"zoneid": zoneID, "sortby": "Usage"}), "capacity")
	for i := 1; i < len(top); i++ {
		if parsePct(top[i-1]["percentused"]) < parsePct(top[i]["percentused"]) {
			t.Errorf("not sorted by usage: %v", top)
		}
	}
	if page := items(mgmttest.Do(t, a, "listCapacity", map[string]string{"zoneid": zoneID, "page": "2", "pagesize": "2"}), "capacity"); len(page) != 2 {
		t.Errorf("page 2: %v", page)
	}
	// A disabled pool's capacity is not counted.
	mgmttest.Do(t, a, "updateStoragePool", map[string]string{"id": pool, "enabled": "false"})
	if _, ok := capacityOf(t, mgmttest.Do(t, a, "listCapacity", map[string]string{"zoneid": zoneID}))[db.CapStorage]; ok {
		t.Errorf("disabled pool counted")
	}
	if res := mgmttest.Do(t, a, "listCapacity", map[string]string{"zoneid": zoneID, "tag": "gpu"}); len(res) != 0 {
		t.Errorf("tagged capacity: %v", res)
	}
	emptyZone, _ := infraZonePod(t, e, "empty")
	if res := mgmttest.Do(t, a, "listCapacity", map[string]string{"zoneid": emptyZone}); len(res) != 0 {
		t.Errorf("empty zone: %v", res)
	}

	infraRefused(t, e, "listCapacity", map[string]string{"sortby": "name"}, 431, "Only value supported for sortBy parameter is : usage")
	infraRefused(t, e, "listCapacity", map[string]string{"sortby": "usage", "clusterid": c1}, 431, "clusterId param is not supported")
	infraRefused(t, e, "listCapacity", map[string]string{"zoneid": uuid.NewString()}, 431, "Unable to find zone by id")
	infraRefused(t, e, "listCapacity", map[string]string{"podid": uuid.NewString()}, 431, "Unable to find pod by id")
	infraRefused(t, e, "listCapacity", map[string]string{"clusterid": uuid.NewString()}, 431, "Unable to find cluster by id")

	// showcapacities on listClusters.
	withCaps := items(mgmttest.Do(t, a, "listClusters", map[string]string{"id": c1, "showcapacities": "true"}), "cluster")[0]
	caps, _ := withCaps["capacity"].([]any)
	found := false
	for _, c := range caps {
		m := c.(map[string]any)
		if m["type"] == float64(db.CapCPU) && m["capacitytotal"] == float64(16000) && m["clusterid"] == c1 {
			found = true
		}
	}
	if !found {
		t.Errorf("listClusters showcapacities: %v", withCaps)
	}
}

func parsePct(v any) float64 {
	f, _ := strconv.ParseFloat(v.(string), 64)
	return f
}

func TestListAlerts(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	ctx := context.Background()
	if res := mgmttest.Do(t, e.Admin, "listAlerts", nil); len(res) != 0 {
		t.Fatalf("no alerts yet: %v", res)
	}
	var hostAlert db.Alert
	err := e.Server.DB.Transaction(ctx, func(tx db.Tx) error {
		if err := db.InsertAlert(ctx, tx, &db.Alert{Type: db.AlertStorageAllocated, Subject: "Pool p is 90% allocated"}); err != nil {
			return err
		}
		hostAlert = db.Alert{Type: db.AlertHost, Subject: "Host h1 is down", Content: "no heartbeat for 150 s"}
		return db.InsertAlert(ctx, tx, &hostAlert)
	})
	if err != nil {
		t.Fatal(err)
	}
	res := mgmttest.Do(t, e.Admin, "listAlerts", nil)
	l := items(res, "alert")
	if len(l) != 2 || res["count"] != float64(2) {
		t.Fatalf("listAlerts: %v", res)
	}
	if l[0]["id"] != hostAlert.ID || l[0]["type"] != float64(7) || l[0]["name"] != "ALERT.COMPUTE.HOST" || l[0]["description"] != "Host h1 is down" || l[0]["sent"] == nil {
		t.Errorf("newest alert first, with CloudStack's fields: %v", l[0])
	}
	for _, f := range []map[string]string{{"type": "7"}, {"name": "alert.compute.host"}, {"keyword": "DOWN"}, {"id": hostAlert.ID}} {
		if l := items(mgmttest.Do(t, e.Admin, "listAlerts", f), "alert"); len(l) != 1 || l[0]["id"] != hostAlert.ID {
			t.Errorf("listAlerts %v: %v", f, l)
		}
	}
	if res := mgmttest.Do(t, e.Admin, "listAlerts", map[string]string{"type": "0"}); len(res) != 0 {
		t.Errorf("type 0: %v", res)
	}
	infraRefused(t, e, "listAlerts", map[string]string{"type": "host"}, 431, "type")
}

func TestListHypervisors(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	names := func(res map[string]any) []string {
		var out []string
		for _, h := range items(res, "hypervisor") {
			out = append(out, h["name"].(string))
		}
		return out
	}
	if got := names(mgmttest.Do(t, e.Admin, "listHypervisors", nil)); len(got) != 2 || got[0] != "KVM" || got[1] != "Simulator" {
		t.Errorf("listHypervisors: %v", got)
	}
	zoneID, podID := infraZonePod(t, e, "zone")
	if res := mgmttest.Do(t, e.Admin, "listHypervisors", map[string]string{"zoneid": zoneID}); len(res) != 0 {
		t.Errorf("a zone without clusters has no hypervisors: %v", res)
	}
	infraCluster(t, e, zoneID, podID, "a", "Simulator")
	infraCluster(t, e, zoneID, podID, "b", "Simulator")
	if got := names(mgmttest.Do(t, e.Admin, "listHypervisors", map[string]string{"zoneid": zoneID})); len(got) != 1 || got[0] != "Simulator" {
		t.Errorf("zone hypervisors: %v", got)
	}
	infraRefused(t, e, "listHypervisors", map[string]string{"zoneid": uuid.NewString()}, 431, "Unable to find zone by id")
	// Any user may ask (cs_instance does).
	user, _ := tenant(t, e, "u", "0", "")
	if got := names(mgmttest.Do(t, user, "listHypervisors", nil)); len(got) != 2 {
		t.Errorf("as a user: %v", got)
	}
}

func TestListManagementServers(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	res := mgmttest.Do(t, e.Admin, "listManagementServers", nil)
	l := items(res, "managementserver")
	if len(l) != 1 || l[0]["id"] != e.Server.ID || l[0]["state"] != "Up" || l[0]["serviceip"] != "127.0.0.1" || l[0]["version"] == "" ||
		l[0]["lastserverstart"] == nil || l[0]["name"] != t.Name() {
		t.Fatalf("listManagementServers: %v", res)
	}
	if _, ok := l[0]["lastserverstop"]; ok {
		t.Errorf("a running server has a stop time: %v", l[0])
	}
	// A server that stopped heartbeating long ago is Down.
	ctx := context.Background()
	dead := uuid.NewString()
	if err := db.UpsertMgmtServer(ctx, e.Server.DB.SQL, &db.MgmtServer{ID: dead, Name: "dead", Address: "10.9.9.9:8080", Version: "0.0.1",
		State: "Up", Started: 1000, LastSeen: 2000}); err != nil {
		t.Fatal(err)
	}
	d := items(mgmttest.Do(t, e.Admin, "listManagementServers", map[string]string{"name": "DEAD"}), "managementserver")
	if len(d) != 1 || d[0]["state"] != "Down" || d[0]["lastserverstop"] == nil || d[0]["ipaddress"] != "10.9.9.9" {
		t.Errorf("dead server: %v", d)
	}
	if l := items(mgmttest.Do(t, e.Admin, "listManagementServers", map[string]string{"id": dead}), "managementserver"); len(l) != 1 {
		t.Errorf("by id: %v", l)
	}
	if res := mgmttest.Do(t, e.Admin, "listManagementServers", map[string]string{"id": uuid.NewString()}); len(res) != 0 {
		t.Errorf("unknown id: %v", res)
	}
}
