package volume

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// createFromSnapshot writes a new volume (Creating, already counted) from its snapshot's
// backup onto a pool of the zone (of the VM's cluster when createVolume named a VM, the pool
// spec.StorageID when given). If the host fails, the volume is removed and its counts and
// storage given back.
func createFromSnapshot(ctx context.Context, d *orchestrate.Deps, v *db.Volume, spec *CreateSpec) error {
	var pool *db.StoragePool
	var ref *db.SnapshotStoreRef
	var store *db.ImageStore
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		cur, err := db.GetVolume(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		refs, err := db.ListSnapshotStoreRefs(ctx, tx, cur.SnapshotID)
		if err != nil {
			return err
		}
		if len(refs) == 0 || refs[0].InstallPath == "" {
			return orchestrate.ErrInternal("Snapshot %s has no backup to create a volume from", cur.SnapshotID)
		}
		ref = refs[0]
		if store, err = db.GetImageStore(ctx, tx, ref.StoreID); err != nil {
			return err
		}
		if cur.PoolID != "" {
			pool, err = db.GetStoragePool(ctx, tx, cur.PoolID)
			return err
		}
		cluster := ""
		if vmID := strings.ToLower(spec.VMID); vmID != "" {
			if vm, err := db.GetVM(ctx, tx, vmID); err == nil {
				if cluster, err = VMCluster(ctx, tx, vm); err != nil {
					return err
				}
			}
		}
		tags := ""
		if cur.DiskOfferingID != "" {
			if o, err := db.GetDiskOffering(ctx, tx, cur.DiskOfferingID); err == nil {
				tags = o.Tags
			}
		}
		if poolID := spec.StorageID; poolID != "" {
			if pool, err = db.GetStoragePool(ctx, tx, strings.ToLower(poolID)); err != nil {
				return err
			}
			if err := ReservePool(ctx, d, tx, pool, cur.Size); err != nil {
				return err
			}
		} else if pool, err = ChoosePool(ctx, d, tx, cur.ZoneID, cluster, cur.Size, tags); err != nil {
			return err
		}
		cur.PoolID, cur.PodID, cur.Path = pool.ID, pool.PodID, cur.ID
		return db.UpdateVolume(ctx, tx, cur)
	})
	var ans protocol.VolumeAnswer
	if err == nil {
		var host string
		if host, err = HostForPool(ctx, d, pool, ""); err == nil {
			err = SendStorage(ctx, d, host, protocol.CmdCreateVolumeFromSnapshot, protocol.SnapshotCommand{SnapshotID: v.SnapshotID, Path: ref.InstallPath,
				Volume: VolumeRef(&db.Volume{ID: v.ID, Name: v.Name, Size: v.Size}, pool), Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}}, &ans)
		}
	}
	failed := err
	terr := d.DB.Transaction(ctx, func(tx db.Tx) error {
		cur, err := db.GetVolume(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if failed == nil {
			cur.State = db.VolumeReady
			if ans.Path != "" {
				cur.Path = ans.Path
			}
			return db.UpdateVolume(ctx, tx, cur)
		}
		// Failed: the volume goes, with what it holds.
		if cur.PoolID != "" {
			if err := d.Ledger.ReleaseStorage(ctx, tx, cur.PoolID, cur.Size); err != nil {
				return err
			}
		}
		if err := d.ChargeResources(ctx, tx, cur.AccountID, map[string]int64{db.ResVolume: -1, db.ResPrimaryStorage: -cur.Size}); err != nil {
			return err
		}
		cur.State, cur.Removed = db.VolumeExpunged, db.Now()
		return db.UpdateVolume(ctx, tx, cur)
	})
	return errors.Join(failed, terr)
}
