package volume

import (
	"context"
	"errors"
	"strconv"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// ResizeSpec is what resizeVolume asks for.
type ResizeSpec struct {
	Size             string // new size in GiB, as sent ("" when not)
	DiskOfferingID   string // new disk offering, lowercased ("" when not)
	ShrinkOK         bool
	MinIOPS, MaxIOPS *int64 // nil when not sent
	AutoMigrate      bool
}

// resizePlan is a validated resize: the volume's new size, offering and IOPS.
type resizePlan struct {
	size             int64
	offeringID       string
	minIOPS, maxIOPS int64
}

func planResize(ctx context.Context, q db.Querier, v *db.Volume, spec *ResizeSpec) (*resizePlan, error) {
	if v.State != db.VolumeReady && v.State != db.VolumeAllocated {
		return nil, orchestrate.ErrParam("Volume should be in ready or allocated state before attempting a resize. Volume %s is in state %s.", v.Name, v.State)
	}
	if v.VMID != "" {
		vm, err := db.GetVM(ctx, q, v.VMID)
		if err != nil {
			return nil, err
		}
		if vm.State != db.VMRunning && vm.State != db.VMStopped {
			return nil, orchestrate.ErrParam("VM %s is %s; a volume can be resized while its VM is Running or Stopped", vm.Name, vm.State)
		}
	}
	p := &resizePlan{size: v.Size, offeringID: v.DiskOfferingID, minIOPS: v.MinIOPS, maxIOPS: v.MaxIOPS}
	size, sizeGiven, err := GiB("size", spec.Size)
	if err != nil {
		return nil, err
	}
	var cur, newOff *db.DiskOffering
	if v.DiskOfferingID != "" {
		if cur, err = db.GetDiskOffering(ctx, q, v.DiskOfferingID); err != nil && !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
	}
	if offID := spec.DiskOfferingID; offID != "" && offID != v.DiskOfferingID {
		o, err := db.GetDiskOffering(ctx, q, offID)
		if errors.Is(err, db.ErrNotFound) || err == nil && o.State != "" && o.State != "Active" {
			return nil, orchestrate.ErrParam("Unable to find disk offering by id %s", offID)
		}
		if err != nil {
			return nil, err
		}
		if len(o.DomainIDs) > 0 && !offeringInDomain(ctx, q, o.DomainIDs, v.DomainID) {
			return nil, orchestrate.ErrDenied("The owner of volume %s does not have access to disk offering %s", v.Name, o.ID)
		}
		p.offeringID, newOff = o.ID, o
		switch {
		case o.Customized && !sizeGiven:
			return nil, orchestrate.ErrParam("The new disk offering requires a custom size to be specified")
		case o.Customized:
			p.size = size
		case sizeGiven && size != o.DiskSize:
			return nil, orchestrate.ErrParam("Disk offering %s has a fixed size of %d GB; size can't be specified", o.Name, o.DiskSize>>30)
		default:
			p.size = o.DiskSize
		}
		if o.Customized && (p.size < customDiskMinGiB<<30 || p.size > customDiskMaxGiB<<30) {
			return nil, orchestrate.ErrParam("Volume size: %d GB is out of allowed range. Max: %d Min:%d", p.size>>30, customDiskMaxGiB, customDiskMinGiB)
		}
	} else if sizeGiven && size != v.Size {
		if v.Type != db.VolumeRoot && (cur == nil || !cur.Customized) {
			return nil, orchestrate.ErrParam("To change a volume's size without providing a new disk offering, its current disk offering must be customizable or it must be a root volume (if providing a disk offering, make sure it is different from the current disk offering).")
		}
		if size <= 0 {
			return nil, orchestrate.ErrParam("Volume size must be greater than zero")
		}
		p.size = size
	}
	if p.size < v.Size {
		if !spec.ShrinkOK {
			return nil, orchestrate.ErrParam("Going from existing size of %d to size of %d would shrink the volume. Need to sign off by supplying the shrinkok parameter with value of true.", v.Size, p.size)
		}
	}
	if err := resizeIOPS(p, v, cur, newOff, spec); err != nil {
		return nil, err
	}
	return p, nil
}

// resizeIOPS sets a resize's IOPS as CloudStack's resizeVolume does. With a new offering:
// its IOPS, unless it has customized IOPS, when the caller's (or the volume's) are taken.
// Without: the caller's may change them only on a ROOT volume or when the current offering
// has customized IOPS. A volume's IOPS are both set or both unset, min not above max.
func resizeIOPS(p *resizePlan, v *db.Volume, cur, newOff *db.DiskOffering, spec *ResizeSpec) error {
	minGiven, maxGiven := spec.MinIOPS != nil, spec.MaxIOPS != nil
	if newOff != nil && !newOff.CustomizedIOPS {
		p.minIOPS, p.maxIOPS = newOff.MinIOPS, newOff.MaxIOPS
		return nil
	}
	if newOff == nil && v.Type != db.VolumeRoot && (cur == nil || !cur.CustomizedIOPS) {
		if minGiven {
			return orchestrate.ErrParam("The current disk offering does not support customization of the 'Min IOPS' parameter.")
		}
		if maxGiven {
			return orchestrate.ErrParam("The current disk offering does not support customization of the 'Max IOPS' parameter.")
		}
		return nil
	}
	// The volume's own values count as given when set, or when its offering had customized
	// IOPS (CloudStack records 0 then, not null).
	volSet := v.MinIOPS > 0 || v.MaxIOPS > 0 || cur != nil && cur.CustomizedIOPS
	minSet, maxSet := minGiven || volSet, maxGiven || volSet
	if spec.MinIOPS != nil {
		p.minIOPS = *spec.MinIOPS
	}
	if spec.MaxIOPS != nil {
		p.maxIOPS = *spec.MaxIOPS
	}
	if minSet != maxSet {
		return orchestrate.ErrParam("Either 'miniops' and 'maxiops' must both be provided or neither must be provided.")
	}
	if minSet && p.minIOPS > p.maxIOPS {
		return orchestrate.ErrParam("The 'miniops' parameter must be less than or equal to the 'maxiops' parameter.")
	}
	return nil
}

// StartResize checks a resize of a volume (id as sent) and writes its job; it returns the
// job's id and the volume's.
func StartResize(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, spec ResizeSpec) (jobID, volID string, err error) {
	q := d.DB.Read()
	v, err := ForCaller(ctx, q, a.Caller, id)
	if err != nil {
		return "", "", err
	}
	if _, err := planResize(ctx, q, v, &spec); err != nil {
		return "", "", err
	}
	if jobID, err = startJob(ctx, d, a, v.ID); err != nil {
		return "", "", err
	}
	return jobID, v.ID, nil
}

// Resize writes a volume's new size (with its storage reservation on the pool and the
// owner's primary storage count, in one transaction), then has a host resize the disk, and
// undoes the change if the host fails.
func Resize(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, spec ResizeSpec) error {
	var before, after db.Volume
	var pool *db.StoragePool
	changed := false
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		changed, pool = false, nil
		v, err := ForCaller(ctx, tx, a.Caller, id)
		if err != nil {
			return err
		}
		if v.State == db.VolumeResizing {
			// A replay (the server running this job died after recording the new size):
			// the host still has to resize the disk; the old size is no longer known, so
			// a failure now leaves the new size recorded.
			before, after, changed = *v, *v, true
			pool, err = db.GetStoragePool(ctx, tx, v.PoolID)
			return err
		}
		p, err := planResize(ctx, tx, v, &spec)
		if err != nil {
			return err
		}
		before = *v
		if p.size == v.Size && p.offeringID == v.DiskOfferingID && p.minIOPS == v.MinIOPS && p.maxIOPS == v.MaxIOPS {
			return nil
		}
		if delta := p.size - v.Size; delta != 0 {
			if v.PoolID != "" {
				if pool, err = db.GetStoragePool(ctx, tx, v.PoolID); err != nil {
					return err
				}
				if delta > 0 {
					err = ReservePool(ctx, d, tx, pool, delta)
					var e *orchestrate.Error
					if spec.AutoMigrate && errors.As(err, &e) && e.Code == orchestrate.CodeCapacity {
						err = orchestrate.Errorf(e.Code, e.CSCode, "Storage pool %s cannot hold volume %s at %d GB, and automigrate=true was given, "+
							"but Atoll does not migrate a volume on resize: move it to a pool with room with migrateVolume, then resize it (%s)",
							pool.Name, v.Name, p.size>>30, e.Text)
					}
				} else {
					err = d.Ledger.ReleaseStorage(ctx, tx, pool.ID, -delta)
				}
				if err != nil {
					return err
				}
			}
			if v.State != db.VolumeDestroy {
				if err := d.ChargeResources(ctx, tx, v.AccountID, map[string]int64{db.ResPrimaryStorage: delta}); err != nil {
					return err
				}
			}
		}
		v.Size, v.DiskOfferingID, v.MinIOPS, v.MaxIOPS = p.size, p.offeringID, p.minIOPS, p.maxIOPS
		if pool != nil {
			v.State = db.VolumeResizing // until the host has resized the disk
		}
		if err := db.UpdateVolume(ctx, tx, v); err != nil {
			return err
		}
		after, changed = *v, true
		return orchestrate.Event(ctx, tx, a, evVolumeResize, "Resizing volume "+v.Name+" to "+strconv.FormatInt(v.Size, 10)+" bytes", "Volume", v.ID)
	})
	if err != nil {
		return err
	}
	if changed && pool != nil && after.State == db.VolumeResizing {
		hostID, vmName := "", ""
		if after.VMID != "" {
			if vm, err := db.GetVM(ctx, d.DB.SQL, after.VMID); err == nil && vm.State == db.VMRunning {
				hostID, vmName = vm.HostID, vm.InstanceName()
			}
		}
		if err := volumeCommand(ctx, d, pool, hostID, protocol.CmdResizeVolume, &before, func(cmd *protocol.VolumeCommand) {
			cmd.NewSize, cmd.ShrinkOK = after.Size, spec.ShrinkOK
			cmd.VM = vmName
		}); err != nil {
			undoResize(ctx, d, &before, &after)
			return err
		}
		if err := d.DB.Transaction(ctx, func(tx db.Tx) error {
			v, err := db.GetVolume(ctx, tx, after.ID)
			if err != nil || v.State != db.VolumeResizing {
				return err
			}
			v.State = db.VolumeReady
			return db.UpdateVolume(ctx, tx, v)
		}); err != nil {
			return err
		}
	}
	return nil
}

