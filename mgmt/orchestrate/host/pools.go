package host

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// PoolSyncEvery is the least time between two pool syncs from one host.
var PoolSyncEvery = 30 * time.Second

// poolSync connects a real host to the primary storage pools in its scope and records each
// pool's space as the host measures it (CloudStack's ModifyStoragePoolCommand when a host
// joins, and its periodic storage stats). It runs on a host's full power reports (at
// registration and with its pings), at most once per PoolSyncEvery per host, in the
// background.
type poolSync struct {
	deps func(ctx context.Context) *orchestrate.Deps
	log  *slog.Logger
	mu   sync.Mutex
	last map[string]time.Time
}

func (p *poolSync) maybe(ctx context.Context, hostID string) {
	p.mu.Lock()
	if time.Since(p.last[hostID]) < PoolSyncEvery {
		p.mu.Unlock()
		return
	}
	p.last[hostID] = time.Now()
	p.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := SyncPools(ctx, p.deps(ctx), hostID); err != nil {
			p.log.Warn("storage pool sync", "host", hostID, "err", err)
		}
	}()
}

// SyncPools has a real host connect every primary storage pool in its scope (its zone's
// zone-wide pools and its cluster's) and records the capacity and use it reports. A pool the
// host cannot reach is logged and left as it was.
func SyncPools(ctx context.Context, d *orchestrate.Deps, hostID string) error {
	q := d.DB.Read()
	h, err := db.GetHost(ctx, q, hostID)
	if err != nil {
		return err
	}
	if strings.EqualFold(h.HypervisorType, "Simulator") || h.Status != "Up" || h.ZoneID == "" {
		return nil
	}
	pools, _, err := db.ListStoragePools(ctx, q, db.StoragePoolFilter{ZoneID: h.ZoneID})
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pools {
		if p.ClusterID != "" && p.ClusterID != h.ClusterID || p.HostID != "" && p.HostID != h.ID {
			continue
		}
		if p.Hypervisor != "" && !strings.EqualFold(p.Hypervisor, h.HypervisorType) && !strings.EqualFold(p.Hypervisor, "Any") {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		ans, err := d.Agents.Send(sctx, h.ID, protocol.CmdModifyStoragePool, protocol.PoolRef{ID: p.ID, Type: p.PoolType, URL: p.URL})
		cancel()
		if err == nil && !ans.OK {
			err = errors.New(ans.Error)
		}
		var st protocol.PoolStats
		if err == nil {
			err = json.Unmarshal(ans.Body, &st)
		}
		if err != nil {
			errs = append(errs, errors.New("pool "+p.Name+": "+err.Error()))
			continue
		}
		if err := recordPoolStats(ctx, d, p.ID, st); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// recordPoolStats writes a pool's measured capacity and use, and its ledger rows.
func recordPoolStats(ctx context.Context, d *orchestrate.Deps, poolID string, st protocol.PoolStats) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		p, err := db.GetStoragePool(ctx, tx, poolID)
		if errors.Is(err, db.ErrNotFound) {
			return nil // removed meanwhile
		}
		if err != nil {
			return err
		}
		if p.CapacityBytes == st.CapacityBytes && p.UsedBytes == st.UsedBytes {
			return nil
		}
		p.CapacityBytes, p.UsedBytes = st.CapacityBytes, st.UsedBytes
		if err := db.UpdateStoragePool(ctx, tx, p); err != nil {
			return err
		}
		return d.Ledger.SetPoolCapacity(ctx, tx, p)
	})
}
