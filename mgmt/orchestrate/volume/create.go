package volume

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// CreateSpec is what createVolume asks for, as the caller sent it.
type CreateSpec struct {
	Name              string // trimmed; "" names the volume DATA-<id>
	Account, DomainID string // the owner (both or neither; DomainID lowercased); none: the caller's account
	DiskOfferingID    string // lowercased
	SnapshotID        string // lowercased
	ZoneID            string // lowercased
	Size              string // GiB, as sent ("" when not)
	MinIOPS, MaxIOPS  *int64 // nil when not sent
	VMID              string // attach the new volume to this VM, as sent
	StorageID         string // the pool to create it in (root admin), as sent
	CustomID          string // the new volume's id (root admin)
	DisplayVolume     *bool
}

// newPlan is what createVolume validated, for its start and its job.
type newPlan struct {
	owner    *db.Account
	zone     *db.Zone
	offering *db.DiskOffering
	snapshot *db.Snapshot
	vm       *db.VM
	pool     *db.StoragePool
	size     int64
	// minIOPS and maxIOPS: the offering's, or the caller's with a customized-IOPS offering.
	minIOPS, maxIOPS int64
}

// createIOPS gives a new volume's IOPS as CloudStack's allocVolume does: with a
// customized-IOPS offering the caller's miniops and maxiops (neither, or miniops > 0 and not
// above maxiops, which is 0 when not given); otherwise the offering's, the caller's ignored.
func createIOPS(o *db.DiskOffering, spec *CreateSpec) (int64, int64, error) {
	if !o.CustomizedIOPS {
		return o.MinIOPS, o.MaxIOPS, nil
	}
	if spec.MinIOPS == nil && spec.MaxIOPS == nil {
		return 0, 0, nil
	}
	var mn, mx int64
	if spec.MinIOPS != nil {
		mn = *spec.MinIOPS
	}
	if spec.MaxIOPS != nil {
		mx = *spec.MaxIOPS
	}
	if mn <= 0 {
		return 0, 0, orchestrate.ErrParam("The min IOPS must be greater than 0.")
	}
	if mn > mx {
		return 0, 0, orchestrate.ErrParam("The min IOPS must be less than or equal to the max IOPS.")
	}
	return mn, mx, nil
}

func planNew(ctx context.Context, q db.Querier, a orchestrate.Actor, spec *CreateSpec) (*newPlan, error) {
	p := &newPlan{}
	var err error
	if p.owner, err = orchestrate.OwnerFor(ctx, q, a.Caller, spec.Account, spec.DomainID); err != nil {
		return nil, err
	}
	offID, snapID := spec.DiskOfferingID, spec.SnapshotID
	if offID == "" && snapID == "" {
		return nil, orchestrate.ErrParam("At least one of disk Offering ID or snapshot ID must be passed whilst creating volume")
	}
	size, sizeGiven, err := GiB("size", spec.Size)
	if err != nil {
		return nil, err
	}
	zoneID := spec.ZoneID
	if snapID != "" {
		s, err := db.GetSnapshot(ctx, q, snapID)
		if errors.Is(err, db.ErrNotFound) {
			return nil, orchestrate.ErrParam("Unable to find a snapshot with id %s", snapID)
		}
		if err != nil {
			return nil, err
		}
		if err := orchestrate.CheckOwnerAccess(ctx, q, a.Caller, snapID, s.AccountID, s.DomainID); err != nil {
			return nil, err
		}
		if s.State != db.SnapshotBackedUp {
			return nil, orchestrate.ErrParam("Snapshot id=%s is not in %s state yet and can't be used for volume creation", s.ID, db.SnapshotBackedUp)
		}
		// CloudStack takes an offering only with a ROOT disk's snapshot; the volume then has
		// the offering's size (never below the snapshot's). A snapshot alone gives its own
		// size and offering, and size is not read.
		if offID != "" && s.VolumeType != db.VolumeRoot {
			return nil, orchestrate.ErrParam("Disk Offering ID cannot be passed whilst creating volume from snapshot other than ROOT disk snapshots")
		}
		p.snapshot = s
		if zoneID != "" && zoneID != s.ZoneID {
			return nil, orchestrate.ErrParam("Snapshot %s is not in zone %s", s.ID, zoneID)
		}
		zoneID = s.ZoneID
		if offID == "" {
			p.size, offID = s.Size, s.DiskOfferingID
		}
	}
	if offID != "" {
		o, err := db.GetDiskOffering(ctx, q, offID)
		if errors.Is(err, db.ErrNotFound) || err == nil && o.State != "" && o.State != "Active" {
			return nil, orchestrate.ErrParam("Unable to find disk offering by id %s", offID)
		}
		if err != nil {
			return nil, err
		}
		p.offering = o
		if p.snapshot == nil || spec.DiskOfferingID != "" {
			switch {
			case o.Customized && !sizeGiven:
				return nil, orchestrate.ErrParam("This disk offering requires a custom size specified")
			case o.Customized && (size < customDiskMinGiB<<30 || size > customDiskMaxGiB<<30):
				return nil, orchestrate.ErrParam("Volume size: %d GB is out of allowed range. Max: %d Min:%d", size>>30, customDiskMaxGiB, customDiskMinGiB)
			case o.Customized:
				p.size = size
			case sizeGiven && size != o.DiskSize && size != 0:
				return nil, orchestrate.ErrParam("This disk offering does not allow custom size")
			default:
				p.size = o.DiskSize
			}
			if p.minIOPS, p.maxIOPS, err = createIOPS(o, spec); err != nil {
				return nil, err
			}
			if s := p.snapshot; s != nil && p.size < s.Size {
				return nil, orchestrate.ErrParam("Invalid size for volume creation: %dGB, snapshot size is: %dGB", p.size>>30, s.Size>>30)
			}
		}
		if len(o.DomainIDs) > 0 && !offeringInDomain(ctx, q, o.DomainIDs, p.owner.DomainID) {
			return nil, orchestrate.ErrDenied("Account %s does not have access to disk offering %s", p.owner.Name, o.ID)
		}
	}
	if vmID := spec.VMID; vmID != "" {
		if p.vm, err = vmFor(ctx, q, a.Caller, vmID); err != nil {
			return nil, err
		}
		if p.vm.AccountID != p.owner.ID {
			return nil, orchestrate.ErrParam("The VM %s does not belong to the owner of the new volume", p.vm.ID)
		}
		if zoneID == "" {
			zoneID = p.vm.ZoneID
		}
		if p.vm.ZoneID != zoneID {
			return nil, orchestrate.ErrParam("Please specify a VM that is in the same zone as the volume.")
		}
	}
	if zoneID == "" {
		return nil, orchestrate.ErrParam("Please specify a zone for the volume (zoneid)")
	}
	z, err := db.GetZone(ctx, q, zoneID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find zone by id %s", zoneID)
	}
	if err != nil {
		return nil, err
	}
	if z.AllocationState == "Disabled" && !a.Caller.IsRootAdmin() {
		return nil, orchestrate.ErrDenied("Cannot perform this operation, Zone is currently disabled: %s", z.ID)
	}
	p.zone = z
	if p.offering != nil && len(p.offering.ZoneIDs) > 0 && !listHasFold(p.offering.ZoneIDs, z.ID) {
		return nil, orchestrate.ErrParam("Disk offering %s is not available in zone %s", p.offering.Name, z.Name)
	}
	if poolID := spec.StorageID; poolID != "" {
		if !a.Caller.IsRootAdmin() {
			return nil, orchestrate.ErrDenied("Only a root admin may choose the storage pool of a volume")
		}
		pool, err := db.GetStoragePool(ctx, q, strings.ToLower(poolID))
		if errors.Is(err, db.ErrNotFound) || err == nil && pool.ZoneID != z.ID {
			return nil, orchestrate.ErrParam("Unable to find storage pool %s in zone %s", poolID, z.Name)
		}
		if err != nil {
			return nil, err
		}
		p.pool = pool
	}
	if p.size <= 0 {
		return nil, orchestrate.ErrParam("Volume size must be greater than zero")
	}
	return p, nil
}

