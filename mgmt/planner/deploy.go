package planner

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
)

// Planner and host-order names: the offering's deployment planner (CloudStack's planner bean
// names) and vm.allocation.algorithm.
const (
	FirstFitPlanner       = "FirstFitPlanner"
	UserDispersingPlanner = "UserDispersingPlanner"
	AlgorithmSetting      = "vm.allocation.algorithm"
)

// ErrNoDeployment is wrapped by a *DeployError: no host or pool could take the request.
var ErrNoDeployment = errors.New("no deployment")

// DeployError says why a request could not be placed; the API answers it with 533.
type DeployError struct {
	Reason string
}

func (e *DeployError) Error() string { return e.Reason }
func (e *DeployError) Unwrap() error { return ErrNoDeployment }

// Request is what a VM needs of a host.
type Request struct {
	ZoneID string
	// PodID, ClusterID, HostID restrict placement (admin placement, or a VM's last host).
	PodID, ClusterID, HostID string
	Need                     Compute
	HostTag                  string // the offering's host tag: hosts must carry it
	Hypervisor               string // the template's (or the VM's) hypervisor: hosts must run it ("" any)
	AccountID                string // for UserDispersing
	Planner                  string // the offering's deployment planner ("" = FirstFitPlanner)
	// Avoid lists hosts that must not be chosen (host anti-affinity); Require, when not empty,
	// the only hosts that may be (host affinity).
	Avoid, Require map[string]bool
	// IgnoreThreshold skips the cluster disable thresholds (an admin naming the host).
	IgnoreThreshold bool
	// Exclude is the VM being placed, left out of UserDispersing's count.
	Exclude string
	// Candidates, when not nil, are the zone's candidate hosts read already (CandidatesRead,
	// before the transaction: the takes are conditional, so a stale row only loses a race).
	Candidates []*Candidate
	// DeferTake chooses a host without taking its CPU and memory: the caller takes them with
	// TakePlaced as the last write of its transaction, so that the host's ledger rows, which
	// every deploy to that host updates, stay locked only until the commit. Ignored when
	// disks are placed with the host (local storage).
	DeferTake bool
}

// DiskRequest is a volume to place on primary storage.
type DiskRequest struct {
	Size  int64  // bytes
	Tags  string // comma list the pool must carry
	Local bool   // the offering asks for local storage
}

// Placement is the outcome of Deploy.
type Placement struct {
	HostID, ClusterID, PodID string
	HostName                 string
	Hypervisor               string   // the host's
	Pools                    []string // one per DiskRequest, in order
	// pending is the take a DeferTake placement left to TakePlaced.
	pending *pendingTake
}

type pendingTake struct {
	cand               *Candidate
	need               Compute
	cpuLimit, memLimit int64
}

// TakePlaced takes the host's CPU and memory for a placement made with DeferTake (nothing for
// any other). If the room went meanwhile it answers db.ErrConflict: the transaction runs
// again, with fresh reads, and places the VM anew.
func (l *Ledger) TakePlaced(ctx context.Context, q db.Querier, pl *Placement) error {
	if pl == nil || pl.pending == nil {
		return nil
	}
	p := pl.pending
	won, err := l.takeHost(ctx, q, p.cand, p.need, p.cpuLimit, p.memLimit)
	if err != nil {
		return err
	}
	if !won {
		return db.ErrConflict
	}
	pl.pending = nil
	return nil
}

// Candidate is a host that may take VMs, with its ledger rows.
type Candidate struct {
	HostID, PodID, ClusterID string
	Name                     string
	Tags                     string
	Hypervisor               string
	CPUUsed, CPUTotal        int64
	MemUsed, MemTotal        int64
	HasCores                 bool // the host has a cores ledger row
}

