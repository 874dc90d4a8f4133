package planner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
)

// Setting names the ledger honours (CloudStack's).
const (
	CPUFactorSetting        = "cpu.overprovisioning.factor"
	MemFactorSetting        = "mem.overprovisioning.factor"
	StorageFactorSetting    = "storage.overprovisioning.factor"
	CPUThresholdSetting     = "cluster.cpu.allocated.capacity.disablethreshold"
	MemThresholdSetting     = "cluster.memory.allocated.capacity.disablethreshold"
	StorageThresholdSetting = "pool.storage.allocated.capacity.disablethreshold"
)

// Why a reservation was refused; a *CapacityError wraps one of these.
var (
	// ErrInsufficient: the request does not fit within total × over-provisioning factor.
	ErrInsufficient = errors.New("insufficient capacity")
	// ErrThreshold: the request would take the cluster (or pool) past its allocated-capacity
	// disable threshold, above which CloudStack stops allocating there.
	ErrThreshold = errors.New("allocated capacity disable threshold reached")
	// ErrDisabled: the row is disabled (host or pool in maintenance or disabled).
	ErrDisabled = errors.New("capacity is disabled")
	// ErrNoLedger: the object has no ledger row (a host that never reported its resources).
	ErrNoLedger = errors.New("no capacity recorded")
	// ErrUnderflow: a release larger than what is in use, a bookkeeping bug somewhere.
	ErrUnderflow = errors.New("release exceeds capacity in use")
)

// CapacityError says which row refused a change and why.
type CapacityError struct {
	Type                    int
	ObjectID                string
	Requested, InUse, Limit int64
	Reason                  error
}

func (e *CapacityError) Error() string {
	return fmt.Sprintf("planner: %v: %s of %s: requested %d, in use %d, limit %d", e.Reason, TypeName(e.Type), e.ObjectID,
		e.Requested, e.InUse, e.Limit)
}

func (e *CapacityError) Unwrap() error { return e.Reason }

// TypeName is CloudStack's name of a capacity type (CapacityVO.getCapacityName).
func TypeName(t int) string {
	switch t {
	case db.CapMemory:
		return "MEMORY"
	case db.CapCPU:
		return "CPU"
	case db.CapStorage:
		return "STORAGE"
	case db.CapStorageAlloc:
		return "STORAGE_ALLOCATED"
	case db.CapPublicIP:
		return "VIRTUAL_NETWORK_PUBLIC_IP"
	case db.CapPrivateIP:
		return "PRIVATE_IP"
	case db.CapSecondary:
		return "SECONDARY_STORAGE"
	case db.CapVLAN:
		return "VLAN"
	case db.CapDirectPublicIP:
		return "DIRECT_ATTACHED_PUBLIC_IP"
	case db.CapLocalStorage:
		return "LOCAL_STORAGE"
	case db.CapCPUCore:
		return "CPU_CORE"
	}
	return strconv.Itoa(t)
}

// Ledger applies the capacity rules. It holds no state of its own: every call works in the
// caller's transaction q, so a reservation commits or rolls back with what uses it.
type Ledger struct {
	Config *config.Store

	// With cache set (Snapshot), each scope's stored values are read once.
	cache  bool
	mu     sync.Mutex
	values map[string]map[string]db.ConfigValue // scope/id -> stored values
}

// Snapshot returns a ledger that reads each scope's settings once, for work that consults
// many of them in one transaction (a deploy): a query per scope, not per setting.
func (l *Ledger) Snapshot() *Ledger { return &Ledger{Config: l.Config, cache: true} }

// New returns a ledger reading its factors and thresholds from cfg.
func New(cfg *config.Store) *Ledger { return &Ledger{Config: cfg} }

