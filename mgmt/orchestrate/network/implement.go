package network

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// Implement readies an Allocated Isolated network for its first VM, in the caller's
// transaction: a VNI/VLAN from its physical network's guest range (vnet_allocations and the
// VLAN capacity row) and, when its offering has SourceNat, a source NAT address from the
// zone's public ranges (the public IP capacity row, and the account's public_ip count), then
// its router's row (placed and applied by the first VM's start: SyncRouter), then
// Allocated -> Implemented. Implemented and Setup networks need nothing. Concurrent first
// deploys serialise on the network's version: the loser's transaction runs again and finds it
// Implemented.
func Implement(ctx context.Context, d *orchestrate.Deps, tx db.Tx, n *db.Network) error {
	switch n.State {
	case db.NetworkSetup:
		if n.Gateway == "" && n.GuestType == db.GuestShared && n.ZoneNetworkType == zoneBasic {
			// A Basic zone's network made before its pods' guest ranges takes their subnet now.
			if err := basicSubnet(ctx, tx, n.ZoneID, n); err != nil {
				return err
			}
			if n.Gateway != "" {
				return db.UpdateNetwork(ctx, tx, n)
			}
		}
		return nil
	case db.NetworkImplemented:
		return nil
	case db.NetworkDestroy:
		return orchestrate.ErrParam("Network %s is being destroyed", n.Name)
	}
	if err := AllocateResources(ctx, d, tx, n); err != nil {
		return err
	}
	if err := ensureRouter(ctx, d, tx, n); err != nil {
		return err
	}
	n.State = db.NetworkImplemented
	return db.UpdateNetwork(ctx, tx, n)
}

// basicSubnet gives a Basic zone's network the gateway and netmask of the zone's first guest
// (direct) range, when one exists.
func basicSubnet(ctx context.Context, tx db.Tx, zoneID string, n *db.Network) error {
	f := false
	list, _, err := db.ListVlanRanges(ctx, tx, db.VlanRangeFilter{ZoneID: zoneID, ForVirtualNetwork: &f, Limit: 1})
	if err != nil {
		return err
	}
	if len(list) > 0 {
		if sn, err := parseSubnet(list[0].Gateway, list[0].Netmask); err == nil {
			n.Gateway, n.Netmask, n.CIDR = sn.GW.String(), sn.Mask(), sn.CIDR()
		}
	}
	return nil
}

// physicalNetworkByID loads a physical network with CloudStack's error for an unknown id.
func physicalNetworkByID(ctx context.Context, q db.Querier, id string) (*db.PhysicalNetwork, error) {
	n, err := db.GetPhysicalNetwork(ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find physical network by id %s", id)
	}
	return n, err
}

