package vm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// PowerSync is the handler of agents' power reports: SyncPower with the Deps deps gives for
// the report's context, its failures logged.
func PowerSync(deps func(ctx context.Context) *orchestrate.Deps, log *slog.Logger) func(ctx context.Context, hostID string, full bool, vms []protocol.VMState) {
	return func(ctx context.Context, hostID string, full bool, vms []protocol.VMState) {
		if err := SyncPower(ctx, deps(ctx), hostID, full, vms); err != nil && ctx.Err() == nil {
			log.Warn("power-state sync failed", "host", hostID, "err", err)
		}
	}
}

// SyncPower reconciles VM states with a host's report (CloudStack's power-state sync). A
// report that disagrees with a VM's state is acted on only when it cannot be one taken just
// before a start or stop: when the previous report said the same (the VM's recorded power
// state already matches it), or, for a VM Running and reported on for at least one ping
// interval, at once. So a Running VM whose guest dies is Stopped (its host's CPU and memory
// released) on the first report after, and one reported off right after its start on the
// second; a Stopped VM reported on twice becomes Running on that host. VMs in transition
// (Starting, Stopping, Migrating) or destroyed are left to their jobs.
func SyncPower(ctx context.Context, d *orchestrate.Deps, hostID string, full bool, report []protocol.VMState) error {
	q := d.DB.SQL
	byName := make(map[string]string, len(report))
	for _, r := range report {
		byName[r.Name] = r.State
	}
	onHost, err := db.ListHostVMs(ctx, q, hostID)
	if err != nil {
		return err
	}
	now := db.Now()
	grace := reportGrace(ctx, d)
	known := map[string]bool{}
	for _, h := range onHost {
		name := h.InstanceName()
		known[name] = true
		power, ok := byName[name]
		if !ok {
			if !full {
				continue
			}
			power = db.PowerOff
		}
		if h.State == db.VMRunning && power == db.PowerOff && (h.PowerState == db.PowerOff || h.PowerState == db.PowerOn && now-h.PowerStateUpdated >= grace) {
			if err := powerStopped(ctx, d, h.ID, hostID); err != nil {
				return err
			}
			continue
		}
		if h.PowerState != power {
			if _, err := db.SetVMPowerState(ctx, q, h.ID, power, now); err != nil {
				return err
			}
		}
	}
	for name, power := range byName {
		if known[name] || power != db.PowerOn {
			continue
		}
		var acct, seq int64
		if _, err := fmt.Sscanf(name, "i-%d-%d-VM", &acct, &seq); err != nil {
			continue
		}
		v, err := db.GetVMBySeq(ctx, q, seq)
		if errors.Is(err, db.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if v.InstanceName() != name || v.State != db.VMStopped {
			continue
		}
		if v.PowerState == db.PowerOn {
			if err := powerStarted(ctx, d, v.ID, hostID); err != nil {
				d.Log.Warn("power-state sync: a stopped vm runs on a host but cannot be placed there", "vm", v.ID, "host", hostID, "err", err)
			}
			continue
		}
		if _, err := db.SetVMPowerState(ctx, q, v.ID, db.PowerOn, now); err != nil {
			return err
		}
	}
	return nil
}

// powerStopped moves a Running VM its host reports off to Stopped.
func powerStopped(ctx context.Context, d *orchestrate.Deps, id, hostID string) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := db.GetVM(ctx, tx, id)
		if err != nil {
			return err
		}
		if v.State != db.VMRunning || v.HostID != hostID {
			return nil
		}
		if err := orchestrate.ReleaseCompute(ctx, tx, d.Ledger, v); err != nil {
			return err
		}
		v.State, v.PowerState, v.PowerStateUpdated, v.LastHostID, v.HostID = db.VMStopped, db.PowerOff, db.Now(), hostID, ""
		return db.UpdateVM(ctx, tx, v)
	})
}

// powerStarted moves a Stopped VM a host reports running to Running there, reserving its CPU
// and memory beyond thresholds (it runs there already).
func powerStarted(ctx context.Context, d *orchestrate.Deps, id, hostID string) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := db.GetVM(ctx, tx, id)
		if err != nil {
			return err
		}
		if v.State != db.VMStopped {
			return nil
		}
		h, err := db.GetHost(ctx, tx, hostID)
		if err != nil {
			return err
		}
		if err := d.Ledger.ReserveCompute(ctx, tx, hostID, orchestrate.Compute(v), planner.Options{IgnoreThreshold: true}); err != nil {
			return err
		}
		v.State, v.PowerState, v.PowerStateUpdated = db.VMRunning, db.PowerOn, db.Now()
		v.HostID, v.LastHostID, v.PodID, v.ClusterID = hostID, hostID, h.PodID, h.ClusterID
		return db.UpdateVM(ctx, tx, v)
	})
}

// reportGrace is how long a VM must have been Running and reported on before a single report
// of it off is believed: one ping interval (a report is sent within one of being taken).
func reportGrace(ctx context.Context, d *orchestrate.Deps) int64 {
	secs := int64(60)
	if d.Config != nil {
		if v, err := d.Config.Get(ctx, config.Global, "", "ping.interval"); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
				secs = n
			}
		}
	}
	return secs * 1000
}
