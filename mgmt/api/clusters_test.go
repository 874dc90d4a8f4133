package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

// infraZonePod makes a zone and a pod in it: through createZone and createPod when they are
// registered, else by inserting the rows (the zone and pod commands were written alongside).
func infraZonePod(t *testing.T, e *mgmttest.Env, name string) (zoneID, podID string) {
	t.Helper()
	reg := e.Server.API.Reg
	if reg.Get("createZone") != nil && reg.Get("createPod") != nil {
		z := mgmttest.Do(t, e.Admin, "createZone", map[string]string{"name": name, "networktype": "Advanced", "dns1": "192.0.2.53",
			"internaldns1": "10.0.0.53"})["zone"].(map[string]any)
		p := mgmttest.Do(t, e.Admin, "createPod", map[string]string{"zoneid": z["id"].(string), "name": name + "-pod", "gateway": "10.1.0.1",
			"netmask": "255.255.255.0", "startip": "10.1.0.10", "endip": "10.1.0.100"})["pod"].(map[string]any)
		return z["id"].(string), p["id"].(string)
	}
	zoneID, podID = uuid.NewString(), uuid.NewString()
	ctx, now := context.Background(), db.Now()
	if _, err := e.Server.DB.SQL.ExecContext(ctx, `INSERT INTO zones (id, name, network_type, dns1, internal_dns1, allocation_state,
		zone_token, live_key, created) VALUES (?, ?, 'Advanced', '192.0.2.53', '10.0.0.53', 'Enabled', ?, ?, ?)`,
		zoneID, name, uuid.NewString(), strings.ToLower(name), now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Server.DB.SQL.ExecContext(ctx, `INSERT INTO pods (id, zone_id, name, gateway, netmask, start_ip, end_ip, allocation_state,
		live_key, created) VALUES (?, ?, ?, '10.1.0.1', '255.255.255.0', '10.1.0.10', '10.1.0.100', 'Enabled', ?, ?)`,
		podID, zoneID, name+"-pod", zoneID+"/"+strings.ToLower(name+"-pod"), now); err != nil {
		t.Fatal(err)
	}
	return zoneID, podID
}

// addCluster adds a cluster and returns it (from addCluster's one-item list).
func infraCluster(t *testing.T, e *mgmttest.Env, zoneID, podID, name, hypervisor string) map[string]any {
	t.Helper()
	res := mgmttest.Do(t, e.Admin, "addCluster", map[string]string{"zoneid": zoneID, "podid": podID, "clustername": name,
		"hypervisor": hypervisor, "clustertype": "CloudManaged"})
	list := items(res, "cluster")
	if len(list) != 1 || res["count"] != float64(1) {
		t.Fatalf("addCluster answered %v, want a one-item list", res)
	}
	return list[0]
}

// infraHost adds a routing host row (as the host code would) with its ledger rows.
func infraHost(t *testing.T, e *mgmttest.Env, zoneID, podID, clusterID string, cpus int, speed, memory int64) string {
	t.Helper()
	id := uuid.NewString()
	ctx := context.Background()
	err := e.Server.DB.Transaction(ctx, func(tx db.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO hosts (id, name, guid, type, zone_id, pod_id, cluster_id, hypervisor_type, status,
			resource_state, cpus, cpu_speed, memory, live_key, created) VALUES (?, ?, ?, 'Routing', ?, ?, ?, 'Simulator', 'Up', 'Enabled', ?, ?, ?, ?, ?)`,
			id, "host-"+id[:8], id, zoneID, podID, clusterID, cpus, speed, memory, id, db.Now()); err != nil {
			return err
		}
		return planner.New(e.Server.API.Config).SetHostCapacity(ctx, tx, db.HostResources{ID: id, ZoneID: zoneID, PodID: podID,
			ClusterID: clusterID, CPUs: cpus, CPUSpeed: speed, Memory: memory})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// infraState hashes every row of the infrastructure tables this family changes, and the
// events, so a test can prove a refused call changed nothing.
func infraState(t *testing.T, e *mgmttest.Env) string {
	t.Helper()
	return dbtest.Fingerprint(t, e.Server.DB.SQL, "clusters", "storage_pools", "image_stores", "capacity", "alerts", "events", "configuration_values", "async_jobs")
}

// refused runs a call that must fail with code, mention want, and change nothing.
func infraRefused(t *testing.T, e *mgmttest.Env, cmd string, params map[string]string, code int, want string) {
	t.Helper()
	before := infraState(t, e)
	text := mgmttest.Fail(t, e.Admin, cmd, params, code)
	if !strings.Contains(text, want) {
		t.Errorf("%s %v: error %q does not say %q", cmd, params, text, want)
	}
	if infraState(t, e) != before {
		t.Errorf("%s %v was refused but changed the database", cmd, params)
	}
}

func infraEvents(t *testing.T, e *mgmttest.Env, resourceID string) []string {
	t.Helper()
	res := mgmttest.Do(t, e.Admin, "listEvents", map[string]string{"resourceid": resourceID, "listall": "true"})
	var out []string
	for _, ev := range items(res, "event") {
		out = append(out, ev["type"].(string))
	}
	return out
}

func TestClusterLifecycle(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	testInfraClusterLifecycle(t, e)
}

func TestClusterLifecycleMariaDB(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{MySQL: true})
	testInfraClusterLifecycle(t, e)
}

func testInfraClusterLifecycle(t *testing.T, e *mgmttest.Env) {
	a := e.Admin
	zoneID, podID := infraZonePod(t, e, "z1")
	cl := infraCluster(t, e, zoneID, podID, "c1", "simulator")
	want := map[string]any{"name": "c1", "zoneid": zoneID, "zonename": "z1", "podid": podID, "podname": "z1-pod", "hypervisortype": "Simulator",
		"clustertype": "CloudManaged", "allocationstate": "Enabled", "managedstate": "Managed", "cpuovercommitratio": "1.0",
		"memoryovercommitratio": "1.0", "arch": "x86_64"}
	for k, v := range want {
		if cl[k] != v {
			t.Errorf("addCluster %s = %v, want %v", k, cl[k], v)
		}
	}
	id := cl["id"].(string)
	kvm := infraCluster(t, e, zoneID, podID, "c2", "KVM")

	// cs_cluster looks clusters up by name alone, without a zone.
	res := mgmttest.Do(t, a, "listClusters", map[string]string{"name": "C1"})
	if l := items(res, "cluster"); len(l) != 1 || l[0]["id"] != id || res["count"] != float64(1) {
		t.Fatalf("listClusters name=C1: %v", res)
	}
	if l := items(mgmttest.Do(t, a, "listClusters", map[string]string{"zoneid": zoneID, "hypervisor": "kvm"}), "cluster"); len(l) != 1 || l[0]["id"] != kvm["id"] {
		t.Fatalf("listClusters hypervisor=kvm: %v", l)
	}
	if l := items(mgmttest.Do(t, a, "listClusters", map[string]string{"podid": podID, "pagesize": "1", "page": "2"}), "cluster"); len(l) != 1 || l[0]["name"] != "c2" {
		t.Fatalf("listClusters page 2: %v", l)
	}
	if res := mgmttest.Do(t, a, "listClusters", map[string]string{"name": "nope"}); len(res) != 0 {
		t.Fatalf("empty list must be {}: %v", res)
	}

	// Over-commit ratios follow the settings at cluster scope.
	mgmttest.Do(t, a, "updateConfiguration", map[string]string{"name": "cpu.overprovisioning.factor", "value": "2", "clusterid": id})
	mgmttest.Do(t, a, "updateConfiguration", map[string]string{"name": "mem.overprovisioning.factor", "value": "1.5", "clusterid": id})
	got := items(mgmttest.Do(t, a, "listClusters", map[string]string{"id": id}), "cluster")[0]
	if got["cpuovercommitratio"] != "2.0" || got["memoryovercommitratio"] != "1.5" {
		t.Errorf("ratios after updateConfiguration: %v", got)
	}
	cfg := items(mgmttest.Do(t, a, "listConfigurations", map[string]string{"name": "cpu.overprovisioning.factor", "clusterid": id}), "configuration")
	if len(cfg) != 1 || cfg[0]["value"] != "2" || cfg[0]["scope"] != "cluster" {
		t.Errorf("listConfigurations at cluster scope: %v", cfg)
	}
	infraRefused(t, e, "updateConfiguration", map[string]string{"name": "cpu.overprovisioning.factor", "value": "3", "clusterid": uuid.NewString()}, 431, "Unable to find cluster by id")

	// cs_cluster's update sends everything back; the answer is an object.
	up := mgmttest.Do(t, a, "updateCluster", map[string]string{"id": id, "clustername": "c1-renamed", "hypervisor": "Simulator",
		"clustertype": "CloudManaged", "allocationstate": "disabled"})["cluster"].(map[string]any)
	if up["name"] != "c1-renamed" || up["allocationstate"] != "Disabled" || up["cpuovercommitratio"] != "2.0" {
		t.Errorf("updateCluster: %v", up)
	}
	mgmttest.Do(t, a, "updateCluster", map[string]string{"id": id, "managedstate": "Unmanaged"})
	if got := items(mgmttest.Do(t, a, "listClusters", map[string]string{"id": id}), "cluster")[0]; got["managedstate"] != "Unmanaged" {
		t.Errorf("managedstate: %v", got)
	}
	if ev := infraEvents(t, e, id); len(ev) != 3 || ev[2] != "CLUSTER.CREATE" || ev[0] != "CLUSTER.UPDATE" {
		t.Errorf("cluster events: %v", ev)
	}

	// Bad input changes nothing.
	otherZone, otherPod := infraZonePod(t, e, "z2")
	base := map[string]string{"zoneid": zoneID, "podid": podID, "clustername": "c3", "hypervisor": "KVM", "clustertype": "CloudManaged"}
	with := func(k, v string) map[string]string {
		p := map[string]string{}
		for key, val := range base {
			p[key] = val
		}
		p[k] = v
		return p
	}
	infraRefused(t, e, "addCluster", with("clustername", "c2"), 431, "already exists")
	infraRefused(t, e, "addCluster", with("hypervisor", "Hyper-X"), 431, "Unable to resolve Hyper-X")
	infraRefused(t, e, "addCluster", with("hypervisor", "vmware"), 431, "Could not find corresponding resource manager for VMware")
	infraRefused(t, e, "addCluster", with("clustertype", "Cloudy"), 431, "Unable to resolve Cloudy")
	infraRefused(t, e, "addCluster", with("allocationstate", "Maybe"), 431, "Allocation State 'Maybe'")
	infraRefused(t, e, "addCluster", with("arch", "sparc"), 431, "sparc")
	infraRefused(t, e, "addCluster", with("zoneid", uuid.NewString()), 431, "Unable to find zone by id")
	infraRefused(t, e, "addCluster", with("podid", uuid.NewString()), 431, "Unable to find pod by id")
	infraRefused(t, e, "addCluster", with("podid", otherPod), 431, "doesn't belong to the zone")
	infraRefused(t, e, "addCluster", with("zoneid", otherZone), 431, "doesn't belong to the zone")
	infraRefused(t, e, "addCluster", with("clustername", "  "), 431, "clustername")
	infraRefused(t, e, "updateCluster", map[string]string{"id": uuid.NewString(), "clustername": "x"}, 431, "Unable to find cluster by id")
	infraRefused(t, e, "updateCluster", map[string]string{"id": id, "clustername": "c2"}, 431, "already exists")
	infraRefused(t, e, "updateCluster", map[string]string{"id": id, "managedstate": "Sometimes"}, 431, "Managed State 'Sometimes'")
	infraRefused(t, e, "updateCluster", map[string]string{"id": id, "hypervisor": "Xen"}, 431, "Unable to resolve Xen")
	infraRefused(t, e, "deleteCluster", map[string]string{"id": uuid.NewString()}, 431, "Unable to find cluster by id")

	mgmttest.Do(t, a, "deleteCluster", map[string]string{"id": id})
	if res := mgmttest.Do(t, a, "listClusters", map[string]string{"id": id}); len(res) != 0 {
		t.Fatalf("deleted cluster listed: %v", res)
	}
	// The name is free again in the pod.
	infraCluster(t, e, zoneID, podID, "c1-renamed", "KVM")
}

// TestDeleteClusterRules proves a cluster with hosts or cluster-scoped pools cannot be deleted,
// and that the hypervisor of a cluster with hosts cannot change.
func TestDeleteClusterRules(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	zoneID, podID := infraZonePod(t, e, "z")
	cl := infraCluster(t, e, zoneID, podID, "c", "Simulator")
	id := cl["id"].(string)

	host := infraHost(t, e, zoneID, podID, id, 4, 2000, 8<<30)
	infraRefused(t, e, "deleteCluster", map[string]string{"id": id}, 536, "Cluster still has hosts")
	infraRefused(t, e, "updateCluster", map[string]string{"id": id, "hypervisor": "KVM"}, 431, "it has 1 host(s)")
	if _, err := e.Server.DB.SQL.ExecContext(context.Background(), "UPDATE hosts SET removed = ?, live_key = NULL WHERE id = ?", db.Now(), host); err != nil {
		t.Fatal(err)
	}
	pool := mgmttest.Do(t, a, "createStoragePool", map[string]string{"zoneid": zoneID, "clusterid": id, "name": "p",
		"url": "nfs://10.0.0.1/export/p"})["storagepool"].(map[string]any)
	infraRefused(t, e, "deleteCluster", map[string]string{"id": id}, 536, "Cluster still has storage pools")
	mgmttest.DoAsync(t, a, "enableStorageMaintenance", map[string]string{"id": pool["id"].(string)})
	mgmttest.Do(t, a, "deleteStoragePool", map[string]string{"id": pool["id"].(string)})
	if res := mgmttest.Do(t, a, "deleteCluster", map[string]string{"id": id}); res["success"] != true {
		t.Fatalf("deleteCluster: %v", res)
	}
	if ev := infraEvents(t, e, id); len(ev) == 0 || ev[0] != "CLUSTER.DELETE" {
		t.Errorf("events: %v", ev)
	}
	// A pool cannot join a deleted cluster.
	infraRefused(t, e, "createStoragePool", map[string]string{"zoneid": zoneID, "clusterid": id, "name": "p2", "url": "nfs://10.0.0.1/export/p2"},
		431, "Unable to find cluster by id")
}
