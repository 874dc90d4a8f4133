package snapshot

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
	"github.com/atollcloud/atoll/mgmt/snapshots"
	"github.com/google/uuid"
)

// CreateSpec is what createSnapshot asks for.
type CreateSpec struct {
	VolumeID string            // as sent
	PolicyID string            // as sent ("" for a manual snapshot)
	Name     string            // trimmed; "" names it <vm>_<volume>_<time>
	Tags     map[string]string // the snapshot's tags
}

// checkSnapshottable applies CloudStack's rules for taking a volume's snapshot.
func checkSnapshottable(ctx context.Context, d *orchestrate.Deps, q db.Querier, v *db.Volume) error {
	if v.State != db.VolumeReady {
		return orchestrate.ErrParam("VolumeId: %s is not in %s state but %s. Cannot take snapshot.", v.ID, db.VolumeReady, v.State)
	}
	if v.PoolID == "" {
		return orchestrate.ErrParam("Volume %s is not on primary storage; cannot take snapshot", v.Name)
	}
	if v.VMID != "" {
		vm, err := db.GetVM(ctx, q, v.VMID)
		if err != nil {
			return err
		}
		if vm.State != db.VMRunning && vm.State != db.VMStopped {
			return orchestrate.ErrParam("VM %s the volume is attached to is %s; snapshots are taken of volumes of Running or Stopped VMs", vm.Name, vm.State)
		}
		if vm.State == db.VMRunning && strings.EqualFold(vm.HypervisorType, "KVM") {
			// CloudStack refuses these unless kvm.snapshot.enabled; Atoll cannot take them yet.
			on := ""
			if d.Config != nil {
				on, _ = d.Config.Get(ctx, config.Global, "", "kvm.snapshot.enabled")
			}
			if !strings.EqualFold(on, "true") {
				return orchestrate.ErrInternal("KVM Snapshot is not supported for Running VMs. It is disabled by default due to a possible volume corruption in certain cases. To enable it set global settings kvm.snapshot.enabled to True. See the documentation for more details.")
			}
			return orchestrate.ErrInternal("Snapshots of the volumes of a Running KVM VM are not supported by Atoll yet (kvm.snapshot.enabled is true): stop VM %s first", vm.Name)
		}
	}
	stores, _, err := db.ListImageStores(ctx, q, db.ImageStoreFilter{ZoneID: v.ZoneID})
	if err != nil {
		return err
	}
	if len(stores) == 0 {
		return orchestrate.ErrInternal("There is no image store in zone %s to back the snapshot up to", v.ZoneName)
	}
	return nil
}

// newSnapshot records a snapshot of v (Allocated, with its copy on an image store of the
// zone being created), charges its owner one snapshot and the volume's size of secondary
// storage, and enqueues its job, all in tx. policy is nil for a manual snapshot.
func newSnapshot(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, tx db.Tx, v *db.Volume, policy *db.SnapshotPolicy, name string) (*db.Snapshot, string, error) {
	if err := checkSnapshottable(ctx, d, tx, v); err != nil {
		return nil, "", err
	}
	stores, _, err := db.ListImageStores(ctx, tx, db.ImageStoreFilter{ZoneID: v.ZoneID})
	if err != nil {
		return nil, "", err
	}
	var store *db.ImageStore
	for _, st := range stores {
		if !st.ReadOnly {
			store = st
			break
		}
	}
	if store == nil {
		return nil, "", orchestrate.ErrInternal("Every image store of zone %s is read-only; the snapshot has nowhere to go", v.ZoneName)
	}
	now := db.Now()
	if name == "" {
		prefix := v.Name
		if v.VMName != "" {
			prefix = v.VMName + "_" + v.Name
		}
		name = prefix + "_" + time.UnixMilli(now).UTC().Format("20060102150405")
	}
	s := &db.Snapshot{ID: uuid.NewString(), Name: name, AccountID: v.AccountID, DomainID: v.DomainID, ZoneID: v.ZoneID, VolumeID: v.ID,
		VolumeType: v.Type, DiskOfferingID: v.DiskOfferingID, SnapshotType: db.SnapshotManual, HypervisorType: v.HypervisorType,
		Size: v.Size, State: db.SnapshotAllocated, Created: now}
	if policy != nil {
		s.PolicyID, s.SnapshotType, s.IntervalType = policy.ID, db.SnapshotRecurring, snapshots.IntervalName(policy.IntervalType)
	}
	if err := d.ChargeResources(ctx, tx, s.AccountID, map[string]int64{db.ResSnapshot: 1, db.ResSecondaryStorage: s.Size}); err != nil {
		return nil, "", err
	}
	if err := db.InsertSnapshot(ctx, tx, s); err != nil {
		return nil, "", err
	}
	if err := db.InsertSnapshotStoreRef(ctx, tx, &db.SnapshotStoreRef{ID: uuid.NewString(), SnapshotID: s.ID, StoreID: store.ID,
		StoreRole: "Image", Size: s.Size, State: "Creating", Created: now}); err != nil {
		return nil, "", err
	}
	if err := orchestrate.Event(ctx, tx, a, evSnapshotCreate, "Creating snapshot "+s.Name+" of volume "+v.Name, "Snapshot", s.ID); err != nil {
		return nil, "", err
	}
	jobID, err := orchestrate.EnqueueJob(ctx, tx, a, "Snapshot", s.ID)
	return s, jobID, err
}

