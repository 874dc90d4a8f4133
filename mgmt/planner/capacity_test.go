package planner_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

const gib = int64(1) << 30

type env struct {
	d   *db.DB
	cfg *config.Store
	l   *planner.Ledger
}

func newEnv(t *testing.T, url string) *env {
	t.Helper()
	d := dbtest.Open(t, url, true)
	cfg := config.NewStore(d)
	return &env{d: d, cfg: cfg, l: planner.New(cfg)}
}

func sqliteEnv(t *testing.T) *env {
	return newEnv(t, "sqlite://"+t.TempDir()+"/atoll.db")
}

// tx runs fn in one transaction and fails the test on an unexpected error; it returns fn's
// error so that refusals can be inspected.
func (e *env) tx(t *testing.T, fn func(tx db.Tx) error) error {
	t.Helper()
	return e.d.Transaction(context.Background(), fn)
}

func (e *env) set(t *testing.T, scope, id, name, value string) {
	t.Helper()
	if err := e.tx(t, func(tx db.Tx) error { return e.cfg.Set(context.Background(), tx, scope, id, name, &value) }); err != nil {
		t.Fatal(err)
	}
}

func (e *env) row(t *testing.T, typ int, id string) *db.Capacity {
	t.Helper()
	c, err := db.GetCapacity(context.Background(), e.d.Read(), typ, id)
	if err != nil {
		t.Fatalf("capacity %d/%s: %v", typ, id, err)
	}
	return c
}

