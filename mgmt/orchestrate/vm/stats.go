package vm

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Settings of the VM statistics, with CloudStack's names and defaults.
const (
	StatsIntervalSetting  = "vm.stats.interval"           // ms between samples; 0 or less: none
	StatsRetentionSetting = "vm.stats.max.retention.time" // minutes a VM's stats outlive its last sample
	StatsIncrementSetting = "vm.stats.increment.metrics"  // render summed I/O (else the last interval's)
)

// statsTimeout bounds one host's GetVmStats; statsHosts is how many hosts are asked at once.
const (
	statsTimeout = 30 * time.Second
	statsHosts   = 8
)

// StatsCollector samples the VMs of the hosts whose agent connections this management server
// holds (CloudStack's StatsCollector.VmStatsCollector): every vm.stats.interval ms it sends
// GetVmStats to each Up host with Running VMs and writes each VM's stats (NextStats) to
// vm_stats, where every server reads them. Each host is sampled by the one server that holds
// it, so servers never sample the same VM twice; a host that moves is sampled by its new
// server from the row the old one wrote.
type StatsCollector struct {
	Deps     *orchestrate.Deps
	ServerID string
	// Now is the server's clock (tests); nil: time.Now.
	Now func() time.Time
}

func (c *StatsCollector) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *StatsCollector) setting(ctx context.Context, name string, fallback int64) int64 {
	if c.Deps.Config == nil {
		return fallback
	}
	v, err := c.Deps.Config.Get(ctx, config.Global, "", name)
	if err != nil {
		return fallback
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fallback
	}
	return n
}

