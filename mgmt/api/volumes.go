package api

import (
	"errors"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

// Volume commands: create, list and delete here; attach and detach in volumes_attach.go;
// resize and migrate in volumes_resize.go; pools, hosts and agent calls in volumes_storage.go.

// Event types (CloudStack's EventTypes).
const (
	evVolumeCreate  = "VOLUME.CREATE"
	evVolumeDelete  = "VOLUME.DELETE"
	evVolumeAttach  = "VOLUME.ATTACH"
	evVolumeDetach  = "VOLUME.DETACH"
	evVolumeResize  = "VOLUME.RESIZE"
	evVolumeMigrate = "VOLUME.MIGRATE"
)

// CloudStack's defaults for custom.diskoffering.size.min and .max (GiB).
const (
	customDiskMinGiB = 1
	customDiskMaxGiB = 1024
)

func registerVolumes(s *Server) {
	s.Reg.Add(&Command{Name: "createVolume", Response: volumeResponse, Roles: AllRoles, Async: true, ResponseKey: "volume",
		Description: "Creates a disk volume from a disk offering, or from a snapshot. This disk volume must still be attached to a virtual machine to make use of it.",
		Params: []Param{
			{Name: "name", Type: TString, Length: 255, Description: "the name of the disk volume"},
			{Name: "account", Type: TString, Description: "the account associated with the disk volume. Must be used with the domainId parameter."},
			{Name: "domainid", Type: TUUID, Description: "the domain ID associated with the disk offering"},
			{Name: "projectid", Type: TUUID, Description: "the project associated with the volume (projects are not supported)"},
			{Name: "diskofferingid", Type: TUUID, Description: "the ID of the disk offering. Either diskOfferingId or snapshotId must be passed in."},
			{Name: "size", Type: TLong, Description: "Arbitrary volume size (GiB), for a custom disk offering"},
			{Name: "miniops", Type: TLong, Description: "min iops"},
			{Name: "maxiops", Type: TLong, Description: "max iops"},
			{Name: "snapshotid", Type: TUUID, Description: "the snapshot ID for the disk volume. Either diskOfferingId or snapshotId must be passed in."},
			{Name: "zoneid", Type: TUUID, Description: "the ID of the availability zone"},
			{Name: "virtualmachineid", Type: TUUID, Description: "the ID of the virtual machine; to be used with snapshot Id, VM to which the volume gets attached after creation"},
			{Name: "displayvolume", Type: TBool, Description: "an optional field, whether to display the volume to the end user or not."},
			{Name: "storageid", Type: TUUID, Description: "Storage pool ID to create the volume in (root admin only)"},
			{Name: "customid", Type: TString, Description: "an optional field, in case you want to set a custom id to the resource. Allowed to Root Admins only"},
		},
		Handler: createVolumeStart, Job: createVolumeJob})
	s.Reg.Add(&Command{Name: "listVolumes", Response: volumeResponse, Roles: AllRoles, List: true, ResponseKey: "volume",
		Description: "Lists all volumes.",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "the ID of the disk volume"},
			Param{Name: "ids", Type: TList, Elem: "uuid", Description: "the IDs of the volumes, mutually exclusive with id"},
			Param{Name: "name", Type: TString, Description: "the name of the disk volume"},
			Param{Name: "type", Type: TString, Description: "the type of disk volume (ROOT or DATADISK)"},
			Param{Name: "virtualmachineid", Type: TUUID, Description: "the ID of the virtual machine"},
			Param{Name: "zoneid", Type: TUUID, Description: "the ID of the availability zone"},
			Param{Name: "podid", Type: TUUID, Description: "the pod id the disk volume belongs to"},
			Param{Name: "clusterid", Type: TUUID, Description: "the cluster id the disk volume belongs to"},
			Param{Name: "hostid", Type: TUUID, Description: "list volumes on specified host"},
			Param{Name: "storageid", Type: TString, Description: "the ID of the storage pool, available to ROOT admin only"},
			Param{Name: "diskofferingid", Type: TUUID, Description: "list volumes by disk offering"},
			Param{Name: "serviceofferingid", Type: TUUID, Description: "list volumes by disk offering of a service offering"},
			Param{Name: "state", Type: TString, Description: "state of the volume. Possible values are: Ready, Allocated, Destroy, Expunging, Expunged."},
			Param{Name: "displayvolume", Type: TBool, Description: "list resources by display flag; only ROOT admin is eligible to pass this parameter"},
			Param{Name: "listsystemvms", Type: TBool, Description: "list system VMs' volumes too (there are none)"},
			Param{Name: "isencrypted", Type: TBool, Description: "list only volumes that are encrypted (none are)"},
			Param{Name: "retrieveonlyresourcecount", Type: TBool, Description: "only the count"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (projects are not supported: refused)"},
			tagsListParam,
		),
		Handler: listVolumes})
	s.Reg.Add(&Command{Name: "deleteVolume", Response: successResponse, Roles: AllRoles, ResponseKey: "success",
		Description: "Deletes a detached disk volume.",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "The ID of the disk volume"}},
		Handler:     deleteVolume})
	s.Reg.Add(&Command{Name: "updateVolume", Response: volumeResponse, Roles: AllRoles, Async: true, ResponseKey: "volume",
		Description: "Updates the volume.",
		Params: []Param{{Name: "id", Type: TUUID, Description: "The ID of the disk volume"},
			{Name: "name", Type: TString, Length: 255, Description: "new name of the volume"},
			{Name: "displayvolume", Type: TBool, Description: "an optional field, whether to the display the volume to the end user or not. Allowed to Root Admins only"},
			{Name: "deleteprotection", Type: TBool, Description: "Set delete protection for the volume. If true, the volume will be protected from deletion."},
			{Name: "path", Type: TString, Description: "The path of the volume (refused: Atoll keeps the paths it made)"},
			{Name: "chaininfo", Type: TString, Description: "The chain info of the volume (refused)"},
			{Name: "storageid", Type: TUUID, Description: "Destination storage pool UUID for the volume (refused: use migrateVolume)"},
			{Name: "state", Type: TString, Description: "The state of the volume (refused: states move only through the volume's operations)"},
			{Name: "customid", Type: TString, Description: "an optional field, in case you want to set a custom id to the resource (refused)"}},
		Handler: updateVolumeStart, Job: updateVolumeJob})
	registerVolumeAttach(s)
	registerVolumeResize(s)
	// The Volume taggable type is registered with the VMs (vms.go), which own the volumes table.
}

