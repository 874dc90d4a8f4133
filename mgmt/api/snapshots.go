package api

import (
	"errors"
	"strings"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/snapshots"
	"github.com/google/uuid"
)

// Volume snapshots: taken on a host that reaches the volume's pool and backed up to an image
// store of the zone (on the Simulator no bytes move); createVolume from a snapshot is in
// createVolumeFromSnapshot below.

const (
	evSnapshotCreate = "SNAPSHOT.CREATE"
	evSnapshotDelete = "SNAPSHOT.DELETE"
	evSnapshotRevert = "SNAPSHOT.REVERT"
)

func registerSnapshots(s *Server) {
	s.Reg.Add(&Command{Name: "createSnapshot", Response: snapshotResponse, Roles: AllRoles, Async: true, ResponseKey: "snapshot",
		Description: "Creates an instant snapshot of a volume.",
		Params: []Param{
			{Name: "volumeid", Type: TUUID, Required: true, Description: "The ID of the disk volume"},
			{Name: "name", Type: TString, Length: 255, Description: "the name of the snapshot"},
			{Name: "account", Type: TString, Description: "The account of the snapshot. The account parameter must be used with the domainId parameter."},
			{Name: "domainid", Type: TUUID, Description: "The domain ID of the snapshot. If used with the account parameter, specifies a domain for the account associated with the disk volume."},
			{Name: "policyid", Type: TUUID, Description: "policy id of the snapshot, if this is null, then use MANUAL_POLICY."},
			{Name: "quiescevm", Type: TBool, Description: "quiesce vm if true"},
			{Name: "asyncbackup", Type: TBool, Description: "asynchronous backup if true"},
			{Name: "locationtype", Type: TString, Description: "Currently applicable only for managed storage."},
			{Name: "tags", Type: TMap, Description: "Map of tags (key/value pairs)"},
			{Name: "zoneids", Type: TList, Elem: "uuid", Description: "other zones to copy the snapshot to (not supported)"},
			{Name: "storageids", Type: TList, Elem: "uuid", Description: "storage pools to copy the snapshot to (not supported)"},
			{Name: "usestoragereplication", Type: TBool, Description: "use storage replication (not supported)"},
		},
		Handler: createSnapshotStart, Job: createSnapshotJob})
	s.Reg.Add(&Command{Name: "listSnapshots", Response: snapshotResponse, Roles: AllRoles, List: true, ResponseKey: "snapshot",
		Description: "Lists all available snapshots for the account.",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "lists snapshot by snapshot ID"},
			Param{Name: "ids", Type: TList, Elem: "uuid", Description: "the IDs of the snapshots, mutually exclusive with id"},
			Param{Name: "name", Type: TString, Description: "lists snapshot by snapshot name"},
			Param{Name: "volumeid", Type: TUUID, Description: "the ID of the disk volume"},
			Param{Name: "zoneid", Type: TUUID, Description: "list snapshots by zone id"},
			Param{Name: "snapshottype", Type: TString, Description: "valid values are MANUAL or RECURRING."},
			Param{Name: "intervaltype", Type: TString, Description: "valid values are HOURLY, DAILY, WEEKLY, and MONTHLY."},
			Param{Name: "imagestoreid", Type: TUUID, Description: "ID of the image or image cache store"},
			Param{Name: "storageid", Type: TUUID, Description: "ID of the storage pool"},
			Param{Name: "locationtype", Type: TString, Description: "list snapshots by location type"},
			Param{Name: "showunique", Type: TBool, Description: "list one snapshot per zone only"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (projects are not supported: refused)"},
			tagsListParam,
		),
		Handler: listSnapshots})
	s.Reg.Add(&Command{Name: "deleteSnapshot", Response: successResponse, Roles: AllRoles, Async: true, ResponseKey: "success",
		Description: "Deletes a snapshot of a disk volume.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "The ID of the snapshot"},
			{Name: "zoneid", Type: TUUID, Description: "The ID of the zone for the snapshot"},
		},
		Handler: deleteSnapshotStart, Job: deleteSnapshotJob})
	s.Reg.Add(&Command{Name: "revertSnapshot", Response: snapshotResponse, Roles: AllRoles, Async: true, ResponseKey: "snapshot",
		Description: "This is supposed to revert a volume snapshot. This command is only supported with KVM so far",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "The ID of the snapshot"}},
		Handler:     revertSnapshotStart, Job: revertSnapshotJob})
	registerSnapshotPolicies(s)
	RegisterTaggable("Snapshot", func(c *Call, q db.Querier, id string) (string, string, error) {
		sn, err := db.GetSnapshot(c.Ctx, q, id)
		if err != nil {
			return "", "", err
		}
		return sn.AccountID, sn.DomainID, nil
	})
}

