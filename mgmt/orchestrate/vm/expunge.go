package vm

import (
	"context"
	"errors"
	"fmt"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/atollcloud/atoll/mgmt/orchestrate/securitygroup"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// Expunge removes a Destroyed (or Error) VM for good: the host forgets it, its ROOT volume and
// destroyed DATADISKs are expunged (their pool allocation released), other DATADISKs are
// detached, its NICs give their addresses back, and its affinity and security group memberships,
// tags and usage statistics go. With event (and an actor with a caller) it records VM.EXPUNGE. Each step is
// idempotent, so a run that dies half-way is finished by the next.
func Expunge(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, event bool) error {
	var v *db.VM
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		if v, err = db.GetVM(ctx, tx, id); err != nil {
			return err
		}
		switch v.State {
		case db.VMExpunging:
			return nil
		case db.VMDestroyed, db.VMError:
			v.State = db.VMExpunging
			return db.UpdateVM(ctx, tx, v)
		}
		return orchestrate.ErrVMState(v, "expunge")
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
		if err := d.Send(ctx, host, protocol.CmdDestroyVM, protocol.VMRef{Name: v.InstanceName(), Force: true}, AgentTimeout); err != nil {
			d.Log.Warn("expunge: host did not destroy the vm", "vm", v.ID, "host", host, "err", err)
		}
	}
	l := d.Ledger
	var gone []*db.Volume // expunged volumes whose files a real host's pool holds
	var ruleNets []string // networks whose rules pointed at the VM
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		gone = gone[:0]
		cur, err := db.GetVM(ctx, tx, id)
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
		vols, _, err := db.ListVolumes(ctx, tx, db.VolumeFilter{VMID: cur.ID})
		if err != nil {
			return err
		}
		for _, o := range vols {
			if o.Type == db.VolumeRoot || o.State == db.VolumeDestroy {
				if o.PoolID != "" {
					if err := l.ReleaseStorage(ctx, tx, o.PoolID, o.Size); err != nil && !errors.Is(err, planner.ErrNoLedger) {
						return err
					}
				}
				if o.State != db.VolumeDestroy {
					// A ROOT volume still counted (a VM expunged from Error never is).
					if err := d.ChargeResources(ctx, tx, o.AccountID, map[string]int64{db.ResVolume: -1, db.ResPrimaryStorage: -o.Size}); err != nil {
						return err
					}
				}
				o.State, o.Removed = db.VolumeExpunged, now
				if err := db.DeleteTagsOf(ctx, tx, "Volume", o.ID); err != nil {
					return err
				}
				if o.PoolID != "" && orchestrate.RealHost(cur) {
					gone = append(gone, o)
				}
			} else {
				o.VMID, o.DeviceID, o.Attached = "", 0, 0
			}
			if err := db.UpdateVolume(ctx, tx, o); err != nil {
				return err
			}
		}
		nics, err := db.ListNics(ctx, tx, db.NicFilter{VMID: cur.ID})
		if err != nil {
			return err
		}
		for _, n := range nics {
			net, err := db.GetNetwork(ctx, tx, n.NetworkID)
			if err == nil {
				if err := network.ReleaseNicIP(ctx, d, tx, net, n.IPAddress); err != nil {
					return err
				}
			} else if !errors.Is(err, db.ErrNotFound) {
				return err
			}
		}
		if ruleNets, err = network.ReleaseVMRules(ctx, tx, cur.ID); err != nil {
			return err
		}
		if err := db.RemoveVMNics(ctx, tx, cur.ID, now); err != nil {
			return err
		}
		if _, err := network.ReleaseVMFromLBs(ctx, tx, cur.ID); err != nil {
			return err
		}
		if err := db.SetVMAffinityGroups(ctx, tx, cur.ID, nil); err != nil {
			return err
		}
		if _, err := securitygroup.Leave(ctx, tx, cur.ID); err != nil {
			return err
		}
		if err := db.DeleteTagsOf(ctx, tx, "UserVm", cur.ID); err != nil {
			return err
		}
		if err := db.DeleteVMStats(ctx, tx, cur.ID); err != nil {
			return err
		}
		cur.State, cur.Removed = db.VMExpunged, now
		if err := db.UpdateVM(ctx, tx, cur); err != nil {
			return err
		}
		if event && a.Caller != nil {
			return orchestrate.Event(ctx, tx, a, "VM.EXPUNGE", "Expunged VM "+cur.Name, "VirtualMachine", cur.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range ruleNets {
		if err := network.ApplyRules(ctx, d, n); err != nil {
			d.Log.Warn("expunge: apply the rules of a network", "vm", id, "network", n, "err", err)
		}
	}
	// The files go after the rows: a file left by a host that did not answer is logged (and
	// harmless: nothing names it any more), never a VM half-expunged.
	for _, o := range gone {
		pool, err := db.GetStoragePool(ctx, d.DB.Read(), o.PoolID)
		if err != nil {
			d.Log.Warn("expunge: pool of a volume", "volume", o.ID, "pool", o.PoolID, "err", err)
			continue
		}
		volume.DropFile(ctx, d, pool, o)
	}
	return nil
}

// SweepOnce expunges the VMs destroyed (or failed at deploy) before the time given (ms), up
// to 200 of them. A VM another server expunges meanwhile is skipped.
func SweepOnce(ctx context.Context, d *orchestrate.Deps, before int64) error {
	ids, err := db.ListExpungeDue(ctx, d.DB.Read(), before, 200)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := Expunge(ctx, d, orchestrate.Actor{}, id, false); err != nil {
			var e *orchestrate.Error
			if !errors.As(err, &e) {
				return fmt.Errorf("expunge %s: %w", id, err)
			}
		}
	}
	return nil
}
