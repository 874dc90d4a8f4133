package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Guest network states and types (CloudStack's Network.State and GuestType).
const (
	NetworkAllocated   = "Allocated"
	NetworkSetup       = "Setup"
	NetworkImplemented = "Implemented"
	NetworkDestroy     = "Destroy"

	GuestIsolated = "Isolated"
	GuestShared   = "Shared"

	ACLAccount = "Account"
	ACLDomain  = "Domain"
)

// Network is a guest network (CloudStack's networks table).
type Network struct {
	ID                  string
	Name                string
	DisplayText         string
	ZoneID              string
	PhysicalNetworkID   string
	AccountID           string // "" for a Domain-wide shared network
	DomainID            string
	NetworkOfferingID   string
	GuestType           string // Isolated or Shared
	TrafficType         string // Guest
	CIDR                string
	Gateway             string
	Netmask             string
	NetworkDomain       string
	BroadcastURI        string // vxlan://N, vlan://N or vlan://untagged; "" until implemented
	BroadcastDomainType string // Vlan, Vxlan or Native
	State               string // Allocated, Setup, Implemented, Destroy
	ACLType             string // Account or Domain
	SubdomainAccess     bool
	Services            string // comma-separated service names of the offering
	SpecifyIPRanges     bool
	IsSystem            bool
	RestartRequired     bool
	Version             int64
	Created             int64
	Removed             int64
	// Joined for rendering.
	ZoneName, ZoneNetworkType string
	AccountName               string
	DomainName, DomainPath    string
}

// A guest network counts against its owner's network limit, until it is removed, when it is
// account-wide and its offering does not make the admin specify its VLAN (CloudStack's
// resourceCountNeedsUpdate: !specifyVlan && aclType == Account).
const networkCountedWhere = `n.account_id = ? AND n.removed IS NULL AND n.is_system = 0 AND n.acl_type = 'Account'
	AND EXISTS (SELECT 1 FROM network_offerings o WHERE o.id = n.network_offering_id AND o.specify_vlan = 0)`

func init() {
	RegisterResourceCounter(ResNetwork, "networks", "SELECT COUNT(*) FROM networks n WHERE "+networkCountedWhere)
}

// NetworkCounted reports whether a live network counts against its owner's network limit.
func NetworkCounted(ctx context.Context, q Querier, n *Network) (bool, error) {
	if n.AccountID == "" {
		return false, nil
	}
	var k int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM networks n WHERE n.id = ? AND "+networkCountedWhere, n.ID, n.AccountID).Scan(&k); err != nil {
		return false, fmt.Errorf("db: network counted: %w", err)
	}
	return k == 1, nil
}

// HasService reports whether the network's offering provides a service (SourceNat, Dhcp,
// SecurityGroup ...), case-insensitively.
func (n *Network) HasService(name string) bool {
	for _, s := range strings.Split(n.Services, ",") {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return true
		}
	}
	return false
}

const networkCols = `n.id, n.name, COALESCE(n.display_text,''), n.zone_id, COALESCE(n.physical_network_id,''), COALESCE(n.account_id,''),
	n.domain_id, n.network_offering_id, n.guest_type, n.traffic_type, COALESCE(n.cidr,''), COALESCE(n.gateway,''), COALESCE(n.netmask,''),
	COALESCE(n.network_domain,''), COALESCE(n.broadcast_uri,''), COALESCE(n.broadcast_domain_type,''), n.state, n.acl_type,
	n.subdomain_access, COALESCE(n.services,''), n.specify_ip_ranges, n.is_system, n.restart_required, n.version, n.created,
	COALESCE(n.removed,0), COALESCE(z.name,''), COALESCE(z.network_type,''), COALESCE(a.name,''), COALESCE(d.name,''), COALESCE(d.path,'')`

const networkFrom = ` FROM networks n LEFT JOIN zones z ON z.id = n.zone_id LEFT JOIN accounts a ON a.id = n.account_id
	LEFT JOIN domains d ON d.id = n.domain_id`

