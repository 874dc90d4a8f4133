package volume

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/transfer"
	"github.com/atollcloud/atoll/storage"
	"github.com/google/uuid"
)

const evVolumeUpload = "VOLUME.UPLOAD"

// A volume whose bytes are on an image store (uploaded, not yet copied to a pool) has no
// pool; its path then says where it is: "<store id>:<path on the store>".

// storeLocation renders an image store location as a pool-less volume's path.
func storeLocation(storeID, path string) string { return storeID + ":" + path }

// StoreLocation answers where a pool-less volume's bytes are on an image store.
func StoreLocation(v *db.Volume) (storeID, path string, ok bool) {
	if v.PoolID != "" {
		return "", "", false
	}
	storeID, path, ok = strings.Cut(v.Path, ":")
	return storeID, path, ok && storeID != "" && path != ""
}

// UploadSpec is what getUploadParamsForVolume and uploadVolume ask for.
type UploadSpec struct {
	Name              string
	Account, DomainID string // the owner (both or neither; DomainID lowercased)
	ZoneID            string // lowercased
	Format            string // as sent
	Checksum          string
	DiskOfferingID    string // lowercased
	ImageStoreID      string // lowercased
	URL               string // uploadVolume's
}

// uploadFormats are the formats an uploaded volume may be in: QCOW2 (a KVM zone's format;
// the copy to a pool on first attach converts from qcow2 only, so RAW is refused for now).
var uploadFormats = map[string]string{"QCOW2": "qcow2"}

// NewUpload checks an upload's parameters and records its volume (NotUploaded, counted
// against its owner, its place on an image store of the zone in its path) in tx; it answers
// the volume and the store.
func NewUpload(ctx context.Context, d *orchestrate.Deps, tx db.Tx, a orchestrate.Actor, spec UploadSpec) (*db.Volume, *db.ImageStore, error) {
	owner, err := orchestrate.OwnerFor(ctx, tx, a.Caller, spec.Account, spec.DomainID)
	if err != nil {
		return nil, nil, err
	}
	if strings.TrimSpace(spec.Name) == "" {
		return nil, nil, orchestrate.ErrParam("Unable to execute API command due to missing parameter name")
	}
	z, err := db.GetZone(ctx, tx, spec.ZoneID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil, orchestrate.ErrParam("Please specify a valid zone.")
	}
	if err != nil {
		return nil, nil, err
	}
	ext, ok := uploadFormats[strings.ToUpper(spec.Format)]
	if !ok {
		return nil, nil, orchestrate.ErrParam("Invalid format %s: volumes are uploaded as QCOW2", spec.Format)
	}
	if spec.Checksum != "" {
		if _, err := storage.ParseChecksum(spec.Checksum); err != nil {
			return nil, nil, orchestrate.ErrParam("Invalid checksum %s: %v", spec.Checksum, err)
		}
	}
	var offering *db.DiskOffering
	if spec.DiskOfferingID != "" {
		o, err := db.GetDiskOffering(ctx, tx, spec.DiskOfferingID)
		if errors.Is(err, db.ErrNotFound) || err == nil && o.State != "" && o.State != "Active" {
			return nil, nil, orchestrate.ErrParam("Unable to find disk offering by id %s", spec.DiskOfferingID)
		}
		if err != nil {
			return nil, nil, err
		}
		if !o.Customized {
			return nil, nil, orchestrate.ErrParam("Disk offering %s has a fixed size: an uploaded volume needs a custom size offering", o.Name)
		}
		offering = o
	}
	var store *db.ImageStore
	if spec.ImageStoreID != "" {
		s, err := db.GetImageStore(ctx, tx, spec.ImageStoreID)
		if errors.Is(err, db.ErrNotFound) || err == nil && s.ZoneID != z.ID {
			return nil, nil, orchestrate.ErrParam("Unable to find image store %s in zone %s", spec.ImageStoreID, z.Name)
		}
		if err != nil {
			return nil, nil, err
		}
		store = s
	} else if store, err = extractStore(ctx, tx, z.ID); err != nil {
		return nil, nil, err
	}
	v := &db.Volume{ID: uuid.NewString(), Name: strings.TrimSpace(spec.Name), AccountID: owner.ID, DomainID: owner.DomainID, ZoneID: z.ID,
		Type: db.VolumeDataDisk, State: db.VolumeNotUploaded, Format: strings.ToUpper(spec.Format), DisplayVolume: true, Created: db.Now()}
	if offering != nil {
		v.DiskOfferingID, v.ProvisioningType = offering.ID, offering.ProvisioningType
	}
	v.Path = storeLocation(store.ID, fmt.Sprintf("volumes/%s/%s/%s.%s", owner.ID, v.ID, v.ID, ext))
	if err := d.ChargeResources(ctx, tx, v.AccountID, map[string]int64{db.ResVolume: 1}); err != nil {
		return nil, nil, err
	}
	if err := db.InsertVolume(ctx, tx, v); err != nil {
		return nil, nil, err
	}
	if err := orchestrate.Event(ctx, tx, a, evVolumeUpload, "Uploading volume "+v.Name, "Volume", v.ID); err != nil {
		return nil, nil, err
	}
	return v, store, nil
}

