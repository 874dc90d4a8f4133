package api

import (
	"errors"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
)

func registerVolumeResize(s *Server) {
	s.Reg.Add(&Command{Name: "resizeVolume", Response: volumeResponse, Roles: AllRoles, Async: true, ResponseKey: "volume",
		Description: "Resizes a volume",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the disk volume"},
			{Name: "size", Type: TLong, Description: "New volume size in GB"},
			{Name: "diskofferingid", Type: TUUID, Description: "new disk offering id"},
			{Name: "shrinkok", Type: TBool, Description: "Verify OK to Shrink"},
			{Name: "miniops", Type: TLong, Description: "New minimum number of IOPS"},
			{Name: "maxiops", Type: TLong, Description: "New maximum number of IOPS"},
			{Name: "automigrate", Type: TBool, Description: "in CloudStack, migrate the volume to a suitable pool if its pool lacks room for the new size. Atoll does not move volumes on resize: when the pool lacks room the resize fails (533) with an error that says so; with room it has no effect"},
		},
		Handler: resizeVolumeStart, Job: resizeVolumeJob})
	s.Reg.Add(&Command{Name: "migrateVolume", Response: volumeResponse, Roles: Admin, Async: true, ResponseKey: "volume",
		Description: "Migrate volume",
		Params: []Param{
			{Name: "volumeid", Type: TUUID, Required: true, Description: "the ID of the volume"},
			{Name: "storageid", Type: TUUID, Required: true, Description: "destination storage pool ID to migrate the volume to"},
			{Name: "livemigrate", Type: TBool, Description: "if the volume should be live migrated when it is attached to a running vm"},
			{Name: "newdiskofferingid", Type: TUUID, Description: "the new disk offering (not supported: refused when it differs)"},
		},
		Handler: migrateVolumeStart, Job: migrateVolumeJob})
}

// resizePlan is a validated resize: the volume's new size, offering and IOPS.
type resizePlan struct {
	size             int64
	offeringID       string
	minIOPS, maxIOPS int64
}

func (c *Call) planResize(q db.Querier, v *db.Volume) (*resizePlan, error) {
	if v.State != db.VolumeReady && v.State != db.VolumeAllocated {
		return nil, ErrParam("Volume should be in ready or allocated state before attempting a resize. Volume %s is in state %s.", v.Name, v.State)
	}
	if v.VMID != "" {
		vm, err := db.GetVM(c.Ctx, q, v.VMID)
		if err != nil {
			return nil, err
		}
		if vm.State != db.VMRunning && vm.State != db.VMStopped {
			return nil, ErrParam("VM %s is %s; a volume can be resized while its VM is Running or Stopped", vm.Name, vm.State)
		}
	}
	p := &resizePlan{size: v.Size, offeringID: v.DiskOfferingID, minIOPS: v.MinIOPS, maxIOPS: v.MaxIOPS}
	size, sizeGiven, err := c.giBParam("size")
	if err != nil {
		return nil, err
	}
	var cur, newOff *db.DiskOffering
	if v.DiskOfferingID != "" {
		if cur, err = db.GetDiskOffering(c.Ctx, q, v.DiskOfferingID); err != nil && !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
	}
	if offID := strings.ToLower(c.P.String("diskofferingid")); offID != "" && offID != v.DiskOfferingID {
		o, err := db.GetDiskOffering(c.Ctx, q, offID)
		if errors.Is(err, db.ErrNotFound) || err == nil && o.State != "" && o.State != "Active" {
			return nil, ErrParam("Unable to find disk offering by id %s", offID)
		}
		if err != nil {
			return nil, err
		}
		if len(o.DomainIDs) > 0 && !c.offeringInDomain(q, o.DomainIDs, v.DomainID) {
			return nil, ErrDenied("The owner of volume %s does not have access to disk offering %s", v.Name, o.ID)
		}
		p.offeringID, newOff = o.ID, o
		switch {
		case o.Customized && !sizeGiven:
			return nil, ErrParam("The new disk offering requires a custom size to be specified")
		case o.Customized:
			p.size = size
		case sizeGiven && size != o.DiskSize:
			return nil, ErrParam("Disk offering %s has a fixed size of %d GB; size can't be specified", o.Name, o.DiskSize>>30)
		default:
			p.size = o.DiskSize
		}
		if o.Customized && (p.size < customDiskMinGiB<<30 || p.size > customDiskMaxGiB<<30) {
			return nil, ErrParam("Volume size: %d GB is out of allowed range. Max: %d Min:%d", p.size>>30, customDiskMaxGiB, customDiskMinGiB)
		}
	} else if sizeGiven && size != v.Size {
		if v.Type != db.VolumeRoot && (cur == nil || !cur.Customized) {
			return nil, ErrParam("To change a volume's size without providing a new disk offering, its current disk offering must be customizable or it must be a root volume (if providing a disk offering, make sure it is different from the current disk offering).")
		}
		if size <= 0 {
			return nil, ErrParam("Volume size must be greater than zero")
		}
		p.size = size
	}
	if p.size < v.Size {
		if ok, _ := c.P.Bool("shrinkok"); !ok {
			return nil, ErrParam("Going from existing size of %d to size of %d would shrink the volume. Need to sign off by supplying the shrinkok parameter with value of true.", v.Size, p.size)
		}
	}
	if err := c.resizeIOPS(p, v, cur, newOff); err != nil {
		return nil, err
	}
	return p, nil
}

