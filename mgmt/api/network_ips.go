package api

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

// What the guest network layer gives VM deployment (H4): a network to deploy into, the
// network implemented on its first VM, and each NIC's address. Nothing here touches hosts
// yet: bridges, VXLAN links, DHCP and security groups on the agents are a later issue.

// CloudStack's exception codes for capacity refusals (CSExceptionErrorCode).
const (
	CSInsufficientAddressCapacity = orchestrate.CSInsufficientAddressCapacity
	CSInsufficientVirtualNetwork  = orchestrate.CSInsufficientVirtualNetwork
)

// ErrNoAddress is InsufficientAddressCapacityException (533).
func ErrNoAddress(format string, args ...any) *Error {
	return Errorf(CodeCapacity, CSInsufficientAddressCapacity, format, args...)
}

// guestRanges returns the addresses NICs of n take (inclusive ranges of IPv4 addresses as
// numbers) and those never handed out (gateways). Isolated networks use their CIDR without
// the network and broadcast addresses; Shared networks their IP ranges (in a Basic zone also
// the zone's guest ranges that name no network: pod ranges added with createVlanIpRange).
func (c *Call) guestRanges(q db.Querier, n *db.Network) ([][2]int64, map[int64]bool, error) {
	skip := map[int64]bool{}
	if n.GuestType != db.GuestShared {
		sn, err := parseSubnet(n.Gateway, n.Netmask)
		if err != nil {
			return nil, nil, ErrInternal("Network %s has no valid gateway and netmask (%s/%s)", n.Name, n.Gateway, n.Netmask)
		}
		skip[int64(ipToU32(sn.gw))] = true
		if sn.bits >= 31 {
			return [][2]int64{{int64(sn.network()), int64(sn.broadcast())}}, skip, nil
		}
		return [][2]int64{{int64(sn.network()) + 1, int64(sn.broadcast()) - 1}}, skip, nil
	}
	vrs, err := c.networkIPRanges(q, n)
	if err != nil {
		return nil, nil, err
	}
	var out [][2]int64
	for _, v := range vrs {
		r, ok := parseIPRange(v.StartIP, v.EndIP)
		if !ok {
			continue
		}
		out = append(out, [2]int64{int64(r.lo), int64(r.hi)})
		if g, ok := parseIPv4(v.Gateway); ok {
			skip[int64(ipToU32(g))] = true
		}
	}
	return out, skip, nil
}

// networkIPRanges lists the IPv4 ranges a Shared network's NICs take addresses from.
func (c *Call) networkIPRanges(q db.Querier, n *db.Network) ([]*db.VlanRange, error) {
	vrs, _, err := db.ListVlanRanges(c.Ctx, q, db.VlanRangeFilter{NetworkID: n.ID})
	if err != nil {
		return nil, err
	}
	if n.ZoneNetworkType == zoneBasic {
		f := false
		zr, _, err := db.ListVlanRanges(c.Ctx, q, db.VlanRangeFilter{ZoneID: n.ZoneID, ForVirtualNetwork: &f})
		if err != nil {
			return nil, err
		}
		for _, v := range zr {
			if v.NetworkID == "" {
				vrs = append(vrs, v)
			}
		}
	}
	return vrs, nil
}

// allocateNicIP takes a free IPv4 address of n for a NIC in the caller's transaction: never the
// gateway, never one another live NIC of the network holds (the network_ips primary key
// decides between concurrent deploys). A requested address must be in the network's range and
// free, else 431 naming ipaddress. Shared networks' addresses are also marked Allocated in
// their IP range (so the range cannot be deleted under them) and counted in the zone's direct
// IP capacity. The NIC's owner frees it with releaseNicIP.
func (c *Call) allocateNicIP(tx db.Tx, n *db.Network, requestedIP string) (string, error) {
	state, err := db.ShareLockNetwork(c.Ctx, tx, n.ID, c.S.DB.Dialect == db.MySQL)
	if errors.Is(err, db.ErrNotFound) || err == nil && state == db.NetworkDestroy {
		return "", ErrParam("Network %s has been deleted: it takes no new NICs", n.Name)
	}
	if err != nil {
		return "", err
	}
	return c.allocateLockedNicIP(tx, tx, n, requestedIP)
}

