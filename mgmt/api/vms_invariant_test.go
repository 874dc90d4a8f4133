package api_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// TestVMRandomWorkload runs a random workload of deploy, stop, start, reboot, migrate, scale,
// change offering, volume create/attach/detach/resize and destroy/expunge on a Simulator zone
// while agent commands fail at random; afterwards the capacity ledger recomputed from scratch
// equals the stored one, the resource counts equal what the rows hold, and no NIC, address or
// volume is left without its owner.
func TestVMRandomWorkload(t *testing.T) { testVMRandomWorkload(t, false) }

func testVMRandomWorkload(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	bigger := mgmttest.Do(t, v.Admin, "createServiceOffering", map[string]string{"name": "rw-2", "displaytext": "2",
		"cpunumber": "2", "cpuspeed": "1000", "memory": "2048", "dynamicscalingenabled": "true"})["serviceoffering"].(map[string]any)["id"].(string)
	var diskOffering string
	for _, o := range mgmttest.Do(t, v.Admin, "listDiskOfferings", nil)["diskoffering"].([]any) {
		if m := o.(map[string]any); m["name"] == "Small" {
			diskOffering = m["id"].(string)
		}
	}
	faults := []string{"StartVM", "StopVM", "MigrateVM", "PrepareForMigration", "RebootVM", "AttachVolume", "DetachVolume", "ResizeVolume"}
	var vms, vols []string
	done := map[string]int{}
	call := func(c string, p map[string]string) map[string]any {
		res, err := v.tenantOrAdmin(c).Do(ctx, c, p)
		if err != nil {
			return nil // refused: wrong state, capacity, limits
		}
		done[c]++
		if id, ok := res["jobid"].(string); ok {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			j, err := v.tenantOrAdmin(c).Wait(cctx, id)
			if err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			r, _ := j["jobresult"].(map[string]any)
			if j["jobstatus"].(float64) != 1 {
				done[c]--
			}
			return r
		}
		return res
	}
	pick := func(list []string) string {
		if len(list) == 0 {
			return "00000000-0000-4000-8000-000000000000"
		}
		return list[rng.IntN(len(list))]
	}
	for i := 0; i < 150; i++ {
		// Flip a random fault on or off now and then.
		if rng.IntN(4) == 0 {
			f := faults[rng.IntN(len(faults))]
			mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": f, "fail": "true",
				"remove": fmt.Sprint(rng.IntN(2) == 0)})
		}
		switch op := rng.IntN(11); op {
		case 0, 1:
			r := call("deployVirtualMachine", map[string]string{"serviceofferingid": v.offering, "templateid": db.SimulatorTemplateID,
				"zoneid": v.zoneID, "networkids": v.network, "startvm": fmt.Sprint(rng.IntN(4) != 0)})
			if vm, ok := r["virtualmachine"].(map[string]any); ok {
				vms = append(vms, vm["id"].(string))
			}
		case 2:
			call("stopVirtualMachine", map[string]string{"id": pick(vms), "forced": fmt.Sprint(rng.IntN(3) == 0)})
		case 3:
			call("startVirtualMachine", map[string]string{"id": pick(vms)})
		case 4:
			call("rebootVirtualMachine", map[string]string{"id": pick(vms)})
		case 5:
			call("migrateVirtualMachine", map[string]string{"virtualmachineid": pick(vms), "hostid": pick(v.hosts)})
		case 6:
			if rng.IntN(2) == 0 {
				call("scaleVirtualMachine", map[string]string{"id": pick(vms), "serviceofferingid": bigger})
			} else {
				call("changeServiceForVirtualMachine", map[string]string{"id": pick(vms), "serviceofferingid": bigger})
			}
		case 7:
			r := call("createVolume", map[string]string{"name": fmt.Sprintf("d%d", i), "diskofferingid": diskOffering, "zoneid": v.zoneID})
			if vol, ok := r["volume"].(map[string]any); ok {
				vols = append(vols, vol["id"].(string))
			}
		case 8:
			if rng.IntN(2) == 0 {
				call("attachVolume", map[string]string{"id": pick(vols), "virtualmachineid": pick(vms)})
			} else {
				call("detachVolume", map[string]string{"id": pick(vols)})
			}
		case 9:
			call("resizeVolume", map[string]string{"id": pick(vols), "size": fmt.Sprint(2 + rng.IntN(5))})
		case 10:
			call("destroyVirtualMachine", map[string]string{"id": pick(vms), "expunge": fmt.Sprint(rng.IntN(2) == 0)})
		}
	}
	for _, f := range faults {
		mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": f, "remove": "true"})
	}
	v.checkLedger(t)
	q := v.Server.DB.SQL
	for what, query := range map[string]string{
		"nics of missing or expunged vms": `SELECT COUNT(*) FROM nics n LEFT JOIN vm_instances v ON v.id = n.vm_id
			WHERE n.removed IS NULL AND (v.id IS NULL OR v.removed IS NOT NULL)`,
		"volumes attached to missing or expunged vms": `SELECT COUNT(*) FROM volumes o LEFT JOIN vm_instances v ON v.id = o.vm_id
			WHERE o.removed IS NULL AND o.vm_id IS NOT NULL AND (v.id IS NULL OR v.removed IS NOT NULL)`,
		"guest addresses held by no nic": `SELECT COUNT(*) FROM network_ips i WHERE NOT EXISTS (SELECT 1 FROM nics n
			WHERE n.network_id = i.network_id AND n.ip_address = i.address AND n.removed IS NULL)`,
		"vms holding a host in a state that holds none": `SELECT COUNT(*) FROM vm_instances WHERE removed IS NULL AND host_id IS NOT NULL
			AND state IN ('Stopped','Destroyed','Error','Expunging')`,
	} {
		var n int
		if err := q.QueryRow(query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d %s", n, what)
		}
	}
	counted, _, err := db.CountAccountResources(ctx, q, v.accountID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := db.ResourceCounts(ctx, q, db.OwnerAccount, v.accountID)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{db.ResUserVM, db.ResCPU, db.ResMemory, db.ResVolume, db.ResPrimaryStorage} {
		if counted[typ] != stored[typ] {
			t.Errorf("resource count %s: stored %d, rows hold %d", typ, stored[typ], counted[typ])
		}
	}
	t.Logf("%d vms and %d volumes created; succeeded: %v", len(vms), len(vols), done)
}

func (v *vmEnv) tenantOrAdmin(cmd string) *api.Client {
	if cmd == "migrateVirtualMachine" {
		return v.Admin
	}
	return v.tenant
}