// resizeIOPS sets a resize's IOPS as CloudStack's resizeVolume does. With a new offering:
// its IOPS, unless it has customized IOPS, when the caller's (or the volume's) are taken.
// Without: the caller's may change them only on a ROOT volume or when the current offering
// has customized IOPS. A volume's IOPS are both set or both unset, min not above max.
func (c *Call) resizeIOPS(p *resizePlan, v *db.Volume, cur, newOff *db.DiskOffering) error {
	minGiven, maxGiven := c.P.String("miniops") != "", c.P.String("maxiops") != ""
	if newOff != nil && !newOff.CustomizedIOPS {
		p.minIOPS, p.maxIOPS = newOff.MinIOPS, newOff.MaxIOPS
		return nil
	}
	if newOff == nil && v.Type != db.VolumeRoot && (cur == nil || !cur.CustomizedIOPS) {
		if minGiven {
			return ErrParam("The current disk offering does not support customization of the 'Min IOPS' parameter.")
		}
		if maxGiven {
			return ErrParam("The current disk offering does not support customization of the 'Max IOPS' parameter.")
		}
		return nil
	}
	// The volume's own values count as given when set, or when its offering had customized
	// IOPS (CloudStack records 0 then, not null).
	volSet := v.MinIOPS > 0 || v.MaxIOPS > 0 || cur != nil && cur.CustomizedIOPS
	minSet, maxSet := minGiven || volSet, maxGiven || volSet
	if n, ok := intParam(c, "miniops"); ok {
		p.minIOPS = n
	}
	if n, ok := intParam(c, "maxiops"); ok {
		p.maxIOPS = n
	}
	if minSet != maxSet {
		return ErrParam("Either 'miniops' and 'maxiops' must both be provided or neither must be provided.")
	}
	if minSet && p.minIOPS > p.maxIOPS {
		return ErrParam("The 'miniops' parameter must be less than or equal to the 'maxiops' parameter.")
	}
	return nil
}

func resizeVolumeStart(c *Call) (any, error) {
	q := c.S.DB.Read()
	v, err := c.volumeForCall(q, c.P.String("id"))
	if err != nil {
		return nil, err
	}
	if _, err := c.planResize(q, v); err != nil {
		return nil, err
	}
	return c.StartJob("Volume", v.ID)
}

