package template

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/jobs"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// SimulatorDownloadTime is how long a simulated template or ISO download takes from 0 to
// 100%; tests shorten it.
var SimulatorDownloadTime = 2 * time.Second

// DownloadStep is how often a download job records progress.
const DownloadStep = 200 * time.Millisecond

// SimulatedTemplateSize is the virtual size a simulated download reports, as CloudStack's
// simulator reports one for every template; SimulatedTemplatePhysical is its size on disk.
const (
	SimulatedTemplateSize     = 2 << 30
	SimulatedTemplatePhysical = 512 << 20
)

// DownloadJobCmd is the internal job that downloads a template's copies (RunDownloadJob).
const DownloadJobCmd = "templateDownload"

// enqueueDownload writes, in the caller's transaction, the job that downloads a template's
// copies still in progress.
func enqueueDownload(ctx context.Context, q db.Querier, a orchestrate.Actor, templateID string) (string, error) {
	u := a.Caller.User
	id := uuid.NewString()
	err := db.InsertJob(ctx, q, &db.Job{ID: id, Cmd: DownloadJobCmd, Params: "{}", UserID: u.ID, AccountID: u.AccountID, DomainID: u.DomainID,
		InstanceType: "Template", InstanceID: templateID, Created: db.Now()})
	return id, err
}

// RunDownloadJob is the DownloadJobCmd job: it brings a template's copies to DOWNLOADED. A
// simulated copy's progress follows the clock from its start, so a job taken over by another
// server carries on where it was; a copy in a real image store is fetched by a host of its
// zone (see storeDownload).
func RunDownloadJob(ctx context.Context, d *orchestrate.Deps, j *db.Job) jobs.Outcome {
	if _, err := db.GetUser(ctx, d.DB.Read(), j.UserID); err != nil {
		return jobs.Failure(orchestrate.CodeInternal, "the user who registered the template no longer exists")
	}
	for {
		pending, err := Advance(ctx, d, j.InstanceID)
		if err != nil {
			return failure(d, err) // logs an unexpected error; never its text
		}
		if !pending {
			return jobs.Outcome{Status: db.JobSucceeded, Result: `{"success":true}`}
		}
		select {
		case <-ctx.Done():
			return jobs.Failure(orchestrate.CodeInternal, "download interrupted: "+ctx.Err().Error())
		case <-time.After(DownloadStep):
		}
	}
}

// failure is a failed job's outcome: an Error as it is; anything else is logged and answered
// with CloudStack's generic words, as the API answers it.
func failure(d *orchestrate.Deps, err error) jobs.Outcome {
	var e *orchestrate.Error
	if errors.As(err, &e) {
		return jobs.Failure(e.Code, e.Text)
	}
	if d.Log != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			d.Log.Warn("command cancelled", "command", DownloadJobCmd, "err", err)
		} else {
			d.Log.Error("command failed", "command", DownloadJobCmd, "err", err)
		}
	}
	return jobs.Failure(orchestrate.CodeInternal, orchestrate.InternalErrorText)
}

// Wait advances a template's downloads until none is in progress (the jobs of copyTemplate
// and createTemplate wait for their copies this way).
func Wait(ctx context.Context, d *orchestrate.Deps, templateID string) error {
	for {
		pending, err := Advance(ctx, d, templateID)
		if err != nil {
			return err
		}
		if !pending {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(DownloadStep):
		}
	}
}

// Progress is where one copy's download stands after a step.
type Progress struct {
	Pct          int    // percent done, while in progress
	Done         bool   // the image is in its store
	Size         int64  // when done: the image's virtual size
	PhysicalSize int64  // when done: its size in the store
	InstallPath  string // when done: its path in the store
	Err          string // the download failed: why
}

// downloading reports whether a copy still has download steps to take.
func downloading(cp *db.TemplateCopy) bool {
	return cp.DownloadState == db.DownloadInProgress || cp.DownloadState == db.DownloadNotStarted && !cp.Simulated
}

