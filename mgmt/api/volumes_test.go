package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/hypervisor/simulator"
	"github.com/atollcloud/atoll/mgmt/agents/agentstest"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

const gib = int64(1) << 30

// volEnv is a Simulator zone with one Up host, a cluster-scoped pool and an image store, two
// disk offerings, and two tenants.
type volEnv struct {
	e                   *mgmttest.Env
	zone, pod, cluster  string
	host, pool, store   string
	custom, fixed       string // disk offerings: custom size; 5 GiB
	alice, bob          *api.Client
	aliceAcct, aliceDom string
	bobAcct             string
}

func newVolEnv(t *testing.T, e *mgmttest.Env) *volEnv {
	t.Helper()
	v := &volEnv{e: e}
	v.zone, v.pod = infraZonePod(t, e, "vz")
	// Enabling a zone through updateZone needs its networks; this test needs none.
	if _, err := e.Server.DB.SQL.Exec("UPDATE zones SET allocation_state = 'Enabled' WHERE id = ?", v.zone); err != nil {
		t.Fatal(err)
	}
	v.cluster = infraCluster(t, e, v.zone, v.pod, "vc", "Simulator")["id"].(string)
	h := addSimHost(t, e, agentstest.Infra{Zone: v.zone, Pod: v.pod, Cluster: v.cluster}, "vc/h0", nil)
	v.host = h["id"].(string)
	agentstest.WaitHost(t, e.Server.DB, v.host, 10*time.Second, "Up", agentstest.Status(db.HostStatusUp))
	v.pool = mgmttest.Do(t, e.Admin, "createStoragePool", map[string]string{"zoneid": v.zone, "podid": v.pod, "clusterid": v.cluster,
		"name": "vp", "url": "nfs://203.0.113.9/export/vp", "provider": "DefaultPrimary", "scope": "cluster"})["storagepool"].(map[string]any)["id"].(string)
	v.store = mgmttest.Do(t, e.Admin, "addImageStore", map[string]string{"name": "vs", "url": "nfs://203.0.113.20/export/vs",
		"provider": "nfs", "zoneid": v.zone})["imagestore"].(map[string]any)["id"].(string)
	ctx := context.Background()
	v.custom, v.fixed = uuid.NewString(), uuid.NewString()
	for _, o := range []*db.DiskOffering{
		{ID: v.custom, Name: "vol-custom", DisplayText: "custom", Customized: true, Created: db.Now()},
		{ID: v.fixed, Name: "vol-fixed", DisplayText: "5 GB", DiskSize: 5 * gib, Created: db.Now()},
	} {
		if err := db.InsertDiskOffering(ctx, e.Server.DB.SQL, o); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	v.alice, ids = tenant(t, e, "valice", "0", "")
	v.aliceAcct = ids[0]
	a, err := db.GetAccount(ctx, e.Server.DB.SQL, v.aliceAcct)
	if err != nil {
		t.Fatal(err)
	}
	v.aliceDom = a.DomainID
	v.bob, ids = tenant(t, e, "vbob", "0", "")
	v.bobAcct = ids[0]
	return v
}

// vm inserts a VM of alice's in the zone on the host (its ROOT volume on the pool) in the given
// state; a Running one is started on the simulated host too.
func (v *volEnv) vm(t *testing.T, state string) *db.VM {
	t.Helper()
	ctx := context.Background()
	vm := &db.VM{ID: uuid.NewString(), Name: "vm-" + uuid.NewString()[:6], AccountID: v.aliceAcct, DomainID: v.aliceDom, ZoneID: v.zone,
		PodID: v.pod, ClusterID: v.cluster, ServiceOfferingID: uuid.NewString(), HypervisorType: "Simulator", CPUNumber: 1, CPUSpeed: 500,
		Memory: 512, State: state, DisplayVM: true, Created: db.Now()}
	if state == db.VMRunning {
		vm.HostID = v.host
	}
	if err := db.InsertVM(ctx, v.e.Server.DB.SQL, vm); err != nil {
		t.Fatal(err)
	}
	root := &db.Volume{ID: uuid.NewString(), Name: "ROOT-" + vm.Name, AccountID: v.aliceAcct, DomainID: v.aliceDom, ZoneID: v.zone,
		PodID: v.pod, PoolID: v.pool, VMID: vm.ID, Type: db.VolumeRoot, Size: gib, State: db.VolumeReady, Path: "root", DisplayVolume: true,
		HypervisorType: "Simulator", Created: db.Now()}
	if err := db.InsertVolume(ctx, v.e.Server.DB.SQL, root); err != nil {
		t.Fatal(err)
	}
	// What a deploy would have reserved: the ROOT disk's bytes and a running VM's compute.
	l := planner.New(v.e.Server.API.Config)
	if err := v.e.Server.DB.Transaction(ctx, func(tx db.Tx) error {
		if err := l.ReserveStorage(ctx, tx, v.pool, root.Size, planner.Options{}); err != nil {
			return err
		}
		if state != db.VMRunning {
			return nil
		}
		return l.ReserveCompute(ctx, tx, v.host, planner.Compute{CPUMHz: int64(vm.CPUNumber) * vm.CPUSpeed, Cores: int64(vm.CPUNumber),
			Memory: vm.Memory << 20}, planner.Options{})
	}); err != nil {
		t.Fatal(err)
	}
	if state == db.VMRunning {
		v.sim(t).StartVM(ctx, hypervisor.VMSpec{Name: vm.InstanceName()})
	}
	return vm
}

// ledgerMatches recomputes the capacity ledger from the rows and fails on any difference.
func (v *volEnv) ledgerMatches(t *testing.T) {
	t.Helper()
	r, err := planner.New(v.e.Server.API.Config).Recompute(context.Background(), v.e.Server.DB.SQL, planner.VMUsage)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("the capacity ledger differs from its recomputation: %v", r.Mismatches)
	}
}