// lockedNetwork share-locks a network a NIC is being added to (as allocateNicIP does) and
// returns it as it is now: a copy of n (read before the transaction) when its version is
// still the row's, else the row read again.
func (c *Call) lockedNetwork(tx db.Tx, n *db.Network) (*db.Network, error) {
	// A network not yet implemented (as read before the transaction) is implemented by this
	// NIC, which writes its row: take the row exclusive at once.
	first := n.State == db.NetworkAllocated
	state, version, err := db.LockNetworkVersion(c.Ctx, tx, n.ID, c.S.DB.Dialect == db.MySQL, first)
	if errors.Is(err, db.ErrNotFound) || err == nil && state == db.NetworkDestroy {
		return nil, ErrParam("Network %s has been deleted: it takes no new NICs", n.Name)
	}
	if err != nil {
		return nil, err
	}
	if version == n.Version {
		cp := *n
		return &cp, nil
	}
	return db.GetNetwork(c.Ctx, tx, n.ID)
}

// allocateLockedNicIP is allocateNicIP for a network the transaction share-locked already
// (lockedNetwork). A free address found is claimed through ins (the transaction, or a
// Deferred's Later: a lost race then fails a later write with the duplicate key).
func (c *Call) allocateLockedNicIP(tx db.Tx, ins db.Querier, n *db.Network, requestedIP string) (string, error) {
	ranges, skip, err := c.guestRanges(tx, n)
	if err != nil {
		return "", err
	}
	var ip string
	if requestedIP = strings.TrimSpace(requestedIP); requestedIP != "" {
		a, ok := parseIPv4(requestedIP)
		if !ok {
			return "", ErrParam("Invalid ipaddress %q: an IPv4 address is required", requestedIP)
		}
		u := int64(ipToU32(a))
		in := false
		for _, r := range ranges {
			in = in || u >= r[0] && u <= r[1]
		}
		if !in || skip[u] {
			return "", ErrParam("The requested ipaddress %s is not in the range of network %s (%s)", requestedIP, n.Name, describeRanges(ranges, skip))
		}
		if err := db.InsertNetworkIP(c.Ctx, tx, n.ID, u, a.String()); err != nil {
			if db.IsDuplicate(err) {
				return "", ErrParam("The requested ipaddress %s is already in use in network %s", requestedIP, n.Name)
			}
			return "", fmt.Errorf("api: claim network ip: %w", err)
		}
		ip = a.String()
	} else {
		if len(ranges) == 0 {
			return "", ErrNoAddress("Insufficient address capacity: network %s has no IP range to allocate from", n.Name)
		}
		var size int64
		for _, r := range ranges {
			size += r[1] - r[0] + 1
		}
		// Start at a random address so that concurrent deploys rarely race for the same one.
		off := rand.Int64N(size)
		start := ranges[0][0]
		for _, r := range ranges {
			if off < r[1]-r[0]+1 {
				start = r[0] + off
				break
			}
			off -= r[1] - r[0] + 1
		}
		v, err := db.AllocateNetworkIPVia(c.Ctx, tx, ins, n.ID, ranges, start, skip, func(v int64) string { return u32ToIP(uint32(v)).String() })
		if errors.Is(err, db.ErrNotFound) {
			return "", ErrNoAddress("Insufficient address capacity: no free IP address left in network %s", n.Name)
		}
		if err != nil {
			return "", err
		}
		ip = u32ToIP(uint32(v)).String()
	}
	if n.GuestType == db.GuestShared {
		if err := c.markDirectIP(tx, n, ip, true); err != nil {
			return "", err
		}
	}
	return ip, nil
}

// releaseNicIP frees a NIC's address of n in the caller's transaction (the NIC is being
// removed). Releasing an address the network does not hold is a no-op.
func (c *Call) releaseNicIP(tx db.Tx, n *db.Network, ip string) error {
	a, ok := parseIPv4(ip)
	if !ok {
		return nil
	}
	removed, err := db.ReleaseNetworkIP(c.Ctx, tx, n.ID, int64(ipToU32(a)))
	if err != nil || !removed {
		return err
	}
	if n.GuestType == db.GuestShared {
		return c.markDirectIP(tx, n, a.String(), false)
	}
	return nil
}

