package api

import (
	"errors"
	"fmt"
	"time"

	"github.com/atollcloud/atoll/db"
)

// cleanupWait bounds how long an account's cleanup waits for a VM, volume or snapshot to leave
// a transitional state (a job of its own still running) before failing the deletion.
var cleanupWait = 60 * time.Second

// cleanupAccount releases everything an account owns, as CloudStack's
// AccountManagerImpl.cleanupAccount does: its snapshot policies, VMs (stopped, destroyed and
// expunged through the VM expunge path, so hosts forget them and capacity, counts and
// addresses are released), snapshots, volumes, templates and ISOs, SSH key pairs, affinity
// groups, networks, tags, resource limits and counts. Each step lists what is still live, so a
// run that died half-way (the job is taken over and run again from the start) finishes the
// work. The account row itself is left to the caller.
func (c *Call) cleanupAccount(accountID string) error {
	scope := db.Scope{AccountID: accountID}
	// Policies first, so the scheduler takes no new snapshot meanwhile.
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		list, _, err := db.ListSnapshotPolicies(c.Ctx, tx, db.SnapshotPolicyFilter{Scope: scope})
		if err != nil {
			return err
		}
		for _, p := range list {
			if err := db.RemoveSnapshotPolicy(c.Ctx, tx, p.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	vms, _, err := db.ListVMs(c.Ctx, c.S.DB.SQL, db.VMFilter{Scope: scope})
	if err != nil {
		return err
	}
	for _, v := range vms {
		if err := c.destroyAndExpunge(v.ID); err != nil {
			return fmt.Errorf("expunge %s: %w", vmString(v), err)
		}
	}
	snaps, _, err := db.ListSnapshots(c.Ctx, c.S.DB.SQL, db.SnapshotFilter{Scope: scope})
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if err := c.settled(func() (bool, error) {
			cur, err := db.GetSnapshot(c.Ctx, c.S.DB.SQL, s.ID)
			if errors.Is(err, db.ErrNotFound) {
				return true, nil
			}
			return err == nil && c.checkSnapshotDeletable(cur) == nil, err
		}, "snapshot "+s.ID); err != nil {
			return err
		}
		if err := c.deleteSnapshot(s.ID); err != nil {
			return err
		}
	}
	vols, _, err := db.ListVolumes(c.Ctx, c.S.DB.SQL, db.VolumeFilter{Scope: scope})
	if err != nil {
		return err
	}
	for _, v := range vols {
		if err := c.deleteAccountVolume(v.ID); err != nil {
			return err
		}
	}
	ids, err := db.AccountTemplateIDs(c.Ctx, c.S.DB.SQL, accountID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
			t, err := db.GetTemplate(c.Ctx, tx, id)
			if errors.Is(err, db.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			return c.removeImageCopies(tx, t, "")
		})
		if err != nil {
			return err
		}
	}
	return c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		keys, _, err := db.ListSSHKeyPairs(c.Ctx, tx, db.SSHKeyPairFilter{Scope: scope})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := db.DeleteSSHKeyPair(c.Ctx, tx, k.ID); err != nil {
				return err
			}
		}
		groups, _, err := db.ListAffinityGroups(c.Ctx, tx, db.AffinityGroupFilter{Scope: scope})
		if err != nil {
			return err
		}
		for _, g := range groups {
			if err := db.RemoveAffinityGroup(c.Ctx, tx, g.ID); err != nil {
				return err
			}
		}
		if err := c.removeAccountNetworks(tx, accountID); err != nil {
			return err
		}
		if err := db.DeleteAccountSecurityGroups(c.Ctx, tx, accountID); err != nil {
			return err
		}
		if err := db.DeleteTagsOfAccount(c.Ctx, tx, accountID); err != nil {
			return err
		}
		return db.DeleteOwnerLimits(c.Ctx, tx, db.OwnerAccount, accountID)
	})
}

