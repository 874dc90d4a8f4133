package volume

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Event types (CloudStack's EventTypes).
const (
	evVolumeCreate  = "VOLUME.CREATE"
	evVolumeDelete  = "VOLUME.DELETE"
	evVolumeAttach  = "VOLUME.ATTACH"
	evVolumeDetach  = "VOLUME.DETACH"
	evVolumeResize  = "VOLUME.RESIZE"
	evVolumeMigrate = "VOLUME.MIGRATE"
	evVolumeUpdate  = "VOLUME.UPDATE"
)

// CloudStack's defaults for custom.diskoffering.size.min and .max (GiB).
const (
	customDiskMinGiB = 1
	customDiskMaxGiB = 1024
)

// ForCaller loads a volume the caller may act on (id as the caller sent it).
func ForCaller(ctx context.Context, q db.Querier, caller *iam.Caller, id string) (*db.Volume, error) {
	v, err := db.GetVolume(ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find volume with ID %s", id)
	}
	if err != nil {
		return nil, err
	}
	if err := orchestrate.CheckOwnerAccess(ctx, q, caller, id, v.AccountID, v.DomainID); err != nil {
		return nil, err
	}
	return v, nil
}

// vmFor loads a VM (not destroyed) the caller may act on.
func vmFor(ctx context.Context, q db.Querier, caller *iam.Caller, id string) (*db.VM, error) {
	vm, err := db.GetVM(ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) || err == nil && (vm.State == db.VMDestroyed || vm.State == db.VMExpunging || vm.State == db.VMExpunged) {
		return nil, orchestrate.ErrParam("Unable to find virtual machine with ID %s", id)
	}
	if err != nil {
		return nil, err
	}
	if err := orchestrate.CheckOwnerAccess(ctx, q, caller, id, vm.AccountID, vm.DomainID); err != nil {
		return nil, err
	}
	return vm, nil
}

// GiB reads a size in GiB (CloudStack's size parameters, s as sent, "" when not) as bytes,
// and whether it was given.
func GiB(name, s string) (int64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1<<30 {
		return 0, true, orchestrate.ErrParam("Invalid %s %s", name, s)
	}
	return n << 30, true, nil
}

func listHasFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

// offeringInDomain reports whether domainID is one of ids or below one of them.
func offeringInDomain(ctx context.Context, q db.Querier, ids []string, domainID string) bool {
	d, err := db.GetDomain(ctx, q, domainID)
	if err != nil {
		return false
	}
	for _, id := range ids {
		od, err := db.GetDomain(ctx, q, id)
		if err == nil && (od.Path == d.Path || strings.HasPrefix(d.Path, od.Path+"/")) {
			return true
		}
	}
	return false
}

// deleteProtected refuses deleting a volume with delete protection (as vms.go's check).
func deleteProtected(o *db.Volume) error {
	if o.DeleteProtection {
		return orchestrate.ErrParam("Volume [id = %s, name = %s] has delete protection enabled and cannot be deleted", o.ID, o.Name)
	}
	return nil
}

// startJob writes the actor's job on a volume in a transaction of its own and returns its id.
func startJob(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) (string, error) {
	var jobID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, "Volume", id)
		return err
	})
	return jobID, err
}