// resizeVolumeJob writes the new size (with its storage reservation on the pool and the
// owner's primary storage count, in one transaction), then has a host resize the disk, and
// undoes the change if the host fails.
func resizeVolumeJob(c *Call, j *db.Job) (any, error) {
	var before, after db.Volume
	var pool *db.StoragePool
	changed := false
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		changed, pool = false, nil
		v, err := c.volumeForCall(tx, j.InstanceID)
		if err != nil {
			return err
		}
		if v.State == db.VolumeResizing {
			// A replay (the server running this job died after recording the new size):
			// the host still has to resize the disk; the old size is no longer known, so
			// a failure now leaves the new size recorded.
			before, after, changed = *v, *v, true
			pool, err = db.GetStoragePool(c.Ctx, tx, v.PoolID)
			return err
		}
		p, err := c.planResize(tx, v)
		if err != nil {
			return err
		}
		before = *v
		if p.size == v.Size && p.offeringID == v.DiskOfferingID && p.minIOPS == v.MinIOPS && p.maxIOPS == v.MaxIOPS {
			return nil
		}
		if delta := p.size - v.Size; delta != 0 {
			if v.PoolID != "" {
				if pool, err = db.GetStoragePool(c.Ctx, tx, v.PoolID); err != nil {
					return err
				}
				if delta > 0 {
					err = c.reservePool(tx, pool, delta)
					var e *Error
					if am, _ := c.P.Bool("automigrate"); am && errors.As(err, &e) && e.Code == CodeCapacity {
						err = Errorf(e.Code, e.CSCode, "Storage pool %s cannot hold volume %s at %d GB, and automigrate=true was given, "+
							"but Atoll does not migrate a volume on resize: move it to a pool with room with migrateVolume, then resize it (%s)",
							pool.Name, v.Name, p.size>>30, e.Text)
					}
				} else {
					err = c.ledger().ReleaseStorage(c.Ctx, tx, pool.ID, -delta)
				}
				if err != nil {
					return err
				}
			}
			if v.State != db.VolumeDestroy {
				if err := c.chargeResources(tx, v.AccountID, map[string]int64{db.ResPrimaryStorage: delta}); err != nil {
					return err
				}
			}
		}
		v.Size, v.DiskOfferingID, v.MinIOPS, v.MaxIOPS = p.size, p.offeringID, p.minIOPS, p.maxIOPS
		if pool != nil {
			v.State = db.VolumeResizing // until the host has resized the disk
		}
		if err := db.UpdateVolume(c.Ctx, tx, v); err != nil {
			return err
		}
		after, changed = *v, true
		return c.Event(tx, evVolumeResize, "Resizing volume "+v.Name+" to "+strconv.FormatInt(v.Size, 10)+" bytes", "Volume", v.ID)
	})
	if err != nil {
		return nil, err
	}
	if changed && pool != nil && after.State == db.VolumeResizing {
		hostID, vmName := "", ""
		if after.VMID != "" {
			if vm, err := db.GetVM(c.Ctx, c.S.DB.SQL, after.VMID); err == nil && vm.State == db.VMRunning {
				hostID, vmName = vm.HostID, vm.InstanceName()
			}
		}
		shrink, _ := c.P.Bool("shrinkok")
		if err := c.volumeCommand(pool, hostID, protocol.CmdResizeVolume, &before, func(cmd *protocol.VolumeCommand) {
			cmd.NewSize, cmd.ShrinkOK = after.Size, shrink
			cmd.VM = vmName
		}); err != nil {
			c.undoResize(&before, &after)
			return nil, err
		}
		if err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
			v, err := db.GetVolume(c.Ctx, tx, after.ID)
			if err != nil || v.State != db.VolumeResizing {
				return err
			}
			v.State = db.VolumeReady
			return db.UpdateVolume(c.Ctx, tx, v)
		}); err != nil {
			return nil, err
		}
	}
	return c.volumeObject(j.InstanceID)
}

// undoResize puts back a volume's size after its host failed to resize it.
func (c *Call) undoResize(before, after *db.Volume) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := db.GetVolume(c.Ctx, tx, after.ID)
		if err != nil || v.Size != after.Size {
			return err
		}
		delta := before.Size - after.Size
		if v.PoolID != "" {
			if delta > 0 {
				err = c.ledger().ReserveStorage(c.Ctx, tx, v.PoolID, delta, plannerIgnoreThreshold)
			} else {
				err = c.ledger().ReleaseStorage(c.Ctx, tx, v.PoolID, -delta)
			}
			if err != nil {
				return err
			}
		}
		if v.State != db.VolumeDestroy {
			if err := c.chargeResources(tx, v.AccountID, map[string]int64{db.ResPrimaryStorage: delta}); err != nil {
				return err
			}
		}
		v.Size, v.DiskOfferingID, v.MinIOPS, v.MaxIOPS = before.Size, before.DiskOfferingID, before.MinIOPS, before.MaxIOPS
		if v.State == db.VolumeResizing {
			v.State = db.VolumeReady
		}
		return db.UpdateVolume(c.Ctx, tx, v)
	})
	if err != nil {
		c.S.Log.Error("undo a failed volume resize", "volume", after.ID, "err", err)
	}
}

// migrateTarget validates migrateVolume and returns the volume and the target pool.
func (c *Call) migrateTarget(q db.Querier) (*db.Volume, *db.StoragePool, *db.VM, error) {
	v, err := c.volumeForCall(q, c.P.String("volumeid"))
	if err != nil {
		return nil, nil, nil, err
	}
	if v.State != db.VolumeReady {
		return nil, nil, nil, ErrParam("Volume must be in ready state; volume %s is %s", v.Name, v.State)
	}
	if v.PoolID == "" {
		return nil, nil, nil, ErrParam("Volume %s is not on primary storage yet; nothing to migrate", v.Name)
	}
	if nd := strings.ToLower(c.P.String("newdiskofferingid")); nd != "" && nd != v.DiskOfferingID {
		return nil, nil, nil, Errorf(CodeUnsupported, CSServerAPI, "Changing the disk offering while migrating a volume is not supported")
	}
	target, err := db.GetStoragePool(c.Ctx, q, strings.ToLower(c.P.String("storageid")))
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil, nil, ErrParam("Unable to find storage pool with ID %s", c.P.String("storageid"))
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if target.ID == v.PoolID {
		return nil, nil, nil, ErrParam("Volume %s is already on storage pool %s", v.Name, target.Name)
	}
	if target.ZoneID != v.ZoneID {
		return nil, nil, nil, ErrParam("Storage pool %s is not in the volume's zone", target.Name)
	}
	if target.Status != db.PoolUp {
		return nil, nil, nil, ErrParam("Destination storage pool %s is %s, not Up", target.Name, target.Status)
	}
	var vm *db.VM
	if v.VMID != "" {
		if vm, err = db.GetVM(c.Ctx, q, v.VMID); err != nil {
			return nil, nil, nil, err
		}
		live, _ := c.P.Bool("livemigrate")
		switch {
		case vm.State == db.VMRunning && !live:
			return nil, nil, nil, ErrParam("Volume %s is attached to running VM %s; set livemigrate=true to migrate it live", v.Name, vm.Name)
		case vm.State != db.VMRunning && vm.State != db.VMStopped:
			return nil, nil, nil, ErrParam("VM %s is %s; its volumes can be migrated while it is Running or Stopped", vm.Name, vm.State)
		}
		cluster, err := c.vmCluster(q, vm)
		if err != nil {
			return nil, nil, nil, err
		}
		if cluster != "" && !poolReachable(target, vm.ZoneID, cluster) {
			return nil, nil, nil, ErrParam("Storage pool %s cannot be reached by VM %s", target.Name, vm.Name)
		}
	}
	return v, target, vm, nil
}

