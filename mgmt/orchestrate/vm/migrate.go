package vm

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// Migrate live-migrates a Running VM to target (a host id; "" one the planner chooses in the
// VM's cluster): the target's CPU and memory are reserved (the planner checks the target's
// capacity), the target prepares, the source sends the VM; then the source's reservation is
// released. A failure releases the target's and leaves the VM Running where it was. It returns
// the VM to answer.
func Migrate(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id, target string) (*db.VM, error) {
	var v *db.VM
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		if v, err = db.GetVM(ctx, tx, id); err != nil {
			return err
		}
		if v.State == db.VMMigrating {
			return nil // an earlier run of this job reserved the target
		}
		if v.State != db.VMRunning {
			return orchestrate.ErrParam("VM is not Running, unable to migrate the vm %s", orchestrate.VMString(v))
		}
		if target == v.HostID {
			return orchestrate.ErrParam("Cannot migrate VM, VM is already present on this host, please specify valid destination host to migrate the VM")
		}
		zoneWide, local, err := StorageScope(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if local {
			// Atoll does not move volumes with a VM (no storage motion).
			return orchestrate.ErrParam("Unsupported operation, VM uses Local storage, cannot migrate")
		}
		req := MigrationRequest(ctx, tx, v)
		req.HostID, req.IgnoreThreshold = target, target != ""
		if target != "" {
			h, err := db.GetHost(ctx, tx, target)
			if errors.Is(err, db.ErrNotFound) {
				return orchestrate.ErrParam("Unable to find the host to migrate the VM, host id=%s", target)
			}
			if err != nil {
				return err
			}
			if h.ClusterID != v.ClusterID {
				if !zoneWide {
					return orchestrate.ErrParam("Cannot migrate VM %s to host %s in another cluster: its volumes are on cluster storage", v.Name, h.Name)
				}
			}
		} else {
			req.ClusterID = v.ClusterID
		}
		pl, err := d.Ledger.Deploy(ctx, tx, req, nil)
		if err != nil {
			return DeployErr(v, err)
		}
		v.State, v.MigrateHostID = db.VMMigrating, pl.HostID
		return db.UpdateVM(ctx, tx, v)
	})
	if err != nil {
		return nil, err
	}
	spec, err := orchestrate.Spec(ctx, d.DB.Read(), v)
	if err != nil {
		return nil, err
	}
	var to protocol.MigrationTarget
	serr := network.PrepareHost(ctx, d, v.MigrateHostID, nicNetworks(spec))
	if serr == nil {
		serr = d.SendFor(ctx, v.MigrateHostID, protocol.CmdPrepareMigration, spec, &to, AgentTimeout)
	}
	if serr == nil {
		serr = d.Send(ctx, v.HostID, protocol.CmdMigrateVM, protocol.MigrateVM{Name: v.InstanceName(), TargetHostID: v.MigrateHostID, Target: to}, MigrateTimeout)
		if serr != nil {
			_ = d.Send(ctx, v.MigrateHostID, protocol.CmdDestroyVM, protocol.VMRef{Name: v.InstanceName(), Force: true}, AgentTimeout)
		}
	}
	l := d.Ledger
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		cur, err := db.GetVM(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if cur.State != db.VMMigrating {
			return nil
		}
		from, to := cur.HostID, cur.MigrateHostID
		release := to
		if serr == nil {
			release = from
			h, err := db.GetHost(ctx, tx, to)
			if err != nil {
				return err
			}
			cur.HostID, cur.LastHostID, cur.PodID, cur.ClusterID = to, to, h.PodID, h.ClusterID
		}
		if err := l.ReleaseCompute(ctx, tx, release, orchestrate.Compute(cur)); err != nil && !errors.Is(err, planner.ErrNoLedger) {
			return err
		}
		cur.State, cur.MigrateHostID = db.VMRunning, ""
		if err := db.UpdateVM(ctx, tx, cur); err != nil {
			return err
		}
		if serr == nil {
			return orchestrate.Event(ctx, tx, a, "VM.MIGRATE", "Migrated VM "+cur.Name+" to host "+to, "VirtualMachine", cur.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if serr != nil {
		leaveHost(ctx, d, v, v.MigrateHostID)
		return nil, orchestrate.ErrInternal("Failed to migrate %s: %s", orchestrate.VMString(v), d.Cause(serr))
	}
	leaveHost(ctx, d, v, v.HostID)
	return Read(ctx, d, v.ID)
}

// MigrationRequest is the planner's request for moving a Running VM off its host: its CPU and
// memory, its offering's host tag, anywhere but where it is.
func MigrationRequest(ctx context.Context, q db.Querier, v *db.VM) planner.Request {
	req := planner.Request{ZoneID: v.ZoneID, Need: orchestrate.Compute(v), AccountID: v.AccountID,
		Avoid: map[string]bool{v.HostID: true}, Exclude: v.ID, Hypervisor: v.HypervisorType}
	if so, err := db.GetServiceOffering(ctx, q, v.ServiceOfferingID); err == nil {
		req.HostTag = so.HostTag
	}
	return req
}

// StorageScope tells where a VM's volumes are: zoneWide when every one is on a zone-wide pool
// (the VM may move to any cluster of the zone), local when one is on a host's own pool (the VM
// may move nowhere without its storage).
func StorageScope(ctx context.Context, q db.Querier, vmID string) (zoneWide, local bool, err error) {
	vols, _, err := db.ListVolumes(ctx, q, db.VolumeFilter{VMID: vmID})
	if err != nil {
		return false, false, err
	}
	zoneWide = true
	for _, o := range vols {
		p, err := db.GetStoragePool(ctx, q, o.PoolID)
		if errors.Is(err, db.ErrNotFound) {
			zoneWide = false
			continue
		}
		if err != nil {
			return false, false, err
		}
		zoneWide = zoneWide && strings.EqualFold(p.Scope, "ZONE")
		local = local || strings.EqualFold(p.Scope, "HOST")
	}
	return zoneWide, local, nil
}

// MigrateWithVolume is migrateVirtualMachineWithVolume: a Running VM moves to hostID (with
// autoSelect and no hostID, to one the planner chooses) with its volumes staying where they are. Atoll does not move volumes between pools (storage motion),
// so each volume that volumeToPool names must be the VM's and be on that pool already, and a
// Stopped VM (CloudStack's storage-only migration) is refused.
func MigrateWithVolume(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id, hostID string, autoSelect bool, volumeToPool map[string]string) (*db.VM, error) {
	q := d.DB.Read()
	v, err := db.GetVM(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if hostID == "" && !autoSelect {
		if v.State != db.VMStopped {
			return nil, orchestrate.ErrParam("VM ID: %s is not in Stopped state to migrate, use hostid parameter to migrate it to a new host", v.ID)
		}
		return nil, orchestrate.ErrParam("Migrating the volumes of VM %s to other storage pools is not supported: Atoll keeps volumes on their pools", v.ID)
	}
	if v.State != db.VMRunning && v.State != db.VMMigrating {
		return nil, orchestrate.ErrParam("VM ID: %s is not in Running state to migrate it to new host", v.ID)
	}
	if v.State == db.VMMigrating {
		return Migrate(ctx, d, a, id, hostID) // a replay: the checks below held when it began
	}
	for volID, poolID := range volumeToPool {
		vol, err := db.GetVolume(ctx, q, volID)
		if errors.Is(err, db.ErrNotFound) || (err == nil && vol.VMID != v.ID) {
			return nil, orchestrate.ErrParam("Cannot migrate volume %s: it is not a volume of VM %s", volID, v.ID)
		}
		if err != nil {
			return nil, err
		}
		if _, err := db.GetStoragePool(ctx, q, poolID); errors.Is(err, db.ErrNotFound) {
			return nil, orchestrate.ErrParam("Cannot migrate volume %s: storage pool %s does not exist", volID, poolID)
		} else if err != nil {
			return nil, err
		}
		if vol.PoolID != poolID {
			return nil, orchestrate.ErrParam("Cannot migrate volume %s to storage pool %s: Atoll does not move volumes between pools with a VM (it stays on %s)", volID, poolID, vol.PoolID)
		}
	}
	return Migrate(ctx, d, a, id, hostID)
}
