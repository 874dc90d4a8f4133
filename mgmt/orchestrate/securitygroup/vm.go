package securitygroup

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// ZoneHasGroups tells whether a zone's VMs get security groups: every Basic zone, and the
// Advanced zones made with security groups enabled.
func ZoneHasGroups(z *db.Zone) bool {
	return strings.EqualFold(z.NetworkType, "Basic") || z.SecurityGroupsEnabled
}

// ForVM resolves the securitygroupids or securitygroupnames of a VM of owner in zone z: each
// group must exist and be the owner's. It returns the groups, with useDefault set when the
// owner's default group is wanted but not made yet, or none were named in a zone with security
// groups (Join makes it in the deploy's transaction). Naming groups in a zone without security groups
// is CloudStack's refusal.
func ForVM(ctx context.Context, q db.Querier, caller *iam.Caller, owner *db.Account, z *db.Zone, ids, names []string) (groups []*db.SecurityGroup, useDefault bool, err error) {
	if len(ids) > 0 && len(names) > 0 {
		return nil, false, orchestrate.ErrParam("securitygroupids parameter is mutually exclusive with securitygroupnames parameter")
	}
	if !ZoneHasGroups(z) {
		if len(ids)+len(names) > 0 {
			return nil, false, orchestrate.ErrParam("Can't create vm with security groups; security group feature is not enabled on zone %s", z.Name)
		}
		return nil, false, nil
	}
	if len(ids)+len(names) == 0 {
		return nil, true, nil
	}
	seen := map[string]bool{}
	keep := func(g *db.SecurityGroup) {
		if !seen[g.ID] {
			seen[g.ID] = true
			groups = append(groups, g)
		}
	}
	for _, n := range names {
		n = strings.TrimSpace(n)
		g, err := db.GetSecurityGroupByName(ctx, q, owner.ID, n)
		if errors.Is(err, db.ErrNotFound) && strings.EqualFold(n, db.DefaultSGName) {
			useDefault = true // the default group, made in the deploy's transaction
			continue
		}
		if errors.Is(err, db.ErrNotFound) {
			return nil, false, orchestrate.ErrParam("Unable to find group by name %s", n)
		}
		if err != nil {
			return nil, false, err
		}
		keep(g)
	}
	for _, id := range ids {
		g, err := Get(ctx, q, caller, id)
		if err != nil {
			return nil, false, err
		}
		if g.AccountID != owner.ID {
			return nil, false, orchestrate.ErrParam("Security group %s belongs to account %s, not to the VM's owner %s", g.ID, g.AccountName, owner.Name)
		}
		keep(g)
	}
	return groups, useDefault, nil
}

// Join makes a VM a member of exactly the groups (useDefault: of its owner's default group,
// made when missing) in tx, and returns their ids for Apply once tx has committed.
func Join(ctx context.Context, tx db.Querier, v *db.VM, groups []*db.SecurityGroup, useDefault bool) ([]string, error) {
	var ids []string
	if useDefault {
		g, err := EnsureDefault(ctx, tx, v.AccountID)
		if err != nil {
			return nil, err
		}
		ids = append(ids, g.ID)
	}
	for _, g := range groups {
		ids = append(ids, g.ID)
	}
	if err := db.SetVMSecurityGroups(ctx, tx, v.ID, ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// Update replaces a Stopped VM's groups (updateVirtualMachine's securitygroupids or
// securitygroupnames) in tx, the VM's transaction; it returns the groups it left and joined,
// for Apply once tx has committed.
func Update(ctx context.Context, tx db.Querier, caller *iam.Caller, v *db.VM, ids, names []string) ([]string, error) {
	if len(ids)+len(names) == 0 {
		return nil, nil
	}
	z, err := db.GetZone(ctx, tx, v.ZoneID)
	if err != nil {
		return nil, err
	}
	owner, err := db.GetAccount(ctx, tx, v.AccountID)
	if err != nil {
		return nil, err
	}
	groups, useDefault, err := ForVM(ctx, tx, caller, owner, z, ids, names)
	if err != nil {
		return nil, err
	}
	if v.State != db.VMStopped {
		return nil, orchestrate.ErrParam("VM %s must be stopped prior to update security groups", v.ID)
	}
	old, err := db.ListSecurityGroupMembers(ctx, tx, []string{v.ID}, nil)
	if err != nil {
		return nil, err
	}
	joined, err := Join(ctx, tx, v, groups, useDefault)
	if err != nil {
		return nil, err
	}
	for _, m := range old {
		joined = append(joined, m.GroupID)
	}
	return joined, nil
}

// Leave takes a VM out of every group (its expunge), in tx; it returns the groups it left, for
// Apply once tx has committed.
func Leave(ctx context.Context, tx db.Querier, vmID string) ([]string, error) {
	old, err := db.ListSecurityGroupMembers(ctx, tx, []string{vmID}, nil)
	if err != nil || len(old) == 0 {
		return nil, err
	}
	ids := make([]string, len(old))
	for i, m := range old {
		ids[i] = m.GroupID
	}
	return ids, db.SetVMSecurityGroups(ctx, tx, vmID, nil)
}
