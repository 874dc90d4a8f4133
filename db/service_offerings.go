package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ServiceOffering is a compute offering (CloudStack's service_offering): fixed (CPUNumber,
// CPUSpeed, Memory set) or custom (Customized, with optional bounds in Details).
type ServiceOffering struct {
	ID          string
	Name        string
	DisplayText string
	CPUNumber   int   // 0 when custom
	CPUSpeed    int64 // MHz
	Memory      int64 // MiB
	Customized  bool
	// Details holds CloudStack's offering details: mincpunumber, maxcpunumber, minmemory,
	// maxmemory and any free-form key the admin gave.
	Details                   map[string]string
	StorageType               string // "shared" or "local"
	ProvisioningType          string // thin, sparse, fat
	HostTag                   string
	StorageTags               string // comma list
	OfferHA                   bool
	LimitCPUUse               bool
	IsVolatile                bool
	DynamicScaling            bool
	DeploymentPlanner         string
	RootDiskSize              int64 // GiB, 0 = the template's size
	DiskOfferingID            string
	CustomizedIOPS            bool
	MinIOPS, MaxIOPS          int64 // 0 = not set
	HypervisorSnapshotReserve int
	NetworkRate               int
	CacheMode                 string
	IORates                   DiskIORates // of the root disk
	DomainIDs                 []string    // empty = every domain (public)
	ZoneIDs                   []string    // empty = every zone
	IsSystem                  bool
	SystemVMType              string
	IsDefault                 bool
	State                     string // Active or Inactive
	SortKey                   int
	Version                   int64
	Created                   int64
}

const serviceOfferingCols = `id, name, COALESCE(display_text,''), cpu_number, cpu_speed, memory, customized, COALESCE(details,''),
	storage_type, provisioning_type, COALESCE(host_tag,''), COALESCE(storage_tags,''), offer_ha, limit_cpu_use, is_volatile,
	dynamic_scaling, COALESCE(deployment_planner,''), root_disk_size, COALESCE(disk_offering_id,''), customized_iops,
	COALESCE(min_iops,0), COALESCE(max_iops,0), COALESCE(hypervisor_snapshot_reserve,0), COALESCE(network_rate,0),
	COALESCE(cache_mode,''), COALESCE(domain_ids,''), COALESCE(zone_ids,''), is_system, COALESCE(system_vm_type,''),
	is_default, state, sort_key, version, created, ` + ioRateSelect

func scanServiceOffering(s interface{ Scan(...any) error }) (*ServiceOffering, error) {
	var o ServiceOffering
	var customized, offerHA, limitCPU, volatile, dyn, custIOPS, system, def int
	var details, domains, zones string
	dest := []any{&o.ID, &o.Name, &o.DisplayText, &o.CPUNumber, &o.CPUSpeed, &o.Memory, &customized, &details,
		&o.StorageType, &o.ProvisioningType, &o.HostTag, &o.StorageTags, &offerHA, &limitCPU, &volatile,
		&dyn, &o.DeploymentPlanner, &o.RootDiskSize, &o.DiskOfferingID, &custIOPS,
		&o.MinIOPS, &o.MaxIOPS, &o.HypervisorSnapshotReserve, &o.NetworkRate,
		&o.CacheMode, &domains, &zones, &system, &o.SystemVMType,
		&def, &o.State, &o.SortKey, &o.Version, &o.Created}
	if err := s.Scan(append(dest, o.IORates.dest()...)...); err != nil {
		return nil, err
	}
	o.Customized, o.OfferHA, o.LimitCPUUse, o.IsVolatile = customized == 1, offerHA == 1, limitCPU == 1, volatile == 1
	o.DynamicScaling, o.CustomizedIOPS, o.IsSystem, o.IsDefault = dyn == 1, custIOPS == 1, system == 1, def == 1
	o.Details = decodeStringMap(details)
	o.DomainIDs, o.ZoneIDs = SplitList(domains), SplitList(zones)
	return &o, nil
}

// SplitList splits a comma list, trimming blanks and dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func joinList(ids []string) any {
	if len(ids) == 0 {
		return nil
	}
	return strings.Join(ids, ",")
}

func decodeStringMap(s string) map[string]string {
	if s == "" {
		return map[string]string{}
	}
	m := map[string]string{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return map[string]string{}
	}
	return m
}