// StartCreate records a new volume (counted against its owner; Ready at once on a pool a
// root admin chose, Creating from a snapshot, otherwise Allocated until it is attached) and
// its job, and returns the job's id and the volume's.
func StartCreate(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec CreateSpec) (jobID, volID string, err error) {
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		p, err := planNew(ctx, tx, a, &spec)
		if err != nil {
			return err
		}
		v := &db.Volume{ID: uuid.NewString(), Name: spec.Name, AccountID: p.owner.ID, DomainID: p.owner.DomainID,
			ZoneID: p.zone.ID, Type: db.VolumeDataDisk, Size: p.size, State: db.VolumeAllocated, DisplayVolume: true, Created: db.Now()}
		if cid := spec.CustomID; cid != "" {
			v.ID = cid
		}
		if v.Name == "" {
			v.Name = "DATA-" + v.ID[:8]
		}
		if spec.DisplayVolume != nil {
			v.DisplayVolume = *spec.DisplayVolume
		}
		if p.offering != nil {
			v.DiskOfferingID, v.ProvisioningType = p.offering.ID, p.offering.ProvisioningType
		}
		if p.snapshot != nil {
			v.SnapshotID, v.State = p.snapshot.ID, db.VolumeCreating
		}
		v.MinIOPS, v.MaxIOPS = p.minIOPS, p.maxIOPS
		if err := d.ChargeResources(ctx, tx, v.AccountID, map[string]int64{db.ResVolume: 1, db.ResPrimaryStorage: v.Size}); err != nil {
			return err
		}
		if p.pool != nil && p.snapshot == nil {
			if err := ReservePool(ctx, d, tx, p.pool, v.Size); err != nil {
				return err
			}
			v.PoolID, v.PodID, v.State, v.Path = p.pool.ID, p.pool.PodID, db.VolumeReady, v.ID
		}
		if err := db.InsertVolume(ctx, tx, v); err != nil {
			if db.IsDuplicate(err) {
				return orchestrate.ErrParam("A volume with id %s already exists", v.ID)
			}
			return err
		}
		if err := orchestrate.Event(ctx, tx, a, evVolumeCreate, "Creating volume "+v.Name, "Volume", v.ID); err != nil {
			return err
		}
		volID = v.ID
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, "Volume", v.ID)
		return err
	})
	if err != nil {
		return "", "", err
	}
	return jobID, volID, nil
}

// Create finishes createVolume (job j, on the new volume): a volume from a snapshot is written
// to a pool of the zone; with spec.VMID the volume is then attached. It returns the volume as
// it was before (the caller reads it again to answer).
func Create(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, j *db.Job, spec CreateSpec) (*db.Volume, error) {
	v, err := db.GetVolume(ctx, d.DB.SQL, j.InstanceID)
	if err != nil {
		return nil, orchestrate.ErrInternal("The volume %s being created is gone: %s", j.InstanceID, d.Cause(err))
	}
	if v.SnapshotID != "" && v.State == db.VolumeCreating {
		if err := createFromSnapshot(ctx, d, v, &spec); err != nil {
			return nil, err
		}
	}
	if vmID := strings.ToLower(spec.VMID); vmID != "" {
		if _, err := Attach(ctx, d, a, v.ID, vmID, nil, j.Attempts > 1); err != nil {
			return nil, err
		}
	}
	return v, nil
}
