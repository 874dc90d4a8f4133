package api

import (
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
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

// migrateVMJob live-migrates a Running VM (vm.Migrate).
func migrateVMJob(c *Call, j *db.Job) (any, error) {
	return c.vmAnswer(vm.Migrate(c.Ctx, c.deps(), c.actor(), j.InstanceID, strings.ToLower(c.P.String("hostid"))))
}

// migrateVMWithVolume checks migrateVirtualMachineWithVolume's parameters, then starts its job.
func migrateVMWithVolume(c *Call) (any, error) {
	if _, err := c.volumeToPool(); err != nil {
		return nil, err
	}
	if auto, _ := c.P.Bool("autoselect"); !auto && c.P.String("hostid") == "" && len(c.P.Map("migrateto")) == 0 {
		return nil, ErrParam("Either hostid or migrateto  must be passed for migrating the VM")
	}
	return c.vmJob("virtualmachineid")
}

// volumeToPool reads migrateto[i].volume and migrateto[i].pool.
func (c *Call) volumeToPool() (map[string]string, error) {
	out := map[string]string{}
	for _, m := range c.P.Map("migrateto") {
		vol, pool := strings.ToLower(m["volume"]), strings.ToLower(m["pool"])
		if !IsUUID(vol) || !IsUUID(pool) {
			return nil, ErrParam("Invalid migrateto entry: each needs a volume and a pool UUID (got volume=%q pool=%q)", m["volume"], m["pool"])
		}
		out[vol] = pool
	}
	return out, nil
}

func migrateVMWithVolumeJob(c *Call, j *db.Job) (any, error) {
	m, err := c.volumeToPool()
	if err != nil {
		return nil, err
	}
	auto, _ := c.P.Bool("autoselect")
	return c.vmAnswer(vm.MigrateWithVolume(c.Ctx, c.deps(), c.actor(), j.InstanceID, strings.ToLower(c.P.String("hostid")), auto, m))
}

// offeringSpec reads a VM's new offering from the call's parameters.
func (c *Call) offeringSpec() vm.OfferingSpec {
	return vm.OfferingSpec{OfferingID: c.P.String("serviceofferingid"), Details: c.vmDetailsParam()}
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

// changeServiceForVM changes a Stopped VM's offering (vm.ChangeService).
func changeServiceForVM(c *Call) (any, error) {
	if err := c.refuseRootIOPS(); err != nil {
		return nil, err
	}
	return c.vmAnswer(vm.ChangeService(c.Ctx, c.deps(), c.actor(), c.P.String("id"), c.offeringSpec()))
}

func scaleVM(c *Call) (any, error) {
	if err := c.refuseRootIOPS(); err != nil {
		return nil, err
	}
	return c.vmJob("id")
}

// scaleVMJob scales a VM to a new offering (vm.Scale).
func scaleVMJob(c *Call, j *db.Job) (any, error) {
	return c.vmAnswer(vm.Scale(c.Ctx, c.deps(), j.InstanceID, c.offeringSpec()))
}

// updateVM changes a VM's properties; its host name only while it is Stopped (vm.Update).
func updateVM(c *Call) (any, error) {
	if err := vm.CheckUserData(c.P.String("userdata")); err != nil {
		return nil, err
	}
	s := vm.UpdateSpec{Name: c.P.String("name"), OSTypeID: c.P.String("ostypeid"), Details: c.vmDetailsParam(),
		SecurityGroupIDs: c.P.List("securitygroupids"), SecurityGroupNames: c.P.List("securitygroupnames")}
	if b, ok := c.P.Bool("deleteprotection"); ok {
		s.DeleteProtection = &b
	}
	if c.P.Has("displayname") {
		v := c.P.String("displayname")
		s.DisplayName = &v
	}
	if c.P.Has("group") {
		v := c.P.String("group")
		s.Group = &v
	}
	if b, ok := c.P.Bool("haenable"); ok {
		s.HAEnabled = &b
	}
	if b, ok := c.P.Bool("displayvm"); ok {
		s.DisplayVM = &b
	}
	if b, ok := c.P.Bool("isdynamicallyscalable"); ok {
		s.DynamicallyScalable = &b
	}
	if c.P.Has("userdata") {
		v := c.P.String("userdata")
		s.UserData = &v
	}
	s.CleanupDetails, _ = c.P.Bool("cleanupdetails")
	return c.vmAnswer(vm.Update(c.Ctx, c.deps(), c.actor(), c.P.String("id"), s))
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
	return c.vmAnswer(vm.ResetSSHKey(c.Ctx, c.deps(), c.actor(), j.InstanceID, c.P.String("keypair"), c.P.List("keypairs")))
}

func resetPassword(c *Call) (any, error) { return c.vmJob("id") }

// resetPasswordJob gives a Stopped VM of a password-enabled template a new password (the one
// given, or a generated one), answered in the job result (vm.ResetPassword).
func resetPasswordJob(c *Call, j *db.Job) (any, error) {
	v, err := vm.ResetPassword(c.Ctx, c.deps(), c.actor(), j.InstanceID, c.P.String("password"))
	if err != nil {
		return nil, err
	}
	o, _, err := c.vmObjectFrom(v)
	return c.withPassword(o, v, err, true)
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

// restoreVMJob gives a VM a new ROOT volume from its template or the one given (vm.Restore).
func restoreVMJob(c *Call, j *db.Job) (any, error) {
	s := vm.RestoreSpec{TemplateID: c.P.String("templateid"), HasRootDiskSize: c.P.Has("rootdisksize")}
	if s.HasRootDiskSize {
		s.RootDiskSize, _ = strconv.ParseInt(c.P.String("rootdisksize"), 10, 64)
	}
	return c.vmAnswer(vm.Restore(c.Ctx, c.deps(), c.actor(), j.InstanceID, s))
}
