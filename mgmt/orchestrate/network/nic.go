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

// zoneBasic is a Basic zone's network type.
const zoneBasic = "Basic"

// ErrNoAddress is InsufficientAddressCapacityException (533).
func ErrNoAddress(format string, args ...any) *orchestrate.Error {
	return orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSInsufficientAddressCapacity, format, args...)
}

// GuestRanges returns the addresses NICs of n take (inclusive ranges of IPv4 addresses as
// numbers) and those never handed out (gateways). Isolated networks use their CIDR without
// the network and broadcast addresses; Shared networks their IP ranges (in a Basic zone also
// the zone's guest ranges that name no network: pod ranges added with createVlanIpRange).
func GuestRanges(ctx context.Context, q db.Querier, n *db.Network) ([][2]int64, map[int64]bool, error) {
	skip := map[int64]bool{}
	if n.GuestType != db.GuestShared {
		sn, err := parseSubnet(n.Gateway, n.Netmask)
		if err != nil {
			return nil, nil, orchestrate.ErrInternal("Network %s has no valid gateway and netmask (%s/%s)", n.Name, n.Gateway, n.Netmask)
		}
		skip[int64(ipToU32(sn.GW))] = true
		lo, hi := int64(ipToU32(sn.Network())), int64(ipToU32(sn.Broadcast()))
		if sn.Bits >= 31 {
			return [][2]int64{{lo, hi}}, skip, nil
		}
		return [][2]int64{{lo + 1, hi - 1}}, skip, nil
	}
	vrs, err := networkIPRanges(ctx, q, n)
	if err != nil {
		return nil, nil, err
	}
	var out [][2]int64
	for _, v := range vrs {
		r, ok := ParseIPRange(v.StartIP, v.EndIP)
		if !ok {
			continue
		}
		out = append(out, [2]int64{int64(ipToU32(r.Lo)), int64(ipToU32(r.Hi))})
		if g, ok := parseIPv4(v.Gateway); ok {
			skip[int64(ipToU32(g))] = true
		}
	}
	return out, skip, nil
}