// volumeForCall loads a volume the caller may act on.
func (c *Call) volumeForCall(q db.Querier, id string) (*db.Volume, error) {
	v, err := db.GetVolume(c.Ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find volume with ID %s", id)
	}
	if err != nil {
		return nil, err
	}
	if err := c.checkOwnerAccess(q, id, v.AccountID, v.DomainID); err != nil {
		return nil, err
	}
	return v, nil
}

// vmForVolume loads a VM (not destroyed) the caller may act on.
func (c *Call) vmForVolume(q db.Querier, id string) (*db.VM, error) {
	vm, err := db.GetVM(c.Ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) || err == nil && (vm.State == db.VMDestroyed || vm.State == db.VMExpunging || vm.State == db.VMExpunged) {
		return nil, ErrParam("Unable to find virtual machine with ID %s", id)
	}
	if err != nil {
		return nil, err
	}
	if err := c.checkOwnerAccess(q, id, vm.AccountID, vm.DomainID); err != nil {
		return nil, err
	}
	return vm, nil
}

// volumeRenderer renders volumes, loading each disk offering once.
type volumeRenderer struct {
	c         *Call
	offerings map[string]*db.DiskOffering
}

func (c *Call) volumeRenderer() *volumeRenderer {
	return &volumeRenderer{c: c, offerings: map[string]*db.DiskOffering{}}
}

func (r *volumeRenderer) offering(id string) *db.DiskOffering {
	if id == "" {
		return nil
	}
	if o, ok := r.offerings[id]; ok {
		return o
	}
	o, err := db.GetDiskOffering(r.c.Ctx, r.c.S.DB.Read(), id)
	if err != nil {
		o = nil
	}
	r.offerings[id] = o
	return o
}

