package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
)

// Volume commands: create, list and delete here; attach and detach in volumes_attach.go;
// resize and migrate in volumes_resize.go; pools, hosts and agent calls in volumes_storage.go.

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
	registerVolumeExtract(s)
	registerVolumeUpload(s)
	// The Volume taggable type is registered with the VMs (vms.go), which own the volumes table.
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
	if _, path, ok := volume.StoreLocation(v); ok {
		m["path"] = path // uploaded: its path on an image store
	} else {
		set(m, "path", v.Path)
	}
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

func createVolumeSpec(c *Call) volume.CreateSpec {
	return volume.CreateSpec{Name: strings.TrimSpace(c.P.String("name")), Account: c.P.String("account"),
		DomainID: strings.ToLower(c.P.String("domainid")), DiskOfferingID: strings.ToLower(c.P.String("diskofferingid")),
		SnapshotID: strings.ToLower(c.P.String("snapshotid")), ZoneID: strings.ToLower(c.P.String("zoneid")), Size: c.P.String("size"),
		MinIOPS: volIntParam(c, "miniops"), MaxIOPS: volIntParam(c, "maxiops"), VMID: c.P.String("virtualmachineid"),
		StorageID: c.P.String("storageid"), CustomID: c.P.String("customid"), DisplayVolume: volBoolParam(c, "displayvolume")}
}

func createVolumeStart(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	if c.P.Has("customid") && !c.Caller.IsRootAdmin() {
		return nil, ErrDenied("Only a root admin may set customid")
	}
	jobID, volID, err := volume.StartCreate(c.Ctx, c.deps(), c.actor(), createVolumeSpec(c))
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: volID}, nil
}

// createVolumeJob finishes createVolume: a volume from a snapshot is written to a pool of the
// zone; with virtualmachineid the volume is then attached.
func createVolumeJob(c *Call, j *db.Job) (any, error) {
	v, err := volume.Create(c.Ctx, c.deps(), c.actor(), j, createVolumeSpec(c))
	if err != nil {
		return nil, err
	}
	return c.volumeObject(v.ID)
}

func deleteVolume(c *Call) (any, error) {
	if err := volume.Delete(c.Ctx, c.deps(), c.actor(), c.P.String("id")); err != nil {
		return nil, err
	}
	return Success(), nil
}

// expungeVolumeRows is volume.ExpungeRows for this call (an account's cleanup).
func (c *Call) expungeVolumeRows(tx db.Tx, v *db.Volume, noLedgerOK bool) (*db.StoragePool, error) {
	return volume.ExpungeRows(c.Ctx, c.deps(), c.actor(), tx, v, noLedgerOK)
}

// dropVolumeFile is volume.DropFile for this call.
func (c *Call) dropVolumeFile(pool *db.StoragePool, v *db.Volume) {
	volume.DropFile(c.Ctx, c.deps(), pool, v)
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
	jobID, volID, err := volume.StartUpdate(c.Ctx, c.deps(), c.actor(), c.P.String("id"))
	return c.volJobStarted(jobID, volID, err)
}

func updateVolumeJob(c *Call, j *db.Job) (any, error) {
	spec := volume.UpdateSpec{Name: strings.TrimSpace(c.P.String("name")), DisplayVolume: volBoolParam(c, "displayvolume"),
		DeleteProtection: volBoolParam(c, "deleteprotection")}
	if err := volume.Update(c.Ctx, c.deps(), c.actor(), j.InstanceID, spec); err != nil {
		return nil, err
	}
	return c.volumeObject(j.InstanceID)
}