func init() {
	db.RegisterResourceCounter(db.ResSnapshot, "snapshots", "SELECT COUNT(*) FROM snapshots WHERE account_id = ? AND removed IS NULL")
	db.RegisterResourceCounter(db.ResSecondaryStorage, "snapshots",
		"SELECT COALESCE(SUM(CASE WHEN physical_size > 0 THEN physical_size ELSE size END), 0) FROM snapshots WHERE account_id = ? AND removed IS NULL")
}

// snapshotForCall loads a snapshot the caller may act on.
func (c *Call) snapshotForCall(q db.Querier, id string) (*db.Snapshot, error) {
	s, err := db.GetSnapshot(c.Ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find a snapshot with id %s", id)
	}
	if err != nil {
		return nil, err
	}
	if err := c.checkOwnerAccess(q, id, s.AccountID, s.DomainID); err != nil {
		return nil, err
	}
	return s, nil
}

func renderSnapshot(s *db.Snapshot) map[string]any {
	m := map[string]any{
		"id": s.ID, "name": s.Name, "account": s.AccountName, "domainid": s.DomainID, "domain": s.DomainName, "domainpath": s.DomainPath,
		"volumeid": s.VolumeID, "volumename": s.VolumeName, "volumetype": s.VolumeType, "snapshottype": s.SnapshotType,
		"state": s.State, "created": FormatTime(s.Created), "zoneid": s.ZoneID, "zonename": s.ZoneName, "virtualsize": s.Size,
		"physicalsize": s.PhysicalSize, "revertable": s.State == db.SnapshotBackedUp && !s.VolumeRemoved, "locationtype": "SECONDARY",
		"hasannotations": false, "tags": []any{},
	}
	set(m, "volumestate", s.VolumeState)
	set(m, "intervaltype", s.IntervalType)
	if s.StoreID != "" {
		m["datastoreid"], m["datastoretype"], m["datastorestate"] = s.StoreID, "Image", "Ready"
	}
	return m
}

