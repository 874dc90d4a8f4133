package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/agents"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// expunge removes a Destroyed (or Error) VM for good: the host forgets it, its ROOT volume and
// destroyed DATADISKs are expunged (their pool allocation released), other DATADISKs are
// detached, its NICs give their addresses back, and its affinity memberships and tags go.
// Each step is idempotent, so a run that dies half-way is finished by the next.
func (c *Call) expunge(id string, event bool) error {
	var v *db.VM
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		var err error
		if v, err = db.GetVM(c.Ctx, tx, id); err != nil {
			return err
		}
		switch v.State {
		case db.VMExpunging:
			return nil
		case db.VMDestroyed, db.VMError:
			v.State = db.VMExpunging
			return db.UpdateVM(c.Ctx, tx, v)
		}
		return errVMState(v, "expunge")
	})
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	host := v.HostID
	if host == "" {
		host = v.LastHostID
	}
	if host != "" {
		// Best effort: a stopped VM runs nowhere; this clears any definition left on the host.
		if err := c.deps().Send(c.Ctx, host, protocol.CmdDestroyVM, protocol.VMRef{Name: v.InstanceName(), Force: true}, agentTimeout); err != nil {
			c.S.Log.Warn("expunge: host did not destroy the vm", "vm", v.ID, "host", host, "err", err)
		}
	}
	l := c.ledger()
	return c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		cur, err := db.GetVM(c.Ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur.State != db.VMExpunging {
			return nil
		}
		now := db.Now()
		vols, _, err := db.ListVolumes(c.Ctx, tx, db.VolumeFilter{VMID: cur.ID})
		if err != nil {
			return err
		}
		for _, o := range vols {
			if o.Type == db.VolumeRoot || o.State == db.VolumeDestroy {
				if o.PoolID != "" {
					if err := l.ReleaseStorage(c.Ctx, tx, o.PoolID, o.Size); err != nil && !errors.Is(err, planner.ErrNoLedger) {
						return err
					}
				}
				if o.State != db.VolumeDestroy {
					// A ROOT volume still counted (a VM expunged from Error never is).
					if err := c.chargeResources(tx, o.AccountID, map[string]int64{db.ResVolume: -1, db.ResPrimaryStorage: -o.Size}); err != nil {
						return err
					}
				}
				o.State, o.Removed = db.VolumeExpunged, now
				if err := db.DeleteTagsOf(c.Ctx, tx, "Volume", o.ID); err != nil {
					return err
				}
			} else {
				o.VMID, o.DeviceID, o.Attached = "", 0, 0
			}
			if err := db.UpdateVolume(c.Ctx, tx, o); err != nil {
				return err
			}
		}
		nics, err := db.ListNics(c.Ctx, tx, db.NicFilter{VMID: cur.ID})
		if err != nil {
			return err
		}
		for _, n := range nics {
			net, err := db.GetNetwork(c.Ctx, tx, n.NetworkID)
			if err == nil {
				if err := c.releaseNicIP(tx, net, n.IPAddress); err != nil {
					return err
				}
			} else if !errors.Is(err, db.ErrNotFound) {
				return err
			}
		}
		if err := db.RemoveVMNics(c.Ctx, tx, cur.ID, now); err != nil {
			return err
		}
		if err := db.SetVMAffinityGroups(c.Ctx, tx, cur.ID, nil); err != nil {
			return err
		}
		if err := db.DeleteTagsOf(c.Ctx, tx, "UserVm", cur.ID); err != nil {
			return err
		}
		cur.State, cur.Removed = db.VMExpunged, now
		if err := db.UpdateVM(c.Ctx, tx, cur); err != nil {
			return err
		}
		if event && c.Caller != nil {
			return c.Event(tx, "VM.EXPUNGE", "Expunged VM "+cur.Name, "VirtualMachine", cur.ID)
		}
		return nil
	})
}

// startCompute installs the VM power-state sync on the agents manager and starts the expunge
// sweeper, both for as long as the manager runs.
func (s *Server) startCompute(m *agents.Manager) {
	m.OnPowerReport(func(ctx context.Context, hostID string, full bool, vms []protocol.VMState) {
		c := &Call{Ctx: ctx, S: s}
		if err := c.syncPower(hostID, full, vms); err != nil && ctx.Err() == nil {
			s.Log.Warn("power-state sync failed", "host", hostID, "err", err)
		}
	})
	m.Go(func(ctx context.Context) { s.sweepExpunged(ctx) })
}

