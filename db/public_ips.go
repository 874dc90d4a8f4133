package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Public IP states (CloudStack's IpAddress.State).
const (
	IPFree       = "Free"
	IPAllocating = "Allocating"
	IPAllocated  = "Allocated"
	IPReleasing  = "Releasing"
)

// PublicAddress is a public_ips row with what listPublicIpAddresses renders (CloudStack's
// user_ip_address joined with its range, zone, owner, network and static NAT VM).
type PublicAddress struct {
	ID, ZoneID, VlanID, Address, State string
	AccountID, DomainID, NetworkID     string
	SourceNAT, ForDisplay              bool
	VMID, VMIP                         string // static NAT target; "" when off
	Allocated, Version                 int64
	// Joined.
	ZoneName, VlanTag, PhysicalNetworkID        string
	ForVirtualNetwork, ForSystemVMs             bool
	AccountName, DomainName, DomainPath         string
	NetworkName, VMName, VMDisplayName          string
	RangeAccountID, RangeDomainID               string // the range's dedication
	NetworkGuestType, NetworkState, NetworkCIDR string
}

const publicAddrCols = `i.id, i.zone_id, i.vlan_id, i.address, i.state, COALESCE(i.account_id,''), COALESCE(i.domain_id,''),
	COALESCE(i.network_id,''), i.source_nat, i.for_display, COALESCE(i.vm_id,''), COALESCE(i.vm_ip,''), COALESCE(i.allocated,0), i.version,
	COALESCE(z.name,''), v.vlan_tag, COALESCE(v.physical_network_id,''), v.for_virtual_network, v.for_system_vms, COALESCE(a.name,''),
	COALESCE(d.name,''), COALESCE(d.path,''), COALESCE(n.name,''), COALESCE(vm.name,''), COALESCE(vm.display_name,''),
	COALESCE(v.account_id,''), COALESCE(v.domain_id,''), COALESCE(n.guest_type,''), COALESCE(n.state,''), COALESCE(n.cidr,'')`

const publicAddrFrom = ` FROM public_ips i JOIN vlan_ranges v ON v.id = i.vlan_id LEFT JOIN zones z ON z.id = i.zone_id
	LEFT JOIN accounts a ON a.id = i.account_id LEFT JOIN domains d ON d.id = i.domain_id LEFT JOIN networks n ON n.id = i.network_id
	LEFT JOIN vm_instances vm ON vm.id = i.vm_id`

func scanPublicAddress(s interface{ Scan(...any) error }) (*PublicAddress, error) {
	var p PublicAddress
	var snat, disp, virt, sys int
	if err := s.Scan(&p.ID, &p.ZoneID, &p.VlanID, &p.Address, &p.State, &p.AccountID, &p.DomainID, &p.NetworkID, &snat, &disp, &p.VMID,
		&p.VMIP, &p.Allocated, &p.Version, &p.ZoneName, &p.VlanTag, &p.PhysicalNetworkID, &virt, &sys, &p.AccountName, &p.DomainName,
		&p.DomainPath, &p.NetworkName, &p.VMName, &p.VMDisplayName, &p.RangeAccountID, &p.RangeDomainID, &p.NetworkGuestType,
		&p.NetworkState, &p.NetworkCIDR); err != nil {
		return nil, err
	}
	p.SourceNAT, p.ForDisplay, p.ForVirtualNetwork, p.ForSystemVMs = snat == 1, disp == 1, virt == 1, sys == 1
	return &p, nil
}

// GetPublicAddress returns a public address of a live range by id.
func GetPublicAddress(ctx context.Context, q Querier, id string) (*PublicAddress, error) {
	p, err := scanPublicAddress(q.QueryRowContext(ctx, "SELECT "+publicAddrCols+publicAddrFrom+" WHERE i.id = ? AND v.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get public ip: %w", err)
	}
	return p, nil
}

// PublicAddressFilter selects public addresses. Scope applies to allocated addresses; with
// IncludeFree, Free addresses of ranges open to FreeAccountID/FreeDomainID (or of any range,
// when both are empty) are listed too.
type PublicAddressFilter struct {
	ID, ZoneID, Address, NetworkID, VlanID, PhysicalNetworkID, VMID, State, Keyword string
	RangeNetworkID                                                                  string // the range's network (a Shared network's)
	SourceNAT, StaticNAT, ForVirtualNetwork, ForDisplay, ForSystemVMs               *bool
	Scope                                                                           Scope
	IncludeFree                                                                     bool
	FreeAccountID, FreeDomainID                                                     string
	TagClause                                                                       string
	TagArgs                                                                         []any
	Limit, Offset                                                                   int
}

// ListPublicAddresses returns matching addresses of live ranges and the total before paging.
func ListPublicAddresses(ctx context.Context, q Querier, f PublicAddressFilter) ([]*PublicAddress, int, error) {
	w := []string{"v.removed IS NULL"}
	var args []any
	for _, c := range []struct{ col, v string }{{"i.id", f.ID}, {"i.zone_id", f.ZoneID}, {"i.address", f.Address},
		{"i.network_id", f.NetworkID}, {"i.vlan_id", f.VlanID}, {"v.physical_network_id", f.PhysicalNetworkID}, {"i.vm_id", f.VMID},
		{"i.state", f.State}, {"v.network_id", f.RangeNetworkID}} {
		if c.v != "" {
			w, args = append(w, c.col+" = ?"), append(args, c.v)
		}
	}
	for _, c := range []struct {
		col string
		v   *bool
	}{{"i.source_nat", f.SourceNAT}, {"v.for_virtual_network", f.ForVirtualNetwork}, {"i.for_display", f.ForDisplay},
		{"v.for_system_vms", f.ForSystemVMs}} {
		if c.v != nil {
			w, args = append(w, c.col+" = ?"), append(args, boolInt(*c.v))
		}
	}
	if f.StaticNAT != nil {
		if *f.StaticNAT {
			w = append(w, "i.vm_id IS NOT NULL")
		} else {
			w = append(w, "i.vm_id IS NULL")
		}
	}
	if f.Keyword != "" {
		w, args = append(w, "i.address LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(f.Keyword))
	}
	if f.TagClause != "" {
		w, args = append(w, f.TagClause), append(args, f.TagArgs...)
	}
	owned, oargs := f.Scope.apply([]string{"i.state <> 'Free'"}, nil, "i.account_id", "d.path")
	ownedSQL := strings.Join(owned, " AND ")
	if f.IncludeFree {
		free := "i.state = 'Free'"
		if f.FreeAccountID != "" || f.FreeDomainID != "" {
			free += " AND v.for_system_vms = 0 AND (v.account_id IS NULL OR v.account_id = ?) AND (v.domain_id IS NULL OR v.domain_id = ?)"
			oargs = append(oargs, f.FreeAccountID, f.FreeDomainID)
		}
		ownedSQL = "((" + ownedSQL + ") OR (" + free + "))"
	}
	w, args = append(w, ownedSQL), append(args, oargs...)
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+publicAddrFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count public ips: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+publicAddrCols+publicAddrFrom+" WHERE "+where+" ORDER BY i.zone_id, i.address, i.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list public ips: %w", err)
	}
	out, err := scanAll(rows, "list public ips", scanPublicAddress)
	return out, total, err
}

