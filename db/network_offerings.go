package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// NetworkCapability is one service capability of a network offering (CloudStack's
// ntwk_offering_service_map capabilities, e.g. SourceNat/SupportedSourceNatTypes=peraccount).
type NetworkCapability struct {
	Service string `json:"service"`
	Name    string `json:"name"`
	Value   string `json:"value"`
}

// NetworkOffering is a network offering.
type NetworkOffering struct {
	ID                   string
	Name                 string
	UniqueName           string
	DisplayText          string
	GuestIPType          string            // Isolated, Shared or L2
	TrafficType          string            // Guest, Public, Management, ...
	Services             map[string]string // service -> provider
	Capabilities         []NetworkCapability
	Details              map[string]string
	SpecifyVlan          bool
	SpecifyIPRanges      bool
	IsDefault            bool
	IsSystem             bool
	Availability         string // Required or Optional
	State                string // Enabled or Disabled
	ConserveMode         bool
	EgressDefaultPolicy  bool
	NetworkRate          int
	Tags                 string
	ForVPC               bool
	ForNSX               bool
	IsPersistent         bool
	InternetProtocol     string
	ServiceOfferingID    string
	MaxConnections       int
	KeepAliveEnabled     bool
	SupportsStrechedL2   bool
	SupportsPublicAccess bool
	DomainIDs            []string
	ZoneIDs              []string
	SortKey              int
	Version              int64
	Created              int64
}