// Advance takes a download step for each copy of a template still downloading, records
// where each stands and reports whether any is still in progress. The steps run outside any
// transaction (a real one talks to an agent); what they answer is recorded in one, for the
// copies that did not change meanwhile.
func Advance(ctx context.Context, d *orchestrate.Deps, templateID string) (bool, error) {
	q := d.DB.Read()
	t, err := db.GetTemplate(ctx, q, templateID)
	if errors.Is(err, db.ErrNotFound) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	copies, err := db.ListTemplateCopies(ctx, q, templateID, "")
	if err != nil {
		return false, err
	}
	type step struct {
		version int64
		p       Progress
	}
	steps := map[string]step{}
	now := db.Now()
	for _, cp := range copies {
		if !downloading(cp) {
			continue
		}
		p, err := download(ctx, d, t, cp, now)
		if err != nil {
			return false, err
		}
		steps[cp.ID] = step{cp.Version, p}
	}
	if len(steps) == 0 {
		return false, nil
	}
	pending := false
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		pending = false
		t, err := db.GetTemplate(ctx, tx, templateID)
		if errors.Is(err, db.ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		copies, err := db.ListTemplateCopies(ctx, tx, templateID, "")
		if err != nil {
			return err
		}
		for _, cp := range copies {
			s, ok := steps[cp.ID]
			if !ok || s.version != cp.Version {
				// Added or changed since its step: the next pass steps it.
				pending = pending || downloading(cp)
				continue
			}
			more, err := record(ctx, d, tx, t, cp, s.p)
			if err != nil {
				return err
			}
			pending = pending || more
		}
		return nil
	})
	return pending, err
}

// record writes a copy's progress in tx and reports whether it is still in progress. A copy
// that lands is counted against its owner's secondary storage, as CloudStack counts each
// copy as it lands; one that would pass the owner's limit fails instead, so the count stays
// what updateResourceCount finds.
func record(ctx context.Context, d *orchestrate.Deps, tx db.Tx, t *db.Template, cp *db.TemplateCopy, p Progress) (bool, error) {
	pending := false
	switch {
	case p.Err != "":
		cp.DownloadState, cp.ErrorStr = db.DownloadError, p.Err
	case !p.Done:
		pending = true
		if p.Pct == cp.DownloadPct && cp.DownloadState == db.DownloadInProgress {
			return pending, nil
		}
		cp.DownloadState, cp.DownloadPct = db.DownloadInProgress, p.Pct
	default:
		if t.AccountID != "" {
			err := d.ChargeResources(ctx, tx, t.AccountID, map[string]int64{db.ResSecondaryStorage: p.PhysicalSize})
			var e *orchestrate.Error
			if errors.As(err, &e) && e.Code == orchestrate.CodeResourceLimit {
				cp.DownloadState, cp.ErrorStr = db.DownloadError, e.Text
				return pending, db.UpdateTemplateCopy(ctx, tx, cp)
			}
			if err != nil {
				return pending, err
			}
		}
		cp.DownloadState, cp.DownloadPct, cp.Size, cp.PhysicalSize = db.DownloadDone, 100, p.Size, p.PhysicalSize
		cp.InstallPath = p.InstallPath
		if t.Size == 0 {
			t.Size, t.PhysicalSize = p.Size, p.PhysicalSize
			if err := db.UpdateTemplate(ctx, tx, t); err != nil {
				return pending, err
			}
			t.Version++
		}
	}
	return pending, db.UpdateTemplateCopy(ctx, tx, cp)
}

// download takes one step of a copy's download, outside any transaction, and says where it
// stands: a simulated copy follows the clock, any other goes to storeDownload.
func download(ctx context.Context, d *orchestrate.Deps, t *db.Template, cp *db.TemplateCopy, now int64) (Progress, error) {
	if cp.DownloadState == db.DownloadInProgress && cp.Simulated {
		return simulateDownload(t, cp, now), nil
	}
	return storeDownload(ctx, d, t, cp)
}

