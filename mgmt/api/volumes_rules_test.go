package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/google/uuid"
)

// CloudStack's rules for a volume's IOPS (from its disk offering or the caller), for a
// volume made from a snapshot (its size and offering), and resizeVolume's automigrate.

func TestVolumeRules(t *testing.T) { testVolumeRules(t, mgmttest.Start(t, mgmttest.Options{})) }

func TestVolumeRulesMariaDB(t *testing.T) {
	dbtest.MySQLBase(t)
	testVolumeRules(t, mgmttest.Start(t, mgmttest.Options{MySQL: true}))
}

func testVolumeRules(t *testing.T, e *mgmttest.Env) {
	v := newVolEnv(t, e)
	ctx := context.Background()
	custIOPS, fixedIOPS, custIOPSFixed := uuid.NewString(), uuid.NewString(), uuid.NewString()
	for _, o := range []*db.DiskOffering{
		{ID: custIOPS, Name: "iops-custom", DisplayText: "custom size and iops", Customized: true, CustomizedIOPS: true, Created: db.Now()},
		{ID: fixedIOPS, Name: "iops-fixed", DisplayText: "custom size, 100-200 iops", Customized: true, MinIOPS: 100, MaxIOPS: 200, Created: db.Now()},
		{ID: custIOPSFixed, Name: "iops-custom-5g", DisplayText: "5 GB, custom iops", DiskSize: 5 * gib, CustomizedIOPS: true, Created: db.Now()},
	} {
		if err := db.InsertDiskOffering(ctx, e.Server.DB.SQL, o); err != nil {
			t.Fatal(err)
		}
	}
	iops := func(vol map[string]any) (any, any) { return vol["miniops"], vol["maxiops"] }
	create := func(t *testing.T, p map[string]string) map[string]any {
		t.Helper()
		p["zoneid"] = v.zone
		return volOf(mgmttest.DoAsync(t, v.alice, "createVolume", p))
	}
	refuse := func(t *testing.T, cmd string, p map[string]string, code int, msg string) {
		t.Helper()
		if text := v.refuse(t, v.alice, cmd, p, code); !strings.Contains(text, msg) {
			t.Fatalf("%s %v: %q, want %q", cmd, p, text, msg)
		}
		v.ledgerMatches(t)
	}

	t.Run("createIOPS", func(t *testing.T) {
		// A customized-IOPS offering takes the caller's IOPS, validated.
		base := map[string]string{"name": "i", "zoneid": v.zone, "diskofferingid": custIOPS, "size": "1"}
		with := func(kv ...string) map[string]string {
			p := map[string]string{}
			for k, val := range base {
				p[k] = val
			}
			for i := 0; i < len(kv); i += 2 {
				p[kv[i]] = kv[i+1]
			}
			return p
		}
		refuse(t, "createVolume", with("miniops", "0", "maxiops", "10"), 431, "The min IOPS must be greater than 0.")
		refuse(t, "createVolume", with("maxiops", "10"), 431, "The min IOPS must be greater than 0.")
		refuse(t, "createVolume", with("miniops", "-5", "maxiops", "10"), 431, "The min IOPS must be greater than 0.")
		refuse(t, "createVolume", with("miniops", "300", "maxiops", "200"), 431, "The min IOPS must be less than or equal to the max IOPS.")
		// Only miniops: maxiops is taken as 0, which is below it.
		refuse(t, "createVolume", with("miniops", "300"), 431, "The min IOPS must be less than or equal to the max IOPS.")
		if mn, mx := iops(create(t, with("miniops", "100", "maxiops", "500"))); mn != float64(100) || mx != float64(500) {
			t.Fatalf("customized IOPS: %v %v", mn, mx)
		}
		if mn, mx := iops(create(t, with())); mn != nil || mx != nil {
			t.Fatalf("customized IOPS without any: %v %v", mn, mx)
		}
		// A fixed-IOPS offering's IOPS win; the caller's are ignored, as CloudStack does.
		vol := create(t, map[string]string{"name": "f", "diskofferingid": fixedIOPS, "size": "1", "miniops": "7", "maxiops": "9"})
		if mn, mx := iops(vol); mn != float64(100) || mx != float64(200) {
			t.Fatalf("fixed IOPS: %v %v", mn, mx)
		}
		// An offering without IOPS: none, whatever the caller says.
		vol = create(t, map[string]string{"name": "n", "diskofferingid": v.fixed, "miniops": "7", "maxiops": "9"})
		if mn, mx := iops(vol); mn != nil || mx != nil {
			t.Fatalf("offering without IOPS: %v %v", mn, mx)
		}
		v.ledgerMatches(t)
	})

	t.Run("resizeIOPS", func(t *testing.T) {
		fixed := create(t, map[string]string{"name": "rf", "diskofferingid": fixedIOPS, "size": "1"})["id"].(string)
		cust := create(t, map[string]string{"name": "rc", "diskofferingid": custIOPS, "size": "1", "miniops": "10", "maxiops": "20"})["id"].(string)
		// The current offering's IOPS are not customizable: refused.
		refuse(t, "resizeVolume", map[string]string{"id": fixed, "miniops": "50"}, 431, "The current disk offering does not support customization of the 'Min IOPS' parameter.")
		refuse(t, "resizeVolume", map[string]string{"id": fixed, "maxiops": "50"}, 431, "The current disk offering does not support customization of the 'Max IOPS' parameter.")
		// Customizable: min <= max, with the volume's value for the one not given.
		refuse(t, "resizeVolume", map[string]string{"id": cust, "miniops": "30"}, 431, "The 'miniops' parameter must be less than or equal to the 'maxiops' parameter.")
		if mn, mx := iops(volOf(mgmttest.DoAsync(t, v.alice, "resizeVolume", map[string]string{"id": cust, "maxiops": "40"}))); mn != float64(10) || mx != float64(40) {
			t.Fatalf("resize maxiops: %v %v", mn, mx)
		}
		// A new fixed-IOPS offering brings its IOPS; the caller's are ignored.
		r := volOf(mgmttest.DoAsync(t, v.alice, "resizeVolume", map[string]string{"id": cust, "diskofferingid": fixedIOPS, "size": "2", "miniops": "1", "maxiops": "2"}))
		if mn, mx := iops(r); mn != float64(100) || mx != float64(200) || r["diskofferingid"] != fixedIOPS || r["size"] != float64(2*gib) {
			t.Fatalf("resize to a fixed-IOPS offering: %v", r)
		}
		// A new customized-IOPS offering takes the caller's (validated) or keeps the volume's.
		refuse(t, "resizeVolume", map[string]string{"id": fixed, "diskofferingid": custIOPSFixed, "miniops": "300", "maxiops": "200"}, 431,
			"The 'miniops' parameter must be less than or equal to the 'maxiops' parameter.")
		r = volOf(mgmttest.DoAsync(t, v.alice, "resizeVolume", map[string]string{"id": fixed, "diskofferingid": custIOPSFixed, "miniops": "150"}))
		if mn, mx := iops(r); mn != float64(150) || mx != float64(200) || r["size"] != float64(5*gib) {
			t.Fatalf("resize to a customized-IOPS offering: %v", r)
		}
		v.ledgerMatches(t)
	})

	t.Run("fromSnapshot", func(t *testing.T) {
		vm := v.vm(t, db.VMStopped)
		data := create(t, map[string]string{"name": "src", "diskofferingid": v.custom, "size": "3"})["id"].(string)
		mgmttest.DoAsync(t, v.alice, "attachVolume", map[string]string{"id": data, "virtualmachineid": vm.ID})
		dataSnap := mgmttest.DoAsync(t, v.alice, "createSnapshot", map[string]string{"volumeid": data})["snapshot"].(map[string]any)["id"].(string)
		roots := items(mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"virtualmachineid": vm.ID, "type": "ROOT"}), "volume")
		rootSnap := mgmttest.DoAsync(t, v.alice, "createSnapshot", map[string]string{"volumeid": roots[0]["id"].(string)})["snapshot"].(map[string]any)["id"].(string)

		// A DATADISK snapshot takes no offering.
		refuse(t, "createVolume", map[string]string{"name": "s", "snapshotid": dataSnap, "diskofferingid": v.fixed}, 431,
			"Disk Offering ID cannot be passed whilst creating volume from snapshot other than ROOT disk snapshots")
		// A snapshot alone: the snapshot's size; size is not read.
		vol0, primary0 := v.count(t, db.ResVolume), v.count(t, db.ResPrimaryStorage)
		s := volOf(mgmttest.DoAsync(t, v.alice, "createVolume", map[string]string{"name": "s1", "snapshotid": dataSnap, "size": "8"}))
		if s["size"] != float64(3*gib) {
			t.Fatalf("createVolume from a snapshot with size 8: %v", s["size"])
		}
		if v.count(t, db.ResVolume) != vol0+1 || v.count(t, db.ResPrimaryStorage) != primary0+3*gib {
			t.Fatalf("counts after a volume from a snapshot: %d %d", v.count(t, db.ResVolume)-vol0, v.count(t, db.ResPrimaryStorage)-primary0)
		}
		v.ledgerMatches(t)
		// A ROOT snapshot (1 GiB) with an offering: the offering's size, recorded with it.
		s = volOf(mgmttest.DoAsync(t, v.alice, "createVolume", map[string]string{"name": "s2", "snapshotid": rootSnap, "diskofferingid": v.fixed}))
		if s["size"] != float64(5*gib) || s["diskofferingid"] != v.fixed {
			t.Fatalf("createVolume from a ROOT snapshot with a 5 GB offering: %v", s)
		}
		if v.count(t, db.ResPrimaryStorage) != primary0+8*gib {
			t.Fatalf("primary storage count: +%d", v.count(t, db.ResPrimaryStorage)-primary0)
		}
		v.ledgerMatches(t)
		// A custom offering takes the size, which may not be below the snapshot's.
		refuse(t, "createVolume", map[string]string{"name": "s3", "snapshotid": rootSnap, "diskofferingid": v.custom}, 431, "This disk offering requires a custom size specified")
		refuse(t, "createVolume", map[string]string{"name": "s3", "snapshotid": rootSnap, "diskofferingid": v.fixed, "size": "7"}, 431, "This disk offering does not allow custom size")
		small := uuid.NewString()
		if err := db.InsertDiskOffering(ctx, e.Server.DB.SQL, &db.DiskOffering{ID: small, Name: "tiny", DisplayText: "tiny", DiskSize: gib / 2, Created: db.Now()}); err != nil {
			t.Fatal(err)
		}
		refuse(t, "createVolume", map[string]string{"name": "s3", "snapshotid": rootSnap, "diskofferingid": small}, 431, "Invalid size for volume creation: 0GB, snapshot size is: 1GB")
		s = volOf(mgmttest.DoAsync(t, v.alice, "createVolume", map[string]string{"name": "s4", "snapshotid": rootSnap, "diskofferingid": v.custom, "size": "2"}))
		if s["size"] != float64(2*gib) || s["diskofferingid"] != v.custom {
			t.Fatalf("createVolume from a ROOT snapshot with a custom offering: %v", s)
		}
		v.ledgerMatches(t)
	})

	t.Run("automigrate", func(t *testing.T) {
		vm := v.vm(t, db.VMStopped)
		id := create(t, map[string]string{"name": "am", "diskofferingid": v.custom, "size": "1"})["id"].(string)
		mgmttest.DoAsync(t, v.alice, "attachVolume", map[string]string{"id": id, "virtualmachineid": vm.ID})
		mgmttest.Do(t, e.Admin, "updateStoragePool", map[string]string{"id": v.pool, "capacitybytes": "32212254720"}) // 30 GiB
		full := v.refuseJob(t, v.alice, "resizeVolume", map[string]string{"id": id, "size": "900"}, 533)
		if strings.Contains(full, "automigrate") {
			t.Fatalf("pool full without automigrate names it: %s", full)
		}
		text := v.refuseJob(t, v.alice, "resizeVolume", map[string]string{"id": id, "size": "900", "automigrate": "true"}, 533)
		if !strings.Contains(text, "automigrate") || !strings.Contains(text, "migrateVolume") {
			t.Fatalf("pool full with automigrate: %s", text)
		}
		// With room, automigrate changes nothing: the volume stays and grows.
		r := volOf(mgmttest.DoAsync(t, v.alice, "resizeVolume", map[string]string{"id": id, "size": "2", "automigrate": "true"}))
		if r["size"] != float64(2*gib) || r["storageid"] != v.pool {
			t.Fatalf("resize with room and automigrate: %v", r)
		}
		v.ledgerMatches(t)
	})
}
