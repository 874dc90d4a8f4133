package network

import (
	"context"
	"net/netip"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// CreateSpec is a new guest network of createNetwork, its parameters checked against its
// offering, zone and owner: the row to insert (id, names, zone, owner, ACL type, offering,
// services, network domain), and the parameters that depend on its physical network, trimmed.
type CreateSpec struct {
	Network           *db.Network
	Zone              *db.Zone
	Offering          *db.NetworkOffering
	PhysicalNetworkID string // "" picks the zone's Guest physical network matching the offering's tag
	Gateway, Netmask  string
	StartIP, EndIP    string
	Vlan              string
}

// Create makes a guest network: it picks its physical network, applies the rules of Isolated
// or Shared networks (VLAN, subnet, IP range), charges the owner's network count and records
// NETWORK.CREATE, in one transaction. It returns the network's id.
func Create(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec CreateSpec) (string, error) {
	n, z, o := spec.Network, spec.Zone, spec.Offering
	var rangeRow *db.VlanRange
	var rng IPRange
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		pn, err := guestPhysicalNetworkFor(ctx, tx, z, o, spec.PhysicalNetworkID)
		if err != nil {
			return err
		}
		n.PhysicalNetworkID = pn.ID
		if o.GuestIPType == db.GuestIsolated {
			if err := isolatedParams(ctx, a, tx, z, pn, o, n, spec); err != nil {
				return err
			}
		} else {
			// The zone lock orders this against other changes to the zone's ranges.
			if _, err := ZoneForChange(ctx, tx, z.ID); err != nil {
				return err
			}
			if rangeRow, rng, err = sharedParams(ctx, a, tx, z, pn, o, n, spec); err != nil {
				return err
			}
		}
		if n.AccountID != "" && n.ACLType == db.ACLAccount && !o.SpecifyVlan {
			if err := d.ChargeResources(ctx, tx, n.AccountID, map[string]int64{db.ResNetwork: 1}); err != nil {
				return err
			}
		}
		if err := db.InsertNetwork(ctx, tx, n); err != nil {
			return err
		}
		if rangeRow != nil {
			if err := addSharedRange(ctx, tx, z, n, rangeRow, rng); err != nil {
				return err
			}
		}
		return orchestrate.Event(ctx, tx, a, "NETWORK.CREATE", "Creating network "+n.Name, "Network", n.ID)
	})
	if err != nil {
		return "", err
	}
	return n.ID, nil
}

// guestPhysicalNetworkFor picks the physical network of a new guest network: the one given, or
// the zone's physical network carrying Guest traffic whose tag matches the offering's.
func guestPhysicalNetworkFor(ctx context.Context, q db.Querier, z *db.Zone, o *db.NetworkOffering, id string) (*db.PhysicalNetwork, error) {
	if id != "" {
		pn, err := physicalNetworkByID(ctx, q, id)
		if err != nil {
			return nil, err
		}
		if pn.ZoneID != z.ID {
			return nil, orchestrate.ErrParam("Physical network %s (physicalnetworkid) does not belong to zone %s", pn.Name, z.Name)
		}
		if tts, _, err := db.ListTrafficTypes(ctx, q, db.TrafficTypeFilter{PhysicalNetworkID: pn.ID, TrafficType: TrafficGuest}); err != nil {
			return nil, err
		} else if len(tts) == 0 {
			return nil, orchestrate.ErrParam("Physical network %s (physicalnetworkid) does not carry Guest traffic", pn.Name)
		}
		return pn, nil
	}
	return GuestPhysicalNetwork(ctx, q, z, o)
}

// guestCIDRSpaces are where CloudStack lets a guest CIDR lie (NetUtils.validateGuestCidr).
var guestCIDRSpaces = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10")}

// ValidGuestCIDR checks a guest CIDR (an IPv4 prefix of at least /8 in private address space)
// and returns it masked.
func ValidGuestCIDR(v string) (string, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(v))
	ok := err == nil && p.Addr().Is4() && p.Bits() >= 8
	if ok {
		ok = false
		for _, s := range guestCIDRSpaces {
			ok = ok || s.Bits() <= p.Bits() && s.Contains(p.Addr())
		}
	}
	if !ok {
		return "", orchestrate.ErrParam("Please enter a valid guest cidr for guestcidraddress: %q is not an IPv4 CIDR in private (RFC 1918 or 100.64.0.0/10) address space", v)
	}
	return p.Masked().String(), nil
}