func (v *volEnv) sim(t *testing.T) *simulator.Driver {
	t.Helper()
	d := v.e.Server.Agents.Simulator(v.host)
	if d == nil {
		t.Fatal("the simulated host's driver is not running here")
	}
	return d
}

// state fingerprints what volume and snapshot commands change.
func (v *volEnv) state(t *testing.T) string {
	t.Helper()
	return dbtest.Fingerprint(t, v.e.Server.DB.SQL, "volumes", "snapshots", "snapshot_store_refs", "snapshot_policies", "capacity",
		"resource_counts", "resource_tags", "SELECT id, version FROM vm_instances ORDER BY id, version")
}

// outcome fingerprints what a failed job must leave as it was: live rows' values, not their
// versions (a job that changed something and then undid it on a host failure bumps them).
func (v *volEnv) outcome(t *testing.T) string {
	t.Helper()
	return dbtest.Fingerprint(t, v.e.Server.DB.SQL,
		"SELECT id, name, COALESCE(vm_id,''), COALESCE(device_id,0), size, COALESCE(pool_id,''), state, COALESCE(disk_offering_id,'') FROM volumes WHERE removed IS NULL ORDER BY id",
		"SELECT id, state, physical_size FROM snapshots WHERE removed IS NULL ORDER BY id",
		"SELECT capacity_type, object_id, used, reserved FROM capacity ORDER BY capacity_type, object_id",
		// The counts, not last_charge: a failed job charges and gives back, which moves the
		// token of the last charge but no count.
		"SELECT owner_type, owner_id, resource_type, count_value FROM resource_counts ORDER BY 1, 2, 3", "resource_tags")
}

func (v *volEnv) refuse(t *testing.T, c *api.Client, cmd string, p map[string]string, code int) string {
	t.Helper()
	before := v.state(t)
	text := mgmttest.Fail(t, c, cmd, p, code)
	if v.state(t) != before {
		t.Fatalf("%s %v was refused (%s) but changed the database", cmd, p, text)
	}
	return text
}

