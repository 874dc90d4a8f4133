package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// TestVMListPerf times listVirtualMachines over ATOLL_VM_LISTPERF=<n> VMs (rows cloned from
// deployed, Running VMs with their NICs, spread over the zone's hosts), on SQLite or, with
// ATOLL_TEST_MYSQL, on MariaDB: the answer all at once and every page of 500, request sent to
// last byte read (decoding the answer timed apart: that is the client's work).
func TestVMListPerf(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ATOLL_VM_LISTPERF"))
	if n <= 0 {
		t.Skip("set ATOLL_VM_LISTPERF=<VMs> to measure")
	}
	v := newVMEnv(t, os.Getenv("ATOLL_TEST_MYSQL") != "")
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		v.deploy(t, v.tenant, map[string]string{"networkids": v.network})
	}
	q := v.Server.DB.SQL
	src, _, err := db.ListVMs(ctx, q, db.VMFilter{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for start := len(src); start < n; start += 2000 {
		tx, err := q.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for i := start; i < min(n, start+2000); i++ {
			s := src[i%len(src)]
			nics, err := db.ListNics(ctx, tx, db.NicFilter{VMID: s.ID})
			if err != nil {
				t.Fatal(err)
			}
			c := *s
			c.ID, c.Name, c.DisplayName = fmt.Sprintf("00000000-0000-4000-8000-%012d", i), fmt.Sprintf("perf-%05d", i), fmt.Sprintf("perf-%05d", i)
			c.HostID = v.hosts[i%len(v.hosts)]
			if err := db.InsertVM(ctx, tx, &c); err != nil {
				t.Fatal(err)
			}
			for k, nic := range nics {
				d := *nic
				d.ID, d.VMID = fmt.Sprintf("00000000-0000-4000-9000-%010d%02d", i, k), c.ID
				d.IPAddress, d.MACAddress = fmt.Sprintf("10.%d.%d.%d", 100+k, i/250, i%250+2), fmt.Sprintf("02:01:%02x:%02x:%02x:%02x", k, i>>16, (i>>8)&255, i&255)
				if err := db.InsertNic(ctx, tx, &d); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("filled %d VMs in %v", n, time.Since(t0).Round(time.Millisecond))
	rounds := 5
	if r, _ := strconv.Atoi(os.Getenv("ATOLL_VM_LISTPERF_ROUNDS")); r > 0 {
		rounds = r
	}
	stage := func(name string, f func() error) {
		var d []time.Duration
		for r := 0; r < rounds; r++ {
			t0 := time.Now()
			if err := f(); err != nil {
				t.Fatal(err)
			}
			d = append(d, time.Since(t0))
		}
		t.Logf("stage %s: %s", name, durs(d))
	}
	rq := v.Server.DB.Read()
	stage("db.ListVMs all (joins, every column)", func() error { _, _, err := db.ListVMs(ctx, rq, db.VMFilter{}); return err })
	stage("db.ListVMsToRender all", func() error { _, _, err := db.ListVMsToRender(ctx, rq, db.VMFilter{}, false); return err })
	stage("db.ListVMs all (joins, every column)", func() error { _, _, err := db.ListVMs(ctx, rq, db.VMFilter{}); return err })
	stage("db.ListNicsOfVMs all", func() error { _, err := db.ListNicsOfVMs(ctx, rq, db.VMFilter{}); return err })
	stage("db.ListVMsToRender page 40", func() error {
		_, _, err := db.ListVMsToRender(ctx, rq, db.VMFilter{Limit: 500, Offset: 20000}, false)
		return err
	})
	stage("db.ListNicsOfVMs page 40", func() error {
		_, err := db.ListNicsOfVMs(ctx, rq, db.VMFilter{Limit: 500, Offset: 20000})
		return err
	})
	var all, dec []time.Duration
	for r := 0; r < rounds; r++ {
		t0 := time.Now()
		b := goldenCall(t, v.URL, v.Admin.Key, v.Admin.Secret, map[string]string{"listall": "true"})
		all = append(all, time.Since(t0))
		t0 = time.Now()
		var m map[string]any
		if err := json.Unmarshal(b[4:], &m); err != nil {
			t.Fatal(err)
		}
		dec = append(dec, time.Since(t0))
		if got := len(m["listvirtualmachinesresponse"].(map[string]any)["virtualmachine"].([]any)); got != n {
			t.Fatalf("listed %d VMs, want %d", got, n)
		}
		if r == 0 {
			t.Logf("answer: %d MB", len(b)>>20)
		}
	}
	var pages []time.Duration
	for p := 1; p <= (n+499)/500; p++ {
		t0 := time.Now()
		goldenCall(t, v.URL, v.Admin.Key, v.Admin.Secret, map[string]string{"listall": "true", "page": strconv.Itoa(p), "pagesize": "500"})
		pages = append(pages, time.Since(t0))
	}
	t.Logf("all at once (to last byte): %s", durs(all))
	t.Logf("decoding it into maps (client): %s", durs(dec))
	t.Logf("pages of 500 (to last byte): %s", durs(pages))
	_ = mgmttest.Do
}

func durs(d []time.Duration) string {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("n=%d min %v p50 %v max %v", len(s), s[0].Round(time.Millisecond), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}