// Candidates returns, in one query, the hosts of a zone that may take VMs: routing hosts Up and
// Enabled in Enabled pods and clusters, with enabled CPU and memory ledger rows.
func Candidates(ctx context.Context, q db.Querier, zoneID string) ([]*Candidate, error) {
	var out []*Candidate
	if err := db.ReadRows(ctx, q, CandidatesRead(zoneID, &out)); err != nil {
		return nil, fmt.Errorf("planner: candidate hosts: %w", err)
	}
	return out, nil
}

func compareCandidates(a, b *Candidate) int {
	if c := strings.Compare(a.ClusterID, b.ClusterID); c != 0 {
		return c
	}
	return strings.Compare(a.HostID, b.HostID)
}

// CandidatesRead is Candidates as a db.Read (for db.ReadAll), appending to *dst.
func CandidatesRead(zoneID string, dst *[]*Candidate) db.Read {
	return db.Read{Query: `SELECT h.id, h.name, COALESCE(h.pod_id,''), COALESCE(h.cluster_id,''), COALESCE(h.host_tags,''), h.hypervisor_type,
		cpu.used + cpu.reserved, cpu.total, mem.used + mem.reserved, mem.total, CASE WHEN cores.object_id IS NULL THEN 0 ELSE 1 END
		FROM hosts h JOIN clusters c ON c.id = h.cluster_id JOIN pods p ON p.id = h.pod_id
		JOIN capacity cpu ON cpu.capacity_type = 1 AND cpu.object_id = h.id AND cpu.enabled = 1
		JOIN capacity mem ON mem.capacity_type = 0 AND mem.object_id = h.id AND mem.enabled = 1
		LEFT JOIN capacity cores ON cores.capacity_type = 90 AND cores.object_id = h.id
		WHERE h.zone_id = ? AND h.type = 'Routing' AND h.removed IS NULL AND h.status = 'Up' AND h.resource_state = 'Enabled'
		AND c.removed IS NULL AND c.allocation_state = 'Enabled' AND p.removed IS NULL AND p.allocation_state = 'Enabled'`,
		Args: []any{zoneID},
		Row: func(rows *sql.Rows) error {
			var c Candidate
			if err := rows.Scan(&c.HostID, &c.Name, &c.PodID, &c.ClusterID, &c.Tags, &c.Hypervisor, &c.CPUUsed, &c.CPUTotal, &c.MemUsed, &c.MemTotal, &c.HasCores); err != nil {
				return fmt.Errorf("planner: candidate hosts: %w", err)
			}
			*dst = append(*dst, &c)
			return nil
		}}
}

// HasTags reports whether a comma list have holds every tag of the comma list want
// (case-insensitive); an empty want always matches.
func HasTags(have, want string) bool {
	set := map[string]bool{}
	for _, t := range strings.Split(have, ",") {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			set[t] = true
		}
	}
	for _, t := range strings.Split(want, ",") {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" && !set[t] {
			return false
		}
	}
	return true
}

type clusterSums struct{ cpuUsed, cpuTotal, memUsed, memTotal int64 }

type clusterRules struct {
	cpuFactor, memFactor       float64
	cpuThreshold, memThreshold float64
}

func (l *Ledger) rules(ctx context.Context, q db.Querier, clusterID string) (clusterRules, error) {
	var r clusterRules
	var err error
	if r.cpuFactor, err = l.CPUFactor(ctx, q, clusterID); err != nil {
		return r, err
	}
	if r.memFactor, err = l.MemFactor(ctx, q, clusterID); err != nil {
		return r, err
	}
	if r.cpuThreshold, err = l.setting(ctx, q, config.Cluster, clusterID, CPUThresholdSetting); err != nil {
		return r, err
	}
	r.memThreshold, err = l.setting(ctx, q, config.Cluster, clusterID, MemThresholdSetting)
	return r, err
}