// undoResize puts back a volume's size after its host failed to resize it.
func undoResize(ctx context.Context, d *orchestrate.Deps, before, after *db.Volume) {
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := db.GetVolume(ctx, tx, after.ID)
		if err != nil || v.Size != after.Size {
			return err
		}
		delta := before.Size - after.Size
		if v.PoolID != "" {
			if delta > 0 {
				err = d.Ledger.ReserveStorage(ctx, tx, v.PoolID, delta, ignoreThreshold)
			} else {
				err = d.Ledger.ReleaseStorage(ctx, tx, v.PoolID, -delta)
			}
			if err != nil {
				return err
			}
		}
		if v.State != db.VolumeDestroy {
			if err := d.ChargeResources(ctx, tx, v.AccountID, map[string]int64{db.ResPrimaryStorage: delta}); err != nil {
				return err
			}
		}
		v.Size, v.DiskOfferingID, v.MinIOPS, v.MaxIOPS = before.Size, before.DiskOfferingID, before.MinIOPS, before.MaxIOPS
		if v.State == db.VolumeResizing {
			v.State = db.VolumeReady
		}
		return db.UpdateVolume(ctx, tx, v)
	})
	if err != nil {
		Log(d).Error("undo a failed volume resize", "volume", after.ID, "err", err)
	}
}
