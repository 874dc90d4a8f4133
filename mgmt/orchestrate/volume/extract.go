package volume

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/transfer"
)

// ExtractCopyTimeout bounds the copy of a volume to an image store for extractVolume.
var ExtractCopyTimeout = time.Hour

// checkExtractable applies VolumeApiServiceImpl.extractVolume's rules to v (zoneID lower-case).
func checkExtractable(ctx context.Context, q db.Querier, a orchestrate.Actor, v *db.Volume, zoneID string) error {
	if _, err := db.GetZone(ctx, q, zoneID); errors.Is(err, db.ErrNotFound) {
		return orchestrate.ErrParam("Please specify a valid zone.")
	} else if err != nil {
		return err
	}
	if v.ZoneID != zoneID {
		return orchestrate.ErrParam("Volume %s is not in zone %s: specify the volume's zone", v.ID, zoneID)
	}
	if v.PoolID == "" {
		return orchestrate.ErrParam("The volume doesn't belong to a storage pool so can't extract it")
	}
	if v.State != db.VolumeReady {
		return orchestrate.ErrParam("Volume %s is %s: only a Ready volume can be extracted", v.ID, v.State)
	}
	if v.VMID != "" {
		vm, err := db.GetVM(ctx, q, v.VMID)
		if err != nil {
			return err
		}
		if vm.State != db.VMStopped {
			return orchestrate.ErrDenied("Invalid state of the volume with specified ID. It should be either detached or the VM should be in stopped state.")
		}
	}
	if v.Type != db.VolumeDataDisk && v.TemplateID != "" {
		// A ROOT volume is as extractable as its template (ISO-based ones always are); a root
		// admin may extract any.
		t, err := db.GetTemplate(ctx, q, v.TemplateID)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		if t != nil && t.Format != "ISO" && (!t.Extractable || t.TemplateType == db.TemplateSystem) && !a.Caller.IsRootAdmin() {
			return orchestrate.ErrDenied("The volume with specified volumeId is not allowed to be extracted")
		}
	}
	return nil
}

// StartExtract checks that the caller may extract volume id in zoneID (lower-case) and writes
// the extraction's job; it answers the job's id and the volume's.
func StartExtract(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id, zoneID string) (jobID, volID string, err error) {
	q := d.DB.Read()
	v, err := ForCaller(ctx, q, a.Caller, id)
	if err != nil {
		return "", "", err
	}
	if err := checkExtractable(ctx, q, a, v, zoneID); err != nil {
		return "", "", err
	}
	if _, err := extractStore(ctx, q, v.ZoneID); err != nil {
		return "", "", err
	}
	if jobID, err = startJob(ctx, d, a, v.ID); err != nil {
		return "", "", err
	}
	return jobID, v.ID, nil
}

// Extracted is where an extracted volume's copy is: Path on store StoreID ("" on a simulated
// host, which stores nothing).
type Extracted struct {
	Volume  *db.Volume
	StoreID string
	Path    string
}

// Extract is extractVolume's job: a host that reaches the volume's pool copies it (its
// backing chain flattened) as a qcow2 to an image store of its zone, as CloudStack copies a
// volume to secondary storage before it answers the URL.
func Extract(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id, zoneID string) (*Extracted, error) {
	q := d.DB.Read()
	v, err := ForCaller(ctx, q, a.Caller, id)
	if err != nil {
		return nil, err
	}
	if err := checkExtractable(ctx, q, a, v, zoneID); err != nil {
		return nil, err
	}
	store, err := extractStore(ctx, q, v.ZoneID)
	if err != nil {
		return nil, err
	}
	pool, err := db.GetStoragePool(ctx, q, v.PoolID)
	if err != nil {
		return nil, err
	}
	hostID, err := HostForPool(ctx, d, pool, "")
	if err != nil {
		return nil, err
	}
	host, err := db.GetHost(ctx, q, hostID)
	if err != nil {
		return nil, err
	}
	out := &Extracted{Volume: v, StoreID: store.ID}
	if strings.EqualFold(host.HypervisorType, "Simulator") {
		return out, nil
	}
	if d.Agents == nil {
		return nil, orchestrate.ErrInternal("the agents manager is not running on this management server")
	}
	// One copy per volume: a new extraction replaces the last one, and deleting the volume
	// removes it (dropExtractCopy).
	path := extractPath(v.ID)
	sref := protocol.ImageStoreRef{ID: store.ID, URL: store.URL}
	if err := SendStorage(ctx, d, hostID, protocol.CmdDeleteStoreFile, protocol.StoreFile{Store: sref, Path: path}, nil); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, ExtractCopyTimeout)
	defer cancel()
	ans, err := d.Agents.Send(cctx, hostID, protocol.CmdCopyVolumeToStore,
		protocol.CopyVolumeToStore{Volume: VolumeRef(v, pool), Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}, Path: path})
	if err != nil {
		return nil, orchestrate.ErrInternal("Failed to copy volume %s to the image store: %s", v.Name, d.Cause(err))
	}
	if !ans.OK {
		return nil, orchestrate.ErrInternal("Failed to copy volume %s to the image store: %s", v.Name, ans.Error)
	}
	var b protocol.SnapshotAnswer
	if err := json.Unmarshal(ans.Body, &b); err != nil {
		return nil, orchestrate.ErrInternal("Failed to copy volume %s to the image store: bad answer: %v", v.Name, err)
	}
	out.Path = b.Path
	return out, nil
}

// extractStore is the image store a zone's volume is copied to: its first writable one.
func extractStore(ctx context.Context, q db.Querier, zoneID string) (*db.ImageStore, error) {
	stores, _, err := db.ListImageStores(ctx, q, db.ImageStoreFilter{ZoneID: zoneID})
	if err != nil {
		return nil, err
	}
	for _, s := range stores {
		if !s.ReadOnly {
			return s, nil
		}
	}
	return nil, orchestrate.ErrInternal("There is no writable image store in the volume's zone to extract it to")
}

// extractPath is where a volume's extracted copy is on its zone's image store.
func extractPath(volumeID string) string {
	return transfer.VolumeExtractDir(volumeID) + "/" + volumeID + ".qcow2"
}

// dropExtractCopy deletes a deleted volume's extracted copy, if any, from its zone's image
// store, best effort (a zone without a real host Up has none, or cannot be reached now).
func dropExtractCopy(ctx context.Context, d *orchestrate.Deps, v *db.Volume) {
	q := d.DB.Read()
	store, err := extractStore(ctx, q, v.ZoneID)
	if err != nil {
		return
	}
	if h, err := transfer.StoreHost(ctx, q, store.ZoneID); err != nil || h == nil || d.Agents == nil {
		return
	}
	transfer.Discard(ctx, d, transfer.Token{StoreID: store.ID, Path: extractPath(v.ID)})
}
