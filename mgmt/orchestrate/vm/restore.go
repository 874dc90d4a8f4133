package vm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

// RestoreSpec is what a restore makes the new ROOT volume from: a template ("" the VM's) and a
// size in GiB (HasRootDiskSize: the larger of the template's and the old volume's otherwise).
type RestoreSpec struct {
	TemplateID      string
	RootDiskSize    int64
	HasRootDiskSize bool
}

// Restore gives a VM a new ROOT volume from its template (or the one given) on the old ROOT's
// pool; the old one is expunged. A Running VM is stopped, restored and started again on its
// host. It returns the VM to answer.
func Restore(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, s RestoreSpec) (*db.VM, error) {
	v, err := db.GetVM(ctx, d.DB.SQL, id)
	if err != nil {
		return nil, err
	}
	if v.State != db.VMRunning && v.State != db.VMStopped {
		return nil, orchestrate.ErrVMState(v, "restore")
	}
	wasRunning := v.State == db.VMRunning
	if wasRunning {
		if err := d.Send(ctx, v.HostID, protocol.CmdStopVM, protocol.VMRef{Name: v.InstanceName(), Force: true}, AgentTimeout); err != nil {
			return nil, orchestrate.ErrInternal("Unable to restore %s: stopping it failed: %s", orchestrate.VMString(v), d.Cause(err))
		}
	}
	l := d.Ledger
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		cur, err := db.GetVM(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		tid := cur.TemplateID
		if t := s.TemplateID; t != "" {
			tid = strings.ToLower(t)
		}
		if tid == "" {
			return orchestrate.ErrParam("Unable to restore %s: it has no template (deployed from an ISO)", orchestrate.VMString(cur))
		}
		tmpl, err := db.GetTemplate(ctx, tx, tid)
		if err != nil {
			return err
		}
		roots, _, err := db.ListVolumes(ctx, tx, db.VolumeFilter{VMID: cur.ID, Type: db.VolumeRoot})
		if err != nil {
			return err
		}
		if len(roots) != 1 {
			return orchestrate.ErrInternal("%s has %d ROOT volumes", orchestrate.VMString(cur), len(roots))
		}
		old := roots[0]
		size := max(tmpl.Size, old.Size)
		if s.HasRootDiskSize {
			n := s.RootDiskSize
			if n<<30 < tmpl.Size {
				return orchestrate.ErrParam("Root disk size %d GB is smaller than the template size", n)
			}
			size = n << 30
		}
		if err := d.ChargeResources(ctx, tx, cur.AccountID, map[string]int64{db.ResPrimaryStorage: size - old.Size}); err != nil {
			return err
		}
		now := db.Now()
		nv := &db.Volume{ID: uuid.NewString(), Name: old.Name, AccountID: old.AccountID, DomainID: old.DomainID, ZoneID: old.ZoneID,
			PodID: old.PodID, PoolID: old.PoolID, VMID: cur.ID, Type: db.VolumeRoot, Size: size, TemplateID: tmpl.ID, State: db.VolumeAllocated,
			Format: old.Format, HypervisorType: old.HypervisorType, DisplayVolume: true, Attached: now, Created: now}
		if old.PoolID != "" {
			if err := l.ReleaseStorage(ctx, tx, old.PoolID, old.Size); err != nil && !errors.Is(err, planner.ErrNoLedger) {
				return err
			}
			if err := l.ReserveStorage(ctx, tx, old.PoolID, size, planner.Options{IgnoreThreshold: true}); err != nil {
				var ce *planner.CapacityError
				if !errors.As(err, &ce) {
					return err // the database's: logged, and answered with CloudStack's generic words
				}
				return orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSInsufficientServerCapacity, "Unable to restore %s: %v", orchestrate.VMString(cur), err)
			}
		}
		old.State, old.Removed, old.VMID = db.VolumeExpunged, now, ""
		if err := db.UpdateVolume(ctx, tx, old); err != nil {
			return err
		}
		if err := db.InsertVolume(ctx, tx, nv); err != nil {
			return err
		}
		cur.TemplateID, cur.OSTypeID = tmpl.ID, tmpl.OSTypeID
		if err := db.UpdateVM(ctx, tx, cur); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "VM.RESTORE", fmt.Sprintf("Restored VM %s from template %s", cur.Name, tmpl.Name), "VirtualMachine", cur.ID)
	})
	if err != nil {
		return nil, err
	}
	if wasRunning {
		cur, err := db.GetVM(ctx, d.DB.SQL, v.ID)
		if err != nil {
			return nil, err
		}
		spec, err := orchestrate.Spec(ctx, d.DB.Read(), cur)
		if err != nil {
			return nil, err
		}
		if err := d.Send(ctx, cur.HostID, protocol.CmdStartVM, spec, AgentTimeout); err != nil {
			// The power-state sync finds it off and stops it; say so now.
			return nil, orchestrate.ErrInternal("Restored %s but starting it again failed: %s", orchestrate.VMString(cur), d.Cause(err))
		}
	}
	running := 0
	if wasRunning {
		running = 1
	}
	_, err = d.DB.SQL.ExecContext(ctx, "UPDATE volumes SET state = 'Ready', path = COALESCE(path, id), version = version + 1 WHERE vm_id = ? AND state = 'Allocated' AND removed IS NULL AND ? = 1",
		v.ID, running)
	if err != nil {
		return nil, err
	}
	return Read(ctx, d, v.ID)
}
