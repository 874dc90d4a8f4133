package planner

import (
	"context"
	"sort"

	"github.com/atollcloud/atoll/db"
)

// Level is how finely Summarize groups the ledger.
type Level int

const (
	ByZone Level = iota
	ByPod
	ByCluster
)

// Summary is one line of listCapacity: a resource's use and total over a zone, pod or cluster.
type Summary struct {
	Type                     int
	ZoneID, PodID, ClusterID string
	// Used is used plus reserved. Total is over-provisioned for CPU, memory and allocated
	// storage, as CloudStack reports it. Allocated is, for primary storage used (2), the bytes
	// allocated on the same pools; for every other type it equals Used.
	Used, Total, Allocated int64
}

// Percent is Used/Total as CloudStack computes it (in float32, times 100); 0 when Total is 0.
func (s *Summary) Percent() float64 {
	if s.Total == 0 {
		return 0
	}
	return float64(float32(s.Used) / float32(s.Total) * 100)
}

// factors caches over-provisioning factors by cluster and pool during one pass.
type factors struct {
	l     *Ledger
	byKey map[string]float64
}

func (l *Ledger) factors() *factors { return &factors{l: l, byKey: map[string]float64{}} }

// of returns the factor that applies to a row.
func (f *factors) of(ctx context.Context, q db.Querier, c *db.Capacity) (float64, error) {
	var key string
	switch c.Type {
	case db.CapCPU:
		key = "cpu/" + c.ClusterID
	case db.CapMemory:
		key = "mem/" + c.ClusterID
	case db.CapStorageAlloc:
		key = "pool/" + c.ObjectID
	default:
		return 1, nil
	}
	if v, ok := f.byKey[key]; ok {
		return v, nil
	}
	v, err := f.l.Factor(ctx, q, c)
	if err != nil {
		return 0, err
	}
	f.byKey[key] = v
	return v, nil
}

// Summarize sums the enabled ledger rows matching filter (zone, pod, cluster, types) per type
// and per zone, pod or cluster as level says, sorted by zone, pod, cluster and type.
func (l *Ledger) Summarize(ctx context.Context, q db.Querier, filter db.CapacityFilter, level Level) ([]*Summary, error) {
	types := filter.Types
	filter.Types = nil // allocated storage is needed to report storage used
	filter.EnabledOnly = true
	rows, err := db.ListCapacity(ctx, q, filter)
	if err != nil {
		return nil, err
	}
	want := map[int]bool{}
	for _, t := range types {
		want[t] = true
	}
	allocated := map[string]int64{} // pool id -> allocated bytes
	for _, r := range rows {
		if r.Type == db.CapStorageAlloc {
			allocated[r.ObjectID] = r.Used + r.Reserved
		}
	}
	fs := l.factors()
	type key struct {
		typ                int
		zone, pod, cluster string
	}
	sums := map[key]*Summary{}
	for _, r := range rows {
		if len(want) > 0 && !want[r.Type] {
			continue
		}
		k := key{typ: r.Type, zone: r.ZoneID}
		if level >= ByPod {
			k.pod = r.PodID
		}
		if level >= ByCluster {
			k.cluster = r.ClusterID
		}
		s := sums[k]
		if s == nil {
			s = &Summary{Type: k.typ, ZoneID: k.zone, PodID: k.pod, ClusterID: k.cluster}
			sums[k] = s
		}
		factor, err := fs.of(ctx, q, r)
		if err != nil {
			return nil, err
		}
		s.Used += r.Used + r.Reserved
		s.Total += scaled(r.Total, factor)
		if r.Type == db.CapStorage {
			s.Allocated += allocated[r.ObjectID]
		} else {
			s.Allocated += r.Used + r.Reserved
		}
	}
	out := make([]*Summary, 0, len(sums))
	for _, s := range sums {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ZoneID != b.ZoneID {
			return a.ZoneID < b.ZoneID
		}
		if a.PodID != b.PodID {
			return a.PodID < b.PodID
		}
		if a.ClusterID != b.ClusterID {
			return a.ClusterID < b.ClusterID
		}
		return a.Type < b.Type
	})
	return out, nil
}
