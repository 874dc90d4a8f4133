package api

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

func migrateVM(c *Call) (any, error) {
	if c.P.String("storageid") != "" {
		return nil, ErrParam("Migrating a VM's volumes to another storage pool (storageid) is not supported yet")
	}
	if c.P.String("hostid") == "" {
		if auto, _ := c.P.Bool("autoselect"); !auto && c.P.Has("autoselect") {
			return nil, ErrParam("Either hostid or autoselect=true is required")
		}
	}
	return c.vmJob("virtualmachineid")
}

// migrateVMJob live-migrates a Running VM: the target's CPU and memory are reserved (the
// planner checks the target's capacity), the target prepares, the source sends the VM; then the
// source's reservation is released. A failure releases the target's and leaves the VM Running
// where it was.
func migrateVMJob(c *Call, j *db.Job) (any, error) {
	target := strings.ToLower(c.P.String("hostid"))
	var v *db.VM
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		var err error
		if v, err = db.GetVM(c.Ctx, tx, j.InstanceID); err != nil {
			return err
		}
		if v.State == db.VMMigrating {
			return nil // an earlier run of this job reserved the target
		}
		if v.State != db.VMRunning {
			return ErrParam("VM is not Running, unable to migrate the vm %s", vmString(v))
		}
		if target == v.HostID {
			return ErrParam("Cannot migrate VM, VM is already present on this host, please specify valid destination host to migrate the VM")
		}
		zoneWide, local, err := vmStorageScope(c, tx, v.ID)
		if err != nil {
			return err
		}
		if local {
			// Atoll does not move volumes with a VM (no storage motion).
			return ErrParam("Unsupported operation, VM uses Local storage, cannot migrate")
		}
		req := c.migrationRequest(tx, v)
		req.HostID, req.IgnoreThreshold = target, target != ""
		if target != "" {
			h, err := db.GetHost(c.Ctx, tx, target)
			if errors.Is(err, db.ErrNotFound) {
				return ErrParam("Unable to find the host to migrate the VM, host id=%s", target)
			}
			if err != nil {
				return err
			}
			if h.ClusterID != v.ClusterID {
				if !zoneWide {
					return ErrParam("Cannot migrate VM %s to host %s in another cluster: its volumes are on cluster storage", v.Name, h.Name)
				}
			}
		} else {
			req.ClusterID = v.ClusterID
		}
		pl, err := c.ledger().Deploy(c.Ctx, tx, req, nil)
		if err != nil {
			return vmDeployErr(v, err)
		}
		v.State, v.MigrateHostID = db.VMMigrating, pl.HostID
		return db.UpdateVM(c.Ctx, tx, v)
	})
	if err != nil {
		return nil, err
	}
	d := c.deps()
	spec, err := orchestrate.Spec(c.Ctx, c.S.DB.Read(), v)
	if err != nil {
		return nil, err
	}
	serr := d.Send(c.Ctx, v.MigrateHostID, protocol.CmdPrepareMigration, spec, agentTimeout)
	if serr == nil {
		serr = d.Send(c.Ctx, v.HostID, protocol.CmdMigrateVM, protocol.MigrateVM{Name: v.InstanceName(), TargetHostID: v.MigrateHostID}, agentTimeout)
		if serr != nil {
			_ = d.Send(c.Ctx, v.MigrateHostID, protocol.CmdDestroyVM, protocol.VMRef{Name: v.InstanceName(), Force: true}, agentTimeout)
		}
	}
	l := c.ledger()
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		cur, err := db.GetVM(c.Ctx, tx, v.ID)
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
			h, err := db.GetHost(c.Ctx, tx, to)
			if err != nil {
				return err
			}
			cur.HostID, cur.LastHostID, cur.PodID, cur.ClusterID = to, to, h.PodID, h.ClusterID
		}
		if err := l.ReleaseCompute(c.Ctx, tx, release, orchestrate.Compute(cur)); err != nil && !errors.Is(err, planner.ErrNoLedger) {
			return err
		}
		cur.State, cur.MigrateHostID = db.VMRunning, ""
		if err := db.UpdateVM(c.Ctx, tx, cur); err != nil {
			return err
		}
		if serr == nil {
			return c.Event(tx, "VM.MIGRATE", "Migrated VM "+cur.Name+" to host "+to, "VirtualMachine", cur.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, ErrInternal("Failed to migrate %s: %s", vmString(v), c.cause(serr))
	}
	return c.vmObject(v.ID)
}

