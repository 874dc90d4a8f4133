package network

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Changing, deleting and (un)assigning VMs to load-balancer rules.

// LBUpdate is what updateLoadBalancerRule changes ("" or nil leaves a field as it is).
type LBUpdate struct {
	Name, Description *string
	Algorithm         string // as sent
	Protocol          string // as sent
	CIDRs             *[]string
	Display           *bool
}

// CheckUpdateLB validates an update of a rule the caller may change.
func CheckUpdateLB(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, u LBUpdate) error {
	r, err := lbRule(ctx, d.DB.Read(), a, id)
	if err != nil {
		return err
	}
	_, err = applyUpdate(r, u)
	return err
}

// applyUpdate changes r as u says and reports whether the router must hear of it (a new
// algorithm, protocol or CIDR list).
func applyUpdate(r *db.LBRule, u LBUpdate) (bool, error) {
	if r.State == db.LBRevoke {
		return false, orchestrate.ErrParam("Load balancer rule %s is being deleted", r.ID)
	}
	changed := false
	if u.Name != nil {
		if strings.TrimSpace(*u.Name) == "" {
			return false, orchestrate.ErrParam("Invalid name: a load balancer rule's name can't be empty")
		}
		r.Name = strings.TrimSpace(*u.Name)
	}
	if u.Description != nil {
		r.Description = *u.Description
	}
	if u.Algorithm != "" {
		algo, err := CheckLBAlgorithm(u.Algorithm)
		if err != nil {
			return false, err
		}
		changed = changed || algo != r.Algorithm
		r.Algorithm = algo
	}
	if strings.TrimSpace(u.Protocol) != "" {
		p, err := CheckLBProtocol(u.Protocol)
		if err != nil {
			return false, err
		}
		changed = changed || p != r.Protocol
		r.Protocol = p
	}
	if u.CIDRs != nil {
		c, err := CheckLBCIDRs(*u.CIDRs)
		if err != nil {
			return false, err
		}
		changed = changed || c != r.CIDRList
		r.CIDRList = c
	}
	if u.Display != nil {
		r.Display = *u.Display
	}
	return changed, nil
}

// UpdateLB changes a rule (updateLoadBalancerRule's job) and, when its algorithm, protocol or
// CIDR list changed, applies the network's rules again.
func UpdateLB(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, u LBUpdate) error {
	var apply bool
	var networkID string
	var before db.LBRule
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		r, err := lbRule(ctx, tx, a, id)
		if err != nil {
			return err
		}
		before = *r
		if apply, err = applyUpdate(r, u); err != nil {
			return err
		}
		networkID = r.NetworkID
		if apply {
			r.State = db.LBAdd
		}
		if err := db.UpdateLBRule(ctx, tx, r); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "LB.UPDATE", "updating load balancer "+lbName(r), "FirewallRule", r.ID)
	})
	if err != nil || !apply {
		return err
	}
	return applyOrUndo(ctx, d, networkID, func(tx db.Tx) error {
		r, err := db.GetLBRule(ctx, tx, id)
		if err != nil {
			return err
		}
		b := before
		b.Version = r.Version
		return db.UpdateLBRule(ctx, tx, &b)
	})
}

// CheckDeleteLB refuses to delete a rule that does not exist or that the caller may not change.
func CheckDeleteLB(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	_, err := lbRule(ctx, d.DB.Read(), a, id)
	return err
}

// DeleteLB revokes a rule with its mappings and policies and applies the network's rules,
// which removes it (deleteLoadBalancerRule's job); a rule already gone is done.
func DeleteLB(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	var networkID, state string
	var children *LBRuleConfig
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		r, err := db.GetLBRule(ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := orchestrate.CheckOwnerAccess(ctx, tx, a.Caller, id, r.AccountID, r.DomainID); err != nil {
			return err
		}
		networkID, state = r.NetworkID, r.State
		if children, err = loadRuleConfig(ctx, tx, r); err != nil {
			return err
		}
		if err := revokeLB(ctx, tx, r); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "LB.DELETE", "deleting load balancer "+lbName(r), "FirewallRule", r.ID)
	})
	if err != nil || networkID == "" {
		return err
	}
	return applyOrUndo(ctx, d, networkID, func(tx db.Tx) error {
		if state == db.LBRevoke {
			return nil
		}
		if err := restoreLB(ctx, tx, id, state); err != nil {
			return err
		}
		return unrevoke(ctx, tx, children)
	})
}