// networkIPRanges lists the IPv4 ranges a Shared network's NICs take addresses from.
func networkIPRanges(ctx context.Context, q db.Querier, n *db.Network) ([]*db.VlanRange, error) {
	vrs, _, err := db.ListVlanRanges(ctx, q, db.VlanRangeFilter{NetworkID: n.ID})
	if err != nil {
		return nil, err
	}
	if n.ZoneNetworkType == zoneBasic {
		f := false
		zr, _, err := db.ListVlanRanges(ctx, q, db.VlanRangeFilter{ZoneID: n.ZoneID, ForVirtualNetwork: &f})
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

// AllocateNicIP takes a free IPv4 address of n for a NIC in the caller's transaction: never
// the gateway, never one another live NIC of the network holds (the network_ips primary key
// decides between concurrent deploys). A requested address must be in the network's range and
// free, else 431 naming ipaddress. Shared networks' addresses are also marked Allocated in
// their IP range (so the range cannot be deleted under them) and counted in the zone's direct
// IP capacity. The NIC's owner frees it with ReleaseNicIP.
func AllocateNicIP(ctx context.Context, d *orchestrate.Deps, tx db.Tx, n *db.Network, requestedIP string) (string, error) {
	state, err := db.ShareLockNetwork(ctx, tx, n.ID, d.DB.Dialect == db.MySQL)
	if errors.Is(err, db.ErrNotFound) || err == nil && state == db.NetworkDestroy {
		return "", orchestrate.ErrParam("Network %s has been deleted: it takes no new NICs", n.Name)
	}
	if err != nil {
		return "", err
	}
	return AllocateLockedNicIP(ctx, d, tx, tx, n, requestedIP)
}

// Lock share-locks a network a NIC is being added to (as AllocateNicIP does) and returns it as
// it is now: a copy of n (read before the transaction) when its version is still the row's,
// else the row read again.
func Lock(ctx context.Context, d *orchestrate.Deps, tx db.Tx, n *db.Network) (*db.Network, error) {
	// A network not yet implemented (as read before the transaction) is implemented by this
	// NIC, which writes its row: take the row exclusive at once.
	first := n.State == db.NetworkAllocated
	state, version, err := db.LockNetworkVersion(ctx, tx, n.ID, d.DB.Dialect == db.MySQL, first)
	if errors.Is(err, db.ErrNotFound) || err == nil && state == db.NetworkDestroy {
		return nil, orchestrate.ErrParam("Network %s has been deleted: it takes no new NICs", n.Name)
	}
	if err != nil {
		return nil, err
	}
	if version == n.Version {
		cp := *n
		return &cp, nil
	}
	return db.GetNetwork(ctx, tx, n.ID)
}

// AllocateLockedNicIP is AllocateNicIP for a network the transaction share-locked already
// (Lock). A free address found is claimed through ins (the transaction, or a Deferred's
// Later: a lost race then fails a later write with the duplicate key).
func AllocateLockedNicIP(ctx context.Context, d *orchestrate.Deps, tx db.Tx, ins db.Querier, n *db.Network, requestedIP string) (string, error) {
	ranges, skip, err := GuestRanges(ctx, tx, n)
	if err != nil {
		return "", err
	}
	var ip string
	if requestedIP = strings.TrimSpace(requestedIP); requestedIP != "" {
		a, ok := parseIPv4(requestedIP)
		if !ok {
			return "", orchestrate.ErrParam("Invalid ipaddress %q: an IPv4 address is required", requestedIP)
		}
		u := int64(ipToU32(a))
		in := false
		for _, r := range ranges {
			in = in || u >= r[0] && u <= r[1]
		}
		if !in || skip[u] {
			return "", orchestrate.ErrParam("The requested ipaddress %s is not in the range of network %s (%s)", requestedIP, n.Name, describeRanges(ranges, skip))
		}
		if err := db.InsertNetworkIP(ctx, tx, n.ID, u, a.String()); err != nil {
			if db.IsDuplicate(err) {
				return "", orchestrate.ErrParam("The requested ipaddress %s is already in use in network %s", requestedIP, n.Name)
			}
			return "", fmt.Errorf("network: claim network ip: %w", err)
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
		v, err := db.AllocateNetworkIPVia(ctx, tx, ins, n.ID, ranges, start, skip, func(v int64) string { return u32ToIP(uint32(v)).String() })
		if errors.Is(err, db.ErrNotFound) {
			return "", ErrNoAddress("Insufficient address capacity: no free IP address left in network %s", n.Name)
		}
		if err != nil {
			return "", err
		}
		ip = u32ToIP(uint32(v)).String()
	}
	if n.GuestType == db.GuestShared {
		if err := markDirectIP(ctx, d, tx, n, ip, true); err != nil {
			return "", err
		}
	}
	return ip, nil
}

// ReleaseNicIP frees a NIC's address of n in the caller's transaction (the NIC is being
// removed). Releasing an address the network does not hold is a no-op.
func ReleaseNicIP(ctx context.Context, d *orchestrate.Deps, tx db.Tx, n *db.Network, ip string) error {
	a, ok := parseIPv4(ip)
	if !ok {
		return nil
	}
	removed, err := db.ReleaseNetworkIP(ctx, tx, n.ID, int64(ipToU32(a)))
	if err != nil || !removed {
		return err
	}
	if n.GuestType == db.GuestShared {
		return markDirectIP(ctx, d, tx, n, a.String(), false)
	}
	return nil
}

// ReleaseNicIPs frees the addresses of NICs being removed, loading their networks as needed;
// NICs of networks already gone are skipped.
func ReleaseNicIPs(ctx context.Context, d *orchestrate.Deps, tx db.Tx, nics []*db.Nic) error {
	nets := map[string]*db.Network{}
	for _, nic := range nics {
		if nic.IPAddress == "" {
			continue
		}
		n, ok := nets[nic.NetworkID]
		if !ok {
			var err error
			n, err = db.GetNetwork(ctx, tx, nic.NetworkID)
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
		if err := ReleaseNicIP(ctx, d, tx, n, nic.IPAddress); err != nil {
			return err
		}
	}
	return nil
}

// markDirectIP marks a Shared network's address Allocated to the network (or Free again) in
// its range's address rows and the zone's direct IP capacity.
func markDirectIP(ctx context.Context, d *orchestrate.Deps, tx db.Tx, n *db.Network, ip string, allocate bool) error {
	var res interface{ RowsAffected() (int64, error) }
	var err error
	if allocate {
		res, err = tx.ExecContext(ctx, `UPDATE public_ips SET state = 'Allocated', network_id = ?, allocated = ?, version = version + 1
			WHERE zone_id = ? AND address = ? AND state = 'Free'`, n.ID, db.Now(), n.ZoneID, ip)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE public_ips SET state = 'Free', network_id = NULL, allocated = NULL, version = version + 1
			WHERE zone_id = ? AND address = ? AND network_id = ? AND source_nat = 0`, n.ZoneID, ip, n.ID)
	}
	if err != nil {
		return fmt.Errorf("network: mark direct ip: %w", err)
	}
	if k, _ := res.RowsAffected(); k != 1 {
		if allocate {
			return ErrNoAddress("Insufficient address capacity: IP address %s of network %s is not free in its IP range", ip, n.Name)
		}
		return nil
	}
	l := d.Ledger
	if allocate {
		return CapacityErr(l.ReserveCount(ctx, tx, db.CapDirectPublicIP, n.ZoneID, 1))
	}
	return CapacityErr(l.ReleaseCount(ctx, tx, db.CapDirectPublicIP, n.ZoneID, 1))
}

// CapacityErr turns a planner refusal into CloudStack's 533.
func CapacityErr(err error) error {
	var ce *planner.CapacityError
	if errors.As(err, &ce) {
		return orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSInsufficientAddressCapacity, "Insufficient %s capacity in %s: %v", strings.ToLower(planner.TypeName(ce.Type)), ce.ObjectID, ce.Reason)
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

// UsableBy refuses a network the account may not deploy into: an Account network of another
// account, or a Domain network outside the account's domain (or, without subdomain access,
// below it).
func UsableBy(n *db.Network, acct *db.Account) error {
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
		return orchestrate.ErrDenied("Account %s does not have permission to use network %s", acct.Name, n.ID)
	}
	return nil
}