// settingInt reads an integer setting (global), with a fallback.
func (s *Server) settingInt(ctx context.Context, name string, fallback int64) int64 {
	v, err := s.Config.Get(ctx, config.Global, "", name)
	if err != nil {
		return fallback
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fallback
	}
	return n
}

// sweepExpunged expunges, every expunge.interval seconds, the VMs destroyed (or failed at
// deploy) more than expunge.delay seconds ago. Every management server runs it: the move to
// Expunging is a conditional update, so each VM is expunged by one of them.
func (s *Server) sweepExpunged(ctx context.Context) {
	var last time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		interval := time.Duration(s.settingInt(ctx, "expunge.interval", 86400)) * time.Second
		if time.Since(last) < interval {
			continue
		}
		last = time.Now()
		if err := s.SweepOnce(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("expunge sweep failed", "err", err)
		}
	}
}

// SweepOnce expunges the VMs due now.
func (s *Server) SweepOnce(ctx context.Context) error {
	delay := s.settingInt(ctx, "expunge.delay", 86400) * 1000
	ids, err := db.ListExpungeDue(ctx, s.DB.Read(), db.Now()-delay, 200)
	if err != nil {
		return err
	}
	c := &Call{Ctx: ctx, S: s}
	for _, id := range ids {
		if err := c.expunge(id, false); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				return fmt.Errorf("expunge %s: %w", id, err)
			}
		}
	}
	return nil
}

// syncPower reconciles VM states with a host's report (CloudStack's power-state sync). A
// report that disagrees with a VM's state is acted on only when the previous report said the
// same (the VM's recorded power state already matches it), so a report taken just before a
// start or stop cannot undo it: a Running VM reported off twice becomes Stopped (its host's
// CPU and memory released); a Stopped VM reported on twice becomes Running on that host.
// VMs in transition (Starting, Stopping, Migrating) or destroyed are left to their jobs.
func (c *Call) syncPower(hostID string, full bool, report []protocol.VMState) error {
	q := c.S.DB.SQL
	byName := make(map[string]string, len(report))
	for _, r := range report {
		byName[r.Name] = r.State
	}
	onHost, err := db.ListHostVMs(c.Ctx, q, hostID)
	if err != nil {
		return err
	}
	now := db.Now()
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
		if h.State == db.VMRunning && power == db.PowerOff && h.PowerState == db.PowerOff {
			if err := c.powerStopped(h.ID, hostID); err != nil {
				return err
			}
			continue
		}
		if h.PowerState != power {
			if _, err := db.SetVMPowerState(c.Ctx, q, h.ID, power, now); err != nil {
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
		v, err := db.GetVMBySeq(c.Ctx, q, seq)
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
			if err := c.powerStarted(v.ID, hostID); err != nil {
				c.S.Log.Warn("power-state sync: a stopped vm runs on a host but cannot be placed there", "vm", v.ID, "host", hostID, "err", err)
			}
			continue
		}
		if _, err := db.SetVMPowerState(c.Ctx, q, v.ID, db.PowerOn, now); err != nil {
			return err
		}
	}
	return nil
}

// powerStopped moves a Running VM its host reports off to Stopped.
func (c *Call) powerStopped(id, hostID string) error {
	return c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := db.GetVM(c.Ctx, tx, id)
		if err != nil {
			return err
		}
		if v.State != db.VMRunning || v.HostID != hostID {
			return nil
		}
		if err := orchestrate.ReleaseCompute(c.Ctx, tx, c.ledger(), v); err != nil {
			return err
		}
		v.State, v.PowerState, v.PowerStateUpdated, v.LastHostID, v.HostID = db.VMStopped, db.PowerOff, db.Now(), hostID, ""
		return db.UpdateVM(c.Ctx, tx, v)
	})
}

// powerStarted moves a Stopped VM a host reports running to Running there, reserving its CPU
// and memory beyond thresholds (it runs there already).
func (c *Call) powerStarted(id, hostID string) error {
	return c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := db.GetVM(c.Ctx, tx, id)
		if err != nil {
			return err
		}
		if v.State != db.VMStopped {
			return nil
		}
		h, err := db.GetHost(c.Ctx, tx, hostID)
		if err != nil {
			return err
		}
		if err := c.ledger().ReserveCompute(c.Ctx, tx, hostID, orchestrate.Compute(v), planner.Options{IgnoreThreshold: true}); err != nil {
			return err
		}
		v.State, v.PowerState, v.PowerStateUpdated = db.VMRunning, db.PowerOn, db.Now()
		v.HostID, v.LastHostID, v.PodID, v.ClusterID = hostID, hostID, h.PodID, h.ClusterID
		return db.UpdateVM(c.Ctx, tx, v)
	})
}
