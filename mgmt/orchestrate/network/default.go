package network

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// defaultGuestCIDR is a zone's guest CIDR when it names none (CloudStack's default).
const defaultGuestCIDR = "10.1.1.0/24"

// DefaultFor is CloudStack's choice of network when deployVirtualMachine names none: in a
// Basic zone (or an Advanced zone with security groups) the zone's shared guest network the
// account may use; in an Advanced zone the account's only Isolated network, or, when it has
// none, a new one "<account>-network" on the offering with availability Required (CloudStack's
// createDefaultNetworkForAccount), made in tx with the actor's event. More than one, or no
// Required offering, answers 431 asking for networkids.
func DefaultFor(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, tx db.Tx, zone *db.Zone, accountID string) (*db.Network, error) {
	acct, err := db.GetAccount(ctx, tx, accountID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find account by id %s", accountID)
	}
	if err != nil {
		return nil, err
	}
	if zone.NetworkType == zoneBasic || zone.SecurityGroupsEnabled {
		list, _, err := db.ListNetworks(ctx, tx, db.NetworkFilter{ZoneID: zone.ID, GuestType: db.GuestShared,
			AccessibleAccountID: acct.ID, AccessibleDomainPath: acct.DomainPath})
		if err != nil {
			return nil, err
		}
		for _, n := range list {
			if zone.NetworkType == zoneBasic || n.HasService("SecurityGroup") {
				return n, nil
			}
		}
		return nil, orchestrate.ErrParam("Unable to find a default network in zone %s for account %s: create the zone's shared guest network (createNetwork with %s) or specify networkids",
			zone.Name, acct.Name, "DefaultSharedNetworkOfferingWithSGService")
	}
	list, _, err := db.ListNetworks(ctx, tx, db.NetworkFilter{ZoneID: zone.ID, GuestType: db.GuestIsolated, Scope: db.Scope{AccountID: acct.ID}})
	if err != nil {
		return nil, err
	}
	switch len(list) {
	case 1:
		return list[0], nil
	case 0:
		return createDefault(ctx, d, a, tx, zone, acct)
	}
	return nil, orchestrate.ErrParam("More than 1 default Isolated networks are found for account %s in zone %s; please specify networkids", acct.Name, zone.Name)
}