func encodeStringMap(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return string(b)
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

// InsertServiceOffering creates a service offering.
func InsertServiceOffering(ctx context.Context, q Querier, o *ServiceOffering) error {
	if o.State == "" {
		o.State = "Active"
	}
	if o.StorageType == "" {
		o.StorageType = "shared"
	}
	if o.ProvisioningType == "" {
		o.ProvisioningType = "thin"
	}
	_, err := q.ExecContext(ctx, `INSERT INTO service_offerings (id, name, display_text, cpu_number, cpu_speed, memory, customized, details,
		storage_type, provisioning_type, host_tag, storage_tags, offer_ha, limit_cpu_use, is_volatile, dynamic_scaling, deployment_planner,
		root_disk_size, disk_offering_id, customized_iops, min_iops, max_iops, hypervisor_snapshot_reserve, network_rate, cache_mode,
		domain_ids, zone_ids, is_system, system_vm_type, is_default, state, sort_key, version, created, `+ioRateNames+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, `+ioRatePlaceholders+`)`,
		append([]any{o.ID, o.Name, nullable(o.DisplayText), o.CPUNumber, o.CPUSpeed, o.Memory, boolInt(o.Customized), encodeStringMap(o.Details),
			o.StorageType, o.ProvisioningType, nullable(o.HostTag), nullable(o.StorageTags), boolInt(o.OfferHA), boolInt(o.LimitCPUUse),
			boolInt(o.IsVolatile), boolInt(o.DynamicScaling), nullable(o.DeploymentPlanner), o.RootDiskSize, nullable(o.DiskOfferingID),
			boolInt(o.CustomizedIOPS), nullInt(o.MinIOPS), nullInt(o.MaxIOPS), nullInt(int64(o.HypervisorSnapshotReserve)),
			nullInt(int64(o.NetworkRate)), nullable(o.CacheMode), joinList(o.DomainIDs), joinList(o.ZoneIDs), boolInt(o.IsSystem),
			nullable(o.SystemVMType), boolInt(o.IsDefault), o.State, o.SortKey, o.Created}, o.IORates.args()...)...)
	if err != nil {
		return fmt.Errorf("db: insert service offering: %w", err)
	}
	return nil
}

// GetServiceOffering returns a live service offering by id (ErrNotFound when missing or removed).
func GetServiceOffering(ctx context.Context, q Querier, id string) (*ServiceOffering, error) {
	o, err := scanServiceOffering(q.QueryRowContext(ctx, "SELECT "+serviceOfferingCols+" FROM service_offerings WHERE id = ? AND removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get service offering: %w", err)
	}
	return o, nil
}

// GetServiceOfferingAny returns a service offering by id even when removed (for rendering
// what a VM was deployed with); Removed tells.
func GetServiceOfferingAny(ctx context.Context, q Querier, id string) (o *ServiceOffering, removed bool, err error) {
	var rm sql.NullInt64
	row := q.QueryRowContext(ctx, "SELECT "+serviceOfferingCols+", removed FROM service_offerings WHERE id = ?", id)
	o, err = scanServiceOffering(scanPlus{row, &rm})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, ErrNotFound
	}
	if err != nil {
		return nil, false, fmt.Errorf("db: get service offering: %w", err)
	}
	return o, rm.Valid, nil
}

// scanPlus appends extra destinations to a scan.
type scanPlus struct {
	s     interface{ Scan(...any) error }
	extra any
}

func (p scanPlus) Scan(dest ...any) error { return p.s.Scan(append(dest, p.extra)...) }

// ServiceOfferingFilter selects service offerings. Domain visibility (public or of the
// caller's domain tree) is decided by the caller on the returned rows.
type ServiceOfferingFilter struct {
	ID, Name, Keyword, State string
	IsSystem                 *bool
	SystemVMType             string
	Customized               *bool
	StorageType              string
}

// ListServiceOfferings returns every matching live offering, ordered by sort key then
// creation. Paging is the caller's, after visibility filtering.
func ListServiceOfferings(ctx context.Context, q Querier, f ServiceOfferingFilter) ([]*ServiceOffering, error) {
	w := []string{"removed IS NULL"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "id = ?"), append(args, f.ID)
	}
	if f.Name != "" {
		w, args = append(w, "LOWER(name) = LOWER(?)"), append(args, f.Name)
	}
	if f.Keyword != "" {
		w, args = append(w, "(LOWER(name) LIKE ?"+LikeEscape+" OR LOWER(display_text) LIKE ?"+LikeEscape+")"),
			append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)), "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	if f.State != "" {
		w, args = append(w, "LOWER(state) = LOWER(?)"), append(args, f.State)
	}
	if f.IsSystem != nil {
		w, args = append(w, "is_system = ?"), append(args, boolInt(*f.IsSystem))
	}
	if f.SystemVMType != "" {
		w, args = append(w, "LOWER(system_vm_type) = LOWER(?)"), append(args, f.SystemVMType)
	}
	if f.Customized != nil {
		w, args = append(w, "customized = ?"), append(args, boolInt(*f.Customized))
	}
	if f.StorageType != "" {
		w, args = append(w, "LOWER(storage_type) = LOWER(?)"), append(args, f.StorageType)
	}
	rows, err := q.QueryContext(ctx, "SELECT "+serviceOfferingCols+" FROM service_offerings WHERE "+strings.Join(w, " AND ")+
		" ORDER BY sort_key, created, id", args...)
	if err != nil {
		return nil, fmt.Errorf("db: list service offerings: %w", err)
	}
	return scanAll(rows, "list service offerings", scanServiceOffering)
}

// UpdateServiceOffering writes an offering's mutable fields if its version still matches.
func UpdateServiceOffering(ctx context.Context, q Querier, o *ServiceOffering) error {
	res, err := q.ExecContext(ctx, `UPDATE service_offerings SET name = ?, display_text = ?, details = ?, host_tag = ?, storage_tags = ?,
		domain_ids = ?, zone_ids = ?, state = ?, sort_key = ?, min_iops = ?, max_iops = ?, cache_mode = ?, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`,
		o.Name, nullable(o.DisplayText), encodeStringMap(o.Details), nullable(o.HostTag), nullable(o.StorageTags),
		joinList(o.DomainIDs), joinList(o.ZoneIDs), o.State, o.SortKey, nullInt(o.MinIOPS), nullInt(o.MaxIOPS), nullable(o.CacheMode),
		o.ID, o.Version)
	if err != nil {
		return fmt.Errorf("db: update service offering: %w", err)
	}
	return expectOne(res)
}

// RemoveServiceOffering soft-deletes a service offering (VMs keep referring to it).
func RemoveServiceOffering(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE service_offerings SET removed = ?, state = 'Inactive', version = version + 1 WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove service offering: %w", err)
	}
	return expectOne(res)
}

// OfferingVisibleTo reports whether an offering restricted to domainIDs (empty = public) is
// visible to a caller in domainPath, given the restricted domains' paths: an offering of a
// domain is visible in that domain and its subdomains, as CloudStack's
// isOfferingForDomain checks a domain's ancestors.
func OfferingVisibleTo(domainIDs []string, paths map[string]string, domainPath string) bool {
	if len(domainIDs) == 0 {
		return true
	}
	lp := strings.ToLower(domainPath)
	for _, id := range domainIDs {
		p, ok := paths[id]
		if !ok {
			continue
		}
		p = strings.ToLower(p)
		if lp == p || strings.HasPrefix(lp, p+"/") {
			return true
		}
	}
	return false
}

// DomainPaths returns the paths of the given live domains, keyed by id.
func DomainPaths(ctx context.Context, q Querier, ids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	uniq := map[string]bool{}
	var args []any
	for _, id := range ids {
		if !uniq[id] {
			uniq[id] = true
			args = append(args, id)
		}
	}
	rows, err := q.QueryContext(ctx, "SELECT id, path FROM domains WHERE removed IS NULL AND id IN ("+
		strings.TrimSuffix(strings.Repeat("?,", len(args)), ",")+")", args...)
	if err != nil {
		return nil, fmt.Errorf("db: domain paths: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, p string
		if err := rows.Scan(&id, &p); err != nil {
			return nil, fmt.Errorf("db: domain paths: %w", err)
		}
		out[id] = p
	}
	return out, rows.Err()
}

// sortedKeys returns a map's keys in order, for stable rendering.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
