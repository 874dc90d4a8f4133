package agent

import (
	"context"
	"errors"

	"github.com/atollcloud/atoll/agent/protocol"
)

// VolumeDriver is what a hypervisor driver implements to handle the storage commands
// (protocol.CmdAttachVolume ...). Drivers without it answer them as unsupported.
type VolumeDriver interface {
	AttachVolume(ctx context.Context, vm, volumeID, path string, deviceID int) error
	DetachVolume(ctx context.Context, vm, volumeID string) error
	ResizeVolume(ctx context.Context, poolID, path string, size, newSize int64, shrinkOK bool) (int64, error)
	DeleteVolume(ctx context.Context, poolID, path string) error
	MigrateVolume(ctx context.Context, srcPoolID, path, dstPoolID string) (string, error)
	BackupSnapshot(ctx context.Context, poolID, volumeID, volumePath, snapshotID, storeURL string, size int64) (path string, physicalSize int64, err error)
	DeleteSnapshot(ctx context.Context, storeURL, path string) error
	RevertSnapshot(ctx context.Context, storeURL, path, poolID, volumePath string) error
	CreateVolumeFromSnapshot(ctx context.Context, storeURL, path, poolID, volumeID string, size int64) (string, error)
}

func volumePath(v protocol.VolumeRef) string {
	if v.Path != "" {
		return v.Path
	}
	return v.ID
}

// storageCommand runs a storage command; ok is false for any other command name.
func (a *Agent) storageCommand(ctx context.Context, cmd protocol.Command) (body any, ok bool, err error) {
	switch cmd.Name {
	case protocol.CmdAttachVolume, protocol.CmdDetachVolume, protocol.CmdResizeVolume, protocol.CmdDeleteVolume, protocol.CmdMigrateVolume,
		protocol.CmdCreateSnapshot, protocol.CmdDeleteSnapshot, protocol.CmdRevertSnapshot, protocol.CmdCreateVolumeFromSnapshot:
	default:
		return nil, false, nil
	}
	if a.cfg.Storage != nil {
		body, err = a.hostVolumeCommand(ctx, cmd)
		return body, true, err
	}
	d, can := a.cfg.Driver.(VolumeDriver)
	if !can {
		return nil, true, errUnsupported(cmd.Name)
	}
	body, err = runStorage(ctx, d, cmd)
	return body, true, err
}

type unsupportedError string

func (e unsupportedError) Error() string {
	return "unsupported command " + string(e) + " for this hypervisor"
}

func errUnsupported(name string) error { return unsupportedError(name) }

func runStorage(ctx context.Context, d VolumeDriver, cmd protocol.Command) (any, error) {
	switch cmd.Name {
	case protocol.CmdCreateSnapshot, protocol.CmdDeleteSnapshot, protocol.CmdRevertSnapshot, protocol.CmdCreateVolumeFromSnapshot:
		var s protocol.SnapshotCommand
		if err := decode(cmd, &s); err != nil {
			return nil, err
		}
		switch cmd.Name {
		case protocol.CmdCreateSnapshot:
			path, phys, err := d.BackupSnapshot(ctx, s.Volume.Pool.ID, s.Volume.ID, volumePath(s.Volume), s.SnapshotID, s.Store.URL, s.Volume.Size)
			if err != nil {
				return nil, err
			}
			return protocol.SnapshotAnswer{Path: path, PhysicalSize: phys}, nil
		case protocol.CmdDeleteSnapshot:
			return nil, d.DeleteSnapshot(ctx, s.Store.URL, s.Path)
		case protocol.CmdRevertSnapshot:
			return nil, d.RevertSnapshot(ctx, s.Store.URL, s.Path, s.Volume.Pool.ID, volumePath(s.Volume))
		}
		path, err := d.CreateVolumeFromSnapshot(ctx, s.Store.URL, s.Path, s.Volume.Pool.ID, s.Volume.ID, s.Volume.Size)
		if err != nil {
			return nil, err
		}
		return protocol.VolumeAnswer{Path: path, Size: s.Volume.Size}, nil
	}
	var v protocol.VolumeCommand
	if err := decode(cmd, &v); err != nil {
		return nil, err
	}
	switch cmd.Name {
	case protocol.CmdAttachVolume:
		return nil, d.AttachVolume(ctx, v.VM, v.Volume.ID, volumePath(v.Volume), v.DeviceID)
	case protocol.CmdDetachVolume:
		return nil, d.DetachVolume(ctx, v.VM, v.Volume.ID)
	case protocol.CmdResizeVolume:
		size, err := d.ResizeVolume(ctx, v.Volume.Pool.ID, volumePath(v.Volume), v.Volume.Size, v.NewSize, v.ShrinkOK)
		if err != nil {
			return nil, err
		}
		return protocol.VolumeAnswer{Path: volumePath(v.Volume), Size: size}, nil
	case protocol.CmdDeleteVolume:
		return nil, d.DeleteVolume(ctx, v.Volume.Pool.ID, volumePath(v.Volume))
	}
	if v.Target == nil {
		return nil, errMissingTarget
	}
	path, err := d.MigrateVolume(ctx, v.Volume.Pool.ID, volumePath(v.Volume), v.Target.ID)
	if err != nil {
		return nil, err
	}
	return protocol.VolumeAnswer{Path: path, Size: v.Volume.Size}, nil
}

var errMissingTarget = errors.New("MigrateVolume: no target pool")
