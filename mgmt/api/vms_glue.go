package api

import (
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// What the VM workflows (mgmt/orchestrate/vm) take from the API, and the shorthands other API
// files use them through.

// stopOnHost stops a Stopping VM on its host and settles it Stopped (vm.StopOnHost).
func (c *Call) stopOnHost(v *db.VM, forced bool) error {
	return vm.StopOnHost(c.Ctx, c.deps(), v, forced, vm.AgentTimeout)
}

// uncountVM takes a VM out of its account's instance, CPU and memory counts (vm.Uncount).
func (c *Call) uncountVM(tx db.Tx, v *db.VM) error { return vm.Uncount(c.Ctx, c.deps(), tx, v) }

// destroyVolumes marks a VM's volumes Destroy, uncounted (vm.DestroyVolumes).
func (c *Call) destroyVolumes(tx db.Tx, v *db.VM, dataIDs []string, all bool) error {
	return vm.DestroyVolumes(c.Ctx, c.deps(), tx, v, dataIDs, all)
}

// expunge removes a Destroyed (or Error) VM for good (vm.Expunge).
func (c *Call) expunge(id string, event bool) error {
	return vm.Expunge(c.Ctx, c.deps(), c.actor(), id, event)
}

// volumeDeleteProtected refuses to delete or destroy a volume with delete protection.
func volumeDeleteProtected(o *db.Volume) error { return vm.VolumeDeleteProtected(o) }

// migrationRequest is the planner's request for moving a Running VM off its host (vm.MigrationRequest).
func (c *Call) migrationRequest(q db.Querier, v *db.VM) planner.Request {
	return vm.MigrationRequest(c.Ctx, q, v)
}

// vmStorageScope tells where a VM's volumes are (vm.StorageScope).
func vmStorageScope(c *Call, q db.Querier, vmID string) (zoneWide, local bool, err error) {
	return vm.StorageScope(c.Ctx, q, vmID)
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