// AcquirePublicAddress takes a Free address of the zone's public ranges open to the account
// (ranges dedicated to it first) for a network, in state (Allocating), not as its source NAT
// address; address, when given, must be that one. ErrNotFound when none is free.
func AcquirePublicAddress(ctx context.Context, q Querier, zoneID, accountID, domainID, networkID, address, state string) (*PublicAddress, error) {
	for attempt := 0; attempt < 8; attempt++ {
		cond, args := "", []any{zoneID, accountID, domainID}
		if address != "" {
			cond, args = " AND i.address = ?", append(args, address)
		}
		args = append(args, accountID, domainID)
		rows, err := q.QueryContext(ctx, `SELECT i.id, i.version FROM public_ips i JOIN vlan_ranges v ON v.id = i.vlan_id
			WHERE i.zone_id = ? AND i.state = 'Free' AND v.removed IS NULL AND v.for_virtual_network = 1 AND v.for_system_vms = 0
			AND (v.account_id IS NULL OR v.account_id = ?) AND (v.domain_id IS NULL OR v.domain_id = ?)`+cond+`
			ORDER BY CASE WHEN v.account_id = ? THEN 0 WHEN v.domain_id = ? THEN 1 ELSE 2 END, i.address LIMIT 16`, args...)
		if err != nil {
			return nil, fmt.Errorf("db: find free public ip: %w", err)
		}
		type cand struct {
			id      string
			version int64
		}
		var free []cand
		for rows.Next() {
			var c cand
			if err := rows.Scan(&c.id, &c.version); err != nil {
				rows.Close()
				return nil, fmt.Errorf("db: find free public ip: %w", err)
			}
			free = append(free, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("db: find free public ip: %w", err)
		}
		if len(free) == 0 {
			return nil, ErrNotFound
		}
		off := int(Now()) % len(free)
		for k := range free {
			c := free[(k+off)%len(free)]
			res, err := q.ExecContext(ctx, `UPDATE public_ips SET state = ?, account_id = ?, domain_id = ?, network_id = ?, source_nat = 0,
				vm_id = NULL, vm_ip = NULL, for_display = 1, allocated = ?, version = version + 1 WHERE id = ? AND state = 'Free' AND version = ?`,
				state, nullable(accountID), nullable(domainID), nullable(networkID), Now(), c.id, c.version)
			if err != nil {
				return nil, fmt.Errorf("db: acquire public ip: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				return GetPublicAddress(ctx, q, c.id)
			}
		}
	}
	return nil, ErrConflict
}

// LockPublicAddress bumps an address's version, holding its row (on MySQL) until the
// transaction ends: changes to its rules and static NAT queue behind each other.
func LockPublicAddress(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE public_ips SET version = version + 1 WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("db: lock public ip: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetPublicAddressState moves an address from one state to another.
func SetPublicAddressState(ctx context.Context, q Querier, id, from, to string) error {
	res, err := q.ExecContext(ctx, "UPDATE public_ips SET state = ?, version = version + 1 WHERE id = ? AND state = ?", to, id, from)
	if err != nil {
		return fmt.Errorf("db: set public ip state: %w", err)
	}
	return expectOne(res)
}

// SetStaticNAT points an address at a VM's guest address (vmID "" turns static NAT off).
func SetStaticNAT(ctx context.Context, q Querier, id, vmID, vmIP string) error {
	res, err := q.ExecContext(ctx, "UPDATE public_ips SET vm_id = ?, vm_ip = ?, version = version + 1 WHERE id = ?", nullable(vmID), nullable(vmIP), id)
	if err != nil {
		return fmt.Errorf("db: set static nat: %w", err)
	}
	return expectOne(res)
}

// SetPublicAddressDisplay sets an address's for_display.
func SetPublicAddressDisplay(ctx context.Context, q Querier, id string, display bool) error {
	res, err := q.ExecContext(ctx, "UPDATE public_ips SET for_display = ?, version = version + 1 WHERE id = ?", boolInt(display), id)
	if err != nil {
		return fmt.Errorf("db: set public ip display: %w", err)
	}
	return expectOne(res)
}

// ChangePublicAddressID gives an address another id (CloudStack's customid), with its rules
// and tags.
func ChangePublicAddressID(ctx context.Context, q Querier, id, newID string) error {
	for _, s := range []string{"UPDATE public_ips SET id = ? WHERE id = ?", "UPDATE firewall_rules SET ip_id = ? WHERE ip_id = ?",
		"UPDATE resource_tags SET resource_id = ? WHERE resource_id = ? AND LOWER(resource_type) = 'publicipaddress'"} {
		if _, err := q.ExecContext(ctx, s, newID, id); err != nil {
			return fmt.Errorf("db: change public ip id: %w", err)
		}
	}
	return nil
}

// ReleasePublicAddress returns an allocated address (not a source NAT one) to the Free pool.
func ReleasePublicAddress(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, `UPDATE public_ips SET state = 'Free', account_id = NULL, domain_id = NULL, network_id = NULL, vpc_id = NULL,
		source_nat = 0, vm_id = NULL, vm_ip = NULL, for_display = 1, allocated = NULL, version = version + 1 WHERE id = ? AND state <> 'Free'`, id)
	if err != nil {
		return fmt.Errorf("db: release public ip: %w", err)
	}
	return expectOne(res)
}

// StaticNATOfVM returns the address static-NATed to a VM's guest address, if any.
func StaticNATOfVM(ctx context.Context, q Querier, vmID, vmIP string) (*PublicAddress, error) {
	list, _, err := ListPublicAddresses(ctx, q, PublicAddressFilter{VMID: vmID})
	if err != nil || len(list) == 0 {
		return nil, err
	}
	for _, p := range list {
		if vmIP == "" || p.VMIP == vmIP {
			return p, nil
		}
	}
	return nil, nil
}

// AddressesWithRules tells which of the addresses have rules not being deleted: "PortForwarding"
// when one is a port forwarding rule, "Firewall" otherwise.
func AddressesWithRules(ctx context.Context, q Querier, ids []string) (map[string]string, error) {
	c, args := inList("ip_id", ids)
	rows, err := q.QueryContext(ctx, "SELECT ip_id, purpose FROM firewall_rules WHERE state <> 'Revoke' AND "+c, args...)
	if err != nil {
		return nil, fmt.Errorf("db: addresses with rules: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, purpose string
		if err := rows.Scan(&id, &purpose); err != nil {
			return nil, fmt.Errorf("db: addresses with rules: %w", err)
		}
		if out[id] != PurposePortForwarding {
			out[id] = purpose
		}
	}
	return out, rows.Err()
}
