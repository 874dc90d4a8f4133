package api

import (
	"database/sql"
	"encoding/json"
	"testing"

	"github.com/atollcloud/atoll/db"
)

// The figures render as CloudStack formats them: cpuused with DecimalFormat("#.##") and a
// percent sign, the metrics' totals with String.format (half-up from the shortest decimal).
func TestVMStatsFormats(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0, "0%"}, {12.5, "12.5%"}, {12.345, "12.35%"}, {100, "100%"}, {0.004, "0%"}, {33.333333, "33.33%"}, {7.10, "7.1%"}} {
		if got := cpuPercent(c.v); got != c.want {
			t.Errorf("cpuPercent(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		v    float64
		n    int
		want string
	}{{0.25, 1, "0.3"}, {0.125, 2, "0.13"}, {1, 1, "1.0"}, {0.1875, 2, "0.19"}, {1024.0 / 1024, 2, "1.00"}, {3.14159, 2, "3.14"},
		{0, 2, "0.00"}, {0.005, 2, "0.01"}, {2.675, 2, "2.68"}, {1234.5, 1, "1234.5"}} {
		if got := fixed(c.v, c.n); got != c.want {
			t.Errorf("fixed(%v, %d) = %q, want %q", c.v, c.n, got, c.want)
		}
	}
}

// A VM's stats row renders as UserVmResponse's fields (KiB truncated, accumulated or the last
// interval's), and VmMetricsResponse adds them in readable units; a VM without stats has none
// of the statistics fields but still its cputotal and memorytotal.
func TestVMStatsRender(t *testing.T) {
	st := &db.VMStats{VMID: "v", CPUs: 2, CPUUsed: sql.NullFloat64{Float64: 12.5, Valid: true},
		MemoryBytes: 512 << 20, MaxMemory: 1 << 30,
		Last: db.VMCounters{NetRxBytes: 2047, NetTxBytes: 4096, DiskReadBytes: 1 << 20, DiskWriteBytes: 0, DiskReadOps: 7, DiskWriteOps: 3},
		Acc:  db.VMCounters{NetRxBytes: 3 << 20, NetTxBytes: 1536, DiskReadBytes: 5 << 20, DiskWriteBytes: 1 << 10, DiskReadOps: 70, DiskWriteOps: 30}}
	r := &vmResponse{ID: "v", CPUNumber: 2, CPUSpeed: 500, Memory: 512}
	r.vmStatsResponse = renderVMStats(st, true)
	got := map[string]any{}
	raw, _ := json.Marshal(metricsOf(r))
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"cpuused": "12.5%", "networkkbsread": 3072.0, "networkkbswrite": 1.0, "diskkbsread": 5120.0, "diskkbswrite": 1.0,
		"diskioread": 70.0, "diskiowrite": 30.0, "memorykbs": 1048576.0, "memorytargetkbs": 524288.0,
		"cputotal": "1.0 Ghz", "memorytotal": "0.50 GiB", "networkread": "3.00 MiB", "networkwrite": "0.00 MiB",
		"diskread": "5.00 MiB", "diskwrite": "0.00 MiB", "diskiopstotal": 100.0}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if _, ok := got["memoryintfreekbs"]; ok {
		t.Errorf("memoryintfreekbs rendered for a guest that reports no free memory: %v", got["memoryintfreekbs"])
	}
	last := renderVMStats(st, false)
	if *last.NetworkKbsRead != 1 || *last.DiskKbsRead != 1024 || *last.DiskIORead != 7 || *last.NetworkKbsWrite != 4 {
		t.Errorf("the last interval's figures: %+v", last)
	}

	bare := map[string]any{}
	raw, _ = json.Marshal(metricsOf(&vmResponse{ID: "w", CPUNumber: 1, CPUSpeed: 2000, Memory: 1536}))
	if err := json.Unmarshal(raw, &bare); err != nil {
		t.Fatal(err)
	}
	if bare["cputotal"] != "2.0 Ghz" || bare["memorytotal"] != "1.50 GiB" {
		t.Errorf("totals of a VM without stats: %v %v", bare["cputotal"], bare["memorytotal"])
	}
	for _, k := range []string{"cpuused", "networkkbsread", "diskkbsread", "diskioread", "memorykbs", "memorytargetkbs", "networkread", "diskread", "diskiopstotal"} {
		if v, ok := bare[k]; ok {
			t.Errorf("a VM without stats renders %s = %v", k, v)
		}
	}
}