// isolatedParams applies an Isolated network's rules and its gateway/netmask (the zone's
// guest CIDR, or CloudStack's 10.1.1.0/24, by default).
func isolatedParams(ctx context.Context, a orchestrate.Actor, tx db.Tx, z *db.Zone, pn *db.PhysicalNetwork, o *db.NetworkOffering, n *db.Network, spec CreateSpec) error {
	if z.NetworkType != zoneAdvanced {
		return orchestrate.ErrParam("Isolated networks can't be created in Basic zone %s: its guests use the zone's shared network", z.Name)
	}
	if z.SecurityGroupsEnabled {
		return orchestrate.ErrParam("Isolated networks can't be created in zone %s: security groups are enabled there, use a Shared network with security groups", z.Name)
	}
	for _, p := range []struct{ name, v string }{{"startip", spec.StartIP}, {"endip", spec.EndIP}} {
		if p.v != "" {
			return orchestrate.ErrParam("%s can't be specified for an Isolated network: its VMs take addresses from its CIDR (gateway and netmask)", p.name)
		}
	}
	if err := specifiedVlan(ctx, a, tx, z, pn, o, n, spec.Vlan); err != nil {
		return err
	}
	gw, mask := spec.Gateway, spec.Netmask
	if (gw == "") != (mask == "") {
		return orchestrate.ErrParam("gateway and netmask must be specified together")
	}
	if gw == "" {
		cidr := z.GuestCIDR
		if cidr == "" {
			cidr = defaultGuestCIDR
		}
		sn, err := SubnetOfCIDR(cidr)
		if err != nil {
			return err
		}
		gw, mask = sn.Network().Next().String(), sn.Mask()
	}
	sn, err := ParseSubnet(gw, mask)
	if err != nil {
		return err
	}
	if sn.Bits > 29 {
		return orchestrate.ErrParam("The netmask %s (netmask) leaves no room for guests: an Isolated network needs at least a /29", mask)
	}
	if sn.GW == sn.Network() || sn.GW == sn.Broadcast() {
		return orchestrate.ErrParam("The gateway %s (gateway) is the network or broadcast address of %s", gw, sn.CIDR())
	}
	if _, err := ValidGuestCIDR(sn.CIDR()); err != nil {
		return orchestrate.ErrParam("Invalid gateway/netmask: the network's CIDR %s is not in private (RFC 1918 or 100.64.0.0/10) address space", sn.CIDR())
	}
	n.Gateway, n.Netmask, n.CIDR = sn.GW.String(), sn.Mask(), sn.CIDR()
	n.State = db.NetworkAllocated
	return nil
}

// sharedParams applies a Shared network's rules: its VLAN (required when the offering says
// specifyvlan, never one of the physical network's dynamic VNIs, nor another live network's)
// and its IPv4 range (required in an Advanced zone). It returns the range to add once the
// network row exists.
func sharedParams(ctx context.Context, a orchestrate.Actor, tx db.Tx, z *db.Zone, pn *db.PhysicalNetwork, o *db.NetworkOffering, n *db.Network, spec CreateSpec) (*db.VlanRange, IPRange, error) {
	if z.NetworkType == zoneBasic {
		others, _, err := db.ListNetworks(ctx, tx, db.NetworkFilter{ZoneID: z.ID})
		if err != nil {
			return nil, IPRange{}, err
		}
		if len(others) > 0 {
			return nil, IPRange{}, orchestrate.ErrParam("Basic zone %s already has its guest network %s: a Basic zone has one guest network", z.Name, others[0].Name)
		}
	} else if o.HasService("SecurityGroup") && !z.SecurityGroupsEnabled {
		return nil, IPRange{}, orchestrate.ErrParam("Network offering %s has the SecurityGroup service: zone %s does not have security groups enabled", o.Name, z.Name)
	}
	if z.NetworkType == zoneBasic {
		if spec.Vlan != "" {
			return nil, IPRange{}, orchestrate.ErrParam("vlan can't be specified for the guest network of Basic zone %s", z.Name)
		}
		n.BroadcastDomainType = "Native"
	} else if err := specifiedVlan(ctx, a, tx, z, pn, o, n, spec.Vlan); err != nil {
		return nil, IPRange{}, err
	}
	n.State = db.NetworkSetup
	gw, mask, start, end := spec.Gateway, spec.Netmask, spec.StartIP, spec.EndIP
	if gw == "" && mask == "" && start == "" && end == "" {
		if z.NetworkType == zoneAdvanced {
			return nil, IPRange{}, orchestrate.ErrParam("gateway, netmask and startip are required for a Shared network in an Advanced zone")
		}
		// A Basic zone's network takes the pods' guest ranges (createVlanIpRange with podid).
		return nil, IPRange{}, basicSubnet(ctx, tx, z.ID, n)
	}
	if gw == "" || mask == "" || start == "" {
		return nil, IPRange{}, orchestrate.ErrParam("gateway, netmask and startip must be specified together for a Shared network's IP range")
	}
	if end == "" {
		end = start
	}
	sn, err := ParseSubnet(gw, mask)
	if err != nil {
		return nil, IPRange{}, err
	}
	r, err := sn.CheckRange(start, end, "startip", "endip")
	if err != nil {
		return nil, IPRange{}, err
	}
	if r.Size() > MaxRangeAddresses {
		return nil, IPRange{}, orchestrate.ErrParam("The IP range %s-%s (startip-endip) holds %d addresses; a range may hold at most %d", start, end, r.Size(), MaxRangeAddresses)
	}
	n.Gateway, n.Netmask, n.CIDR = sn.GW.String(), sn.Mask(), sn.CIDR()
	v := &db.VlanRange{ID: uuid.NewString(), ZoneID: z.ID, PhysicalNetworkID: pn.ID, NetworkID: n.ID, VlanTag: n.BroadcastURI,
		Gateway: n.Gateway, Netmask: n.Netmask, StartIP: r.Lo.String(), EndIP: r.Hi.String(), Created: n.Created}
	if v.VlanTag == "" {
		v.VlanTag = UntaggedTag
	}
	if err := CheckRangeFits(ctx, tx, z, pn, v, r); err != nil {
		return nil, IPRange{}, err
	}
	return v, r, nil
}

