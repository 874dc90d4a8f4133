package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
)

// Virtual machines: commands are registered here; their parameters are read and validated in
// vms_deploy.go (deployment), vms_lifecycle.go (the state machine) and vms_update.go (changes),
// lists in vms_list.go, the power-state sync and expunge sweeper's wiring in vms_sync.go. The
// workflows themselves are mgmt/orchestrate/vm's.

const vmJobType = vm.JobType

func init() {
	RegisterTaggable("UserVm", func(c *Call, q db.Querier, id string) (string, string, error) {
		v, err := db.GetVM(c.Ctx, q, id)
		if err != nil {
			return "", "", err
		}
		return v.AccountID, v.DomainID, nil
	})
	RegisterTaggable("Volume", func(c *Call, q db.Querier, id string) (string, string, error) {
		o, err := db.GetVolume(c.Ctx, q, id)
		if err != nil {
			return "", "", err
		}
		return o.AccountID, o.DomainID, nil
	})
}

func registerVMs(s *Server) {
	vmID := Param{Name: "id", Type: TUUID, Required: true, Description: "The ID of the virtual machine"}
	s.Reg.Add(&Command{Name: "deployVirtualMachine", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Creates and automatically starts a virtual machine based on a service offering, disk offering, and template.",
		Params: []Param{
			{Name: "serviceofferingid", Type: TUUID, Required: true, Description: "the ID of the service offering for the virtual machine"},
			{Name: "templateid", Type: TUUID, Required: true, Description: "the ID of the template (or ISO) for the virtual machine"},
			{Name: "zoneid", Type: TUUID, Required: true, Description: "availability zone for the virtual machine"},
			{Name: "account", Type: TString, Description: "an optional account for the virtual machine. Must be used with domainId."},
			{Name: "domainid", Type: TUUID, Description: "an optional domainId for the virtual machine. If the account parameter is used, domainId must also be used."},
			{Name: "projectid", Type: TUUID, Description: "Deploy vm for the project (projects are not supported)"},
			{Name: "name", Type: TString, Length: 63, Description: "host name for the virtual machine"},
			{Name: "displayname", Type: TString, Length: 255, Description: "an optional user generated name for the virtual machine"},
			{Name: "group", Type: TString, Length: 255, Description: "an optional group for the virtual machine"},
			{Name: "diskofferingid", Type: TUUID, Description: "the ID of the disk offering: a DATADISK for a template, the ROOT disk for an ISO"},
			{Name: "size", Type: TLong, Description: "the arbitrary size (GiB) for the DATADISK volume (custom disk offering)"},
			{Name: "rootdisksize", Type: TLong, Description: "Optional field to resize root disk on deploy (GiB)"},
			{Name: "networkids", Type: TList, Elem: "uuid", Description: "list of network ids used by virtual machine"},
			{Name: "iptonetworklist", Type: TMap, Description: "ip to network mapping: iptonetworklist[0].ip=10.10.10.11&iptonetworklist[0].networkid=uuid"},
			{Name: "ipaddress", Type: TString, Description: "the ip address for default vm's network"},
			{Name: "ip6address", Type: TString, Description: "the ipv6 address for default vm's network (not supported)"},
			{Name: "macaddress", Type: TString, Description: "the mac address for default vm's network"},
			{Name: "securitygroupids", Type: TList, Elem: "uuid", Description: "comma separated list of security groups id that going to be applied to the virtual machine"},
			{Name: "securitygroupnames", Type: TList, Description: "comma separated list of security groups names that going to be applied to the virtual machine"},
			{Name: "keypair", Type: TString, Description: "name of the ssh key pair used to login to the virtual machine"},
			{Name: "keypairs", Type: TList, Description: "names of the ssh key pairs used to login to the virtual machine"},
			{Name: "userdata", Type: TString, Length: 1048576, Description: "an optional binary data that can be sent to the virtual machine upon a successful deployment, base64 encoded"},
			{Name: "startvm", Type: TBool, Description: "true by default: start the vm after it is created"},
			{Name: "hostid", Type: TUUID, Description: "destination Host ID to deploy the VM to - parameter available for root admin only"},
			{Name: "clusterid", Type: TUUID, Description: "destination Cluster ID to deploy the VM to - parameter available for root admin only"},
			{Name: "podid", Type: TUUID, Description: "destination Pod ID to deploy the VM to - parameter available for root admin only"},
			{Name: "deploymentplanner", Type: TString, Description: "Deployment planner to use for vm allocation. Available to ROOT admin only"},
			{Name: "details", Type: TMap, Length: 5120, Description: "used to specify the custom parameters (cpuNumber, cpuSpeed, memory)"},
			{Name: "affinitygroupids", Type: TList, Elem: "uuid", Description: "comma separated list of affinity groups id that are going to be applied to the virtual machine"},
			{Name: "affinitygroupnames", Type: TList, Description: "comma separated list of affinity groups names that are going to be applied to the virtual machine"},
			{Name: "dynamicscalingenabled", Type: TBool, Description: "true if virtual machine needs to be dynamically scalable"},
			{Name: "displayvm", Type: TBool, Description: "an optional field, whether to the display the vm to the end user or not"},
			{Name: "hypervisor", Type: TString, Description: "the hypervisor on which to deploy the virtual machine"},
			{Name: "keyboard", Type: TString, Description: "an optional keyboard device type for the virtual machine"},
			{Name: "password", Type: TString, Description: "The password of the virtual machine (password-enabled templates). If null, a random password will be generated for the VM."},
		},
		Handler: deployVM, Job: startVMJob})
	s.Reg.Add(&Command{Name: "startVirtualMachine", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Starts a virtual machine.", Params: []Param{vmID,
			{Name: "hostid", Type: TUUID, Description: "destination Host ID to deploy the VM to - parameter available for root admin only"},
			{Name: "clusterid", Type: TUUID, Description: "destination Cluster ID to deploy the VM to - parameter available for root admin only"},
			{Name: "podid", Type: TUUID, Description: "destination Pod ID to deploy the VM to - parameter available for root admin only"},
			{Name: "considerlasthost", Type: TBool, Description: "True by default, CloudStack will firstly try to start the VM on the last host where it run on before stopping"},
			{Name: "deploymentplanner", Type: TString, Description: "Deployment planner to use for vm allocation. Available to ROOT admin only"},
			{Name: "bootintosetup", Type: TBool, Description: "Boot into hardware setup menu or not (ignored)"},
		}, Handler: startVM, Job: startVMJob})
	s.Reg.Add(&Command{Name: "stopVirtualMachine", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Stops a virtual machine.", Params: []Param{vmID,
			{Name: "forced", Type: TBool, Description: "Force stop the VM (vm is marked as Stopped even when command fails to be send to the backend)"}},
		Handler: stopVM, Job: stopVMJob})
	s.Reg.Add(&Command{Name: "rebootVirtualMachine", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Reboots a virtual machine.", Params: []Param{vmID,
			{Name: "forced", Type: TBool, Description: "Force reboot the VM (VM is Stopped and then Started)"},
			{Name: "bootintosetup", Type: TBool, Description: "Boot into hardware setup menu or not (ignored)"}},
		Handler: rebootVM, Job: rebootVMJob})
	s.Reg.Add(&Command{Name: "destroyVirtualMachine", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Destroys a virtual machine.", Params: []Param{vmID,
			{Name: "expunge", Type: TBool, Description: "If true is passed, the vm is expunged immediately. False by default."},
			{Name: "volumeids", Type: TList, Elem: "uuid", Description: "Comma separated list of UUIDs for volumes that will be deleted"}},
		Handler: destroyVM, Job: destroyVMJob})
	s.Reg.Add(&Command{Name: "recoverVirtualMachine", Response: vmResponseFields, Roles: AllRoles, ResponseKey: "virtualmachine",
		Description: "Recovers a virtual machine.", Params: []Param{vmID}, Handler: recoverVM})
	s.Reg.Add(&Command{Name: "expungeVirtualMachine", Response: successResponse, Roles: AllRoles, Async: true, Description: "Expunge a virtual machine. Once expunged, it cannot be recoverd.",
		Params: []Param{vmID}, Handler: expungeVM, Job: expungeVMJob})
	s.Reg.Add(&Command{Name: "migrateVirtualMachine", Response: vmResponseFields, Roles: Admin, Async: true, ResponseKey: "virtualmachine",
		Description: "Attempts Migration of a VM to a different host or Root volume of the vm to a different storage pool",
		Params: []Param{{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "the ID of the virtual machine"},
			{Name: "hostid", Type: TUUID, Description: "Destination Host ID to migrate VM to."},
			{Name: "autoselect", Type: TBool, Description: "Automatically select a destination host which do not require storage migration, if hostId and storageId are not specified. false by default"},
			{Name: "storageid", Type: TUUID, Description: "Destination storage pool ID to migrate VM volumes to (not supported)"}},
		Handler: migrateVM, Job: migrateVMJob})
	s.Reg.Add(&Command{Name: "migrateVirtualMachineWithVolume", Response: vmResponseFields, Roles: Admin, Async: true, ResponseKey: "virtualmachine",
		Description: "Attempts Migration of a VM with its volumes to a different host",
		Params: []Param{{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "the ID of the virtual machine"},
			{Name: "hostid", Type: TUUID, Description: "Destination Host ID to migrate VM to."},
			{Name: "migrateto", Type: TMap, Description: "Storage to pool mapping: migrateto[i].volume=<uuid>&migrateto[i].pool=<uuid>. Volumes stay on their pools in Atoll, so each pool must be the volume's own"},
			{Name: "autoselect", Type: TBool, Description: "Automatically select a destination host for a running instance, if host is not specified. false by default"}},
		Handler: migrateVMWithVolume, Job: migrateVMWithVolumeJob})
	offeringParams := []Param{vmID,
		{Name: "serviceofferingid", Type: TUUID, Required: true, Description: "the service offering ID to apply to the virtual machine"},
		{Name: "details", Type: TMap, Length: 5120, Description: "name value pairs of custom parameters for cpu, memory and cpunumber"},
		{Name: "automigrate", Type: TBool, Description: "Flag for automatic migration of the root volume (no effect: the root volume is not resized or moved by an offering change)"},
		{Name: "shrinkok", Type: TBool, Description: "Verify OK to Shrink (no effect: the root volume is not resized by an offering change)"},
		{Name: "miniops", Type: TLong, Description: "New minimum number of IOPS for the custom disk offering (refused: the root volume keeps its IOPS)"},
		{Name: "maxiops", Type: TLong, Description: "New maximum number of IOPS for the custom disk offering (refused: the root volume keeps its IOPS)"}}
	s.Reg.Add(&Command{Name: "changeServiceForVirtualMachine", Response: vmResponseFields, Roles: AllRoles, ResponseKey: "virtualmachine",
		Description: "Changes the service offering for a virtual machine. The virtual machine must be in a \"Stopped\" state for this command to take effect.",
		Params:      offeringParams, Handler: changeServiceForVM})
	s.Reg.Add(&Command{Name: "scaleVirtualMachine", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Scales the virtual machine to a new service offering. This command also considers the volume size in the service offering or disk offering linked to the new service offering and apply all characteristics to the root volume.",
		Params:      append([]Param(nil), offeringParams...), Handler: scaleVM, Job: scaleVMJob})
	s.Reg.Add(&Command{Name: "updateVirtualMachine", Response: vmResponseFields, Roles: AllRoles, ResponseKey: "virtualmachine",
		Description: "Updates properties of a virtual machine. The VM has to be stopped and restarted for the new properties to take effect.",
		Params: []Param{vmID,
			{Name: "displayname", Type: TString, Length: 255, Description: "user generated name"},
			{Name: "name", Type: TString, Length: 63, Description: "new host name of the vm. The VM has to be stopped/started for this update to take affect"},
			{Name: "group", Type: TString, Length: 255, Description: "group of the virtual machine"},
			{Name: "haenable", Type: TBool, Description: "true if high-availability is enabled for the virtual machine, false otherwise"},
			{Name: "ostypeid", Type: TUUID, Description: "the ID of the OS type that best represents this VM."},
			{Name: "userdata", Type: TString, Length: 1048576, Description: "an optional binary data that can be sent to the virtual machine upon a successful deployment, base64 encoded"},
			{Name: "displayvm", Type: TBool, Description: "an optional field, whether to the display the vm to the end user or not."},
			{Name: "isdynamicallyscalable", Type: TBool, Description: "true if VM contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory"},
			{Name: "details", Type: TMap, Length: 5120, Description: "Details in key/value pairs."},
			{Name: "cleanupdetails", Type: TBool, Description: "optional boolean field, which indicates if details should be cleaned up or not"},
			{Name: "securitygroupids", Type: TList, Elem: "uuid", Description: "list of security group ids to be applied to the virtual machine"},
			{Name: "securitygroupnames", Type: TList, Description: "comma separated list of security groups names that going to be applied to the virtual machine"},
			{Name: "customid", Type: TString, Description: "an optional field, in case you want to set a custom id to the resource. Allowed to Root Admins only"},
			{Name: "deleteprotection", Type: TBool, Description: "Set delete protection for the virtual machine. If true, the instance will be protected from deletion. Note: If the instance is managed by another service like autoscaling groups or CKS, delete protection will be ignored."},
		}, Handler: updateVM})
	s.Reg.Add(&Command{Name: "resetSSHKeyForVirtualMachine", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Resets the SSH Key for virtual machine. The virtual machine must be in a \"Stopped\" state.",
		Params: []Param{vmID,
			{Name: "keypair", Type: TString, Description: "name of the ssh key pair used to login to the virtual machine"},
			{Name: "keypairs", Type: TList, Description: "names of the ssh key pairs to be used to login to the virtual machine"},
			{Name: "account", Type: TString, Description: "an optional account for the ssh key. Must be used with domainId."},
			{Name: "domainid", Type: TUUID, Description: "an optional domainId for the virtual machine. If the account parameter is used, domainId must also be used."},
			{Name: "projectid", Type: TUUID, Description: "an optional project for the ssh key (projects are not supported)"}},
		Handler: resetSSHKey, Job: resetSSHKeyJob})
	s.Reg.Add(&Command{Name: "resetPasswordForVirtualMachine", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Resets the password for virtual machine. The virtual machine must be in a \"Stopped\" state and the template must already support this feature for this command to take effect.",
		Params:      []Param{vmID, {Name: "password", Type: TString, Description: "The new password of the virtual machine. If null, a random password will be generated for the VM."}},
		Handler:     resetPassword, Job: resetPasswordJob})
	s.Reg.Add(&Command{Name: "getVirtualMachineUserData", Response: vmUserDataResponse, Roles: AllRoles, ResponseKey: "virtualmachineuserdata",
		Description: "Returns user data associated with the VM",
		Params:      []Param{{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "The ID of the virtual machine"}},
		Handler:     getVMUserData})
	s.Reg.Add(&Command{Name: "restoreVirtualMachine", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Restore a VM to original template/ISO or new template/ISO",
		Params: []Param{{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "Virtual Machine ID"},
			{Name: "templateid", Type: TUUID, Description: "an optional template Id to restore vm from the new template."},
			{Name: "rootdisksize", Type: TLong, Description: "Override root volume's size (in GB)."},
			{Name: "diskofferingid", Type: TUUID, Description: "Override root volume's diskoffering (not supported)"},
			{Name: "expunge", Type: TBool, Description: "Optional field to expunge old root volume after restore (the old root volume is always expunged: false is refused)."},
			{Name: "details", Type: TMap, Length: 5120, Description: "used to specify the custom parameters (rootdisksize)"}},
		Handler: restoreVM, Job: restoreVMJob})
	registerVMLists(s)
	registerAffinity(s)
}

