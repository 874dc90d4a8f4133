package simulator

import (
	"context"
	"fmt"
	"sync"

	"github.com/atollcloud/atoll/hypervisor"
)

// The simulator's storage: which volumes are attached to which VM at which device, kept per
// driver beside its VMs. Primary and secondary storage are pretended: no bytes move, sizes
// are reported as asked, paths are derived from ids.
type storageState struct {
	mu    sync.Mutex
	disks map[string]map[string]int // vm name -> volume id -> device id
}

var storages sync.Map // *Driver -> *storageState

func (d *Driver) storage() *storageState {
	if s, ok := storages.Load(d); ok {
		return s.(*storageState)
	}
	s, _ := storages.LoadOrStore(d, &storageState{disks: map[string]map[string]int{}})
	return s.(*storageState)
}

func (d *Driver) hasVM(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.vms[name]
	return ok
}

// AttachVolume attaches a volume to a VM at a device; attaching it again at the same device
// succeeds (a replay), at another device or to a device in use fails.
func (d *Driver) AttachVolume(ctx context.Context, vm, volumeID, path string, deviceID int) error {
	if !d.hasVM(vm) {
		return fmt.Errorf("simulator: attach %s to %s: %w", volumeID, vm, hypervisor.ErrNoVM)
	}
	s := d.storage()
	s.mu.Lock()
	defer s.mu.Unlock()
	disks := s.disks[vm]
	if disks == nil {
		disks = map[string]int{}
		s.disks[vm] = disks
	}
	if dev, ok := disks[volumeID]; ok {
		if dev == deviceID {
			return nil
		}
		return fmt.Errorf("simulator: volume %s is already attached to %s at device %d", volumeID, vm, dev)
	}
	for id, dev := range disks {
		if dev == deviceID {
			return fmt.Errorf("simulator: device %d of %s is used by volume %s", deviceID, vm, id)
		}
	}
	disks[volumeID] = deviceID
	return nil
}

// DetachVolume detaches a volume from a VM; detaching one that is not attached succeeds.
func (d *Driver) DetachVolume(ctx context.Context, vm, volumeID string) error {
	s := d.storage()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.disks[vm], volumeID)
	return nil
}

// AttachedVolumes returns a VM's attached volumes by id with their device ids (tests).
func (d *Driver) AttachedVolumes(vm string) map[string]int {
	s := d.storage()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for id, dev := range s.disks[vm] {
		out[id] = dev
	}
	return out
}

// ResizeVolume pretends to resize a volume file; shrinking needs shrinkOK.
func (d *Driver) ResizeVolume(ctx context.Context, poolID, path string, size, newSize int64, shrinkOK bool) (int64, error) {
	if newSize <= 0 {
		return 0, fmt.Errorf("simulator: resize %s: invalid size %d", path, newSize)
	}
	if newSize < size && !shrinkOK {
		return 0, fmt.Errorf("simulator: resize %s: shrinking from %d to %d needs shrinkok", path, size, newSize)
	}
	return newSize, nil
}

// DeleteVolume pretends to delete a volume file.
func (d *Driver) DeleteVolume(ctx context.Context, poolID, path string) error { return nil }

// MigrateVolume pretends to copy a volume to another pool; the path stays the same.
func (d *Driver) MigrateVolume(ctx context.Context, srcPoolID, path, dstPoolID string) (string, error) {
	if srcPoolID == dstPoolID {
		return "", fmt.Errorf("simulator: migrate %s: source and target pool are the same", path)
	}
	return path, nil
}

// BackupSnapshot pretends to snapshot a volume and copy it to the image store: the backup's
// path is snapshots/<volume>/<snapshot> and it takes the volume's size.
func (d *Driver) BackupSnapshot(ctx context.Context, poolID, volumeID, volumePath, snapshotID, storeURL string, size int64) (string, int64, error) {
	if storeURL == "" {
		return "", 0, fmt.Errorf("simulator: snapshot %s: no image store", snapshotID)
	}
	return "snapshots/" + volumeID + "/" + snapshotID, size, nil
}

// DeleteSnapshot pretends to delete a snapshot's backup.
func (d *Driver) DeleteSnapshot(ctx context.Context, storeURL, path string) error { return nil }

// RevertSnapshot pretends to write a snapshot back over its volume.
func (d *Driver) RevertSnapshot(ctx context.Context, storeURL, path, poolID, volumePath string) error {
	if path == "" {
		return fmt.Errorf("simulator: revert: snapshot has no backup")
	}
	return nil
}

// CreateVolumeFromSnapshot pretends to copy a snapshot's backup into a new volume on a pool;
// the new volume's path is its id.
func (d *Driver) CreateVolumeFromSnapshot(ctx context.Context, storeURL, path, poolID, volumeID string, size int64) (string, error) {
	if path == "" {
		return "", fmt.Errorf("simulator: create volume from snapshot: snapshot has no backup")
	}
	return volumeID, nil
}
