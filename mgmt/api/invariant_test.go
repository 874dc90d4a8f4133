package api_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// TestComputeInvariants runs a random workload of deploy, stop, start, migrate, scale, resize,
// attach, detach and destroy on a Simulator zone while agent commands fail now and then
// (configureSimulatorFault on StartVM, StopVM, MigrateVM and the volume commands of one host
// at a time), then checks that the capacity ledger recomputed from scratch equals the stored
// one, that the tenant's resource counts equal a recount, and that no volume, NIC, IP or
// reservation is left without its owner. ATOLL_INVARIANT_SEED repeats a run; _STEPS sizes it.
func TestComputeInvariants(t *testing.T) { testComputeInvariants(t, false) }

func TestComputeInvariantsMySQL(t *testing.T) { testComputeInvariants(t, true) }

func testComputeInvariants(t *testing.T, mysql bool) {
	seed := time.Now().UnixNano()
	if s, err := strconv.ParseInt(os.Getenv("ATOLL_INVARIANT_SEED"), 10, 64); err == nil {
		seed = s
	}
	steps := 120
	if n, err := strconv.Atoi(os.Getenv("ATOLL_INVARIANT_STEPS")); err == nil && n > 0 {
		steps = n
	}
	t.Logf("seed %d (ATOLL_INVARIANT_SEED=%d repeats this run), %d steps", seed, seed, steps)
	rng := rand.New(rand.NewSource(seed))
	v := newVMEnv(t, mysql)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	bigger := mgmttest.Do(t, v.Admin, "createServiceOffering", map[string]string{"name": "inv-bigger", "displaytext": "bigger",
		"cpunumber": "2", "cpuspeed": "1000", "memory": "2048"})["serviceoffering"].(map[string]any)["id"].(string)
	var diskOffering string
	for _, o := range mgmttest.Do(t, v.Admin, "listDiskOfferings", map[string]string{"name": "Custom"})["diskoffering"].([]any) {
		if m := o.(map[string]any); m["name"] == "Custom" {
			diskOffering = m["id"].(string)
		}
	}
	if diskOffering == "" {
		t.Fatal("no Custom disk offering")
	}
	offerings := []string{v.offering, bigger}

	// do sends a command and, for an async one, waits for its job. Errors are part of the
	// workload (wrong state, no capacity, injected failure): they are counted, not fatal,
	// unless the server answered something other than a CloudStack error.
	outcomes := map[string]int{}
	do := func(c *api.Client, cmd string, p map[string]string) map[string]any {
		r, err := c.Do(ctx, cmd, p)
		if err != nil {
			if _, ok := err.(*api.ClientError); !ok {
				t.Fatalf("%s: %v", cmd, err)
			}
			outcomes[cmd+" refused"]++
			return nil
		}
		if id, ok := r["jobid"].(string); ok {
			j, err := c.Wait(ctx, id)
			if err != nil {
				t.Fatalf("%s: wait: %v", cmd, err)
			}
			if st, _ := j["jobstatus"].(float64); st != 1 {
				res, _ := j["jobresult"].(map[string]any)
				if code, _ := res["errorcode"].(float64); code == 530 && res["errortext"] == nil {
					t.Fatalf("%s: job failed without a message: %v", cmd, j)
				}
				outcomes[cmd+" failed"]++
				return nil
			}
			outcomes[cmd+" ok"]++
			res, _ := j["jobresult"].(map[string]any)
			return res
		}
		outcomes[cmd+" ok"]++
		return r
	}
	listIDs := func(cmd, key string, p map[string]string) []map[string]any {
		r := mgmttest.Do(t, v.Admin, cmd, p)
		var out []map[string]any
		for _, x := range asList(r[key]) {
			out = append(out, x.(map[string]any))
		}
		return out
	}
	pick := func(items []map[string]any) map[string]any {
		if len(items) == 0 {
			return nil
		}
		return items[rng.Intn(len(items))]
	}
	faultCmds := []string{"StartVM", "StopVM", "MigrateVM", "AttachVolume", "DetachVolume", "ResizeVolume"}
	fault := ""

	for i := 0; i < steps; i++ {
		// Now and then move the fault: one host fails one command until the next move.
		if rng.Intn(8) == 0 {
			if fault != "" {
				mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": fault, "remove": "true"})
				fault = ""
			}
			if rng.Intn(2) == 0 {
				fault = faultCmds[rng.Intn(len(faultCmds))]
				mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"hostid": v.hosts[rng.Intn(len(v.hosts))],
					"name": fault, "fail": "true", "message": "injected failure"})
			}
		}
		vms := listIDs("listVirtualMachines", "virtualmachine", map[string]string{"listall": "true", "zoneid": v.zoneID})
		vm := pick(vms)
		switch op := rng.Intn(10); {
		case op < 3 || vm == nil:
			p := map[string]string{"serviceofferingid": offerings[rng.Intn(2)], "templateid": db.SimulatorTemplateID, "zoneid": v.zoneID,
				"networkids": v.network, "name": fmt.Sprintf("inv-%d", i)}
			if rng.Intn(3) == 0 {
				p["startvm"] = "false"
			}
			if rng.Intn(4) == 0 {
				p["diskofferingid"], p["size"] = diskOffering, strconv.Itoa(1+rng.Intn(5))
			}
			do(v.tenant, "deployVirtualMachine", p)
		case op == 3:
			do(v.tenant, "stopVirtualMachine", map[string]string{"id": vm["id"].(string), "forced": strconv.FormatBool(rng.Intn(4) == 0)})
		case op == 4:
			do(v.tenant, "startVirtualMachine", map[string]string{"id": vm["id"].(string)})
		case op == 5:
			do(v.Admin, "migrateVirtualMachine", map[string]string{"virtualmachineid": vm["id"].(string), "hostid": v.hosts[rng.Intn(len(v.hosts))]})
		case op == 6:
			cmd := "changeServiceForVirtualMachine"
			if vm["state"] == "Running" {
				cmd = "scaleVirtualMachine"
			}
			do(v.tenant, cmd, map[string]string{"id": vm["id"].(string), "serviceofferingid": offerings[rng.Intn(2)]})
		case op == 7:
			vols := listIDs("listVolumes", "volume", map[string]string{"listall": "true", "zoneid": v.zoneID})
			if vol := pick(vols); vol != nil {
				size := int64(vol["size"].(float64))>>30 + int64(1+rng.Intn(3))
				p := map[string]string{"id": vol["id"].(string), "size": strconv.FormatInt(size, 10)}
				if vol["type"] == "DATADISK" {
					p["diskofferingid"] = diskOffering
				}
				do(v.tenant, "resizeVolume", p)
			}
		case op == 8:
			vols := listIDs("listVolumes", "volume", map[string]string{"listall": "true", "zoneid": v.zoneID, "type": "DATADISK"})
			vol := pick(vols)
			switch {
			case vol == nil || rng.Intn(3) == 0:
				do(v.tenant, "createVolume", map[string]string{"name": fmt.Sprintf("vol-%d", i), "zoneid": v.zoneID,
					"diskofferingid": diskOffering, "size": strconv.Itoa(1 + rng.Intn(4))})
			case vol["virtualmachineid"] != nil:
				do(v.tenant, "detachVolume", map[string]string{"id": vol["id"].(string)})
			case rng.Intn(4) == 0:
				do(v.tenant, "deleteVolume", map[string]string{"id": vol["id"].(string)})
			default:
				do(v.tenant, "attachVolume", map[string]string{"id": vol["id"].(string), "virtualmachineid": vm["id"].(string)})
			}
		default:
			do(v.Admin, "destroyVirtualMachine", map[string]string{"id": vm["id"].(string), "expunge": strconv.FormatBool(rng.Intn(2) == 0)})
		}
	}
	if fault != "" {
		mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": fault, "remove": "true"})
	}
	t.Logf("outcomes: %v", outcomes)
	failed := 0
	for k, n := range outcomes {
		if strings.HasSuffix(k, " failed") {
			failed += n
		}
	}
	if steps >= 100 && (outcomes["deployVirtualMachine ok"] == 0 || failed == 0) {
		t.Errorf("the workload saw %d deployments and %d failed jobs: it did not exercise what it claims", outcomes["deployVirtualMachine ok"], failed)
	}

	v.checkLedger(t)
	// No volume, NIC or guest IP without its owner; no reservation for a VM that is gone.
	for _, q := range []struct{ what, sql string }{
		{"volumes attached to a VM that is gone", `SELECT COUNT(*) FROM volumes vo WHERE vo.removed IS NULL AND vo.vm_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM vm_instances v WHERE v.id = vo.vm_id AND v.removed IS NULL)`},
		{"ROOT volumes without a VM", `SELECT COUNT(*) FROM volumes vo WHERE vo.removed IS NULL AND vo.volume_type = 'ROOT'
			AND vo.state NOT IN ('Destroy', 'Expunged', 'Expunging') AND vo.vm_id IS NULL`},
		{"NICs of a VM that is gone", `SELECT COUNT(*) FROM nics n WHERE n.removed IS NULL
			AND NOT EXISTS (SELECT 1 FROM vm_instances v WHERE v.id = n.vm_id AND v.removed IS NULL)`},
		{"guest IPs held for a NIC that is gone", `SELECT COUNT(*) FROM network_ips i WHERE i.nic_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM nics n WHERE n.id = i.nic_id AND n.removed IS NULL)`},
		{"VMs holding a host in a state that holds none", `SELECT COUNT(*) FROM vm_instances v WHERE v.removed IS NULL
			AND v.state IN ('Stopped', 'Destroyed', 'Expunging', 'Error') AND v.host_id IS NOT NULL AND v.host_id <> ''`},
	} {
		var n int
		if err := v.Server.DB.SQL.QueryRowContext(ctx, q.sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q.what, err)
		}
		if n != 0 {
			t.Errorf("%d %s", n, q.what)
		}
	}
	// The stored resource counts equal a recount from the real rows.
	counts := func() map[string]int64 {
		rows, err := v.Server.DB.SQL.QueryContext(ctx, "SELECT owner_type, owner_id, resource_type, count_value FROM resource_counts")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int64{}
		for rows.Next() {
			var ot, oid, rt string
			var n int64
			if err := rows.Scan(&ot, &oid, &rt, &n); err != nil {
				t.Fatal(err)
			}
			out[ot+"/"+oid+"/"+rt] = n
		}
		return out
	}
	before := counts()
	mgmttest.Do(t, v.Admin, "updateResourceCount", map[string]string{"domainid": domainOf(t, v), "account": "vmuser"})
	for k, n := range counts() {
		if before[k] != n {
			t.Errorf("resource count %s drifted from the rows: stored %d, recounted %d", k, before[k], n)
		}
	}
}

func asList(x any) []any { l, _ := x.([]any); return l }

func domainOf(t *testing.T, v *vmEnv) string {
	a := mgmttest.Do(t, v.Admin, "listAccounts", map[string]string{"id": v.accountID})["account"].([]any)[0].(map[string]any)
	return a["domainid"].(string)
}
