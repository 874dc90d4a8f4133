package api

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// storageCommandTimeout bounds one volume or snapshot command on a host.
var storageCommandTimeout = 2 * time.Minute

// plannerIgnoreThreshold reserves past the disable threshold (putting back what was taken).
var plannerIgnoreThreshold = planner.Options{IgnoreThreshold: true}

// storageCapacityErr turns a refused reservation into CloudStack's 533.
func storageCapacityErr(what string, err error) error {
	var ce *planner.CapacityError
	if errors.As(err, &ce) {
		return Errorf(CodeCapacity, CSResourceAllocation, "Unable to allocate %s: %v", what, err)
	}
	return err
}

// reservePool allocates bytes on a pool in the caller's transaction, answering 533 when the
// pool has no room (or is not Up).
func (c *Call) reservePool(tx db.Tx, pool *db.StoragePool, bytes int64) error {
	if pool.Status != db.PoolUp {
		return Errorf(CodeCapacity, CSResourceAllocation, "Storage pool %s is %s and takes no new volumes", pool.Name, pool.Status)
	}
	if err := c.ledger().ReserveStorage(c.Ctx, tx, pool.ID, bytes, planner.Options{}); err != nil {
		return storageCapacityErr("storage on pool "+pool.Name, err)
	}
	return nil
}

// choosePool picks and reserves a primary storage pool for a volume of size bytes with the
// planner's rule (planner.PlaceVolume): with clusterID, the cluster's pools first and then the
// zone-wide ones (a VM in that cluster reaches both); without, any Up pool of the zone. Pools
// must carry the offering's tags and have room; none answers 533.
func (c *Call) choosePool(tx db.Tx, zoneID, clusterID string, size int64, tags string) (*db.StoragePool, error) {
	pools, err := planner.Pools(c.Ctx, tx, zoneID)
	if err != nil {
		return nil, err
	}
	id, err := c.ledger().PlaceVolume(c.Ctx, tx, pools, "", clusterID, planner.DiskRequest{Size: size, Tags: tags})
	var de *planner.DeployError
	if errors.As(err, &de) {
		return nil, Errorf(CodeCapacity, CSResourceAllocation, "Unable to find suitable primary storage for the volume: %s", de.Reason)
	}
	if err != nil {
		return nil, err
	}
	return db.GetStoragePool(c.Ctx, tx, id)
}

// poolReachable reports whether a VM in clusterID reaches a pool.
func poolReachable(pool *db.StoragePool, zoneID, clusterID string) bool {
	if pool.ClusterID != "" {
		return pool.ClusterID == clusterID
	}
	return pool.ZoneID == zoneID
}

// vmCluster is the cluster a VM runs (or last ran, or has its ROOT disk) in; "" if none yet.
func (c *Call) vmCluster(q db.Querier, vm *db.VM) (string, error) {
	if vm.ClusterID != "" {
		return vm.ClusterID, nil
	}
	poolID, err := db.VMRootPool(c.Ctx, q, vm.ID)
	if err != nil || poolID == "" {
		return "", err
	}
	p, err := db.GetStoragePool(c.Ctx, q, poolID)
	if errors.Is(err, db.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return p.ClusterID, nil
}

func volumeRef(v *db.Volume, pool *db.StoragePool) protocol.VolumeRef {
	r := protocol.VolumeRef{ID: v.ID, Name: v.Name, Path: v.Path, Size: v.Size, Format: v.Format}
	if pool != nil {
		r.Pool = protocol.PoolRef{ID: pool.ID, Type: pool.PoolType, URL: pool.URL}
	}
	return r
}

// sendStorage runs a storage command on a host and fails with 530 when it does not succeed.
func (c *Call) sendStorage(hostID, name string, body any, answer any) error {
	m, err := c.agents()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Ctx, storageCommandTimeout)
	defer cancel()
	ans, err := m.Send(ctx, hostID, name, body)
	if err != nil {
		return ErrInternal("%s failed on host %s: %s", name, hostID, c.cause(err))
	}
	if !ans.OK {
		return ErrInternal("%s failed on host %s: %s", name, hostID, ans.Error)
	}
	if answer != nil && len(ans.Body) > 0 {
		if err := json.Unmarshal(ans.Body, answer); err != nil {
			return ErrInternal("%s: bad answer from host %s: %s", name, hostID, c.cause(err))
		}
	}
	return nil
}

// hostForPool picks an Up host that reaches a pool (hostID when given).
func (c *Call) hostForPool(pool *db.StoragePool, hostID string) (string, error) {
	if hostID != "" {
		return hostID, nil
	}
	id, err := db.UpHostForPool(c.Ctx, c.S.DB.Read(), pool)
	if errors.Is(err, db.ErrNotFound) {
		return "", Errorf(CodeUnavailable, CSCloudRuntime, "No host is up to reach storage pool %s", pool.Name)
	}
	return id, err
}

// volumeCommand sends a volume command about v on pool to hostID, or to a host reaching the
// pool; mod fills in the command's other fields.
func (c *Call) volumeCommand(pool *db.StoragePool, hostID, name string, v *db.Volume, mod func(*protocol.VolumeCommand)) error {
	host, err := c.hostForPool(pool, hostID)
	if err != nil {
		return err
	}
	cmd := protocol.VolumeCommand{Volume: volumeRef(v, pool)}
	if mod != nil {
		mod(&cmd)
	}
	return c.sendStorage(host, name, cmd, nil)
}
