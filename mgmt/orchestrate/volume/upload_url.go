package volume

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/transfer"
)

// UploadPollEvery is how often uploadVolume's job asks the host where the download stands.
var UploadPollEvery = time.Second

// SimulatedUploadSize is the virtual size a volume uploaded into a Simulator zone gets (as the
// simulator reports a template download's).
const SimulatedUploadSize = 2 << 30

// StartUploadURL is uploadVolume: in one transaction the volume is recorded (NewUpload) in
// UploadOp and its job, which has a host download the URL into the image store, is written.
func StartUploadURL(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec UploadSpec) (jobID, volID string, err error) {
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, _, err := NewUpload(ctx, d, tx, a, spec)
		if err != nil {
			return err
		}
		v.State = db.VolumeUploadOp
		if err := db.UpdateVolume(ctx, tx, v); err != nil {
			return err
		}
		volID = v.ID
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, "Volume", v.ID)
		return err
	})
	return jobID, volID, err
}

// UploadURL is uploadVolume's job: a host of the zone downloads spec.URL into the volume's
// place on its image store (the template download machinery: size limit, checksum and format
// checked, nothing left on failure), polled until done; the volume is then Uploaded with the
// image's virtual size, or UploadError. In a Simulator zone nothing is fetched: the volume is
// Uploaded with SimulatedUploadSize.
func UploadURL(ctx context.Context, d *orchestrate.Deps, id string, spec UploadSpec) (*db.Volume, error) {
	q := d.DB.Read()
	v, err := db.GetVolume(ctx, q, id)
	if err != nil {
		return nil, orchestrate.ErrInternal("The volume %s being uploaded is gone: %s", id, d.Cause(err))
	}
	if v.State == db.VolumeUploaded {
		return v, nil // a replay
	}
	storeID, path, ok := StoreLocation(v)
	if !ok || v.State != db.VolumeUploadOp {
		return nil, orchestrate.ErrInternal("Volume %s is %s: it is not being uploaded", v.Name, v.State)
	}
	fail := func(text string) (*db.Volume, error) {
		if _, err := setUploadState(context.WithoutCancel(ctx), d, id, []string{db.VolumeUploadOp}, db.VolumeUploadError, 0); err != nil {
			return nil, err
		}
		return nil, orchestrate.ErrInternal("Failed to upload volume %s: %s", v.Name, text)
	}
	store, err := db.GetImageStore(ctx, q, storeID)
	if errors.Is(err, db.ErrNotFound) {
		return fail("its image store no longer exists")
	}
	if err != nil {
		return nil, err
	}
	host, err := transfer.StoreHost(ctx, q, store.ZoneID)
	if err != nil {
		return nil, err
	}
	if host == nil {
		sims, err := db.SimulatorZones(ctx, q)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(sims, store.ZoneID) {
			return fail("no host in the zone is Up to download it into its image store")
		}
		if _, err := setUploadState(ctx, d, id, []string{db.VolumeUploadOp}, db.VolumeUploaded, SimulatedUploadSize); err != nil {
			return nil, err
		}
		return db.GetVolume(ctx, d.DB.Read(), id)
	}
	if d.Agents == nil {
		return nil, orchestrate.ErrInternal("the agents manager is not running on this management server")
	}
	cmd := protocol.DownloadTemplate{ID: "volume-" + v.ID, URL: spec.URL, Checksum: spec.Checksum, Format: uploadFormats[v.Format],
		Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}, Path: path, MaxBytes: transfer.MaxUploadBytes}
	for {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ans, err := d.Agents.Send(sctx, host.ID, protocol.CmdDownloadTemplate, cmd)
		cancel()
		switch {
		case err != nil:
			// Not reached this time: the next poll asks again (the download runs on).
			Log(d).Warn("volume upload step", "volume", v.ID, "host", host.ID, "err", err)
		case !ans.OK:
			return fail(ans.Error)
		default:
			var st protocol.DownloadStatus
			if err := json.Unmarshal(ans.Body, &st); err != nil {
				return nil, orchestrate.ErrInternal("Failed to upload volume %s: bad status from host: %v", v.Name, err)
			}
			switch st.State {
			case protocol.DownloadDone:
				if _, err := setUploadState(ctx, d, id, []string{db.VolumeUploadOp}, db.VolumeUploaded, st.Size); err != nil {
					// Over the owner's primary storage limit, say: nothing of it is kept.
					transfer.Discard(context.WithoutCancel(ctx), d, transfer.Token{StoreID: storeID, Path: path})
					if _, uerr := setUploadState(context.WithoutCancel(ctx), d, id, []string{db.VolumeUploadOp}, db.VolumeUploadError, 0); uerr != nil {
						Log(d).Error("mark a volume UploadError", "volume", id, "err", uerr)
					}
					return nil, err
				}
				return db.GetVolume(ctx, d.DB.Read(), id)
			case protocol.DownloadError:
				return fail(st.Error)
			}
		}
		select {
		case <-ctx.Done():
			return nil, orchestrate.ErrInternal("Upload of volume %s interrupted: %v", v.Name, ctx.Err())
		case <-time.After(UploadPollEvery):
		}
	}
}