func (c *Call) snapshotObject(id string) (any, error) {
	s, err := db.GetSnapshot(c.Ctx, c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	m := renderSnapshot(s)
	if err := c.attachTags("Snapshot", []string{s.ID}, []map[string]any{m}); err != nil {
		return nil, err
	}
	return Object{Key: "snapshot", Value: m}, nil
}

func listSnapshots(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	f := db.SnapshotFilter{ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), Keyword: c.P.String("keyword"),
		VolumeID: strings.ToLower(c.P.String("volumeid")), ZoneID: strings.ToLower(c.P.String("zoneid")),
		SnapshotType: c.P.String("snapshottype"), IntervalType: c.P.String("intervaltype"),
		StoreID: strings.ToLower(c.P.String("imagestoreid")), PoolID: strings.ToLower(c.P.String("storageid")), Scope: scope}
	for _, id := range c.P.List("ids") {
		f.IDs = append(f.IDs, strings.ToLower(id))
	}
	f.Where, f.WhereArgs = db.TagFilterClause("Snapshot", "s.id", c.tagsParam())
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListSnapshots(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	maps := make([]map[string]any, 0, len(list))
	ids := make([]string, 0, len(list))
	for _, s := range list {
		m := renderSnapshot(s)
		items, maps, ids = append(items, m), append(maps, m), append(ids, s.ID)
	}
	if len(ids) > 0 {
		if err := c.attachTags("Snapshot", ids, maps); err != nil {
			return nil, err
		}
	}
	return ListResult{Key: "snapshot", Items: items, Count: total}, nil
}

// checkSnapshottable applies CloudStack's rules for taking a volume's snapshot.
func (c *Call) checkSnapshottable(q db.Querier, v *db.Volume) error {
	if v.State != db.VolumeReady {
		return ErrParam("VolumeId: %s is not in %s state but %s. Cannot take snapshot.", v.ID, db.VolumeReady, v.State)
	}
	if v.PoolID == "" {
		return ErrParam("Volume %s is not on primary storage; cannot take snapshot", v.Name)
	}
	if v.VMID != "" {
		vm, err := db.GetVM(c.Ctx, q, v.VMID)
		if err != nil {
			return err
		}
		if vm.State != db.VMRunning && vm.State != db.VMStopped {
			return ErrParam("VM %s the volume is attached to is %s; snapshots are taken of volumes of Running or Stopped VMs", vm.Name, vm.State)
		}
	}
	stores, _, err := db.ListImageStores(c.Ctx, q, db.ImageStoreFilter{ZoneID: v.ZoneID})
	if err != nil {
		return err
	}
	if len(stores) == 0 {
		return ErrInternal("There is no image store in zone %s to back the snapshot up to", v.ZoneName)
	}
	return nil
}

// newSnapshot records a snapshot of v (Allocated, with its copy on an image store of the
// zone being created), charges its owner one snapshot and the volume's size of secondary
// storage, and enqueues its job, all in tx. policy is nil for a manual snapshot.
func (c *Call) newSnapshot(tx db.Tx, v *db.Volume, policy *db.SnapshotPolicy, name string) (*db.Snapshot, string, error) {
	if err := c.checkSnapshottable(tx, v); err != nil {
		return nil, "", err
	}
	stores, _, err := db.ListImageStores(c.Ctx, tx, db.ImageStoreFilter{ZoneID: v.ZoneID})
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
		return nil, "", ErrInternal("Every image store of zone %s is read-only; the snapshot has nowhere to go", v.ZoneName)
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
	if err := c.chargeResources(tx, s.AccountID, map[string]int64{db.ResSnapshot: 1, db.ResSecondaryStorage: s.Size}); err != nil {
		return nil, "", err
	}
	if err := db.InsertSnapshot(c.Ctx, tx, s); err != nil {
		return nil, "", err
	}
	if err := db.InsertSnapshotStoreRef(c.Ctx, tx, &db.SnapshotStoreRef{ID: uuid.NewString(), SnapshotID: s.ID, StoreID: store.ID,
		StoreRole: "Image", Size: s.Size, State: "Creating", Created: now}); err != nil {
		return nil, "", err
	}
	if err := c.Event(tx, evSnapshotCreate, "Creating snapshot "+s.Name+" of volume "+v.Name, "Snapshot", s.ID); err != nil {
		return nil, "", err
	}
	jobID, err := c.EnqueueJob(tx, "Snapshot", s.ID)
	return s, jobID, err
}

// unsupportedCopies refuses the parameters that copy snapshots to other zones or pools, which
// Atoll does not do (yet), instead of silently ignoring them.
func (c *Call) unsupportedCopies() error {
	if len(c.P.List("zoneids")) > 0 || len(c.P.List("storageids")) > 0 {
		return Errorf(CodeUnsupported, CSServerAPI, "Copying snapshots to other zones or storage pools (zoneids, storageids) is not supported")
	}
	if r, _ := c.P.Bool("usestoragereplication"); r {
		return Errorf(CodeUnsupported, CSServerAPI, "usestoragereplication is not supported")
	}
	return nil
}

func createSnapshotStart(c *Call) (any, error) {
	if err := c.unsupportedCopies(); err != nil {
		return nil, err
	}
	if lt := c.P.String("locationtype"); lt != "" && !strings.EqualFold(lt, "secondary") {
		return nil, Errorf(CodeUnsupported, CSServerAPI, "locationtype %s is not supported: snapshots are backed up to secondary storage", lt)
	}
	var s *db.Snapshot
	var jobID string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := c.volumeForCall(tx, c.P.String("volumeid"))
		if err != nil {
			return err
		}
		var policy *db.SnapshotPolicy
		if pid := c.P.String("policyid"); pid != "" {
			p, err := db.GetSnapshotPolicy(c.Ctx, tx, strings.ToLower(pid))
			if errors.Is(err, db.ErrNotFound) || err == nil && p.VolumeID != v.ID {
				return ErrParam("Unable to find snapshot policy %s of volume %s", pid, v.ID)
			}
			if err != nil {
				return err
			}
			policy = p
		}
		if s, jobID, err = c.newSnapshot(tx, v, policy, strings.TrimSpace(c.P.String("name"))); err != nil {
			return err
		}
		for k, val := range c.tagsParam() {
			if val == "" {
				return ErrParam("Value for the key %s is either null or empty", k)
			}
			if err := db.InsertTag(c.Ctx, tx, &db.Tag{ID: uuid.NewString(), Key: k, Value: val, ResourceType: "Snapshot", ResourceID: s.ID,
				AccountID: s.AccountID, DomainID: s.DomainID, Created: s.Created}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: s.ID}, nil
}

// createSnapshotJob takes the snapshot: the volume is Snapshotting while a host snapshots it
// and copies it to the image store; then the snapshot is BackedUp with its physical size (the
// secondary storage count follows), and a policy's oldest snapshots beyond its maxsnaps go.
// If the host fails, the snapshot is removed and its counts given back.
func createSnapshotJob(c *Call, j *db.Job) (any, error) {
	s, err := db.GetSnapshot(c.Ctx, c.S.DB.SQL, j.InstanceID)
	if err != nil {
		return nil, ErrInternal("The snapshot %s being created is gone: %s", j.InstanceID, c.cause(err))
	}
	if s.State == db.SnapshotBackedUp {
		return c.snapshotObject(s.ID)
	}
	var v *db.Volume
	var pool *db.StoragePool
	var store *db.ImageStore
	var ref *db.SnapshotStoreRef
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if v, err = db.GetVolume(c.Ctx, tx, s.VolumeID); err != nil {
			return err
		}
		cur, err := db.GetSnapshot(c.Ctx, tx, s.ID)
		if err != nil {
			return err
		}
		if cur.State == db.SnapshotCreating && v.State == db.VolumeSnapshotting {
			s = cur // a replay: the volume is ours already
		} else {
			if err := c.checkSnapshottable(tx, v); err != nil {
				return err
			}
			v.State = db.VolumeSnapshotting
			if err := db.UpdateVolume(c.Ctx, tx, v); err != nil {
				return err
			}
			cur.State = db.SnapshotCreating
			if err := db.UpdateSnapshot(c.Ctx, tx, cur); err != nil {
				return err
			}
			cur.Version++
			s = cur
		}
		if pool, err = db.GetStoragePool(c.Ctx, tx, v.PoolID); err != nil {
			return err
		}
		refs, err := db.ListSnapshotStoreRefs(c.Ctx, tx, s.ID)
		if err != nil || len(refs) == 0 {
			return errors.Join(err, errors.New("the snapshot has no image store copy recorded"))
		}
		ref = refs[0]
		store, err = db.GetImageStore(c.Ctx, tx, ref.StoreID)
		return err
	})
	if err != nil {
		c.failSnapshot(s.ID, false)
		return nil, err
	}
	hostID := ""
	vmName := ""
	if v.VMID != "" {
		if vm, err := db.GetVM(c.Ctx, c.S.DB.SQL, v.VMID); err == nil && vm.State == db.VMRunning {
			hostID, vmName = vm.HostID, vm.InstanceName()
		}
	}
	var ans protocol.SnapshotAnswer
	host, err := c.hostForPool(pool, hostID)
	if err == nil {
		err = c.sendStorage(host, protocol.CmdCreateSnapshot, protocol.SnapshotCommand{VM: vmName, SnapshotID: s.ID, Name: s.Name,
			Volume: volumeRef(v, pool), Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}}, &ans)
	}
	if err != nil {
		c.failSnapshot(s.ID, true)
		return nil, err
	}
	var policy *db.SnapshotPolicy
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		cur, err := db.GetSnapshot(c.Ctx, tx, s.ID)
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
			if err := c.chargeResources(tx, cur.AccountID, map[string]int64{db.ResSecondaryStorage: delta}); err != nil {
				return err
			}
		}
		cur.State, cur.PhysicalSize = db.SnapshotBackedUp, phys
		if err := db.UpdateSnapshot(c.Ctx, tx, cur); err != nil {
			return err
		}
		ref.InstallPath, ref.PhysicalSize, ref.State = ans.Path, phys, "Ready"
		if err := db.UpdateSnapshotStoreRef(c.Ctx, tx, ref); err != nil {
			return err
		}
		vol, err := db.GetVolume(c.Ctx, tx, cur.VolumeID)
		if err != nil {
			return err
		}
		if vol.State == db.VolumeSnapshotting {
			vol.State = db.VolumeReady
			if err := db.UpdateVolume(c.Ctx, tx, vol); err != nil {
				return err
			}
		}
		if cur.PolicyID != "" {
			if policy, err = db.GetSnapshotPolicy(c.Ctx, tx, cur.PolicyID); errors.Is(err, db.ErrNotFound) {
				policy, err = nil, nil
			}
		}
		return err
	})
	var limitErr *Error
	if errors.As(err, &limitErr) && limitErr.Code == CodeResourceLimit {
		if derr := c.sendStorage(host, protocol.CmdDeleteSnapshot, protocol.SnapshotCommand{SnapshotID: s.ID, Path: ans.Path,
			Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}}, nil); derr != nil {
			c.S.Log.Warn("delete the backup of a snapshot over the limit", "snapshot", s.ID, "err", derr)
		}
		c.failSnapshot(s.ID, true)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if policy != nil {
		c.pruneSnapshots(policy)
	}
	return c.snapshotObject(s.ID)
}

