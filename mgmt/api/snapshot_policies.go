package api

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/snapshots"
	"github.com/google/uuid"
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
	var out *db.SnapshotPolicy
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := c.volumeForCall(tx, c.P.String("volumeid"))
		if err != nil {
			return err
		}
		if v.State != db.VolumeReady {
			return ErrParam("VolumeId: %s is not in %s state but %s. Cannot take snapshot.", v.ID, db.VolumeReady, v.State)
		}
		next := sc.Next(time.Now(), loc).UnixMilli()
		p, err := db.GetSnapshotPolicyFor(c.Ctx, tx, v.ID, interval)
		switch {
		case errors.Is(err, db.ErrNotFound):
			p = &db.SnapshotPolicy{ID: uuid.NewString(), VolumeID: v.ID, AccountID: v.AccountID, DomainID: v.DomainID, IntervalType: interval,
				Schedule: schedule, Timezone: tzName, MaxSnaps: maxSnaps, ForDisplay: true, Active: true, NextRun: next, Created: db.Now()}
			if d, ok := c.P.Bool("fordisplay"); ok {
				p.ForDisplay = d
			}
			if err := db.InsertSnapshotPolicy(c.Ctx, tx, p); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			// CloudStack updates the volume's policy of the same interval instead of adding one.
			if p.Schedule != schedule || p.Timezone != tzName {
				p.NextRun = next
			}
			p.Schedule, p.Timezone, p.MaxSnaps, p.Active = schedule, tzName, maxSnaps, true
			if d, ok := c.P.Bool("fordisplay"); ok {
				p.ForDisplay = d
			}
			if err := db.UpdateSnapshotPolicy(c.Ctx, tx, p); err != nil {
				return err
			}
		}
		if err := c.Event(tx, "SNAPSHOTPOLICY.CREATE", "Snapshot policy "+snapshots.IntervalName(interval)+" on volume "+v.Name, "SnapshotPolicy", p.ID); err != nil {
			return err
		}
		out, err = db.GetSnapshotPolicy(c.Ctx, tx, p.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return Object{Key: "snapshotpolicy", Value: renderSnapshotPolicy(out)}, nil
}

// snapshotPolicyForCall loads a policy the caller may act on.
func (c *Call) snapshotPolicyForCall(q db.Querier, id string) (*db.SnapshotPolicy, error) {
	p, err := db.GetSnapshotPolicy(c.Ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find snapshot policy with id %s", id)
	}
	if err != nil {
		return nil, err
	}
	if err := c.checkOwnerAccess(q, id, p.AccountID, p.DomainID); err != nil {
		return nil, err
	}
	return p, nil
}

func updateSnapshotPolicyStart(c *Call) (any, error) {
	if c.P.String("id") == "" {
		return nil, ErrParam("Please specify the id of the snapshot policy to update")
	}
	if c.P.Has("customid") {
		return nil, Errorf(CodeUnsupported, CSServerAPI, "customid is not supported on snapshot policies")
	}
	p, err := c.snapshotPolicyForCall(c.S.DB.Read(), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	return c.StartJob("SnapshotPolicy", p.ID)
}

func updateSnapshotPolicyJob(c *Call, j *db.Job) (any, error) {
	var out *db.SnapshotPolicy
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		p, err := c.snapshotPolicyForCall(tx, j.InstanceID)
		if err != nil {
			return err
		}
		if d, ok := c.P.Bool("fordisplay"); ok && d != p.ForDisplay {
			p.ForDisplay = d
			if err := db.UpdateSnapshotPolicy(c.Ctx, tx, p); err != nil {
				return err
			}
		}
		out, err = db.GetSnapshotPolicy(c.Ctx, tx, p.ID)
		return err
	})
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