// HasService reports whether the offering provides a service (case-insensitively).
func (o *NetworkOffering) HasService(name string) bool {
	for s := range o.Services {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

const networkOfferingCols = `id, name, COALESCE(unique_name,''), COALESCE(display_text,''), guest_ip_type, traffic_type,
	COALESCE(services,''), COALESCE(capabilities,''), COALESCE(details,''), specify_vlan, specify_ip_ranges, is_default, is_system,
	availability, state, conserve_mode, egress_default_policy, COALESCE(network_rate,0), COALESCE(tags,''), for_vpc, for_nsx,
	is_persistent, COALESCE(internet_protocol,''), COALESCE(service_offering_id,''), COALESCE(max_connections,0),
	keep_alive_enabled, supports_strechted_l2, supports_public_access, COALESCE(domain_ids,''), COALESCE(zone_ids,''),
	sort_key, version, created`

func scanNetworkOffering(s interface{ Scan(...any) error }) (*NetworkOffering, error) {
	var o NetworkOffering
	var services, caps, details, domains, zones string
	var vlan, ranges, def, system, conserve, egress, vpc, nsx, persistent, keepAlive, l2, public int
	if err := s.Scan(&o.ID, &o.Name, &o.UniqueName, &o.DisplayText, &o.GuestIPType, &o.TrafficType,
		&services, &caps, &details, &vlan, &ranges, &def, &system,
		&o.Availability, &o.State, &conserve, &egress, &o.NetworkRate, &o.Tags, &vpc, &nsx,
		&persistent, &o.InternetProtocol, &o.ServiceOfferingID, &o.MaxConnections,
		&keepAlive, &l2, &public, &domains, &zones, &o.SortKey, &o.Version, &o.Created); err != nil {
		return nil, err
	}
	o.SpecifyVlan, o.SpecifyIPRanges, o.IsDefault, o.IsSystem = vlan == 1, ranges == 1, def == 1, system == 1
	o.ConserveMode, o.EgressDefaultPolicy, o.ForVPC, o.ForNSX = conserve == 1, egress == 1, vpc == 1, nsx == 1
	o.IsPersistent, o.KeepAliveEnabled, o.SupportsStrechedL2, o.SupportsPublicAccess = persistent == 1, keepAlive == 1, l2 == 1, public == 1
	o.Services, o.Details = decodeStringMap(services), decodeStringMap(details)
	if caps != "" {
		_ = json.Unmarshal([]byte(caps), &o.Capabilities)
	}
	o.DomainIDs, o.ZoneIDs = SplitList(domains), SplitList(zones)
	return &o, nil
}

func encodeCaps(c []NetworkCapability) any {
	if len(c) == 0 {
		return nil
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func nameLiveKey(name string) string { return strings.ToLower(name) }

// InsertNetworkOffering creates a network offering; a live one of the same name gives an
// error IsDuplicate accepts.
func InsertNetworkOffering(ctx context.Context, q Querier, o *NetworkOffering) error {
	if o.TrafficType == "" {
		o.TrafficType = "Guest"
	}
	if o.Availability == "" {
		o.Availability = "Optional"
	}
	if o.State == "" {
		o.State = "Disabled"
	}
	_, err := q.ExecContext(ctx, `INSERT INTO network_offerings (id, name, unique_name, display_text, guest_ip_type, traffic_type, services,
		capabilities, details, specify_vlan, specify_ip_ranges, is_default, is_system, availability, state, conserve_mode,
		egress_default_policy, network_rate, tags, for_vpc, for_nsx, is_persistent, internet_protocol, service_offering_id,
		max_connections, keep_alive_enabled, supports_strechted_l2, supports_public_access, domain_ids, zone_ids, sort_key,
		live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		o.ID, o.Name, nullable(o.UniqueName), nullable(o.DisplayText), o.GuestIPType, o.TrafficType, encodeStringMap(o.Services),
		encodeCaps(o.Capabilities), encodeStringMap(o.Details), boolInt(o.SpecifyVlan), boolInt(o.SpecifyIPRanges), boolInt(o.IsDefault),
		boolInt(o.IsSystem), o.Availability, o.State, boolInt(o.ConserveMode), boolInt(o.EgressDefaultPolicy), nullInt(int64(o.NetworkRate)),
		nullable(o.Tags), boolInt(o.ForVPC), boolInt(o.ForNSX), boolInt(o.IsPersistent), nullable(o.InternetProtocol),
		nullable(o.ServiceOfferingID), nullInt(int64(o.MaxConnections)), boolInt(o.KeepAliveEnabled), boolInt(o.SupportsStrechedL2),
		boolInt(o.SupportsPublicAccess), joinList(o.DomainIDs), joinList(o.ZoneIDs), o.SortKey, nameLiveKey(o.Name), o.Created)
	if err != nil {
		return fmt.Errorf("db: insert network offering: %w", err)
	}
	return nil
}

// GetNetworkOffering returns a live network offering by id.
func GetNetworkOffering(ctx context.Context, q Querier, id string) (*NetworkOffering, error) {
	o, err := scanNetworkOffering(q.QueryRowContext(ctx, "SELECT "+networkOfferingCols+" FROM network_offerings WHERE id = ? AND removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get network offering: %w", err)
	}
	return o, nil
}

// GetNetworkOfferingByName returns a live network offering by name, case-insensitively.
func GetNetworkOfferingByName(ctx context.Context, q Querier, name string) (*NetworkOffering, error) {
	o, err := scanNetworkOffering(q.QueryRowContext(ctx, "SELECT "+networkOfferingCols+" FROM network_offerings WHERE live_key = ?", nameLiveKey(name)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get network offering by name: %w", err)
	}
	return o, nil
}

// NetworkOfferingFilter selects network offerings; visibility and service filters are the caller's.
type NetworkOfferingFilter struct {
	ID, Name, Keyword, State, GuestIPType, TrafficType, Availability string
	IsDefault, SpecifyVlan, SpecifyIPRanges, ForVPC, IsSystem        *bool
}

// ListNetworkOfferings returns every matching live network offering in sort order.
func ListNetworkOfferings(ctx context.Context, q Querier, f NetworkOfferingFilter) ([]*NetworkOffering, error) {
	w := []string{"removed IS NULL"}
	var args []any
	eq := func(col, v string) {
		if v != "" {
			w, args = append(w, "LOWER("+col+") = LOWER(?)"), append(args, v)
		}
	}
	if f.ID != "" {
		w, args = append(w, "id = ?"), append(args, f.ID)
	}
	eq("name", f.Name)
	eq("state", f.State)
	eq("guest_ip_type", f.GuestIPType)
	eq("traffic_type", f.TrafficType)
	eq("availability", f.Availability)
	for _, b := range []struct {
		col string
		v   *bool
	}{{"is_default", f.IsDefault}, {"specify_vlan", f.SpecifyVlan}, {"specify_ip_ranges", f.SpecifyIPRanges}, {"for_vpc", f.ForVPC}, {"is_system", f.IsSystem}} {
		if b.v != nil {
			w, args = append(w, b.col+" = ?"), append(args, boolInt(*b.v))
		}
	}
	if f.Keyword != "" {
		w, args = append(w, "(LOWER(name) LIKE ?"+LikeEscape+" OR LOWER(display_text) LIKE ?"+LikeEscape+")"),
			append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)), "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	rows, err := q.QueryContext(ctx, "SELECT "+networkOfferingCols+" FROM network_offerings WHERE "+strings.Join(w, " AND ")+
		" ORDER BY sort_key, created, id", args...)
	if err != nil {
		return nil, fmt.Errorf("db: list network offerings: %w", err)
	}
	return scanAll(rows, "list network offerings", scanNetworkOffering)
}

// UpdateNetworkOffering writes a network offering's mutable fields if its version still matches.
func UpdateNetworkOffering(ctx context.Context, q Querier, o *NetworkOffering) error {
	res, err := q.ExecContext(ctx, `UPDATE network_offerings SET name = ?, display_text = ?, availability = ?, state = ?, tags = ?,
		sort_key = ?, max_connections = ?, keep_alive_enabled = ?, domain_ids = ?, zone_ids = ?, details = ?, live_key = ?,
		version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL`,
		o.Name, nullable(o.DisplayText), o.Availability, o.State, nullable(o.Tags), o.SortKey, nullInt(int64(o.MaxConnections)),
		boolInt(o.KeepAliveEnabled), joinList(o.DomainIDs), joinList(o.ZoneIDs), encodeStringMap(o.Details), nameLiveKey(o.Name),
		o.ID, o.Version)
	if err != nil {
		return fmt.Errorf("db: update network offering: %w", err)
	}
	return expectOne(res)
}

// RemoveNetworkOffering soft-deletes a network offering.
func RemoveNetworkOffering(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE network_offerings SET removed = ?, live_key = NULL, version = version + 1 WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove network offering: %w", err)
	}
	return expectOne(res)
}

// CountNetworksUsingOffering counts the live networks created from a network offering (0
// while the networks table does not exist yet).
func CountNetworksUsingOffering(ctx context.Context, q Querier, offeringID string) (int, error) {
	if !tableExists(ctx, q, "networks") {
		return 0, nil
	}
	return count(ctx, q, "networks", "network_offering_id = ? AND removed IS NULL", []any{offeringID})
}