func (v *volEnv) refuseJob(t *testing.T, c *api.Client, cmd string, p map[string]string, code int) string {
	t.Helper()
	before := v.outcome(t)
	res := mgmttest.Do(t, c, cmd, p)
	j, err := c.Wait(context.Background(), res["jobid"].(string))
	if err != nil {
		t.Fatalf("wait for %s: %v", cmd, err)
	}
	r, _ := j["jobresult"].(map[string]any)
	if j["jobstatus"].(float64) != 2 || fmt.Sprint(r["errorcode"]) != fmt.Sprint(code) {
		t.Fatalf("%s %v: want a failed job with code %d, got %v", cmd, p, code, j)
	}
	if v.outcome(t) != before {
		t.Fatalf("%s %v failed but changed the database", cmd, p)
	}
	return fmt.Sprint(r["errortext"])
}

func (v *volEnv) count(t *testing.T, typ string) int64 {
	t.Helper()
	c, err := db.ResourceCounts(context.Background(), v.e.Server.DB.Read(), "account", v.aliceAcct)
	if err != nil {
		t.Fatal(err)
	}
	return c[typ]
}

func (v *volEnv) poolAllocated(t *testing.T) int64 {
	t.Helper()
	c, err := db.GetCapacity(context.Background(), v.e.Server.DB.Read(), db.CapStorageAlloc, v.pool)
	if err != nil {
		t.Fatal(err)
	}
	return c.Used + c.Reserved
}

func volOf(res map[string]any) map[string]any { return res["volume"].(map[string]any) }

func TestVolumeLifecycle(t *testing.T) { testVolumeLifecycle(t, mgmttest.Start(t, mgmttest.Options{})) }

func TestVolumeLifecycleMariaDB(t *testing.T) {
	dbtest.MySQLBase(t)
	testVolumeLifecycle(t, mgmttest.Start(t, mgmttest.Options{MySQL: true}))
}

