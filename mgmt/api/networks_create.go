package api

import (
	"errors"
	"sort"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/google/uuid"
)

// createNetwork and the rules of new Isolated and Shared networks.

// networkOwner resolves the owner of a new network: account/domainid (the caller must manage
// that account), domainid alone (a Domain-wide network of that domain), or the caller.
func (c *Call) networkOwner(q db.Querier) (acct *db.Account, dom *db.Domain, err error) {
	name := strings.TrimSpace(c.P.String("account"))
	domID := c.lowerID("domainid")
	if name == "" && domID == "" {
		if acct, err = db.GetAccount(c.Ctx, q, c.Caller.User.AccountID); err != nil {
			return nil, nil, err
		}
		dom, err = db.GetDomain(c.Ctx, q, acct.DomainID)
		return acct, dom, err
	}
	if name != "" && domID == "" && !c.Caller.IsAdmin() {
		domID = c.Caller.User.DomainID
	}
	if dom, err = c.DomainForScope(domID); err != nil {
		return nil, nil, err
	}
	if name == "" {
		if !c.Caller.IsAdmin() {
			return nil, nil, ErrDenied("Account %s does not have permission to create a network for domain %s", c.Caller.User.AccountName, dom.Path)
		}
		return nil, dom, nil
	}
	acct, err = db.GetAccountByName(c.Ctx, q, dom.ID, name)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil, ErrParam("Unable to find account %s in domain %s", name, dom.Path)
	}
	if err != nil {
		return nil, nil, err
	}
	if !c.Caller.CanManageAccount(acct.ID, dom.Path) {
		return nil, nil, ErrDenied("Account %s does not have permission to access account %s", c.Caller.User.AccountName, name)
	}
	return acct, dom, nil
}

