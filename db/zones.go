package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Zone is a data center (CloudStack's data_center): the top of the infrastructure tree.
type Zone struct {
	ID                    string
	Name                  string
	Description           string
	NetworkType           string // Basic or Advanced
	DNS1, DNS2            string
	InternalDNS1          string
	InternalDNS2          string
	IP6DNS1, IP6DNS2      string
	NetworkDomain         string
	DomainID              string // set when the zone is dedicated to a domain
	GuestCIDR             string
	AllocationState       string // Enabled or Disabled
	LocalStorageEnabled   bool
	SecurityGroupsEnabled bool
	DHCPProvider          string
	ZoneToken             string
	Version               int64
	Created               int64
	// Joined for rendering: the dedicated domain's name and path.
	DomainName, DomainPath string
}

const zoneCols = `z.id, z.name, COALESCE(z.description,''), z.network_type, COALESCE(z.dns1,''), COALESCE(z.dns2,''),
	COALESCE(z.internal_dns1,''), COALESCE(z.internal_dns2,''), COALESCE(z.ip6_dns1,''), COALESCE(z.ip6_dns2,''),
	COALESCE(z.network_domain,''), COALESCE(z.domain_id,''), COALESCE(z.guest_cidr,''), z.allocation_state,
	z.local_storage_enabled, z.security_groups_enabled, COALESCE(z.dhcp_provider,''), z.zone_token, z.version, z.created,
	COALESCE(d.name,''), COALESCE(d.path,'')`

const zoneFrom = ` FROM zones z LEFT JOIN domains d ON d.id = z.domain_id`

func scanZone(s interface{ Scan(...any) error }) (*Zone, error) {
	var z Zone
	var local, sg int
	if err := s.Scan(&z.ID, &z.Name, &z.Description, &z.NetworkType, &z.DNS1, &z.DNS2, &z.InternalDNS1, &z.InternalDNS2,
		&z.IP6DNS1, &z.IP6DNS2, &z.NetworkDomain, &z.DomainID, &z.GuestCIDR, &z.AllocationState, &local, &sg,
		&z.DHCPProvider, &z.ZoneToken, &z.Version, &z.Created, &z.DomainName, &z.DomainPath); err != nil {
		return nil, err
	}
	z.LocalStorageEnabled, z.SecurityGroupsEnabled = local == 1, sg == 1
	return &z, nil
}

func zoneLiveKey(name string) string { return strings.ToLower(name) }

// InsertZone creates a zone; a live zone of the same name (case-insensitively) gives an error
// IsDuplicate accepts.
func InsertZone(ctx context.Context, q Querier, z *Zone) error {
	_, err := q.ExecContext(ctx, `INSERT INTO zones (id, name, description, network_type, dns1, dns2, internal_dns1, internal_dns2,
		ip6_dns1, ip6_dns2, network_domain, domain_id, guest_cidr, allocation_state, local_storage_enabled, security_groups_enabled,
		dhcp_provider, zone_token, live_key, version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		z.ID, z.Name, nullable(z.Description), z.NetworkType, nullable(z.DNS1), nullable(z.DNS2), nullable(z.InternalDNS1),
		nullable(z.InternalDNS2), nullable(z.IP6DNS1), nullable(z.IP6DNS2), nullable(z.NetworkDomain), nullable(z.DomainID),
		nullable(z.GuestCIDR), z.AllocationState, boolInt(z.LocalStorageEnabled), boolInt(z.SecurityGroupsEnabled),
		nullable(z.DHCPProvider), z.ZoneToken, zoneLiveKey(z.Name), z.Created)
	if err != nil {
		return fmt.Errorf("db: insert zone: %w", err)
	}
	return nil
}

// GetZone returns a live zone by id.
func GetZone(ctx context.Context, q Querier, id string) (*Zone, error) {
	z, err := scanZone(q.QueryRowContext(ctx, "SELECT "+zoneCols+zoneFrom+" WHERE z.id = ? AND z.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get zone: %w", err)
	}
	return z, nil
}

// ZoneFilter selects zones for listing.
type ZoneFilter struct {
	ID          string
	IDs         []string
	Name        string
	NetworkType string
	DomainID    string
	Keyword     string
	// EnabledOnly hides disabled zones (what non-admins see).
	EnabledOnly bool
	// VisibleTo, when set, hides zones dedicated to a domain that is neither this domain path
	// nor one of its ancestors; with VisibleBelow also zones dedicated below it.
	VisibleTo    string
	VisibleBelow bool
	Limit        int
	Offset       int
}

// ListZones returns matching zones ordered by creation, and the total count before paging.
func ListZones(ctx context.Context, q Querier, f ZoneFilter) ([]*Zone, int, error) {
	w := []string{"z.removed IS NULL"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "z.id = ?"), append(args, f.ID)
	}
	if len(f.IDs) > 0 {
		w = append(w, "z.id IN (?"+strings.Repeat(", ?", len(f.IDs)-1)+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if f.Name != "" {
		w, args = append(w, "LOWER(z.name) = LOWER(?)"), append(args, f.Name)
	}
	if f.NetworkType != "" {
		w, args = append(w, "LOWER(z.network_type) = LOWER(?)"), append(args, f.NetworkType)
	}
	if f.DomainID != "" {
		w, args = append(w, "z.domain_id = ?"), append(args, f.DomainID)
	}
	if f.Keyword != "" {
		kw := "%" + LikePrefix(strings.ToLower(f.Keyword))
		w = append(w, "(LOWER(z.name) LIKE ?"+LikeEscape+" OR LOWER(COALESCE(z.description,'')) LIKE ?"+LikeEscape+")")
		args = append(args, kw, kw)
	}
	if f.EnabledOnly {
		w = append(w, "z.allocation_state = 'Enabled'")
	}
	if f.VisibleTo != "" {
		// The domain itself and its ancestors: every prefix of its path ending at a '/'.
		parts := strings.Split(f.VisibleTo, "/")
		cond := "z.domain_id IS NULL OR d.path IN (?" + strings.Repeat(", ?", len(parts)-1) + ")"
		for i := range parts {
			args = append(args, strings.Join(parts[:i+1], "/"))
		}
		if f.VisibleBelow {
			cond += " OR d.path LIKE ?" + LikeEscape
			args = append(args, LikePrefix(f.VisibleTo+"/"))
		}
		w = append(w, "("+cond+")")
	}
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+zoneFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count zones: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+zoneCols+zoneFrom+" WHERE "+where+" ORDER BY z.created, z.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list zones: %w", err)
	}
	out, err := scanAll(rows, "list zones", scanZone)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateZone writes a zone's mutable fields if its version still matches.
func UpdateZone(ctx context.Context, q Querier, z *Zone) error {
	res, err := q.ExecContext(ctx, `UPDATE zones SET name = ?, description = ?, dns1 = ?, dns2 = ?, internal_dns1 = ?, internal_dns2 = ?,
		ip6_dns1 = ?, ip6_dns2 = ?, network_domain = ?, domain_id = ?, guest_cidr = ?, allocation_state = ?, local_storage_enabled = ?,
		dhcp_provider = ?, live_key = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL`,
		z.Name, nullable(z.Description), nullable(z.DNS1), nullable(z.DNS2), nullable(z.InternalDNS1), nullable(z.InternalDNS2),
		nullable(z.IP6DNS1), nullable(z.IP6DNS2), nullable(z.NetworkDomain), nullable(z.DomainID), nullable(z.GuestCIDR),
		z.AllocationState, boolInt(z.LocalStorageEnabled), nullable(z.DHCPProvider), zoneLiveKey(z.Name), z.ID, z.Version)
	if err != nil {
		return fmt.Errorf("db: update zone: %w", err)
	}
	return expectOne(res)
}

// LockZone bumps a live zone's version inside a transaction, so that changes to what the zone
// holds (pods, physical networks, IP ranges) and the zone's removal exclude one another: on
// MySQL the row stays locked until commit and later reads see what committed before. It
// returns ErrNotFound when the zone does not exist or was removed.
func LockZone(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE zones SET version = version + 1 WHERE id = ? AND removed IS NULL", id)
	if err != nil {
		return fmt.Errorf("db: lock zone: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("db: lock zone: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// RemoveZone soft-deletes a zone.
func RemoveZone(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE zones SET removed = ?, live_key = NULL, version = version + 1 WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove zone: %w", err)
	}
	return expectOne(res)
}

// ZoneUsage counts the live things a zone holds, which keep it from being deleted.
type ZoneUsage struct {
	Pods, PhysicalNetworks, IPRanges, Hosts, StoragePools, ImageStores int
	VMs, Volumes                                                       int // not expunged
}

// CountZoneUsage counts what a zone holds in one query.
func CountZoneUsage(ctx context.Context, q Querier, zoneID string) (ZoneUsage, error) {
	var u ZoneUsage
	err := q.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM pods WHERE zone_id = ? AND removed IS NULL),
		(SELECT COUNT(*) FROM physical_networks WHERE zone_id = ? AND removed IS NULL),
		(SELECT COUNT(*) FROM vlan_ranges WHERE zone_id = ? AND removed IS NULL),
		(SELECT COUNT(*) FROM hosts WHERE zone_id = ? AND removed IS NULL),
		(SELECT COUNT(*) FROM storage_pools WHERE zone_id = ? AND removed IS NULL),
		(SELECT COUNT(*) FROM image_stores WHERE zone_id = ? AND removed IS NULL),
		(SELECT COUNT(*) FROM vm_instances WHERE zone_id = ? AND removed IS NULL),
		(SELECT COUNT(*) FROM volumes WHERE zone_id = ? AND removed IS NULL)`,
		zoneID, zoneID, zoneID, zoneID, zoneID, zoneID, zoneID, zoneID).Scan(&u.Pods, &u.PhysicalNetworks, &u.IPRanges, &u.Hosts, &u.StoragePools, &u.ImageStores,
		&u.VMs, &u.Volumes)
	if err != nil {
		return u, fmt.Errorf("db: count zone usage: %w", err)
	}
	return u, nil
}