// failSnapshot removes a snapshot that could not be taken, gives back its counts and, if the
// volume was marked Snapshotting for it, makes the volume Ready again.
func (c *Call) failSnapshot(id string, volumeMarked bool) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		s, err := db.GetSnapshot(c.Ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if volumeMarked {
			if v, err := db.GetVolume(c.Ctx, tx, s.VolumeID); err == nil && v.State == db.VolumeSnapshotting {
				v.State = db.VolumeReady
				if err := db.UpdateVolume(c.Ctx, tx, v); err != nil {
					return err
				}
			}
		}
		return c.removeSnapshotTx(tx, s)
	})
	if err != nil {
		c.S.Log.Error("clean up a failed snapshot", "snapshot", id, "err", err)
	}
}

// removeSnapshotTx removes a snapshot row and its copies, gives back its counts and drops its tags.
func (c *Call) removeSnapshotTx(tx db.Tx, s *db.Snapshot) error {
	if err := db.RemoveSnapshot(c.Ctx, tx, s.ID, s.Version); err != nil {
		return err
	}
	if err := c.chargeResources(tx, s.AccountID, map[string]int64{db.ResSnapshot: -1, db.ResSecondaryStorage: -s.SecondaryBytes()}); err != nil {
		return err
	}
	return db.DeleteTagsOf(c.Ctx, tx, "Snapshot", s.ID)
}