// markDirectIP marks a Shared network's address Allocated to the network (or Free again) in
// its range's address rows and the zone's direct IP capacity.
func (c *Call) markDirectIP(tx db.Tx, n *db.Network, ip string, allocate bool) error {
	var res interface{ RowsAffected() (int64, error) }
	var err error
	if allocate {
		res, err = tx.ExecContext(c.Ctx, `UPDATE public_ips SET state = 'Allocated', network_id = ?, allocated = ?, version = version + 1
			WHERE zone_id = ? AND address = ? AND state = 'Free'`, n.ID, db.Now(), n.ZoneID, ip)
	} else {
		res, err = tx.ExecContext(c.Ctx, `UPDATE public_ips SET state = 'Free', network_id = NULL, allocated = NULL, version = version + 1
			WHERE zone_id = ? AND address = ? AND network_id = ? AND source_nat = 0`, n.ZoneID, ip, n.ID)
	}
	if err != nil {
		return fmt.Errorf("api: mark direct ip: %w", err)
	}
	if k, _ := res.RowsAffected(); k != 1 {
		if allocate {
			return ErrNoAddress("Insufficient address capacity: IP address %s of network %s is not free in its IP range", ip, n.Name)
		}
		return nil
	}
	l := c.ledger()
	if allocate {
		return capacityErr(l.ReserveCount(c.Ctx, tx, db.CapDirectPublicIP, n.ZoneID, 1))
	}
	return capacityErr(l.ReleaseCount(c.Ctx, tx, db.CapDirectPublicIP, n.ZoneID, 1))
}

// capacityErr turns a planner refusal into CloudStack's 533.
func capacityErr(err error) error {
	var ce *planner.CapacityError
	if errors.As(err, &ce) {
		return Errorf(CodeCapacity, CSInsufficientAddressCapacity, "Insufficient %s capacity in %s: %v", strings.ToLower(planner.TypeName(ce.Type)), ce.ObjectID, ce.Reason)
	}
	return err
}

func describeRanges(ranges [][2]int64, skip map[int64]bool) string {
	parts := make([]string, 0, len(ranges))
	for _, r := range ranges {
		parts = append(parts, u32ToIP(uint32(r[0])).String()+"-"+u32ToIP(uint32(r[1])).String())
	}
	s := strings.Join(parts, ", ")
	for g := range skip {
		s += ", gateway " + u32ToIP(uint32(g)).String() + " excluded"
	}
	return s
}

// implementNetwork readies an Allocated Isolated network for its first VM, in the caller's
// transaction: a VNI/VLAN from its physical network's guest range (vnet_allocations and the
// VLAN capacity row) and, when its offering has SourceNat, a source NAT address from the
// zone's public ranges (the public IP capacity row, and the account's public_ip count), then
// Allocated -> Implemented. Implemented and Setup networks need nothing. Concurrent first
// deploys serialise on the network's version: the loser's transaction runs again and finds it
// Implemented.
func (c *Call) implementNetwork(tx db.Tx, n *db.Network) error {
	switch n.State {
	case db.NetworkSetup:
		if n.Gateway == "" && n.GuestType == db.GuestShared && n.ZoneNetworkType == zoneBasic {
			// A Basic zone's network made before its pods' guest ranges takes their subnet now.
			zone := &db.Zone{ID: n.ZoneID}
			if err := c.basicNetworkSubnet(tx, zone, n); err != nil {
				return err
			}
			if n.Gateway != "" {
				return db.UpdateNetwork(c.Ctx, tx, n)
			}
		}
		return nil
	case db.NetworkImplemented:
		return nil
	case db.NetworkDestroy:
		return ErrParam("Network %s is being destroyed", n.Name)
	}
	if err := c.allocateNetworkResources(tx, n); err != nil {
		return err
	}
	n.State = db.NetworkImplemented
	return db.UpdateNetwork(c.Ctx, tx, n)
}

