package securitygroup

import (
	"context"
	"slices"
	"sort"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// activeStates are the states of a VM whose NICs are (or are about to be) on its host: the
// rules its host enforces cover them.
var activeStates = []string{db.VMStarting, db.VMRunning, db.VMStopping, db.VMMigrating}

// AffectedHosts returns the hosts whose rule set a change of the groups touches: the hosts of
// the groups' active member VMs (their rules changed) and of the active members of every group
// with a rule naming one of them (the member addresses those rules allow changed).
func AffectedHosts(ctx context.Context, q db.Querier, groupIDs []string) ([]string, error) {
	if len(groupIDs) == 0 {
		return nil, nil
	}
	in, args := placeholders(groupIDs)
	states, sargs := placeholders(activeStates)
	query := `SELECT DISTINCT v.host_id FROM security_group_vm_map m JOIN vm_instances v ON v.id = m.vm_id
		WHERE v.removed IS NULL AND v.host_id IS NOT NULL AND v.state IN ` + states + ` AND (m.group_id IN ` + in + `
		OR m.group_id IN (SELECT r.group_id FROM security_group_rules r WHERE r.allowed_group_id IN ` + in + `))`
	all := append(append(append([]any{}, sargs...), args...), args...)
	rows, err := q.QueryContext(ctx, query, all...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	sort.Strings(out)
	return out, rows.Err()
}

func placeholders(vals []string) (string, []any) {
	s := "("
	args := make([]any, len(vals))
	for i, v := range vals {
		if i > 0 {
			s += ", "
		}
		s += "?"
		args[i] = v
	}
	return s + ")", args
}

// Apply is the one step after the rows of the groups changed (rules authorized or revoked, VMs
// joining or leaving them) that brings their hosts up to date: each affected host's security
// group sequence number goes up by one (db.SecurityGroupHostSeq) and each real host is sent
// its whole HostState (PushHost). A host that cannot take it now gets it when it reconnects.
func Apply(ctx context.Context, d *orchestrate.Deps, groupIDs []string) error {
	var hosts []string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		hosts, err = AffectedHosts(ctx, tx, groupIDs)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			seq, err := db.BumpSecurityGroupHostSeq(ctx, tx, h)
			if err != nil {
				return err
			}
			if d.Log != nil {
				d.Log.Debug("security groups: host rule set changed", "host", h, "seq", seq, "groups", groupIDs)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	push(ctx, d, hosts)
	return nil
}

// VMChanged is Apply for a VM that started, stopped, migrated or went away (the lead's agent
// wiring calls it from those workflows, after their transactions): the hosts of its groups'
// members and of the groups naming them learn the change, and so do the hosts given (where
// the VM was: a stopped or migrated VM no longer counts there).
func VMChanged(ctx context.Context, d *orchestrate.Deps, vmID string, formerHosts ...string) error {
	ms, err := db.ListSecurityGroupMembers(ctx, d.DB.Read(), []string{vmID}, nil)
	if err != nil {
		return err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.GroupID
	}
	if len(ids) == 0 {
		return nil // a VM in no group changes no host's rules
	}
	if err := Apply(ctx, d, ids); err != nil {
		return err
	}
	var former []string
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		done, err := AffectedHosts(ctx, tx, ids)
		if err != nil {
			return err
		}
		former = former[:0]
		for _, h := range formerHosts {
			if h == "" || slices.Contains(done, h) {
				continue
			}
			if _, err := db.BumpSecurityGroupHostSeq(ctx, tx, h); err != nil {
				return err
			}
			done = append(done, h)
			former = append(former, h)
		}
		return nil
	})
	if err != nil {
		return err
	}
	push(ctx, d, former)
	return nil
}