func testVolumeLifecycle(t *testing.T, e *mgmttest.Env) {
	v := newVolEnv(t, e)
	vm := v.vm(t, db.VMRunning)
	alloc0 := v.poolAllocated(t)

	// Bad input and impossible requests change nothing.
	v.refuse(t, v.alice, "createVolume", map[string]string{"name": "d", "zoneid": v.zone}, 431)
	v.refuse(t, v.alice, "createVolume", map[string]string{"name": "d", "zoneid": v.zone, "diskofferingid": v.custom}, 431)
	v.refuse(t, v.alice, "createVolume", map[string]string{"name": "d", "zoneid": v.zone, "diskofferingid": v.custom, "size": "5000"}, 431)
	v.refuse(t, v.alice, "createVolume", map[string]string{"name": "d", "zoneid": v.zone, "diskofferingid": v.fixed, "size": "7"}, 431)
	v.refuse(t, v.alice, "createVolume", map[string]string{"name": "d", "zoneid": uuid.NewString(), "diskofferingid": v.fixed}, 431)
	v.refuse(t, v.alice, "createVolume", map[string]string{"name": "d", "diskofferingid": uuid.NewString(), "zoneid": v.zone}, 431)
	v.refuse(t, v.alice, "createVolume", map[string]string{"name": "d", "zoneid": v.zone, "diskofferingid": v.fixed, "size": "x"}, 431)

	// Create: Allocated, counted, on no pool yet; cs_volume's fields.
	d1 := volOf(mgmttest.DoAsync(t, v.alice, "createVolume", map[string]string{"name": "data1", "zoneid": v.zone, "diskofferingid": v.custom, "size": "2"}))
	id := d1["id"].(string)
	for k, want := range map[string]any{"name": "data1", "type": "DATADISK", "state": "Allocated", "size": float64(2 * gib),
		"diskofferingid": v.custom, "zonename": "vz", "account": "valice"} {
		if d1[k] != want {
			t.Errorf("createVolume %s = %v, want %v", k, d1[k], want)
		}
	}
	for _, k := range []string{"attached", "virtualmachineid", "deviceid", "storageid"} {
		if _, ok := d1[k]; ok {
			t.Errorf("a new volume renders %s: %v", k, d1)
		}
	}
	if _, ok := d1["tags"].([]any); !ok {
		t.Errorf("volume without tags list: %v", d1)
	}
	if v.count(t, db.ResVolume) != 1 || v.count(t, db.ResPrimaryStorage) != 2*gib {
		t.Fatalf("counts after create: volume %d primary %d", v.count(t, db.ResVolume), v.count(t, db.ResPrimaryStorage))
	}
	// cs_volume lists DATADISKs of the zone and matches the name; cs_snapshot_policy reads count.
	res := mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"zoneid": v.zone, "type": "DATADISK", "name": "DATA1"})
	if l := items(res, "volume"); len(l) != 1 || l[0]["id"] != id || res["count"] != float64(1) {
		t.Fatalf("listVolumes: %v", res)
	}
	// Another tenant sees nothing of it and can't touch it.
	if l := items(mgmttest.Do(t, v.bob, "listVolumes", map[string]string{"id": id}), "volume"); len(l) != 0 {
		t.Fatalf("bob lists alice's volume: %v", l)
	}
	v.refuse(t, v.bob, "deleteVolume", map[string]string{"id": id}, 531)
	v.refuse(t, v.bob, "resizeVolume", map[string]string{"id": id, "size": "3"}, 531)
	v.refuse(t, v.bob, "createSnapshot", map[string]string{"volumeid": id}, 531)

	// Attach to a running VM: it gets a pool of the VM's cluster and device 1; the host has it.
	v.refuse(t, v.alice, "attachVolume", map[string]string{"id": id, "virtualmachineid": vm.ID, "deviceid": "0"}, 431)
	v.refuse(t, v.alice, "attachVolume", map[string]string{"id": id, "virtualmachineid": vm.ID, "deviceid": "3"}, 431)
	v.refuse(t, v.alice, "attachVolume", map[string]string{"id": id, "virtualmachineid": vm.ID, "deviceid": "99"}, 431)
	v.refuse(t, v.bob, "attachVolume", map[string]string{"id": id, "virtualmachineid": vm.ID}, 531)
	att := volOf(mgmttest.DoAsync(t, v.alice, "attachVolume", map[string]string{"id": id, "virtualmachineid": vm.ID}))
	if att["virtualmachineid"] != vm.ID || att["deviceid"] != float64(1) || att["state"] != "Ready" || att["storageid"] != v.pool {
		t.Fatalf("attachVolume: %v", att)
	}
	if _, ok := att["attached"]; !ok {
		t.Fatalf("attached volume without 'attached': %v", att)
	}
	if got := v.sim(t).AttachedVolumes(vm.InstanceName()); got[id] != 1 {
		t.Fatalf("the host has %v attached", got)
	}
	if got := v.poolAllocated(t) - alloc0; got != 2*gib {
		t.Fatalf("pool allocation after attach: +%d", got)
	}
	v.refuse(t, v.alice, "attachVolume", map[string]string{"id": id, "virtualmachineid": vm.ID}, 431)
	v.refuse(t, v.alice, "deleteVolume", map[string]string{"id": id}, 431)

	// Resize: grow (pool and count follow), refuse a shrink without shrinkok.
	v.refuse(t, v.alice, "resizeVolume", map[string]string{"id": id, "size": "1"}, 431)
	r := volOf(mgmttest.DoAsync(t, v.alice, "resizeVolume", map[string]string{"id": id, "size": "4"}))
	if r["size"] != float64(4*gib) || v.poolAllocated(t)-alloc0 != 4*gib || v.count(t, db.ResPrimaryStorage) != 4*gib {
		t.Fatalf("grow: size %v, pool +%d, count %d", r["size"], v.poolAllocated(t)-alloc0, v.count(t, db.ResPrimaryStorage))
	}
	r = volOf(mgmttest.DoAsync(t, v.alice, "resizeVolume", map[string]string{"id": id, "size": "3", "shrinkok": "true"}))
	if r["size"] != float64(3*gib) || v.poolAllocated(t)-alloc0 != 3*gib {
		t.Fatalf("shrink: %v, pool +%d", r["size"], v.poolAllocated(t)-alloc0)
	}
	// A host failure undoes the resize.
	v.sim(t).SetFault("ResizeVolume", simulator.Fault{Fail: true})
	v.refuseJob(t, v.alice, "resizeVolume", map[string]string{"id": id, "size": "6"}, 530)
	v.sim(t).SetFault("ResizeVolume", simulator.Fault{})

	// Snapshot: backed up to the zone's image store, counted on secondary storage.
	v.refuse(t, v.alice, "createSnapshot", map[string]string{"volumeid": id, "zoneids": v.zone}, 432)
	s := mgmttest.DoAsync(t, v.alice, "createSnapshot", map[string]string{"volumeid": id})["snapshot"].(map[string]any)
	if s["state"] != "BackedUp" || s["volumeid"] != id || s["physicalsize"] != float64(3*gib) || s["snapshottype"] != "MANUAL" ||
		s["datastoreid"] != v.store {
		t.Fatalf("createSnapshot: %v", s)
	}
	sid := s["id"].(string)
	if v.count(t, db.ResSnapshot) != 1 || v.count(t, db.ResSecondaryStorage) != 3*gib {
		t.Fatalf("snapshot counts: %d %d", v.count(t, db.ResSnapshot), v.count(t, db.ResSecondaryStorage))
	}
	if l := items(mgmttest.Do(t, v.alice, "listSnapshots", map[string]string{"volumeid": id}), "snapshot"); len(l) != 1 || l[0]["id"] != sid {
		t.Fatalf("listSnapshots: %v", l)
	}
	if l := items(mgmttest.Do(t, v.bob, "listSnapshots", map[string]string{"id": sid}), "snapshot"); len(l) != 0 {
		t.Fatalf("bob lists alice's snapshot: %v", l)
	}
	// Reverting needs the VM stopped.
	v.refuse(t, v.alice, "revertSnapshot", map[string]string{"id": sid}, 431)
	// A failed backup leaves nothing behind.
	v.sim(t).SetFault("CreateSnapshot", simulator.Fault{Fail: true})
	v.refuseJob(t, v.alice, "createSnapshot", map[string]string{"volumeid": id}, 530)
	v.sim(t).SetFault("CreateSnapshot", simulator.Fault{})

	// A volume from the snapshot lands Ready on a pool of the zone.
	fromSnap := volOf(mgmttest.DoAsync(t, v.alice, "createVolume", map[string]string{"name": "restored", "snapshotid": sid}))
	if fromSnap["state"] != "Ready" || fromSnap["size"] != float64(3*gib) || fromSnap["storageid"] != v.pool || fromSnap["snapshotid"] != sid {
		t.Fatalf("createVolume from snapshot: %v", fromSnap)
	}

	// Detach: the host lets go, the volume keeps its pool; ROOT can't be detached.
	roots := items(mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"virtualmachineid": vm.ID, "type": "ROOT"}), "volume")
	if len(roots) != 1 {
		t.Fatalf("ROOT volumes: %v", roots)
	}
	v.refuse(t, v.alice, "detachVolume", map[string]string{"id": roots[0]["id"].(string)}, 431)
	v.refuse(t, v.alice, "detachVolume", map[string]string{}, 431)
	det := volOf(mgmttest.DoAsync(t, v.alice, "detachVolume", map[string]string{"virtualmachineid": vm.ID, "deviceid": "1"}))
	if _, ok := det["attached"]; ok || det["id"] != id || det["storageid"] != v.pool {
		t.Fatalf("detachVolume: %v", det)
	}
	if got := v.sim(t).AttachedVolumes(vm.InstanceName()); len(got) != 0 {
		t.Fatalf("the host still has %v", got)
	}
	// Detached: revert works now.
	mgmttest.DoAsync(t, v.alice, "revertSnapshot", map[string]string{"id": sid})

	// A host that fails to attach leaves the volume as it was.
	v.sim(t).SetFault("AttachVolume", simulator.Fault{Fail: true})
	v.refuseJob(t, v.alice, "attachVolume", map[string]string{"id": id, "virtualmachineid": vm.ID}, 530)
	v.sim(t).SetFault("AttachVolume", simulator.Fault{})

	// Limits: with alice's volume limit at her count, a new volume is refused with 532.
	setLimit := func(max int64) {
		if err := db.SetResourceLimit(context.Background(), e.Server.DB.SQL, "account", v.aliceAcct, db.ResVolume, max); err != nil {
			t.Fatal(err)
		}
	}
	setLimit(v.count(t, db.ResVolume))
	v.refuse(t, v.alice, "createVolume", map[string]string{"name": "over", "zoneid": v.zone, "diskofferingid": v.fixed}, 532)
	setLimit(db.Unlimited)

	// Delete: snapshot, then both volumes; counts and the pool's allocation return to zero.
	mgmttest.DoAsync(t, v.alice, "deleteSnapshot", map[string]string{"id": sid})
	mgmttest.Do(t, v.alice, "deleteVolume", map[string]string{"id": id})
	mgmttest.Do(t, v.alice, "deleteVolume", map[string]string{"id": fromSnap["id"].(string)})
	v.refuse(t, v.alice, "deleteVolume", map[string]string{"id": id}, 431)
	if n, b, s := v.count(t, db.ResVolume), v.count(t, db.ResPrimaryStorage), v.count(t, db.ResSnapshot); n != 0 || b != 0 || s != 0 {
		t.Fatalf("counts after deleting everything: volumes %d, primary %d, snapshots %d", n, b, s)
	}
	if got := v.poolAllocated(t) - alloc0; got != 0 {
		t.Fatalf("pool allocation after deletes: +%d", got)
	}
	if c := v.count(t, db.ResSecondaryStorage); c != 0 {
		t.Fatalf("secondary storage count after deleting the snapshot: %d", c)
	}
	v.ledgerMatches(t)
}

