package planner

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
)

// Key names one ledger row.
type Key struct {
	Type     int
	ObjectID string
}

func (k Key) String() string { return TypeName(k.Type) + "/" + k.ObjectID }

// Mismatch is one difference between the ledger and what it should hold.
type Mismatch struct {
	Key
	// Field is "total", "used", "zone", "pod" or "cluster" for a wrong value, "missing" for a
	// row that should exist, "orphan" for a row whose object is gone, "negative" for a row
	// with negative used or reserved.
	Field            string
	Ledger, Expected string
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s %s: ledger %s, expected %s", m.Key, m.Field, m.Ledger, m.Expected)
}

// Report is the outcome of Recompute.
type Report struct {
	Checked    int // ledger rows compared
	Mismatches []Mismatch
	// Overcommitted rows hold more than total × factor in use. That is legal (a factor lowered
	// after the fact, or a threshold ignored) but worth an admin's look; it is not a mismatch.
	Overcommitted []Key
}

// OK reports whether the ledger matched.
func (r *Report) OK() bool { return len(r.Mismatches) == 0 }

// Usage supplies the expected in-use amounts (used + reserved) of rows derived from objects
// this package does not own: VMs' CPU MHz, memory and cores per host, volumes' bytes per pool
// (CapStorageAlloc). Rows of those types absent from the map are expected at 0.
type Usage func(ctx context.Context, q db.Querier) (map[Key]int64, error)

type expected struct {
	zone, pod, cluster string
	total              int64
	used               int64
	checkUsed          bool
}

// usageTypes are the types whose in-use amount comes from a Usage function.
var usageTypes = map[int]bool{db.CapCPU: true, db.CapMemory: true, db.CapCPUCore: true, db.CapStorageAlloc: true}

// checkedTypes are the types Recompute rebuilds; others (private IPs, secondary and local
// storage) have no source in the schema yet and are left alone.
var checkedTypes = map[int]bool{db.CapMemory: true, db.CapCPU: true, db.CapCPUCore: true, db.CapStorage: true,
	db.CapStorageAlloc: true, db.CapPublicIP: true, db.CapDirectPublicIP: true, db.CapVLAN: true}