// Run samples every vm.stats.interval ms until ctx ends, the first time one interval after it
// starts. The setting is read again every second, so a change takes effect without a restart.
// Stats whose VM has not been sampled for vm.stats.max.retention.time minutes, and those of
// expunged VMs, are purged once a minute.
func (c *StatsCollector) Run(ctx context.Context) {
	last, purged := c.now(), c.now()
	for {
		wait := time.Second
		interval := time.Duration(c.setting(ctx, StatsIntervalSetting, 60000)) * time.Millisecond
		if interval > 0 {
			wait = min(wait, max(time.Until(last.Add(interval)), 10*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if interval > 0 && c.now().Sub(last) >= interval {
			last = c.now()
			if err := c.CollectOnce(ctx); err != nil && ctx.Err() == nil {
				c.Deps.Log.Warn("vm stats collection failed", "err", err)
			}
		}
		if c.now().Sub(purged) >= time.Minute {
			purged = c.now()
			if err := c.Purge(ctx); err != nil && ctx.Err() == nil {
				c.Deps.Log.Warn("vm stats purge failed", "err", err)
			}
		}
	}
}

// Purge removes the stats last collected more than vm.stats.max.retention.time minutes ago
// (none by age when it is 0 or less) and those of expunged VMs.
func (c *StatsCollector) Purge(ctx context.Context) error {
	var before int64
	if keep := c.setting(ctx, StatsRetentionSetting, 720); keep > 0 {
		before = c.now().UnixMilli() - keep*60000
	}
	_, err := db.PurgeVMStats(ctx, c.Deps.DB.SQL, before)
	return err
}

// CollectOnce samples, once, every Running VM of the hosts this server holds. A host that does
// not answer is logged and skipped: its VMs keep their last stats.
func (c *StatsCollector) CollectOnce(ctx context.Context) error {
	targets, err := db.ListStatsTargets(ctx, c.Deps.DB.Read(), c.ServerID)
	if err != nil {
		return err
	}
	byHost := map[string][]db.StatsTarget{}
	var hosts []string
	for _, t := range targets {
		if _, ok := byHost[t.HostID]; !ok {
			hosts = append(hosts, t.HostID)
		}
		byHost[t.HostID] = append(byHost[t.HostID], t)
	}
	sem := make(chan struct{}, statsHosts)
	var wg sync.WaitGroup
	for _, h := range hosts {
		sem <- struct{}{}
		wg.Add(1)
		go func(h string) {
			defer func() { <-sem; wg.Done() }()
			if err := c.collectHost(ctx, h, byHost[h]); err != nil && ctx.Err() == nil {
				c.Deps.Log.Warn("vm stats of a host", "host", h, "err", err)
			}
		}(h)
	}
	wg.Wait()
	return ctx.Err()
}

func (c *StatsCollector) collectHost(ctx context.Context, hostID string, vms []db.StatsTarget) error {
	if c.Deps.Agents == nil {
		return fmt.Errorf("no agents manager on this management server")
	}
	req := protocol.GetVMStats{Names: make([]string, len(vms))}
	for i, v := range vms {
		req.Names[i] = v.Name
	}
	cctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	ans, err := c.Deps.Agents.Send(cctx, hostID, protocol.CmdGetVMStats, req)
	if err != nil {
		return err
	}
	if !ans.OK {
		return fmt.Errorf("%s: %s", protocol.CmdGetVMStats, ans.Error)
	}
	var got protocol.VMStatsAnswer
	if err := json.Unmarshal(ans.Body, &got); err != nil {
		return fmt.Errorf("%s: decode answer: %w", protocol.CmdGetVMStats, err)
	}
	return RecordStats(ctx, c.Deps.DB, hostID, vms, got, c.now().UnixMilli())
}

// RecordStats writes one host's sample: each VM of vms the answer reports gets its next stats
// row (NextStats) from its current one. now is the server's clock (Unix ms).
func RecordStats(ctx context.Context, d *db.DB, hostID string, vms []db.StatsTarget, ans protocol.VMStatsAnswer, now int64) error {
	byName := make(map[string]protocol.VMStats, len(ans.VMs))
	for _, s := range ans.VMs {
		byName[s.Name] = s
	}
	ids := make([]string, 0, len(vms))
	for _, v := range vms {
		if _, ok := byName[v.Name]; ok {
			ids = append(ids, v.VMID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return d.Transaction(ctx, func(tx db.Tx) error {
		prev, err := db.VMStatsOf(ctx, tx, ids)
		if err != nil {
			return err
		}
		for _, v := range vms {
			s, ok := byName[v.Name]
			if !ok {
				continue
			}
			p := prev[v.VMID]
			next := NextStats(p, v.VMID, hostID, s, ans.Time, now)
			var since int64
			if p != nil {
				since = p.Sampled
			}
			if _, err := db.PutVMStats(ctx, tx, next, since); err != nil {
				return err
			}
		}
		return nil
	})
}

// NextStats derives a VM's stats row from its previous one (nil: none) and a new sample taken
// at sampled (the host's clock, Unix ms) on hostID. The sample continues the previous one's
// run when it comes from the same host and no counter went down; then the increase of each
// counter is its difference and the CPU use is the CPU time gained over the wall time between
// the samples, per vCPU, in percent (CloudStack's KVM formula; none if the host's clock did
// not move forward). Otherwise (the first
// sample, or the VM restarted or moved) the counters count from the VM's start, so each
// increase is the counter itself and there is no CPU use yet. The increases are summed into
// Acc.
func NextStats(prev *db.VMStats, vmID, hostID string, s protocol.VMStats, sampled, now int64) *db.VMStats {
	next := &db.VMStats{VMID: vmID, HostID: hostID, Sampled: sampled, Collected: now, CPUs: s.CPUs, CPUTimeNs: int64(s.CPUTimeNs),
		MemoryBytes: s.MemoryBytes, MaxMemory: s.MaxMemory, FreeMemory: s.FreeMemory}
	for _, d := range s.Disks {
		next.Raw.DiskReadBytes += d.ReadBytes
		next.Raw.DiskWriteBytes += d.WriteBytes
		next.Raw.DiskReadOps += d.ReadOps
		next.Raw.DiskWriteOps += d.WriteOps
	}
	for _, n := range s.Nics {
		next.Raw.NetRxBytes += n.RxBytes
		next.Raw.NetTxBytes += n.TxBytes
	}
	if next.Sampled <= 0 {
		next.Sampled = now
	}
	same := prev != nil && prev.HostID == hostID && next.CPUTimeNs >= prev.CPUTimeNs && !next.Raw.Below(prev.Raw)
	next.Last = next.Raw
	if same {
		next.Last = next.Raw.Minus(prev.Raw)
		if next.CPUs > 0 && next.Sampled > prev.Sampled {
			wallNs := float64(next.Sampled-prev.Sampled) * 1e6
			next.CPUUsed = sql.NullFloat64{Float64: float64(next.CPUTimeNs-prev.CPUTimeNs) / (wallNs * float64(next.CPUs)) * 100, Valid: true}
		}
	}
	next.Acc = next.Last
	if prev != nil {
		next.Acc = prev.Acc.Plus(next.Last)
	}
	return next
}