// algorithm returns the host order: the offering's planner wins, then vm.allocation.algorithm.
func (l *Ledger) algorithm(ctx context.Context, q db.Querier, planner string) string {
	if strings.EqualFold(planner, UserDispersingPlanner) {
		return "userdispersing"
	}
	global, err := l.stored(ctx, q, config.Global, "")
	if err != nil {
		return "random"
	}
	if v, ok := global[AlgorithmSetting]; ok && v.Value.Valid {
		return strings.ToLower(v.Value.String)
	}
	if st, ok := l.Config.Lookup(AlgorithmSetting); ok {
		return strings.ToLower(st.Default)
	}
	return "random"
}

// Deploy chooses a host for a VM and pools for its volumes and reserves them in the caller's
// transaction q: CPU and memory on the host (within its over-provisioned totals and, unless
// asked otherwise, its cluster's disable thresholds), bytes on each pool. Hosts are tried in
// the planner's order (first fit, random, or fewest VMs of the account first); a host that
// loses a race for its capacity is skipped. Nothing is reserved when it fails with a
// *DeployError.
func (l *Ledger) Deploy(ctx context.Context, q db.Querier, req Request, disks []DiskRequest) (*Placement, error) {
	if !l.cache {
		l = l.Snapshot()
	}
	cands, err := req.Candidates, error(nil)
	if cands == nil {
		if cands, err = Candidates(ctx, q, req.ZoneID); err != nil {
			return nil, err
		}
	}
	// By cluster and host (FirstFit's order), sorted here rather than by the query: with a
	// text column in the rows, MariaDB would sort the join in an on-disk temporary table (a
	// file made and removed for every deploy).
	if !slices.IsSortedFunc(cands, compareCandidates) {
		slices.SortFunc(cands, compareCandidates)
	}
	sums := map[string]*clusterSums{}
	for _, c := range cands {
		s := sums[c.ClusterID]
		if s == nil {
			s = &clusterSums{}
			sums[c.ClusterID] = s
		}
		s.cpuUsed += c.CPUUsed
		s.cpuTotal += c.CPUTotal
		s.memUsed += c.MemUsed
		s.memTotal += c.MemTotal
	}
	rules := map[string]clusterRules{}
	var fit []*Candidate
	why := map[string]int{}
	for _, c := range cands {
		switch {
		case req.HostID != "" && c.HostID != req.HostID, req.ClusterID != "" && c.ClusterID != req.ClusterID,
			req.PodID != "" && c.PodID != req.PodID:
			continue
		case req.Avoid[c.HostID]:
			why["host anti-affinity"]++
			continue
		case len(req.Require) > 0 && !req.Require[c.HostID]:
			why["host affinity"]++
			continue
		case req.HostTag != "" && !HasTags(c.Tags, req.HostTag):
			why["host tag "+req.HostTag]++
			continue
		case req.Hypervisor != "" && !strings.EqualFold(c.Hypervisor, req.Hypervisor):
			why["hypervisor "+req.Hypervisor]++
			continue
		}
		r, ok := rules[c.ClusterID]
		if !ok {
			if r, err = l.rules(ctx, q, c.ClusterID); err != nil {
				return nil, err
			}
			rules[c.ClusterID] = r
		}
		if c.CPUUsed+req.Need.CPUMHz > scaled(c.CPUTotal, r.cpuFactor) {
			why["CPU"]++
			continue
		}
		if c.MemUsed+req.Need.Memory > scaled(c.MemTotal, r.memFactor) {
			why["memory"]++
			continue
		}
		if !req.IgnoreThreshold {
			s := sums[c.ClusterID]
			if lim := scaled(s.cpuTotal, r.cpuFactor); lim > 0 && float64(s.cpuUsed+req.Need.CPUMHz)/float64(lim) > r.cpuThreshold {
				why["cluster CPU disable threshold"]++
				continue
			}
			if lim := scaled(s.memTotal, r.memFactor); lim > 0 && float64(s.memUsed+req.Need.Memory)/float64(lim) > r.memThreshold {
				why["cluster memory disable threshold"]++
				continue
			}
		}
		fit = append(fit, c)
	}
	if len(fit) == 0 {
		return nil, &DeployError{Reason: noHostReason(req, len(cands), why)}
	}
	if err := l.order(ctx, q, req, fit); err != nil {
		return nil, err
	}
	var lastErr error
	for i, c := range fit {
		if i >= 8 {
			break
		}
		// The thresholds were checked above on the candidate list; the ledger's conditional
		// updates are the hard limit.
		r := rules[c.ClusterID]
		if req.DeferTake && len(disks) == 0 {
			return &Placement{HostID: c.HostID, HostName: c.Name, Hypervisor: c.Hypervisor, ClusterID: c.ClusterID, PodID: c.PodID,
				pending: &pendingTake{cand: c, need: req.Need, cpuLimit: scaled(c.CPUTotal, r.cpuFactor), memLimit: scaled(c.MemTotal, r.memFactor)}}, nil
		}
		won, err := l.takeHost(ctx, q, c, req.Need, scaled(c.CPUTotal, r.cpuFactor), scaled(c.MemTotal, r.memFactor))
		if err != nil {
			return nil, err
		}
		if !won {
			lastErr = &CapacityError{Type: db.CapCPU, ObjectID: c.HostID, Requested: req.Need.CPUMHz, Reason: ErrInsufficient}
			continue
		}
		pools, err := l.placeDisks(ctx, q, req.ZoneID, c, disks)
		if err != nil {
			if uerr := l.ReleaseCompute(ctx, q, c.HostID, req.Need); uerr != nil {
				return nil, fmt.Errorf("%w (and releasing the host failed: %v)", err, uerr)
			}
			var de *DeployError
			if errors.As(err, &de) {
				lastErr = err
				continue
			}
			return nil, err
		}
		return &Placement{HostID: c.HostID, HostName: c.Name, Hypervisor: c.Hypervisor, ClusterID: c.ClusterID, PodID: c.PodID, Pools: pools}, nil
	}
	var de *DeployError
	if errors.As(lastErr, &de) {
		return nil, de
	}
	return nil, &DeployError{Reason: fmt.Sprintf("no host had the capacity left: %v", lastErr)}
}