// allocateNetworkResources gives n what it lacks of a VNI (BroadcastURI) and a source NAT
// address; it does not write n's row.
func (c *Call) allocateNetworkResources(tx db.Tx, n *db.Network) error {
	if n.BroadcastURI == "" && n.GuestType == db.GuestIsolated {
		if n.PhysicalNetworkID == "" {
			return Errorf(CodeCapacity, CSInsufficientVirtualNetwork, "Unable to implement network %s: it has no physical network", n.Name)
		}
		pn, err := c.physicalNetworkByID(tx, n.PhysicalNetworkID)
		if err != nil {
			return err
		}
		iso := isolationOf(pn)
		rs, err := parseVnetRanges("vlan", pn.Vlan, iso)
		if err != nil {
			return err
		}
		ranges := make([][2]int64, len(rs))
		var size int64
		for i, r := range rs {
			ranges[i] = [2]int64{r.lo, r.hi}
			size += r.hi - r.lo + 1
		}
		if size == 0 {
			return Errorf(CodeCapacity, CSInsufficientVirtualNetwork, "Unable to allocate a guest vnet for network %s: physical network %s has no vnet range", n.Name, pn.Name)
		}
		start := rs[0].lo + rand.Int64N(size)
		v, err := db.AllocateVnet(c.Ctx, tx, pn.ID, pn.ZoneID, n.AccountID, n.ID, ranges, start)
		if errors.Is(err, db.ErrNotFound) {
			return Errorf(CodeCapacity, CSInsufficientVirtualNetwork, "Unable to allocate a guest vnet for network %s: every vnet of physical network %s (%s) is in use", n.Name, pn.Name, pn.Vlan)
		}
		if err != nil {
			return err
		}
		if err := c.ledger().ReserveCount(c.Ctx, tx, db.CapVLAN, pn.ID, 1); err != nil {
			var ce *planner.CapacityError
			if errors.As(err, &ce) {
				return Errorf(CodeCapacity, CSInsufficientVirtualNetwork, "Unable to allocate a guest vnet for network %s: %v", n.Name, ce.Reason)
			}
			return err
		}
		scheme, typ := "vlan", "Vlan"
		if iso == isoVXLAN {
			scheme, typ = "vxlan", "Vxlan"
		}
		n.BroadcastURI, n.BroadcastDomainType = fmt.Sprintf("%s://%d", scheme, v), typ
	}
	if n.HasService("SourceNat") {
		ips, err := db.ListNetworkPublicIPs(c.Ctx, tx, n.ID)
		if err != nil {
			return err
		}
		for _, p := range ips {
			if p.SourceNAT {
				return nil
			}
		}
		if _, err := db.AcquireSourceNATIP(c.Ctx, tx, n.ZoneID, n.AccountID, n.DomainID, n.ID); errors.Is(err, db.ErrNotFound) {
			return ErrNoAddress("Insufficient address capacity: no free public IP address in zone %s for the source NAT of network %s", n.ZoneName, n.Name)
		} else if err != nil {
			return err
		}
		if err := capacityErr(c.ledger().ReserveCount(c.Ctx, tx, db.CapPublicIP, n.ZoneID, 1)); err != nil {
			return err
		}
		if n.AccountID != "" {
			if err := c.chargeResources(tx, n.AccountID, map[string]int64{db.ResPublicIP: 1}); err != nil {
				return err
			}
		}
	}
	return nil
}