// storeDownload is the download step of a copy in a real image store: a host of the zone
// fetches the image into the store (CloudStack's DownloadCommand, which its secondary storage
// VM runs). The first step starts the download; the next ones, the same command again, poll
// where it stands. A zone with no host Up to do it fails the copy.
func storeDownload(ctx context.Context, d *orchestrate.Deps, t *db.Template, cp *db.TemplateCopy) (Progress, error) {
	q := d.DB.Read()
	store, err := db.GetImageStore(ctx, q, cp.StoreID)
	if errors.Is(err, db.ErrNotFound) {
		return Progress{Err: "the image store of this copy no longer exists"}, nil
	}
	if err != nil {
		return Progress{}, err
	}
	host, err := downloadHost(ctx, q, cp.ZoneID)
	if err != nil {
		return Progress{}, err
	}
	if host == nil {
		return Progress{Err: "No host in the zone is Up to download it into its image store"}, nil
	}
	if d.Agents == nil {
		return Progress{}, orchestrate.ErrInternal("the agents manager is not running on this management server")
	}
	if t.URL == "" {
		// A copy into a real zone is fetched from the template's URL, as its registration
		// was; one made from a volume, a snapshot or an upload has none.
		return Progress{Err: fmt.Sprintf("%s has no URL to download it from: copying an image made from a volume, a snapshot or an upload into a zone with real hosts is not supported yet", t.Name)}, nil
	}
	path := installPath(t)
	cmd := protocol.DownloadTemplate{ID: cp.ID, URL: t.URL, Checksum: t.Checksum, Format: t.Format,
		Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}, Path: path}
	sctx, cancel := context.WithTimeout(ctx, downloadCommandTimeout)
	defer cancel()
	ans, err := d.Agents.Send(sctx, host.ID, protocol.CmdDownloadTemplate, cmd)
	if err != nil {
		// The host could not be reached this time: the next step asks again (on the same
		// host while it is Up, which still has the download running).
		d.Log.Warn("template download step", "template", t.ID, "host", host.ID, "err", err)
		return Progress{Pct: cp.DownloadPct}, nil
	}
	if !ans.OK {
		return Progress{Err: ans.Error}, nil
	}
	var st protocol.DownloadStatus
	if err := json.Unmarshal(ans.Body, &st); err != nil {
		return Progress{}, fmt.Errorf("template %s: download status from host %s: %w", t.ID, host.ID, err)
	}
	switch st.State {
	case protocol.DownloadDone:
		return Progress{Done: true, Size: st.Size, PhysicalSize: st.PhysicalSize, InstallPath: path}, nil
	case protocol.DownloadError:
		return Progress{Err: st.Error}, nil
	}
	return Progress{Pct: st.Pct}, nil
}

// downloadCommandTimeout bounds one download step's command (the download itself runs on).
const downloadCommandTimeout = 30 * time.Second

// installPath is where a template's file lives on a store, as CloudStack lays them out:
// template/tmpl/<account>/<template>/<template>.<ext>.
func installPath(t *db.Template) string {
	return fmt.Sprintf("template/tmpl/%s/%s/%s.%s", t.AccountID, t.ID, t.ID, FileExtension(t.Format))
}

// downloadHost picks the host that downloads into a zone's stores: the first real host Up
// (by creation, so that every step of a download asks the same one).
func downloadHost(ctx context.Context, q db.Querier, zoneID string) (*db.Host, error) {
	hosts, _, err := db.ListHosts(ctx, q, db.HostFilter{ZoneID: zoneID, Status: "Up"})
	if err != nil {
		return nil, err
	}
	for _, h := range hosts {
		if !strings.EqualFold(h.HypervisorType, "Simulator") && h.Type == db.HostTypeRouting {
			return h, nil
		}
	}
	return nil, nil
}

// simulateDownload is the download step of a simulated copy: DownloadMS after its start it is
// done, with the template's size (the simulator's sizes for a template of unknown size).
func simulateDownload(t *db.Template, cp *db.TemplateCopy, now int64) Progress {
	pct := 100
	if cp.DownloadMS > 0 {
		pct = int(min(100, (now-cp.DownloadStarted)*100/cp.DownloadMS))
	}
	if pct < 100 {
		return Progress{Pct: pct}
	}
	size, phys := t.Size, t.PhysicalSize
	if size == 0 {
		size, phys = SimulatedTemplateSize, SimulatedTemplatePhysical
	}
	return Progress{Done: true, Size: size, PhysicalSize: phys, InstallPath: installPath(t)}
}
