package volume

import (
	"context"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

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

// checkAttach applies CloudStack's attach rules and returns the device id to use.
func checkAttach(ctx context.Context, q db.Querier, v *db.Volume, vm *db.VM, want *int) (int, error) {
	if v.VMID != "" {
		return 0, orchestrate.ErrParam("Please specify a volume that is not attached to any VM.")
	}
	if v.Type != db.VolumeDataDisk {
		return 0, orchestrate.ErrParam("Volume %s is a %s volume; only DATADISK volumes can be attached", v.Name, v.Type)
	}
	switch v.State {
	case db.VolumeAllocated, db.VolumeReady, db.VolumeUploaded:
	default:
		return 0, orchestrate.ErrParam("Volume state must be in Allocated, Ready or in Uploaded state")
	}
	if vm.State != db.VMRunning && vm.State != db.VMStopped {
		return 0, orchestrate.ErrParam("Please specify a VM that is either running or stopped.")
	}
	if v.ZoneID != vm.ZoneID {
		return 0, orchestrate.ErrParam("Please specify a VM that is in the same zone as the volume.")
	}
	if v.AccountID != vm.AccountID {
		return 0, orchestrate.ErrParam("Owner of the volume %s is not the same as owner of the VM %s", v.Name, vm.Name)
	}
	devices, err := db.VMDeviceIDs(ctx, q, vm.ID)
	if err != nil {
		return 0, err
	}
	limit := maxDataVolumes(vm.HypervisorType)
	data := len(devices)
	if _, root := devices[0]; root {
		data--
	}
	if data >= limit {
		return 0, orchestrate.ErrParam("Maximum number of data volumes (%d) attached to VM %s has been reached", limit, vm.Name)
	}
	maxDev := limit + 1 // ids 1..limit+1 without the CD-ROM's
	if want != nil {
		switch d := *want; {
		case d == 0:
			return 0, orchestrate.ErrParam("deviceId can't be 0, which is used by Root device")
		case d == cdromDevice:
			return 0, orchestrate.ErrParam("deviceId %d is reserved for the CD-ROM", d)
		case d > maxDev:
			return 0, orchestrate.ErrParam("Device id for volume cannot be greater than %d", maxDev)
		}
		if _, used := devices[*want]; used {
			return 0, orchestrate.ErrParam("deviceId %d is used by vm %s", *want, vm.Name)
		}
		return *want, nil
	}
	for d := 1; d <= maxDev; d++ {
		if _, used := devices[d]; !used && d != cdromDevice {
			return d, nil
		}
	}
	return 0, orchestrate.ErrParam("Maximum number of data volumes (%d) attached to VM %s has been reached", limit, vm.Name)
}

// checkPoolReach refuses attaching a volume whose pool the VM's cluster cannot reach.
func checkPoolReach(ctx context.Context, q db.Querier, v *db.Volume, vm *db.VM) (*db.StoragePool, string, error) {
	cluster, err := VMCluster(ctx, q, vm)
	if err != nil || v.PoolID == "" {
		return nil, cluster, err
	}
	pool, err := db.GetStoragePool(ctx, q, v.PoolID)
	if err != nil {
		return nil, cluster, err
	}
	if cluster != "" && !PoolReachable(pool, vm.ZoneID, cluster) {
		return nil, cluster, orchestrate.ErrParam("Volume %s is on storage pool %s, which VM %s cannot reach; migrate the volume to a pool of the VM's cluster first",
			v.Name, pool.Name, vm.Name)
	}
	return pool, cluster, nil
}

// StartAttach checks attachVolume's rules for a volume and a VM (ids as sent; want is the
// device asked for, nil for the next free one) and writes the job; it returns the job's id
// and the volume's.
func StartAttach(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id, vmID string, want *int) (jobID, volID string, err error) {
	q := d.DB.Read()
	v, err := ForCaller(ctx, q, a.Caller, id)
	if err != nil {
		return "", "", err
	}
	vm, err := vmFor(ctx, q, a.Caller, vmID)
	if err != nil {
		return "", "", err
	}
	if _, err := checkAttach(ctx, q, v, vm, want); err != nil {
		return "", "", err
	}
	if _, _, err := checkPoolReach(ctx, q, v, vm); err != nil {
		return "", "", err
	}
	if jobID, err = startJob(ctx, d, a, v.ID); err != nil {
		return "", "", err
	}
	return jobID, v.ID, nil
}

// Attach attaches a volume to a VM: in one transaction the volume gets its device (and, if it
// was only Allocated and the VM's cluster is known, a pool of that cluster with its storage
// reserved); then a Running VM's host attaches the disk, and if that fails the host is told
// to let go of it (a lost answer may hide an attach it did) and the transaction's changes
// are undone. replay says the job runs again after an earlier attempt of its own that may
// have attached the volume: then a volume already attached to the VM is attached on the host
// again. Otherwise a volume already attached (by another request) is refused, as CloudStack
// does: taking it as this job's own would undo that attach if the host failed now.
func Attach(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, volID, vmID string, want *int, replay bool) (*db.Volume, error) {
	if err := copyUploaded(ctx, d, a, volID, vmID); err != nil { // an Uploaded volume goes to a pool first: upload_attach.go
		return nil, err
	}
	var v *db.Volume
	var vm *db.VM
	var pool *db.StoragePool
	newPool := false
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		newPool, pool = false, nil
		if v, err = ForCaller(ctx, tx, a.Caller, volID); err != nil {
			return err
		}
		if vm, err = vmFor(ctx, tx, a.Caller, vmID); err != nil {
			return err
		}
		if v.VMID == vm.ID && replay {
			if v.PoolID != "" {
				pool, err = db.GetStoragePool(ctx, tx, v.PoolID)
			}
			return err // attached already (a replay)
		}
		dev, err := checkAttach(ctx, tx, v, vm, want)
		if err != nil {
			return err
		}
		var cluster string
		if pool, cluster, err = checkPoolReach(ctx, tx, v, vm); err != nil {
			return err
		}
		if v.PoolID == "" && cluster != "" {
			tags := ""
			if v.DiskOfferingID != "" {
				if o, err := db.GetDiskOffering(ctx, tx, v.DiskOfferingID); err == nil {
					tags = o.Tags
				}
			}
			if pool, err = ChoosePool(ctx, d, tx, v.ZoneID, cluster, v.Size, tags); err != nil {
				return err
			}
			newPool = true
			v.PoolID, v.PodID, v.Path, v.State = pool.ID, pool.PodID, v.ID, db.VolumeReady
		}
		if v.HypervisorType == "" {
			v.HypervisorType = vm.HypervisorType
		}
		v.VMID, v.DeviceID, v.Attached = vm.ID, dev, db.Now()
		if err := db.TouchVM(ctx, tx, vm.ID, vm.Version); err != nil {
			return err
		}
		if err := db.UpdateVolume(ctx, tx, v); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, evVolumeAttach, "Attaching volume "+v.Name+" to VM "+vm.Name, "Volume", v.ID)
	})
	if err != nil {
		return nil, err
	}
	if vm.State != db.VMRunning || vm.HostID == "" || pool == nil {
		return v, nil
	}
	err = volumeCommand(ctx, d, pool, vm.HostID, protocol.CmdAttachVolume, v, func(cmd *protocol.VolumeCommand) {
		cmd.VM, cmd.DeviceID = vm.InstanceName(), v.DeviceID
	})
	if err == nil {
		return v, nil
	}
	// Undo: the host may still have attached it (an answer lost or timed out after the host
	// acted, or an earlier attempt of a replayed job), so it detaches it first; detaching a
	// disk it does not have succeeds.
	if derr := volumeCommand(ctx, d, pool, vm.HostID, protocol.CmdDetachVolume, v, func(cmd *protocol.VolumeCommand) {
		cmd.VM = vm.InstanceName()
	}); derr != nil {
		Log(d).Warn("detach after a failed volume attach", "volume", v.ID, "vm", vm.ID, "err", derr)
	}
	uerr := d.DB.Transaction(ctx, func(tx db.Tx) error {
		u, err := db.GetVolume(ctx, tx, v.ID)
		if err != nil || u.VMID != vm.ID {
			return err
		}
		if newPool {
			if err := d.Ledger.ReleaseStorage(ctx, tx, u.PoolID, u.Size); err != nil {
				return err
			}
			u.PoolID, u.PodID, u.Path, u.State = "", "", "", db.VolumeAllocated
		}
		u.VMID, u.DeviceID, u.Attached = "", 0, 0
		return db.UpdateVolume(ctx, tx, u)
	})
	if uerr != nil {
		Log(d).Error("undo a failed volume attach", "volume", v.ID, "vm", vm.ID, "err", uerr)
	}
	return nil, err
}