// settled polls ok until it reports true, for at most cleanupWait.
func (c *Call) settled(ok func() (bool, error), what string) error {
	deadline := time.Now().Add(cleanupWait)
	for {
		done, err := ok()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return ErrInternal("Failed to clean up the account: %s is still busy; try again", what)
		}
		select {
		case <-c.Ctx.Done():
			return c.Ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// destroyAndExpunge stops a VM (forced), destroys it with all its volumes and expunges it,
// waiting first for a job of its own to leave it in a settled state.
func (c *Call) destroyAndExpunge(id string) error {
	var v *db.VM
	err := c.settled(func() (bool, error) {
		var err error
		v, err = db.GetVM(c.Ctx, c.S.DB.SQL, id)
		if errors.Is(err, db.ErrNotFound) {
			v = nil
			return true, nil
		}
		if err != nil {
			return false, err
		}
		switch v.State {
		case db.VMStarting, db.VMMigrating:
			return false, nil
		}
		return true, nil
	}, "VM "+id)
	if err != nil || v == nil || v.State == db.VMExpunged {
		return err
	}
	if v.State == db.VMRunning || v.State == db.VMStopping {
		err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
			cur, err := db.GetVM(c.Ctx, tx, id)
			if err != nil {
				return err
			}
			if cur.State != db.VMRunning {
				return nil
			}
			cur.State = db.VMStopping
			return db.UpdateVM(c.Ctx, tx, cur)
		})
		if err != nil {
			return err
		}
		if err := c.stopOnHost(v, true); err != nil {
			return err
		}
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		cur, err := db.GetVM(c.Ctx, tx, id)
		if err != nil {
			return err
		}
		switch cur.State {
		case db.VMStopped:
			if err := c.uncountVM(tx, cur); err != nil {
				return err
			}
			if err := c.destroyVolumes(tx, cur, nil, true); err != nil {
				return err
			}
		case db.VMError:
		default:
			return nil // Destroyed or Expunging already
		}
		cur.State, cur.Destroyed = db.VMDestroyed, db.Now()
		if err := db.UpdateVM(c.Ctx, tx, cur); err != nil {
			return err
		}
		return c.Event(tx, "VM.DESTROY", "Destroyed VM "+cur.Name, "VirtualMachine", cur.ID)
	})
	if err != nil {
		return err
	}
	return c.expunge(id, true)
}

// deleteAccountVolume deletes a volume as deleteVolume does (a volume still attached, to a VM
// of another account, is detached in the rows first), waiting for one busy in a job.
func (c *Call) deleteAccountVolume(id string) error {
	var pool *db.StoragePool
	var gone *db.Volume
	err := c.settled(func() (bool, error) {
		v, err := db.GetVolume(c.Ctx, c.S.DB.SQL, id)
		if errors.Is(err, db.ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		switch v.State {
		case db.VolumeReady, db.VolumeAllocated, db.VolumeUploaded, db.VolumeDestroy, db.VolumeExpunged, "Error",
			db.VolumeNotUploaded, db.VolumeUploadError, db.VolumeUploadAbandoned:
		default:
			return false, nil
		}
		n, err := db.CountVolumeSnapshots(c.Ctx, c.S.DB.SQL, v.ID, db.SnapshotAllocated, db.SnapshotCreating, db.SnapshotBackingUp)
		return n == 0, err
	}, "volume "+id)
	if err != nil {
		return err
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		pool, gone = nil, nil
		v, err := db.GetVolume(c.Ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if v.Removed != 0 || v.State == db.VolumeExpunged {
			return nil
		}
		if v.VMID != "" {
			return ErrInternal("Failed to clean up the account: volume %s is still attached to VM %s", v.Name, v.VMID)
		}
		if pool, err = c.expungeVolumeRows(tx, v, true); err != nil {
			return err
		}
		gone = v
		return nil
	})
	if err != nil {
		return err
	}
	c.dropVolumeFile(pool, gone)
	return nil
}
