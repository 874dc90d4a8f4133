package template

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/transfer"
	"github.com/google/uuid"
)

// uploadFormats maps the formats a template may be uploaded in to the file's format.
var uploadFormats = map[string]string{"QCOW2": "qcow2", "RAW": "raw", "ISO": "iso"}

// StartUpload is getUploadParamsForTemplate (and ForIso): the template is recorded, charged
// to its owner, with one copy (NOT_UPLOADED) in a writable image store of its one zone, in one
// transaction; it answers the template and the upload's token (without its expiry).
func StartUpload(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, k Kind, s RegisterSpec) (*db.Template, transfer.Token, error) {
	if s.ZoneID == "" || s.ZoneID == "-1" || len(s.ZoneIDs) > 0 {
		return nil, transfer.Token{}, orchestrate.ErrParam("Please specify one valid zone to upload the %s to", k.Noun)
	}
	ext, ok := uploadFormats[s.Format]
	if !ok {
		return nil, transfer.Token{}, orchestrate.ErrParam("Image format %s cannot be uploaded: use QCOW2, RAW or ISO", s.Format)
	}
	t := &db.Template{ID: uuid.NewString(), Name: s.Name, DisplayText: s.DisplayText, Format: s.Format, HypervisorType: s.Hypervisor,
		IsPublic: s.Public, Extractable: s.Extractable, PasswordEnabled: s.PasswordEnabled, SSHKeyEnabled: s.SSHKeyEnabled,
		IsDynamicallyScalable: s.DynamicScaling, RequiresHVM: s.RequiresHVM, Bootable: s.Bootable, TemplateType: db.TemplateUser,
		Checksum: s.Checksum, State: "Active", Bits: s.Bits, TemplateTag: s.TemplateTag, Details: s.Details, Created: db.Now()}
	var cp *db.TemplateCopy
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		zones, err := insertTemplate(ctx, d, tx, a, k, t, s)
		if err != nil {
			return err
		}
		stores, _, err := db.ListImageStores(ctx, tx, db.ImageStoreFilter{ZoneID: zones[0].ID})
		if err != nil {
			return err
		}
		for _, st := range stores {
			if !st.ReadOnly {
				cp = &db.TemplateCopy{ID: uuid.NewString(), TemplateID: t.ID, StoreID: st.ID, ZoneID: st.ZoneID, DownloadState: db.UploadNotStarted,
					InstallPath: installPath(t), Created: db.Now()}
				break
			}
		}
		if cp == nil {
			return orchestrate.ErrInternal("Unable to find image store to upload the %s %s", k.Noun, t.Name)
		}
		if err := db.InsertTemplateCopy(ctx, tx, cp); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, k.EvCreate, fmt.Sprintf("uploading %s %s", k.Noun, t.Name), k.ResType, t.ID)
	})
	if err != nil {
		return nil, transfer.Token{}, err
	}
	return t, transfer.Token{Kind: transfer.KindUpload, Object: transfer.KindTemplate, ID: t.ID, StoreID: cp.StoreID, Path: cp.InstallPath,
		Checksum: s.Checksum, Format: ext}, nil
}

// ErrNotAwaitingUpload: the template an upload names is gone or no longer waits for its bytes.
var ErrNotAwaitingUpload = errors.New("the template does not wait for an upload (it is gone, or uploaded already)")

// setCopyState moves the copy of template id on store storeID from state from to state,
// answering it (nil when it was in another state). With p done, the copy lands as a download
// does (record: sizes, secondary storage charged).
func setCopyState(ctx context.Context, d *orchestrate.Deps, id, storeID, from, state, errText string, p *Progress) (*db.TemplateCopy, error) {
	var out *db.TemplateCopy
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		out = nil
		t, err := db.GetTemplate(ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		copies, err := db.ListTemplateCopies(ctx, tx, id, "")
		if err != nil {
			return err
		}
		for _, cp := range copies {
			if cp.StoreID != storeID || cp.DownloadState != from {
				continue
			}
			out = cp
			if p != nil {
				if _, err := record(ctx, d, tx, t, cp, *p); err != nil {
					return err
				}
				if cp.DownloadState != db.DownloadDone { // refused (over the owner's limit)
					return orchestrate.Errorf(orchestrate.CodeResourceLimit, orchestrate.CSResourceAllocation, "%s", cp.ErrorStr)
				}
				return nil
			}
			cp.DownloadState, cp.ErrorStr = state, errText
			return db.UpdateTemplateCopy(ctx, tx, cp)
		}
		return nil
	})
	return out, err
}

// ReceiveUpload takes a POSTed template's bytes (t from its verified upload URL): its copy goes
// UPLOAD_IN_PROGRESS, the bytes go to the store through a host of the zone (transfer.Receive
// checks size, checksum and format), and the copy is DOWNLOADED with the image's sizes, as a
// download lands. If they are refused the file is removed and the copy is UPLOAD_ERROR.
func ReceiveUpload(ctx context.Context, d *orchestrate.Deps, t transfer.Token, body transfer.Body) error {
	cp, err := setCopyState(ctx, d, t.ID, t.StoreID, db.UploadNotStarted, db.UploadInProgress, "", nil)
	if err != nil {
		return err
	}
	if cp == nil {
		return ErrNotAwaitingUpload
	}
	res, err := transfer.Receive(ctx, d, t, body)
	if errors.Is(err, transfer.ErrNoHost) {
		_, uerr := setCopyState(context.WithoutCancel(ctx), d, t.ID, t.StoreID, db.UploadInProgress, db.UploadNotStarted, "", nil)
		return errors.Join(err, uerr)
	}
	if err == nil {
		_, err = setCopyState(ctx, d, t.ID, t.StoreID, db.UploadInProgress, "", "",
			&Progress{Done: true, Size: res.VirtualSize, PhysicalSize: res.Size, InstallPath: t.Path})
		if err != nil {
			transfer.Discard(context.WithoutCancel(ctx), d, t)
		}
	}
	if err != nil {
		text := err.Error()
		var oe *orchestrate.Error
		if errors.As(err, &oe) {
			text = oe.Text
		}
		if _, uerr := setCopyState(context.WithoutCancel(ctx), d, t.ID, t.StoreID, db.UploadInProgress, db.UploadError,
			strings.TrimSpace("Upload failed: "+text), nil); uerr != nil && d.Log != nil {
			d.Log.Error("mark a template copy UPLOAD_ERROR", "template", t.ID, "err", uerr)
		}
		return err
	}
	return nil
}

// AbandonUploads marks UPLOAD_ABANDONED the template copies that waited for their POSTed
// bytes longer than timeout (upload.operation.timeout): their upload URL has expired.
func AbandonUploads(ctx context.Context, d *orchestrate.Deps, timeout time.Duration) error {
	copies, err := db.ListTemplateCopiesInState(ctx, d.DB.Read(), db.UploadNotStarted)
	if err != nil {
		return err
	}
	cutoff := db.Now() - timeout.Milliseconds()
	for _, cp := range copies {
		if cp.Created >= cutoff {
			continue
		}
		text := fmt.Sprintf("Upload abandoned: nothing was uploaded within %s", timeout)
		if _, err := setCopyState(ctx, d, cp.TemplateID, cp.StoreID, db.UploadNotStarted, db.UploadAbandoned, text, nil); err != nil {
			return err
		}
	}
	return nil
}
