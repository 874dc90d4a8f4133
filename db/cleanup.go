package db

import (
	"context"
	"fmt"
)

// What deleting an account, a domain or a storage pool needs beyond the families' own table
// functions.

// AccountTemplateIDs returns the ids of the live templates and ISOs an account owns.
func AccountTemplateIDs(ctx context.Context, q Querier, accountID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT id FROM templates WHERE account_id = ? AND removed IS NULL ORDER BY id", accountID)
	if err != nil {
		return nil, fmt.Errorf("db: account templates: %w", err)
	}
	ids, err := scanAll(rows, "account templates", func(s interface{ Scan(...any) error }) (*string, error) {
		var id string
		return &id, s.Scan(&id)
	})
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = *id
	}
	return out, err
}

// DeleteTagsOfAccount deletes every tag an account owns (those its resources' removals left).
func DeleteTagsOfAccount(ctx context.Context, q Querier, accountID string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM resource_tags WHERE account_id = ?", accountID); err != nil {
		return fmt.Errorf("db: delete tags of account %s: %w", accountID, err)
	}
	return nil
}

// DeleteOwnerLimits deletes an account's or a domain's explicit resource limits and its
// resource counts.
func DeleteOwnerLimits(ctx context.Context, q Querier, ownerType, ownerID string) error {
	for _, t := range []string{"resource_limits", "resource_counts"} {
		if _, err := q.ExecContext(ctx, "DELETE FROM "+t+" WHERE owner_type = ? AND owner_id = ?", ownerType, ownerID); err != nil {
			return fmt.Errorf("db: delete %s of %s %s: %w", t, ownerType, ownerID, err)
		}
	}
	return nil
}

// CountPoolVolumes counts the live volumes on a primary storage pool; with destroyed false,
// only those not in state Destroy.
func CountPoolVolumes(ctx context.Context, q Querier, poolID string, destroyed bool) (int, error) {
	if destroyed {
		return count(ctx, q, "volumes", "pool_id = ? AND removed IS NULL", []any{poolID})
	}
	return count(ctx, q, "volumes", "pool_id = ? AND removed IS NULL AND state <> ?", []any{poolID, VolumeDestroy})
}

// ExpungeDestroyedPoolVolumes marks the Destroy volumes of a pool expunged (a forced pool
// deletion) and drops their tags; it returns how many there were.
func ExpungeDestroyedPoolVolumes(ctx context.Context, q Querier, poolID string) (int64, error) {
	if _, err := q.ExecContext(ctx, `DELETE FROM resource_tags WHERE resource_type = 'Volume' AND resource_id IN
		(SELECT id FROM volumes WHERE pool_id = ? AND removed IS NULL AND state = ?)`, poolID, VolumeDestroy); err != nil {
		return 0, fmt.Errorf("db: expunge destroyed pool volumes: %w", err)
	}
	res, err := q.ExecContext(ctx, "UPDATE volumes SET state = ?, removed = ?, version = version + 1 WHERE pool_id = ? AND removed IS NULL AND state = ?",
		VolumeExpunged, Now(), poolID, VolumeDestroy)
	if err != nil {
		return 0, fmt.Errorf("db: expunge destroyed pool volumes: %w", err)
	}
	return res.RowsAffected()
}

// HostVMStates returns the states of the live VMs placed on a host or migrating to it.
func HostVMStates(ctx context.Context, q Querier, hostID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT state FROM vm_instances WHERE (host_id = ? OR migrate_host_id = ?) AND removed IS NULL ORDER BY seq", hostID, hostID)
	if err != nil {
		return nil, fmt.Errorf("db: host vms: %w", err)
	}
	list, err := scanAll(rows, "host vms", func(s interface{ Scan(...any) error }) (*string, error) {
		var st string
		return &st, s.Scan(&st)
	})
	out := make([]string, len(list))
	for i, st := range list {
		out[i] = *st
	}
	return out, err
}

// CountPhysicalNetworkNetworks counts the live guest networks on a physical network.
func CountPhysicalNetworkNetworks(ctx context.Context, q Querier, physicalNetworkID string) (int, error) {
	return count(ctx, q, "networks", "physical_network_id = ? AND removed IS NULL", []any{physicalNetworkID})
}

// AccountLiveObject names a kind of object an account still holds ("" when none): the last
// check before the account row goes, so nothing created during its cleanup is left ownerless.
func AccountLiveObject(ctx context.Context, q Querier, accountID string) (string, error) {
	for _, c := range []struct{ what, table, where string }{
		{"virtual machine", "vm_instances", "account_id = ? AND removed IS NULL"},
		{"volume", "volumes", "account_id = ? AND removed IS NULL"},
		{"snapshot", "snapshots", "account_id = ? AND removed IS NULL"},
		{"template or ISO", "templates", "account_id = ? AND removed IS NULL"},
		{"network", "networks", "account_id = ? AND removed IS NULL"},
		{"affinity group", "affinity_groups", "account_id = ? AND removed IS NULL"},
		{"snapshot policy", "snapshot_policies", "account_id = ? AND removed IS NULL"},
		{"SSH key pair", "ssh_keypairs", "account_id = ?"},
	} {
		n, err := count(ctx, q, c.table, c.where, []any{accountID})
		if err != nil {
			return "", err
		}
		if n > 0 {
			return c.what, nil
		}
	}
	return "", nil
}
