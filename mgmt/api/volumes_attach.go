package api

import (
	"errors"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
)

func registerVolumeAttach(s *Server) {
	s.Reg.Add(&Command{Name: "attachVolume", Response: volumeResponse, Roles: AllRoles, Async: true, ResponseKey: "volume",
		Description: "Attaches a disk volume to a virtual machine.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the disk volume"},
			{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "the ID of the virtual machine"},
			{Name: "deviceid", Type: TLong, Description: "the ID of the device to map the volume to the guest OS; 0 is the ROOT disk, 3 the CD-ROM"},
		},
		Handler: attachVolumeStart, Job: attachVolumeJob})
	s.Reg.Add(&Command{Name: "detachVolume", Response: volumeResponse, Roles: AllRoles, Async: true, ResponseKey: "volume",
		Description: "Detaches a disk volume from a virtual machine.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "the ID of the disk volume"},
			{Name: "virtualmachineid", Type: TUUID, Description: "the ID of the virtual machine where the volume is detached from"},
			{Name: "deviceid", Type: TLong, Description: "the device ID on the virtual machine where volume is detached from"},
		},
		Handler: detachVolumeStart, Job: detachVolumeJob})
}

// maxDataVolumes is how many data disks a VM of a hypervisor takes (CloudStack's
// hypervisor_capabilities.max_data_volumes_limit).
func maxDataVolumes(hypervisor string) int {
	switch strings.ToLower(hypervisor) {
	case "kvm":
		return 26
	case "vmware":
		return 59
	}
	return 6
}

// cdromDevice is the device id kept for the CD-ROM (never given to a data disk).
const cdromDevice = 3

// deviceParam reads the optional deviceid.
func (c *Call) deviceParam() (*int, error) {
	if !c.P.Has("deviceid") {
		return nil, nil
	}
	n, ok := c.P.Int("deviceid")
	if !ok || n < 0 {
		return nil, ErrParam("Invalid deviceid %s", c.P.String("deviceid"))
	}
	return &n, nil
}

// checkAttach applies CloudStack's attach rules and returns the device id to use.
func (c *Call) checkAttach(q db.Querier, v *db.Volume, vm *db.VM, want *int) (int, error) {
	if v.VMID != "" {
		return 0, ErrParam("Please specify a volume that is not attached to any VM.")
	}
	if v.Type != db.VolumeDataDisk {
		return 0, ErrParam("Volume %s is a %s volume; only DATADISK volumes can be attached", v.Name, v.Type)
	}
	switch v.State {
	case db.VolumeAllocated, db.VolumeReady, db.VolumeUploaded:
	default:
		return 0, ErrParam("Volume state must be in Allocated, Ready or in Uploaded state")
	}
	if vm.State != db.VMRunning && vm.State != db.VMStopped {
		return 0, ErrParam("Please specify a VM that is either running or stopped.")
	}
	if v.ZoneID != vm.ZoneID {
		return 0, ErrParam("Please specify a VM that is in the same zone as the volume.")
	}
	if v.AccountID != vm.AccountID {
		return 0, ErrParam("Owner of the volume %s is not the same as owner of the VM %s", v.Name, vm.Name)
	}
	devices, err := db.VMDeviceIDs(c.Ctx, q, vm.ID)
	if err != nil {
		return 0, err
	}
	limit := maxDataVolumes(vm.HypervisorType)
	data := len(devices)
	if _, root := devices[0]; root {
		data--
	}
	if data >= limit {
		return 0, ErrParam("Maximum number of data volumes (%d) attached to VM %s has been reached", limit, vm.Name)
	}
	maxDev := limit + 1 // ids 1..limit+1 without the CD-ROM's
	if want != nil {
		switch d := *want; {
		case d == 0:
			return 0, ErrParam("deviceId can't be 0, which is used by Root device")
		case d == cdromDevice:
			return 0, ErrParam("deviceId %d is reserved for the CD-ROM", d)
		case d > maxDev:
			return 0, ErrParam("Device id for volume cannot be greater than %d", maxDev)
		}
		if _, used := devices[*want]; used {
			return 0, ErrParam("deviceId %d is used by vm %s", *want, vm.Name)
		}
		return *want, nil
	}
	for d := 1; d <= maxDev; d++ {
		if _, used := devices[d]; !used && d != cdromDevice {
			return d, nil
		}
	}
	return 0, ErrParam("Maximum number of data volumes (%d) attached to VM %s has been reached", limit, vm.Name)
}

