package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/jobs"
	"github.com/google/uuid"
)

// SimulatorDownloadTime is how long a simulated template or ISO download takes from 0 to
// 100%; tests shorten it.
var SimulatorDownloadTime = 2 * time.Second

// downloadStep is how often a download job records progress.
const downloadStep = 200 * time.Millisecond

// SimulatedTemplateSize is the virtual size a simulated download reports, as CloudStack's
// simulator reports one for every template; SimulatedTemplatePhysical is its size on disk.
const (
	SimulatedTemplateSize     = 2 << 30
	SimulatedTemplatePhysical = 512 << 20
	downloadJobCmd            = "templateDownload" // the internal job that downloads a template's copies
	errRealDownload           = "Downloading into an image store that is not simulated is not implemented yet: only Simulator zones can download templates and ISOs"
)

func registerTemplateDownloads(s *Server) {
	if s.Jobs != nil {
		s.Jobs.Handle(downloadJobCmd, s.downloadJob)
	}
}

// enqueueDownload writes, in the caller's transaction, the job that downloads a template's
// copies still in progress.
func (c *Call) enqueueDownload(q db.Querier, templateID string) (string, error) {
	u := c.Caller.User
	id := uuid.NewString()
	err := db.InsertJob(c.Ctx, q, &db.Job{ID: id, Cmd: downloadJobCmd, Params: "{}", UserID: u.ID, AccountID: u.AccountID, DomainID: u.DomainID,
		InstanceType: "Template", InstanceID: templateID, Created: db.Now()})
	return id, err
}

// downloadJob brings a template's copies to DOWNLOADED. A simulated copy's progress follows
// the clock from its start, so a job taken over by another server carries on where it was; a
// copy in a real image store fails, as real downloads are not implemented yet.
func (s *Server) downloadJob(ctx context.Context, j *db.Job) jobs.Outcome {
	u, err := db.GetUser(ctx, s.DB.Read(), j.UserID)
	if err != nil {
		return jobs.Failure(CodeInternal, "the user who registered the template no longer exists")
	}
	c := &Call{Ctx: ctx, S: s, Caller: &iam.Caller{User: u}}
	for {
		pending, err := c.advanceDownloads(j.InstanceID)
		if err != nil {
			e := s.asAPIError(downloadJobCmd, err) // logs an unexpected error; never its text
			return jobs.Failure(e.Code, e.Text)
		}
		if !pending {
			return jobs.Outcome{Status: db.JobSucceeded, Result: `{"success":true}`}
		}
		select {
		case <-ctx.Done():
			return jobs.Failure(CodeInternal, "download interrupted: "+ctx.Err().Error())
		case <-time.After(downloadStep):
		}
	}
}

// advanceDownloads moves each copy of a template still downloading forward and reports
// whether any is still in progress.
func (c *Call) advanceDownloads(templateID string) (bool, error) {
	pending := false
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		pending = false
		t, err := db.GetTemplate(c.Ctx, tx, templateID)
		if errors.Is(err, db.ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		copies, err := db.ListTemplateCopies(c.Ctx, tx, templateID, "")
		if err != nil {
			return err
		}
		now := db.Now()
		for _, cp := range copies {
			switch {
			case cp.DownloadState == db.DownloadNotStarted && !cp.Simulated:
				cp.DownloadState, cp.ErrorStr = db.DownloadError, errRealDownload
			case cp.DownloadState != db.DownloadInProgress:
				continue
			default:
				pct := 100
				if cp.DownloadMS > 0 {
					pct = int(min(100, (now-cp.DownloadStarted)*100/cp.DownloadMS))
				}
				if pct < 100 {
					pending = true
					if pct == cp.DownloadPct {
						continue
					}
					cp.DownloadPct = pct
					break
				}
				size, phys := t.Size, t.PhysicalSize
				if size == 0 {
					size, phys = SimulatedTemplateSize, SimulatedTemplatePhysical
				}
				// Secondary storage is counted as each copy lands, as CloudStack does; a copy
				// that would pass the owner's limit fails instead, so the count stays what
				// updateResourceCount finds.
				if t.AccountID != "" {
					err := c.chargeResources(tx, t.AccountID, map[string]int64{db.ResSecondaryStorage: phys})
					var e *Error
					if errors.As(err, &e) && e.Code == CodeResourceLimit {
						cp.DownloadState, cp.ErrorStr = db.DownloadError, e.Text
						break
					}
					if err != nil {
						return err
					}
				}
				cp.DownloadState, cp.DownloadPct, cp.Size, cp.PhysicalSize = db.DownloadDone, 100, size, phys
				cp.InstallPath = fmt.Sprintf("template/tmpl/%s/%s/%s.%s", t.AccountID, t.ID, t.ID, lowerFormat(t.Format))
				if t.Size == 0 {
					t.Size, t.PhysicalSize = size, phys
					if err := db.UpdateTemplate(c.Ctx, tx, t); err != nil {
						return err
					}
					t.Version++
				}
			}
			if err := db.UpdateTemplateCopy(c.Ctx, tx, cp); err != nil {
				return err
			}
		}
		return nil
	})
	return pending, err
}

func lowerFormat(f string) string {
	b := []byte(f)
	for i, ch := range b {
		if ch >= 'A' && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}

// ensureBuiltinTemplate makes the Simulator's built-in template ready in every image store of
// every Simulator zone that lacks it (stores added since it last ran).
func (c *Call) ensureBuiltinTemplate() error {
	missing, err := builtinMissing(c, c.S.DB.Read())
	if err != nil || len(missing) == 0 {
		return err
	}
	return c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		stores, err := builtinMissing(c, tx)
		if err != nil {
			return err
		}
		now := db.Now()
		for _, st := range stores {
			err := db.InsertTemplateCopy(c.Ctx, tx, &db.TemplateCopy{ID: uuid.NewString(), TemplateID: db.SimulatorTemplateID, StoreID: st.ID,
				ZoneID: st.ZoneID, DownloadState: db.DownloadDone, DownloadPct: 100, Size: SimulatedTemplateSize, PhysicalSize: SimulatedTemplateSize,
				InstallPath: "template/tmpl/1/111/" + db.SimulatorTemplateID + ".vhd", Simulated: true, DownloadStarted: now, Created: now})
			if err != nil {
				return err
			}
		}
		t, err := db.GetTemplate(c.Ctx, tx, db.SimulatorTemplateID)
		if err != nil || t.OSTypeID != "" {
			return err
		}
		// CloudStack's simulator template is CentOS 5.3 (64-bit) when the catalogue has it.
		if o, err := db.GetOSTypeByDescription(c.Ctx, tx, "CentOS 5.3 (64-bit)"); err == nil {
			t.OSTypeID = o.ID
			return db.UpdateTemplate(c.Ctx, tx, t)
		}
		return nil
	})
}

func builtinMissing(c *Call, q db.Querier) ([]*db.ImageStore, error) {
	if _, err := db.GetTemplate(c.Ctx, q, db.SimulatorTemplateID); errors.Is(err, db.ErrNotFound) {
		return nil, nil // an admin deleted it
	} else if err != nil {
		return nil, err
	}
	zones, err := db.SimulatorZones(c.Ctx, q)
	if err != nil {
		return nil, err
	}
	return db.StoresMissingTemplate(c.Ctx, q, db.SimulatorTemplateID, zones, true)
}
