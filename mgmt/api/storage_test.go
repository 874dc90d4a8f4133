package api_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

const tib = float64(10 << 40)

func ledgerRow(t *testing.T, e *mgmttest.Env, typ int, id string) *db.Capacity {
	t.Helper()
	c, err := db.GetCapacity(context.Background(), e.Server.DB.Read(), typ, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStorageProviders(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	for typ, name := range map[string]string{"primary": "DefaultPrimary", "IMAGE": "NFS"} {
		res := mgmttest.Do(t, e.Admin, "listStorageProviders", map[string]string{"type": typ})
		l := items(res, "dataStoreProvider")
		if len(l) != 1 || l[0]["name"] != name || l[0]["type"] != strings.ToUpper(typ) || res["count"] != float64(1) {
			t.Errorf("listStorageProviders type=%s: %v", typ, res)
		}
	}
	infraRefused(t, e, "listStorageProviders", map[string]string{"type": "tape"}, 431, "Invalid parameter: tape")
}

// TestStoragePoolLifecycle walks a pool through cs_storage_pool's calls: create in a Simulator
// cluster (no server contacted), list, update, disable and enable, maintenance and its
// cancellation, and deletion, which needs maintenance.
func TestStoragePoolLifecycle(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	testInfraPoolLifecycle(t, e)
}

func TestStoragePoolLifecycleMariaDB(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{MySQL: true})
	testInfraPoolLifecycle(t, e)
}

func testInfraPoolLifecycle(t *testing.T, e *mgmttest.Env) {
	a := e.Admin
	zoneID, podID := infraZonePod(t, e, "zone")
	cl := infraCluster(t, e, zoneID, podID, "sim", "Simulator")
	clusterID := cl["id"].(string)
	p := mgmttest.Do(t, a, "createStoragePool", map[string]string{"zoneid": zoneID, "podid": podID, "clusterid": clusterID, "name": "primary",
		"url": "nfs://203.0.113.9/export/primary", "provider": "DefaultPrimary", "scope": "cluster", "tags": "ssd,fast"})["storagepool"].(map[string]any)
	id := p["id"].(string)
	want := map[string]any{"name": "primary", "zoneid": zoneID, "zonename": "zone", "podid": podID, "podname": "zone-pod", "clusterid": clusterID,
		"clustername": "sim", "ipaddress": "203.0.113.9", "path": "/export/primary", "type": "NetworkFilesystem", "scope": "CLUSTER",
		"state": "Up", "tags": "ssd,fast", "provider": "DefaultPrimary", "hypervisor": "Simulator", "disksizetotal": tib,
		"capacitybytes": tib, "disksizeallocated": float64(0), "disksizeused": float64(0), "overprovisionfactor": "2.0", "managed": false}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("createStoragePool %s = %v, want %v", k, p[k], v)
		}
	}
	if _, ok := p["capacityiops"]; ok {
		t.Errorf("capacityiops rendered without a value: %v", p)
	}
	for _, typ := range []int{db.CapStorage, db.CapStorageAlloc} {
		if c := ledgerRow(t, e, typ, id); c == nil || c.Total != 10<<40 || !c.Enabled || c.ClusterID != clusterID || c.ZoneID != zoneID {
			t.Errorf("ledger row %d: %+v", typ, c)
		}
	}

	// cs_storage_pool's lookup: zoneid, podid, clusterid, name.
	res := mgmttest.Do(t, a, "listStoragePools", map[string]string{"zoneid": zoneID, "podid": podID, "clusterid": clusterID, "name": "PRIMARY"})
	if l := items(res, "storagepool"); len(l) != 1 || l[0]["id"] != id {
		t.Fatalf("listStoragePools: %v", res)
	}
	if res := mgmttest.Do(t, a, "listStoragePools", map[string]string{"zoneid": zoneID, "name": "other"}); len(res) != 0 {
		t.Fatalf("want {}: %v", res)
	}
	if l := items(mgmttest.Do(t, a, "listStoragePools", map[string]string{"ipaddress": "203.0.113.9", "status": "up", "scope": "cluster"}), "storagepool"); len(l) != 1 {
		t.Fatalf("filters: %v", l)
	}

	// Update: capacity, IOPS and tags, as cs_storage_pool compares them.
	up := mgmttest.Do(t, a, "updateStoragePool", map[string]string{"id": id, "capacitybytes": "2000000000000", "capacityiops": "5000",
		"tags": "gold"})["storagepool"].(map[string]any)
	if up["capacitybytes"] != float64(2e12) || up["disksizetotal"] != float64(2e12) || up["capacityiops"] != float64(5000) || up["tags"] != "gold" {
		t.Errorf("updateStoragePool: %v", up)
	}
	if c := ledgerRow(t, e, db.CapStorageAlloc, id); c.Total != 2e12 {
		t.Errorf("ledger after resize: %+v", c)
	}
	up = mgmttest.Do(t, a, "updateStoragePool", map[string]string{"id": id, "tags": ""})["storagepool"].(map[string]any)
	if _, ok := up["tags"]; ok {
		t.Errorf("tags not cleared: %v", up)
	}

	// Disable and enable (cs_storage_pool's enabled flag).
	if s := mgmttest.Do(t, a, "updateStoragePool", map[string]string{"id": id, "enabled": "false"})["storagepool"].(map[string]any)["state"]; s != "Disabled" {
		t.Fatalf("disabled state %v", s)
	}
	if c := ledgerRow(t, e, db.CapStorageAlloc, id); c.Enabled {
		t.Errorf("ledger of a disabled pool enabled: %+v", c)
	}
	// Disabling a disabled pool (or enabling an Up one) changes nothing and is no error, unlike
	// CloudStack: cs_storage_pool sends enabled=true to an Up pool on its way to maintenance.
	if s := mgmttest.Do(t, a, "updateStoragePool", map[string]string{"id": id, "enabled": "false"})["storagepool"].(map[string]any)["state"]; s != "Disabled" {
		t.Fatalf("disabled twice: %v", s)
	}
	infraRefused(t, e, "enableStorageMaintenance", map[string]string{"id": id}, 431, "is not ready for migration, as the status is:Disabled")
	if s := mgmttest.Do(t, a, "updateStoragePool", map[string]string{"id": id, "enabled": "true"})["storagepool"].(map[string]any)["state"]; s != "Up" {
		t.Fatalf("enabled state %v", s)
	}
	mgmttest.Do(t, a, "updateStoragePool", map[string]string{"id": id, "enabled": "true"})
	ev := infraEvents(t, e, id)
	if strings.Join(ev, " ") != "ENABLE.PS DISABLE.PS STORAGE.POOL.UPDATE STORAGE.POOL.UPDATE STORAGE.POOL.CREATE" {
		t.Errorf("pool events: %v", ev)
	}

	// Deletion needs maintenance; maintenance is async with key storagepool.
	infraRefused(t, e, "deleteStoragePool", map[string]string{"id": id}, 431, "not in Maintenance state")
	infraRefused(t, e, "cancelStorageMaintenance", map[string]string{"id": id}, 431, "not ready to complete migration, as the status is:Up")
	job := mgmttest.DoAsync(t, a, "enableStorageMaintenance", map[string]string{"id": id})
	if s := job["storagepool"].(map[string]any)["state"]; s != "Maintenance" {
		t.Fatalf("after enableStorageMaintenance: %v", job)
	}
	if c := ledgerRow(t, e, db.CapStorageAlloc, id); c.Enabled {
		t.Errorf("ledger of a pool in maintenance enabled: %+v", c)
	}
	infraRefused(t, e, "enableStorageMaintenance", map[string]string{"id": id}, 431, "as the status is:Maintenance")
	infraRefused(t, e, "updateStoragePool", map[string]string{"id": id, "enabled": "true"}, 431, "cannot be enabled. Storage pool state : Maintenance")
	infraRefused(t, e, "updateStoragePool", map[string]string{"id": id, "enabled": "false"}, 431, "cannot be disabled. Storage pool state : Maintenance")
	job = mgmttest.DoAsync(t, a, "cancelStorageMaintenance", map[string]string{"id": id})
	if s := job["storagepool"].(map[string]any)["state"]; s != "Up" {
		t.Fatalf("after cancelStorageMaintenance: %v", job)
	}
	if c := ledgerRow(t, e, db.CapStorageAlloc, id); !c.Enabled {
		t.Errorf("ledger of an Up pool disabled: %+v", c)
	}
	mgmttest.DoAsync(t, a, "enableStorageMaintenance", map[string]string{"id": id})
	if res := mgmttest.Do(t, a, "deleteStoragePool", map[string]string{"id": id, "forced": "true"}); res["success"] != true {
		t.Fatalf("deleteStoragePool: %v", res)
	}
	if res := mgmttest.Do(t, a, "listStoragePools", map[string]string{"id": id}); len(res) != 0 {
		t.Fatalf("deleted pool listed: %v", res)
	}
	if ledgerRow(t, e, db.CapStorage, id) != nil || ledgerRow(t, e, db.CapStorageAlloc, id) != nil {
		t.Errorf("ledger rows of a deleted pool remain")
	}
	if ev := infraEvents(t, e, id); ev[0] != "STORAGE.POOL.DELETE" || ev[1] != "MAINT.PREPARE.PS" || ev[3] != "MAINT.CANCEL.PS" {
		t.Errorf("pool events: %v", ev)
	}
	infraRefused(t, e, "deleteStoragePool", map[string]string{"id": id}, 431, "Unable to find storage pool by id")
	infraRefused(t, e, "enableStorageMaintenance", map[string]string{"id": uuid.NewString()}, 431, "Unable to find storage pool by id")
	infraRefused(t, e, "cancelStorageMaintenance", map[string]string{"id": uuid.NewString()}, 431, "Unable to find storage pool by id")
	// The export may be added again once the pool is gone.
	mgmttest.Do(t, a, "createStoragePool", map[string]string{"zoneid": zoneID, "clusterid": clusterID, "name": "primary",
		"url": "nfs://203.0.113.9/export/primary"})
}

