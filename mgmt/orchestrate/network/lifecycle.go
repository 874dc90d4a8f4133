package network

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// UpdateSpec is what updateNetwork changes, its parameters checked for syntax by the caller:
// "" or nil leaves a field as it is.
type UpdateSpec struct {
	Name          string  // trimmed
	DisplayText   *string // trimmed; "" takes the name
	NetworkDomain string  // a valid domain name
	OfferingID    string  // lower-case
	GuestVMCIDR   string  // trimmed, as sent
}

// CheckUpdate refuses what updateNetwork cannot change on n: another offering, another CIDR
// (not supported yet), a guest VM CIDR on a network that is not Isolated.
func CheckUpdate(ctx context.Context, q db.Querier, n *db.Network, spec UpdateSpec) error {
	if id := spec.OfferingID; id != "" && id != n.NetworkOfferingID {
		if _, err := db.GetNetworkOffering(ctx, q, id); errors.Is(err, db.ErrNotFound) {
			return orchestrate.ErrParam("Unable to find network offering by id %s", id)
		}
		return orchestrate.ErrParam("Changing the network offering of network %s (networkofferingid) is not supported yet", n.Name)
	}
	if v := spec.GuestVMCIDR; v != "" {
		if n.GuestType != db.GuestIsolated {
			return orchestrate.ErrParam("guestvmcidr can only be changed for Isolated networks")
		}
		cidr, err := ValidGuestCIDR(v)
		if err != nil {
			return orchestrate.ErrParam("Invalid guestvmcidr %q: an IPv4 CIDR in private address space is required", v)
		}
		if cidr != n.CIDR {
			return orchestrate.ErrParam("Changing the guest VM CIDR of network %s (guestvmcidr %s) is not supported yet", n.Name, cidr)
		}
	}
	return nil
}

// Update renames a network, sets its display text and DNS domain (updateNetwork's job).
func Update(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, spec UpdateSpec) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		n, err := ForCaller(ctx, tx, a.Caller, id, true)
		if err != nil {
			return err
		}
		if err := CheckUpdate(ctx, d.DB.Read(), n, spec); err != nil {
			return err
		}
		if spec.Name != "" {
			n.Name = spec.Name
		}
		if spec.DisplayText != nil {
			n.DisplayText = *spec.DisplayText
			if n.DisplayText == "" {
				n.DisplayText = n.Name
			}
		}
		if spec.NetworkDomain != "" {
			n.NetworkDomain = spec.NetworkDomain
		}
		if err := db.UpdateNetwork(ctx, tx, n); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "NETWORK.UPDATE", "Updating network "+n.Name, "Network", n.ID)
	})
}

// CheckUnused refuses while NICs of VMs not yet expunged are on the network (CloudStack's
// "not all user vms are expunged" check).
func CheckUnused(ctx context.Context, q db.Querier, n *db.Network) error {
	held, err := db.CountNetworkIPs(ctx, q, n.ID)
	if err != nil {
		return err
	}
	nics, err := db.CountLiveNics(ctx, q, n.ID)
	if err != nil {
		return err
	}
	if ip, err := routerHeldIP(ctx, q, n); err != nil {
		return err
	} else if ip != "" && held > 0 {
		held-- // the router's address goes with the network
	}
	if k := max(held, nics); k > 0 {
		return orchestrate.ErrInUse("Can't delete the network %s, not all user vms are expunged: %d NICs of VMs are still on it", n.Name, k)
	}
	return nil
}

// Delete removes a network no NIC uses (deleteNetwork's job); a network already gone is done.
func Delete(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	var r *db.Router
	var uri string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		r, uri = nil, ""
		n, err := db.GetNetwork(ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil // an earlier run of this job removed it
		}
		if err != nil {
			return err
		}
		if !CanUse(a.Caller, n, true) {
			return orchestrate.ErrDenied("Account %s does not have permission to access network %s", a.Caller.User.AccountName, n.ID)
		}
		if r, err = db.NetworkRouter(ctx, tx, n.ID); err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		uri = n.BroadcastURI
		return Destroy(ctx, d, a, tx, n)
	})
	if err != nil {
		return err
	}
	// The rows are gone; a host that misses this drops the router when it next syncs.
	if err := RemoveRouter(ctx, d, r, uri); err != nil && d.Log != nil {
		d.Log.Warn("remove router", "network", id, "err", err)
	}
	return nil
}

