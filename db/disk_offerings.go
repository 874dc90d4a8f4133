package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// DiskIORates are an offering's disk I/O throttles, CloudStack's bytes and IO requests per
// second, read and write, each with a burst maximum and the burst's length in seconds.
// 0 = not set (CloudStack stores no rate <= 0).
type DiskIORates struct {
	BytesReadRate, BytesReadRateMax, BytesReadRateMaxLength    int64
	BytesWriteRate, BytesWriteRateMax, BytesWriteRateMaxLength int64
	IopsReadRate, IopsReadRateMax, IopsReadRateMaxLength       int64
	IopsWriteRate, IopsWriteRateMax, IopsWriteRateMaxLength    int64
}

// DiskIORates' columns (migration 0010), in its fields' order: ioRateSelect reads them (NULL
// as 0), ioRateNames and ioRatePlaceholders insert them, ioRateSet updates them.
const (
	ioRateSelect = `COALESCE(bytes_read_rate,0), COALESCE(bytes_read_rate_max,0), COALESCE(bytes_read_rate_max_length,0),
	COALESCE(bytes_write_rate,0), COALESCE(bytes_write_rate_max,0), COALESCE(bytes_write_rate_max_length,0),
	COALESCE(iops_read_rate,0), COALESCE(iops_read_rate_max,0), COALESCE(iops_read_rate_max_length,0),
	COALESCE(iops_write_rate,0), COALESCE(iops_write_rate_max,0), COALESCE(iops_write_rate_max_length,0)`
	ioRateNames = `bytes_read_rate, bytes_read_rate_max, bytes_read_rate_max_length,
	bytes_write_rate, bytes_write_rate_max, bytes_write_rate_max_length,
	iops_read_rate, iops_read_rate_max, iops_read_rate_max_length,
	iops_write_rate, iops_write_rate_max, iops_write_rate_max_length`
	ioRatePlaceholders = `?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`
	ioRateSet          = `bytes_read_rate = ?, bytes_read_rate_max = ?, bytes_read_rate_max_length = ?, bytes_write_rate = ?,
	bytes_write_rate_max = ?, bytes_write_rate_max_length = ?, iops_read_rate = ?, iops_read_rate_max = ?,
	iops_read_rate_max_length = ?, iops_write_rate = ?, iops_write_rate_max = ?, iops_write_rate_max_length = ?`
)

// dest returns scan destinations for ioRateSelect.
func (r *DiskIORates) dest() []any {
	return []any{&r.BytesReadRate, &r.BytesReadRateMax, &r.BytesReadRateMaxLength,
		&r.BytesWriteRate, &r.BytesWriteRateMax, &r.BytesWriteRateMaxLength,
		&r.IopsReadRate, &r.IopsReadRateMax, &r.IopsReadRateMaxLength,
		&r.IopsWriteRate, &r.IopsWriteRateMax, &r.IopsWriteRateMaxLength}
}

// args returns the values for ioRateNames (or ioRateSet), NULL for a rate not set.
func (r *DiskIORates) args() []any {
	var out []any
	for _, p := range r.dest() {
		v := *p.(*int64)
		if v <= 0 {
			out = append(out, nil)
		} else {
			out = append(out, v)
		}
	}
	return out
}

// DiskOffering is a disk offering: a fixed size (DiskSize) or a custom one (Customized).
type DiskOffering struct {
	ID                        string
	Name                      string
	DisplayText               string
	DiskSize                  int64 // bytes, 0 when custom
	Customized                bool
	Tags                      string // storage tags, comma list
	StorageType               string // "shared" or "local"
	ProvisioningType          string
	CustomizedIOPS            bool
	MinIOPS, MaxIOPS          int64
	HypervisorSnapshotReserve int
	CacheMode                 string
	DisplayOffering           bool
	DiskSizeStrictness        bool
	Encrypt                   bool
	IORates                   DiskIORates
	DomainIDs                 []string // empty = public
	ZoneIDs                   []string // empty = every zone
	IsDefault                 bool
	State                     string // Active or Inactive
	SortKey                   int
	Version                   int64
	Created                   int64
}

const diskOfferingCols = `id, name, COALESCE(display_text,''), disk_size, customized, COALESCE(tags,''), storage_type, provisioning_type,
	customized_iops, COALESCE(min_iops,0), COALESCE(max_iops,0), COALESCE(hypervisor_snapshot_reserve,0), COALESCE(cache_mode,''),
	display_offering, disk_size_strictness, encrypt, COALESCE(domain_ids,''), COALESCE(zone_ids,''), is_default, state, sort_key,
	version, created, ` + ioRateSelect

