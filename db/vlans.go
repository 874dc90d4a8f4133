package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// VlanRange is an IP range of a zone (CloudStack's vlan table): public (ForVirtualNetwork) or
// direct/shared, on one VLAN tag ("vlan://100", "vlan://untagged", "vxlan://5000").
type VlanRange struct {
	ID                string
	ZoneID            string
	PodID             string
	PhysicalNetworkID string
	NetworkID         string
	VlanTag           string
	Gateway, Netmask  string
	StartIP, EndIP    string
	IP6Gateway        string
	IP6CIDR           string
	StartIPv6         string
	EndIPv6           string
	ForVirtualNetwork bool
	ForSystemVMs      bool
	AccountID         string // dedicated to an account
	DomainID          string // dedicated to a domain (or the dedicated account's domain)
	Created           int64
	// Joined for rendering.
	PodName, AccountName, DomainName, DomainPath string
}

const vlanCols = `v.id, v.zone_id, COALESCE(v.pod_id,''), COALESCE(v.physical_network_id,''), COALESCE(v.network_id,''), v.vlan_tag,
	COALESCE(v.gateway,''), COALESCE(v.netmask,''), COALESCE(v.start_ip,''), COALESCE(v.end_ip,''), COALESCE(v.ip6_gateway,''),
	COALESCE(v.ip6_cidr,''), COALESCE(v.start_ipv6,''), COALESCE(v.end_ipv6,''), v.for_virtual_network, v.for_system_vms,
	COALESCE(v.account_id,''), COALESCE(v.domain_id,''), v.created, COALESCE(p.name,''), COALESCE(a.name,''), COALESCE(d.name,''),
	COALESCE(d.path,'')`

const vlanFrom = ` FROM vlan_ranges v LEFT JOIN pods p ON p.id = v.pod_id LEFT JOIN accounts a ON a.id = v.account_id
	LEFT JOIN domains d ON d.id = v.domain_id`

func scanVlanRange(s interface{ Scan(...any) error }) (*VlanRange, error) {
	var v VlanRange
	var virt, sys int
	if err := s.Scan(&v.ID, &v.ZoneID, &v.PodID, &v.PhysicalNetworkID, &v.NetworkID, &v.VlanTag, &v.Gateway, &v.Netmask, &v.StartIP,
		&v.EndIP, &v.IP6Gateway, &v.IP6CIDR, &v.StartIPv6, &v.EndIPv6, &virt, &sys, &v.AccountID, &v.DomainID, &v.Created,
		&v.PodName, &v.AccountName, &v.DomainName, &v.DomainPath); err != nil {
		return nil, err
	}
	v.ForVirtualNetwork, v.ForSystemVMs = virt == 1, sys == 1
	return &v, nil
}