// StartCreate records a snapshot of a volume (and its tags) with its job, and returns the
// job's id and the snapshot.
func StartCreate(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec CreateSpec) (string, *db.Snapshot, error) {
	var s *db.Snapshot
	var jobID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := volume.ForCaller(ctx, tx, a.Caller, spec.VolumeID)
		if err != nil {
			return err
		}
		var policy *db.SnapshotPolicy
		if pid := spec.PolicyID; pid != "" {
			p, err := db.GetSnapshotPolicy(ctx, tx, strings.ToLower(pid))
			if errors.Is(err, db.ErrNotFound) || err == nil && p.VolumeID != v.ID {
				return orchestrate.ErrParam("Unable to find snapshot policy %s of volume %s", pid, v.ID)
			}
			if err != nil {
				return err
			}
			policy = p
		}
		if s, jobID, err = newSnapshot(ctx, d, a, tx, v, policy, spec.Name); err != nil {
			return err
		}
		for k, val := range spec.Tags {
			if val == "" {
				return orchestrate.ErrParam("Value for the key %s is either null or empty", k)
			}
			if err := db.InsertTag(ctx, tx, &db.Tag{ID: uuid.NewString(), Key: k, Value: val, ResourceType: "Snapshot", ResourceID: s.ID,
				AccountID: s.AccountID, DomainID: s.DomainID, Created: s.Created}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return jobID, s, nil
}

// Create takes snapshot id (its job): the volume is Snapshotting while a host snapshots it
// and copies it to the image store; then the snapshot is BackedUp with its physical size (the
// secondary storage count follows), and a policy's oldest snapshots beyond its maxsnaps go.
// If the host fails, the snapshot is removed and its counts given back. It returns the
// snapshot (the caller reads it again to answer).
func Create(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) (*db.Snapshot, error) {
	s, err := db.GetSnapshot(ctx, d.DB.SQL, id)
	if err != nil {
		return nil, orchestrate.ErrInternal("The snapshot %s being created is gone: %s", id, d.Cause(err))
	}
	if s.State == db.SnapshotBackedUp {
		return s, nil
	}
	var v *db.Volume
	var pool *db.StoragePool
	var store *db.ImageStore
	var ref *db.SnapshotStoreRef
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		if v, err = db.GetVolume(ctx, tx, s.VolumeID); err != nil {
			return err
		}
		cur, err := db.GetSnapshot(ctx, tx, s.ID)
		if err != nil {
			return err
		}
		if cur.State == db.SnapshotCreating && v.State == db.VolumeSnapshotting {
			s = cur // a replay: the volume is ours already
		} else {
			if err := checkSnapshottable(ctx, d, tx, v); err != nil {
				return err
			}
			v.State = db.VolumeSnapshotting
			if err := db.UpdateVolume(ctx, tx, v); err != nil {
				return err
			}
			cur.State = db.SnapshotCreating
			if err := db.UpdateSnapshot(ctx, tx, cur); err != nil {
				return err
			}
			cur.Version++
			s = cur
		}
		if pool, err = db.GetStoragePool(ctx, tx, v.PoolID); err != nil {
			return err
		}
		refs, err := db.ListSnapshotStoreRefs(ctx, tx, s.ID)
		if err != nil || len(refs) == 0 {
			return errors.Join(err, errors.New("the snapshot has no image store copy recorded"))
		}
		ref = refs[0]
		store, err = db.GetImageStore(ctx, tx, ref.StoreID)
		return err
	})
	if err != nil {
		fail(ctx, d, s.ID, false)
		return nil, err
	}
	hostID := ""
	vmName := ""
	if v.VMID != "" {
		if vm, err := db.GetVM(ctx, d.DB.SQL, v.VMID); err == nil && vm.State == db.VMRunning {
			hostID, vmName = vm.HostID, vm.InstanceName()
		}
	}
	var ans protocol.SnapshotAnswer
	host, err := volume.HostForPool(ctx, d, pool, hostID)
	if err == nil {
		err = volume.SendStorage(ctx, d, host, protocol.CmdCreateSnapshot, protocol.SnapshotCommand{VM: vmName, SnapshotID: s.ID, Name: s.Name,
			Volume: volume.VolumeRef(v, pool), Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}}, &ans)
	}
	if err != nil {
		fail(ctx, d, s.ID, true)
		return nil, err
	}
	var policy *db.SnapshotPolicy
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		cur, err := db.GetSnapshot(ctx, tx, s.ID)
		if err != nil {
			return err
		}
		phys := ans.PhysicalSize
		if phys <= 0 {
			phys = cur.Size
		}
		if delta := phys - cur.SecondaryBytes(); delta != 0 {
			// The backup's real size replaces the estimate charged at creation; a backup
			// larger than the estimate that takes the owner past the limit fails the snapshot.
			if err := d.ChargeResources(ctx, tx, cur.AccountID, map[string]int64{db.ResSecondaryStorage: delta}); err != nil {
				return err
			}
		}
		cur.State, cur.PhysicalSize = db.SnapshotBackedUp, phys
		if err := db.UpdateSnapshot(ctx, tx, cur); err != nil {
			return err
		}
		ref.InstallPath, ref.PhysicalSize, ref.State = ans.Path, phys, "Ready"
		if err := db.UpdateSnapshotStoreRef(ctx, tx, ref); err != nil {
			return err
		}
		vol, err := db.GetVolume(ctx, tx, cur.VolumeID)
		if err != nil {
			return err
		}
		if vol.State == db.VolumeSnapshotting {
			vol.State = db.VolumeReady
			if err := db.UpdateVolume(ctx, tx, vol); err != nil {
				return err
			}
		}
		if cur.PolicyID != "" {
			if policy, err = db.GetSnapshotPolicy(ctx, tx, cur.PolicyID); errors.Is(err, db.ErrNotFound) {
				policy, err = nil, nil
			}
		}
		return err
	})
	var limitErr *orchestrate.Error
	if errors.As(err, &limitErr) && limitErr.Code == orchestrate.CodeResourceLimit {
		if derr := volume.SendStorage(ctx, d, host, protocol.CmdDeleteSnapshot, protocol.SnapshotCommand{SnapshotID: s.ID, Path: ans.Path,
			Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}}, nil); derr != nil {
			volume.Log(d).Warn("delete the backup of a snapshot over the limit", "snapshot", s.ID, "err", derr)
		}
		fail(ctx, d, s.ID, true)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if policy != nil {
		prune(ctx, d, a, policy)
	}
	return s, nil
}