// vmOf loads a VM the caller may act on (vm.Get).
func (c *Call) vmOf(q db.Querier, id string) (*db.VM, error) {
	return vm.Get(c.Ctx, q, c.Caller, id)
}

// vmString is how CloudStack names a VM in messages.
func vmString(v *db.VM) string { return orchestrate.VMString(v) }

func (c *Call) deps() *orchestrate.Deps {
	d := &orchestrate.Deps{DB: c.S.DB, Ledger: c.ledger(), Log: c.S.Log, Config: c.S.Config, Jobs: c.S.Jobs}
	if m, err := c.agents(); err == nil {
		d.Agents = m
	}
	return d
}

// vmObject renders one VM for a command's answer.
func (c *Call) vmObject(id string) (any, error) {
	o, _, err := c.vmObjectOf(id)
	return o, err
}

// vmObjectOf is vmObject that also returns the VM row it rendered.
func (c *Call) vmObjectOf(id string) (any, *db.VM, error) {
	v, err := db.GetVM(c.Ctx, c.S.DB.SQL, id)
	if err != nil {
		return nil, nil, err
	}
	return c.vmObjectFrom(v)
}

// vmObjectFrom renders a loaded VM as a single-object answer.
func (c *Call) vmObjectFrom(v *db.VM) (any, *db.VM, error) {
	items, err := c.renderVMs(c.S.DB.SQL, []*db.VM{v}, true)
	if err != nil {
		return nil, nil, err
	}
	return Object{Key: "virtualmachine", Value: items[0]}, v, nil
}

