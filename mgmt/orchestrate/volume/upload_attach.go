package volume

import (
	"context"
	"errors"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// copyUploaded copies an Uploaded volume (its bytes on an image store) to a pool the VM's
// cluster reaches, before it is attached (CloudStack copies an uploaded volume to primary
// storage on its first attach): in one transaction the pool is chosen and reserved and the
// volume is Copying; a host reaching the pool copies the image; then the volume is Ready on
// the pool and its file on the store is removed. If the host fails the reservation is given
// back and the volume is Uploaded again. A volume in any other state is left alone.
func copyUploaded(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, volID, vmID string) error {
	var v *db.Volume
	var pool *db.StoragePool
	var storeID, path string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		pool = nil
		if v, err = ForCaller(ctx, tx, a.Caller, volID); err != nil || v.State != db.VolumeUploaded {
			return err
		}
		var ok bool
		if storeID, path, ok = StoreLocation(v); !ok {
			return orchestrate.ErrInternal("Uploaded volume %s has no image store copy recorded", v.Name)
		}
		vm, err := vmFor(ctx, tx, a.Caller, vmID)
		if err != nil {
			return err
		}
		if _, err := checkAttach(ctx, tx, v, vm, nil); err != nil {
			return err
		}
		cluster, err := VMCluster(ctx, tx, vm)
		if err != nil {
			return err
		}
		tags := ""
		if v.DiskOfferingID != "" {
			if o, err := db.GetDiskOffering(ctx, tx, v.DiskOfferingID); err == nil {
				tags = o.Tags
			}
		}
		if pool, err = ChoosePool(ctx, d, tx, v.ZoneID, cluster, v.Size, tags); err != nil {
			return err
		}
		v.PoolID, v.PodID, v.Path, v.State = pool.ID, pool.PodID, v.ID, db.VolumeCopying
		return db.UpdateVolume(ctx, tx, v)
	})
	if err != nil || pool == nil {
		return err
	}
	store, err := db.GetImageStore(ctx, d.DB.Read(), storeID)
	var host string
	if err == nil {
		host, err = HostForPool(ctx, d, pool, "")
	}
	if err == nil {
		err = SendStorage(ctx, d, host, protocol.CmdCreateVolumeFromSnapshot, protocol.SnapshotCommand{SnapshotID: v.ID, Path: path,
			Volume: VolumeRef(v, pool), Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}}, nil)
	}
	next := db.VolumeReady
	if err != nil {
		next = db.VolumeUploaded
	}
	uerr := d.DB.Transaction(ctx, func(tx db.Tx) error {
		u, err := db.GetVolume(ctx, tx, v.ID)
		if err != nil || u.State != db.VolumeCopying {
			return err
		}
		if next == db.VolumeUploaded {
			if err := d.Ledger.ReleaseStorage(ctx, tx, u.PoolID, u.Size); err != nil {
				return err
			}
			u.PoolID, u.PodID, u.Path = "", "", storeLocation(storeID, path)
		}
		u.State = next
		return db.UpdateVolume(ctx, tx, u)
	})
	if err != nil || uerr != nil {
		return errors.Join(err, uerr)
	}
	// The copy on the pool is the volume now: the image store's is no longer needed.
	if serr := SendStorage(ctx, d, host, protocol.CmdDeleteStoreFile, protocol.StoreFile{Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL},
		Path: path}, nil); serr != nil {
		Log(d).Warn("remove an uploaded volume's image store copy", "volume", v.ID, "err", serr)
	}
	return nil
}
