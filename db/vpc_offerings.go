package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// VPCOffering is a VPC offering: the services a VPC's router provides.
type VPCOffering struct {
	ID                string
	Name              string
	UniqueName        string
	DisplayText       string
	Services          map[string][]string // service -> providers
	IsDefault         bool
	State             string // Enabled or Disabled
	ServiceOfferingID string
	InternetProtocol  string
	DistributedRouter bool
	RegionLevel       bool
	DomainIDs         []string
	ZoneIDs           []string
	SortKey           int
	Version           int64
	Created           int64
}

const vpcOfferingCols = `id, name, COALESCE(unique_name,''), COALESCE(display_text,''), COALESCE(services,''), is_default, state,
	COALESCE(service_offering_id,''), COALESCE(internet_protocol,''), distributed_router, region_level, COALESCE(domain_ids,''),
	COALESCE(zone_ids,''), sort_key, version, created`

func scanVPCOffering(s interface{ Scan(...any) error }) (*VPCOffering, error) {
	var o VPCOffering
	var services, domains, zones string
	var def, dist, region int
	if err := s.Scan(&o.ID, &o.Name, &o.UniqueName, &o.DisplayText, &services, &def, &o.State, &o.ServiceOfferingID,
		&o.InternetProtocol, &dist, &region, &domains, &zones, &o.SortKey, &o.Version, &o.Created); err != nil {
		return nil, err
	}
	o.IsDefault, o.DistributedRouter, o.RegionLevel = def == 1, dist == 1, region == 1
	o.Services = map[string][]string{}
	if services != "" {
		_ = json.Unmarshal([]byte(services), &o.Services)
	}
	o.DomainIDs, o.ZoneIDs = SplitList(domains), SplitList(zones)
	return &o, nil
}

// InsertVPCOffering creates a VPC offering; a live one of the same name gives an error
// IsDuplicate accepts.
func InsertVPCOffering(ctx context.Context, q Querier, o *VPCOffering) error {
	if o.State == "" {
		o.State = "Disabled"
	}
	services, _ := json.Marshal(o.Services)
	_, err := q.ExecContext(ctx, `INSERT INTO vpc_offerings (id, name, unique_name, display_text, services, is_default, state,
		service_offering_id, internet_protocol, distributed_router, region_level, domain_ids, zone_ids, sort_key, live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		o.ID, o.Name, nullable(o.UniqueName), nullable(o.DisplayText), string(services), boolInt(o.IsDefault), o.State,
		nullable(o.ServiceOfferingID), nullable(o.InternetProtocol), boolInt(o.DistributedRouter), boolInt(o.RegionLevel),
		joinList(o.DomainIDs), joinList(o.ZoneIDs), o.SortKey, nameLiveKey(o.Name), o.Created)
	if err != nil {
		return fmt.Errorf("db: insert vpc offering: %w", err)
	}
	return nil
}

// GetVPCOffering returns a live VPC offering by id.
func GetVPCOffering(ctx context.Context, q Querier, id string) (*VPCOffering, error) {
	o, err := scanVPCOffering(q.QueryRowContext(ctx, "SELECT "+vpcOfferingCols+" FROM vpc_offerings WHERE id = ? AND removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get vpc offering: %w", err)
	}
	return o, nil
}

// VPCOfferingFilter selects VPC offerings.
type VPCOfferingFilter struct {
	ID, Name, Keyword, State, DisplayText string
	IsDefault                             *bool
}

// ListVPCOfferings returns every matching live VPC offering in sort order.
func ListVPCOfferings(ctx context.Context, q Querier, f VPCOfferingFilter) ([]*VPCOffering, error) {
	w := []string{"removed IS NULL"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "id = ?"), append(args, f.ID)
	}
	if f.Name != "" {
		w, args = append(w, "live_key = ?"), append(args, nameLiveKey(f.Name))
	}
	if f.DisplayText != "" {
		w, args = append(w, "LOWER(display_text) = LOWER(?)"), append(args, f.DisplayText)
	}
	if f.State != "" {
		w, args = append(w, "LOWER(state) = LOWER(?)"), append(args, f.State)
	}
	if f.IsDefault != nil {
		w, args = append(w, "is_default = ?"), append(args, boolInt(*f.IsDefault))
	}
	if f.Keyword != "" {
		w, args = append(w, "(LOWER(name) LIKE ?"+LikeEscape+" OR LOWER(display_text) LIKE ?"+LikeEscape+")"),
			append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)), "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	rows, err := q.QueryContext(ctx, "SELECT "+vpcOfferingCols+" FROM vpc_offerings WHERE "+strings.Join(w, " AND ")+
		" ORDER BY sort_key, created, id", args...)
	if err != nil {
		return nil, fmt.Errorf("db: list vpc offerings: %w", err)
	}
	return scanAll(rows, "list vpc offerings", scanVPCOffering)
}

// UpdateVPCOffering writes a VPC offering's mutable fields if its version still matches.
func UpdateVPCOffering(ctx context.Context, q Querier, o *VPCOffering) error {
	res, err := q.ExecContext(ctx, `UPDATE vpc_offerings SET name = ?, display_text = ?, state = ?, sort_key = ?, domain_ids = ?, zone_ids = ?,
		live_key = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL`,
		o.Name, nullable(o.DisplayText), o.State, o.SortKey, joinList(o.DomainIDs), joinList(o.ZoneIDs), nameLiveKey(o.Name), o.ID, o.Version)
	if err != nil {
		return fmt.Errorf("db: update vpc offering: %w", err)
	}
	return expectOne(res)
}

// RemoveVPCOffering soft-deletes a VPC offering.
func RemoveVPCOffering(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE vpc_offerings SET removed = ?, live_key = NULL, version = version + 1 WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove vpc offering: %w", err)
	}
	return expectOne(res)
}