func scanNetwork(s interface{ Scan(...any) error }) (*Network, error) {
	var n Network
	var sub, ipr, sys, rr int
	if err := s.Scan(&n.ID, &n.Name, &n.DisplayText, &n.ZoneID, &n.PhysicalNetworkID, &n.AccountID, &n.DomainID, &n.NetworkOfferingID,
		&n.GuestType, &n.TrafficType, &n.CIDR, &n.Gateway, &n.Netmask, &n.NetworkDomain, &n.BroadcastURI, &n.BroadcastDomainType,
		&n.State, &n.ACLType, &sub, &n.Services, &ipr, &sys, &rr, &n.Version, &n.Created, &n.Removed, &n.ZoneName, &n.ZoneNetworkType,
		&n.AccountName, &n.DomainName, &n.DomainPath); err != nil {
		return nil, err
	}
	n.SubdomainAccess, n.SpecifyIPRanges, n.IsSystem, n.RestartRequired = sub == 1, ipr == 1, sys == 1, rr == 1
	n.Services = strings.Trim(n.Services, ",")
	return &n, nil
}

// InsertNetwork creates a guest network.
func InsertNetwork(ctx context.Context, q Querier, n *Network) error {
	_, err := q.ExecContext(ctx, `INSERT INTO networks (id, name, display_text, zone_id, physical_network_id, account_id, domain_id,
		network_offering_id, guest_type, traffic_type, cidr, gateway, netmask, network_domain, broadcast_uri, broadcast_domain_type, state,
		acl_type, subdomain_access, services, specify_ip_ranges, is_system, restart_required, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		n.ID, n.Name, nullable(n.DisplayText), n.ZoneID, nullable(n.PhysicalNetworkID), nullable(n.AccountID), n.DomainID,
		n.NetworkOfferingID, n.GuestType, n.TrafficType, nullable(n.CIDR), nullable(n.Gateway), nullable(n.Netmask),
		nullable(n.NetworkDomain), nullable(n.BroadcastURI), nullable(n.BroadcastDomainType), n.State, n.ACLType,
		boolInt(n.SubdomainAccess), nullable(servicesColumn(n.Services)), boolInt(n.SpecifyIPRanges), boolInt(n.IsSystem), boolInt(n.RestartRequired),
		n.Created)
	if err != nil {
		return fmt.Errorf("db: insert network: %w", err)
	}
	n.Version = 0
	return nil
}

// GetNetwork returns a live guest network by id (ErrNotFound when missing or removed).
func GetNetwork(ctx context.Context, q Querier, id string) (*Network, error) {
	n, err := scanNetwork(q.QueryRowContext(ctx, "SELECT "+networkCols+networkFrom+" WHERE n.id = ? AND n.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get network: %w", err)
	}
	return n, nil
}

// NetworkFilter selects guest networks for listing.
type NetworkFilter struct {
	ID, ZoneID, Name, Keyword, GuestType, TrafficType string
	ACLType, NetworkOfferingID, PhysicalNetworkID     string
	IsSystem                                          *bool
	// Scope limits to networks owned by an account (or accounts of a domain / subtree).
	Scope Scope
	// Accessible, when it holds an account id and its domain path, widens Scope: networks that
	// account owns, plus Domain-wide networks of its domain or (with subdomain access) of an
	// ancestor domain.
	AccessibleAccountID, AccessibleDomainPath string
	// Services keeps networks providing every one of these services.
	Services []string
	// Tags is an extra SQL condition with its arguments (from TagFilterClause).
	TagClause string
	TagArgs   []any
	// IDs limits to these ids.
	IDs           []string
	Limit, Offset int
}

// ListNetworks returns matching live guest networks and the total count before paging.
func ListNetworks(ctx context.Context, q Querier, f NetworkFilter) ([]*Network, int, error) {
	w := []string{"n.removed IS NULL"}
	var args []any
	for _, c := range []struct{ col, v string }{{"n.id", f.ID}, {"n.zone_id", f.ZoneID}, {"n.network_offering_id", f.NetworkOfferingID},
		{"n.physical_network_id", f.PhysicalNetworkID}} {
		if c.v != "" {
			w, args = append(w, c.col+" = ?"), append(args, c.v)
		}
	}
	for _, c := range []struct{ col, v string }{{"n.guest_type", f.GuestType}, {"n.traffic_type", f.TrafficType}, {"n.acl_type", f.ACLType}} {
		if c.v != "" {
			w, args = append(w, "LOWER("+c.col+") = LOWER(?)"), append(args, c.v)
		}
	}
	if f.Name != "" {
		w, args = append(w, "n.name = ?"), append(args, f.Name)
	}
	if f.Keyword != "" {
		kw := "%" + LikePrefix(strings.ToLower(f.Keyword))
		w = append(w, "(LOWER(n.name) LIKE ?"+LikeEscape+" OR LOWER(COALESCE(n.display_text,'')) LIKE ?"+LikeEscape+")")
		args = append(args, kw, kw)
	}
	if f.IsSystem != nil {
		w, args = append(w, "n.is_system = ?"), append(args, boolInt(*f.IsSystem))
	}
	for _, s := range f.Services {
		// services is stored as ",A,B,": match a whole item.
		w = append(w, "LOWER(COALESCE(n.services,'')) LIKE ?"+LikeEscape)
		args = append(args, "%"+LikePrefix(","+strings.ToLower(s)+","))
	}
	if len(f.IDs) > 0 {
		w = append(w, "n.id IN (?"+strings.Repeat(", ?", len(f.IDs)-1)+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if f.TagClause != "" {
		w, args = append(w, f.TagClause), append(args, f.TagArgs...)
	}
	var sw []string
	var sargs []any
	sw, sargs = f.Scope.apply(sw, sargs, "n.account_id", "d.path")
	scope := strings.Join(sw, " AND ")
	if f.AccessibleAccountID != "" {
		// Domain-wide networks of the account's domain, or of an ancestor with subdomain access.
		anc := ancestorPaths(f.AccessibleDomainPath)
		acc := "(n.account_id = ? OR (n.acl_type = 'Domain' AND (d.path = ?"
		accArgs := []any{f.AccessibleAccountID, f.AccessibleDomainPath}
		if len(anc) > 0 {
			acc += " OR (n.subdomain_access = 1 AND d.path IN (?" + strings.Repeat(", ?", len(anc)-1) + "))"
			for _, a := range anc {
				accArgs = append(accArgs, a)
			}
		}
		acc += ")))"
		if scope != "" {
			scope = "((" + scope + ") OR " + acc + ")"
			sargs = append(sargs, accArgs...)
		} else {
			scope, sargs = acc, accArgs
		}
	}
	if scope != "" {
		w, args = append(w, scope), append(args, sargs...)
	}
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+networkFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count networks: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+networkCols+networkFrom+" WHERE "+where+" ORDER BY n.created, n.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list networks: %w", err)
	}
	out, err := scanAll(rows, "list networks", scanNetwork)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// ancestorPaths returns the paths of a domain path's ancestors: "ROOT/a/b" -> "ROOT", "ROOT/a".
func ancestorPaths(path string) []string {
	var out []string
	for i := 0; i < len(path); i++ {
		if path[i] == '/' {
			out = append(out, path[:i])
		}
	}
	return out
}

// servicesColumn stores a service list as ",A,B," so that one item matches with LIKE.
func servicesColumn(s string) string {
	var items []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			items = append(items, x)
		}
	}
	if len(items) == 0 {
		return ""
	}
	return "," + strings.Join(items, ",") + ","
}

// UpdateNetwork writes a network's mutable fields if its version still matches.
func UpdateNetwork(ctx context.Context, q Querier, n *Network) error {
	res, err := q.ExecContext(ctx, `UPDATE networks SET name = ?, display_text = ?, network_domain = ?, broadcast_uri = ?,
		broadcast_domain_type = ?, state = ?, restart_required = ?, cidr = ?, gateway = ?, netmask = ?, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`, n.Name, nullable(n.DisplayText), nullable(n.NetworkDomain),
		nullable(n.BroadcastURI), nullable(n.BroadcastDomainType), n.State, boolInt(n.RestartRequired), nullable(n.CIDR),
		nullable(n.Gateway), nullable(n.Netmask), n.ID, n.Version)
	if err != nil {
		return fmt.Errorf("db: update network: %w", err)
	}
	if err := expectOne(res); err != nil {
		return err
	}
	n.Version++
	return nil
}

// RemoveNetwork soft-deletes a network if its version still matches.
func RemoveNetwork(ctx context.Context, q Querier, n *Network) error {
	res, err := q.ExecContext(ctx, "UPDATE networks SET removed = ?, state = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL",
		Now(), NetworkDestroy, n.ID, n.Version)
	if err != nil {
		return fmt.Errorf("db: remove network: %w", err)
	}
	return expectOne(res)
}

// CountNetworks counts the networks of an account that count against its network limit.
func CountNetworks(ctx context.Context, q Querier, accountID string) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM networks n WHERE "+networkCountedWhere, accountID).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count networks: %w", err)
	}
	return n, nil
}

// Guest VNI/VLAN allocation (vnet_allocations, from migration 0002).

// AllocateVnet takes a free VNI/VLAN of a physical network from ranges (inclusive [lo, hi]
// pairs), starting the search at start (any value; it wraps), for a network. It returns
// ErrNotFound when every id of the ranges is taken. Concurrent callers never get the same id:
// the primary key decides, and a lost race moves on to the next free id.
func AllocateVnet(ctx context.Context, q Querier, physicalNetworkID, zoneID, accountID, networkID string, ranges [][2]int64, start int64) (int64, error) {
	taken := func(from, to int64) ([]int64, error) {
		return listInts(ctx, q, "SELECT vnet FROM vnet_allocations WHERE physical_network_id = ? AND vnet >= ? AND vnet <= ? ORDER BY vnet"+page(freeBatch, 0),
			physicalNetworkID, from, to)
	}
	insert := func(v int64) error {
		_, err := q.ExecContext(ctx, "INSERT INTO vnet_allocations (physical_network_id, vnet, zone_id, account_id, network_id, allocated) VALUES (?, ?, ?, ?, ?, ?)",
			physicalNetworkID, v, zoneID, nullable(accountID), nullable(networkID), Now())
		return err
	}
	v, err := allocateFree(ranges, start, nil, taken, insert)
	if err != nil {
		return 0, fmt.Errorf("db: allocate vnet: %w", err)
	}
	return v, nil
}

// ReleaseVnet frees a network's VNI/VLAN; it returns how many rows it removed.
func ReleaseVnet(ctx context.Context, q Querier, physicalNetworkID string, vnet int64, networkID string) (int64, error) {
	res, err := q.ExecContext(ctx, "DELETE FROM vnet_allocations WHERE physical_network_id = ? AND vnet = ? AND network_id = ?", physicalNetworkID, vnet, networkID)
	if err != nil {
		return 0, fmt.Errorf("db: release vnet: %w", err)
	}
	return res.RowsAffected()
}

// Source NAT addresses (public_ips, from migration 0002).

// PublicIP is one public address row.
type PublicIP struct {
	ID, ZoneID, VlanID, Address, State string
	AccountID, DomainID, NetworkID     string
	SourceNAT                          bool
	Version                            int64
	// Joined: the range's gateway, netmask and VLAN tag.
	Gateway, Netmask, VlanTag string
}

const publicIPCols = `i.id, i.zone_id, i.vlan_id, i.address, i.state, COALESCE(i.account_id,''), COALESCE(i.domain_id,''),
	COALESCE(i.network_id,''), i.source_nat, i.version, COALESCE(v.gateway,''), COALESCE(v.netmask,''), v.vlan_tag`

func scanPublicIP(s interface{ Scan(...any) error }) (*PublicIP, error) {
	var p PublicIP
	var snat int
	if err := s.Scan(&p.ID, &p.ZoneID, &p.VlanID, &p.Address, &p.State, &p.AccountID, &p.DomainID, &p.NetworkID, &snat, &p.Version,
		&p.Gateway, &p.Netmask, &p.VlanTag); err != nil {
		return nil, err
	}
	p.SourceNAT = snat == 1
	return &p, nil
}

// AcquireSourceNATIP marks a Free public address of the zone (from a live public range that
// is not dedicated to someone else) Allocated to the network as its source NAT address and
// returns it; ErrNotFound when none is free. Ranges dedicated to the account come first.
func AcquireSourceNATIP(ctx context.Context, q Querier, zoneID, accountID, domainID, networkID string) (*PublicIP, error) {
	for attempt := 0; attempt < 8; attempt++ {
		rows, err := q.QueryContext(ctx, "SELECT "+publicIPCols+` FROM public_ips i JOIN vlan_ranges v ON v.id = i.vlan_id
			WHERE i.zone_id = ? AND i.state = 'Free' AND v.removed IS NULL AND v.for_virtual_network = 1 AND v.for_system_vms = 0
			AND (v.account_id IS NULL OR v.account_id = ?) AND (v.domain_id IS NULL OR v.domain_id = ?)
			ORDER BY CASE WHEN v.account_id = ? THEN 0 WHEN v.domain_id = ? THEN 1 ELSE 2 END, i.id LIMIT 16`,
			zoneID, accountID, domainID, accountID, domainID)
		if err != nil {
			return nil, fmt.Errorf("db: find free public ip: %w", err)
		}
		free, err := scanAll(rows, "find free public ip", scanPublicIP)
		if err != nil {
			return nil, err
		}
		if len(free) == 0 {
			return nil, ErrNotFound
		}
		// Start at a varying row so that concurrent callers spread over the candidates.
		off := int(Now()) % len(free)
		for k := range free {
			p := free[(k+off)%len(free)]
			res, err := q.ExecContext(ctx, `UPDATE public_ips SET state = 'Allocated', account_id = ?, domain_id = ?, network_id = ?, source_nat = 1,
				allocated = ?, version = version + 1 WHERE id = ? AND state = 'Free' AND version = ?`,
				nullable(accountID), nullable(domainID), networkID, Now(), p.ID, p.Version)
			if err != nil {
				return nil, fmt.Errorf("db: acquire public ip: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				p.State, p.AccountID, p.DomainID, p.NetworkID, p.SourceNAT = "Allocated", accountID, domainID, networkID, true
				p.Version++
				return p, nil
			}
		}
	}
	return nil, ErrConflict
}

// ListNetworkPublicIPs returns the public addresses allocated to a network.
func ListNetworkPublicIPs(ctx context.Context, q Querier, networkID string) ([]*PublicIP, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+publicIPCols+" FROM public_ips i JOIN vlan_ranges v ON v.id = i.vlan_id WHERE i.network_id = ? ORDER BY i.address",
		networkID)
	if err != nil {
		return nil, fmt.Errorf("db: list network public ips: %w", err)
	}
	return scanAll(rows, "list network public ips", scanPublicIP)
}

// FreePublicIP returns an address to the Free pool (conditional on its version).
func FreePublicIP(ctx context.Context, q Querier, p *PublicIP) error {
	res, err := q.ExecContext(ctx, `UPDATE public_ips SET state = 'Free', account_id = NULL, domain_id = NULL, network_id = NULL, vpc_id = NULL,
		source_nat = 0, vm_id = NULL, vm_ip = NULL, for_display = 1, allocated = NULL, version = version + 1 WHERE id = ? AND version = ?`, p.ID, p.Version)
	if err != nil {
		return fmt.Errorf("db: free public ip: %w", err)
	}
	return expectOne(res)
}

// VnetOwner returns the network holding a VNI/VLAN of a physical network (ErrNotFound when free).
func VnetOwner(ctx context.Context, q Querier, physicalNetworkID string, vnet int64) (string, error) {
	var owner sql.NullString
	err := q.QueryRowContext(ctx, "SELECT network_id FROM vnet_allocations WHERE physical_network_id = ? AND vnet = ?", physicalNetworkID, vnet).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("db: vnet owner: %w", err)
	}
	return owner.String, nil
}

// CountLiveNics counts the NICs of a network that are not removed (nics, migration 0007).
func CountLiveNics(ctx context.Context, q Querier, networkID string) (int, error) {
	return count(ctx, q, "nics", "network_id = ? AND removed IS NULL", []any{networkID})
}

// ShareLockNetwork reads a live network's state for a NIC being added, holding (on MySQL) a
// shared lock on its row until the transaction ends: NICs added at once don't wait for each
// other, but a deletion (LockNetwork) waits for them, and they for it. SQLite transactions
// already run one at a time. ErrNotFound when the network is gone.
func ShareLockNetwork(ctx context.Context, q Querier, id string, mysql bool) (string, error) {
	state, _, err := LockNetworkVersion(ctx, q, id, mysql, false)
	return state, err
}

// LockNetworkVersion is ShareLockNetwork that also returns the row's version, so that a copy
// of the network read before the transaction can be used when it is still current. With
// exclusive set the lock is exclusive (FOR UPDATE): for a NIC that will implement the network
// (its first VM), which updates the row, so that two first VMs queue for the row instead of
// both holding it shared and deadlocking when each wants it exclusive.
func LockNetworkVersion(ctx context.Context, q Querier, id string, mysql, exclusive bool) (string, int64, error) {
	query := "SELECT state, version FROM networks WHERE id = ? AND removed IS NULL"
	switch {
	case mysql && exclusive:
		query += " FOR UPDATE"
	case mysql:
		query += " LOCK IN SHARE MODE"
	}
	var state string
	var version int64
	err := q.QueryRowContext(ctx, query, id).Scan(&state, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, ErrNotFound
	}
	if err != nil {
		return "", 0, fmt.Errorf("db: lock network: %w", err)
	}
	return state, version, nil
}

// LockNetwork takes a network's row for a change that must not overlap NICs being added (its
// deletion), if its version still matches, and bumps the version.
func LockNetwork(ctx context.Context, q Querier, n *Network) error {
	res, err := q.ExecContext(ctx, "UPDATE networks SET version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL", n.ID, n.Version)
	if err != nil {
		return fmt.Errorf("db: lock network: %w", err)
	}
	if err := expectOne(res); err != nil {
		return err
	}
	n.Version++
	return nil
}