// createDefault creates an account's default Isolated network in the caller's transaction, as
// CloudStack does on a deploy without networkids: named "<account>-network", on the enabled
// Isolated offering with availability Required, over the zone's guest CIDR.
func createDefault(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, tx db.Tx, zone *db.Zone, acct *db.Account) (*db.Network, error) {
	offs, err := db.ListNetworkOfferings(ctx, tx, db.NetworkOfferingFilter{Availability: "Required", GuestIPType: db.GuestIsolated})
	if err != nil {
		return nil, err
	}
	var o *db.NetworkOffering
	for _, x := range offs {
		if !x.IsSystem && !x.ForVPC && strings.EqualFold(x.TrafficType, "Guest") {
			o = x
			break
		}
	}
	switch {
	case o == nil:
		return nil, orchestrate.ErrParam("Unable to find network offering with availability=Required to automatically create the network as a part of vm creation; please specify networkids")
	case !strings.EqualFold(o.State, "Enabled"):
		return nil, orchestrate.ErrParam("Required network offering %s is not in Enabled state; please specify networkids", o.Name)
	case o.SpecifyVlan:
		return nil, orchestrate.ErrParam("Required network offering %s needs a vlan; please specify networkids", o.Name)
	case len(o.ZoneIDs) > 0 && !containsFold(o.ZoneIDs, zone.ID):
		return nil, orchestrate.ErrParam("Required network offering %s is not available in zone %s; please specify networkids", o.Name, zone.Name)
	}
	pn, err := GuestPhysicalNetwork(ctx, tx, zone, o)
	if err != nil {
		return nil, err
	}
	cidr := zone.GuestCIDR
	if cidr == "" {
		cidr = defaultGuestCIDR
	}
	sn, err := SubnetOfCIDR(cidr)
	if err != nil {
		return nil, err
	}
	sn = Subnet{GW: sn.Network().Next(), Bits: sn.Bits}
	n := &db.Network{ID: uuid.NewString(), Name: acct.Name + "-network", DisplayText: acct.Name + "-network", ZoneID: zone.ID,
		PhysicalNetworkID: pn.ID, AccountID: acct.ID, DomainID: acct.DomainID, NetworkOfferingID: o.ID, GuestType: db.GuestIsolated,
		TrafficType: "Guest", CIDR: sn.CIDR(), Gateway: sn.GW.String(), Netmask: sn.Mask(), State: db.NetworkAllocated,
		ACLType: db.ACLAccount, Services: OfferingServices(o), SpecifyIPRanges: o.SpecifyIPRanges, Created: db.Now()}
	n.NetworkDomain = DefaultDomain(zone, acct, n.ID)
	// The charge locks the account's network count row: a concurrent first deploy of the
	// account waits here, then finds the network the other one made and uses it.
	if err := d.ChargeResources(ctx, tx, acct.ID, map[string]int64{db.ResNetwork: 1}); err != nil {
		return nil, err
	}
	list, _, err := db.ListNetworks(ctx, tx, db.NetworkFilter{ZoneID: zone.ID, GuestType: db.GuestIsolated, Scope: db.Scope{AccountID: acct.ID}})
	if err != nil {
		return nil, err
	}
	if len(list) > 0 {
		if err := d.ChargeResources(ctx, tx, acct.ID, map[string]int64{db.ResNetwork: -1}); err != nil {
			return nil, err
		}
		if len(list) > 1 {
			return nil, orchestrate.ErrParam("More than 1 default Isolated networks are found for account %s in zone %s; please specify networkids", acct.Name, zone.Name)
		}
		return list[0], nil
	}
	if err := db.InsertNetwork(ctx, tx, n); err != nil {
		return nil, err
	}
	if err := orchestrate.Event(ctx, tx, a, "NETWORK.CREATE", "Creating network "+n.Name+" as the default network of account "+acct.Name, "Network", n.ID); err != nil {
		return nil, err
	}
	return db.GetNetwork(ctx, tx, n.ID)
}

// GuestPhysicalNetwork picks the physical network of a new guest network: the zone's physical
// network carrying Guest traffic whose tag matches the offering's.
func GuestPhysicalNetwork(ctx context.Context, q db.Querier, z *db.Zone, o *db.NetworkOffering) (*db.PhysicalNetwork, error) {
	list, _, err := db.ListPhysicalNetworks(ctx, q, db.PhysicalNetworkFilter{ZoneID: z.ID, TrafficType: "Guest"})
	if err != nil {
		return nil, err
	}
	var untagged *db.PhysicalNetwork
	for _, pn := range list {
		if o.Tags != "" && strings.EqualFold(pn.Tags, o.Tags) {
			return pn, nil
		}
		if pn.Tags == "" && untagged == nil {
			untagged = pn
		}
	}
	if o.Tags == "" && untagged == nil && len(list) == 1 {
		untagged = list[0]
	}
	if untagged == nil || o.Tags != "" {
		tag := ""
		if o.Tags != "" {
			tag = " and tag " + o.Tags
		}
		return nil, orchestrate.ErrParam("Unable to find physical network with traffic type Guest%s in zone %s: add the Guest traffic type to a physical network first (or pass physicalnetworkid)", tag, z.Name)
	}
	return untagged, nil
}

// OfferingServices lists an offering's services, sorted, as networks store them.
func OfferingServices(o *db.NetworkOffering) string {
	names := make([]string, 0, len(o.Services))
	for s := range o.Services {
		names = append(names, s)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// DefaultDomain is a new network's DNS domain when none is given: the zone's, else the
// owner's, else one made from the network's id under CloudStack's guest.domain.suffix.
func DefaultDomain(z *db.Zone, acct *db.Account, id string) string {
	switch {
	case z.NetworkDomain != "":
		return z.NetworkDomain
	case acct != nil && acct.NetworkDomain != "":
		return acct.NetworkDomain
	}
	return "cs" + strings.ReplaceAll(id, "-", "")[:6] + ".cloud.internal"
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), v) {
			return true
		}
	}
	return false
}