// TestCreateStoragePoolInput covers scopes, URL forms and every refusal of createStoragePool.
func TestCreateStoragePoolInput(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	zoneID, podID := infraZonePod(t, e, "zone")
	otherZone, otherPod := infraZonePod(t, e, "other")
	sim := infraCluster(t, e, zoneID, podID, "sim", "Simulator")["id"].(string)
	kvm := infraCluster(t, e, zoneID, podID, "kvm", "KVM")["id"].(string)
	far := infraCluster(t, e, otherZone, otherPod, "far", "KVM")["id"].(string)

	// A zone-wide pool needs a hypervisor; a KVM pool's size is unknown until agents measure it.
	z := mgmttest.Do(t, a, "createStoragePool", map[string]string{"zoneid": zoneID, "name": "zw", "url": "nfs://203.0.113.10/zw",
		"scope": "zone", "hypervisor": "kvm", "capacityiops": "100"})["storagepool"].(map[string]any)
	if z["scope"] != "ZONE" || z["hypervisor"] != "KVM" || z["disksizetotal"] != float64(0) || z["capacityiops"] != float64(100) {
		t.Errorf("zone-wide pool: %v", z)
	}
	if _, ok := z["clusterid"]; ok {
		t.Errorf("zone-wide pool has a cluster: %v", z)
	}
	// Given capacitybytes wins over the simulated size; other URL forms.
	for _, c := range []struct{ url, typ, host, path string }{
		{"sharedmountpoint:///mnt/shared", "SharedMountPoint", "localhost", "/mnt/shared"},
		{"filesystem:///var/lib/atoll", "Filesystem", "localhost", "/var/lib/atoll"},
		{"rbd://admin:s3cr3t@ceph-mon:3300/volumes", "RBD", "ceph-mon", "volumes"},
		{"NFS://203.0.113.11:2050/export", "NetworkFilesystem", "203.0.113.11", "/export"},
	} {
		p := mgmttest.Do(t, a, "createStoragePool", map[string]string{"zoneid": zoneID, "clusterid": sim, "name": c.typ, "url": c.url,
			"capacitybytes": "1000"})["storagepool"].(map[string]any)
		if p["type"] != c.typ || p["ipaddress"] != c.host || p["path"] != c.path || p["capacitybytes"] != float64(1000) {
			t.Errorf("%s: %v", c.url, p)
		}
	}
	var stored string
	if err := e.Server.DB.SQL.QueryRowContext(context.Background(), "SELECT url FROM storage_pools WHERE pool_type = 'RBD'").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, "s3cr3t") || !strings.HasPrefix(stored, "rbd://admin:") {
		t.Errorf("rbd secret stored in the clear: %s", stored)
	}

	base := map[string]string{"zoneid": zoneID, "clusterid": kvm, "name": "p", "url": "nfs://203.0.113.12/p"}
	with := func(kv ...string) map[string]string {
		p := map[string]string{}
		for k, v := range base {
			p[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(p, kv[i])
			} else {
				p[kv[i]] = kv[i+1]
			}
		}
		return p
	}
	infraRefused(t, e, "createStoragePool", with("name", "zw"), 431, "already exists")
	infraRefused(t, e, "createStoragePool", with("url", "nfs://203.0.113.10/zw"), 431, "already exists as pool zw")
	infraRefused(t, e, "createStoragePool", with("url", "iscsi://203.0.113.12/iqn"), 431, "Unsupported storage pool url scheme iscsi")
	infraRefused(t, e, "createStoragePool", with("url", "nfs://203.0.113.12"), 431, "nfs://hostname/path")
	infraRefused(t, e, "createStoragePool", with("url", "nfs:///nohost"), 431, "nfs://hostname/path")
	infraRefused(t, e, "createStoragePool", with("url", "rbd://mon/"), 431, "rbd://")
	infraRefused(t, e, "createStoragePool", with("url", "nfs://h:99999/x"), 431, "bad port")
	infraRefused(t, e, "createStoragePool", with("scope", "host"), 431, "invalid scope for pool host")
	infraRefused(t, e, "createStoragePool", with("clusterid", ""), 431, "Missing parameter hypervisor")
	infraRefused(t, e, "createStoragePool", with("scope", "cluster", "clusterid", ""), 431, "cluster id can't be null")
	infraRefused(t, e, "createStoragePool", with("scope", "zone", "hypervisor", "XenServer"), 431, "not supported for hypervisor type XenServer")
	infraRefused(t, e, "createStoragePool", with("clusterid", uuid.NewString()), 431, "Unable to find cluster by id")
	infraRefused(t, e, "createStoragePool", with("clusterid", far), 431, "does not belong to zone")
	infraRefused(t, e, "createStoragePool", with("podid", otherPod), 431, "does not belong to pod")
	infraRefused(t, e, "createStoragePool", with("zoneid", uuid.NewString()), 431, "Unable to find zone by id")
	infraRefused(t, e, "createStoragePool", with("capacitybytes", "-1"), 431, "capacitybytes")
	infraRefused(t, e, "createStoragePool", with("managed", "true"), 431, "Managed storage is not supported")
	infraRefused(t, e, "createStoragePool", with("name", " "), 431, "name")
}

