package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Volume types and states (CloudStack's Volume.Type and Volume.State).
const (
	VolumeRoot     = "ROOT"
	VolumeDataDisk = "DATADISK"

	VolumeAllocated    = "Allocated"
	VolumeCreating     = "Creating"
	VolumeReady        = "Ready"
	VolumeResizing     = "Resizing"
	VolumeMigrating    = "Migrating"
	VolumeSnapshotting = "Snapshotting"
	VolumeUploaded     = "Uploaded"
	VolumeDestroy      = "Destroy"
	VolumeExpunging    = "Expunging"
	VolumeExpunged     = "Expunged"
)

// Volume is a disk: a VM's ROOT volume or a DATADISK, attached (VMID set) or free.
type Volume struct {
	ID, Name            string
	AccountID, DomainID string
	ZoneID, PodID       string
	PoolID              string // the primary storage pool holding it ("" while Allocated)
	VMID                string
	Type                string // ROOT or DATADISK
	DeviceID            int    // meaningful when attached (ROOT is 0)
	Size                int64  // bytes
	MinIOPS, MaxIOPS    int64
	DiskOfferingID      string
	TemplateID          string
	SnapshotID          string // created from this snapshot
	State               string
	Path, Format        string
	ProvisioningType    string // thin, sparse, fat
	HypervisorType      string
	DisplayVolume       bool
	DeleteProtection    bool  // deleteVolume refuses while set
	Attached            int64 // when attached, Unix ms
	Created, Removed    int64
	Version             int64
	// Joined for rendering.
	AccountName, DomainName, DomainPath, ZoneName, PoolName, VMName, VMDisplayName, VMState string
}

const volumeCols = `o.id, o.name, o.account_id, o.domain_id, o.zone_id, COALESCE(o.pod_id,''), COALESCE(o.pool_id,''), COALESCE(o.vm_id,''),
	o.volume_type, COALESCE(o.device_id,0), o.size, COALESCE(o.min_iops,0), COALESCE(o.max_iops,0), COALESCE(o.disk_offering_id,''),
	COALESCE(o.template_id,''), COALESCE(o.snapshot_id,''), o.state, COALESCE(o.path,''), COALESCE(o.format,''), o.provisioning_type,
	COALESCE(o.hypervisor_type,''), o.display_volume, COALESCE(o.attached,0), o.created, COALESCE(o.removed,0), o.version, o.delete_protection,
	COALESCE(a.name,''), COALESCE(d.name,''), COALESCE(d.path,''), COALESCE(z.name,''), COALESCE(p.name,''), COALESCE(v.name,''),
	COALESCE(v.display_name,''), COALESCE(v.state,'')`

const volumeFrom = ` FROM volumes o LEFT JOIN accounts a ON a.id = o.account_id LEFT JOIN domains d ON d.id = o.domain_id
	LEFT JOIN zones z ON z.id = o.zone_id LEFT JOIN storage_pools p ON p.id = o.pool_id LEFT JOIN vm_instances v ON v.id = o.vm_id`

func scanVolume(s interface{ Scan(...any) error }) (*Volume, error) {
	var o Volume
	var disp, prot int
	if err := s.Scan(&o.ID, &o.Name, &o.AccountID, &o.DomainID, &o.ZoneID, &o.PodID, &o.PoolID, &o.VMID, &o.Type, &o.DeviceID, &o.Size,
		&o.MinIOPS, &o.MaxIOPS, &o.DiskOfferingID, &o.TemplateID, &o.SnapshotID, &o.State, &o.Path, &o.Format, &o.ProvisioningType,
		&o.HypervisorType, &disp, &o.Attached, &o.Created, &o.Removed, &o.Version, &prot, &o.AccountName, &o.DomainName, &o.DomainPath,
		&o.ZoneName, &o.PoolName, &o.VMName, &o.VMDisplayName, &o.VMState); err != nil {
		return nil, err
	}
	o.DisplayVolume, o.DeleteProtection = disp == 1, prot == 1
	return &o, nil
}

func deviceID(o *Volume) any {
	if o.VMID == "" {
		return nil
	}
	return o.DeviceID
}

// InsertVolume creates a volume row.
func InsertVolume(ctx context.Context, q Querier, o *Volume) error {
	if o.ProvisioningType == "" {
		o.ProvisioningType = "thin"
	}
	_, err := q.ExecContext(ctx, `INSERT INTO volumes (id, name, account_id, domain_id, zone_id, pod_id, pool_id, vm_id, volume_type, device_id,
		size, min_iops, max_iops, disk_offering_id, template_id, snapshot_id, state, path, format, provisioning_type, hypervisor_type,
		display_volume, attached, version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		o.ID, o.Name, o.AccountID, o.DomainID, o.ZoneID, nullable(o.PodID), nullable(o.PoolID), nullable(o.VMID), o.Type, deviceID(o), o.Size,
		nullMillis(o.MinIOPS), nullMillis(o.MaxIOPS), nullable(o.DiskOfferingID), nullable(o.TemplateID), nullable(o.SnapshotID), o.State,
		nullable(o.Path), nullable(o.Format), o.ProvisioningType, nullable(o.HypervisorType), boolInt(o.DisplayVolume), nullMillis(o.Attached),
		o.Created)
	if err != nil {
		return fmt.Errorf("db: insert volume: %w", err)
	}
	return nil
}

// GetVolume returns a volume not yet removed (expunged) by id.
func GetVolume(ctx context.Context, q Querier, id string) (*Volume, error) {
	o, err := scanVolume(q.QueryRowContext(ctx, "SELECT "+volumeCols+volumeFrom+" WHERE o.id = ? AND o.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get volume: %w", err)
	}
	return o, nil
}

// VolumeFilter selects volumes for listing. Removed volumes never match.
type VolumeFilter struct {
	ID            string
	IDs           []string
	Name, Keyword string
	Type          string
	VMID          string
	VMIDs         []string
	ZoneID        string
	PodID         string
	PoolID        string
	State         string
	ExcludeStates []string
	DisplayOnly   bool
	Scope         Scope
	// Extra is an extra SQL condition on o (for instance a tag filter) and its arguments.
	Extra     string
	ExtraArgs []any
	Limit     int
	Offset    int
}

// ListVolumes returns matching volumes (by creation, ROOT before DATADISK of one VM) and the
// total count before paging.
func ListVolumes(ctx context.Context, q Querier, f VolumeFilter) ([]*Volume, int, error) {
	w := []string{"o.removed IS NULL"}
	var args []any
	add := func(cond string, a ...any) { w, args = append(w, cond), append(args, a...) }
	for col, val := range map[string]string{"o.id": f.ID, "o.volume_type": f.Type, "o.vm_id": f.VMID, "o.zone_id": f.ZoneID,
		"o.pod_id": f.PodID, "o.pool_id": f.PoolID} {
		if val != "" {
			add(col+" = ?", val)
		}
	}
	if len(f.IDs) > 0 {
		c, a := inList("o.id", f.IDs)
		add(c, a...)
	}
	if len(f.VMIDs) > 0 {
		c, a := inList("o.vm_id", f.VMIDs)
		add(c, a...)
	}
	if f.Name != "" {
		add("LOWER(o.name) = LOWER(?)", f.Name)
	}
	if f.Keyword != "" {
		add("LOWER(o.name) LIKE ?"+LikeEscape, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	if f.State != "" {
		add("LOWER(o.state) = LOWER(?)", f.State)
	}
	if len(f.ExcludeStates) > 0 {
		c, a := inList("o.state", f.ExcludeStates)
		add("NOT "+c, a...)
	}
	if f.DisplayOnly {
		add("o.display_volume = 1")
	}
	if f.Scope.AccountID != "" {
		add("o.account_id = ?", f.Scope.AccountID)
	}
	if f.Scope.DomainPath != "" {
		dw, dargs := Scope{DomainPath: f.Scope.DomainPath, Recursive: f.Scope.Recursive}.apply(nil, nil, "", "dd.path")
		add("o.domain_id IN (SELECT dd.id FROM domains dd WHERE "+strings.Join(dw, " AND ")+")", dargs...)
	}
	if f.Extra != "" {
		add("("+f.Extra+")", f.ExtraArgs...)
	}
	where := strings.Join(w, " AND ")
	return listPaged(ctx, q, "list volumes", "volumes o", where,
		"SELECT "+volumeCols+volumeFrom+" WHERE "+where+" ORDER BY o.created, o.volume_type DESC, o.id", args, f.Limit, f.Offset, scanVolume)
}

// UpdateVolume writes a volume's mutable fields if its version still matches (ErrConflict
// otherwise) and bumps o.Version. Setting Removed marks it expunged.
func UpdateVolume(ctx context.Context, q Querier, o *Volume) error {
	res, err := q.ExecContext(ctx, `UPDATE volumes SET name = ?, pod_id = ?, pool_id = ?, vm_id = ?, device_id = ?, size = ?, min_iops = ?,
		max_iops = ?, disk_offering_id = ?, template_id = ?, state = ?, path = ?, format = ?, provisioning_type = ?, hypervisor_type = ?,
		display_volume = ?, attached = ?, removed = ?, delete_protection = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL`,
		o.Name, nullable(o.PodID), nullable(o.PoolID), nullable(o.VMID), deviceID(o), o.Size, nullMillis(o.MinIOPS), nullMillis(o.MaxIOPS),
		nullable(o.DiskOfferingID), nullable(o.TemplateID), o.State, nullable(o.Path), nullable(o.Format), o.ProvisioningType,
		nullable(o.HypervisorType), boolInt(o.DisplayVolume), nullMillis(o.Attached), nullMillis(o.Removed), boolInt(o.DeleteProtection), o.ID, o.Version)
	if err != nil {
		return fmt.Errorf("db: update volume: %w", err)
	}
	if err := expectOne(res); err != nil {
		return err
	}
	o.Version++
	return nil
}

// PoolUse is the bytes volumes hold on one pool.
type PoolUse struct {
	PoolID string
	Bytes  int64
}

// SumVolumeBytes sums, per pool, the size of volumes that hold an allocation there: every
// volume with a pool that is not removed (expunged). This is what the CapStorageAlloc ledger
// rows should show.
func SumVolumeBytes(ctx context.Context, q Querier) ([]PoolUse, error) {
	rows, err := q.QueryContext(ctx, `SELECT pool_id, SUM(size) FROM volumes WHERE pool_id IS NOT NULL AND removed IS NULL GROUP BY pool_id`)
	if err != nil {
		return nil, fmt.Errorf("db: sum volume bytes: %w", err)
	}
	defer rows.Close()
	var out []PoolUse
	for rows.Next() {
		var p PoolUse
		if err := rows.Scan(&p.PoolID, &p.Bytes); err != nil {
			return nil, fmt.Errorf("db: sum volume bytes: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
