package vm

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/atollcloud/atoll/mgmt/orchestrate/securitygroup"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// StartSpec is where a start may go: a pod, cluster or host (root admins only), a planner, and
// whether the VM's last host is tried first.
type StartSpec struct {
	PodID, ClusterID, HostID string
	Planner                  string
	ConsiderLastHost         bool
}

// PlanStart reserves a host (the last one first, unless told otherwise) and pools for the
// volumes that have none, and moves a Stopped VM to Starting, in tx.
func PlanStart(ctx context.Context, d *orchestrate.Deps, tx db.Tx, v *db.VM, s StartSpec) error {
	so, err := db.GetServiceOffering(ctx, tx, v.ServiceOfferingID)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	hostTag, plannerName, local := "", "", false
	if so != nil {
		hostTag, plannerName, local = so.HostTag, so.DeploymentPlanner, strings.EqualFold(so.StorageType, "local")
	}
	if s.Planner != "" {
		plannerName = s.Planner
	}
	vols, _, err := db.ListVolumes(ctx, tx, db.VolumeFilter{VMID: v.ID})
	if err != nil {
		return err
	}
	var disks []planner.DiskRequest
	var need []*db.Volume
	for _, o := range vols {
		if o.PoolID == "" {
			tags := ""
			if o.DiskOfferingID != "" {
				if do, err := db.GetDiskOffering(ctx, tx, o.DiskOfferingID); err == nil {
					tags, local = do.Tags, strings.EqualFold(do.StorageType, "local")
				}
			} else if so != nil {
				tags = so.StorageTags
			}
			disks = append(disks, planner.DiskRequest{Size: o.Size, Tags: tags, Local: local})
			need = append(need, o)
		}
	}
	members, err := db.ListAffinityMembers(ctx, tx, []string{v.ID})
	if err != nil {
		return err
	}
	var groups []*db.AffinityGroup
	for _, m := range members {
		groups = append(groups, &db.AffinityGroup{ID: m.GroupID, Type: m.Type})
	}
	avoid, require, err := AffinityRule(ctx, tx, groups, v.ID)
	if err != nil {
		return err
	}
	req := planner.Request{ZoneID: v.ZoneID, PodID: s.PodID, ClusterID: s.ClusterID,
		HostID: s.HostID, Need: orchestrate.Compute(v), HostTag: hostTag, AccountID: v.AccountID,
		Planner: plannerName, Avoid: avoid, Require: require, Exclude: v.ID, Hypervisor: v.HypervisorType}
	req.IgnoreThreshold = req.HostID != ""
	l := d.Ledger
	var pl *planner.Placement
	if v.LastHostID != "" && req.HostID == "" && s.ConsiderLastHost {
		r := req
		r.HostID = v.LastHostID
		if pl, err = l.Deploy(ctx, tx, r, disks); err != nil && !errors.Is(err, planner.ErrNoDeployment) {
			return err
		}
	}
	if pl == nil {
		if pl, err = l.Deploy(ctx, tx, req, disks); err != nil {
			return DeployErr(v, err)
		}
	}
	for i, o := range need {
		o.PoolID, o.PodID = pl.Pools[i], pl.PodID
		if err := db.UpdateVolume(ctx, tx, o); err != nil {
			return err
		}
	}
	v.State, v.HostID, v.PodID, v.ClusterID = db.VMStarting, pl.HostID, pl.PodID, pl.ClusterID
	return db.UpdateVM(ctx, tx, v)
}

// Start starts a VM (a deploy's job too, deploying): Stopped -> Starting (planned and
// reserved) -> Running; a VM deployed with startvm=false is just returned. h is what the
// deploy handed its job on this server (nil: none; ignored unless it is this VM's deploy). It
// returns the VM to answer.
func Start(ctx context.Context, d *orchestrate.Deps, vmID string, deploying bool, h *Hint, s StartSpec) (*db.VM, error) {
	if h != nil && (!deploying || h.VM.ID != vmID) {
		h = nil
	}
	var v *db.VM
	if h != nil {
		// Run by the server that deployed it, right after: the VM is as its deploy committed
		// it (this is its first job, and no other job runs for it meanwhile).
		v = h.VM
	} else {
		var err error
		if v, err = startingVM(ctx, d, vmID, deploying, s); err != nil {
			return nil, err
		}
	}
	if v.State != db.VMStarting {
		return Read(ctx, d, v.ID)
	}
	var spec protocol.VMSpec
	var serr error
	if h != nil {
		spec = orchestrate.SpecOf(v, h.Vols, h.Nics)
		serr = orchestrate.ForRealHost(ctx, d.DB.Read(), v, h.Vols, &spec)
	} else {
		spec, serr = orchestrate.Spec(ctx, d.DB.Read(), v)
	}
	var e *orchestrate.Error
	if errors.As(serr, &e) {
		// What the host would need is missing (a template not in the zone's store): the
		// start fails as an agent's refusal would, releasing what it reserved.
		if err := failStart(ctx, d, v.ID, deploying); err != nil {
			return nil, err
		}
		return nil, orchestrate.ErrInternal("Unable to start %s: %s", orchestrate.VMString(v), e.Text)
	}
	if serr != nil {
		return nil, serr
	}
	nerr := network.PrepareHost(ctx, d, v.HostID, nicNetworks(spec))
	if nerr == nil {
		// Its security groups are on its host's ports before it has any.
		nerr = securitygroup.VMChanged(ctx, d, v.ID)
	}
	if nerr != nil {
		// The guest would come up without its network (no lease, no peers): it does not start.
		if err := failStart(ctx, d, v.ID, deploying); err != nil {
			return nil, err
		}
		return nil, orchestrate.ErrInternal("Unable to start %s: its networks could not be readied on its host: %s", orchestrate.VMString(v), d.Cause(nerr))
	}
	if serr := d.Send(ctx, v.HostID, protocol.CmdStartVM, spec, AgentTimeout); serr != nil {
		if deploying {
			_ = d.Send(ctx, v.HostID, protocol.CmdDestroyVM, protocol.VMRef{Name: v.InstanceName(), Force: true}, AgentTimeout)
		}
		if err := failStart(ctx, d, v.ID, deploying); err != nil {
			return nil, err
		}
		return nil, orchestrate.ErrInternal("Unable to start %s: %s", orchestrate.VMString(v), d.Cause(serr))
	}
	// The agent created the volumes: they are Ready, then the VM Running. Two statements, no
	// transaction: if this server dies between them, the job runs again elsewhere with the VM
	// still Starting (Ready volumes are what it makes of them anyway).
	// (In one round trip on MySQL: the volumes' update is sent with the VM's.)
	w := d.DB.Defer(d.DB.SQL)
	if _, err := w.Later().ExecContext(ctx, "UPDATE volumes SET state = 'Ready', path = COALESCE(path, id), version = version + 1 WHERE vm_id = ? AND state = 'Allocated' AND removed IS NULL", v.ID); err != nil {
		return nil, err
	}
	now := db.Now()
	running, err := db.SetVMRunning(ctx, w, v.ID, now)
	if err != nil {
		return nil, err
	}
	if running && h != nil {
		// The job's result is the VM as this job left it: what the deploy wrote, now Running.
		r := *v
		r.State, r.PowerState, r.PowerStateUpdated, r.LastHostID, r.Version = db.VMRunning, db.PowerOn, now, v.HostID, v.Version+1
		return &r, nil
	}
	// Not Starting any more (another change came first, and stands), or not deployed here.
	return Read(ctx, d, vmID)
}

