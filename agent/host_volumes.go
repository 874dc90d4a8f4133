package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/storage"
)

// hostVolumeCommand runs a volume or snapshot command on a real host: the bytes are files on
// the host's pools and image stores (HostStorage), and a running VM's disks are plugged in
// and out through the driver (hypervisor.DiskAttacher).
func (a *Agent) hostVolumeCommand(ctx context.Context, cmd protocol.Command) (any, error) {
	switch cmd.Name {
	case protocol.CmdCreateSnapshot, protocol.CmdDeleteSnapshot, protocol.CmdRevertSnapshot, protocol.CmdCreateVolumeFromSnapshot:
		var s protocol.SnapshotCommand
		if err := decode(cmd, &s); err != nil {
			return nil, err
		}
		return a.hostSnapshot(ctx, cmd.Name, s)
	}
	var v protocol.VolumeCommand
	if err := decode(cmd, &v); err != nil {
		return nil, err
	}
	pool, err := a.cfg.Storage.Pool(ctx, v.Volume.Pool)
	if err != nil {
		return nil, err
	}
	name := volumePath(v.Volume)
	switch cmd.Name {
	case protocol.CmdAttachVolume:
		ok, err := pool.Exists(ctx, name)
		if err != nil {
			return nil, err
		}
		if !ok { // an Allocated data volume is made on its first attach
			if _, err := pool.Create(ctx, name, v.Volume.Size); err != nil {
				return nil, err
			}
		}
		if err := a.plug(ctx, true, v.VM, v.Volume, v.DeviceID, pool); err != nil {
			if !ok {
				_ = pool.Delete(context.WithoutCancel(ctx), name)
			}
			return nil, err
		}
		return protocol.VolumeAnswer{Path: name, Size: v.Volume.Size}, nil
	case protocol.CmdDetachVolume:
		return nil, a.plug(ctx, false, v.VM, v.Volume, v.DeviceID, pool)
	case protocol.CmdResizeVolume:
		if v.VM != "" && a.running(ctx, v.VM) {
			rs, ok := a.cfg.Driver.(hypervisor.DiskResizer)
			if !ok {
				return nil, fmt.Errorf("resize %s: the volume is in use by running VM %s; this hypervisor cannot resize it live", name, v.VM)
			}
			done, err := rs.ResizeDisk(ctx, v.VM, v.Volume.ID, v.NewSize)
			if err != nil {
				return nil, err
			}
			if done {
				info, err := pool.Info(ctx, name)
				if err != nil {
					return nil, err
				}
				return protocol.VolumeAnswer{Path: name, Size: info.VirtualSize}, nil
			}
		}
		info, err := pool.Resize(ctx, name, v.NewSize, v.ShrinkOK)
		if err != nil {
			return nil, err
		}
		return protocol.VolumeAnswer{Path: name, Size: info.VirtualSize}, nil
	case protocol.CmdDeleteVolume:
		return nil, pool.Delete(ctx, name)
	}
	return nil, fmt.Errorf("%s: moving a volume between pools is not supported on this host yet", cmd.Name)
}

// plug attaches or detaches a volume's disk to a VM through the driver.
func (a *Agent) plug(ctx context.Context, attach bool, vm string, vol protocol.VolumeRef, deviceID int, pool storage.Pool) error {
	if vm == "" {
		return errors.New("no VM named to attach to or detach from")
	}
	da, ok := a.cfg.Driver.(hypervisor.DiskAttacher)
	if !ok {
		return errUnsupported(protocol.CmdAttachVolume)
	}
	name := volumePath(vol)
	disk := hypervisor.DiskSpec{VolumeID: vol.ID, Type: "DATADISK", DeviceID: deviceID, Path: name, PoolID: vol.Pool.ID,
		Size: vol.Size, Format: vol.Format, Source: driverSource(pool.Source(name))}
	if attach {
		return da.AttachDisk(ctx, vm, disk)
	}
	return da.DetachDisk(ctx, vm, disk)
}

// running reports whether the driver lists vm as powered on.
func (a *Agent) running(ctx context.Context, vm string) bool {
	vms, err := a.cfg.Driver.ListVMs(ctx)
	if err != nil {
		return true // unknown: assume the worst
	}
	for _, v := range vms {
		if v.Name == vm {
			return v.State != hypervisor.PowerOff
		}
	}
	return false
}

// hostSnapshot backs a volume up to an image store, deletes a backup, writes one back over
// its volume, or makes a new volume from one.
func (a *Agent) hostSnapshot(ctx context.Context, name string, s protocol.SnapshotCommand) (any, error) {
	store, err := a.cfg.Storage.Store(ctx, s.Store)
	if err != nil {
		return nil, err
	}
	if name == protocol.CmdDeleteSnapshot {
		if s.Path == "" {
			return nil, nil // never backed up: nothing on the store
		}
		return nil, store.FS().Remove(ctx, s.Path)
	}
	pool, err := a.cfg.Storage.Pool(ctx, s.Volume.Pool)
	if err != nil {
		return nil, err
	}
	vol := volumePath(s.Volume)
	switch name {
	case protocol.CmdCreateSnapshot:
		if s.VM != "" && a.running(ctx, s.VM) {
			return nil, fmt.Errorf("snapshot of %s: VM %s is running; snapshots of a running VM's volumes are not supported on this host yet (stop the VM first)", vol, s.VM)
		}
		b, err := pool.BackupSnapshot(ctx, vol, store.FS(), storage.SnapshotPath(s.Volume.ID, s.SnapshotID))
		if err != nil {
			return nil, err
		}
		return protocol.SnapshotAnswer{Path: b.Path, PhysicalSize: b.PhysicalSize}, nil
	case protocol.CmdRevertSnapshot:
		if s.VM != "" && a.running(ctx, s.VM) {
			return nil, fmt.Errorf("revert %s: VM %s is running", vol, s.VM)
		}
		// Write the backup beside the volume, then put it in the volume's place.
		tmp := vol + ".revert"
		if err := pool.Delete(ctx, tmp); err != nil {
			return nil, err
		}
		if _, err := pool.CreateFromSnapshot(ctx, tmp, store.FS(), s.Path, s.Volume.Size); err != nil {
			return nil, err
		}
		if err := pool.Replace(ctx, tmp, vol); err != nil {
			return nil, err
		}
		return nil, nil
	}
	info, err := pool.CreateFromSnapshot(ctx, vol, store.FS(), s.Path, s.Volume.Size)
	if err != nil {
		return nil, err
	}
	return protocol.VolumeAnswer{Path: vol, Size: info.VirtualSize}, nil
}
