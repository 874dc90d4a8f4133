package api

import (
	"errors"
	"strings"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// The VM state machine. Handlers check the VM exists and the caller may act on it, then queue
// a job on the VM (jobs of one VM run one at a time); the job checks the state, moves the VM
// to the transitional state with its reservations in one transaction, runs the agent command,
// and settles the VM in a second transaction. A failed agent command settles it back and
// releases what was reserved.

// vmJob queues a job on the VM named by the parameter.
func (c *Call) vmJob(param string) (any, error) {
	var jobID, id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := c.vmOf(tx, c.P.String(param))
		if err != nil {
			return err
		}
		id = v.ID
		jobID, err = c.EnqueueJob(tx, vmJobType, v.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: id}, nil
}

func startVM(c *Call) (any, error) {
	for _, k := range []string{"hostid", "clusterid", "podid", "deploymentplanner"} {
		if c.P.String(k) != "" && !c.Caller.IsRootAdmin() {
			return nil, ErrDenied("Parameter %s can only be specified by a Root Admin, permission denied", k)
		}
	}
	return c.vmJob("id")
}

// planStart reserves a host (the last one first, unless told otherwise) and pools for the
// volumes that have none, and moves a Stopped VM to Starting, in tx.
func (c *Call) planStart(tx db.Tx, v *db.VM) error {
	so, err := db.GetServiceOffering(c.Ctx, tx, v.ServiceOfferingID)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	hostTag, plannerName, local := "", "", false
	if so != nil {
		hostTag, plannerName, local = so.HostTag, so.DeploymentPlanner, strings.EqualFold(so.StorageType, "local")
	}
	if p := c.P.String("deploymentplanner"); p != "" {
		plannerName = p
	}
	vols, _, err := db.ListVolumes(c.Ctx, tx, db.VolumeFilter{VMID: v.ID})
	if err != nil {
		return err
	}
	var disks []planner.DiskRequest
	var need []*db.Volume
	for _, o := range vols {
		if o.PoolID == "" {
			tags := ""
			if o.DiskOfferingID != "" {
				if do, err := db.GetDiskOffering(c.Ctx, tx, o.DiskOfferingID); err == nil {
					tags, local = do.Tags, strings.EqualFold(do.StorageType, "local")
				}
			} else if so != nil {
				tags = so.StorageTags
			}
			disks = append(disks, planner.DiskRequest{Size: o.Size, Tags: tags, Local: local})
			need = append(need, o)
		}
	}
	members, err := db.ListAffinityMembers(c.Ctx, tx, []string{v.ID})
	if err != nil {
		return err
	}
	var groups []*db.AffinityGroup
	for _, m := range members {
		groups = append(groups, &db.AffinityGroup{ID: m.GroupID, Type: m.Type})
	}
	avoid, require, err := affinityRule(c, tx, groups, v.ID)
	if err != nil {
		return err
	}
	req := planner.Request{ZoneID: v.ZoneID, PodID: strings.ToLower(c.P.String("podid")), ClusterID: strings.ToLower(c.P.String("clusterid")),
		HostID: strings.ToLower(c.P.String("hostid")), Need: orchestrate.Compute(v), HostTag: hostTag, AccountID: v.AccountID,
		Planner: plannerName, Avoid: avoid, Require: require, Exclude: v.ID, Hypervisor: v.HypervisorType}
	req.IgnoreThreshold = req.HostID != ""
	l := c.ledger()
	var pl *planner.Placement
	if last, _ := c.P.Bool("considerlasthost"); v.LastHostID != "" && req.HostID == "" && (last || !c.P.Has("considerlasthost")) {
		r := req
		r.HostID = v.LastHostID
		if pl, err = l.Deploy(c.Ctx, tx, r, disks); err != nil && !errors.Is(err, planner.ErrNoDeployment) {
			return err
		}
	}
	if pl == nil {
		if pl, err = l.Deploy(c.Ctx, tx, req, disks); err != nil {
			return vmDeployErr(v, err)
		}
	}
	for i, o := range need {
		o.PoolID, o.PodID = pl.Pools[i], pl.PodID
		if err := db.UpdateVolume(c.Ctx, tx, o); err != nil {
			return err
		}
	}
	v.State, v.HostID, v.PodID, v.ClusterID = db.VMStarting, pl.HostID, pl.PodID, pl.ClusterID
	return db.UpdateVM(c.Ctx, tx, v)
}

// startVMJob starts a VM (deployVirtualMachine's job too): Stopped -> Starting (planned and
// reserved) -> Running; a VM deployed with startvm=false is just returned.
func startVMJob(c *Call, j *db.Job) (any, error) {
	deploying := j.Cmd == "deployVirtualMachine"
	h, _ := c.Hint.(*deployHint)
	if h != nil && (!deploying || h.vm.ID != j.InstanceID) {
		h = nil
	}
	var v *db.VM
	if h != nil {
		// Run by the server that deployed it, right after: the VM is as its deploy committed
		// it (this is its first job, and no other job runs for it meanwhile).
		v = h.vm
	} else {
		var err error
		if v, err = c.startingVM(j, deploying); err != nil {
			return nil, err
		}
	}
	if v.State != db.VMStarting {
		return c.vmResult(v.ID, deploying)
	}
	var spec protocol.VMSpec
	if h != nil {
		spec = orchestrate.SpecOf(v, h.vols, h.nics)
	} else {
		var err error
		if spec, err = orchestrate.Spec(c.Ctx, c.S.DB.Read(), v); err != nil {
			return nil, err
		}
	}
	d := c.deps()
	if serr := d.Send(c.Ctx, v.HostID, protocol.CmdStartVM, spec, agentTimeout); serr != nil {
		if deploying {
			_ = d.Send(c.Ctx, v.HostID, protocol.CmdDestroyVM, protocol.VMRef{Name: v.InstanceName(), Force: true}, agentTimeout)
		}
		if err := c.failStart(v.ID, deploying); err != nil {
			return nil, err
		}
		return nil, ErrInternal("Unable to start %s: %s", vmString(v), c.cause(serr))
	}
	// The agent created the volumes: they are Ready, then the VM Running. Two statements, no
	// transaction: if this server dies between them, the job runs again elsewhere with the VM
	// still Starting (Ready volumes are what it makes of them anyway).
	// (In one round trip on MySQL: the volumes' update is sent with the VM's.)
	w := c.S.DB.Defer(c.S.DB.SQL)
	if _, err := w.Later().ExecContext(c.Ctx, "UPDATE volumes SET state = 'Ready', path = COALESCE(path, id), version = version + 1 WHERE vm_id = ? AND state = 'Allocated' AND removed IS NULL", v.ID); err != nil {
		return nil, err
	}
	now := db.Now()
	running, err := db.SetVMRunning(c.Ctx, w, v.ID, now)
	if err != nil {
		return nil, err
	}
	if running && h != nil {
		// The job's result is the VM as this job left it: what the deploy wrote, now Running.
		r := *v
		r.State, r.PowerState, r.PowerStateUpdated, r.LastHostID, r.Version = db.VMRunning, db.PowerOn, now, v.HostID, v.Version+1
		o, _, err := c.vmObjectFrom(&r)
		return c.withPassword(o, &r, err, deploying)
	}
	// Not Starting any more (another change came first, and stands), or not deployed here.
	return c.vmResult(j.InstanceID, deploying)
}

// startingVM reads the VM a start job is for and, unless it is Starting already (a deploy
// reserved its host), plans and reserves its start.
func (c *Call) startingVM(j *db.Job, deploying bool) (*db.VM, error) {
	// A deployed VM is usually Starting already: a plain read says so without a transaction;
	// any other state is looked at again in one.
	v, err := db.GetVM(c.Ctx, c.S.DB.SQL, j.InstanceID)
	if err != nil || v.State == db.VMStarting {
		return v, err
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		var err error
		if v, err = db.GetVM(c.Ctx, tx, j.InstanceID); err != nil {
			return err
		}
		switch v.State {
		case db.VMStarting:
			return nil // reserved by the deploy, or by an earlier run of this job
		case db.VMStopped:
			if deploying {
				return nil // startvm=false
			}
			return c.planStart(tx, v)
		case db.VMRunning:
			if deploying {
				return nil
			}
			return ErrParam("The virtual machine %s (%s) is already running", v.ID, v.DisplayName)
		}
		return errVMState(v, "start")
	})
	return v, err
}