func migrateVolumeStart(c *Call) (any, error) {
	v, _, _, err := c.migrateTarget(c.S.DB.Read())
	if err != nil {
		return nil, err
	}
	return c.StartJob("Volume", v.ID)
}

// migrateVolumeJob reserves the target pool and marks the volume Migrating, has a host copy
// it, then moves the volume's allocation (or, if the host failed, gives the target back).
func migrateVolumeJob(c *Call, j *db.Job) (any, error) {
	var v *db.Volume
	var target, source *db.StoragePool
	var vm *db.VM
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		var err error
		if cur, err := db.GetVolume(c.Ctx, tx, j.InstanceID); err == nil && cur.State == db.VolumeMigrating {
			// A replay (the server running this job died after reserving the target):
			// carry on with the copy.
			v = cur
			if target, err = db.GetStoragePool(c.Ctx, tx, strings.ToLower(c.P.String("storageid"))); err != nil {
				return err
			}
			if v.VMID != "" {
				if vm, err = db.GetVM(c.Ctx, tx, v.VMID); err != nil {
					return err
				}
			}
			source, err = db.GetStoragePool(c.Ctx, tx, v.PoolID)
			return err
		}
		if v, target, vm, err = c.migrateTarget(tx); err != nil {
			return err
		}
		if source, err = db.GetStoragePool(c.Ctx, tx, v.PoolID); err != nil {
			return err
		}
		if err := c.reservePool(tx, target, v.Size); err != nil {
			return err
		}
		v.State = db.VolumeMigrating
		return db.UpdateVolume(c.Ctx, tx, v)
	})
	if err != nil {
		if u, gerr := db.GetVolume(c.Ctx, c.S.DB.SQL, j.InstanceID); gerr == nil && u.PoolID == strings.ToLower(c.P.String("storageid")) {
			return c.volumeObject(u.ID) // a replay after the move was recorded
		}
		return nil, err
	}
	hostID := ""
	if vm != nil && vm.State == db.VMRunning {
		hostID = vm.HostID
	}
	var ans protocol.VolumeAnswer
	host, herr := c.hostForPool(source, hostID)
	if herr == nil {
		herr = c.sendStorage(host, protocol.CmdMigrateVolume, protocol.VolumeCommand{Volume: volumeRef(v, source),
			Target: &protocol.PoolRef{ID: target.ID, Type: target.PoolType, URL: target.URL}, VM: vmInstance(vm)}, &ans)
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		u, err := db.GetVolume(c.Ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if herr != nil {
			if err := c.ledger().ReleaseStorage(c.Ctx, tx, target.ID, u.Size); err != nil {
				return err
			}
			u.State = db.VolumeReady
			return db.UpdateVolume(c.Ctx, tx, u)
		}
		if err := c.ledger().ReleaseStorage(c.Ctx, tx, source.ID, u.Size); err != nil {
			return err
		}
		u.PoolID, u.PodID, u.State = target.ID, target.PodID, db.VolumeReady
		if ans.Path != "" {
			u.Path = ans.Path
		}
		if err := db.UpdateVolume(c.Ctx, tx, u); err != nil {
			return err
		}
		return c.Event(tx, evVolumeMigrate, "Migrating volume "+u.Name+" to storage pool "+target.Name, "Volume", u.ID)
	})
	if herr != nil {
		if err != nil {
			c.S.Log.Error("undo a failed volume migration", "volume", v.ID, "err", err)
		}
		return nil, herr
	}
	if err != nil {
		return nil, err
	}
	return c.volumeObject(v.ID)
}

func vmInstance(vm *db.VM) string {
	if vm == nil {
		return ""
	}
	return vm.InstanceName()
}