// Attach to a stopped VM needs no host; a volume on a pool the VM's cluster can't reach is
// refused; migrateVolume moves the allocation.
func TestVolumeStoppedVMAndMigrate(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	v := newVolEnv(t, e)
	vm := v.vm(t, db.VMStopped)
	d := volOf(mgmttest.DoAsync(t, v.alice, "createVolume", map[string]string{"name": "d", "zoneid": v.zone, "diskofferingid": v.fixed,
		"virtualmachineid": vm.ID}))
	if d["virtualmachineid"] != vm.ID || d["deviceid"] != float64(1) || d["size"] != float64(5*gib) {
		t.Fatalf("createVolume with virtualmachineid: %v", d)
	}
	// A second cluster-scoped pool in the same cluster: migrate there (admin only).
	p2 := mgmttest.Do(t, e.Admin, "createStoragePool", map[string]string{"zoneid": v.zone, "podid": v.pod, "clusterid": v.cluster,
		"name": "vp2", "url": "nfs://203.0.113.9/export/vp2", "provider": "DefaultPrimary", "scope": "cluster"})["storagepool"].(map[string]any)["id"].(string)
	v.refuse(t, v.alice, "migrateVolume", map[string]string{"volumeid": d["id"].(string), "storageid": p2}, 432)
	v.refuse(t, e.Admin, "migrateVolume", map[string]string{"volumeid": d["id"].(string), "storageid": v.pool}, 431)
	m := volOf(mgmttest.DoAsync(t, e.Admin, "migrateVolume", map[string]string{"volumeid": d["id"].(string), "storageid": p2}))
	if m["storageid"] != p2 || m["state"] != "Ready" {
		t.Fatalf("migrateVolume: %v", m)
	}
	c, err := db.GetCapacity(context.Background(), e.Server.DB.Read(), db.CapStorageAlloc, p2)
	if err != nil || c.Used+c.Reserved != 5*gib {
		t.Fatalf("target pool allocation: %+v %v", c, err)
	}
	// Another cluster's pool can't serve this VM.
	cl2 := infraCluster(t, e, v.zone, v.pod, "vc2", "Simulator")["id"].(string)
	p3 := mgmttest.Do(t, e.Admin, "createStoragePool", map[string]string{"zoneid": v.zone, "podid": v.pod, "clusterid": cl2,
		"name": "vp3", "url": "nfs://203.0.113.9/export/vp3", "provider": "DefaultPrimary", "scope": "cluster"})["storagepool"].(map[string]any)["id"].(string)
	v.refuse(t, e.Admin, "migrateVolume", map[string]string{"volumeid": d["id"].(string), "storageid": p3}, 431)
	// Six data disks at most on a Simulator VM.
	for i := 2; i <= 6; i++ {
		mgmttest.DoAsync(t, v.alice, "createVolume", map[string]string{"name": fmt.Sprint("d", i), "zoneid": v.zone, "diskofferingid": v.fixed,
			"virtualmachineid": vm.ID})
	}
	extra := volOf(mgmttest.DoAsync(t, v.alice, "createVolume", map[string]string{"name": "d7", "zoneid": v.zone, "diskofferingid": v.fixed}))
	v.refuse(t, v.alice, "attachVolume", map[string]string{"id": extra["id"].(string), "virtualmachineid": vm.ID}, 431)
	// Device ids skip the CD-ROM's 3.
	list := items(mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"virtualmachineid": vm.ID, "type": "DATADISK"}), "volume")
	seen := map[float64]bool{}
	for _, l := range list {
		seen[l["deviceid"].(float64)] = true
	}
	if len(list) != 6 || seen[3] || seen[0] {
		t.Fatalf("device ids: %v", seen)
	}
	v.ledgerMatches(t)
}