// host inserts a routing host row and its ledger rows.
func (e *env) host(t *testing.T, zone, pod, cluster string, cpus int, speed, memory int64) string {
	t.Helper()
	id := uuid.NewString()
	err := e.tx(t, func(tx db.Tx) error {
		_, err := tx.ExecContext(context.Background(), `INSERT INTO hosts (id, name, guid, type, zone_id, pod_id, cluster_id, hypervisor_type,
			status, resource_state, cpus, cpu_speed, memory, created) VALUES (?, ?, ?, 'Routing', ?, ?, ?, 'Simulator', 'Up', 'Enabled', ?, ?, ?, ?)`,
			id, "h-"+id[:8], id, zone, pod, cluster, cpus, speed, memory, db.Now())
		if err != nil {
			return err
		}
		return e.l.SetHostCapacity(context.Background(), tx, db.HostResources{ID: id, ZoneID: zone, PodID: pod, ClusterID: cluster,
			CPUs: cpus, CPUSpeed: speed, Memory: memory})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// pool inserts an Up NFS pool with its ledger rows.
func (e *env) pool(t *testing.T, zone, pod, cluster string, capacity int64) string {
	t.Helper()
	p := &db.StoragePool{ID: uuid.NewString(), ZoneID: zone, PodID: pod, ClusterID: cluster, Scope: "CLUSTER", PoolType: "NetworkFilesystem",
		HostAddress: "10.0.0.1", Port: 2049, Provider: "DefaultPrimary", Hypervisor: "Simulator", CapacityBytes: capacity, Status: db.PoolUp,
		Created: db.Now()}
	p.Name, p.Path, p.URL = "pool-"+p.ID[:8], "/export/"+p.ID, "nfs://10.0.0.1/export/"+p.ID
	err := e.tx(t, func(tx db.Tx) error {
		if err := db.InsertStoragePool(context.Background(), tx, p); err != nil {
			return err
		}
		return e.l.SetPoolCapacity(context.Background(), tx, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got %v, want %v", err, target)
	}
	var ce *planner.CapacityError
	if !errors.As(err, &ce) {
		t.Fatalf("%v is not a *CapacityError", err)
	}
}

// TestReserveComputeOverprovisioning proves the CPU and memory limits are total × the
// cluster's factor, the disable threshold applies below that, and a refusal takes nothing.
func TestReserveComputeOverprovisioning(t *testing.T) {
	e := sqliteEnv(t)
	ctx := context.Background()
	zone, pod, cluster := uuid.NewString(), uuid.NewString(), uuid.NewString()
	e.set(t, config.Cluster, cluster, planner.CPUFactorSetting, "2")
	e.set(t, config.Cluster, cluster, planner.MemFactorSetting, "1.5")
	h := e.host(t, zone, pod, cluster, 4, 1000, 8*gib) // 4000 MHz, 8 GiB: limits 8000 MHz, 12 GiB
	other := e.host(t, zone, pod, "", 4, 1000, 8*gib)  // no cluster: global factors 1.0

	reserve := func(host string, need planner.Compute, o planner.Options) error {
		return e.tx(t, func(tx db.Tx) error { return e.l.ReserveCompute(ctx, tx, host, need, o) })
	}
	// Within the threshold (0.85 of 8000 = 6800 MHz, of 12 GiB = 10.2 GiB).
	if err := reserve(h, planner.Compute{CPUMHz: 6800, Cores: 2, Memory: 10 * gib}, planner.Options{}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, reserve(h, planner.Compute{CPUMHz: 1, Memory: 1}, planner.Options{}), planner.ErrThreshold)
	// Ignoring the threshold, up to the over-provisioned total and not one MHz more.
	if err := reserve(h, planner.Compute{CPUMHz: 1200, Memory: 2 * gib}, planner.Options{IgnoreThreshold: true}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, reserve(h, planner.Compute{CPUMHz: 1, Memory: 0}, planner.Options{IgnoreThreshold: true}), planner.ErrInsufficient)
	if c := e.row(t, db.CapCPU, h); c.Used != 8000 || c.Total != 4000 {
		t.Fatalf("cpu row %+v", c)
	}
	if c := e.row(t, db.CapCPUCore, h); c.Used != 2 {
		t.Fatalf("cores row %+v", c)
	}
	// Memory refused after CPU was taken: the CPU comes back.
	if err := e.tx(t, func(tx db.Tx) error {
		return e.l.ReleaseCompute(ctx, tx, h, planner.Compute{CPUMHz: 1000})
	}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, reserve(h, planner.Compute{CPUMHz: 500, Memory: 1}, planner.Options{IgnoreThreshold: true}), planner.ErrInsufficient)
	if c := e.row(t, db.CapCPU, h); c.Used != 7000 {
		t.Fatalf("cpu after refused memory: %+v", c)
	}
	// The unclustered host follows the global factor 1.0.
	wantErr(t, reserve(other, planner.Compute{CPUMHz: 4001}, planner.Options{IgnoreThreshold: true}), planner.ErrInsufficient)
	if err := reserve(other, planner.Compute{CPUMHz: 4000}, planner.Options{IgnoreThreshold: true}); err != nil {
		t.Fatal(err)
	}
	// Disabled rows take nothing; unknown hosts have no ledger; releases cannot underflow.
	if err := e.tx(t, func(tx db.Tx) error { return db.SetCapacityEnabled(ctx, tx, other, false) }); err != nil {
		t.Fatal(err)
	}
	wantErr(t, reserve(other, planner.Compute{CPUMHz: 0}, planner.Options{}), planner.ErrDisabled)
	wantErr(t, reserve(uuid.NewString(), planner.Compute{CPUMHz: 1}, planner.Options{}), planner.ErrNoLedger)
	wantErr(t, e.tx(t, func(tx db.Tx) error {
		return e.l.ReleaseCompute(ctx, tx, h, planner.Compute{CPUMHz: 7001})
	}), planner.ErrUnderflow)
	if err := reserve(h, planner.Compute{CPUMHz: -1}, planner.Options{}); err == nil {
		t.Fatal("negative reservation accepted")
	}
}

// TestClusterThreshold proves the disable threshold is the cluster's aggregate: a host with
// room left is refused once its cluster as a whole is past the threshold.
func TestClusterThreshold(t *testing.T) {
	e := sqliteEnv(t)
	ctx := context.Background()
	zone, pod, cluster := uuid.NewString(), uuid.NewString(), uuid.NewString()
	e.set(t, config.Cluster, cluster, planner.CPUThresholdSetting, "0.5")
	a := e.host(t, zone, pod, cluster, 1, 1000, gib)
	b := e.host(t, zone, pod, cluster, 1, 1000, gib)
	reserve := func(host string, mhz int64) error {
		return e.tx(t, func(tx db.Tx) error {
			return e.l.ReserveCompute(ctx, tx, host, planner.Compute{CPUMHz: mhz}, planner.Options{})
		})
	}
	if err := reserve(a, 1000); err != nil { // a full, cluster at 50%
		t.Fatal(err)
	}
	wantErr(t, reserve(b, 1), planner.ErrThreshold)
	e.set(t, config.Cluster, cluster, planner.CPUThresholdSetting, "1")
	if err := reserve(b, 1000); err != nil {
		t.Fatal(err)
	}
}

// TestReserveStorage proves primary storage allocation is bounded by capacity × the pool's
// storage.overprovisioning.factor and by the zone's allocated disable threshold.
func TestReserveStorage(t *testing.T) {
	e := sqliteEnv(t)
	ctx := context.Background()
	zone := uuid.NewString()
	p := e.pool(t, zone, uuid.NewString(), uuid.NewString(), 1000) // global factor 2: limit 2000, threshold 0.85: 1700
	reserve := func(n int64, o planner.Options) error {
		return e.tx(t, func(tx db.Tx) error { return e.l.ReserveStorage(ctx, tx, p, n, o) })
	}
	if err := reserve(1700, planner.Options{}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, reserve(1, planner.Options{}), planner.ErrThreshold)
	if err := reserve(300, planner.Options{IgnoreThreshold: true}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, reserve(1, planner.Options{IgnoreThreshold: true}), planner.ErrInsufficient)
	e.set(t, config.StoragePool, p, planner.StorageFactorSetting, "3")
	e.set(t, config.Zone, zone, planner.StorageThresholdSetting, "1")
	if err := reserve(1000, planner.Options{}); err != nil {
		t.Fatal(err)
	}
	if c := e.row(t, db.CapStorageAlloc, p); c.Used != 3000 {
		t.Fatalf("allocated %+v", c)
	}
	if err := e.tx(t, func(tx db.Tx) error { return e.l.ReleaseStorage(ctx, tx, p, 3000) }); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.tx(t, func(tx db.Tx) error { return e.l.ReleaseStorage(ctx, tx, p, 1) }), planner.ErrUnderflow)
}

// TestConcurrentReservationsNeverOvercommit races many transactions for one host on both
// engines: the conditional update lets exactly as many through as fit.
func TestConcurrentReservationsNeverOvercommit(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		ctx := context.Background()
		h := e.host(t, uuid.NewString(), uuid.NewString(), "", 10, 100, 10*gib) // 1000 MHz
		var wg sync.WaitGroup
		var mu sync.Mutex
		granted, refused := 0, 0
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := e.d.Transaction(ctx, func(tx db.Tx) error {
					return e.l.ReserveCompute(ctx, tx, h, planner.Compute{CPUMHz: 100, Memory: gib / 4}, planner.Options{IgnoreThreshold: true})
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					granted++
				case errors.Is(err, planner.ErrInsufficient):
					refused++
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if granted != 10 || refused != 30 {
			t.Fatalf("granted %d, refused %d; want 10 and 30", granted, refused)
		}
		if c := e.row(t, db.CapCPU, h); c.Used != 1000 {
			t.Fatalf("cpu used %d", c.Used)
		}
		if c := e.row(t, db.CapMemory, h); c.Used != 10*gib/4 {
			t.Fatalf("memory used %d", c.Used)
		}
	})
}

// TestRecomputeMatchesAfterRandomReserveRelease runs random reservations and releases over
// hosts, pools and public addresses, tracking what should be in use, and checks Recompute
// agrees with the ledger; then it damages the ledger and checks Recompute says where.
func TestRecomputeMatchesAfterRandomReserveRelease(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		ctx := context.Background()
		zone, pod := uuid.NewString(), uuid.NewString()
		clusters := []string{uuid.NewString(), uuid.NewString()}
		e.set(t, config.Cluster, clusters[0], planner.CPUFactorSetting, "4")
		var hosts, pools []string
		for i := 0; i < 4; i++ {
			hosts = append(hosts, e.host(t, zone, pod, clusters[i%2], 8, 2000, 32*gib))
			pools = append(pools, e.pool(t, zone, pod, clusters[i%2], 100*gib))
		}
		// A public range of 16 addresses.
		rangeID := uuid.NewString()
		err := e.tx(t, func(tx db.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO vlan_ranges (id, zone_id, vlan_tag, start_ip, end_ip, for_virtual_network, created)
				VALUES (?, ?, 'untagged', '198.51.100.1', '198.51.100.16', 1, ?)`, rangeID, zone, db.Now()); err != nil {
				return err
			}
			for i := 1; i <= 16; i++ {
				if _, err := tx.ExecContext(ctx, "INSERT INTO public_ips (id, zone_id, vlan_id, address, state) VALUES (?, ?, ?, ?, 'Free')",
					uuid.NewString(), zone, rangeID, fmt.Sprintf("198.51.100.%d", i)); err != nil {
					return err
				}
			}
			return db.SetCapacityTotal(ctx, tx, db.Capacity{Type: db.CapPublicIP, ObjectID: zone, ZoneID: zone, Total: 16})
		})
		if err != nil {
			t.Fatal(err)
		}

		used := map[planner.Key]int64{}
		type vm struct {
			host string
			need planner.Compute
		}
		type vol struct {
			pool  string
			bytes int64
		}
		var vms []vm
		var vols []vol
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 300; i++ {
			switch op := rng.IntN(6); {
			case op < 2 || len(vms) == 0 && op < 4:
				v := vm{hosts[rng.IntN(len(hosts))], planner.Compute{CPUMHz: int64(500 * (1 + rng.IntN(8))), Cores: int64(1 + rng.IntN(4)),
					Memory: int64(1+rng.IntN(8)) * gib}}
				err := e.tx(t, func(tx db.Tx) error { return e.l.ReserveCompute(ctx, tx, v.host, v.need, planner.Options{}) })
				if err == nil {
					vms = append(vms, v)
					used[planner.Key{Type: db.CapCPU, ObjectID: v.host}] += v.need.CPUMHz
					used[planner.Key{Type: db.CapCPUCore, ObjectID: v.host}] += v.need.Cores
					used[planner.Key{Type: db.CapMemory, ObjectID: v.host}] += v.need.Memory
				} else if !errors.Is(err, planner.ErrThreshold) && !errors.Is(err, planner.ErrInsufficient) {
					t.Fatal(err)
				}
			case op < 4:
				j := rng.IntN(len(vms))
				v := vms[j]
				if err := e.tx(t, func(tx db.Tx) error { return e.l.ReleaseCompute(ctx, tx, v.host, v.need) }); err != nil {
					t.Fatal(err)
				}
				vms = append(vms[:j], vms[j+1:]...)
				used[planner.Key{Type: db.CapCPU, ObjectID: v.host}] -= v.need.CPUMHz
				used[planner.Key{Type: db.CapCPUCore, ObjectID: v.host}] -= v.need.Cores
				used[planner.Key{Type: db.CapMemory, ObjectID: v.host}] -= v.need.Memory
			case op == 4 || len(vols) == 0:
				v := vol{pools[rng.IntN(len(pools))], int64(1+rng.IntN(40)) * gib}
				err := e.tx(t, func(tx db.Tx) error { return e.l.ReserveStorage(ctx, tx, v.pool, v.bytes, planner.Options{}) })
				if err == nil {
					vols = append(vols, v)
					used[planner.Key{Type: db.CapStorageAlloc, ObjectID: v.pool}] += v.bytes
				} else if !errors.Is(err, planner.ErrThreshold) {
					t.Fatal(err)
				}
			default:
				j := rng.IntN(len(vols))
				v := vols[j]
				if err := e.tx(t, func(tx db.Tx) error { return e.l.ReleaseStorage(ctx, tx, v.pool, v.bytes) }); err != nil {
					t.Fatal(err)
				}
				vols = append(vols[:j], vols[j+1:]...)
				used[planner.Key{Type: db.CapStorageAlloc, ObjectID: v.pool}] -= v.bytes
			}
		}
		// Take three addresses, as the address code will, row and ledger together.
		err = e.tx(t, func(tx db.Tx) error {
			if _, err := tx.ExecContext(ctx, "UPDATE public_ips SET state = 'Allocated' WHERE address IN ('198.51.100.1', '198.51.100.2', '198.51.100.3')"); err != nil {
				return err
			}
			return e.l.ReserveCount(ctx, tx, db.CapPublicIP, zone, 3)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(vms) == 0 || len(vols) == 0 {
			t.Fatalf("the random walk left nothing in use (%d vms, %d volumes)", len(vms), len(vols))
		}
		usage := func(context.Context, db.Querier) (map[planner.Key]int64, error) { return used, nil }
		rep, err := e.l.Recompute(ctx, e.d.Read(), usage)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Checked != 4*3+4*2+1 {
			t.Fatalf("recompute after %d vms and %d volumes: checked %d, mismatches %v", len(vms), len(vols), rep.Checked, rep.Mismatches)
		}

		// Damage: a lost release, a wrong total, a row of a removed host, a missing pool row.
		gone := uuid.NewString()
		err = e.tx(t, func(tx db.Tx) error {
			if _, err := db.AdjustCapacityUsed(ctx, tx, db.CapMemory, hosts[0], gib, 0); err != nil {
				return err
			}
			if err := db.SetCapacityTotal(ctx, tx, db.Capacity{Type: db.CapPublicIP, ObjectID: zone, ZoneID: zone, Total: 17}); err != nil {
				return err
			}
			if err := db.SetCapacityTotal(ctx, tx, db.Capacity{Type: db.CapCPU, ObjectID: gone, ZoneID: zone, Total: 1}); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "DELETE FROM capacity WHERE object_id = ? AND capacity_type = ?", pools[1], db.CapStorage)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		rep, err = e.l.Recompute(ctx, e.d.Read(), usage)
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]bool{}
		for _, m := range rep.Mismatches {
			found[m.Key.String()+" "+m.Field] = true
		}
		for _, want := range []string{
			"MEMORY/" + hosts[0] + " used",
			"VIRTUAL_NETWORK_PUBLIC_IP/" + zone + " total",
			"CPU/" + gone + " orphan",
			"STORAGE/" + pools[1] + " missing",
		} {
			if !found[want] {
				t.Errorf("recompute missed %q; reported %v", want, rep.Mismatches)
			}
		}
		if len(rep.Mismatches) != 4 {
			t.Errorf("want exactly 4 mismatches, got %v", rep.Mismatches)
		}
	})
}

// TestSummarize proves listCapacity's sums: per zone, with over-provisioned totals for CPU,
// memory and allocated storage, storage used reporting the allocated bytes, and disabled rows
// left out.
func TestSummarize(t *testing.T) {
	e := sqliteEnv(t)
	ctx := context.Background()
	zone, pod, cluster := uuid.NewString(), uuid.NewString(), uuid.NewString()
	e.set(t, config.Cluster, cluster, planner.CPUFactorSetting, "2")
	h1 := e.host(t, zone, pod, cluster, 2, 1000, 4*gib)
	e.host(t, zone, pod, cluster, 2, 1000, 4*gib)
	off := e.host(t, zone, pod, cluster, 2, 1000, 4*gib)
	p := e.pool(t, zone, pod, cluster, 1000)
	other := e.host(t, uuid.NewString(), uuid.NewString(), "", 1, 500, gib)
	err := e.tx(t, func(tx db.Tx) error {
		if err := e.l.ReserveCompute(ctx, tx, h1, planner.Compute{CPUMHz: 1500, Memory: gib}, planner.Options{}); err != nil {
			return err
		}
		if err := e.l.ReserveStorage(ctx, tx, p, 400, planner.Options{}); err != nil {
			return err
		}
		return db.SetCapacityEnabled(ctx, tx, off, false)
	})
	if err != nil {
		t.Fatal(err)
	}
	sums, err := e.l.Summarize(ctx, e.d.Read(), db.CapacityFilter{ZoneID: zone}, planner.ByZone)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]planner.Summary{}
	for _, s := range sums {
		if s.ZoneID != zone || s.PodID != "" || s.ClusterID != "" {
			t.Fatalf("summary outside the zone or not per zone: %+v", s)
		}
		got[s.Type] = *s
	}
	want := map[int]planner.Summary{
		db.CapCPU:          {Used: 1500, Total: 8000, Allocated: 1500},
		db.CapMemory:       {Used: gib, Total: 8 * gib, Allocated: gib},
		db.CapCPUCore:      {Used: 0, Total: 4, Allocated: 0},
		db.CapStorage:      {Used: 0, Total: 1000, Allocated: 400},
		db.CapStorageAlloc: {Used: 400, Total: 2000, Allocated: 400},
	}
	if len(got) != len(want) {
		t.Fatalf("types %v, want %v", got, want)
	}
	for typ, w := range want {
		g := got[typ]
		if g.Used != w.Used || g.Total != w.Total || g.Allocated != w.Allocated {
			t.Errorf("%s: got %+v, want %+v", planner.TypeName(typ), g, w)
		}
	}
	if pct := got[db.CapCPU]; pct.Percent() != float64(float32(1500)/float32(8000)*100) {
		t.Errorf("percent %v", pct.Percent())
	}
	// Per cluster, the other zone's unclustered host is its own line.
	all, err := e.l.Summarize(ctx, e.d.Read(), db.CapacityFilter{Types: []int{db.CapCPU}}, planner.ByCluster)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("cpu by cluster: %+v", all)
	}
	for _, s := range all {
		if s.ClusterID == "" && s.Total != 500 || s.ClusterID == cluster && s.Total != 8000 {
			t.Errorf("cpu line %+v (other host %s)", s, other)
		}
	}
}

func TestRangeSize(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "100": 1, "100-199": 100, "100-199,300": 101, "100-200,150-250": 151,
		"5-1,x,10-12": 3, "1-4094": 4094, "100-199;200-299": 200} {
		if got := planner.RangeSize(in); got != want {
			t.Errorf("RangeSize(%q) = %d, want %d", in, got, want)
		}
	}
}
