package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// PoolSyncEvery is the least time between two pool syncs from one host when the setting
// storage.stats.interval cannot be read.
var PoolSyncEvery = 30 * time.Second

// poolCommandTimeout bounds one pool's ModifyStoragePool on a host: a pool whose NFS server
// is gone or hung answers within it (the agent bounds every NFS call by the command's time).
const poolCommandTimeout = 20 * time.Second

// poolSync connects a real host to the primary storage pools in its scope and records each
// pool's space as the host measures it (CloudStack's ModifyStoragePoolCommand when a host
// joins, and its periodic storage stats), and whether the host reaches it. It runs on a
// host's full power reports (at registration and with its pings), at most once per
// storage.stats.interval per host and never twice at once for a host, in the background.
type poolSync struct {
	deps    func(ctx context.Context) *orchestrate.Deps
	log     *slog.Logger
	mu      sync.Mutex
	last    map[string]time.Time
	running map[string]bool
}

func (p *poolSync) maybe(ctx context.Context, hostID string) {
	d := p.deps(ctx)
	every := PoolSyncEvery
	if d.Config != nil {
		if v, err := d.Config.Get(ctx, config.Global, "", "storage.stats.interval"); err == nil {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
				every = time.Duration(ms) * time.Millisecond
			}
		}
	}
	p.mu.Lock()
	if time.Since(p.last[hostID]) < every || p.running[hostID] {
		p.mu.Unlock()
		return
	}
	if p.running == nil {
		p.running = map[string]bool{}
	}
	p.last[hostID], p.running[hostID] = time.Now(), true
	p.mu.Unlock()
	go func() {
		defer func() {
			p.mu.Lock()
			delete(p.running, hostID)
			p.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := SyncPools(ctx, d, hostID); err != nil {
			p.log.Warn("storage pool sync", "host", hostID, "err", err)
		}
	}()
}

// SyncPools has a real host connect every primary storage pool in its scope (its zone's
// zone-wide pools and its cluster's) and records the capacity and use it reports. A pool the
// host answers it cannot reach (its NFS export gone, its heartbeat file not written) goes
// from Up to Down, with an alert: the planner places no new volume on it. A Down pool the
// host reaches again is Up again, with an alert. A host that does not answer at all says
// nothing of its pools (its own state tells).
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
		sctx, cancel := context.WithTimeout(ctx, poolCommandTimeout)
		ans, err := d.Agents.Send(sctx, h.ID, protocol.CmdModifyStoragePool, protocol.PoolRef{ID: p.ID, Type: p.PoolType, URL: p.URL})
		cancel()
		if err != nil {
			errs = append(errs, errors.New("pool "+p.Name+": "+err.Error()))
			continue
		}
		var st protocol.PoolStats
		if !ans.OK {
			err = errors.New(ans.Error)
		} else {
			err = json.Unmarshal(ans.Body, &st)
		}
		if err != nil {
			errs = append(errs, errors.New("pool "+p.Name+": "+err.Error()))
			if rerr := setPoolReach(ctx, d, p.ID, h, false, err.Error()); rerr != nil {
				errs = append(errs, rerr)
			}
			continue
		}
		if err := recordPoolStats(ctx, d, p.ID, st); err != nil {
			errs = append(errs, err)
		}
		if err := setPoolReach(ctx, d, p.ID, h, true, ""); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setPoolReach moves a pool between Up and Down as a host reached it or not, with an alert
// (ALERT.STORAGE.MISC) in the same transaction. A pool in any other state (Disabled,
// Maintenance ...) is the admin's and is left as it is.
func setPoolReach(ctx context.Context, d *orchestrate.Deps, poolID string, h *db.Host, reached bool, why string) error {
	var from string
	var p *db.StoragePool
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		from = ""
		p, err = db.GetStoragePool(ctx, tx, poolID)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		to, subject := db.PoolDown, fmt.Sprintf("Unable to reach storage pool %s (id: %s) from host %s (id: %s): it is Down: %s", p.Name, p.ID, h.Name, h.ID, why)
		if reached {
			to, subject = db.PoolUp, fmt.Sprintf("Storage pool %s (id: %s) is reachable again from host %s (id: %s): it is Up", p.Name, p.ID, h.Name, h.ID)
		}
		if p.Status != db.PoolUp && p.Status != db.PoolDown || p.Status == to {
			return nil
		}
		from, p.Status = p.Status, to
		if err := db.UpdateStoragePool(ctx, tx, p); err != nil {
			return err
		}
		if err := db.SetCapacityEnabled(ctx, tx, p.ID, to == db.PoolUp); err != nil {
			return err
		}
		return db.InsertAlert(ctx, tx, &db.Alert{Type: db.AlertStorageMisc, ZoneID: p.ZoneID, PodID: p.PodID, ClusterID: p.ClusterID, Subject: subject})
	})
	if err == nil && from != "" && d.Log != nil {
		d.Log.Warn("storage pool state changed", "pool", p.ID, "name", p.Name, "from", from, "to", p.Status, "host", h.ID, "why", why)
	}
	return err
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