// failStart settles a VM whose start failed: its reservation is released; a VM being
// deployed goes to Error (uncounted, its volumes destroyed; the expunge sweeper removes it),
// another goes back to Stopped.
func (c *Call) failStart(id string, deploying bool) error {
	return c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := db.GetVM(c.Ctx, tx, id)
		if err != nil {
			return err
		}
		if v.State != db.VMStarting {
			return nil
		}
		if err := orchestrate.ReleaseCompute(c.Ctx, tx, c.ledger(), v); err != nil {
			return err
		}
		v.State, v.PowerState, v.HostID = db.VMStopped, db.PowerOff, ""
		if deploying {
			v.State, v.Destroyed = db.VMError, db.Now()
			if err := c.uncountVM(tx, v); err != nil {
				return err
			}
			if err := c.destroyVolumes(tx, v, nil, true); err != nil {
				return err
			}
		}
		return db.UpdateVM(c.Ctx, tx, v)
	})
}

// uncountVM takes a VM out of its account's instance, CPU and memory counts.
func (c *Call) uncountVM(tx db.Tx, v *db.VM) error {
	return c.chargeResources(tx, v.AccountID, map[string]int64{db.ResUserVM: -1, db.ResCPU: -int64(v.CPUNumber), db.ResMemory: -v.Memory})
}

