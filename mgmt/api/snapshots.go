package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/snapshot"
)

// Volume snapshots: taken on a host that reaches the volume's pool and backed up to an image
// store of the zone (on the Simulator no bytes move), by mgmt/orchestrate/snapshot; createVolume
// from a snapshot is mgmt/orchestrate/volume's.

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
	jobID, s, err := snapshot.StartCreate(c.Ctx, c.deps(), c.actor(), snapshot.CreateSpec{VolumeID: c.P.String("volumeid"),
		PolicyID: c.P.String("policyid"), Name: strings.TrimSpace(c.P.String("name")), Tags: c.tagsParam()})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: s.ID}, nil
}

// createSnapshotJob takes the snapshot (snapshot.Create) and answers it.
func createSnapshotJob(c *Call, j *db.Job) (any, error) {
	s, err := snapshot.Create(c.Ctx, c.deps(), c.actor(), j.InstanceID)
	if err != nil {
		return nil, err
	}
	return c.snapshotObject(s.ID)
}

// checkSnapshotDeletable is snapshot.CheckDeletable (an account's cleanup).
func (c *Call) checkSnapshotDeletable(s *db.Snapshot) error { return snapshot.CheckDeletable(s) }

// deleteSnapshot is snapshot.Delete for this call (an account's cleanup).
func (c *Call) deleteSnapshot(id string) error {
	return snapshot.Delete(c.Ctx, c.deps(), c.actor(), id)
}

func deleteSnapshotStart(c *Call) (any, error) {
	jobID, id, err := snapshot.StartDelete(c.Ctx, c.deps(), c.actor(), c.P.String("id"), strings.ToLower(c.P.String("zoneid")))
	return c.volJobStarted(jobID, id, err)
}

func deleteSnapshotJob(c *Call, j *db.Job) (any, error) {
	if err := c.deleteSnapshot(j.InstanceID); err != nil {
		return nil, err
	}
	return Success(), nil
}

func revertSnapshotStart(c *Call) (any, error) {
	jobID, id, err := snapshot.StartRevert(c.Ctx, c.deps(), c.actor(), c.P.String("id"))
	return c.volJobStarted(jobID, id, err)
}

func revertSnapshotJob(c *Call, j *db.Job) (any, error) {
	s, err := snapshot.Revert(c.Ctx, c.deps(), c.actor(), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	return c.snapshotObject(s.ID)
}