// AllocateResources gives n what it lacks of a VNI (BroadcastURI) and a source NAT address;
// it does not write n's row.
func AllocateResources(ctx context.Context, d *orchestrate.Deps, tx db.Tx, n *db.Network) error {
	if n.BroadcastURI == "" && n.GuestType == db.GuestIsolated {
		if n.PhysicalNetworkID == "" {
			return orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSInsufficientVirtualNetwork, "Unable to implement network %s: it has no physical network", n.Name)
		}
		pn, err := physicalNetworkByID(ctx, tx, n.PhysicalNetworkID)
		if err != nil {
			return err
		}
		iso := IsolationOf(pn)
		rs, err := ParseVnetRanges("vlan", pn.Vlan, iso)
		if err != nil {
			return err
		}
		ranges := make([][2]int64, len(rs))
		var size int64
		for i, r := range rs {
			ranges[i] = [2]int64{r.Lo, r.Hi}
			size += r.Hi - r.Lo + 1
		}
		if size == 0 {
			return orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSInsufficientVirtualNetwork, "Unable to allocate a guest vnet for network %s: physical network %s has no vnet range", n.Name, pn.Name)
		}
		start := rs[0].Lo + rand.Int64N(size)
		v, err := db.AllocateVnet(ctx, tx, pn.ID, pn.ZoneID, n.AccountID, n.ID, ranges, start)
		if errors.Is(err, db.ErrNotFound) {
			return orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSInsufficientVirtualNetwork, "Unable to allocate a guest vnet for network %s: every vnet of physical network %s (%s) is in use", n.Name, pn.Name, pn.Vlan)
		}
		if err != nil {
			return err
		}
		if err := d.Ledger.ReserveCount(ctx, tx, db.CapVLAN, pn.ID, 1); err != nil {
			var ce *planner.CapacityError
			if errors.As(err, &ce) {
				return orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSInsufficientVirtualNetwork, "Unable to allocate a guest vnet for network %s: %v", n.Name, ce.Reason)
			}
			return err
		}
		scheme, typ := "vlan", "Vlan"
		if iso == IsoVXLAN {
			scheme, typ = "vxlan", "Vxlan"
		}
		n.BroadcastURI, n.BroadcastDomainType = fmt.Sprintf("%s://%d", scheme, v), typ
	}
	if n.HasService("SourceNat") {
		ips, err := db.ListNetworkPublicIPs(ctx, tx, n.ID)
		if err != nil {
			return err
		}
		for _, p := range ips {
			if p.SourceNAT {
				return nil
			}
		}
		if _, err := db.AcquireSourceNATIP(ctx, tx, n.ZoneID, n.AccountID, n.DomainID, n.ID); errors.Is(err, db.ErrNotFound) {
			return ErrNoAddress("Insufficient address capacity: no free public IP address in zone %s for the source NAT of network %s", n.ZoneName, n.Name)
		} else if err != nil {
			return err
		}
		if err := CapacityErr(d.Ledger.ReserveCount(ctx, tx, db.CapPublicIP, n.ZoneID, 1)); err != nil {
			return err
		}
		if n.AccountID != "" {
			if err := d.ChargeResources(ctx, tx, n.AccountID, map[string]int64{db.ResPublicIP: 1}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReleaseResources returns n's VNI and public addresses (with their capacity and the account's
// public_ip count; an Isolated network's associated addresses with their rules) and clears its
// broadcast URI; it does not write n's row.
func ReleaseResources(ctx context.Context, d *orchestrate.Deps, tx db.Tx, n *db.Network) error {
	ips, err := db.ListNetworkPublicIPs(ctx, tx, n.ID)
	if err != nil {
		return err
	}
	if err := db.DeleteNetworkRules(ctx, tx, n.ID); err != nil {
		return err
	}
	for _, p := range ips {
		if !p.SourceNAT && n.GuestType != db.GuestIsolated {
			continue // a Shared network's NIC addresses go with their NICs
		}
		if err := db.FreePublicIP(ctx, tx, p); err != nil {
			return err
		}
		if err := db.DeleteTagsOf(ctx, tx, "PublicIpAddress", p.ID); err != nil {
			return err
		}
		if err := d.Ledger.ReleaseCount(ctx, tx, db.CapPublicIP, p.ZoneID, 1); err != nil {
			return err
		}
		if p.AccountID != "" {
			if err := d.ChargeResources(ctx, tx, p.AccountID, map[string]int64{db.ResPublicIP: -1}); err != nil {
				return err
			}
		}
	}
	if n.GuestType == db.GuestIsolated && n.BroadcastURI != "" && n.PhysicalNetworkID != "" {
		var v int64
		if _, err := fmt.Sscanf(n.BroadcastURI[strings.Index(n.BroadcastURI, "://")+3:], "%d", &v); err == nil {
			k, err := db.ReleaseVnet(ctx, tx, n.PhysicalNetworkID, v, n.ID)
			if err != nil {
				return err
			}
			if k > 0 {
				if err := d.Ledger.ReleaseCount(ctx, tx, db.CapVLAN, n.PhysicalNetworkID, k); err != nil {
					return err
				}
				// A dynamic VNI goes; a VLAN the admin specified stays the network's.
				n.BroadcastURI, n.BroadcastDomainType = "", ""
			}
		}
	}
	return nil
}