// render gives CloudStack's VolumeResponse. "attached", "deviceid" and "virtualmachineid"
// are present only while the volume is attached (cs_volume tests for "attached").
func (r *volumeRenderer) render(v *db.Volume) map[string]any {
	m := map[string]any{
		"id": v.ID, "name": v.Name, "type": v.Type, "state": v.State, "size": v.Size, "virtualsize": v.Size,
		"zoneid": v.ZoneID, "zonename": v.ZoneName, "account": v.AccountName, "domainid": v.DomainID, "domain": v.DomainName,
		"domainpath": v.DomainPath, "created": FormatTime(v.Created), "destroyed": v.State == db.VolumeDestroy,
		"displayvolume": v.DisplayVolume, "isextractable": true, "quiescevm": false, "provisioningtype": v.ProvisioningType,
		"storagetype": "shared", "supportsstoragesnapshot": false, "hasannotations": false, "deleteprotection": v.DeleteProtection,
		"tags": []any{},
	}
	hv := v.HypervisorType
	if hv == "" {
		hv = "None"
	}
	m["hypervisor"] = hv
	if v.VMID != "" {
		m["virtualmachineid"] = v.VMID
		m["deviceid"] = v.DeviceID
		set(m, "vmname", v.VMName)
		set(m, "vmdisplayname", v.VMDisplayName)
		if v.VMDisplayName == "" {
			set(m, "vmdisplayname", v.VMName)
		}
		set(m, "vmstate", v.VMState)
		m["vmtype"] = "User"
		if v.Attached > 0 {
			m["attached"] = FormatTime(v.Attached)
		} else {
			m["attached"] = FormatTime(v.Created)
		}
	}
	if v.PoolID != "" {
		m["storageid"] = v.PoolID
		set(m, "storage", v.PoolName)
	}
	set(m, "podid", v.PodID)
	set(m, "path", v.Path)
	set(m, "templateid", v.TemplateID)
	set(m, "snapshotid", v.SnapshotID)
	if v.MinIOPS > 0 {
		m["miniops"] = v.MinIOPS
	}
	if v.MaxIOPS > 0 {
		m["maxiops"] = v.MaxIOPS
	}
	if o := r.offering(v.DiskOfferingID); o != nil {
		m["diskofferingid"], m["diskofferingname"], m["diskofferingdisplaytext"] = o.ID, o.Name, o.DisplayText
		if o.StorageType != "" {
			m["storagetype"] = o.StorageType
		}
	} else {
		set(m, "diskofferingid", v.DiskOfferingID)
	}
	return m
}