// destroyVolumes marks a VM's ROOT volume (and, with all, every volume of it; else the
// DATADISKs listed) Destroy and takes them out of the volume and storage counts. Their pool
// allocation stays until they are expunged.
func (c *Call) destroyVolumes(tx db.Tx, v *db.VM, dataIDs []string, all bool) error {
	vols, _, err := db.ListVolumes(c.Ctx, tx, db.VolumeFilter{VMID: v.ID})
	if err != nil {
		return err
	}
	var n, bytes int64
	for _, o := range vols {
		if o.State == db.VolumeDestroy || !(all || o.Type == db.VolumeRoot || vmListHas(dataIDs, o.ID)) {
			continue
		}
		o.State = db.VolumeDestroy
		if err := db.UpdateVolume(c.Ctx, tx, o); err != nil {
			return err
		}
		n++
		bytes += o.Size
	}
	if n == 0 {
		return nil
	}
	return c.chargeResources(tx, v.AccountID, map[string]int64{db.ResVolume: -n, db.ResPrimaryStorage: -bytes})
}

// vmResult renders a VM as a job's result; with password the generated password is included.
func (c *Call) vmResult(id string, password bool) (any, error) {
	o, v, err := c.vmObjectOf(id)
	return c.withPassword(o, v, err, password)
}

// withPassword adds a VM's generated password to its rendering when password is set.
func (c *Call) withPassword(o any, v *db.VM, err error, password bool) (any, error) {
	if err != nil || !password {
		return o, err
	}
	obj := o.(Object)
	if v.Password != "" {
		obj.Value.(*vmResponse).Password = v.Password
	}
	return obj, nil
}

func stopVM(c *Call) (any, error) { return c.vmJob("id") }

// stopVMJob: Running -> Stopping -> Stopped, releasing the host's CPU and memory. A failed
// stop leaves the VM Running unless forced.
func stopVMJob(c *Call, j *db.Job) (any, error) {
	forced, _ := c.P.Bool("forced")
	var v *db.VM
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		var err error
		if v, err = db.GetVM(c.Ctx, tx, j.InstanceID); err != nil {
			return err
		}
		switch v.State {
		case db.VMStopped, db.VMStopping:
			return nil
		case db.VMRunning:
			v.State = db.VMStopping
			return db.UpdateVM(c.Ctx, tx, v)
		}
		return errVMState(v, "stop")
	})
	if err != nil {
		return nil, err
	}
	if v.State == db.VMStopped {
		return c.vmObject(v.ID)
	}
	if err := c.stopOnHost(v, forced); err != nil {
		return nil, err
	}
	return c.vmObject(v.ID)
}

// stopOnHost stops a Stopping VM on its host and settles it Stopped; a failure (unless
// forced) puts it back to Running.
func (c *Call) stopOnHost(v *db.VM, forced bool) error {
	return c.stopOnHostWithin(v, forced, agentTimeout)
}

// stopOnHostWithin is stopOnHost waiting at most wait for the host's answer.
func (c *Call) stopOnHostWithin(v *db.VM, forced bool, wait time.Duration) error {
	d := c.deps()
	serr := d.Send(c.Ctx, v.HostID, protocol.CmdStopVM, protocol.VMRef{Name: v.InstanceName(), Force: forced}, wait)
	var failed error
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		failed = nil
		cur, err := db.GetVM(c.Ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if cur.State != db.VMStopping {
			return nil
		}
		if serr != nil && !forced {
			cur.State = db.VMRunning
			failed = ErrInternal("Unable to stop %s: %s", vmString(cur), c.cause(serr))
			return db.UpdateVM(c.Ctx, tx, cur)
		}
		if err := orchestrate.ReleaseCompute(c.Ctx, tx, c.ledger(), cur); err != nil {
			return err
		}
		cur.State, cur.PowerState, cur.PowerStateUpdated = db.VMStopped, db.PowerOff, db.Now()
		if cur.HostID != "" {
			cur.LastHostID = cur.HostID
		}
		cur.HostID = ""
		return db.UpdateVM(c.Ctx, tx, cur)
	})
	if err != nil {
		return err
	}
	return failed
}

