package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/snapshot"
	"github.com/atollcloud/atoll/mgmt/snapshots"
)

// maxSnapsPerInterval is CloudStack's default snapshot.max.hourly/daily/weekly/monthly.
const maxSnapsPerInterval = 8

func registerSnapshotPolicies(s *Server) {
	s.Reg.Add(&Command{Name: "createSnapshotPolicy", Response: snapshotPolicyResponse, Roles: AllRoles, ResponseKey: "snapshotpolicy",
		Description: "Creates a snapshot policy for the account, or updates the volume's policy of the same interval type.",
		Params: []Param{
			{Name: "volumeid", Type: TUUID, Required: true, Description: "the ID of the disk volume"},
			{Name: "intervaltype", Type: TString, Required: true, Description: "valid values are HOURLY, DAILY, WEEKLY, and MONTHLY"},
			{Name: "schedule", Type: TString, Required: true, Description: "time the snapshot is scheduled to be taken. Format is: * if HOURLY, MM * if DAILY, MM:HH * if WEEKLY, MM:HH:DD (1-7) * if MONTHLY, MM:HH:DD (1-28)"},
			{Name: "timezone", Type: TString, Required: true, Description: "Specifies a timezone for this command, e.g. UTC or Europe/Berlin"},
			{Name: "maxsnaps", Type: TInt, Required: true, Description: "maximum number of snapshots to retain"},
			{Name: "fordisplay", Type: TBool, Description: "an optional field, whether to the display the policy to the end user or not"},
			{Name: "tags", Type: TMap, Description: "Map of tags (key/value pairs) (not supported on policies)"},
			{Name: "zoneids", Type: TList, Elem: "uuid", Description: "other zones to copy snapshots to (not supported)"},
			{Name: "storageids", Type: TList, Elem: "uuid", Description: "storage pools to copy snapshots to (not supported)"},
			{Name: "usestoragereplication", Type: TBool, Description: "use storage replication (not supported)"},
		},
		Handler: createSnapshotPolicy})
	s.Reg.Add(&Command{Name: "updateSnapshotPolicy", Response: snapshotPolicyResponse, Roles: AllRoles, Async: true, ResponseKey: "snapshotpolicy",
		Description: "Updates the snapshot policy.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "the ID of the snapshot policy"},
			{Name: "fordisplay", Type: TBool, Description: "an optional field, whether to the display the snapshot policy to the end user or not."},
			{Name: "customid", Type: TString, Description: "an optional field, in case you want to set a custom id to the resource (not supported)"},
		},
		Handler: updateSnapshotPolicyStart, Job: updateSnapshotPolicyJob})
	s.Reg.Add(&Command{Name: "listSnapshotPolicies", Response: snapshotPolicyResponse, Roles: AllRoles, List: true, ResponseKey: "snapshotpolicy",
		Description: "Lists snapshot policies.",
		Params: withScope(
			Param{Name: "volumeid", Type: TUUID, Description: "the ID of the disk volume"},
			Param{Name: "id", Type: TUUID, Description: "the ID of the snapshot policy"},
			Param{Name: "fordisplay", Type: TBool, Description: "list resources by display flag"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (projects are not supported: refused)"},
		),
		Handler: listSnapshotPolicies})
	s.Reg.Add(&Command{Name: "deleteSnapshotPolicies", Response: successResponse, Roles: AllRoles, ResponseKey: "success",
		Description: "Deletes snapshot policies for the account.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "the Id of the snapshot policy"},
			{Name: "ids", Type: TList, Elem: "uuid", Description: "list of snapshots policy IDs separated by comma"},
		},
		Handler: deleteSnapshotPolicies})
}

func renderSnapshotPolicy(p *db.SnapshotPolicy) map[string]any {
	return map[string]any{
		"id": p.ID, "volumeid": p.VolumeID, "volumename": p.VolumeName, "intervaltype": p.IntervalType, "schedule": p.Schedule,
		"timezone": p.Timezone, "maxsnaps": p.MaxSnaps, "fordisplay": p.ForDisplay, "hasannotations": false, "tags": []any{},
		"zone": []any{}, "storage": []any{},
	}
}