// fail removes a snapshot that could not be taken, gives back its counts and, if the volume
// was marked Snapshotting for it, makes the volume Ready again.
func fail(ctx context.Context, d *orchestrate.Deps, id string, volumeMarked bool) {
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		s, err := db.GetSnapshot(ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if volumeMarked {
			if v, err := db.GetVolume(ctx, tx, s.VolumeID); err == nil && v.State == db.VolumeSnapshotting {
				v.State = db.VolumeReady
				if err := db.UpdateVolume(ctx, tx, v); err != nil {
					return err
				}
			}
		}
		return removeTx(ctx, d, tx, s)
	})
	if err != nil {
		volume.Log(d).Error("clean up a failed snapshot", "snapshot", id, "err", err)
	}
}

// removeTx removes a snapshot row and its copies, gives back its counts and drops its tags.
func removeTx(ctx context.Context, d *orchestrate.Deps, tx db.Tx, s *db.Snapshot) error {
	if err := db.RemoveSnapshot(ctx, tx, s.ID, s.Version); err != nil {
		return err
	}
	if err := d.ChargeResources(ctx, tx, s.AccountID, map[string]int64{db.ResSnapshot: -1, db.ResSecondaryStorage: -s.SecondaryBytes()}); err != nil {
		return err
	}
	return db.DeleteTagsOf(ctx, tx, "Snapshot", s.ID)
}

// prune deletes a policy's oldest backed-up snapshots beyond its maxsnaps (CloudStack keeps
// maxsnaps of each volume and interval).
func prune(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, p *db.SnapshotPolicy) {
	list, _, err := db.ListSnapshots(ctx, d.DB.SQL, db.SnapshotFilter{VolumeID: p.VolumeID, SnapshotType: db.SnapshotRecurring,
		IntervalType: snapshots.IntervalName(p.IntervalType), States: []string{db.SnapshotBackedUp}, OldestFirst: true})
	if err != nil {
		volume.Log(d).Error("list snapshots to prune", "policy", p.ID, "err", err)
		return
	}
	for i := 0; i < len(list)-p.MaxSnaps; i++ {
		if err := Delete(ctx, d, a, list[i].ID); err != nil {
			volume.Log(d).Error("prune snapshot beyond maxsnaps", "policy", p.ID, "snapshot", list[i].ID, "err", err)
		}
	}
}