// TestUpdateStoragePoolCapacity proves a pool cannot shrink below what is allocated on it
// (counting the over-provisioning factor) and that the url cannot change.
func TestUpdateStoragePoolCapacity(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	zoneID, podID := infraZonePod(t, e, "zone")
	cl := infraCluster(t, e, zoneID, podID, "sim", "Simulator")["id"].(string)
	id := mgmttest.Do(t, a, "createStoragePool", map[string]string{"zoneid": zoneID, "clusterid": cl, "name": "p", "url": "nfs://h/p",
		"capacitybytes": "1000"})["storagepool"].(map[string]any)["id"].(string)
	ctx := context.Background()
	err := e.Server.DB.Transaction(ctx, func(tx db.Tx) error {
		return planner.New(e.Server.API.Config).ReserveStorage(ctx, tx, id, 1500, planner.Options{})
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := items(mgmttest.Do(t, a, "listStoragePools", map[string]string{"id": id}), "storagepool")[0]; p["disksizeallocated"] != float64(1500) {
		t.Fatalf("allocated: %v", p)
	}
	infraRefused(t, e, "updateStoragePool", map[string]string{"id": id, "capacitybytes": "700"}, 431, "insufficient number of bytes")
	infraRefused(t, e, "updateStoragePool", map[string]string{"id": id, "url": "nfs://h/q"}, 431, "cannot be changed")
	infraRefused(t, e, "updateStoragePool", map[string]string{"id": uuid.NewString(), "tags": "x"}, 431, "Unable to find storage pool by id")
	// 750 bytes × factor 2 still holds the 1500 allocated.
	if p := mgmttest.Do(t, a, "updateStoragePool", map[string]string{"id": id, "capacitybytes": "750"})["storagepool"].(map[string]any); p["capacitybytes"] != float64(750) {
		t.Fatalf("shrink: %v", p)
	}
	// The factor is the pool's setting.
	mgmttest.Do(t, a, "updateConfiguration", map[string]string{"name": "storage.overprovisioning.factor", "value": "4", "storageid": id})
	if p := items(mgmttest.Do(t, a, "listStoragePools", map[string]string{"id": id}), "storagepool")[0]; p["overprovisionfactor"] != "4.0" {
		t.Fatalf("factor: %v", p)
	}
	infraRefused(t, e, "updateConfiguration", map[string]string{"name": "storage.overprovisioning.factor", "value": "3", "storageid": uuid.NewString()},
		431, "Unable to find storage pool by id")
}

func TestImageStores(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	zoneID, _ := infraZonePod(t, e, "zone")
	s := mgmttest.Do(t, a, "addImageStore", map[string]string{"name": "secondary", "url": "nfs://203.0.113.20/export/secondary",
		"provider": "nfs", "zoneid": zoneID})["imagestore"].(map[string]any)
	want := map[string]any{"name": "secondary", "url": "nfs://203.0.113.20/export/secondary", "protocol": "nfs", "providername": "NFS",
		"scope": "ZONE", "zoneid": zoneID, "zonename": "zone", "readonly": false}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("addImageStore %s = %v, want %v", k, s[k], v)
		}
	}
	id := s["id"].(string)
	// Without a name, the url names the store.
	byURL := mgmttest.Do(t, a, "addImageStore", map[string]string{"url": "nfs://203.0.113.21/s2", "provider": "NFS", "zoneid": zoneID})["imagestore"].(map[string]any)
	if byURL["name"] != "nfs://203.0.113.21/s2" {
		t.Errorf("unnamed store: %v", byURL)
	}
	res := mgmttest.Do(t, a, "listImageStores", map[string]string{"name": "SECONDARY", "zoneid": zoneID})
	if l := items(res, "imagestore"); len(l) != 1 || l[0]["id"] != id || res["count"] != float64(1) {
		t.Fatalf("listImageStores: %v", res)
	}
	if l := items(mgmttest.Do(t, a, "listImageStores", map[string]string{"provider": "nfs", "protocol": "NFS"}), "imagestore"); len(l) != 2 {
		t.Fatalf("by provider: %v", l)
	}
	base := map[string]string{"name": "s3", "url": "nfs://203.0.113.22/s3", "provider": "NFS", "zoneid": zoneID}
	with := func(k, v string) map[string]string {
		p := map[string]string{}
		for key, val := range base {
			p[key] = val
		}
		if v == "" {
			delete(p, k)
		} else {
			p[k] = v
		}
		return p
	}
	infraRefused(t, e, "addImageStore", with("name", "Secondary"), 431, "The image store with name Secondary already exists")
	infraRefused(t, e, "addImageStore", with("zoneid", ""), 431, "does not support scope REGION")
	infraRefused(t, e, "addImageStore", with("zoneid", uuid.NewString()), 431, "Unable to find zone by id")
	infraRefused(t, e, "addImageStore", with("url", ""), 431, "url")
	infraRefused(t, e, "addImageStore", with("url", "smb://h/x"), 431, "Unsupported scheme for secondary storage: smb")
	infraRefused(t, e, "addImageStore", with("url", "nfs://h"), 431, "nfs://hostname/path")
	infraRefused(t, e, "deleteImageStore", map[string]string{"id": uuid.NewString()}, 431, "Unable to find image store by id")

	if res := mgmttest.Do(t, a, "deleteImageStore", map[string]string{"id": id}); res["success"] != true {
		t.Fatalf("deleteImageStore: %v", res)
	}
	if ev := infraEvents(t, e, id); strings.Join(ev, " ") != "IMAGE.STORE.DELETE IMAGE.STORE.CREATE" {
		t.Errorf("events: %v", ev)
	}
	if res := mgmttest.Do(t, a, "listImageStores", map[string]string{"id": id}); len(res) != 0 {
		t.Fatalf("deleted store listed: %v", res)
	}
	mgmttest.Do(t, a, "addImageStore", map[string]string{"name": "secondary", "url": "nfs://203.0.113.20/export/secondary", "provider": "NFS", "zoneid": zoneID})
}