// vmAnswer renders the VM a workflow returned.
func (c *Call) vmAnswer(v *db.VM, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	o, _, err := c.vmObjectFrom(v)
	return o, err
}

// CSInsufficientServerCapacity is InsufficientServerCapacityException's cserrorcode.
const CSInsufficientServerCapacity = orchestrate.CSInsufficientServerCapacity

// userMay reads a per-account boolean permission setting (allow.user.view.destroyed.vm,
// allow.user.expunge.recover.vm) for the caller; admins always may.
func (c *Call) userMay(setting string) bool {
	if c.Caller == nil || c.Caller.IsAdmin() {
		return true
	}
	v, err := c.S.Config.Get(c.Ctx, config.Account, c.Caller.User.AccountID, setting)
	return err == nil && strings.EqualFold(v, "true")
}

// checkExpungeRecover refuses a user's expunge or recover unless allow.user.expunge.recover.vm.
func (c *Call) checkExpungeRecover(what string) error {
	if c.userMay("allow.user.expunge.recover.vm") {
		return nil
	}
	return ErrDenied("%s can be done by Admin only. Or when the allow.user.expunge.recover.vm key is set.", what)
}

// seedFor returns the call's render seed (what a deploy's job holds already for rendering its
// VM, vm.Hint) when vms is exactly the seeded VM.
func (c *Call) seedFor(vms []*db.VM) *vm.RenderSeed {
	h, ok := c.Hint.(*vm.Hint)
	if !ok || h.Seed == nil || len(vms) != 1 || vms[0].ID != h.Seed.VMID {
		return nil
	}
	return h.Seed
}

// fillSeed puts a seed's offering, template and networks in a render's name cache.
func fillSeed(s *vm.RenderSeed, n *nameCache) {
	if s == nil {
		return
	}
	if s.Offering != nil {
		n.offers[s.Offering.ID] = s.Offering
	}
	if s.Template != nil {
		n.tmpls[s.Template.ID] = s.Template
	}
	for _, net := range s.Networks {
		n.networks[net.ID] = net
	}
}