// checkPoolReach refuses attaching a volume whose pool the VM's cluster cannot reach.
func (c *Call) checkPoolReach(q db.Querier, v *db.Volume, vm *db.VM) (*db.StoragePool, string, error) {
	cluster, err := c.vmCluster(q, vm)
	if err != nil || v.PoolID == "" {
		return nil, cluster, err
	}
	pool, err := db.GetStoragePool(c.Ctx, q, v.PoolID)
	if err != nil {
		return nil, cluster, err
	}
	if cluster != "" && !poolReachable(pool, vm.ZoneID, cluster) {
		return nil, cluster, ErrParam("Volume %s is on storage pool %s, which VM %s cannot reach; migrate the volume to a pool of the VM's cluster first",
			v.Name, pool.Name, vm.Name)
	}
	return pool, cluster, nil
}

func attachVolumeStart(c *Call) (any, error) {
	want, err := c.deviceParam()
	if err != nil {
		return nil, err
	}
	q := c.S.DB.Read()
	v, err := c.volumeForCall(q, c.P.String("id"))
	if err != nil {
		return nil, err
	}
	vm, err := c.vmForVolume(q, c.P.String("virtualmachineid"))
	if err != nil {
		return nil, err
	}
	if _, err := c.checkAttach(q, v, vm, want); err != nil {
		return nil, err
	}
	if _, _, err := c.checkPoolReach(q, v, vm); err != nil {
		return nil, err
	}
	return c.StartJob("Volume", v.ID)
}

func attachVolumeJob(c *Call, j *db.Job) (any, error) {
	want, err := c.deviceParam()
	if err != nil {
		return nil, err
	}
	if _, err := c.attachVolume(j.InstanceID, strings.ToLower(c.P.String("virtualmachineid")), want, j.Attempts > 1); err != nil {
		return nil, err
	}
	return c.volumeObject(j.InstanceID)
}

// attachVolume attaches a volume to a VM: in one transaction the volume gets its device (and,
// if it was only Allocated and the VM's cluster is known, a pool of that cluster with its
// storage reserved); then a Running VM's host attaches the disk, and if that fails the host
// is told to let go of it (a lost answer may hide an attach it did) and the transaction's
// changes are undone. replay says the job runs again after an earlier attempt of its own that
// may have attached the volume: then a volume already attached to the VM is attached on the
// host again. Otherwise a volume already attached (by another request) is refused, as
// CloudStack does: taking it as this job's own would undo that attach if the host failed now.
func (c *Call) attachVolume(volID, vmID string, want *int, replay bool) (*db.Volume, error) {
	var v *db.Volume
	var vm *db.VM
	var pool *db.StoragePool
	newPool := false
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		var err error
		newPool, pool = false, nil
		if v, err = c.volumeForCall(tx, volID); err != nil {
			return err
		}
		if vm, err = c.vmForVolume(tx, vmID); err != nil {
			return err
		}
		if v.VMID == vm.ID && replay {
			if v.PoolID != "" {
				pool, err = db.GetStoragePool(c.Ctx, tx, v.PoolID)
			}
			return err // attached already (a replay)
		}
		dev, err := c.checkAttach(tx, v, vm, want)
		if err != nil {
			return err
		}
		var cluster string
		if pool, cluster, err = c.checkPoolReach(tx, v, vm); err != nil {
			return err
		}
		if v.PoolID == "" && cluster != "" {
			tags := ""
			if v.DiskOfferingID != "" {
				if o, err := db.GetDiskOffering(c.Ctx, tx, v.DiskOfferingID); err == nil {
					tags = o.Tags
				}
			}
			if pool, err = c.choosePool(tx, v.ZoneID, cluster, v.Size, tags); err != nil {
				return err
			}
			newPool = true
			v.PoolID, v.PodID, v.Path, v.State = pool.ID, pool.PodID, v.ID, db.VolumeReady
		}
		if v.HypervisorType == "" {
			v.HypervisorType = vm.HypervisorType
		}
		v.VMID, v.DeviceID, v.Attached = vm.ID, dev, db.Now()
		if err := db.TouchVM(c.Ctx, tx, vm.ID, vm.Version); err != nil {
			return err
		}
		if err := db.UpdateVolume(c.Ctx, tx, v); err != nil {
			return err
		}
		return c.Event(tx, evVolumeAttach, "Attaching volume "+v.Name+" to VM "+vm.Name, "Volume", v.ID)
	})
	if err != nil {
		return nil, err
	}
	if vm.State != db.VMRunning || vm.HostID == "" || pool == nil {
		return v, nil
	}
	err = c.volumeCommand(pool, vm.HostID, protocol.CmdAttachVolume, v, func(cmd *protocol.VolumeCommand) {
		cmd.VM, cmd.DeviceID = vm.InstanceName(), v.DeviceID
	})
	if err == nil {
		return v, nil
	}
	// Undo: the host may still have attached it (an answer lost or timed out after the host
	// acted, or an earlier attempt of a replayed job), so it detaches it first; detaching a
	// disk it does not have succeeds.
	if derr := c.volumeCommand(pool, vm.HostID, protocol.CmdDetachVolume, v, func(cmd *protocol.VolumeCommand) {
		cmd.VM = vm.InstanceName()
	}); derr != nil {
		c.S.Log.Warn("detach after a failed volume attach", "volume", v.ID, "vm", vm.ID, "err", derr)
	}
	uerr := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		u, err := db.GetVolume(c.Ctx, tx, v.ID)
		if err != nil || u.VMID != vm.ID {
			return err
		}
		if newPool {
			if err := c.ledger().ReleaseStorage(c.Ctx, tx, u.PoolID, u.Size); err != nil {
				return err
			}
			u.PoolID, u.PodID, u.Path, u.State = "", "", "", db.VolumeAllocated
		}
		u.VMID, u.DeviceID, u.Attached = "", 0, 0
		return db.UpdateVolume(c.Ctx, tx, u)
	})
	if uerr != nil {
		c.S.Log.Error("undo a failed volume attach", "volume", v.ID, "vm", vm.ID, "err", uerr)
	}
	return nil, err
}