func scanDiskOffering(s interface{ Scan(...any) error }) (*DiskOffering, error) {
	var o DiskOffering
	var customized, custIOPS, display, strict, encrypt, def int
	var domains, zones string
	dest := []any{&o.ID, &o.Name, &o.DisplayText, &o.DiskSize, &customized, &o.Tags, &o.StorageType, &o.ProvisioningType,
		&custIOPS, &o.MinIOPS, &o.MaxIOPS, &o.HypervisorSnapshotReserve, &o.CacheMode,
		&display, &strict, &encrypt, &domains, &zones, &def, &o.State, &o.SortKey, &o.Version, &o.Created}
	if err := s.Scan(append(dest, o.IORates.dest()...)...); err != nil {
		return nil, err
	}
	o.Customized, o.CustomizedIOPS, o.DisplayOffering = customized == 1, custIOPS == 1, display == 1
	o.DiskSizeStrictness, o.Encrypt, o.IsDefault = strict == 1, encrypt == 1, def == 1
	o.DomainIDs, o.ZoneIDs = SplitList(domains), SplitList(zones)
	return &o, nil
}

// InsertDiskOffering creates a disk offering.
func InsertDiskOffering(ctx context.Context, q Querier, o *DiskOffering) error {
	if o.State == "" {
		o.State = "Active"
	}
	if o.StorageType == "" {
		o.StorageType = "shared"
	}
	if o.ProvisioningType == "" {
		o.ProvisioningType = "thin"
	}
	_, err := q.ExecContext(ctx, `INSERT INTO disk_offerings (id, name, display_text, disk_size, customized, tags, storage_type,
		provisioning_type, customized_iops, min_iops, max_iops, hypervisor_snapshot_reserve, cache_mode, display_offering,
		disk_size_strictness, encrypt, domain_ids, zone_ids, is_default, state, sort_key, version, created, `+ioRateNames+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, `+ioRatePlaceholders+`)`,
		append([]any{o.ID, o.Name, nullable(o.DisplayText), o.DiskSize, boolInt(o.Customized), nullable(o.Tags), o.StorageType, o.ProvisioningType,
			boolInt(o.CustomizedIOPS), nullInt(o.MinIOPS), nullInt(o.MaxIOPS), nullInt(int64(o.HypervisorSnapshotReserve)),
			nullable(o.CacheMode), boolInt(o.DisplayOffering), boolInt(o.DiskSizeStrictness), boolInt(o.Encrypt),
			joinList(o.DomainIDs), joinList(o.ZoneIDs), boolInt(o.IsDefault), o.State, o.SortKey, o.Created}, o.IORates.args()...)...)
	if err != nil {
		return fmt.Errorf("db: insert disk offering: %w", err)
	}
	return nil
}

// GetDiskOffering returns a live disk offering by id (ErrNotFound when missing or removed).
func GetDiskOffering(ctx context.Context, q Querier, id string) (*DiskOffering, error) {
	o, err := scanDiskOffering(q.QueryRowContext(ctx, "SELECT "+diskOfferingCols+" FROM disk_offerings WHERE id = ? AND removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get disk offering: %w", err)
	}
	return o, nil
}

// DiskOfferingFilter selects disk offerings; visibility is the caller's.
type DiskOfferingFilter struct {
	ID, Name, Keyword, State, StorageType string
}

// ListDiskOfferings returns every matching live disk offering in sort order.
func ListDiskOfferings(ctx context.Context, q Querier, f DiskOfferingFilter) ([]*DiskOffering, error) {
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
	if f.StorageType != "" {
		w, args = append(w, "LOWER(storage_type) = LOWER(?)"), append(args, f.StorageType)
	}
	rows, err := q.QueryContext(ctx, "SELECT "+diskOfferingCols+" FROM disk_offerings WHERE "+strings.Join(w, " AND ")+
		" ORDER BY sort_key, created, id", args...)
	if err != nil {
		return nil, fmt.Errorf("db: list disk offerings: %w", err)
	}
	return scanAll(rows, "list disk offerings", scanDiskOffering)
}

// UpdateDiskOffering writes a disk offering's mutable fields if its version still matches.
func UpdateDiskOffering(ctx context.Context, q Querier, o *DiskOffering) error {
	res, err := q.ExecContext(ctx, `UPDATE disk_offerings SET name = ?, display_text = ?, tags = ?, display_offering = ?, domain_ids = ?,
		zone_ids = ?, state = ?, sort_key = ?, min_iops = ?, max_iops = ?, cache_mode = ?, `+ioRateSet+`, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`,
		append(append([]any{o.Name, nullable(o.DisplayText), nullable(o.Tags), boolInt(o.DisplayOffering), joinList(o.DomainIDs), joinList(o.ZoneIDs),
			o.State, o.SortKey, nullInt(o.MinIOPS), nullInt(o.MaxIOPS), nullable(o.CacheMode)}, o.IORates.args()...), o.ID, o.Version)...)
	if err != nil {
		return fmt.Errorf("db: update disk offering: %w", err)
	}
	return expectOne(res)
}

// RemoveDiskOffering soft-deletes a disk offering (volumes keep referring to it).
func RemoveDiskOffering(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE disk_offerings SET removed = ?, state = 'Inactive', version = version + 1 WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove disk offering: %w", err)
	}
	return expectOne(res)
}