// volumeObject renders one volume by id, with its tags.
func (c *Call) volumeObject(id string) (any, error) {
	v, err := db.GetVolume(c.Ctx, c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	m := c.volumeRenderer().render(v)
	if err := c.attachTags("Volume", []string{v.ID}, []map[string]any{m}); err != nil {
		return nil, err
	}
	return Object{Key: "volume", Value: m}, nil
}

func listVolumes(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	if v, _ := c.P.Bool("isencrypted"); v {
		return ListResult{Key: "volume"}, nil
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	f := db.VolumeFilter{ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), Keyword: c.P.String("keyword"),
		VMID: strings.ToLower(c.P.String("virtualmachineid")), ZoneID: strings.ToLower(c.P.String("zoneid")),
		PodID: strings.ToLower(c.P.String("podid")), PoolID: c.P.String("storageid"), State: c.P.String("state"), Scope: scope}
	for _, id := range c.P.List("ids") {
		f.IDs = append(f.IDs, strings.ToLower(id))
	}
	if t := c.P.String("type"); t != "" {
		f.Type = strings.ToUpper(t)
	}
	if d, ok := c.P.Bool("displayvolume"); ok {
		if d {
			f.DisplayOnly = true
		} else {
			f.Extra = "o.display_volume = 0"
		}
	}
	var extra []string
	var extraArgs []any
	if f.Extra != "" {
		extra = append(extra, f.Extra)
	}
	if h := c.P.String("hostid"); h != "" {
		extra, extraArgs = append(extra, "o.vm_id IN (SELECT vh.id FROM vm_instances vh WHERE vh.host_id = ?)"), append(extraArgs, strings.ToLower(h))
	}
	if cl := c.P.String("clusterid"); cl != "" {
		extra, extraArgs = append(extra, "o.pool_id IN (SELECT sp.id FROM storage_pools sp WHERE sp.cluster_id = ?)"), append(extraArgs, strings.ToLower(cl))
	}
	if d := c.P.String("diskofferingid"); d != "" {
		extra, extraArgs = append(extra, "o.disk_offering_id = ?"), append(extraArgs, strings.ToLower(d))
	}
	if so := c.P.String("serviceofferingid"); so != "" {
		extra, extraArgs = append(extra, "o.vm_id IN (SELECT vs.id FROM vm_instances vs WHERE vs.service_offering_id = ?) AND o.volume_type = 'ROOT'"),
			append(extraArgs, strings.ToLower(so))
	}
	if clause, args := db.TagFilterClause("Volume", "o.id", c.tagsParam()); clause != "" {
		extra, extraArgs = append(extra, clause), append(extraArgs, args...)
	}
	f.Extra, f.ExtraArgs = strings.Join(extra, " AND "), extraArgs
	if only, _ := c.P.Bool("retrieveonlyresourcecount"); only {
		_, total, err := db.ListVolumes(c.Ctx, c.S.DB.Read(), db.VolumeFilter{ID: f.ID, IDs: f.IDs, Name: f.Name, Keyword: f.Keyword, Type: f.Type,
			VMID: f.VMID, ZoneID: f.ZoneID, PodID: f.PodID, PoolID: f.PoolID, State: f.State, DisplayOnly: f.DisplayOnly, Scope: f.Scope,
			Extra: f.Extra, ExtraArgs: f.ExtraArgs, Limit: 1})
		if err != nil {
			return nil, err
		}
		return Raw{"count": total}, nil
	}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListVolumes(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	r := c.volumeRenderer()
	items := make([]any, 0, len(list))
	maps := make([]map[string]any, 0, len(list))
	ids := make([]string, 0, len(list))
	for _, v := range list {
		m := r.render(v)
		items, maps, ids = append(items, m), append(maps, m), append(ids, v.ID)
	}
	if len(ids) > 0 {
		if err := c.attachTags("Volume", ids, maps); err != nil {
			return nil, err
		}
	}
	return ListResult{Key: "volume", Items: items, Count: total}, nil
}

// giBParam reads a size in GiB (CloudStack's size parameters) as bytes.
func (c *Call) giBParam(name string) (int64, bool, error) {
	s := c.P.String(name)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1<<30 {
		return 0, true, ErrParam("Invalid %s %s", name, s)
	}
	return n << 30, true, nil
}

// newVolumePlan is what createVolume validated, for its handler and its job.
type newVolumePlan struct {
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
func (c *Call) createIOPS(o *db.DiskOffering) (int64, int64, error) {
	if !o.CustomizedIOPS {
		return o.MinIOPS, o.MaxIOPS, nil
	}
	mn, hasMin := intParam(c, "miniops")
	mx, hasMax := intParam(c, "maxiops")
	if !hasMin && !hasMax {
		return 0, 0, nil
	}
	if mn <= 0 {
		return 0, 0, ErrParam("The min IOPS must be greater than 0.")
	}
	if mn > mx {
		return 0, 0, ErrParam("The min IOPS must be less than or equal to the max IOPS.")
	}
	return mn, mx, nil
}

func (c *Call) planNewVolume(q db.Querier) (*newVolumePlan, error) {
	p := &newVolumePlan{}
	var err error
	if p.owner, err = c.ownerForCreate(q); err != nil {
		return nil, err
	}
	offID, snapID := strings.ToLower(c.P.String("diskofferingid")), strings.ToLower(c.P.String("snapshotid"))
	if offID == "" && snapID == "" {
		return nil, ErrParam("At least one of disk Offering ID or snapshot ID must be passed whilst creating volume")
	}
	size, sizeGiven, err := c.giBParam("size")
	if err != nil {
		return nil, err
	}
	zoneID := strings.ToLower(c.P.String("zoneid"))
	if snapID != "" {
		s, err := db.GetSnapshot(c.Ctx, q, snapID)
		if errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find a snapshot with id %s", snapID)
		}
		if err != nil {
			return nil, err
		}
		if err := c.checkOwnerAccess(q, snapID, s.AccountID, s.DomainID); err != nil {
			return nil, err
		}
		if s.State != db.SnapshotBackedUp {
			return nil, ErrParam("Snapshot id=%s is not in %s state yet and can't be used for volume creation", s.ID, db.SnapshotBackedUp)
		}
		// CloudStack takes an offering only with a ROOT disk's snapshot; the volume then has
		// the offering's size (never below the snapshot's). A snapshot alone gives its own
		// size and offering, and size is not read.
		if offID != "" && s.VolumeType != db.VolumeRoot {
			return nil, ErrParam("Disk Offering ID cannot be passed whilst creating volume from snapshot other than ROOT disk snapshots")
		}
		p.snapshot = s
		if zoneID != "" && zoneID != s.ZoneID {
			return nil, ErrParam("Snapshot %s is not in zone %s", s.ID, zoneID)
		}
		zoneID = s.ZoneID
		if offID == "" {
			p.size, offID = s.Size, s.DiskOfferingID
		}
	}
	if offID != "" {
		o, err := db.GetDiskOffering(c.Ctx, q, offID)
		if errors.Is(err, db.ErrNotFound) || err == nil && o.State != "" && o.State != "Active" {
			return nil, ErrParam("Unable to find disk offering by id %s", offID)
		}
		if err != nil {
			return nil, err
		}
		p.offering = o
		if p.snapshot == nil || c.P.String("diskofferingid") != "" {
			switch {
			case o.Customized && !sizeGiven:
				return nil, ErrParam("This disk offering requires a custom size specified")
			case o.Customized && (size < customDiskMinGiB<<30 || size > customDiskMaxGiB<<30):
				return nil, ErrParam("Volume size: %d GB is out of allowed range. Max: %d Min:%d", size>>30, customDiskMaxGiB, customDiskMinGiB)
			case o.Customized:
				p.size = size
			case sizeGiven && size != o.DiskSize && size != 0:
				return nil, ErrParam("This disk offering does not allow custom size")
			default:
				p.size = o.DiskSize
			}
			if p.minIOPS, p.maxIOPS, err = c.createIOPS(o); err != nil {
				return nil, err
			}
			if s := p.snapshot; s != nil && p.size < s.Size {
				return nil, ErrParam("Invalid size for volume creation: %dGB, snapshot size is: %dGB", p.size>>30, s.Size>>30)
			}
		}
		if len(o.DomainIDs) > 0 && !c.offeringInDomain(q, o.DomainIDs, p.owner.DomainID) {
			return nil, ErrDenied("Account %s does not have access to disk offering %s", p.owner.Name, o.ID)
		}
	}
	if vmID := c.P.String("virtualmachineid"); vmID != "" {
		if p.vm, err = c.vmForVolume(q, vmID); err != nil {
			return nil, err
		}
		if p.vm.AccountID != p.owner.ID {
			return nil, ErrParam("The VM %s does not belong to the owner of the new volume", p.vm.ID)
		}
		if zoneID == "" {
			zoneID = p.vm.ZoneID
		}
		if p.vm.ZoneID != zoneID {
			return nil, ErrParam("Please specify a VM that is in the same zone as the volume.")
		}
	}
	if zoneID == "" {
		return nil, ErrParam("Please specify a zone for the volume (zoneid)")
	}
	z, err := db.GetZone(c.Ctx, q, zoneID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find zone by id %s", zoneID)
	}
	if err != nil {
		return nil, err
	}
	if z.AllocationState == "Disabled" && !c.Caller.IsRootAdmin() {
		return nil, ErrDenied("Cannot perform this operation, Zone is currently disabled: %s", z.ID)
	}
	p.zone = z
	if p.offering != nil && len(p.offering.ZoneIDs) > 0 && !listHasFold(p.offering.ZoneIDs, z.ID) {
		return nil, ErrParam("Disk offering %s is not available in zone %s", p.offering.Name, z.Name)
	}
	if poolID := c.P.String("storageid"); poolID != "" {
		if !c.Caller.IsRootAdmin() {
			return nil, ErrDenied("Only a root admin may choose the storage pool of a volume")
		}
		pool, err := db.GetStoragePool(c.Ctx, q, strings.ToLower(poolID))
		if errors.Is(err, db.ErrNotFound) || err == nil && pool.ZoneID != z.ID {
			return nil, ErrParam("Unable to find storage pool %s in zone %s", poolID, z.Name)
		}
		if err != nil {
			return nil, err
		}
		p.pool = pool
	}
	if p.size <= 0 {
		return nil, ErrParam("Volume size must be greater than zero")
	}
	return p, nil
}

func listHasFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

// offeringInDomain reports whether domainID is one of ids or below one of them.
func (c *Call) offeringInDomain(q db.Querier, ids []string, domainID string) bool {
	d, err := db.GetDomain(c.Ctx, q, domainID)
	if err != nil {
		return false
	}
	for _, id := range ids {
		od, err := db.GetDomain(c.Ctx, q, id)
		if err == nil && (od.Path == d.Path || strings.HasPrefix(d.Path, od.Path+"/")) {
			return true
		}
	}
	return false
}

func createVolumeStart(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	if c.P.Has("customid") && !c.Caller.IsRootAdmin() {
		return nil, ErrDenied("Only a root admin may set customid")
	}
	var jobID, volID string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		p, err := c.planNewVolume(tx)
		if err != nil {
			return err
		}
		v := &db.Volume{ID: uuid.NewString(), Name: strings.TrimSpace(c.P.String("name")), AccountID: p.owner.ID, DomainID: p.owner.DomainID,
			ZoneID: p.zone.ID, Type: db.VolumeDataDisk, Size: p.size, State: db.VolumeAllocated, DisplayVolume: true, Created: db.Now()}
		if cid := c.P.String("customid"); cid != "" {
			v.ID = cid
		}
		if v.Name == "" {
			v.Name = "DATA-" + v.ID[:8]
		}
		if d, ok := c.P.Bool("displayvolume"); ok {
			v.DisplayVolume = d
		}
		if p.offering != nil {
			v.DiskOfferingID, v.ProvisioningType = p.offering.ID, p.offering.ProvisioningType
		}
		if p.snapshot != nil {
			v.SnapshotID, v.State = p.snapshot.ID, db.VolumeCreating
		}
		v.MinIOPS, v.MaxIOPS = p.minIOPS, p.maxIOPS
		if err := c.chargeResources(tx, v.AccountID, map[string]int64{db.ResVolume: 1, db.ResPrimaryStorage: v.Size}); err != nil {
			return err
		}
		if p.pool != nil && p.snapshot == nil {
			if err := c.reservePool(tx, p.pool, v.Size); err != nil {
				return err
			}
			v.PoolID, v.PodID, v.State, v.Path = p.pool.ID, p.pool.PodID, db.VolumeReady, v.ID
		}
		if err := db.InsertVolume(c.Ctx, tx, v); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("A volume with id %s already exists", v.ID)
			}
			return err
		}
		if err := c.Event(tx, evVolumeCreate, "Creating volume "+v.Name, "Volume", v.ID); err != nil {
			return err
		}
		volID = v.ID
		jobID, err = c.EnqueueJob(tx, "Volume", v.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: volID}, nil
}

