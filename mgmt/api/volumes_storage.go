package api

import (
	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
)

// Shorthands for the snapshot commands, until they move to mgmt/orchestrate/snapshot.

func (c *Call) volumeForCall(q db.Querier, id string) (*db.Volume, error) {
	return volume.ForCaller(c.Ctx, q, c.Caller, id)
}

func (c *Call) reservePool(tx db.Tx, pool *db.StoragePool, bytes int64) error {
	return volume.ReservePool(c.Ctx, c.deps(), tx, pool, bytes)
}

func (c *Call) choosePool(tx db.Tx, zoneID, clusterID string, size int64, tags string) (*db.StoragePool, error) {
	return volume.ChoosePool(c.Ctx, c.deps(), tx, zoneID, clusterID, size, tags)
}

func (c *Call) vmCluster(q db.Querier, vm *db.VM) (string, error) {
	return volume.VMCluster(c.Ctx, q, vm)
}

func volumeRef(v *db.Volume, pool *db.StoragePool) protocol.VolumeRef {
	return volume.VolumeRef(v, pool)
}

func (c *Call) sendStorage(hostID, name string, body any, answer any) error {
	return volume.SendStorage(c.Ctx, c.deps(), hostID, name, body, answer)
}

func (c *Call) hostForPool(pool *db.StoragePool, hostID string) (string, error) {
	return volume.HostForPool(c.Ctx, c.deps(), pool, hostID)
}
