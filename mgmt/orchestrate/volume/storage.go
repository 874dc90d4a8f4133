package volume

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// StorageCommandTimeout bounds one volume or snapshot command on a host.
var StorageCommandTimeout = 2 * time.Minute

// ignoreThreshold reserves past the disable threshold (putting back what was taken).
var ignoreThreshold = planner.Options{IgnoreThreshold: true}

// storageCapacityErr turns a refused reservation into CloudStack's 533.
func storageCapacityErr(what string, err error) error {
	var ce *planner.CapacityError
	if errors.As(err, &ce) {
		return orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSResourceAllocation, "Unable to allocate %s: %v", what, err)
	}
	return err
}

// ReservePool allocates bytes on a pool in the caller's transaction, answering 533 when the
// pool has no room (or is not Up).
func ReservePool(ctx context.Context, d *orchestrate.Deps, tx db.Tx, pool *db.StoragePool, bytes int64) error {
	if pool.Status != db.PoolUp {
		return orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSResourceAllocation, "Storage pool %s is %s and takes no new volumes", pool.Name, pool.Status)
	}
	if err := d.Ledger.ReserveStorage(ctx, tx, pool.ID, bytes, planner.Options{}); err != nil {
		return storageCapacityErr("storage on pool "+pool.Name, err)
	}
	return nil
}

// ChoosePool picks and reserves a primary storage pool for a volume of size bytes with the
// planner's rule (planner.PlaceVolume): with clusterID, the cluster's pools first and then the
// zone-wide ones (a VM in that cluster reaches both); without, any Up pool of the zone. Pools
// must carry the offering's tags and have room; none answers 533.
func ChoosePool(ctx context.Context, d *orchestrate.Deps, tx db.Tx, zoneID, clusterID string, size int64, tags string) (*db.StoragePool, error) {
	pools, err := planner.Pools(ctx, tx, zoneID)
	if err != nil {
		return nil, err
	}
	id, err := d.Ledger.PlaceVolume(ctx, tx, pools, "", clusterID, planner.DiskRequest{Size: size, Tags: tags})
	var de *planner.DeployError
	if errors.As(err, &de) {
		return nil, orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSResourceAllocation, "Unable to find suitable primary storage for the volume: %s", de.Reason)
	}
	if err != nil {
		return nil, err
	}
	return db.GetStoragePool(ctx, tx, id)
}

// PoolReachable reports whether a VM in clusterID reaches a pool.
func PoolReachable(pool *db.StoragePool, zoneID, clusterID string) bool {
	if pool.ClusterID != "" {
		return pool.ClusterID == clusterID
	}
	return pool.ZoneID == zoneID
}

// VMCluster is the cluster a VM runs (or last ran, or has its ROOT disk) in; "" if none yet.
func VMCluster(ctx context.Context, q db.Querier, vm *db.VM) (string, error) {
	if vm.ClusterID != "" {
		return vm.ClusterID, nil
	}
	poolID, err := db.VMRootPool(ctx, q, vm.ID)
	if err != nil || poolID == "" {
		return "", err
	}
	p, err := db.GetStoragePool(ctx, q, poolID)
	if errors.Is(err, db.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return p.ClusterID, nil
}

// VolumeRef is how a storage command names a volume on its pool.
func VolumeRef(v *db.Volume, pool *db.StoragePool) protocol.VolumeRef {
	r := protocol.VolumeRef{ID: v.ID, Name: v.Name, Path: v.Path, Size: v.Size, Format: v.Format}
	if pool != nil {
		r.Pool = protocol.PoolRef{ID: pool.ID, Type: pool.PoolType, URL: pool.URL}
	}
	return r
}

// SendStorage runs a storage command on a host and fails with 530 when it does not succeed;
// answer, when not nil, receives the answer's body.
func SendStorage(ctx context.Context, d *orchestrate.Deps, hostID, name string, body any, answer any) error {
	if d.Agents == nil {
		return orchestrate.ErrInternal("the agents manager is not running on this management server")
	}
	cctx, cancel := context.WithTimeout(ctx, StorageCommandTimeout)
	defer cancel()
	ans, err := d.Agents.Send(cctx, hostID, name, body)
	if err != nil {
		return orchestrate.ErrInternal("%s failed on host %s: %s", name, hostID, d.Cause(err))
	}
	if !ans.OK {
		return orchestrate.ErrInternal("%s failed on host %s: %s", name, hostID, ans.Error)
	}
	if answer != nil && len(ans.Body) > 0 {
		if err := json.Unmarshal(ans.Body, answer); err != nil {
			return orchestrate.ErrInternal("%s: bad answer from host %s: %s", name, hostID, d.Cause(err))
		}
	}
	return nil
}

// HostForPool picks an Up host that reaches a pool (hostID when given).
func HostForPool(ctx context.Context, d *orchestrate.Deps, pool *db.StoragePool, hostID string) (string, error) {
	if hostID != "" {
		return hostID, nil
	}
	id, err := db.UpHostForPool(ctx, d.DB.Read(), pool)
	if errors.Is(err, db.ErrNotFound) {
		return "", orchestrate.Errorf(orchestrate.CodeUnavailable, orchestrate.CSCloudRuntime, "No host is up to reach storage pool %s", pool.Name)
	}
	return id, err
}

// volumeCommand sends a volume command about v on pool to hostID, or to a host reaching the
// pool; mod fills in the command's other fields.
func volumeCommand(ctx context.Context, d *orchestrate.Deps, pool *db.StoragePool, hostID, name string, v *db.Volume, mod func(*protocol.VolumeCommand)) error {
	host, err := HostForPool(ctx, d, pool, hostID)
	if err != nil {
		return err
	}
	cmd := protocol.VolumeCommand{Volume: VolumeRef(v, pool)}
	if mod != nil {
		mod(&cmd)
	}
	return SendStorage(ctx, d, host, name, cmd, nil)
}

// Log is the workflows' logger (slog's default when the deps carry none).
func Log(d *orchestrate.Deps) *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}
