package vm

import (
	"math"
	"testing"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
)

func sampleOf(cpuNs uint64, cpus int, rd, rx int64) protocol.VMStats {
	return protocol.VMStats{Name: "i", CPUs: cpus, CPUTimeNs: cpuNs, MemoryBytes: 1 << 30, MaxMemory: 2 << 30,
		Disks: []protocol.DiskStats{{ReadBytes: rd, ReadOps: rd / 512}, {ReadBytes: 0, WriteBytes: 4096, WriteOps: 1}},
		Nics:  []protocol.NicStats{{RxBytes: rx, TxBytes: rx / 2}}}
}

// Two samples of one run give a CPU percentage per vCPU and the counters' increases; a sample
// from another host or one whose counters went down starts a new run; one whose host clock went
// back continues it, without a CPU percentage.
func TestNextStats(t *testing.T) {
	first := NextStats(nil, "v", "h1", sampleOf(1e9, 2, 1024, 100), 1000, 5000)
	if first.CPUUsed.Valid || first.Raw.DiskReadBytes != 1024 || first.Raw.DiskWriteBytes != 4096 || first.Raw.NetRxBytes != 100 ||
		first.Last != first.Raw || first.Acc != first.Raw || first.Sampled != 1000 || first.Collected != 5000 || first.MaxMemory != 2<<30 {
		t.Fatalf("first sample: %+v", first)
	}
	// 4 s later, 2 s of CPU time on 2 vCPUs: 25%.
	second := NextStats(first, "v", "h1", sampleOf(3e9, 2, 3072, 300), 5000, 9000)
	if !second.CPUUsed.Valid || math.Abs(second.CPUUsed.Float64-25) > 1e-9 {
		t.Errorf("cpu used: %+v", second.CPUUsed)
	}
	if second.Last.DiskReadBytes != 2048 || second.Last.NetRxBytes != 200 || second.Last.DiskWriteBytes != 0 || second.Last.DiskReadOps != 4 ||
		second.Acc.DiskReadBytes != 3072 || second.Acc.NetRxBytes != 300 || second.Acc.DiskWriteBytes != 4096 {
		t.Errorf("increases: last %+v acc %+v", second.Last, second.Acc)
	}
	for name, next := range map[string]*db.VMStats{
		"another host":       NextStats(second, "v", "h2", sampleOf(4e9, 2, 4096, 400), 9000, 9000),
		"counters went down": NextStats(second, "v", "h1", sampleOf(1e8, 2, 512, 10), 9000, 9000),
	} {
		if next.CPUUsed.Valid || next.Last != next.Raw || next.Acc != second.Acc.Plus(next.Raw) {
			t.Errorf("%s: a new run counts whole: %+v", name, next)
		}
	}
	back := NextStats(second, "v", "h1", sampleOf(4e9, 2, 4096, 400), 4000, 9000)
	if back.CPUUsed.Valid || back.Last.DiskReadBytes != 1024 || back.Acc.DiskReadBytes != 4096 {
		t.Errorf("a sample stamped earlier: cpu %+v last %+v acc %+v", back.CPUUsed, back.Last, back.Acc)
	}
}