// Recompute rebuilds the ledger from scratch (totals from hosts, pools, public addresses and
// physical networks' VNI ranges; in-use amounts from pools' measured bytes, address states,
// VNI allocations and, when usage is given, the objects that reserve CPU, memory and
// storage) and compares it with the ledger rows. It reads in q; run it in one transaction
// (or on a quiet database) for a consistent view.
func (l *Ledger) Recompute(ctx context.Context, q db.Querier, usage Usage) (*Report, error) {
	want := map[Key]*expected{}
	hosts, err := db.ListHostResources(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, h := range hosts {
		place := expected{zone: h.ZoneID, pod: h.PodID, cluster: h.ClusterID}
		for typ, total := range map[int]int64{db.CapCPU: int64(h.CPUs) * h.CPUSpeed, db.CapMemory: h.Memory, db.CapCPUCore: int64(h.CPUs)} {
			e := place
			e.total = total
			want[Key{typ, h.ID}] = &e
		}
	}
	pools, _, err := db.ListStoragePools(ctx, q, db.StoragePoolFilter{})
	if err != nil {
		return nil, err
	}
	for _, p := range pools {
		place := expected{zone: p.ZoneID, pod: p.PodID, cluster: p.ClusterID, total: p.CapacityBytes}
		used := place
		used.used, used.checkUsed = p.UsedBytes, true
		want[Key{db.CapStorage, p.ID}] = &used
		alloc := place
		want[Key{db.CapStorageAlloc, p.ID}] = &alloc
	}
	addrs, err := db.CountPublicAddresses(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		typ := db.CapDirectPublicIP
		if a.VirtualNetwork {
			typ = db.CapPublicIP
		}
		want[Key{typ, a.ZoneID}] = &expected{zone: a.ZoneID, total: a.Total, used: a.InUse, checkUsed: true}
	}
	vnets, err := db.ListNetworkVNets(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, n := range vnets {
		// Guest VNIs are counted per physical network, in Advanced zones only (a Basic zone's
		// guests share the zone's network).
		if n.ZoneNetworkType != "Advanced" {
			continue
		}
		want[Key{db.CapVLAN, n.ID}] = &expected{zone: n.ZoneID, total: RangeSize(n.Ranges), used: n.Allocated, checkUsed: true}
	}
	if usage != nil {
		used, err := usage(ctx, q)
		if err != nil {
			return nil, err
		}
		for k, e := range want {
			if usageTypes[k.Type] {
				e.used, e.checkUsed = used[k], true
			}
		}
		for k, v := range used {
			if _, ok := want[k]; !ok && v != 0 {
				// In use on an object that does not exist: the ledger cannot hold it.
				want[k] = &expected{used: v, checkUsed: true}
			}
		}
	}

	rows, err := db.ListCapacity(ctx, q, db.CapacityFilter{})
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	fs := l.factors()
	seen := map[Key]bool{}
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, r := range rows {
		if !checkedTypes[r.Type] {
			continue
		}
		k := Key{r.Type, r.ObjectID}
		seen[k] = true
		rep.Checked++
		if r.Used < 0 || r.Reserved < 0 {
			rep.Mismatches = append(rep.Mismatches, Mismatch{Key: k, Field: "negative", Ledger: i64(r.Used) + "+" + i64(r.Reserved), Expected: ">= 0"})
		}
		e, ok := want[k]
		if !ok {
			rep.Mismatches = append(rep.Mismatches, Mismatch{Key: k, Field: "orphan", Ledger: "row", Expected: "no row"})
			continue
		}
		if r.Total != e.total {
			rep.Mismatches = append(rep.Mismatches, Mismatch{Key: k, Field: "total", Ledger: i64(r.Total), Expected: i64(e.total)})
		}
		if e.checkUsed && r.Used+r.Reserved != e.used {
			rep.Mismatches = append(rep.Mismatches, Mismatch{Key: k, Field: "used", Ledger: i64(r.Used + r.Reserved), Expected: i64(e.used)})
		}
		for _, p := range []struct{ field, got, want string }{{"zone", r.ZoneID, e.zone}, {"pod", r.PodID, e.pod}, {"cluster", r.ClusterID, e.cluster}} {
			if p.got != p.want {
				rep.Mismatches = append(rep.Mismatches, Mismatch{Key: k, Field: p.field, Ledger: p.got, Expected: p.want})
			}
		}
		factor, err := fs.of(ctx, q, r)
		if err != nil {
			return nil, err
		}
		if r.Used+r.Reserved > scaled(r.Total, factor) {
			rep.Overcommitted = append(rep.Overcommitted, k)
		}
	}
	for k, e := range want {
		if seen[k] || e.total == 0 && e.used == 0 {
			continue // a host that has not reported resources yet needs no row
		}
		rep.Mismatches = append(rep.Mismatches, Mismatch{Key: k, Field: "missing", Ledger: "no row",
			Expected: "total " + i64(e.total) + ", used " + i64(e.used)})
	}
	sort.Slice(rep.Mismatches, func(i, j int) bool {
		a, b := rep.Mismatches[i], rep.Mismatches[j]
		if a.ObjectID != b.ObjectID {
			return a.ObjectID < b.ObjectID
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Field < b.Field
	})
	return rep, nil
}

// RangeSize counts the VNIs of a range list as physical networks hold it: "100-199,300" is
// 101; overlapping ranges count once. Malformed parts count nothing (the physical network
// code validates what it stores).
func RangeSize(s string) int64 {
	type span struct{ lo, hi int64 }
	var spans []span
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseInt(strings.TrimSpace(lo), 10, 64)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.ParseInt(strings.TrimSpace(hi), 10, 64); err != nil || b < a {
				continue
			}
		}
		spans = append(spans, span{a, b})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	var n, next int64 = 0, -1 << 62
	for _, sp := range spans {
		lo := max(sp.lo, next)
		if sp.hi >= lo {
			n += sp.hi - lo + 1
			next = sp.hi + 1
		}
	}
	return n
}