// releaseNetworkResources returns n's VNI and public addresses (with their capacity and the
// account's public_ip count) and clears its broadcast URI; it does not write n's row.
func (c *Call) releaseNetworkResources(tx db.Tx, n *db.Network) error {
	ips, err := db.ListNetworkPublicIPs(c.Ctx, tx, n.ID)
	if err != nil {
		return err
	}
	for _, p := range ips {
		if !p.SourceNAT {
			continue // a Shared network's NIC addresses go with their NICs
		}
		if err := db.FreePublicIP(c.Ctx, tx, p); err != nil {
			return err
		}
		if err := c.ledger().ReleaseCount(c.Ctx, tx, db.CapPublicIP, p.ZoneID, 1); err != nil {
			return err
		}
		if p.AccountID != "" {
			if err := c.chargeResources(tx, p.AccountID, map[string]int64{db.ResPublicIP: -1}); err != nil {
				return err
			}
		}
	}
	if n.GuestType == db.GuestIsolated && n.BroadcastURI != "" && n.PhysicalNetworkID != "" {
		var v int64
		if _, err := fmt.Sscanf(n.BroadcastURI[strings.Index(n.BroadcastURI, "://")+3:], "%d", &v); err == nil {
			k, err := db.ReleaseVnet(c.Ctx, tx, n.PhysicalNetworkID, v, n.ID)
			if err != nil {
				return err
			}
			if k > 0 {
				if err := c.ledger().ReleaseCount(c.Ctx, tx, db.CapVLAN, n.PhysicalNetworkID, k); err != nil {
					return err
				}
				// A dynamic VNI goes; a VLAN the admin specified stays the network's.
				n.BroadcastURI, n.BroadcastDomainType = "", ""
			}
		}
	}
	return nil
}

// defaultNetworkFor is CloudStack's choice of network when deployVirtualMachine names none:
// in a Basic zone (or an Advanced zone with security groups) the zone's shared guest network
// the account may use; in an Advanced zone the account's only Isolated network, or, when it
// has none, a new one "<account>-network" on the offering with availability Required
// (CloudStack's createDefaultNetworkForAccount). More than one, or no Required offering,
// answers 431 asking for networkids.
func (c *Call) defaultNetworkFor(tx db.Tx, zone *db.Zone, accountID string) (*db.Network, error) {
	acct, err := db.GetAccount(c.Ctx, tx, accountID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find account by id %s", accountID)
	}
	if err != nil {
		return nil, err
	}
	if zone.NetworkType == zoneBasic || zone.SecurityGroupsEnabled {
		list, _, err := db.ListNetworks(c.Ctx, tx, db.NetworkFilter{ZoneID: zone.ID, GuestType: db.GuestShared,
			AccessibleAccountID: acct.ID, AccessibleDomainPath: acct.DomainPath})
		if err != nil {
			return nil, err
		}
		for _, n := range list {
			if zone.NetworkType == zoneBasic || n.HasService("SecurityGroup") {
				return n, nil
			}
		}
		return nil, ErrParam("Unable to find a default network in zone %s for account %s: create the zone's shared guest network (createNetwork with %s) or specify networkids",
			zone.Name, acct.Name, "DefaultSharedNetworkOfferingWithSGService")
	}
	list, _, err := db.ListNetworks(c.Ctx, tx, db.NetworkFilter{ZoneID: zone.ID, GuestType: db.GuestIsolated, Scope: db.Scope{AccountID: acct.ID}})
	if err != nil {
		return nil, err
	}
	switch len(list) {
	case 1:
		return list[0], nil
	case 0:
		return c.createDefaultNetwork(tx, zone, acct)
	}
	return nil, ErrParam("More than 1 default Isolated networks are found for account %s in zone %s; please specify networkids", acct.Name, zone.Name)
}

// releaseNicIPs frees the addresses of NICs being removed (a VM expunged), loading their
// networks as needed; NICs of networks already gone are skipped.
func (c *Call) releaseNicIPs(tx db.Tx, nics []*db.Nic) error {
	nets := map[string]*db.Network{}
	for _, nic := range nics {
		if nic.IPAddress == "" {
			continue
		}
		n, ok := nets[nic.NetworkID]
		if !ok {
			var err error
			n, err = db.GetNetwork(c.Ctx, tx, nic.NetworkID)
			if errors.Is(err, db.ErrNotFound) {
				n = nil
			} else if err != nil {
				return err
			}
			nets[nic.NetworkID] = n
		}
		if n == nil {
			continue
		}
		if err := c.releaseNicIP(tx, n, nic.IPAddress); err != nil {
			return err
		}
	}
	return nil
}