func deleteSnapshotPolicies(c *Call) (any, error) {
	var ids []string
	if id := c.P.String("id"); id != "" {
		ids = append(ids, id)
	}
	ids = append(ids, c.P.List("ids")...)
	if len(ids) == 0 {
		return nil, ErrParam("No policy id (or list of ids) specified.")
	}
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		for _, id := range ids {
			p, err := c.snapshotPolicyForCall(tx, id)
			if err != nil {
				return err
			}
			if err := db.RemoveSnapshotPolicy(c.Ctx, tx, p.ID); err != nil {
				return err
			}
			if err := c.Event(tx, "SNAPSHOTPOLICY.DELETE", "Deleting snapshot policy "+p.ID, "SnapshotPolicy", p.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}

// FireSnapshotPolicy is the snapshot scheduler's FireFunc: in one transaction it moves the
// policy to its next run and records the snapshot and its createSnapshot job, run as a user
// of the volume's owner. A volume that cannot be snapshotted now (not Ready, a snapshot
// limit reached) only moves the policy on, as CloudStack skips that run.
func (s *Server) FireSnapshotPolicy(ctx context.Context, p *db.SnapshotPolicy, ran time.Time, next int64) error {
	users, _, err := db.ListUsers(ctx, s.DB.Read(), db.UserFilter{AccountIDs: []string{p.AccountID}, State: "enabled", Limit: 1})
	if err != nil {
		return err
	}
	if len(users) == 0 {
		if users, _, err = db.ListUsers(ctx, s.DB.Read(), db.UserFilter{AccountIDs: []string{p.AccountID}, Limit: 1}); err != nil {
			return err
		}
	}
	if len(users) == 0 {
		return s.markPolicyOnly(ctx, p, ran, next, "the volume's account has no user")
	}
	c := &Call{Ctx: ctx, S: s, Cmd: s.Reg.Get("createSnapshot"), Caller: &iam.Caller{User: users[0]},
		P: Params{"volumeid": p.VolumeID, "policyid": p.ID}}
	err = s.DB.Transaction(ctx, func(tx db.Tx) error {
		if err := policyUnchanged(ctx, tx, p); err != nil {
			return err
		}
		v, err := db.GetVolume(ctx, tx, p.VolumeID)
		if errors.Is(err, db.ErrNotFound) {
			return errVolumeGone
		}
		if err != nil {
			return err
		}
		_, jobID, err := c.newSnapshot(tx, v, p, "")
		if err != nil {
			return err
		}
		return db.MarkSnapshotPolicyRun(ctx, tx, p, ran.UnixMilli(), next, jobID)
	})
	var apiErr *Error
	switch {
	case err == nil:
		s.Jobs.Wake()
		return nil
	case errors.Is(err, errPolicyFired):
		return db.ErrConflict
	case errors.Is(err, errVolumeGone):
		// The volume is gone (expunged with its VM): so is its policy.
		s.Log.Info("snapshot policy of a removed volume dropped", "policy", p.ID, "volume", p.VolumeID)
		return s.DB.Transaction(ctx, func(tx db.Tx) error { return db.RemoveSnapshotPolicy(ctx, tx, p.ID) })
	case errors.As(err, &apiErr):
		return s.markPolicyOnly(ctx, p, ran, next, err.Error())
	}
	return err
}

func (s *Server) markPolicyOnly(ctx context.Context, p *db.SnapshotPolicy, ran time.Time, next int64, why string) error {
	s.Log.Warn("scheduled snapshot skipped", "policy", p.ID, "volume", p.VolumeID, "reason", why,
		"next", time.UnixMilli(next).UTC().Format(time.RFC3339))
	err := s.DB.Transaction(ctx, func(tx db.Tx) error {
		if err := policyUnchanged(ctx, tx, p); err != nil {
			return err
		}
		return db.MarkSnapshotPolicyRun(ctx, tx, p, ran.UnixMilli(), next, "")
	})
	if errors.Is(err, errPolicyFired) {
		return db.ErrConflict
	}
	return err
}

// errVolumeGone: the policy's volume was removed.
var errVolumeGone = errors.New("the policy's volume is gone")

// errPolicyFired: the policy changed since the scheduler read it (another server fired this
// run, or its owner changed it); not retried.
var errPolicyFired = errors.New("snapshot policy changed since it was found due")

func policyUnchanged(ctx context.Context, tx db.Tx, p *db.SnapshotPolicy) error {
	cur, err := db.GetSnapshotPolicy(ctx, tx, p.ID)
	if errors.Is(err, db.ErrNotFound) || err == nil && cur.Version != p.Version {
		return errPolicyFired
	}
	return err
}