func rebootVM(c *Call) (any, error) { return c.vmJob("id") }

func rebootVMJob(c *Call, j *db.Job) (any, error) {
	if forced, _ := c.P.Bool("forced"); forced {
		return forcedRebootVMJob(c, j)
	}
	v, err := db.GetVM(c.Ctx, c.S.DB.SQL, j.InstanceID)
	if err != nil {
		return nil, err
	}
	if v.State != db.VMRunning {
		return nil, errVMState(v, "reboot")
	}
	if err := c.deps().Send(c.Ctx, v.HostID, protocol.CmdRebootVM, protocol.VMRef{Name: v.InstanceName()}, agentTimeout); err != nil {
		return nil, ErrInternal("Unable to reboot %s: %s", vmString(v), c.cause(err))
	}
	return c.vmObject(v.ID)
}

// forcedRebootVMJob is CloudStack's forced reboot: the VM is stopped (forced: its host's
// answer is not needed) and started again, on its last host first, as startVirtualMachine
// would. Run again after a server died, it carries on from the state it finds.
func forcedRebootVMJob(c *Call, j *db.Job) (any, error) {
	var v *db.VM
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		var err error
		if v, err = db.GetVM(c.Ctx, tx, j.InstanceID); err != nil {
			return err
		}
		switch v.State {
		case db.VMRunning:
			v.State = db.VMStopping
			return db.UpdateVM(c.Ctx, tx, v)
		case db.VMStopping, db.VMStopped, db.VMStarting:
			if j.Attempts > 1 {
				return nil // an earlier run of this job got this far
			}
		}
		return errVMState(v, "reboot")
	})
	if err != nil {
		return nil, err
	}
	if v.State == db.VMStopping {
		if err := c.stopOnHost(v, true); err != nil {
			return nil, err
		}
	}
	return startVMJob(c, j)
}

func destroyVM(c *Call) (any, error) {
	if expunge, _ := c.P.Bool("expunge"); expunge {
		if err := c.checkExpungeRecover("Parameter expunge"); err != nil {
			return nil, err
		}
	}
	var jobID, id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := c.vmOf(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		expunge, _ := c.P.Bool("expunge")
		if err := vmDeleteProtected(v, expunge); err != nil {
			return err
		}
		for _, vid := range c.P.List("volumeids") {
			o, err := db.GetVolume(c.Ctx, tx, strings.ToLower(vid))
			if errors.Is(err, db.ErrNotFound) || err == nil && (o.VMID != v.ID || o.Type != db.VolumeDataDisk) {
				return ErrParam("Volume %s is not a data disk attached to %s", vid, v.Name)
			}
			if err != nil {
				return err
			}
			if err := volumeDeleteProtected(o); err != nil {
				return err
			}
		}
		id = v.ID
		jobID, err = c.EnqueueJob(tx, vmJobType, v.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: id}, nil
}

// vmDeleteProtected refuses to destroy a VM with delete protection (CloudStack 4.20), unless it
// is destroyed already and not to be expunged (then the destroy changes nothing, as
// CloudStack's returns the VM as it is).
func vmDeleteProtected(v *db.VM, expunge bool) error {
	if v.DeleteProtection && (expunge || v.State != db.VMDestroyed && v.State != db.VMExpunging) {
		return ErrParam("Instance [id = %s, name = %s] has delete protection enabled and cannot be deleted.", v.ID, v.Name)
	}
	return nil
}

// destroyProtected is vmDeleteProtected for v and volumeDeleteProtected for the data disks a
// destroy names (volumeids).
func (c *Call) destroyProtected(q db.Querier, v *db.VM, expunge bool) error {
	if err := vmDeleteProtected(v, expunge); err != nil {
		return err
	}
	for _, vid := range c.P.List("volumeids") {
		o, err := db.GetVolume(c.Ctx, q, strings.ToLower(vid))
		if errors.Is(err, db.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := volumeDeleteProtected(o); err != nil {
			return err
		}
	}
	return nil
}

// volumeDeleteProtected refuses to delete or destroy a volume with delete protection.
func volumeDeleteProtected(o *db.Volume) error {
	if o.DeleteProtection {
		return ErrParam("Volume [id = %s, name = %s] has delete protection enabled and cannot be deleted", o.ID, o.Name)
	}
	return nil
}

// destroyVMJob stops a running VM, then marks it Destroyed (its ROOT volume and the listed
// DATADISKs Destroy), uncounted; with expunge it is expunged at once.
func destroyVMJob(c *Call, j *db.Job) (any, error) {
	expunge, _ := c.P.Bool("expunge")
	v, err := db.GetVM(c.Ctx, c.S.DB.SQL, j.InstanceID)
	if err != nil {
		return nil, err
	}
	// Checked again here, as CloudStack's destroy does in its job: protection may have been set
	// since the call was taken (before anything is stopped).
	if err := c.destroyProtected(c.S.DB.SQL, v, expunge); err != nil {
		return nil, err
	}
	switch v.State {
	case db.VMRunning, db.VMStopping:
		if v.State == db.VMRunning {
			err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
				cur, err := db.GetVM(c.Ctx, tx, v.ID)
				if err != nil {
					return err
				}
				if cur.State != db.VMRunning {
					return db.ErrConflict
				}
				cur.State = db.VMStopping
				return db.UpdateVM(c.Ctx, tx, cur)
			})
			if err != nil {
				return nil, err
			}
		}
		if err := c.stopOnHost(v, true); err != nil {
			return nil, err
		}
	case db.VMStopped, db.VMError, db.VMDestroyed, db.VMExpunging:
	default:
		return nil, errVMState(v, "destroy")
	}
	result, err := c.vmObject(v.ID)
	if err != nil {
		return nil, err
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		cur, err := db.GetVM(c.Ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if cur.State != db.VMStopped && cur.State != db.VMError {
			return nil // already destroyed
		}
		if err := c.destroyProtected(tx, cur, expunge); err != nil {
			return err
		}
		if cur.State == db.VMStopped {
			if err := c.uncountVM(tx, cur); err != nil {
				return err
			}
			if err := c.destroyVolumes(tx, cur, c.P.List("volumeids"), false); err != nil {
				return err
			}
		}
		cur.State, cur.Destroyed = db.VMDestroyed, db.Now()
		if err := db.UpdateVM(c.Ctx, tx, cur); err != nil {
			return err
		}
		return c.Event(tx, "VM.DESTROY", "Destroyed VM "+cur.Name, "VirtualMachine", cur.ID)
	})
	if err != nil {
		return nil, err
	}
	if expunge {
		if err := c.expunge(v.ID, true); err != nil {
			return nil, err
		}
		if o, ok := result.(Object); ok {
			o.Value.(*vmResponse).State = db.VMExpunged
		}
		return result, nil
	}
	return c.vmObject(v.ID)
}