// createVolumeJob finishes createVolume: a volume from a snapshot is written to a pool of the
// zone; with virtualmachineid the volume is then attached.
func createVolumeJob(c *Call, j *db.Job) (any, error) {
	v, err := db.GetVolume(c.Ctx, c.S.DB.SQL, j.InstanceID)
	if err != nil {
		return nil, ErrInternal("The volume %s being created is gone: %s", j.InstanceID, c.cause(err))
	}
	if v.SnapshotID != "" && v.State == db.VolumeCreating {
		if err := c.createVolumeFromSnapshot(v); err != nil {
			return nil, err
		}
	}
	if vmID := strings.ToLower(c.P.String("virtualmachineid")); vmID != "" {
		if _, err := c.attachVolume(v.ID, vmID, nil, j.Attempts > 1); err != nil {
			return nil, err
		}
	}
	return c.volumeObject(v.ID)
}

func deleteVolume(c *Call) (any, error) {
	var pool *db.StoragePool
	var gone *db.Volume
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := c.volumeForCall(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		if v.VMID != "" {
			return ErrParam("Please specify a volume that is not attached to any VM.")
		}
		if err := volumeDeleteProtected(v); err != nil {
			return err
		}
		switch v.State {
		case db.VolumeReady, db.VolumeAllocated, db.VolumeUploaded, db.VolumeDestroy, "Error":
		default:
			return ErrParam("Volume %s is %s; it can be deleted only when Ready, Allocated, Uploaded or Destroy", v.Name, v.State)
		}
		if n, err := db.CountVolumeSnapshots(c.Ctx, tx, v.ID, db.SnapshotAllocated, db.SnapshotCreating, db.SnapshotBackingUp); err != nil {
			return err
		} else if n > 0 {
			return ErrInUse("Volume %s has snapshots being taken; try again when they are done", v.Name)
		}
		if pool, err = c.expungeVolumeRows(tx, v, false); err != nil {
			return err
		}
		gone = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.dropVolumeFile(pool, gone)
	return Success(), nil
}

// expungeVolumeRows removes a detached volume in tx: its pool's ledger gives its bytes back,
// its account is uncharged (unless Destroy already did), and it is marked Expunged with its
// snapshot policies and tags gone and an event. It returns the volume's pool (nil when it has
// none or the pool is gone) for dropVolumeFile after the commit. With noLedgerOK a pool
// without its ledger row is passed over (an account's cleanup, after the pool's removal).
func (c *Call) expungeVolumeRows(tx db.Tx, v *db.Volume, noLedgerOK bool) (*db.StoragePool, error) {
	var pool *db.StoragePool
	if v.PoolID != "" {
		var err error
		if pool, err = db.GetStoragePool(c.Ctx, tx, v.PoolID); err != nil && !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
		if err := c.ledger().ReleaseStorage(c.Ctx, tx, v.PoolID, v.Size); err != nil && !(noLedgerOK && errors.Is(err, planner.ErrNoLedger)) {
			return nil, err
		}
	}
	if v.State != db.VolumeDestroy {
		if err := c.chargeResources(tx, v.AccountID, map[string]int64{db.ResVolume: -1, db.ResPrimaryStorage: -v.Size}); err != nil {
			return nil, err
		}
	}
	v.State, v.Removed = db.VolumeExpunged, db.Now()
	if err := db.UpdateVolume(c.Ctx, tx, v); err != nil {
		return nil, err
	}
	if err := db.RemoveVolumeSnapshotPolicies(c.Ctx, tx, v.ID); err != nil {
		return nil, err
	}
	if err := db.DeleteTagsOf(c.Ctx, tx, "Volume", v.ID); err != nil {
		return nil, err
	}
	return pool, c.Event(tx, evVolumeDelete, "Deleting volume "+v.Name, "Volume", v.ID)
}

// dropVolumeFile deletes an expunged volume's disk on its pool. It goes after the rows: a
// host that cannot be reached now leaves a file behind (logged), never a volume that is
// counted but unusable.
func (c *Call) dropVolumeFile(pool *db.StoragePool, v *db.Volume) {
	if pool == nil || v == nil {
		return
	}
	if err := c.volumeCommand(pool, "", protocol.CmdDeleteVolume, v, nil); err != nil {
		c.S.Log.Warn("delete volume on primary storage", "volume", v.ID, "pool", pool.ID, "err", err)
	}
}

// updateVolumeStart checks an updateVolume call and starts its job (async, as CloudStack's):
// it renames a volume, sets its delete protection and (root admin) whether it is displayed.
// CloudStack's database repairs for root admins (path, chaininfo, storageid, state) and custom
// ids are refused: Atoll's rows move only through the volume's operations.
func updateVolumeStart(c *Call) (any, error) {
	for _, k := range []string{"path", "chaininfo", "storageid", "state", "customid"} {
		if c.P.String(k) != "" {
			return nil, ErrParam("Parameter %s is not supported by updateVolume", k)
		}
	}
	if c.P.Has("displayvolume") && !c.Caller.IsRootAdmin() {
		return nil, ErrDenied("Parameter displayvolume can only be specified by a Root Admin, permission denied")
	}
	if c.P.String("id") == "" {
		return nil, ErrMissing(c.Cmd.Name, "id")
	}
	v, err := c.volumeForCall(c.S.DB.Read(), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	if err := updatableVolume(v); err != nil {
		return nil, err
	}
	return c.StartJob("Volume", v.ID)
}

func updatableVolume(v *db.Volume) error {
	if v.State == db.VolumeDestroy || v.State == db.VolumeExpunged {
		return ErrParam("Volume %s is %s and cannot be updated", v.Name, v.State)
	}
	return nil
}

func updateVolumeJob(c *Call, j *db.Job) (any, error) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := c.volumeForCall(tx, j.InstanceID)
		if err != nil {
			return err
		}
		if err := updatableVolume(v); err != nil {
			return err
		}
		if name := strings.TrimSpace(c.P.String("name")); name != "" {
			v.Name = name
		}
		if b, ok := c.P.Bool("displayvolume"); ok {
			v.DisplayVolume = b
		}
		if b, ok := c.P.Bool("deleteprotection"); ok {
			v.DeleteProtection = b
		}
		if err := db.UpdateVolume(c.Ctx, tx, v); err != nil {
			return err
		}
		return c.Event(tx, "VOLUME.UPDATE", "Updated volume "+v.Name, "Volume", v.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.volumeObject(j.InstanceID)
}