// setting reads a float setting at a scope (an empty id means global) inside q: the value
// stored at the scope, else the global one, else the default. A ledger reads each scope's
// stored values once when it is a Snapshot.
func (l *Ledger) setting(ctx context.Context, q db.Querier, scope, id, name string) (float64, error) {
	if id == "" {
		scope = config.Global
	}
	st, ok := l.Config.Lookup(name)
	if !ok || !slices.Contains(st.Scopes, scope) {
		return 0, fmt.Errorf("planner: setting %s has no value at scope %s", name, scope)
	}
	v := st.Default
	global, err := l.stored(ctx, q, config.Global, "")
	if err != nil {
		return 0, err
	}
	if g, ok := global[name]; ok && g.Value.Valid {
		v = g.Value.String
	}
	if scope != config.Global {
		scoped, err := l.stored(ctx, q, scope, id)
		if err != nil {
			return 0, err
		}
		if sv, ok := scoped[name]; ok && sv.Value.Valid {
			v = sv.Value.String
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("planner: setting %s: %w", name, err)
	}
	return f, nil
}

// stored returns the values stored at one scope, read once per ledger.
func (l *Ledger) stored(ctx context.Context, q db.Querier, scope, id string) (map[string]db.ConfigValue, error) {
	if l.Config != nil && l.Config.DB != nil {
		// Settings are read through the server's short-lived cache (db.ConfigCacheTTL), as
		// CloudStack's management servers cache them; they are not part of the reservation.
		return l.Config.DB.CachedConfigValues(ctx, q, scope, id)
	}
	if !l.cache {
		return db.ConfigValues(ctx, q, scope, id)
	}
	key := scope + "/" + id
	l.mu.Lock()
	m, ok := l.values[key]
	l.mu.Unlock()
	if ok {
		return m, nil
	}
	m, err := db.ConfigValues(ctx, q, scope, id)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.values == nil {
		l.values = map[string]map[string]db.ConfigValue{}
	}
	l.values[key] = m
	l.mu.Unlock()
	return m, nil
}

// CPUFactor is cpu.overprovisioning.factor as seen by a cluster.
func (l *Ledger) CPUFactor(ctx context.Context, q db.Querier, clusterID string) (float64, error) {
	return l.setting(ctx, q, config.Cluster, clusterID, CPUFactorSetting)
}

// MemFactor is mem.overprovisioning.factor as seen by a cluster.
func (l *Ledger) MemFactor(ctx context.Context, q db.Querier, clusterID string) (float64, error) {
	return l.setting(ctx, q, config.Cluster, clusterID, MemFactorSetting)
}

// StorageFactor is storage.overprovisioning.factor as seen by a pool.
func (l *Ledger) StorageFactor(ctx context.Context, q db.Querier, poolID string) (float64, error) {
	return l.setting(ctx, q, config.StoragePool, poolID, StorageFactorSetting)
}

// Factor is the over-provisioning factor that applies to a ledger row: the cluster's CPU or
// memory factor, the pool's storage factor for allocated storage, 1 for everything else.
func (l *Ledger) Factor(ctx context.Context, q db.Querier, c *db.Capacity) (float64, error) {
	switch c.Type {
	case db.CapCPU:
		return l.CPUFactor(ctx, q, c.ClusterID)
	case db.CapMemory:
		return l.MemFactor(ctx, q, c.ClusterID)
	case db.CapStorageAlloc:
		return l.StorageFactor(ctx, q, c.ObjectID)
	}
	return 1, nil
}

// scaled is total × factor, rounded down, as CloudStack computes over-provisioned totals.
func scaled(total int64, factor float64) int64 {
	if factor <= 0 {
		return 0
	}
	return int64(math.Floor(float64(total) * factor))
}

// Compute is what a VM takes of a host.
type Compute struct {
	CPUMHz int64 // cpu number × speed
	Cores  int64
	Memory int64 // bytes
}

// Options adjust a reservation.
type Options struct {
	// IgnoreThreshold skips the disable-threshold check (the hard limit still applies), for
	// work that must land where it is (a VM restarting on its host after HA, a migration the
	// admin asked for).
	IgnoreThreshold bool
}

// row loads a ledger row that a reservation may use.
func row(ctx context.Context, q db.Querier, typ int, id string, amount int64) (*db.Capacity, error) {
	c, err := db.GetCapacity(ctx, q, typ, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, &CapacityError{Type: typ, ObjectID: id, Requested: amount, Reason: ErrNoLedger}
	}
	if err != nil {
		return nil, err
	}
	if !c.Enabled {
		return nil, &CapacityError{Type: typ, ObjectID: id, Requested: amount, InUse: c.Used + c.Reserved, Reason: ErrDisabled}
	}
	return c, nil
}

// take adds amount to a row within its limit by a conditional update.
func take(ctx context.Context, q db.Querier, c *db.Capacity, amount, limit int64) error {
	if amount < 0 {
		return fmt.Errorf("planner: negative reservation %d of %s", amount, TypeName(c.Type))
	}
	if amount == 0 {
		return nil
	}
	if limit <= 0 {
		return &CapacityError{Type: c.Type, ObjectID: c.ObjectID, Requested: amount, InUse: c.Used + c.Reserved, Limit: limit, Reason: ErrInsufficient}
	}
	ok, err := db.AdjustCapacityUsed(ctx, q, c.Type, c.ObjectID, amount, limit)
	if err != nil {
		return err
	}
	if !ok {
		// Re-read for the message: another transaction may have taken it since c was read.
		inUse := c.Used + c.Reserved
		if now, err := db.GetCapacity(ctx, q, c.Type, c.ObjectID); err == nil {
			inUse = now.Used + now.Reserved
		}
		return &CapacityError{Type: c.Type, ObjectID: c.ObjectID, Requested: amount, InUse: inUse, Limit: limit, Reason: ErrInsufficient}
	}
	return nil
}

// give returns amount to a row; it refuses to take used below zero.
func give(ctx context.Context, q db.Querier, typ int, id string, amount int64) error {
	if amount < 0 {
		return fmt.Errorf("planner: negative release %d of %s", amount, TypeName(typ))
	}
	if amount == 0 {
		return nil
	}
	ok, err := db.AdjustCapacityUsed(ctx, q, typ, id, -amount, 0)
	if err != nil {
		return err
	}
	if !ok {
		c, err := db.GetCapacity(ctx, q, typ, id)
		if errors.Is(err, db.ErrNotFound) {
			return &CapacityError{Type: typ, ObjectID: id, Requested: amount, Reason: ErrNoLedger}
		}
		if err != nil {
			return err
		}
		return &CapacityError{Type: typ, ObjectID: id, Requested: amount, InUse: c.Used, Reason: ErrUnderflow}
	}
	return nil
}

// clusterThreshold refuses a request that would take the cluster's allocated share of a
// resource past its disable threshold: (in use + request) / (total × factor) > threshold,
// CloudStack's listClustersCrossingThreshold test. It is a read, so concurrent reservations
// may overshoot it slightly; the per-host limit is the hard one.
func (l *Ledger) clusterThreshold(ctx context.Context, q db.Querier, c *db.Capacity, amount int64, factor float64, setting string) error {
	rows := []*db.Capacity{c}
	if c.ClusterID != "" {
		var err error
		if rows, err = db.ListCapacity(ctx, q, db.CapacityFilter{ClusterID: c.ClusterID, Types: []int{c.Type}, EnabledOnly: true}); err != nil {
			return err
		}
	}
	var inUse, total int64
	for _, r := range rows {
		inUse += r.Used + r.Reserved
		total += r.Total
	}
	threshold, err := l.setting(ctx, q, config.Cluster, c.ClusterID, setting)
	if err != nil {
		return err
	}
	limit := scaled(total, factor)
	if limit > 0 && float64(inUse+amount)/float64(limit) > threshold {
		return &CapacityError{Type: c.Type, ObjectID: c.ObjectID, Requested: amount, InUse: inUse, Limit: scaled(limit, threshold), Reason: ErrThreshold}
	}
	return nil
}

// ReserveCompute takes a VM's CPU, memory and cores on a host, within the host's totals times
// its cluster's over-provisioning factors and, unless o says otherwise, within the cluster's
// disable thresholds. Either all of it is taken or none: a refusal undoes what it took.
func (l *Ledger) ReserveCompute(ctx context.Context, q db.Querier, hostID string, need Compute, o Options) error {
	cpu, err := row(ctx, q, db.CapCPU, hostID, need.CPUMHz)
	if err != nil {
		return err
	}
	mem, err := row(ctx, q, db.CapMemory, hostID, need.Memory)
	if err != nil {
		return err
	}
	cpuFactor, err := l.CPUFactor(ctx, q, cpu.ClusterID)
	if err != nil {
		return err
	}
	memFactor, err := l.MemFactor(ctx, q, mem.ClusterID)
	if err != nil {
		return err
	}
	if !o.IgnoreThreshold {
		if err := l.clusterThreshold(ctx, q, cpu, need.CPUMHz, cpuFactor, CPUThresholdSetting); err != nil {
			return err
		}
		if err := l.clusterThreshold(ctx, q, mem, need.Memory, memFactor, MemThresholdSetting); err != nil {
			return err
		}
	}
	if err := take(ctx, q, cpu, need.CPUMHz, scaled(cpu.Total, cpuFactor)); err != nil {
		return err
	}
	if err := take(ctx, q, mem, need.Memory, scaled(mem.Total, memFactor)); err != nil {
		if uerr := give(ctx, q, db.CapCPU, hostID, need.CPUMHz); uerr != nil {
			return fmt.Errorf("%w (and undoing the CPU reservation failed: %v)", err, uerr)
		}
		return err
	}
	// Cores are counted, not limited: CloudStack reports them but allocates by MHz.
	if need.Cores > 0 {
		if _, err := db.GetCapacity(ctx, q, db.CapCPUCore, hostID); err == nil {
			if _, err := db.AdjustCapacityUsed(ctx, q, db.CapCPUCore, hostID, need.Cores, 0); err != nil {
				return err
			}
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
	}
	return nil
}

// ReleaseCompute returns a VM's CPU, memory and cores to a host.
func (l *Ledger) ReleaseCompute(ctx context.Context, q db.Querier, hostID string, need Compute) error {
	if err := give(ctx, q, db.CapCPU, hostID, need.CPUMHz); err != nil {
		return err
	}
	if err := give(ctx, q, db.CapMemory, hostID, need.Memory); err != nil {
		return err
	}
	if need.Cores > 0 {
		if _, err := db.GetCapacity(ctx, q, db.CapCPUCore, hostID); err == nil {
			return give(ctx, q, db.CapCPUCore, hostID, need.Cores)
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
	}
	return nil
}

// ReserveStorage allocates bytes on a primary storage pool, within its capacity times the
// pool's storage.overprovisioning.factor and, unless o says otherwise, within
// pool.storage.allocated.capacity.disablethreshold (set per zone).
func (l *Ledger) ReserveStorage(ctx context.Context, q db.Querier, poolID string, bytes int64, o Options) error {
	c, err := row(ctx, q, db.CapStorageAlloc, poolID, bytes)
	if err != nil {
		return err
	}
	factor, err := l.StorageFactor(ctx, q, poolID)
	if err != nil {
		return err
	}
	limit := scaled(c.Total, factor)
	if !o.IgnoreThreshold {
		threshold, err := l.setting(ctx, q, config.Zone, c.ZoneID, StorageThresholdSetting)
		if err != nil {
			return err
		}
		inUse := c.Used + c.Reserved
		if limit > 0 && float64(inUse+bytes)/float64(limit) > threshold {
			return &CapacityError{Type: c.Type, ObjectID: poolID, Requested: bytes, InUse: inUse, Limit: scaled(limit, threshold), Reason: ErrThreshold}
		}
	}
	return take(ctx, q, c, bytes, limit)
}

// ReleaseStorage frees bytes allocated on a pool.
func (l *Ledger) ReleaseStorage(ctx context.Context, q db.Querier, poolID string, bytes int64) error {
	return give(ctx, q, db.CapStorageAlloc, poolID, bytes)
}

// countType reports whether a type counts things (addresses, VNIs) rather than amounts.
func countType(typ int) bool {
	return typ == db.CapPublicIP || typ == db.CapDirectPublicIP || typ == db.CapVLAN
}

// ReserveCount takes n public addresses (CapPublicIP, CapDirectPublicIP: object the zone) or
// guest VNIs (CapVLAN: object the physical network) within the row's total.
func (l *Ledger) ReserveCount(ctx context.Context, q db.Querier, typ int, objectID string, n int64) error {
	if !countType(typ) {
		return fmt.Errorf("planner: capacity type %s is not a count", TypeName(typ))
	}
	c, err := row(ctx, q, typ, objectID, n)
	if err != nil {
		return err
	}
	return take(ctx, q, c, n, c.Total)
}

// ReleaseCount returns n public addresses or VNIs.
func (l *Ledger) ReleaseCount(ctx context.Context, q db.Querier, typ int, objectID string, n int64) error {
	if !countType(typ) {
		return fmt.Errorf("planner: capacity type %s is not a count", TypeName(typ))
	}
	return give(ctx, q, typ, objectID, n)
}

// SetHostCapacity records (or updates) a routing host's totals: CPU MHz (cpus × speed),
// memory bytes and cores, placed in its zone, pod and cluster. What is in use is kept.
func (l *Ledger) SetHostCapacity(ctx context.Context, q db.Querier, h db.HostResources) error {
	for _, c := range []db.Capacity{
		{Type: db.CapCPU, Total: int64(h.CPUs) * h.CPUSpeed},
		{Type: db.CapMemory, Total: h.Memory},
		{Type: db.CapCPUCore, Total: int64(h.CPUs)},
	} {
		c.ObjectID, c.ZoneID, c.PodID, c.ClusterID = h.ID, h.ZoneID, h.PodID, h.ClusterID
		if err := db.SetCapacityTotal(ctx, q, c); err != nil {
			return err
		}
	}
	return nil
}

// SetPoolCapacity records (or updates) a storage pool's rows: total bytes for used (2) and
// allocated (3) storage, the measured used bytes, and whether the pool takes allocations
// (only while Up).
func (l *Ledger) SetPoolCapacity(ctx context.Context, q db.Querier, p *db.StoragePool) error {
	for _, typ := range []int{db.CapStorage, db.CapStorageAlloc} {
		if err := db.SetCapacityTotal(ctx, q, db.Capacity{Type: typ, ObjectID: p.ID, ZoneID: p.ZoneID, PodID: p.PodID,
			ClusterID: p.ClusterID, Total: p.CapacityBytes}); err != nil {
			return err
		}
	}
	if err := db.SetCapacityUsed(ctx, q, db.CapStorage, p.ID, p.UsedBytes); err != nil {
		return err
	}
	return db.SetCapacityEnabled(ctx, q, p.ID, p.Status == db.PoolUp)
}

// Remove drops every ledger row of a host or pool that is being removed.
func (l *Ledger) Remove(ctx context.Context, q db.Querier, objectID string) error {
	return db.DeleteCapacity(ctx, q, objectID)
}