func noHostReason(req Request, n int, why map[string]int) string {
	if n == 0 {
		return "no host in the zone is Up, Enabled and in an Enabled pod and cluster"
	}
	if req.HostID != "" && len(why) == 0 {
		return "host " + req.HostID + " cannot take VMs (not Up, not Enabled, or not in the zone)"
	}
	parts := make([]string, 0, len(why))
	for k, v := range why {
		parts = append(parts, fmt.Sprintf("%d host(s) lacking %s", v, k))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "no host matched the requested pod, cluster or host"
	}
	return "no suitable host: " + strings.Join(parts, ", ")
}

// order sorts candidates by the planner's rule.
func (l *Ledger) order(ctx context.Context, q db.Querier, req Request, fit []*Candidate) error {
	switch l.algorithm(ctx, q, req.Planner) {
	case "firstfit", "userconcentratedpod_firstfit":
		return nil // already by cluster and host
	case "userdispersing":
		counts := map[string]int{}
		rows, err := q.QueryContext(ctx, `SELECT host_id, COUNT(*) FROM vm_instances WHERE account_id = ? AND host_id IS NOT NULL
			AND removed IS NULL AND id <> ? AND state IN ('Starting','Running','Stopping','Migrating') GROUP BY host_id`, req.AccountID, req.Exclude)
		if err != nil {
			return fmt.Errorf("planner: count account vms: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var h string
			var n int
			if err := rows.Scan(&h, &n); err != nil {
				return err
			}
			counts[h] = n
		}
		if err := rows.Err(); err != nil {
			return err
		}
		sort.SliceStable(fit, func(i, j int) bool { return counts[fit[i].HostID] < counts[fit[j].HostID] })
	default: // random
		rand.Shuffle(len(fit), func(i, j int) { fit[i], fit[j] = fit[j], fit[i] })
	}
	return nil
}

// PoolCandidate is a primary storage pool that may take volumes.
type PoolCandidate struct {
	ID, Scope, ClusterID, HostID, Tags string
	Used, Total                        int64
}

// Pools returns the Up pools of a zone with their allocated-storage ledger rows.
func Pools(ctx context.Context, q db.Querier, zoneID string) ([]*PoolCandidate, error) {
	var out []*PoolCandidate
	if err := db.ReadRows(ctx, q, PoolsRead(zoneID, &out)); err != nil {
		return nil, fmt.Errorf("planner: candidate pools: %w", err)
	}
	SortPools(out)
	return out, nil
}

// PoolsRead is Pools as a db.Read (for db.ReadAll), appending to *dst; SortPools them after.
func PoolsRead(zoneID string, dst *[]*PoolCandidate) db.Read {
	return db.Read{Query: `SELECT s.id, s.scope, COALESCE(s.cluster_id,''), COALESCE(s.host_id,''), COALESCE(s.tags,''),
		k.used + k.reserved, k.total FROM storage_pools s JOIN capacity k ON k.object_id = s.id AND k.capacity_type = 3 AND k.enabled = 1
		WHERE s.zone_id = ? AND s.removed IS NULL AND s.status = 'Up'`, Args: []any{zoneID},
		Row: func(rows *sql.Rows) error {
			var p PoolCandidate
			if err := rows.Scan(&p.ID, &p.Scope, &p.ClusterID, &p.HostID, &p.Tags, &p.Used, &p.Total); err != nil {
				return fmt.Errorf("planner: candidate pools: %w", err)
			}
			*dst = append(*dst, &p)
			return nil
		}}
}

// SortPools orders pools by id. (Sorted here, not by the query: with a text column in the
// rows, MariaDB sorts a join's rows in an on-disk temporary table, a file per deploy.)
func SortPools(pools []*PoolCandidate) {
	slices.SortFunc(pools, func(a, b *PoolCandidate) int { return strings.Compare(a.ID, b.ID) })
}

func (l *Ledger) placeDisks(ctx context.Context, q db.Querier, zoneID string, host *Candidate, disks []DiskRequest) ([]string, error) {
	if len(disks) == 0 {
		return nil, nil
	}
	pools, err := Pools(ctx, q, zoneID)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(disks))
	for _, d := range disks {
		id, err := l.PlaceVolume(ctx, q, pools, host.HostID, host.ClusterID, d)
		if err != nil {
			for j, p := range out {
				_ = l.ReleaseStorage(ctx, q, p, disks[j].Size)
			}
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// PlaceVolume picks a pool for one volume and reserves its bytes there: the host's local pool
// when the offering asks for local storage, else a pool of the host's cluster, then a
// zone-wide pool; pools must carry the request's tags. Among equals it takes the one with the
// most room. pools comes from Pools; hostID and clusterID may be empty for a volume not yet
// attached (any cluster pool then qualifies).
func (l *Ledger) PlaceVolume(ctx context.Context, q db.Querier, pools []*PoolCandidate, hostID, clusterID string, d DiskRequest) (string, error) {
	var tiers [2][]*PoolCandidate
	for _, p := range pools {
		if !HasTags(p.Tags, d.Tags) {
			continue
		}
		switch strings.ToUpper(p.Scope) {
		case "HOST":
			if d.Local && (hostID == "" || p.HostID == hostID) {
				tiers[0] = append(tiers[0], p)
			}
		case "CLUSTER":
			if !d.Local && (clusterID == "" || p.ClusterID == clusterID) {
				tiers[0] = append(tiers[0], p)
			}
		case "ZONE":
			if !d.Local {
				tiers[1] = append(tiers[1], p)
			}
		}
	}
	tried := 0
	var lastErr error
	for _, tier := range tiers {
		sort.SliceStable(tier, func(i, j int) bool { return tier[i].Total-tier[i].Used > tier[j].Total-tier[j].Used })
		for _, p := range tier {
			tried++
			err := l.ReserveStorage(ctx, q, p.ID, d.Size, Options{})
			var ce *CapacityError
			if errors.As(err, &ce) {
				lastErr = err
				continue
			}
			if err != nil {
				return "", err
			}
			p.Used += d.Size
			return p.ID, nil
		}
	}
	kind := "shared"
	if d.Local {
		kind = "local"
	}
	if tried == 0 {
		reason := "no " + kind + " primary storage pool is Up"
		if d.Tags != "" {
			reason += " with tags " + d.Tags
		}
		if clusterID != "" {
			reason += " for cluster " + clusterID
		}
		return "", &DeployError{Reason: reason}
	}
	return "", &DeployError{Reason: fmt.Sprintf("no %s primary storage pool has %d bytes free: %v", kind, d.Size, lastErr)}
}

// takeHost reserves a VM's CPU, memory and cores on a candidate host within the given limits,
// by one conditional update (the candidate query read the rows already); false when another
// transaction took the room first, with nothing taken. If it took one of CPU and memory but
// not the other (the room went between the candidate read and the update), the transaction
// runs again from fresh reads (db.ErrConflict), which undoes the partial take.
func (l *Ledger) takeHost(ctx context.Context, q db.Querier, c *Candidate, need Compute, cpuLimit, memLimit int64) (bool, error) {
	cores := int64(0)
	if c.HasCores {
		cores = need.Cores // counted, not limited; a host without the row (an old registration) has none
	}
	n, err := db.TakeHostCompute(ctx, q, c.HostID, need.CPUMHz, cpuLimit, need.Memory, memLimit, cores)
	if err != nil {
		return false, err
	}
	limited := int64(0)
	if need.CPUMHz > 0 {
		limited++
	}
	if need.Memory > 0 {
		limited++
	}
	coreRows := int64(0)
	if cores > 0 {
		coreRows = 1
	}
	switch n {
	case limited + coreRows:
		return true, nil
	case coreRows: // neither CPU nor memory fitted: give the cores back
		if cores > 0 {
			if _, err := db.AdjustCapacityUsed(ctx, q, db.CapCPUCore, c.HostID, -cores, 0); err != nil {
				return false, err
			}
		}
		return false, nil
	}
	return false, db.ErrConflict
}

// PlaceDisks picks pools for volumes of a VM placed on a host (in its cluster) and reserves
// their bytes, all or none.
func (l *Ledger) PlaceDisks(ctx context.Context, q db.Querier, zoneID, hostID, clusterID string, disks []DiskRequest) ([]string, error) {
	if !l.cache {
		l = l.Snapshot()
	}
	return l.placeDisks(ctx, q, zoneID, &Candidate{HostID: hostID, ClusterID: clusterID}, disks)
}

// PoolChoice is a pool chosen for a volume by ChoosePools, reserved later by ReservePools.
type PoolChoice struct {
	PoolID string
	Bytes  int64
	Limit  int64 // the pool's over-provisioned total: the reservation's hard limit
}

// ChoosePools picks shared pools for volumes of a VM placed on a host (in its cluster) as
// PlaceDisks does, by the same rules (tags, cluster before zone, most room first, the zone's
// disable threshold and the pool's over-provisioned total, checked on the pools as read), but
// reserves nothing: the caller reserves them with ReservePools as the last ledger update of its
// transaction, so that the few pool rows every deploy updates stay locked briefly. Local disks
// are not handled here (they decide the host: pass them to Deploy).
func (l *Ledger) ChoosePools(ctx context.Context, q db.Querier, zoneID, hostID, clusterID string, disks []DiskRequest) ([]PoolChoice, error) {
	return l.ChoosePoolsOf(ctx, q, nil, zoneID, hostID, clusterID, disks)
}

// ChoosePoolsOf is ChoosePools over the zone's pools read already (PoolsRead, sorted; nil:
// read them now). Their used bytes are updated as disks are placed. Reads made before the
// transaction are fine: ReservePools' updates are conditional.
func (l *Ledger) ChoosePoolsOf(ctx context.Context, q db.Querier, pools []*PoolCandidate, zoneID, hostID, clusterID string, disks []DiskRequest) ([]PoolChoice, error) {
	if !l.cache {
		l = l.Snapshot()
	}
	if len(disks) == 0 {
		return nil, nil
	}
	if pools == nil {
		var err error
		if pools, err = Pools(ctx, q, zoneID); err != nil {
			return nil, err
		}
	}
	threshold, err := l.setting(ctx, q, config.Zone, zoneID, StorageThresholdSetting)
	if err != nil {
		return nil, err
	}
	out := make([]PoolChoice, 0, len(disks))
	for _, d := range disks {
		if d.Local {
			return nil, fmt.Errorf("planner: ChoosePools does not place local disks")
		}
		var tiers [2][]*PoolCandidate
		for _, p := range pools {
			if !HasTags(p.Tags, d.Tags) {
				continue
			}
			switch strings.ToUpper(p.Scope) {
			case "CLUSTER":
				if clusterID == "" || p.ClusterID == clusterID {
					tiers[0] = append(tiers[0], p)
				}
			case "ZONE":
				tiers[1] = append(tiers[1], p)
			}
		}
		tried := 0
		var lastErr error
		var chosen *PoolChoice
		for _, tier := range tiers {
			sort.SliceStable(tier, func(i, j int) bool { return tier[i].Total-tier[i].Used > tier[j].Total-tier[j].Used })
			for _, p := range tier {
				tried++
				factor, err := l.StorageFactor(ctx, q, p.ID)
				if err != nil {
					return nil, err
				}
				limit := scaled(p.Total, factor)
				if d.Size > 0 && (limit <= 0 || p.Used+d.Size > limit) {
					lastErr = &CapacityError{Type: db.CapStorageAlloc, ObjectID: p.ID, Requested: d.Size, InUse: p.Used, Limit: limit, Reason: ErrInsufficient}
					continue
				}
				if limit > 0 && float64(p.Used+d.Size)/float64(limit) > threshold {
					lastErr = &CapacityError{Type: db.CapStorageAlloc, ObjectID: p.ID, Requested: d.Size, InUse: p.Used, Limit: scaled(limit, threshold), Reason: ErrThreshold}
					continue
				}
				p.Used += d.Size
				chosen = &PoolChoice{PoolID: p.ID, Bytes: d.Size, Limit: limit}
				break
			}
			if chosen != nil {
				break
			}
		}
		if chosen == nil {
			if tried == 0 {
				reason := "no shared primary storage pool is Up"
				if d.Tags != "" {
					reason += " with tags " + d.Tags
				}
				if clusterID != "" {
					reason += " for cluster " + clusterID
				}
				return nil, &DeployError{Reason: reason}
			}
			return nil, &DeployError{Reason: fmt.Sprintf("no shared primary storage pool has %d bytes free: %v", d.Size, lastErr)}
		}
		out = append(out, *chosen)
	}
	return out, nil
}

// ReservePools takes the bytes of pools chosen by ChoosePools, by conditional updates within
// each pool's limit. A pool that another transaction filled since it was read answers
// db.ErrConflict, so that db.Transaction runs the caller's transaction again (which reads the
// pools afresh and chooses again, or fails with a DeployError).
func (l *Ledger) ReservePools(ctx context.Context, q db.Querier, chosen []PoolChoice) error {
	for _, p := range chosen {
		if p.Bytes == 0 {
			continue
		}
		ok, err := db.AdjustCapacityUsed(ctx, q, db.CapStorageAlloc, p.PoolID, p.Bytes, max(p.Limit, 1))
		if err != nil {
			return err
		}
		if !ok {
			return db.ErrConflict
		}
	}
	return nil
}