// loadRuleConfig reads one rule's mappings and policies.
func loadRuleConfig(ctx context.Context, q db.Querier, r *db.LBRule) (*LBRuleConfig, error) {
	rc := &LBRuleConfig{Rule: r}
	var err error
	if rc.VMs, err = db.ListLBVMs(ctx, q, r.ID); err != nil {
		return nil, err
	}
	if rc.Stickiness, err = db.ListLBStickiness(ctx, q, r.ID); err != nil {
		return nil, err
	}
	if rc.HealthCheck, err = db.ListLBHealthChecks(ctx, q, r.ID); err != nil {
		return nil, err
	}
	return rc, nil
}

// unrevoke takes back the revocation of the mappings and policies that were live in rc.
func unrevoke(ctx context.Context, tx db.Tx, rc *LBRuleConfig) error {
	for _, m := range rc.VMs {
		if !m.Revoked {
			if err := db.SetLBVMRevoked(ctx, tx, m.LBID, m.VMID, m.VMIP, false); err != nil {
				return err
			}
		}
	}
	for _, p := range rc.Stickiness {
		if !p.Revoked {
			if err := db.SetLBStickinessRevoked(ctx, tx, p.ID, false); err != nil {
				return err
			}
		}
	}
	for _, p := range rc.HealthCheck {
		if !p.Revoked {
			if err := db.SetLBHealthCheckRevoked(ctx, tx, p.ID, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func revokeLB(ctx context.Context, tx db.Tx, r *db.LBRule) error {
	if r.State != db.LBRevoke {
		r.State = db.LBRevoke
		if err := db.UpdateLBRule(ctx, tx, r); err != nil {
			return err
		}
	}
	if err := db.RevokeLBChildren(ctx, tx, r.ID); err != nil {
		return err
	}
	return db.DeleteTagsOf(ctx, tx, "LoadBalancer", r.ID)
}

// RemoveNetworkLBs removes every load-balancer rule of a network, in the caller's transaction
// (the network is being destroyed: its router goes with it, so there is nothing to apply).
func RemoveNetworkLBs(ctx context.Context, tx db.Tx, networkID string) error {
	rules, _, err := db.ListLBRules(ctx, tx, db.LBRuleFilter{NetworkID: networkID})
	if err != nil {
		return err
	}
	for _, r := range rules {
		if err := db.DeleteTagsOf(ctx, tx, "LoadBalancer", r.ID); err != nil {
			return err
		}
		if err := db.DeleteLBRule(ctx, tx, r.ID); err != nil {
			return err
		}
	}
	return nil
}

// LBMembers is what assignToLoadBalancerRule and removeFromLoadBalancerRule name: VMs (their
// address in the rule's network) and, per VM, addresses of theirs (vmidipmap).
type LBMembers struct {
	VMIDs []string
	VMIPs map[string][]string // VM id -> addresses
}

func (m LBMembers) empty() bool { return len(m.VMIDs) == 0 && len(m.VMIPs) == 0 }

// member is one (VM, address) pair to add or remove.
type member struct{ vmID, ip string }

// resolveAssign checks each VM CloudStack's way and returns the pairs to map: a live VM the
// caller may use, with a NIC in the rule's network, and addresses that NIC holds, none of them
// mapped already.
func resolveAssign(ctx context.Context, q db.Querier, a orchestrate.Actor, r *db.LBRule, m LBMembers) ([]member, error) {
	if r.State == db.LBRevoke {
		return nil, orchestrate.ErrParam("Failed to assign to load balancer %s, the load balancer is being deleted", r.ID)
	}
	if m.empty() {
		return nil, orchestrate.ErrParam("Both virtualmachineids and vmidipmap can't be null")
	}
	existing, err := db.ListLBVMs(ctx, q, r.ID)
	if err != nil {
		return nil, err
	}
	mapped := map[member]bool{}
	for _, e := range existing {
		if !e.Revoked {
			mapped[member{e.VMID, e.VMIP}] = true
		}
	}
	ids := vmOrder(m)
	inIDs := map[string]bool{}
	for _, id := range m.VMIDs {
		inIDs[id] = true
	}
	var out []member
	seen := map[member]bool{}
	for _, id := range ids {
		v, err := db.GetVM(ctx, q, id)
		if errors.Is(err, db.ErrNotFound) || err == nil && (v.State == db.VMDestroyed || v.State == db.VMExpunging || v.State == db.VMExpunged) {
			return nil, orchestrate.ErrParam("Invalid instance id specified: %s (virtualmachineids)", id)
		}
		if err != nil {
			return nil, err
		}
		if err := orchestrate.CheckOwnerAccess(ctx, q, a.Caller, id, v.AccountID, v.DomainID); err != nil {
			return nil, err
		}
		// A NIC in the rule's network is what CloudStack asks (the VM's owner may use the
		// network: the NIC proves it).
		nics, err := db.ListNics(ctx, q, db.NicFilter{VMID: v.ID, NetworkID: r.NetworkID})
		if err != nil {
			return nil, err
		}
		if len(nics) == 0 || nics[0].IPAddress == "" {
			return nil, orchestrate.ErrParam("VM with id %s cannot be added because it doesn't belong in the same network.", id)
		}
		primary := nics[0].IPAddress
		ips := m.VMIPs[id]
		for _, ip := range ips {
			if ip != primary {
				// Atoll's NICs hold one address each: a secondary address is not one of them.
				return nil, orchestrate.ErrParam("VM ip %s specified does not belong to nic in network %s (vmidipmap)", ip, r.NetworkID)
			}
		}
		if len(ips) == 0 || inIDs[id] {
			ips = append(ips, primary)
		}
		for _, ip := range ips {
			p := member{id, ip}
			if mapped[p] {
				return nil, orchestrate.ErrParam("VM %s with %s is already mapped to load balancer.", id, ip)
			}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// vmOrder lists the VMs named, ids first, in a stable order.
func vmOrder(m LBMembers) []string {
	seen := map[string]bool{}
	var ids []string
	for _, id := range m.VMIDs {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	var extra []string
	for id := range m.VMIPs {
		if !seen[id] {
			seen[id] = true
			extra = append(extra, id)
		}
	}
	sort.Strings(extra)
	return append(ids, extra...)
}

// CheckAssignLB validates assignToLoadBalancerRule before its job.
func CheckAssignLB(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, m LBMembers) error {
	q := d.DB.Read()
	r, err := lbRule(ctx, q, a, id)
	if err != nil {
		return err
	}
	_, err = resolveAssign(ctx, q, a, r, m)
	return err
}

// AssignLB maps VMs to a rule and applies the network's rules (assignToLoadBalancerRule's job).
func AssignLB(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, m LBMembers) error {
	var networkID, state string
	var add []member
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		r, err := lbRule(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if add, err = resolveAssign(ctx, tx, a, r, m); err != nil {
			return err
		}
		state = r.State
		now := db.Now()
		for _, p := range add {
			// A revoked mapping of the same address comes back to life.
			if err := db.DropRevokedLBVM(ctx, tx, r.ID, p.vmID, p.ip); err != nil {
				return err
			}
			if err := db.InsertLBVM(ctx, tx, &db.LBVM{LBID: r.ID, VMID: p.vmID, VMIP: p.ip, Created: now}); err != nil {
				return err
			}
		}
		networkID = r.NetworkID
		if r.State != db.LBAdd {
			r.State = db.LBAdd
			if err := db.UpdateLBRule(ctx, tx, r); err != nil {
				return err
			}
		}
		return orchestrate.Event(ctx, tx, a, "LB.ASSIGN.TO.RULE", "assigning to load balancer "+lbName(r), "FirewallRule", r.ID)
	})
	if err != nil {
		return err
	}
	return applyOrUndo(ctx, d, networkID, func(tx db.Tx) error {
		for _, p := range add {
			if err := db.DeleteLBVM(ctx, tx, id, p.vmID, p.ip); err != nil {
				return err
			}
		}
		return restoreLB(ctx, tx, id, state)
	})
}

// resolveRemove returns the live mappings to revoke, refusing a VM the rule does not balance to.
func resolveRemove(ctx context.Context, q db.Querier, r *db.LBRule, m LBMembers) ([]member, error) {
	if m.empty() {
		return nil, orchestrate.ErrParam("Both virtualmachineids and vmidipmap can't be null")
	}
	existing, err := db.ListLBVMs(ctx, q, r.ID)
	if err != nil {
		return nil, err
	}
	byVM := map[string][]string{}
	for _, e := range existing {
		if !e.Revoked {
			byVM[e.VMID] = append(byVM[e.VMID], e.VMIP)
		}
	}
	var out []member
	seen := map[member]bool{}
	for _, id := range vmOrder(m) {
		ips := m.VMIPs[id]
		if len(ips) == 0 {
			if len(byVM[id]) == 0 {
				return nil, orchestrate.ErrParam("The instance id: %s is not configured for LB rule id %s", id, r.ID)
			}
			ips = byVM[id]
		}
		for _, ip := range ips {
			found := false
			for _, have := range byVM[id] {
				found = found || have == ip
			}
			if !found {
				return nil, orchestrate.ErrParam("The instance id: %s is not configured for LB rule %s", id, r.ID)
			}
			if p := (member{id, ip}); !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
		if len(m.VMIPs[id]) > 0 {
			for _, v := range m.VMIDs {
				if v == id { // named in both: its primary mapping goes too
					for _, have := range byVM[id] {
						if p := (member{id, have}); !seen[p] {
							seen[p] = true
							out = append(out, p)
						}
					}
				}
			}
		}
	}
	return out, nil
}

// CheckRemoveLB validates removeFromLoadBalancerRule before its job.
func CheckRemoveLB(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, m LBMembers) error {
	q := d.DB.Read()
	r, err := lbRule(ctx, q, a, id)
	if err != nil {
		return err
	}
	_, err = resolveRemove(ctx, q, r, m)
	return err
}

// RemoveLB revokes VMs' mappings of a rule and applies the network's rules, which removes them
// (removeFromLoadBalancerRule's job).
func RemoveLB(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, m LBMembers) error {
	var networkID, state string
	var drop []member
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		r, err := lbRule(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if drop, err = resolveRemove(ctx, tx, r, m); err != nil {
			return err
		}
		state = r.State
		for _, p := range drop {
			if _, err := db.RevokeLBVM(ctx, tx, r.ID, p.vmID, p.ip); err != nil {
				return err
			}
		}
		networkID = r.NetworkID
		if r.State == db.LBActive {
			r.State = db.LBAdd
			if err := db.UpdateLBRule(ctx, tx, r); err != nil {
				return err
			}
		}
		return orchestrate.Event(ctx, tx, a, "LB.REMOVE.FROM.RULE", "removing from load balancer "+lbName(r), "FirewallRule", r.ID)
	})
	if err != nil {
		return err
	}
	return applyOrUndo(ctx, d, networkID, func(tx db.Tx) error {
		for _, p := range drop {
			if err := db.SetLBVMRevoked(ctx, tx, id, p.vmID, p.ip, false); err != nil {
				return err
			}
		}
		return restoreLB(ctx, tx, id, state)
	})
}

// ReleaseVMFromLBs drops a departing VM (being expunged) from every rule, in the caller's
// transaction, settles those rules' states, and returns the networks whose rules changed: the
// caller (the lead's wiring) applies them once the transaction committed.
func ReleaseVMFromLBs(ctx context.Context, tx db.Tx, vmID string) ([]string, error) {
	ids, err := db.DeleteLBVMsOfVM(ctx, tx, vmID)
	if err != nil {
		return nil, err
	}
	nets := map[string]bool{}
	var out []string
	for _, id := range ids {
		r, err := db.GetLBRule(ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := settleLB(ctx, tx, r.ID); err != nil {
			return nil, err
		}
		if !nets[r.NetworkID] {
			nets[r.NetworkID] = true
			out = append(out, r.NetworkID)
		}
	}
	return out, nil
}