// specifiedVlan applies the vlan parameter of an Advanced zone's network: required, and for
// the root admin only, when the offering says specifyvlan; refused otherwise. A given VLAN is
// never one of the physical network's dynamic VNIs (CloudStack's check) nor, when tagged,
// another live network's on the same physical network (one broadcast domain each).
func specifiedVlan(ctx context.Context, a orchestrate.Actor, tx db.Tx, z *db.Zone, pn *db.PhysicalNetwork, o *db.NetworkOffering, n *db.Network, vlan string) error {
	switch {
	case vlan == "" && o.SpecifyVlan:
		return orchestrate.ErrParam("vlan is required: network offering %s says specifyvlan=true", o.Name)
	case vlan != "" && !o.SpecifyVlan:
		return orchestrate.ErrParam("Can't specify vlan; corresponding network offering %s says specifyvlan=false", o.Name)
	case vlan == "":
		return nil
	case !a.Caller.IsRootAdmin():
		return orchestrate.ErrDenied("Only the ROOT admin can create networks with a specified vlan (offering %s says specifyvlan=true)", o.Name)
	}
	iso := IsolationOf(pn)
	tag, id, err := NormalizeVlanTag(vlan, iso)
	if err != nil {
		return err
	}
	if rs, err := ParseVnetRanges("vlan", pn.Vlan, iso); err == nil && id > 0 && VnetContains(rs, id) {
		return orchestrate.ErrParam("The VLAN tag %s is already being used for dynamic vlan allocation for the guest network in zone %s (physical network %s, range %s)",
			vlan, z.Name, pn.Name, pn.Vlan)
	}
	if id > 0 {
		others, _, err := db.ListNetworks(ctx, tx, db.NetworkFilter{ZoneID: z.ID, PhysicalNetworkID: pn.ID})
		if err != nil {
			return err
		}
		for _, other := range others {
			if strings.EqualFold(other.BroadcastURI, tag) {
				return orchestrate.ErrParam("Network %s already uses vlan %s in zone %s", other.Name, vlan, z.Name)
			}
		}
	}
	n.BroadcastURI, n.BroadcastDomainType = tag, "Vlan"
	if iso == IsoVXLAN && id > 0 {
		n.BroadcastDomainType = "Vxlan"
	}
	return nil
}

// addSharedRange adds a Shared network's IP range with its address rows and the zone's direct
// IP capacity.
func addSharedRange(ctx context.Context, tx db.Tx, z *db.Zone, n *db.Network, v *db.VlanRange, r IPRange) error {
	if err := db.InsertVlanRange(ctx, tx, v); err != nil {
		return err
	}
	if err := db.InsertPublicIPs(ctx, tx, z.ID, v.ID, r.Addrs()); err != nil {
		if db.IsDuplicate(err) {
			return orchestrate.ErrParam("The IP range %s-%s overlaps with addresses the zone %s already has", v.StartIP, v.EndIP, z.Name)
		}
		return err
	}
	return SyncIPCapacity(ctx, tx, z.ID, false)
}