// Destroy removes a network no NIC uses, in the caller's transaction: its VNI and source NAT
// address, its IP ranges (Shared), its tags and its count against the owner's limit.
func Destroy(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, tx db.Tx, n *db.Network) error {
	// Wait for deploys adding NICs (they hold the row shared), then count what they left.
	if err := db.LockNetwork(ctx, tx, n); err != nil {
		return err
	}
	if err := CheckUnused(ctx, tx, n); err != nil {
		return err
	}
	if err := RemoveNetworkLBs(ctx, tx, n.ID); err != nil {
		return err
	}
	if err := ReleaseResources(ctx, d, tx, n); err != nil {
		return err
	}
	if ip, err := routerHeldIP(ctx, tx, n); err != nil {
		return err
	} else if ip != "" {
		if err := ReleaseNicIP(ctx, d, tx, n, ip); err != nil {
			return err
		}
	}
	if _, err := db.RemoveNetworkRouter(ctx, tx, n.ID); err != nil {
		return err
	}
	ranges, _, err := db.ListVlanRanges(ctx, tx, db.VlanRangeFilter{NetworkID: n.ID})
	if err != nil {
		return err
	}
	if len(ranges) > 0 {
		if _, err := ZoneForChange(ctx, tx, n.ZoneID); err != nil {
			return err
		}
		for _, v := range ranges {
			if err := RemoveRange(ctx, a, tx, v); err != nil {
				return err
			}
		}
	}
	if counted, err := db.NetworkCounted(ctx, tx, n); err != nil {
		return err
	} else if counted {
		if err := d.ChargeResources(ctx, tx, n.AccountID, map[string]int64{db.ResNetwork: -1}); err != nil {
			return err
		}
	}
	if err := db.DeleteTagsOf(ctx, tx, "Network", n.ID); err != nil {
		return err
	}
	if err := db.RemoveNetwork(ctx, tx, n); err != nil {
		return err
	}
	return orchestrate.Event(ctx, tx, a, "NETWORK.DELETE", "Deleting network "+n.Name, "Network", n.ID)
}

// RemoveAccountNetworks destroys every network an account owns (deleteAccount's cleanup, once
// its VMs are expunged); a network still holding NICs refuses, and with it the caller.
func RemoveAccountNetworks(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, tx db.Tx, accountID string) error {
	list, _, err := db.ListNetworks(ctx, tx, db.NetworkFilter{Scope: db.Scope{AccountID: accountID}})
	if err != nil {
		return err
	}
	for _, n := range list {
		if err := Destroy(ctx, d, a, tx, n); err != nil {
			return err
		}
	}
	return nil
}

// CheckRestart refuses to restart a network that is neither Implemented nor Setup.
func CheckRestart(n *db.Network) error {
	if n.State != db.NetworkImplemented && n.State != db.NetworkSetup {
		return orchestrate.ErrParam("Network %s is not in the right state to be restarted (%s). Correct states are: Implemented, Setup", n.Name, n.State)
	}
	return nil
}

// Restart re-implements a network (restartNetwork's job): the network gets back whatever it
// lacks of its VNI and source NAT address, restartrequired clears, and its router, once
// placed, is applied again on its host; with cleanup it is first removed there, so that it
// is built anew.
func Restart(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, cleanup bool) error {
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		n, err := ForCaller(ctx, tx, a.Caller, id, true)
		if err != nil {
			return err
		}
		if err := CheckRestart(n); err != nil {
			return err
		}
		if n.GuestType == db.GuestIsolated && n.BroadcastURI != "" {
			ok, err := VnetHeld(ctx, tx, n)
			if err != nil {
				return err
			}
			if !ok {
				n.BroadcastURI, n.BroadcastDomainType = "", ""
			}
		}
		if err := AllocateResources(ctx, d, tx, n); err != nil {
			return err
		}
		n.RestartRequired = false
		if err := db.UpdateNetwork(ctx, tx, n); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "NETWORK.RESTART", "Restarting network "+n.Name, "Network", n.ID)
	})
	if err != nil {
		return err
	}
	r, err := db.NetworkRouter(ctx, d.DB.Read(), id)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	if cleanup && err == nil && r.HostID != "" {
		if err := RemoveRouter(ctx, d, r, ""); err != nil {
			return orchestrate.ErrInternal("Unable to clean up the router of network %s: %s", r.NetworkName, d.Cause(err))
		}
	}
	return ApplyRules(ctx, d, id) // the router, once placed, is applied again with the network's rules
}

// VnetHeld reports whether an Implemented network still holds its VNI's allocation row.
func VnetHeld(ctx context.Context, q db.Querier, n *db.Network) (bool, error) {
	var v int64
	if i := strings.Index(n.BroadcastURI, "://"); i < 0 {
		return false, nil
	} else if _, err := fmt.Sscanf(n.BroadcastURI[i+3:], "%d", &v); err != nil {
		return false, nil
	}
	owner, err := db.VnetOwner(ctx, q, n.PhysicalNetworkID, v)
	if errors.Is(err, db.ErrNotFound) {
		// A VLAN outside the physical network's dynamic range was specified by the admin:
		// it is the network's without an allocation row.
		pn, err := physicalNetworkByID(ctx, q, n.PhysicalNetworkID)
		if err != nil {
			return false, err
		}
		rs, _ := ParseVnetRanges("vlan", pn.Vlan, IsolationOf(pn))
		return !VnetContains(rs, v), nil
	}
	if err != nil {
		return false, err
	}
	if owner != n.ID {
		return false, orchestrate.ErrInternal("Network %s's vnet %d is allocated to another network (%s)", n.Name, v, owner)
	}
	return true, nil
}