// Volumes attached to one VM at the same time get distinct device ids; volumes created at the
// same time never take the owner past its limit.
func TestVolumeConcurrency(t *testing.T) {
	testVolumeConcurrency(t, mgmttest.Start(t, mgmttest.Options{}))
}

func TestVolumeConcurrencyMariaDB(t *testing.T) {
	dbtest.MySQLBase(t)
	testVolumeConcurrency(t, mgmttest.Start(t, mgmttest.Options{MySQL: true}))
}

func testVolumeConcurrency(t *testing.T, e *mgmttest.Env) {
	v := newVolEnv(t, e)
	vm := v.vm(t, db.VMRunning)
	var ids []string
	for i := 0; i < 4; i++ {
		ids = append(ids, volOf(mgmttest.DoAsync(t, v.alice, "createVolume", map[string]string{"name": fmt.Sprint("c", i), "zoneid": v.zone,
			"diskofferingid": v.fixed}))["id"].(string))
	}
	ctx := context.Background()
	jobs := make([]string, len(ids))
	for i, id := range ids {
		jobs[i] = mgmttest.Do(t, v.alice, "attachVolume", map[string]string{"id": id, "virtualmachineid": vm.ID})["jobid"].(string)
	}
	devs := map[float64]string{}
	for i, j := range jobs {
		res, err := v.alice.Wait(ctx, j)
		if err != nil || res["jobstatus"] != float64(1) {
			t.Fatalf("attach %s: %v %v", ids[i], res, err)
		}
		d := res["jobresult"].(map[string]any)["volume"].(map[string]any)["deviceid"].(float64)
		if other, dup := devs[d]; dup {
			t.Fatalf("volumes %s and %s both got device %v", other, ids[i], d)
		}
		devs[d] = ids[i]
	}
	if got := v.sim(t).AttachedVolumes(vm.InstanceName()); len(got) != len(ids) {
		t.Fatalf("the host has %v", got)
	}

	if err := db.SetResourceLimit(ctx, e.Server.DB.SQL, "account", v.aliceAcct, db.ResVolume, v.count(t, db.ResVolume)+3); err != nil {
		t.Fatal(err)
	}
	type result struct {
		ok  bool
		err error
	}
	out := make(chan result, 10)
	for i := 0; i < 10; i++ {
		go func(i int) {
			_, err := v.alice.Do(ctx, "createVolume", map[string]string{"name": fmt.Sprint("l", i), "zoneid": v.zone, "diskofferingid": v.fixed})
			out <- result{err == nil, err}
		}(i)
	}
	okN := 0
	for i := 0; i < 10; i++ {
		r := <-out
		if r.ok {
			okN++
		} else if ce, isCE := r.err.(*api.ClientError); !isCE || ce.Status != 532 {
			t.Errorf("a refused createVolume: %v", r.err)
		}
	}
	if okN != 3 {
		t.Fatalf("%d of 10 concurrent createVolume calls passed a limit leaving room for 3", okN)
	}
	v.ledgerMatches(t)
}