// volumeToDetach resolves detachVolume's id, or virtualmachineid and deviceid.
func (c *Call) volumeToDetach(q db.Querier) (*db.Volume, error) {
	id, vmID := c.P.String("id"), c.P.String("virtualmachineid")
	if id != "" && (vmID != "" || c.P.Has("deviceid")) || id == "" && (vmID == "" || !c.P.Has("deviceid")) {
		return nil, ErrParam("Please provide either a volume id, or a tuple(device id, instance id)")
	}
	if id != "" {
		return c.volumeForCall(q, id)
	}
	vm, err := c.vmForVolume(q, vmID)
	if err != nil {
		return nil, err
	}
	dev, _ := c.P.Int("deviceid")
	list, _, err := db.ListVolumes(c.Ctx, q, db.VolumeFilter{VMID: vm.ID})
	if err != nil {
		return nil, err
	}
	for _, v := range list {
		if v.DeviceID == dev {
			return v, nil
		}
	}
	return nil, ErrParam("Unable to find volume with device id %d on VM %s", dev, vm.Name)
}

func (c *Call) checkDetach(q db.Querier, v *db.Volume) (*db.VM, error) {
	if v.VMID == "" {
		return nil, ErrParam("Please specify a volume that is attached to a VM.")
	}
	if v.Type == db.VolumeRoot {
		return nil, ErrParam("Can't detach root disk")
	}
	vm, err := db.GetVM(c.Ctx, q, v.VMID)
	if err != nil {
		return nil, err
	}
	if vm.State != db.VMRunning && vm.State != db.VMStopped && vm.State != db.VMDestroyed {
		return nil, ErrParam("Please specify a VM that is either running or stopped.")
	}
	return vm, nil
}

func detachVolumeStart(c *Call) (any, error) {
	q := c.S.DB.Read()
	v, err := c.volumeToDetach(q)
	if err != nil {
		return nil, err
	}
	if _, err := c.checkDetach(q, v); err != nil {
		return nil, err
	}
	return c.StartJob("Volume", v.ID)
}

func detachVolumeJob(c *Call, j *db.Job) (any, error) {
	if err := c.detachVolume(j.InstanceID); err != nil {
		return nil, err
	}
	return c.volumeObject(j.InstanceID)
}

// detachVolume detaches a volume: a Running VM's host lets go of the disk first (a failure
// changes nothing), then the volume row loses its VM and device. A volume already detached
// (a replay) is left alone.
func (c *Call) detachVolume(volID string) error {
	v, err := c.volumeForCall(c.S.DB.SQL, volID)
	if err != nil {
		return err
	}
	if v.VMID == "" {
		return nil
	}
	vm, err := c.checkDetach(c.S.DB.SQL, v)
	if err != nil {
		return err
	}
	if vm.State == db.VMRunning && vm.HostID != "" && v.PoolID != "" {
		pool, err := db.GetStoragePool(c.Ctx, c.S.DB.SQL, v.PoolID)
		if err != nil {
			return err
		}
		if err := c.volumeCommand(pool, vm.HostID, protocol.CmdDetachVolume, v, func(cmd *protocol.VolumeCommand) {
			cmd.VM = vm.InstanceName()
		}); err != nil {
			return err
		}
	}
	return c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		u, err := db.GetVolume(c.Ctx, tx, v.ID)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil || u.VMID == "" {
			return err
		}
		u.VMID, u.DeviceID, u.Attached = "", 0, 0
		if err := db.UpdateVolume(c.Ctx, tx, u); err != nil {
			return err
		}
		return c.Event(tx, evVolumeDetach, "Detaching volume "+u.Name+" from VM "+vm.Name, "Volume", u.ID)
	})
}