// recoverVM brings a Destroyed VM back to Stopped, counted again (limits apply).
func recoverVM(c *Call) (any, error) {
	if err := c.checkExpungeRecover("Recovering a vm"); err != nil {
		return nil, err
	}
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := c.vmOf(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		id = v.ID
		if v.State != db.VMDestroyed {
			return errVMState(v, "recover")
		}
		vols, _, err := db.ListVolumes(c.Ctx, tx, db.VolumeFilter{VMID: v.ID, State: db.VolumeDestroy})
		if err != nil {
			return err
		}
		var bytes int64
		for _, o := range vols {
			o.State = db.VolumeReady
			if o.Path == "" {
				o.State = db.VolumeAllocated
			}
			bytes += o.Size
			if err := db.UpdateVolume(c.Ctx, tx, o); err != nil {
				return err
			}
		}
		if err := c.chargeResources(tx, v.AccountID, map[string]int64{db.ResUserVM: 1, db.ResCPU: int64(v.CPUNumber), db.ResMemory: v.Memory,
			db.ResVolume: int64(len(vols)), db.ResPrimaryStorage: bytes}); err != nil {
			return err
		}
		v.State, v.Destroyed = db.VMStopped, 0
		if err := db.UpdateVM(c.Ctx, tx, v); err != nil {
			return err
		}
		return c.Event(tx, "VM.RECOVER", "Recovered VM "+v.Name, "VirtualMachine", v.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.vmObject(id)
}

func expungeVM(c *Call) (any, error) {
	if err := c.checkExpungeRecover("Expunging a vm"); err != nil {
		return nil, err
	}
	return c.vmJob("id")
}

func expungeVMJob(c *Call, j *db.Job) (any, error) {
	v, err := db.GetVM(c.Ctx, c.S.DB.SQL, j.InstanceID)
	if errors.Is(err, db.ErrNotFound) {
		return Success(), nil // expunged by an earlier run or the sweeper
	}
	if err != nil {
		return nil, err
	}
	switch v.State {
	case db.VMDestroyed, db.VMError, db.VMExpunging:
	default:
		return nil, ErrParam("Please destroy %s before expunging it: it is in state %s", vmString(v), v.State)
	}
	if err := c.expunge(v.ID, true); err != nil {
		return nil, err
	}
	return Success(), nil
}

func vmListHas(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}