// InsertVlanRange creates an IP range (its addresses are added by InsertPublicIPs).
func InsertVlanRange(ctx context.Context, q Querier, v *VlanRange) error {
	_, err := q.ExecContext(ctx, `INSERT INTO vlan_ranges (id, zone_id, pod_id, physical_network_id, network_id, vlan_tag, gateway, netmask,
		start_ip, end_ip, ip6_gateway, ip6_cidr, start_ipv6, end_ipv6, for_virtual_network, for_system_vms, account_id, domain_id, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, v.ID, v.ZoneID, nullable(v.PodID), nullable(v.PhysicalNetworkID),
		nullable(v.NetworkID), v.VlanTag, nullable(v.Gateway), nullable(v.Netmask), nullable(v.StartIP), nullable(v.EndIP),
		nullable(v.IP6Gateway), nullable(v.IP6CIDR), nullable(v.StartIPv6), nullable(v.EndIPv6), boolInt(v.ForVirtualNetwork),
		boolInt(v.ForSystemVMs), nullable(v.AccountID), nullable(v.DomainID), v.Created)
	if err != nil {
		return fmt.Errorf("db: insert ip range: %w", err)
	}
	return nil
}

// GetVlanRange returns a live IP range by id.
func GetVlanRange(ctx context.Context, q Querier, id string) (*VlanRange, error) {
	v, err := scanVlanRange(q.QueryRowContext(ctx, "SELECT "+vlanCols+vlanFrom+" WHERE v.id = ? AND v.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get ip range: %w", err)
	}
	return v, nil
}

// VlanRangeFilter selects IP ranges. VlanTags matches any of the given tags.
type VlanRangeFilter struct {
	ID, ZoneID, PodID, PhysicalNetworkID, NetworkID string
	VlanTags                                        []string
	AccountID, DomainID, Keyword                    string
	ForVirtualNetwork                               *bool
	Limit, Offset                                   int
}

// ListVlanRanges returns matching live IP ranges and the total count before paging.
func ListVlanRanges(ctx context.Context, q Querier, f VlanRangeFilter) ([]*VlanRange, int, error) {
	w := []string{"v.removed IS NULL"}
	var args []any
	for _, c := range []struct{ col, v string }{{"v.id", f.ID}, {"v.zone_id", f.ZoneID}, {"v.pod_id", f.PodID},
		{"v.physical_network_id", f.PhysicalNetworkID}, {"v.network_id", f.NetworkID}, {"v.account_id", f.AccountID}, {"v.domain_id", f.DomainID}} {
		if c.v != "" {
			w, args = append(w, c.col+" = ?"), append(args, c.v)
		}
	}
	if len(f.VlanTags) > 0 {
		w = append(w, "LOWER(v.vlan_tag) IN (?"+strings.Repeat(", ?", len(f.VlanTags)-1)+")")
		for _, t := range f.VlanTags {
			args = append(args, strings.ToLower(t))
		}
	}
	if f.ForVirtualNetwork != nil {
		w, args = append(w, "v.for_virtual_network = ?"), append(args, boolInt(*f.ForVirtualNetwork))
	}
	if f.Keyword != "" {
		kw := "%" + LikePrefix(strings.ToLower(f.Keyword))
		w = append(w, "(LOWER(v.vlan_tag) LIKE ?"+LikeEscape+" OR COALESCE(v.start_ip,'') LIKE ?"+LikeEscape+" OR COALESCE(v.gateway,'') LIKE ?"+LikeEscape+")")
		args = append(args, kw, kw, kw)
	}
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+vlanFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count ip ranges: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+vlanCols+vlanFrom+" WHERE "+where+" ORDER BY v.created, v.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list ip ranges: %w", err)
	}
	out, err := scanAll(rows, "list ip ranges", scanVlanRange)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// RemoveVlanRange soft-deletes an IP range and deletes its addresses. The caller checks first
// that none is in use (CountPublicIPsInUse).
func RemoveVlanRange(ctx context.Context, q Querier, id string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM public_ips WHERE vlan_id = ?", id); err != nil {
		return fmt.Errorf("db: delete public ips: %w", err)
	}
	res, err := q.ExecContext(ctx, "UPDATE vlan_ranges SET removed = ? WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove ip range: %w", err)
	}
	return expectOne(res)
}

// publicIPBatch bounds the rows of one INSERT (5 arguments each, well under both engines'
// placeholder limits).
const publicIPBatch = 500

// InsertPublicIPs adds one Free address row per address of a range. An address the zone
// already has gives an error IsDuplicate accepts.
func InsertPublicIPs(ctx context.Context, q Querier, zoneID, vlanID string, addrs []string) error {
	for len(addrs) > 0 {
		n := min(len(addrs), publicIPBatch)
		var sb strings.Builder
		sb.WriteString("INSERT INTO public_ips (id, zone_id, vlan_id, address, state, version) VALUES ")
		args := make([]any, 0, 5*n)
		for i, a := range addrs[:n] {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, 'Free', 0)")
			args = append(args, uuid.NewString(), zoneID, vlanID, a)
		}
		if _, err := q.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("db: insert public ips: %w", err)
		}
		addrs = addrs[n:]
	}
	return nil
}

// CountPublicIPsInUse counts a range's addresses that are not Free.
func CountPublicIPsInUse(ctx context.Context, q Querier, vlanID string) (int, error) {
	return count(ctx, q, "public_ips", "vlan_id = ? AND state <> 'Free'", []any{vlanID})
}

// CountZonePublicIPs counts the addresses of a zone's live ranges that are (forVirtual) or are
// not public ranges: the totals of the zone's public and direct IP capacity rows.
func CountZonePublicIPs(ctx context.Context, q Querier, zoneID string, forVirtual bool) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM public_ips i JOIN vlan_ranges v ON v.id = i.vlan_id
		WHERE i.zone_id = ? AND v.removed IS NULL AND v.for_virtual_network = ?`, zoneID, boolInt(forVirtual)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("db: count zone public ips: %w", err)
	}
	return n, nil
}

// ListAllocatedVnets returns the guest VLANs/VNIs allocated on a physical network.
func ListAllocatedVnets(ctx context.Context, q Querier, physicalNetworkID string) ([]int64, error) {
	rows, err := q.QueryContext(ctx, "SELECT vnet FROM vnet_allocations WHERE physical_network_id = ? ORDER BY vnet", physicalNetworkID)
	if err != nil {
		return nil, fmt.Errorf("db: list allocated vnets: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("db: list allocated vnets: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