// StartUploadParams is getUploadParamsForVolume: it records the volume (NewUpload) and
// answers the upload's token (without its expiry, which the caller sets).
func StartUploadParams(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec UploadSpec) (*db.Volume, transfer.Token, error) {
	var v *db.Volume
	var store *db.ImageStore
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		v, store, err = NewUpload(ctx, d, tx, a, spec)
		return err
	})
	if err != nil {
		return nil, transfer.Token{}, err
	}
	_, path, _ := StoreLocation(v)
	return v, transfer.Token{Kind: transfer.KindUpload, Object: transfer.KindVolume, ID: v.ID, StoreID: store.ID, Path: path,
		Checksum: spec.Checksum, Format: uploadFormats[strings.ToUpper(spec.Format)]}, nil
}

// setUploadState moves a volume from one of states to state (and, when landed, records its
// size and charges its primary storage), answering false when it is in none of them.
func setUploadState(ctx context.Context, d *orchestrate.Deps, id string, from []string, state string, size int64) (bool, error) {
	moved := false
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		moved = false
		v, err := db.GetVolume(ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ok := false
		for _, s := range from {
			ok = ok || v.State == s
		}
		if !ok {
			return nil
		}
		if state == db.VolumeUploaded {
			if err := d.ChargeResources(ctx, tx, v.AccountID, map[string]int64{db.ResPrimaryStorage: size}); err != nil {
				return err
			}
			v.Size = size
		}
		v.State = state
		moved = true
		return db.UpdateVolume(ctx, tx, v)
	})
	return moved, err
}

// ErrNotAwaitingUpload: the volume an upload names is gone or no longer waits for its bytes.
var ErrNotAwaitingUpload = errors.New("the volume does not wait for an upload (it is gone, or uploaded already)")

// ReceiveUpload takes a POSTed volume's bytes (t from its verified upload URL): the volume
// goes UploadOp, the bytes go to its image store through a host of the zone (transfer.Receive
// checks size, checksum and format), and it is Uploaded with the image's virtual size. If they
// are refused the file is removed and the volume is UploadError.
func ReceiveUpload(ctx context.Context, d *orchestrate.Deps, t transfer.Token, body transfer.Body) (*db.Volume, error) {
	moved, err := setUploadState(ctx, d, t.ID, []string{db.VolumeNotUploaded}, db.VolumeUploadOp, 0)
	if err != nil {
		return nil, err
	}
	if !moved {
		return nil, ErrNotAwaitingUpload
	}
	res, err := transfer.Receive(ctx, d, t, body)
	if errors.Is(err, transfer.ErrNoHost) {
		// Nothing was written: the volume waits again, for a retry once a host is Up.
		if _, uerr := setUploadState(context.WithoutCancel(ctx), d, t.ID, []string{db.VolumeUploadOp}, db.VolumeNotUploaded, 0); uerr != nil {
			Log(d).Error("put a volume back to NotUploaded", "volume", t.ID, "err", uerr)
		}
		return nil, err
	}
	if err == nil {
		_, err = setUploadState(ctx, d, t.ID, []string{db.VolumeUploadOp}, db.VolumeUploaded, res.VirtualSize)
		if err != nil {
			transfer.Discard(context.WithoutCancel(ctx), d, t)
		}
	}
	if err != nil {
		if _, uerr := setUploadState(context.WithoutCancel(ctx), d, t.ID, []string{db.VolumeUploadOp}, db.VolumeUploadError, 0); uerr != nil {
			Log(d).Error("mark a volume UploadError", "volume", t.ID, "err", uerr)
		}
		return nil, err
	}
	return db.GetVolume(ctx, d.DB.Read(), t.ID)
}

// dropStoreFile deletes an expunged pool-less volume's bytes on its image store, best effort
// (after the rows, as DropFile does).
func dropStoreFile(ctx context.Context, d *orchestrate.Deps, v *db.Volume) {
	if v == nil {
		return
	}
	storeID, path, ok := StoreLocation(v)
	if !ok {
		return
	}
	if store, err := db.GetImageStore(ctx, d.DB.Read(), storeID); err == nil {
		if h, err := transfer.StoreHost(ctx, d.DB.Read(), store.ZoneID); err == nil && h != nil && d.Agents != nil {
			transfer.Discard(ctx, d, transfer.Token{StoreID: storeID, Path: path})
		}
	}
}

// AbandonUploads marks UploadAbandoned the volumes that waited for their POSTed bytes longer
// than timeout (CloudStack's upload monitor, after upload.operation.timeout): their upload
// URL has expired, so nothing can arrive any more. Their owner deletes them.
func AbandonUploads(ctx context.Context, d *orchestrate.Deps, timeout time.Duration) error {
	vols, _, err := db.ListVolumes(ctx, d.DB.Read(), db.VolumeFilter{State: db.VolumeNotUploaded})
	if err != nil {
		return err
	}
	cutoff := db.Now() - timeout.Milliseconds()
	for _, v := range vols {
		if v.Created >= cutoff {
			continue
		}
		if _, err := setUploadState(ctx, d, v.ID, []string{db.VolumeNotUploaded}, db.VolumeUploadAbandoned, 0); err != nil {
			return err
		}
	}
	return nil
}