// pruneSnapshots deletes a policy's oldest backed-up snapshots beyond its maxsnaps
// (CloudStack keeps maxsnaps of each volume and interval).
func (c *Call) pruneSnapshots(p *db.SnapshotPolicy) {
	list, _, err := db.ListSnapshots(c.Ctx, c.S.DB.SQL, db.SnapshotFilter{VolumeID: p.VolumeID, SnapshotType: db.SnapshotRecurring,
		IntervalType: snapshots.IntervalName(p.IntervalType), States: []string{db.SnapshotBackedUp}, OldestFirst: true})
	if err != nil {
		c.S.Log.Error("list snapshots to prune", "policy", p.ID, "err", err)
		return
	}
	for i := 0; i < len(list)-p.MaxSnaps; i++ {
		if err := c.deleteSnapshot(list[i].ID); err != nil {
			c.S.Log.Error("prune snapshot beyond maxsnaps", "policy", p.ID, "snapshot", list[i].ID, "err", err)
		}
	}
}

func (c *Call) checkSnapshotDeletable(s *db.Snapshot) error {
	switch s.State {
	case db.SnapshotBackedUp, db.SnapshotError, db.SnapshotAllocated:
		return nil
	}
	return ErrParam("Can't delete snapshot %s with state %s", s.ID, s.State)
}

