package api_test

import (
	"context"
	"testing"

	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// TestStoragePoolDown: a pool its hosts cannot reach (Down, set by the pool sync) is listed
// Down, filtered by status=Down, stays Down when cs_storage_pool asks for it enabled, and can
// be disabled or taken to maintenance (and then deleted) by an admin giving up on it; its
// maintenance cannot be cancelled, since it is in none.
func TestStoragePoolDown(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := e.Admin
	zoneID, podID := infraZonePod(t, e, "zone")
	clusterID := infraCluster(t, e, zoneID, podID, "sim", "Simulator")["id"].(string)
	id := mgmttest.Do(t, a, "createStoragePool", map[string]string{"zoneid": zoneID, "podid": podID, "clusterid": clusterID, "name": "primary",
		"url": "nfs://203.0.113.9/export/primary", "provider": "DefaultPrimary", "scope": "cluster"})["storagepool"].(map[string]any)["id"].(string)
	down := func() {
		t.Helper()
		if _, err := e.Server.DB.SQL.ExecContext(context.Background(), "UPDATE storage_pools SET status = 'Down' WHERE id = ?", id); err != nil {
			t.Fatal(err)
		}
	}
	state := func(params map[string]string) any {
		t.Helper()
		l := items(mgmttest.Do(t, a, "listStoragePools", params), "storagepool")
		if len(l) != 1 {
			return len(l)
		}
		return l[0]["state"]
	}
	down()
	if s := state(map[string]string{"id": id}); s != "Down" {
		t.Fatalf("listStoragePools: %v", s)
	}
	if s := state(map[string]string{"status": "Down"}); s != "Down" {
		t.Errorf("listStoragePools status=Down: %v", s)
	}
	if s := state(map[string]string{"status": "Up"}); s != 0 {
		t.Errorf("listStoragePools status=Up lists the Down pool: %v", s)
	}
	if s := mgmttest.Do(t, a, "updateStoragePool", map[string]string{"id": id, "enabled": "true"})["storagepool"].(map[string]any)["state"]; s != "Down" {
		t.Errorf("enabling a Down pool: %v", s)
	}
	if s := mgmttest.Do(t, a, "updateStoragePool", map[string]string{"id": id, "enabled": "false"})["storagepool"].(map[string]any)["state"]; s != "Disabled" {
		t.Errorf("disabling a Down pool: %v", s)
	}
	down()
	infraRefused(t, e, "cancelStorageMaintenance", map[string]string{"id": id}, 431, "as the status is:Down")
	if s := mgmttest.DoAsync(t, a, "enableStorageMaintenance", map[string]string{"id": id})["storagepool"].(map[string]any)["state"]; s != "Maintenance" {
		t.Fatalf("maintenance of a Down pool: %v", s)
	}
	if res := mgmttest.Do(t, a, "deleteStoragePool", map[string]string{"id": id}); res["success"] != true {
		t.Fatalf("deleteStoragePool: %v", res)
	}
}