// migrationRequest is the planner's request for moving a Running VM off its host: its CPU and
// memory, its offering's host tag, anywhere but where it is.
func (c *Call) migrationRequest(q db.Querier, v *db.VM) planner.Request {
	req := planner.Request{ZoneID: v.ZoneID, Need: orchestrate.Compute(v), AccountID: v.AccountID,
		Avoid: map[string]bool{v.HostID: true}, Exclude: v.ID, Hypervisor: v.HypervisorType}
	if so, err := db.GetServiceOffering(c.Ctx, q, v.ServiceOfferingID); err == nil {
		req.HostTag = so.HostTag
	}
	return req
}

// vmStorageScope tells where a VM's volumes are: zoneWide when every one is on a zone-wide
// pool (the VM may move to any cluster of the zone), local when one is on a host's own pool
// (the VM may move nowhere without its storage).
func vmStorageScope(c *Call, q db.Querier, vmID string) (zoneWide, local bool, err error) {
	vols, _, err := db.ListVolumes(c.Ctx, q, db.VolumeFilter{VMID: vmID})
	if err != nil {
		return false, false, err
	}
	zoneWide = true
	for _, o := range vols {
		p, err := db.GetStoragePool(c.Ctx, q, o.PoolID)
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

// newOffering resolves serviceofferingid (and details) for a VM changing offering.
func (c *Call) newOffering(q db.Querier, v *db.VM) (*db.ServiceOffering, int, int64, int64, error) {
	owner, err := db.GetAccount(c.Ctx, q, v.AccountID)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	so, err := c.offeringFor(q, c.P.String("serviceofferingid"), owner, v.ZoneID)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	cpu, speed, mem, err := computeOf(so, c.vmDetailsParam())
	if err != nil {
		return nil, 0, 0, 0, err
	}
	if so.ID == v.ServiceOfferingID && cpu == v.CPUNumber && speed == v.CPUSpeed && mem == v.Memory {
		return nil, 0, 0, 0, ErrParam("Not upgrading vm %s since it already has the requested service offering (%s)", vmString(v), so.Name)
	}
	return so, cpu, speed, mem, nil
}

// applyOffering writes a new offering to a VM and charges the CPU and memory difference.
func (c *Call) applyOffering(tx db.Tx, v *db.VM, so *db.ServiceOffering, cpu int, speed, mem int64) error {
	if err := c.chargeResources(tx, v.AccountID, map[string]int64{db.ResCPU: int64(cpu - v.CPUNumber), db.ResMemory: mem - v.Memory}); err != nil {
		return err
	}
	v.ServiceOfferingID, v.CPUNumber, v.CPUSpeed, v.Memory = so.ID, cpu, speed, mem
	if so.Customized {
		v.Details = mergeDetails(v.Details, map[string]string{"cpuNumber": strconv.Itoa(cpu), "cpuSpeed": strconv.FormatInt(speed, 10),
			"memory": strconv.FormatInt(mem, 10)})
	}
	return db.UpdateVM(c.Ctx, tx, v)
}

func mergeDetails(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// changeServiceForVM changes a Stopped VM's offering.
// refuseRootIOPS refuses miniops/maxiops on an offering change: the root volume keeps its
// IOPS (Atoll does not change them with the offering), so a value given would be ignored.
func (c *Call) refuseRootIOPS() error {
	for _, k := range []string{"miniops", "maxiops"} {
		if c.P.String(k) != "" {
			return ErrParam("%s is not supported when changing a VM's offering: the root volume keeps its IOPS (use resizeVolume with a customized-IOPS disk offering)", k)
		}
	}
	return nil
}

func changeServiceForVM(c *Call) (any, error) {
	if err := c.refuseRootIOPS(); err != nil {
		return nil, err
	}
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := c.vmOf(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		id = v.ID
		if v.State != db.VMStopped {
			return ErrParam("Unable to upgrade virtual machine %s in state %s; make sure the virtual machine is stopped", vmString(v), v.State)
		}
		so, cpu, speed, mem, err := c.newOffering(tx, v)
		if err != nil {
			return err
		}
		if err := c.applyOffering(tx, v, so, cpu, speed, mem); err != nil {
			return err
		}
		return c.Event(tx, "VM.UPGRADE", "Changed the offering of VM "+v.Name+" to "+so.Name, "VirtualMachine", v.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.vmObject(id)
}

func scaleVM(c *Call) (any, error) {
	if err := c.refuseRootIOPS(); err != nil {
		return nil, err
	}
	return c.vmJob("id")
}

// scaleVMJob scales a Running, dynamically scalable VM up (CPU and memory not lower, the host
// reserving the difference), or changes a Stopped VM's offering.
func scaleVMJob(c *Call, j *db.Job) (any, error) {
	var v *db.VM
	var delta planner.Compute
	var so *db.ServiceOffering
	var cpu int
	var speed, mem int64
	var prev db.VM
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		var err error
		if v, err = db.GetVM(c.Ctx, tx, j.InstanceID); err != nil {
			return err
		}
		prev = *v
		if so, cpu, speed, mem, err = c.newOffering(tx, v); err != nil {
			return err
		}
		switch v.State {
		case db.VMStopped:
			return c.applyOffering(tx, v, so, cpu, speed, mem)
		case db.VMRunning:
		default:
			return errVMState(v, "scale")
		}
		if !v.DynamicallyScalable {
			return ErrParam("Unable to scale %s as it does not have tools to support dynamic scaling", vmString(v))
		}
		if int64(cpu)*speed < int64(v.CPUNumber)*v.CPUSpeed || cpu < v.CPUNumber || mem < v.Memory {
			return ErrParam("Only scaling up the vm is supported, new service offering(speed=%d,cpu=%d,memory=%d) should have at least one value(cpu/ram) greater than old value and no resource value less than older(speed=%d,cpu=%d,memory=%d)",
				speed, cpu, mem, v.CPUSpeed, v.CPUNumber, v.Memory)
		}
		delta = planner.Compute{CPUMHz: int64(cpu)*speed - int64(v.CPUNumber)*v.CPUSpeed, Cores: int64(cpu - v.CPUNumber), Memory: (mem - v.Memory) << 20}
		if err := c.ledger().ReserveCompute(c.Ctx, tx, v.HostID, delta, planner.Options{}); err != nil {
			var ce *planner.CapacityError
			if !errors.As(err, &ce) {
				return err // the database's: logged, and answered with CloudStack's generic words
			}
			return Errorf(CodeCapacity, CSInsufficientServerCapacity, "Unable to scale %s on its host: %v", vmString(v), err)
		}
		return c.applyOffering(tx, v, so, cpu, speed, mem)
	})
	if err != nil {
		return nil, err
	}
	if v.State != db.VMRunning {
		return c.vmObject(v.ID)
	}
	serr := c.deps().Send(c.Ctx, v.HostID, protocol.CmdScaleVM, protocol.ScaleVM{Name: v.InstanceName(), CPUs: cpu, SpeedMHz: speed, MemoryBytes: mem << 20}, agentTimeout)
	if serr == nil {
		return c.vmObject(v.ID)
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		cur, err := db.GetVM(c.Ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if err := c.ledger().ReleaseCompute(c.Ctx, tx, cur.HostID, delta); err != nil {
			return err
		}
		cur.Details = prev.Details
		return c.applyOffering(tx, cur, &db.ServiceOffering{ID: prev.ServiceOfferingID}, prev.CPUNumber, prev.CPUSpeed, prev.Memory)
	})
	if err != nil {
		return nil, err
	}
	return nil, ErrInternal("Unable to scale %s: %s", vmString(v), c.cause(serr))
}

// updateVM changes a VM's properties; its host name only while it is Stopped.
func updateVM(c *Call) (any, error) {
	if err := checkUserData(c.P.String("userdata")); err != nil {
		return nil, err
	}
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := c.vmOf(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		id = v.ID
		if b, ok := c.P.Bool("deleteprotection"); ok {
			v.DeleteProtection = b
		}
		if name := strings.TrimSpace(c.P.String("name")); name != "" && name != v.Name {
			if err := checkHostname(name); err != nil {
				return err
			}
			if v.State != db.VMStopped {
				return ErrParam("Update VM name is not allowed as %s is in state %s: stop it first", vmString(v), v.State)
			}
			v.Name = name
		}
		if c.P.Has("displayname") {
			v.DisplayName = c.P.String("displayname")
		}
		if c.P.Has("group") {
			v.Group = c.P.String("group")
		}
		if b, ok := c.P.Bool("haenable"); ok {
			v.HAEnabled = b
		}
		if b, ok := c.P.Bool("displayvm"); ok {
			v.DisplayVM = b
		}
		if b, ok := c.P.Bool("isdynamicallyscalable"); ok {
			v.DynamicallyScalable = b
		}
		if c.P.Has("userdata") {
			v.UserData = c.P.String("userdata")
		}
		if os := c.P.String("ostypeid"); os != "" {
			if _, err := db.GetOSType(c.Ctx, tx, strings.ToLower(os)); errors.Is(err, db.ErrNotFound) {
				return ErrParam("Please specify a valid guest OS type id: %s", os)
			} else if err != nil {
				return err
			}
			v.OSTypeID = strings.ToLower(os)
		}
		if clean, _ := c.P.Bool("cleanupdetails"); clean {
			v.Details = nil
		}
		if d := c.vmDetailsParam(); len(d) > 0 {
			v.Details = mergeDetails(v.Details, d)
		}
		if err := refuseSecurityGroups(c.P.List("securitygroupids"), c.P.List("securitygroupnames")); err != nil {
			return err
		}
		if err := db.UpdateVM(c.Ctx, tx, v); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("The vm with hostName %s already exists in this zone for the account", v.Name)
			}
			return err
		}
		return c.Event(tx, "VM.UPDATE", "Updated VM "+v.Name, "VirtualMachine", v.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.vmObject(id)
}

func resetSSHKey(c *Call) (any, error) {
	if c.P.String("keypair") == "" && len(c.P.List("keypairs")) == 0 {
		return nil, ErrMissing(c.Cmd.Name, "keypair")
	}
	if _, err := c.vmOf(c.S.DB.Read(), c.P.String("id")); err != nil {
		return nil, err
	}
	return c.vmJob("id")
}

func resetSSHKeyJob(c *Call, j *db.Job) (any, error) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := db.GetVM(c.Ctx, tx, j.InstanceID)
		if err != nil {
			return err
		}
		if v.State != db.VMStopped {
			return ErrParam("Vm %s should be stopped to do SSH Key reset", vmString(v))
		}
		owner, err := db.GetAccount(c.Ctx, tx, v.AccountID)
		if err != nil {
			return err
		}
		names, err := c.keyPairsFor(tx, owner)
		if err != nil {
			return err
		}
		v.KeyPairs = strings.Join(names, ",")
		if err := db.UpdateVM(c.Ctx, tx, v); err != nil {
			return err
		}
		return c.Event(tx, "VM.RESETSSHKEY", "Reset the SSH key of VM "+v.Name, "VirtualMachine", v.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.vmObject(j.InstanceID)
}

func resetPassword(c *Call) (any, error) { return c.vmJob("id") }

// resetPasswordJob gives a Stopped VM of a password-enabled template a new password (the one
// given, or a generated one), answered in the job result.
func resetPasswordJob(c *Call, j *db.Job) (any, error) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := db.GetVM(c.Ctx, tx, j.InstanceID)
		if err != nil {
			return err
		}
		tid := v.TemplateID
		if tid == "" {
			tid = v.ISOID
		}
		t, err := db.GetTemplate(c.Ctx, tx, tid)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		if t == nil || !t.PasswordEnabled {
			return ErrParam("Fail to reset password for the virtual machine, the template is not password enabled")
		}
		if v.State != db.VMStopped {
			return ErrParam("Vm %s should be stopped to do password reset", vmString(v))
		}
		v.Password = c.P.String("password")
		if v.Password == "" {
			v.Password = randomPassword()
		}
		if err := db.UpdateVM(c.Ctx, tx, v); err != nil {
			return err
		}
		return c.Event(tx, "VM.RESETPASSWORD", "Reset the password of VM "+v.Name, "VirtualMachine", v.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.vmResult(j.InstanceID, true)
}

func getVMUserData(c *Call) (any, error) {
	v, err := c.vmOf(c.S.DB.Read(), c.P.String("virtualmachineid"))
	if err != nil {
		return nil, err
	}
	m := map[string]any{"virtualmachineid": v.ID}
	set(m, "userdata", v.UserData)
	return Object{Key: "virtualmachineuserdata", Value: m}, nil
}

func restoreVM(c *Call) (any, error) {
	if c.P.String("diskofferingid") != "" {
		return nil, ErrParam("Overriding the root volume's disk offering (diskofferingid) is not supported yet")
	}
	if keep, ok := c.P.Bool("expunge"); ok && !keep {
		return nil, ErrParam("expunge=false is not supported: the old ROOT volume is expunged once the new one is made")
	}
	// details carries a root disk size as CloudStack's does (details[0].rootdisksize); the job
	// reads it as rootdisksize.
	for k, val := range c.vmDetailsParam() {
		if !strings.EqualFold(k, "rootdisksize") {
			return nil, ErrParam("details: %s is not supported when restoring a VM (only rootdisksize)", k)
		}
		if c.P.Has("rootdisksize") && c.P.String("rootdisksize") != val {
			return nil, ErrParam("rootdisksize and details rootdisksize differ")
		}
		if _, err := strconv.ParseInt(val, 10, 64); err != nil {
			return nil, ErrParam("Unable to translate and verify the parameter rootdisksize: %q is not a number", val)
		}
		c.P["rootdisksize"] = val
	}
	v, err := c.vmOf(c.S.DB.Read(), c.P.String("virtualmachineid"))
	if err != nil {
		return nil, err
	}
	if t := c.P.String("templateid"); t != "" {
		owner, err := db.GetAccount(c.Ctx, c.S.DB.Read(), v.AccountID)
		if err != nil {
			return nil, err
		}
		tmpl, err := c.templateFor(c.S.DB.Read(), t, owner, v.ZoneID)
		if err != nil {
			return nil, err
		}
		if tmpl.IsISO() {
			return nil, ErrParam("Restoring a VM from an ISO is not supported: use a template")
		}
	}
	return c.vmJob("virtualmachineid")
}

// restoreVMJob gives a VM a new ROOT volume from its template (or the one given) on the old
// ROOT's pool; the old one is expunged. A Running VM is stopped, restored and started again
// on its host.
func restoreVMJob(c *Call, j *db.Job) (any, error) {
	v, err := db.GetVM(c.Ctx, c.S.DB.SQL, j.InstanceID)
	if err != nil {
		return nil, err
	}
	if v.State != db.VMRunning && v.State != db.VMStopped {
		return nil, errVMState(v, "restore")
	}
	wasRunning := v.State == db.VMRunning
	d := c.deps()
	if wasRunning {
		if err := d.Send(c.Ctx, v.HostID, protocol.CmdStopVM, protocol.VMRef{Name: v.InstanceName(), Force: true}, agentTimeout); err != nil {
			return nil, ErrInternal("Unable to restore %s: stopping it failed: %s", vmString(v), c.cause(err))
		}
	}
	l := c.ledger()
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		cur, err := db.GetVM(c.Ctx, tx, v.ID)
		if err != nil {
			return err
		}
		tid := cur.TemplateID
		if t := c.P.String("templateid"); t != "" {
			tid = strings.ToLower(t)
		}
		if tid == "" {
			return ErrParam("Unable to restore %s: it has no template (deployed from an ISO)", vmString(cur))
		}
		tmpl, err := db.GetTemplate(c.Ctx, tx, tid)
		if err != nil {
			return err
		}
		roots, _, err := db.ListVolumes(c.Ctx, tx, db.VolumeFilter{VMID: cur.ID, Type: db.VolumeRoot})
		if err != nil {
			return err
		}
		if len(roots) != 1 {
			return ErrInternal("%s has %d ROOT volumes", vmString(cur), len(roots))
		}
		old := roots[0]
		size := max(tmpl.Size, old.Size)
		if c.P.Has("rootdisksize") {
			n, _ := strconv.ParseInt(c.P.String("rootdisksize"), 10, 64)
			if n<<30 < tmpl.Size {
				return ErrParam("Root disk size %d GB is smaller than the template size", n)
			}
			size = n << 30
		}
		if err := c.chargeResources(tx, cur.AccountID, map[string]int64{db.ResPrimaryStorage: size - old.Size}); err != nil {
			return err
		}
		now := db.Now()
		nv := &db.Volume{ID: uuid.NewString(), Name: old.Name, AccountID: old.AccountID, DomainID: old.DomainID, ZoneID: old.ZoneID,
			PodID: old.PodID, PoolID: old.PoolID, VMID: cur.ID, Type: db.VolumeRoot, Size: size, TemplateID: tmpl.ID, State: db.VolumeAllocated,
			Format: old.Format, HypervisorType: old.HypervisorType, DisplayVolume: true, Attached: now, Created: now}
		if old.PoolID != "" {
			if err := l.ReleaseStorage(c.Ctx, tx, old.PoolID, old.Size); err != nil && !errors.Is(err, planner.ErrNoLedger) {
				return err
			}
			if err := l.ReserveStorage(c.Ctx, tx, old.PoolID, size, planner.Options{IgnoreThreshold: true}); err != nil {
				var ce *planner.CapacityError
				if !errors.As(err, &ce) {
					return err // the database's: logged, and answered with CloudStack's generic words
				}
				return Errorf(CodeCapacity, CSInsufficientServerCapacity, "Unable to restore %s: %v", vmString(cur), err)
			}
		}
		old.State, old.Removed, old.VMID = db.VolumeExpunged, now, ""
		if err := db.UpdateVolume(c.Ctx, tx, old); err != nil {
			return err
		}
		if err := db.InsertVolume(c.Ctx, tx, nv); err != nil {
			return err
		}
		cur.TemplateID, cur.OSTypeID = tmpl.ID, tmpl.OSTypeID
		if err := db.UpdateVM(c.Ctx, tx, cur); err != nil {
			return err
		}
		return c.Event(tx, "VM.RESTORE", fmt.Sprintf("Restored VM %s from template %s", cur.Name, tmpl.Name), "VirtualMachine", cur.ID)
	})
	if err != nil {
		return nil, err
	}
	if wasRunning {
		cur, err := db.GetVM(c.Ctx, c.S.DB.SQL, v.ID)
		if err != nil {
			return nil, err
		}
		spec, err := orchestrate.Spec(c.Ctx, c.S.DB.Read(), cur)
		if err != nil {
			return nil, err
		}
		if err := d.Send(c.Ctx, cur.HostID, protocol.CmdStartVM, spec, agentTimeout); err != nil {
			// The power-state sync finds it off and stops it; say so now.
			return nil, ErrInternal("Restored %s but starting it again failed: %s", vmString(cur), c.cause(err))
		}
	}
	_, err = c.S.DB.SQL.ExecContext(c.Ctx, "UPDATE volumes SET state = 'Ready', path = COALESCE(path, id), version = version + 1 WHERE vm_id = ? AND state = 'Allocated' AND removed IS NULL AND ? = 1",
		v.ID, boolToInt(wasRunning))
	if err != nil {
		return nil, err
	}
	return c.vmObject(v.ID)
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
