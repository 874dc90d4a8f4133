package api_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/hypervisor/simulator"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// storageCommands are the agent commands the volume and snapshot work sends.
var storageCommands = []string{"AttachVolume", "DetachVolume", "ResizeVolume", "DeleteVolume", "MigrateVolume", "CreateSnapshot",
	"DeleteSnapshot", "RevertSnapshot", "CreateVolumeFromSnapshot"}

// A random workload of volume and snapshot commands, with the host failing a third of the
// storage commands: afterwards the capacity ledger equals its recomputation, the owner's
// counts equal a recount of the rows, and the host has exactly the disks the rows attach.
func TestVolumeRandomWorkload(t *testing.T) {
	testVolumeRandomWorkload(t, mgmttest.Start(t, mgmttest.Options{}))
}

func TestVolumeRandomWorkloadMariaDB(t *testing.T) {
	dbtest.MySQLBase(t)
	testVolumeRandomWorkload(t, mgmttest.Start(t, mgmttest.Options{MySQL: true}))
}

func testVolumeRandomWorkload(t *testing.T, e *mgmttest.Env) {
	v := newVolEnv(t, e)
	running, stopped := v.vm(t, db.VMRunning), v.vm(t, db.VMStopped)
	vms := []string{running.ID, stopped.ID}
	p2 := mgmttest.Do(t, e.Admin, "createStoragePool", map[string]string{"zoneid": v.zone, "podid": v.pod, "clusterid": v.cluster,
		"name": "vp2", "url": "nfs://203.0.113.9/export/vp2", "provider": "DefaultPrimary", "scope": "cluster"})["storagepool"].(map[string]any)["id"].(string)
	pools := []string{v.pool, p2}
	// ATOLL_TEST_SEED replays a logged seed: the same operations per worker (their
	// interleaving still varies from run to run).
	seed := time.Now().UnixNano()
	if s, err := strconv.ParseInt(os.Getenv("ATOLL_TEST_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d", seed)
	ctx := context.Background()
	list := func(cmd, key string, p map[string]string) []string {
		res, err := v.alice.Do(ctx, cmd, p)
		if err != nil {
			t.Errorf("%s: %v", cmd, err)
			return nil
		}
		var ids []string
		for _, it := range items(res, key) {
			ids = append(ids, it["id"].(string))
		}
		return ids
	}
	// run calls a command, waits for its job if it has one, and reports whether it worked;
	// refusals and failed jobs are part of the workload.
	run := func(c *api.Client, cmd string, p map[string]string) bool {
		res, err := c.Do(ctx, cmd, p)
		if err != nil {
			if _, ok := err.(*api.ClientError); !ok {
				t.Errorf("%s %v: %v", cmd, p, err)
			}
			return false
		}
		if j, ok := res["jobid"].(string); ok {
			r, err := c.Wait(ctx, j)
			if err != nil {
				t.Errorf("wait for %s: %v", cmd, err)
				return false
			}
			return r["jobstatus"] == float64(1)
		}
		return true
	}
	var mu sync.Mutex
	done := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(seed + int64(w)))
			pick := func(l []string) string { return l[rnd.Intn(len(l))] }
			for n := 0; n < 20; n++ {
				i := w*100 + n
				for _, c := range storageCommands {
					f := simulator.Fault{}
					if rnd.Intn(3) == 0 {
						f = simulator.Fault{Fail: true, Message: "injected"}
					}
					v.sim(t).SetFault(c, f)
				}
				vols := list("listVolumes", "volume", map[string]string{"type": "DATADISK"})
				snaps := list("listSnapshots", "snapshot", nil)
				op := rnd.Intn(9)
				if len(vols) == 0 {
					op = 0
				}
				var ok bool
				switch op {
				case 0:
					ok = run(v.alice, "createVolume", map[string]string{"name": fmt.Sprint("r", i), "zoneid": v.zone, "diskofferingid": v.custom,
						"size": fmt.Sprint(1 + rnd.Intn(3))})
				case 1, 2:
					ok = run(v.alice, "attachVolume", map[string]string{"id": pick(vols), "virtualmachineid": pick(vms)})
				case 3:
					ok = run(v.alice, "detachVolume", map[string]string{"id": pick(vols)})
				case 4:
					ok = run(v.alice, "resizeVolume", map[string]string{"id": pick(vols), "size": fmt.Sprint(1 + rnd.Intn(4)), "shrinkok": "true"})
				case 5:
					ok = run(v.alice, "createSnapshot", map[string]string{"volumeid": pick(vols)})
				case 6:
					if len(snaps) > 0 {
						if rnd.Intn(2) == 0 {
							ok = run(v.alice, "deleteSnapshot", map[string]string{"id": pick(snaps)})
						} else {
							ok = run(v.alice, "createVolume", map[string]string{"name": fmt.Sprint("s", i), "snapshotid": pick(snaps)})
						}
					}
				case 7:
					ok = run(v.alice, "deleteVolume", map[string]string{"id": pick(vols)})
				case 8:
					ok = run(e.Admin, "migrateVolume", map[string]string{"volumeid": pick(vols), "storageid": pick(pools), "livemigrate": "true"})
				}
				if ok {
					mu.Lock()
					done[fmt.Sprint(op)]++
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	t.Logf("successful operations by kind: %v", done)
	for _, c := range storageCommands {
		v.sim(t).SetFault(c, simulator.Fault{})
	}
	v.ledgerMatches(t)

	// Counts: what the commands charged equals a recount, less the two ROOT volumes the test
	// inserted without charging.
	have, err := db.ResourceCounts(ctx, e.Server.DB.Read(), "account", v.aliceAcct)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := db.CountAccountResources(ctx, e.Server.DB.Read(), v.aliceAcct)
	if err != nil {
		t.Fatal(err)
	}
	want[db.ResVolume] -= 2
	want[db.ResPrimaryStorage] -= 2 * gib
	for _, typ := range []string{db.ResVolume, db.ResPrimaryStorage, db.ResSnapshot, db.ResSecondaryStorage} {
		if have[typ] != want[typ] {
			t.Errorf("%s: counted %d, rows say %d", typ, have[typ], want[typ])
		}
	}
	// The running VM's host has exactly the data disks the rows attach to it.
	rows, _, err := db.ListVolumes(ctx, e.Server.DB.Read(), db.VolumeFilter{VMID: running.ID, Type: db.VolumeDataDisk})
	if err != nil {
		t.Fatal(err)
	}
	onHost := v.sim(t).AttachedVolumes(running.InstanceName())
	if len(onHost) != len(rows) {
		t.Errorf("the host has %v attached, the rows %d volumes", onHost, len(rows))
	}
	for _, r := range rows {
		if onHost[r.ID] != r.DeviceID {
			t.Errorf("volume %s: device %d in the rows, %d on the host", r.ID, r.DeviceID, onHost[r.ID])
		}
	}
	// Nothing is left mid-operation.
	var stuck int
	if err := e.Server.DB.SQL.QueryRow(`SELECT COUNT(*) FROM volumes WHERE removed IS NULL AND state NOT IN ('Ready', 'Allocated')`).Scan(&stuck); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.DB.SQL.QueryRow(`SELECT COUNT(*) + ? FROM snapshots WHERE removed IS NULL AND state <> 'BackedUp'`, stuck).Scan(&stuck); err != nil {
		t.Fatal(err)
	}
	if stuck != 0 {
		t.Errorf("%d volumes or snapshots left in a transitional state", stuck)
	}
}

// Two attachVolume requests for one volume and VM, both accepted while the volume was still
// detached (attach jobs are held 300 ms before they run): the second job finds the volume
// attached by the first. It must refuse, not take the attach for its own replay: a host
// failure on its attach used to undo the first job's attach in the rows while the host kept
// the disk.
func TestVolumeAttachTwiceQueued(t *testing.T) {
	t.Setenv("ATOLL_FAULT_JOB_DELAY", "attachVolume=300ms")
	e := mgmttest.Start(t, mgmttest.Options{})
	v := newVolEnv(t, e)
	vm := v.vm(t, db.VMRunning)
	id := volOf(mgmttest.DoAsync(t, v.alice, "createVolume", map[string]string{"name": "twice", "zoneid": v.zone,
		"diskofferingid": v.custom, "size": "1"}))["id"].(string)
	var mu sync.Mutex
	attaches := 0
	v.sim(t).SetFaultSource(func(ctx context.Context, command string) (simulator.Fault, bool) {
		if command != "AttachVolume" {
			return simulator.Fault{}, false
		}
		mu.Lock()
		defer mu.Unlock()
		if attaches++; attaches > 1 {
			return simulator.Fault{Fail: true, Message: "injected"}, true
		}
		return simulator.Fault{}, false
	})
	ctx := context.Background()
	p := map[string]string{"id": id, "virtualmachineid": vm.ID}
	jobs := []string{mgmttest.Do(t, v.alice, "attachVolume", p)["jobid"].(string), mgmttest.Do(t, v.alice, "attachVolume", p)["jobid"].(string)}
	var res []map[string]any
	for _, j := range jobs {
		r, err := v.alice.Wait(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, r)
	}
	if res[0]["jobstatus"] != float64(1) {
		t.Fatalf("the first attach should work: %v", res[0])
	}
	if r, _ := res[1]["jobresult"].(map[string]any); res[1]["jobstatus"] != float64(2) || fmt.Sprint(r["errorcode"]) != "431" {
		t.Fatalf("the second attach should be refused with 431: %v", res[1])
	}
	row, err := db.GetVolume(ctx, e.Server.DB.Read(), id)
	if err != nil {
		t.Fatal(err)
	}
	onHost := v.sim(t).AttachedVolumes(vm.InstanceName())
	if row.VMID != vm.ID || len(onHost) != 1 || onHost[id] != row.DeviceID {
		t.Fatalf("the row attaches the volume to %q at device %d, the host has %v", row.VMID, row.DeviceID, onHost)
	}
}