func deleteSnapshotStart(c *Call) (any, error) {
	s, err := c.snapshotForCall(c.S.DB.Read(), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	if z := strings.ToLower(c.P.String("zoneid")); z != "" && z != s.ZoneID {
		return nil, ErrParam("Snapshot %s is not in zone %s", s.ID, z)
	}
	if err := c.checkSnapshotDeletable(s); err != nil {
		return nil, err
	}
	return c.StartJob("Snapshot", s.ID)
}

func deleteSnapshotJob(c *Call, j *db.Job) (any, error) {
	if err := c.deleteSnapshot(j.InstanceID); err != nil {
		return nil, err
	}
	return Success(), nil
}

// deleteSnapshot deletes a snapshot's backup (through an Up host of its zone, which reaches
// the zone's image stores) and then its rows. One already gone (a replay) is left alone.
func (c *Call) deleteSnapshot(id string) error {
	s, err := db.GetSnapshot(c.Ctx, c.S.DB.SQL, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.checkSnapshotDeletable(s); err != nil {
		return err
	}
	refs, err := db.ListSnapshotStoreRefs(c.Ctx, c.S.DB.SQL, s.ID)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if r.InstallPath == "" {
			continue
		}
		store, err := db.GetImageStore(c.Ctx, c.S.DB.SQL, r.StoreID)
		if err != nil {
			continue
		}
		host, err := db.UpHostForPool(c.Ctx, c.S.DB.Read(), &db.StoragePool{ZoneID: s.ZoneID})
		if err != nil {
			c.S.Log.Warn("no host to delete a snapshot backup; the file stays", "snapshot", s.ID, "store", store.ID)
			continue
		}
		if err := c.sendStorage(host, protocol.CmdDeleteSnapshot, protocol.SnapshotCommand{SnapshotID: s.ID, Path: r.InstallPath,
			Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}}, nil); err != nil {
			return err
		}
	}
	return c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		cur, err := db.GetSnapshot(c.Ctx, tx, s.ID)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := c.removeSnapshotTx(tx, cur); err != nil {
			return err
		}
		return c.Event(tx, evSnapshotDelete, "Deleting snapshot "+cur.Name, "Snapshot", cur.ID)
	})
}

// revertTarget validates revertSnapshot: a backed-up snapshot of a volume that still exists,
// is Ready, and is detached or attached to a stopped VM.
func (c *Call) revertTarget(q db.Querier) (*db.Snapshot, *db.Volume, error) {
	s, err := c.snapshotForCall(q, c.P.String("id"))
	if err != nil {
		return nil, nil, err
	}
	if s.State != db.SnapshotBackedUp {
		return nil, nil, ErrParam("Snapshot %s is %s; only a BackedUp snapshot can be reverted", s.ID, s.State)
	}
	v, err := db.GetVolume(c.Ctx, q, s.VolumeID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil, ErrParam("The volume of snapshot %s no longer exists", s.ID)
	}
	if err != nil {
		return nil, nil, err
	}
	if v.State != db.VolumeReady {
		return nil, nil, ErrParam("Volume %s is %s; it must be Ready to revert a snapshot onto it", v.Name, v.State)
	}
	if v.VMID != "" {
		vm, err := db.GetVM(c.Ctx, q, v.VMID)
		if err != nil {
			return nil, nil, err
		}
		if vm.State != db.VMStopped {
			return nil, nil, ErrParam("The VM the specified disk is attached to is not in the shutdown state.")
		}
	}
	return s, v, nil
}

func revertSnapshotStart(c *Call) (any, error) {
	s, _, err := c.revertTarget(c.S.DB.Read())
	if err != nil {
		return nil, err
	}
	return c.StartJob("Snapshot", s.ID)
}

func revertSnapshotJob(c *Call, j *db.Job) (any, error) {
	s, v, err := c.revertTarget(c.S.DB.SQL)
	if err != nil {
		return nil, err
	}
	pool, err := db.GetStoragePool(c.Ctx, c.S.DB.SQL, v.PoolID)
	if err != nil {
		return nil, err
	}
	refs, err := db.ListSnapshotStoreRefs(c.Ctx, c.S.DB.SQL, s.ID)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, ErrInternal("Snapshot %s has no backup to revert from", s.ID)
	}
	store, err := db.GetImageStore(c.Ctx, c.S.DB.SQL, refs[0].StoreID)
	if err != nil {
		return nil, err
	}
	host, err := c.hostForPool(pool, "")
	if err != nil {
		return nil, err
	}
	if err := c.sendStorage(host, protocol.CmdRevertSnapshot, protocol.SnapshotCommand{SnapshotID: s.ID, Path: refs[0].InstallPath,
		Volume: volumeRef(v, pool), Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}}, nil); err != nil {
		return nil, err
	}
	if err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		return c.Event(tx, evSnapshotRevert, "Reverting volume "+v.Name+" to snapshot "+s.Name, "Snapshot", s.ID)
	}); err != nil {
		return nil, err
	}
	return c.snapshotObject(s.ID)
}