// startingVM reads the VM a start job is for and, unless it is Starting already (a deploy
// reserved its host), plans and reserves its start.
func startingVM(ctx context.Context, d *orchestrate.Deps, id string, deploying bool, s StartSpec) (*db.VM, error) {
	// A deployed VM is usually Starting already: a plain read says so without a transaction;
	// any other state is looked at again in one.
	v, err := db.GetVM(ctx, d.DB.SQL, id)
	if err != nil || v.State == db.VMStarting {
		return v, err
	}
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		if v, err = db.GetVM(ctx, tx, id); err != nil {
			return err
		}
		switch v.State {
		case db.VMStarting:
			return nil // reserved by the deploy, or by an earlier run of this job
		case db.VMStopped:
			if deploying {
				return nil // startvm=false
			}
			return PlanStart(ctx, d, tx, v, s)
		case db.VMRunning:
			if deploying {
				return nil
			}
			return orchestrate.ErrParam("The virtual machine %s (%s) is already running", v.ID, v.DisplayName)
		}
		return orchestrate.ErrVMState(v, "start")
	})
	return v, err
}

// failStart settles a VM whose start failed: its reservation is released; a VM being
// deployed goes to Error (uncounted, its volumes destroyed; the expunge sweeper removes it),
// another goes back to Stopped.
func failStart(ctx context.Context, d *orchestrate.Deps, id string, deploying bool) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := db.GetVM(ctx, tx, id)
		if err != nil {
			return err
		}
		if v.State != db.VMStarting {
			return nil
		}
		if err := orchestrate.ReleaseCompute(ctx, tx, d.Ledger, v); err != nil {
			return err
		}
		v.State, v.PowerState, v.HostID = db.VMStopped, db.PowerOff, ""
		if deploying {
			v.State, v.Destroyed = db.VMError, db.Now()
			if err := Uncount(ctx, d, tx, v); err != nil {
				return err
			}
			if err := DestroyVolumes(ctx, d, tx, v, nil, true); err != nil {
				return err
			}
		}
		return db.UpdateVM(ctx, tx, v)
	})
}

// nicNetworks answers the guest networks of a VM's NICs.
func nicNetworks(s protocol.VMSpec) []string {
	var ids []string
	for _, n := range s.Nics {
		if n.NetworkID != "" && !slices.Contains(ids, n.NetworkID) {
			ids = append(ids, n.NetworkID)
		}
	}
	return ids
}

// leaveHost tells a VM's networks it has left hostID (network.LeaveHost); a failure is logged:
// the VM's own change stands, and the host's next sync corrects what is left.
func leaveHost(ctx context.Context, d *orchestrate.Deps, v *db.VM, hostID string) {
	if hostID == "" {
		return
	}
	nics, err := db.ListNics(ctx, d.DB.Read(), db.NicFilter{VMID: v.ID})
	if err != nil {
		return
	}
	var ids []string
	for _, n := range nics {
		if !slices.Contains(ids, n.NetworkID) {
			ids = append(ids, n.NetworkID)
		}
	}
	if err := network.LeaveHost(ctx, d, hostID, ids); err != nil && d.Log != nil {
		d.Log.Warn("networks of a VM that left its host", "vm", v.ID, "host", hostID, "err", err)
	}
	if err := securitygroup.VMChanged(ctx, d, v.ID, hostID); err != nil && d.Log != nil {
		d.Log.Warn("security groups of a VM that left its host", "vm", v.ID, "host", hostID, "err", err)
	}
}