// offeringServices lists an offering's services, sorted, as networks store them.
func offeringServices(o *db.NetworkOffering) string {
	names := make([]string, 0, len(o.Services))
	for s := range o.Services {
		names = append(names, s)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// guestPhysicalNetwork picks the physical network of a new guest network: the one given, or
// the zone's physical network carrying Guest traffic whose tag matches the offering's.
func (c *Call) guestPhysicalNetwork(q db.Querier, z *db.Zone, o *db.NetworkOffering, id string) (*db.PhysicalNetwork, error) {
	if id != "" {
		pn, err := c.physicalNetworkByID(q, id)
		if err != nil {
			return nil, err
		}
		if pn.ZoneID != z.ID {
			return nil, ErrParam("Physical network %s (physicalnetworkid) does not belong to zone %s", pn.Name, z.Name)
		}
		if tts, _, err := db.ListTrafficTypes(c.Ctx, q, db.TrafficTypeFilter{PhysicalNetworkID: pn.ID, TrafficType: trafficGuest}); err != nil {
			return nil, err
		} else if len(tts) == 0 {
			return nil, ErrParam("Physical network %s (physicalnetworkid) does not carry Guest traffic", pn.Name)
		}
		return pn, nil
	}
	return network.GuestPhysicalNetwork(c.Ctx, q, z, o)
}

// validNetworkDomainParam checks a network domain as CloudStack's NetUtils.verifyDomainName.
func (c *Call) networkDomainParam() (string, error) {
	nd := strings.TrimSpace(c.P.String("networkdomain"))
	if nd == "" {
		return "", nil
	}
	if err := validNetworkDomain(nd); err != nil {
		return "", err
	}
	return nd, nil
}

func createNetwork(c *Call) (any, error) {
	for _, p := range []string{"vpcid", "aclid", "isolatedpvlan", "startipv6", "endipv6", "ip6cidr", "ip6gateway"} {
		if strings.TrimSpace(c.P.String(p)) != "" {
			return nil, ErrParam("%s is not supported: Atoll's guest networks are IPv4 Isolated and Shared networks outside VPCs", p)
		}
	}
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(c.P.String("name"))
	if name == "" {
		return nil, ErrMissing(c.Cmd.Name, "name")
	}
	display := strings.TrimSpace(c.P.String("displaytext"))
	if display == "" {
		display = name
	}
	nd, err := c.networkDomainParam()
	if err != nil {
		return nil, err
	}
	read := c.S.DB.Read()
	o, err := db.GetNetworkOffering(c.Ctx, read, c.lowerID("networkofferingid"))
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find network offering by id %s", c.lowerID("networkofferingid"))
	}
	if err != nil {
		return nil, err
	}
	switch {
	case !strings.EqualFold(o.State, "Enabled"):
		return nil, ErrParam("Network offering %s is not in Enabled state, can't be used for network creation", o.Name)
	case o.IsSystem:
		return nil, ErrParam("Network offering %s is a system offering: it can't be used for network creation", o.Name)
	case !strings.EqualFold(o.TrafficType, "Guest"):
		return nil, ErrParam("Network offering %s is for %s traffic: only Guest networks can be created", o.Name, o.TrafficType)
	case o.ForVPC:
		return nil, ErrParam("Network offering %s is for VPC tiers: VPC networks are not supported", o.Name)
	case o.GuestIPType != db.GuestIsolated && o.GuestIPType != db.GuestShared:
		return nil, ErrParam("Network offering %s has guest type %s: only Isolated and Shared networks are supported", o.Name, o.GuestIPType)
	}
	z, err := c.zoneByID(read, c.lowerID("zoneid"))
	if err != nil {
		return nil, err
	}
	if z.AllocationState == allocDisabled && !c.Caller.IsRootAdmin() {
		return nil, ErrDenied("Cannot perform this operation, Zone %s is currently disabled", z.Name)
	}
	if len(o.ZoneIDs) > 0 && !containsFold(o.ZoneIDs, z.ID) {
		return nil, ErrParam("Network offering %s is not available in zone %s", o.Name, z.Name)
	}
	acct, dom, err := c.networkOwner(read)
	if err != nil {
		return nil, err
	}
	if len(o.DomainIDs) > 0 && !containsFold(o.DomainIDs, dom.ID) {
		return nil, ErrParam("Network offering %s is not available to domain %s", o.Name, dom.Path)
	}
	if o.GuestIPType == db.GuestShared && !c.Caller.IsAdmin() {
		return nil, ErrDenied("Only administrators can create Shared networks")
	}
	n := &db.Network{ID: uuid.NewString(), Name: name, DisplayText: display, ZoneID: z.ID, DomainID: dom.ID, NetworkOfferingID: o.ID,
		GuestType: o.GuestIPType, TrafficType: "Guest", NetworkDomain: nd, Services: offeringServices(o), SpecifyIPRanges: o.SpecifyIPRanges,
		Created: db.Now()}
	// ACL type: CloudStack's defaults and rules.
	switch v := strings.ToLower(strings.TrimSpace(c.P.String("acltype"))); v {
	case "":
		n.ACLType = db.ACLAccount
		if o.GuestIPType == db.GuestShared && acct != nil && c.P.String("account") == "" {
			n.ACLType = db.ACLDomain
		}
		if acct == nil {
			n.ACLType = db.ACLDomain
		}
	case "account":
		n.ACLType = db.ACLAccount
	case "domain":
		n.ACLType = db.ACLDomain
	default:
		return nil, ErrParam("Invalid acltype %q: supported values are account and domain", c.P.String("acltype"))
	}
	if n.ACLType == db.ACLAccount {
		if acct == nil {
			return nil, ErrParam("acltype account needs the owning account: pass account with domainid")
		}
		n.AccountID = acct.ID
	} else {
		if !c.Caller.IsAdmin() {
			return nil, ErrDenied("Only administrators can create networks with acltype domain")
		}
		if o.GuestIPType == db.GuestIsolated {
			return nil, ErrParam("Isolated networks can only be created with acltype account")
		}
		n.SubdomainAccess = true
		if v, ok := c.P.Bool("subdomainaccess"); ok {
			n.SubdomainAccess = v
		}
	}
	if c.P.Has("subdomainaccess") && n.ACLType != db.ACLDomain {
		return nil, ErrParam("subdomainaccess can be given only with acltype domain")
	}
	if n.NetworkDomain == "" {
		n.NetworkDomain = defaultNetworkDomain(z, acct, n.ID)
	}
	var rangeRow *db.VlanRange
	var rng network.IPRange
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		pn, err := c.guestPhysicalNetwork(tx, z, o, c.lowerID("physicalnetworkid"))
		if err != nil {
			return err
		}
		n.PhysicalNetworkID = pn.ID
		if o.GuestIPType == db.GuestIsolated {
			if err := c.isolatedNetworkParams(tx, z, pn, o, n); err != nil {
				return err
			}
		} else {
			// The zone lock orders this against other changes to the zone's ranges.
			if _, err := c.zoneForChange(tx, z.ID); err != nil {
				return err
			}
			if rangeRow, rng, err = c.sharedNetworkParams(tx, z, pn, o, n); err != nil {
				return err
			}
		}
		if n.AccountID != "" && n.ACLType == db.ACLAccount && !o.SpecifyVlan {
			if err := c.chargeResources(tx, n.AccountID, map[string]int64{db.ResNetwork: 1}); err != nil {
				return err
			}
		}
		if err := db.InsertNetwork(c.Ctx, tx, n); err != nil {
			return err
		}
		if rangeRow != nil {
			if err := c.addSharedRange(tx, z, pn, n, rangeRow, rng); err != nil {
				return err
			}
		}
		return c.Event(tx, "NETWORK.CREATE", "Creating network "+n.Name, "Network", n.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.networkObject(n.ID)
}

// defaultNetworkDomain is a new network's DNS domain when none is given: the zone's, else the
// owner's, else one made from the network's id under CloudStack's guest.domain.suffix.
func defaultNetworkDomain(z *db.Zone, acct *db.Account, id string) string {
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

// isolatedNetworkParams applies an Isolated network's rules and its gateway/netmask (the zone's
// guest CIDR, or CloudStack's 10.1.1.0/24, by default).
func (c *Call) isolatedNetworkParams(tx db.Tx, z *db.Zone, pn *db.PhysicalNetwork, o *db.NetworkOffering, n *db.Network) error {
	if z.NetworkType != zoneAdvanced {
		return ErrParam("Isolated networks can't be created in Basic zone %s: its guests use the zone's shared network", z.Name)
	}
	if z.SecurityGroupsEnabled {
		return ErrParam("Isolated networks can't be created in zone %s: security groups are enabled there, use a Shared network with security groups", z.Name)
	}
	for _, p := range []string{"startip", "endip"} {
		if strings.TrimSpace(c.P.String(p)) != "" {
			return ErrParam("%s can't be specified for an Isolated network: its VMs take addresses from its CIDR (gateway and netmask)", p)
		}
	}
	if err := c.specifiedVlan(tx, z, pn, o, n); err != nil {
		return err
	}
	gw, mask := strings.TrimSpace(c.P.String("gateway")), strings.TrimSpace(c.P.String("netmask"))
	if (gw == "") != (mask == "") {
		return ErrParam("gateway and netmask must be specified together")
	}
	if gw == "" {
		cidr := z.GuestCIDR
		if cidr == "" {
			cidr = defaultGuestCIDR
		}
		sn, err := network.SubnetOfCIDR(cidr)
		if err != nil {
			return err
		}
		gw, mask = sn.Network().Next().String(), sn.Mask()
	}
	sn, err := network.ParseSubnet(gw, mask)
	if err != nil {
		return err
	}
	if sn.Bits > 29 {
		return ErrParam("The netmask %s (netmask) leaves no room for guests: an Isolated network needs at least a /29", mask)
	}
	if sn.GW == sn.Network() || sn.GW == sn.Broadcast() {
		return ErrParam("The gateway %s (gateway) is the network or broadcast address of %s", gw, sn.CIDR())
	}
	if _, err := validGuestCIDR(sn.CIDR()); err != nil {
		return ErrParam("Invalid gateway/netmask: the network's CIDR %s is not in private (RFC 1918 or 100.64.0.0/10) address space", sn.CIDR())
	}
	n.Gateway, n.Netmask, n.CIDR = sn.GW.String(), sn.Mask(), sn.CIDR()
	n.State = db.NetworkAllocated
	return nil
}

// sharedNetworkParams applies a Shared network's rules: its VLAN (required when the offering
// says specifyvlan, never one of the physical network's dynamic VNIs, nor another live
// network's) and its IPv4 range (required in an Advanced zone). It returns the range to add
// once the network row exists.
func (c *Call) sharedNetworkParams(tx db.Tx, z *db.Zone, pn *db.PhysicalNetwork, o *db.NetworkOffering, n *db.Network) (*db.VlanRange, network.IPRange, error) {
	if z.NetworkType == zoneBasic {
		others, _, err := db.ListNetworks(c.Ctx, tx, db.NetworkFilter{ZoneID: z.ID})
		if err != nil {
			return nil, network.IPRange{}, err
		}
		if len(others) > 0 {
			return nil, network.IPRange{}, ErrParam("Basic zone %s already has its guest network %s: a Basic zone has one guest network", z.Name, others[0].Name)
		}
	} else if o.HasService("SecurityGroup") && !z.SecurityGroupsEnabled {
		return nil, network.IPRange{}, ErrParam("Network offering %s has the SecurityGroup service: zone %s does not have security groups enabled", o.Name, z.Name)
	}
	if z.NetworkType == zoneBasic {
		if strings.TrimSpace(c.P.String("vlan")) != "" {
			return nil, network.IPRange{}, ErrParam("vlan can't be specified for the guest network of Basic zone %s", z.Name)
		}
		n.BroadcastDomainType = "Native"
	} else if err := c.specifiedVlan(tx, z, pn, o, n); err != nil {
		return nil, network.IPRange{}, err
	}
	n.State = db.NetworkSetup
	gw, mask := strings.TrimSpace(c.P.String("gateway")), strings.TrimSpace(c.P.String("netmask"))
	start, end := strings.TrimSpace(c.P.String("startip")), strings.TrimSpace(c.P.String("endip"))
	if gw == "" && mask == "" && start == "" && end == "" {
		if z.NetworkType == zoneAdvanced {
			return nil, network.IPRange{}, ErrParam("gateway, netmask and startip are required for a Shared network in an Advanced zone")
		}
		// A Basic zone's network takes the pods' guest ranges (createVlanIpRange with podid).
		return nil, network.IPRange{}, c.basicNetworkSubnet(tx, z, n)
	}
	if gw == "" || mask == "" || start == "" {
		return nil, network.IPRange{}, ErrParam("gateway, netmask and startip must be specified together for a Shared network's IP range")
	}
	if end == "" {
		end = start
	}
	sn, err := network.ParseSubnet(gw, mask)
	if err != nil {
		return nil, network.IPRange{}, err
	}
	r, err := sn.CheckRange(start, end, "startip", "endip")
	if err != nil {
		return nil, network.IPRange{}, err
	}
	if r.Size() > maxRangeAddresses {
		return nil, network.IPRange{}, ErrParam("The IP range %s-%s (startip-endip) holds %d addresses; a range may hold at most %d", start, end, r.Size(), maxRangeAddresses)
	}
	n.Gateway, n.Netmask, n.CIDR = sn.GW.String(), sn.Mask(), sn.CIDR()
	v := &db.VlanRange{ID: uuid.NewString(), ZoneID: z.ID, PhysicalNetworkID: pn.ID, NetworkID: n.ID, VlanTag: n.BroadcastURI,
		Gateway: n.Gateway, Netmask: n.Netmask, StartIP: r.Lo.String(), EndIP: r.Hi.String(), Created: n.Created}
	if v.VlanTag == "" {
		v.VlanTag = untaggedTag
	}
	if err := c.checkIPRangeFits(tx, z, pn, v, r); err != nil {
		return nil, network.IPRange{}, err
	}
	return v, r, nil
}

// specifiedVlan applies the vlan parameter of an Advanced zone's network: required, and for
// the root admin only, when the offering says specifyvlan; refused otherwise. A given VLAN is
// never one of the physical network's dynamic VNIs (CloudStack's check) nor, when tagged,
// another live network's on the same physical network (one broadcast domain each).
func (c *Call) specifiedVlan(tx db.Tx, z *db.Zone, pn *db.PhysicalNetwork, o *db.NetworkOffering, n *db.Network) error {
	vlan := strings.TrimSpace(c.P.String("vlan"))
	switch {
	case vlan == "" && o.SpecifyVlan:
		return ErrParam("vlan is required: network offering %s says specifyvlan=true", o.Name)
	case vlan != "" && !o.SpecifyVlan:
		return ErrParam("Can't specify vlan; corresponding network offering %s says specifyvlan=false", o.Name)
	case vlan == "":
		return nil
	case !c.Caller.IsRootAdmin():
		return ErrDenied("Only the ROOT admin can create networks with a specified vlan (offering %s says specifyvlan=true)", o.Name)
	}
	iso := isolationOf(pn)
	tag, id, err := normalizeVlanTag(vlan, iso)
	if err != nil {
		return err
	}
	if rs, err := parseVnetRanges("vlan", pn.Vlan, iso); err == nil && id > 0 && vnetContains(rs, id) {
		return ErrParam("The VLAN tag %s is already being used for dynamic vlan allocation for the guest network in zone %s (physical network %s, range %s)",
			vlan, z.Name, pn.Name, pn.Vlan)
	}
	if id > 0 {
		others, _, err := db.ListNetworks(c.Ctx, tx, db.NetworkFilter{ZoneID: z.ID, PhysicalNetworkID: pn.ID})
		if err != nil {
			return err
		}
		for _, other := range others {
			if strings.EqualFold(other.BroadcastURI, tag) {
				return ErrParam("Network %s already uses vlan %s in zone %s", other.Name, vlan, z.Name)
			}
		}
	}
	n.BroadcastURI, n.BroadcastDomainType = tag, "Vlan"
	if iso == isoVXLAN && id > 0 {
		n.BroadcastDomainType = "Vxlan"
	}
	return nil
}

// basicNetworkSubnet gives a Basic zone's network the gateway and netmask of the zone's first
// guest (direct) range, when one exists.
func (c *Call) basicNetworkSubnet(tx db.Tx, z *db.Zone, n *db.Network) error {
	f := false
	list, _, err := db.ListVlanRanges(c.Ctx, tx, db.VlanRangeFilter{ZoneID: z.ID, ForVirtualNetwork: &f, Limit: 1})
	if err != nil {
		return err
	}
	if len(list) > 0 {
		if sn, err := network.ParseSubnet(list[0].Gateway, list[0].Netmask); err == nil {
			n.Gateway, n.Netmask, n.CIDR = sn.GW.String(), sn.Mask(), sn.CIDR()
		}
	}
	return nil
}

// addSharedRange adds a Shared network's IP range with its address rows and the zone's direct
// IP capacity.
func (c *Call) addSharedRange(tx db.Tx, z *db.Zone, pn *db.PhysicalNetwork, n *db.Network, v *db.VlanRange, r network.IPRange) error {
	if err := db.InsertVlanRange(c.Ctx, tx, v); err != nil {
		return err
	}
	addrs := r.Addrs()
	if err := db.InsertPublicIPs(c.Ctx, tx, z.ID, v.ID, addrs); err != nil {
		if db.IsDuplicate(err) {
			return ErrParam("The IP range %s-%s overlaps with addresses the zone %s already has", v.StartIP, v.EndIP, z.Name)
		}
		return err
	}
	return c.syncIPCapacity(tx, z.ID, false)
}