func createSnapshotPolicy(c *Call) (any, error) {
	if err := c.unsupportedCopies(); err != nil {
		return nil, err
	}
	if len(c.P.Map("tags")) > 0 {
		return nil, ErrParam("Tags (tags) are not supported on snapshot policies")
	}
	interval, ok := snapshots.ParseInterval(c.P.String("intervaltype"))
	if !ok {
		return nil, ErrParam("Unsupported interval type %s: valid values are HOURLY, DAILY, WEEKLY and MONTHLY", c.P.String("intervaltype"))
	}
	schedule := strings.TrimSpace(c.P.String("schedule"))
	sc, err := snapshots.ParseSchedule(interval, schedule)
	if err != nil {
		return nil, ErrParam("Invalid schedule: %v", err)
	}
	tzName := strings.TrimSpace(c.P.String("timezone"))
	loc, err := snapshots.LoadTimezone(tzName)
	if err != nil {
		return nil, ErrParam("Invalid timezone %s", tzName)
	}
	maxSnaps, _ := c.P.Int("maxsnaps")
	if maxSnaps <= 0 {
		return nil, ErrParam("maxSnaps should be greater than 0")
	}
	if maxSnaps > maxSnapsPerInterval {
		return nil, ErrParam("maxSnaps exceeds limit: %d for interval type: %s", maxSnapsPerInterval, strings.ToLower(snapshots.IntervalName(interval)))
	}
	out, err := snapshot.CreatePolicy(c.Ctx, c.deps(), c.actor(), snapshot.PolicySpec{VolumeID: c.P.String("volumeid"), Interval: interval,
		ScheduleText: schedule, Schedule: sc, Timezone: tzName, Location: loc, MaxSnaps: maxSnaps, ForDisplay: volBoolParam(c, "fordisplay")})
	if err != nil {
		return nil, err
	}
	return Object{Key: "snapshotpolicy", Value: renderSnapshotPolicy(out)}, nil
}

func listSnapshotPolicies(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	if c.P.Has("volumeid") && !c.P.Has("account") && !c.P.Has("domainid") {
		// Asked for one volume: whatever of it the caller may see (cs_snapshot_policy asks
		// so for a volume an admin manages on someone's behalf).
		scope = c.VisibleScope()
	}
	f := db.SnapshotPolicyFilter{ID: strings.ToLower(c.P.String("id")), VolumeID: strings.ToLower(c.P.String("volumeid")), Scope: scope}
	if d, ok := c.P.Bool("fordisplay"); ok {
		f.ForDisplay = &d
	}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListSnapshotPolicies(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, p := range list {
		items = append(items, renderSnapshotPolicy(p))
	}
	return ListResult{Key: "snapshotpolicy", Items: items, Count: total}, nil
}

func updateSnapshotPolicyStart(c *Call) (any, error) {
	if c.P.String("id") == "" {
		return nil, ErrParam("Please specify the id of the snapshot policy to update")
	}
	if c.P.Has("customid") {
		return nil, Errorf(CodeUnsupported, CSServerAPI, "customid is not supported on snapshot policies")
	}
	jobID, id, err := snapshot.StartUpdatePolicy(c.Ctx, c.deps(), c.actor(), c.P.String("id"))
	return c.volJobStarted(jobID, id, err)
}

func updateSnapshotPolicyJob(c *Call, j *db.Job) (any, error) {
	out, err := snapshot.UpdatePolicy(c.Ctx, c.deps(), c.actor(), j.InstanceID, volBoolParam(c, "fordisplay"))
	if err != nil {
		return nil, err
	}
	return Object{Key: "snapshotpolicy", Value: renderSnapshotPolicy(out)}, nil
}

func deleteSnapshotPolicies(c *Call) (any, error) {
	var ids []string
	if id := c.P.String("id"); id != "" {
		ids = append(ids, id)
	}
	ids = append(ids, c.P.List("ids")...)
	if len(ids) == 0 {
		return nil, ErrParam("No policy id (or list of ids) specified.")
	}
	if err := snapshot.DeletePolicies(c.Ctx, c.deps(), c.actor(), ids); err != nil {
		return nil, err
	}
	return Success(), nil
}
