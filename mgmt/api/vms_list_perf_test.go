package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"syscall"
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
		if os.Getenv("ATOLL_VM_LISTPERF_NOSTAGES") != "" {
			return
		}
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
	if os.Getenv("ATOLL_VM_LISTPERF_EXPLAIN") != "" {
		explain := "EXPLAIN "
		if v.Server.DB.Dialect == db.SQLite {
			explain = "EXPLAIN QUERY PLAN "
		}
		for _, qs := range []string{"SELECT COUNT(*) FROM vm_instances v WHERE v.removed IS NULL",
			"SELECT v.id, v.name FROM vm_instances v WHERE v.removed IS NULL ORDER BY v.seq LIMIT 500 OFFSET 20000",
			"SELECT n.id FROM nics n JOIN (SELECT v.id AS pid FROM vm_instances v WHERE v.removed IS NULL ORDER BY v.seq LIMIT 500 OFFSET 20000) p ON p.pid = n.vm_id WHERE n.removed IS NULL",
			"SELECT id FROM nics WHERE removed IS NULL AND vm_id IN (SELECT v.id FROM vm_instances v WHERE v.removed IS NULL)",
			"SELECT id FROM nics WHERE removed IS NULL AND vm_id IN (SELECT v.id FROM vm_instances v WHERE v.removed IS NULL AND v.account_id = 'x')"} {
			rows, err := rq.QueryContext(ctx, explain+qs)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			t.Logf("%s", qs)
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				rows.Scan(ptrs...)
				line := ""
				for i, c := range cols {
					if b, ok := vals[i].([]byte); ok {
						vals[i] = string(b)
					}
					line += fmt.Sprintf("%s=%v ", c, vals[i])
				}
				t.Logf("    %s", line)
			}
			rows.Close()
		}
	}
	pageVMs, _, _ := db.ListVMsToRender(ctx, rq, db.VMFilter{Limit: 500, Offset: 20000}, false)
	var pageIDs []string
	for _, x := range pageVMs {
		pageIDs = append(pageIDs, x.ID)
	}
	stage("db.ListNicsToRender 500 ids", func() error { _, err := db.ListNicsToRender(ctx, rq, pageIDs); return err })
	stage("db.ListVMsToRender page 40", func() error {
		_, _, err := db.ListVMsToRender(ctx, rq, db.VMFilter{Limit: 500, Offset: 20000}, false)
		return err
	})
	var all, dec, allCPU []time.Duration
	for r := 0; r < rounds; r++ {
		t0, c0 := time.Now(), cpuTime()
		b := goldenCall(t, v.URL, v.Admin.Key, v.Admin.Secret, map[string]string{"listall": "true"})
		all, allCPU = append(all, time.Since(t0)), append(allCPU, cpuTime()-c0)
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
	var pages, pagesCPU []time.Duration
	for p := 1; p <= (n+499)/500; p++ {
		t0, c0 := time.Now(), cpuTime()
		goldenCall(t, v.URL, v.Admin.Key, v.Admin.Secret, map[string]string{"listall": "true", "page": strconv.Itoa(p), "pagesize": "500"})
		pages, pagesCPU = append(pages, time.Since(t0)), append(pagesCPU, cpuTime()-c0)
	}
	t.Logf("all at once CPU of this process (server, client read, GC): %s", durs(allCPU))
	t.Logf("pages of 500 CPU of this process: %s", durs(pagesCPU))
	t.Logf("all at once (to last byte): %s", durs(all))
	t.Logf("decoding it into maps (client): %s", durs(dec))
	t.Logf("pages of 500 (to last byte): %s", durs(pages))
	_ = mgmttest.Do
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func durs(d []time.Duration) string {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("n=%d min %v p50 %v max %v", len(s), s[0].Round(time.Millisecond), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}