// networkUsableBy refuses a network the account may not deploy into: an Account network of
// another account, or a Domain network outside the account's domain (or, without subdomain
// access, below it).
func (c *Call) networkUsableBy(n *db.Network, acct *db.Account) error {
	ok := false
	switch {
	case n.AccountID != "":
		ok = n.AccountID == acct.ID
	case strings.EqualFold(acct.DomainPath, n.DomainPath):
		ok = true
	case n.SubdomainAccess:
		p := n.DomainPath + "/"
		ok = len(acct.DomainPath) > len(p) && strings.EqualFold(acct.DomainPath[:len(p)], p)
	}
	if !ok {
		return ErrDenied("Account %s does not have permission to use network %s", acct.Name, n.ID)
	}
	return nil
}

// createDefaultNetwork creates an account's default Isolated network in the caller's
// transaction, as CloudStack does on a deploy without networkids: named "<account>-network",
// on the enabled Isolated offering with availability Required, over the zone's guest CIDR.
func (c *Call) createDefaultNetwork(tx db.Tx, zone *db.Zone, acct *db.Account) (*db.Network, error) {
	offs, err := db.ListNetworkOfferings(c.Ctx, tx, db.NetworkOfferingFilter{Availability: "Required", GuestIPType: db.GuestIsolated})
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
		return nil, ErrParam("Unable to find network offering with availability=Required to automatically create the network as a part of vm creation; please specify networkids")
	case !strings.EqualFold(o.State, "Enabled"):
		return nil, ErrParam("Required network offering %s is not in Enabled state; please specify networkids", o.Name)
	case o.SpecifyVlan:
		return nil, ErrParam("Required network offering %s needs a vlan; please specify networkids", o.Name)
	case len(o.ZoneIDs) > 0 && !containsFold(o.ZoneIDs, zone.ID):
		return nil, ErrParam("Required network offering %s is not available in zone %s; please specify networkids", o.Name, zone.Name)
	}
	pn, err := c.guestPhysicalNetwork(tx, zone, o, "")
	if err != nil {
		return nil, err
	}
	cidr := zone.GuestCIDR
	if cidr == "" {
		cidr = defaultGuestCIDR
	}
	sn, err := subnetOfCIDR(cidr)
	if err != nil {
		return nil, err
	}
	sn = subnet{gw: u32ToIP(sn.network() + 1), bits: sn.bits}
	n := &db.Network{ID: uuid.NewString(), Name: acct.Name + "-network", DisplayText: acct.Name + "-network", ZoneID: zone.ID,
		PhysicalNetworkID: pn.ID, AccountID: acct.ID, DomainID: acct.DomainID, NetworkOfferingID: o.ID, GuestType: db.GuestIsolated,
		TrafficType: "Guest", CIDR: sn.cidr(), Gateway: sn.gw.String(), Netmask: sn.mask(), State: db.NetworkAllocated,
		ACLType: db.ACLAccount, Services: offeringServices(o), SpecifyIPRanges: o.SpecifyIPRanges, Created: db.Now()}
	n.NetworkDomain = defaultNetworkDomain(zone, acct, n.ID)
	// The charge locks the account's network count row: a concurrent first deploy of the
	// account waits here, then finds the network the other one made and uses it.
	if err := c.chargeResources(tx, acct.ID, map[string]int64{db.ResNetwork: 1}); err != nil {
		return nil, err
	}
	list, _, err := db.ListNetworks(c.Ctx, tx, db.NetworkFilter{ZoneID: zone.ID, GuestType: db.GuestIsolated, Scope: db.Scope{AccountID: acct.ID}})
	if err != nil {
		return nil, err
	}
	if len(list) > 0 {
		if err := c.chargeResources(tx, acct.ID, map[string]int64{db.ResNetwork: -1}); err != nil {
			return nil, err
		}
		if len(list) > 1 {
			return nil, ErrParam("More than 1 default Isolated networks are found for account %s in zone %s; please specify networkids", acct.Name, zone.Name)
		}
		return list[0], nil
	}
	if err := db.InsertNetwork(c.Ctx, tx, n); err != nil {
		return nil, err
	}
	if err := c.Event(tx, "NETWORK.CREATE", "Creating network "+n.Name+" as the default network of account "+acct.Name, "Network", n.ID); err != nil {
		return nil, err
	}
	return db.GetNetwork(c.Ctx, tx, n.ID)
}
