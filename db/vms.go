package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// VM states, CloudStack's VirtualMachine.State.
const (
	VMStopped   = "Stopped"
	VMStarting  = "Starting"
	VMRunning   = "Running"
	VMStopping  = "Stopping"
	VMMigrating = "Migrating"
	VMDestroyed = "Destroyed"
	VMExpunging = "Expunging"
	VMExpunged  = "Expunged"
	VMError     = "Error"
)

// VM power states, CloudStack's VirtualMachine.PowerState.
const (
	PowerOn      = "PowerOn"
	PowerOff     = "PowerOff"
	PowerUnknown = "PowerUnknown"
)

// VMHoldsCompute reports whether a VM in this state holds a CPU and memory reservation on its
// host_id (and, while Migrating, on its migrate_host_id too).
func VMHoldsCompute(state string) bool {
	switch state {
	case VMStarting, VMRunning, VMStopping, VMMigrating:
		return true
	}
	return false
}

// VM is a user virtual machine (CloudStack's vm_instance and user_vm).
type VM struct {
	Seq                 int64
	ID                  string
	Name                string // the host name
	DisplayName         string
	AccountID, DomainID string
	ZoneID, PodID       string
	ClusterID, HostID   string
	LastHostID          string
	MigrateHostID       string // the target holding a reservation while Migrating
	ServiceOfferingID   string
	DiskOfferingID      string // the DATADISK's offering given at deploy, for rendering
	TemplateID, ISOID   string
	OSTypeID            string
	HypervisorType      string
	CPUNumber           int
	CPUSpeed            int64 // MHz
	Memory              int64 // MiB
	State, PowerState   string
	PowerStateUpdated   int64
	HAEnabled           bool
	DynamicallyScalable bool
	DisplayVM           bool
	DeleteProtection    bool   // destroyVirtualMachine refuses while set
	UserData            string // base64, as given
	KeyPairs            string // comma-separated keypair names
	Password            string
	Details             map[string]string
	Group               string
	SecurityGroups      string // legacy: groups early deploys recorded; see securitygroup.AdoptLegacy
	Version             int64
	Created             int64
	Destroyed           int64
	Removed             int64
	// Joined for rendering.
	AccountName, DomainName, DomainPath, ZoneName, HostName string
}

// InstanceName is CloudStack's internal name: i-<account number>-<vm number>-VM. Atoll's
// accounts have no number; a stable one is derived from the account id.
func (v *VM) InstanceName() string {
	return fmt.Sprintf("i-%d-%d-VM", crc32.ChecksumIEEE([]byte(v.AccountID))%100000, v.Seq)
}

// VMLiveKey keeps host names unique per account and zone among VMs not yet expunged.
func VMLiveKey(accountID, zoneID, name string) string {
	return accountID + "/" + zoneID + "/" + strings.ToLower(name)
}

const vmCols = `v.seq, v.id, v.name, COALESCE(v.display_name,''), v.account_id, v.domain_id, v.zone_id, COALESCE(v.pod_id,''),
	COALESCE(v.cluster_id,''), COALESCE(v.host_id,''), COALESCE(v.last_host_id,''), COALESCE(v.migrate_host_id,''), v.service_offering_id,
	COALESCE(v.disk_offering_id,''), COALESCE(v.template_id,''), COALESCE(v.iso_id,''), COALESCE(v.os_type_id,''), COALESCE(v.hypervisor_type,''),
	v.cpu_number, v.cpu_speed, v.memory, v.state, v.power_state, COALESCE(v.power_state_updated,0), v.ha_enabled, v.dynamically_scalable,
	v.display_vm, COALESCE(v.user_data,''), COALESCE(v.key_pairs,''), COALESCE(v.password,''), COALESCE(v.details,''), COALESCE(v.vm_group,''),
	COALESCE(v.security_groups,''), v.version, v.created, COALESCE(v.destroyed,0), COALESCE(v.removed,0), v.delete_protection,
	COALESCE(a.name,''), COALESCE(d.name,''), COALESCE(d.path,''), COALESCE(z.name,''), COALESCE(h.name,'')`

const vmFrom = ` FROM vm_instances v LEFT JOIN accounts a ON a.id = v.account_id LEFT JOIN domains d ON d.id = v.domain_id
	LEFT JOIN zones z ON z.id = v.zone_id LEFT JOIN hosts h ON h.id = v.host_id`

func scanVM(s interface{ Scan(...any) error }) (*VM, error) {
	var v VM
	var ha, dyn, disp, prot int
	var details string
	if err := s.Scan(&v.Seq, &v.ID, &v.Name, &v.DisplayName, &v.AccountID, &v.DomainID, &v.ZoneID, &v.PodID, &v.ClusterID, &v.HostID,
		&v.LastHostID, &v.MigrateHostID, &v.ServiceOfferingID, &v.DiskOfferingID, &v.TemplateID, &v.ISOID, &v.OSTypeID, &v.HypervisorType,
		&v.CPUNumber, &v.CPUSpeed, &v.Memory, &v.State, &v.PowerState, &v.PowerStateUpdated, &ha, &dyn, &disp, &v.UserData, &v.KeyPairs,
		&v.Password, &details, &v.Group, &v.SecurityGroups, &v.Version, &v.Created, &v.Destroyed, &v.Removed, &prot,
		&v.AccountName, &v.DomainName, &v.DomainPath, &v.ZoneName, &v.HostName); err != nil {
		return nil, err
	}
	v.HAEnabled, v.DynamicallyScalable, v.DisplayVM, v.DeleteProtection = ha == 1, dyn == 1, disp == 1, prot == 1
	if details != "" {
		if err := json.Unmarshal([]byte(details), &v.Details); err != nil {
			return nil, fmt.Errorf("vm %s details: %w", v.ID, err)
		}
	}
	return &v, nil
}

func vmDetailsJSON(m map[string]string) (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func nullMillis(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

// InsertVM creates a VM; a live VM of the same name in the account and zone gives an error
// IsDuplicate accepts. v.Seq is set from the new row.
func InsertVM(ctx context.Context, q Querier, v *VM) error {
	details, err := vmDetailsJSON(v.Details)
	if err != nil {
		return fmt.Errorf("db: insert vm: %w", err)
	}
	if v.PowerState == "" {
		v.PowerState = PowerUnknown
	}
	res, err := q.ExecContext(ctx, `INSERT INTO vm_instances (id, name, display_name, account_id, domain_id, zone_id, pod_id, cluster_id, host_id,
		last_host_id, migrate_host_id, service_offering_id, disk_offering_id, template_id, iso_id, os_type_id, hypervisor_type, cpu_number,
		cpu_speed, memory, state, power_state, power_state_updated, ha_enabled, dynamically_scalable, display_vm, user_data, key_pairs, password,
		details, vm_group, security_groups, live_key, version, created, destroyed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
		v.ID, v.Name, nullable(v.DisplayName), v.AccountID, v.DomainID, v.ZoneID, nullable(v.PodID), nullable(v.ClusterID), nullable(v.HostID),
		nullable(v.LastHostID), nullable(v.MigrateHostID), v.ServiceOfferingID, nullable(v.DiskOfferingID), nullable(v.TemplateID),
		nullable(v.ISOID), nullable(v.OSTypeID), nullable(v.HypervisorType), v.CPUNumber, v.CPUSpeed, v.Memory, v.State, v.PowerState,
		nullMillis(v.PowerStateUpdated), boolInt(v.HAEnabled), boolInt(v.DynamicallyScalable), boolInt(v.DisplayVM), nullable(v.UserData),
		nullable(v.KeyPairs), nullable(v.Password), details, nullable(v.Group), nullable(v.SecurityGroups),
		VMLiveKey(v.AccountID, v.ZoneID, v.Name), v.Created, nullMillis(v.Destroyed))
	if err != nil {
		return fmt.Errorf("db: insert vm: %w", err)
	}
	if seq, err := res.LastInsertId(); err == nil {
		v.Seq = seq
	}
	return nil
}

// GetVM returns a VM not yet expunged by id.
func GetVM(ctx context.Context, q Querier, id string) (*VM, error) {
	v, err := scanVM(q.QueryRowContext(ctx, "SELECT "+vmCols+vmFrom+" WHERE v.id = ? AND v.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get vm: %w", err)
	}
	return v, nil
}

// VMFilter selects VMs for listing. Expunged VMs never match.
type VMFilter struct {
	ID                string
	IDs               []string
	Name, Keyword     string
	States            []string // any of these; empty means any state
	ExcludeStates     []string
	ZoneID, PodID     string
	ClusterID, HostID string
	TemplateID, ISOID string
	ServiceOfferingID string
	NetworkID         string // has a live NIC on this network
	AffinityGroupID   string
	KeyPair           string
	Group             string
	DisplayOnly       bool // display_vm = 1
	Scope             Scope
	// Extra is an extra SQL condition on v (for instance a tag filter) and its arguments.
	Extra     string
	ExtraArgs []any
	Limit     int
	Offset    int
}

// forceIndex makes MariaDB use the named index on the table it follows; SQLite reads the
// hint as a comment. For reads by a list of hundreds of keys, where MariaDB's estimates sit
// near the point at which a full scan looks cheaper and its choice flips with the sampled
// statistics (a page's 500 NICs by VM id: 3 ms by the index, 11 ms by a scan of 25,000 rows).
func forceIndex(index string) string { return " /*! FORCE INDEX (" + index + ") */" }

// And adds a condition (on v) to the filter's Extra, with its arguments.
func (f *VMFilter) And(cond string, args ...any) {
	f.Extra = strings.TrimPrefix(f.Extra+" AND "+cond, " AND ")
	f.ExtraArgs = append(f.ExtraArgs, args...)
}

func inList(col string, vals []string) (string, []any) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return col + " IN (?" + strings.Repeat(", ?", len(vals)-1) + ")", args
}

func (f VMFilter) where() (string, []any) {
	w := []string{"v.removed IS NULL"}
	var args []any
	add := func(cond string, a ...any) { w, args = append(w, cond), append(args, a...) }
	for col, val := range map[string]string{"v.id": f.ID, "v.zone_id": f.ZoneID, "v.pod_id": f.PodID, "v.cluster_id": f.ClusterID,
		"v.host_id": f.HostID, "v.template_id": f.TemplateID, "v.iso_id": f.ISOID, "v.service_offering_id": f.ServiceOfferingID} {
		if val != "" {
			add(col+" = ?", val)
		}
	}
	if len(f.IDs) > 0 {
		c, a := inList("v.id", f.IDs)
		add(c, a...)
	}
	if f.Name != "" {
		add("LOWER(v.name) = LOWER(?)", f.Name)
	}
	if f.Keyword != "" {
		kw := "%" + LikePrefix(strings.ToLower(f.Keyword))
		add("(LOWER(v.name) LIKE ?"+LikeEscape+" OR LOWER(v.display_name) LIKE ?"+LikeEscape+" OR LOWER(v.state) LIKE ?"+LikeEscape+")", kw, kw, kw)
	}
	if len(f.States) > 0 {
		lower := make([]string, len(f.States))
		for i, s := range f.States {
			lower[i] = strings.ToLower(s)
		}
		c, a := inList("LOWER(v.state)", lower)
		add(c, a...)
	}
	if len(f.ExcludeStates) > 0 {
		c, a := inList("v.state", f.ExcludeStates)
		add("NOT "+c, a...)
	}
	if f.NetworkID != "" {
		add("v.id IN (SELECT n.vm_id FROM nics n WHERE n.network_id = ? AND n.removed IS NULL)", f.NetworkID)
	}
	if f.AffinityGroupID != "" {
		add("v.id IN (SELECT m.vm_id FROM affinity_group_vm_map m WHERE m.group_id = ?)", f.AffinityGroupID)
	}
	if f.KeyPair != "" {
		add("(v.key_pairs = ? OR v.key_pairs LIKE ?"+LikeEscape+" OR v.key_pairs LIKE ?"+LikeEscape+" OR v.key_pairs LIKE ?"+LikeEscape+")",
			f.KeyPair, LikePrefix(f.KeyPair+","), "%"+LikePrefix(","+f.KeyPair+","), "%,"+strings.TrimSuffix(LikePrefix(f.KeyPair), "%"))
	}
	if f.Group != "" {
		add("v.vm_group = ?", f.Group)
	}
	if f.DisplayOnly {
		add("v.display_vm = 1")
	}
	if f.Scope.AccountID != "" {
		add("v.account_id = ?", f.Scope.AccountID)
	}
	if f.Scope.DomainPath != "" {
		dw, dargs := Scope{DomainPath: f.Scope.DomainPath, Recursive: f.Scope.Recursive}.apply(nil, nil, "", "dd.path")
		add("v.domain_id IN (SELECT dd.id FROM domains dd WHERE "+strings.Join(dw, " AND ")+")", dargs...)
	}
	if f.Extra != "" {
		add("("+f.Extra+")", f.ExtraArgs...)
	}
	return strings.Join(w, " AND "), args
}

// ListVMs returns matching VMs in creation order and the total count before paging.
func ListVMs(ctx context.Context, q Querier, f VMFilter) ([]*VM, int, error) {
	where, args := f.where()
	return listPaged(ctx, q, "list vms", "vm_instances v", where,
		"SELECT "+vmCols+vmFrom+" WHERE "+where+" ORDER BY v.seq", args, f.Limit, f.Offset, scanVM)
}

// vmListCols are the columns a VM list renders: vmCols less what no list answer shows (pod,
// cluster, last and migrate host, power state, password, version, destroyed and removed times)
// and without the name joins (fillVMNames reads those names once per list instead of joining
// every row). User data follows when asked for. The ids, numbers and states, none of which
// holds a space, come packed in one space-separated column (vmPacked): reading a column costs
// the drivers an allocation or two and, on SQLite, several cgo-like calls, and tens of
// thousands of rows of 27 columns made that most of a whole-list read.
const vmListCols = vmPacked + `, v.id, v.name, COALESCE(v.display_name,''), COALESCE(v.key_pairs,''), COALESCE(v.details,''),
	COALESCE(v.vm_group,''), COALESCE(v.security_groups,'')`

// vmPacked is CONCAT_WS (SQLite and MySQL alike) of vmPackedN fields in scanVMListRow's order.
const vmPacked = `CONCAT_WS(' ', v.seq, v.account_id, v.domain_id, v.zone_id, COALESCE(v.host_id,''), v.service_offering_id,
	COALESCE(v.disk_offering_id,''), COALESCE(v.template_id,''), COALESCE(v.iso_id,''), COALESCE(v.os_type_id,''),
	COALESCE(v.hypervisor_type,''), v.cpu_number, v.cpu_speed, v.memory, v.state, COALESCE(v.power_state_updated,0), v.ha_enabled,
	v.dynamically_scalable, v.display_vm, v.created, v.delete_protection)`

const vmPackedN = 21

// splitPacked splits a packed column into exactly len(out) fields; false if it holds another
// number of separators.
func splitPacked(s string, out []string) bool {
	for i := range out {
		if i == len(out)-1 {
			if strings.IndexByte(s, ' ') >= 0 {
				return false
			}
			out[i] = s
			return true
		}
		j := strings.IndexByte(s, ' ')
		if j < 0 {
			return false
		}
		out[i], s = s[:j], s[j+1:]
	}
	return true
}

func scanVMListRow(userData bool) func(s interface{ Scan(...any) error }) (*VM, error) {
	return func(s interface{ Scan(...any) error }) (*VM, error) {
		var v VM
		var packed, details string
		dest := []any{&packed, &v.ID, &v.Name, &v.DisplayName, &v.KeyPairs, &details, &v.Group, &v.SecurityGroups}
		if userData {
			dest = append(dest, &v.UserData)
		}
		if err := s.Scan(dest...); err != nil {
			return nil, err
		}
		var f [vmPackedN]string
		if !splitPacked(packed, f[:]) {
			v.Seq = -1
			return &v, nil
		}
		var err error
		num := func(x string) int64 {
			n, e := strconv.ParseInt(x, 10, 64)
			if e != nil && err == nil {
				err = fmt.Errorf("vm %s: packed number %q: %w", v.ID, x, e)
			}
			return n
		}
		v.Seq, v.AccountID, v.DomainID, v.ZoneID, v.HostID, v.ServiceOfferingID = num(f[0]), f[1], f[2], f[3], f[4], f[5]
		v.DiskOfferingID, v.TemplateID, v.ISOID, v.OSTypeID, v.HypervisorType = f[6], f[7], f[8], f[9], f[10]
		v.CPUNumber, v.CPUSpeed, v.Memory, v.State, v.PowerStateUpdated = int(num(f[11])), num(f[12]), num(f[13]), f[14], num(f[15])
		v.HAEnabled, v.DynamicallyScalable, v.DisplayVM, v.Created = f[16] == "1", f[17] == "1", f[18] == "1", num(f[19])
		v.DeleteProtection = f[20] == "1"
		if err != nil {
			return nil, err
		}
		if details != "" {
			if err := json.Unmarshal([]byte(details), &v.Details); err != nil {
				return nil, fmt.Errorf("vm %s details: %w", v.ID, err)
			}
		}
		return &v, nil
	}
}

// repackVMs reads again, column by column, the VMs whose packed column did not split (Seq -1).
func repackVMs(ctx context.Context, q Querier, vms []*VM, userData bool) error {
	for i, v := range vms {
		if v.Seq != -1 {
			continue
		}
		full, err := scanVM(q.QueryRowContext(ctx, "SELECT "+vmCols+vmFrom+" WHERE v.id = ?", v.ID))
		if err != nil {
			return fmt.Errorf("db: list vms: %w", err)
		}
		full.PodID, full.ClusterID, full.LastHostID, full.MigrateHostID, full.PowerState, full.Password = "", "", "", "", "", ""
		full.Version, full.Destroyed, full.Removed = 0, 0, 0
		if !userData {
			full.UserData = ""
		}
		vms[i] = full
	}
	return nil
}

// ListVMsToRender is ListVMs for a list answer: the VMs carry what renderVMs shows (and their
// user data when userData is set) but not PodID, ClusterID, LastHostID, MigrateHostID,
// PowerState, Password, Version, Destroyed nor Removed. Not for VMs to update.
func ListVMsToRender(ctx context.Context, q Querier, f VMFilter, userData bool) ([]*VM, int, error) {
	where, args := f.where()
	cols := vmListCols
	if userData {
		cols += ", COALESCE(v.user_data,'')"
	}
	selectSQL := "SELECT " + cols + " FROM vm_instances v WHERE " + where + " ORDER BY v.seq"
	var list []*VM
	var total int
	var err error
	if pool, ok := q.(*sql.DB); ok && f.Limit > 0 {
		// Paged from a pool: the COUNT and the page on two connections at once.
		var n int
		var cerr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			n, cerr = count(ctx, pool, "vm_instances v", where, args)
		}()
		// The page's rows are found first reading only seq (and the filter's columns), then read
		// whole: the rows skipped by OFFSET are not read whole (MariaDB would copy each).
		paged := "SELECT " + cols + " FROM vm_instances v JOIN (SELECT v.seq AS pseq FROM vm_instances v WHERE " + where + " ORDER BY v.seq" +
			page(f.Limit, f.Offset) + ") p ON p.pseq = v.seq ORDER BY v.seq"
		list, _, err = listPaged(ctx, q, "list vms", "", "", paged, args, 0, 0, scanVMListRow(userData))
		<-done
		if err == nil {
			err = cerr
		}
		if n == 0 || f.Offset >= n {
			list = nil
		}
		total = n
	} else {
		list, total, err = listPaged(ctx, q, "list vms", "vm_instances v", where, selectSQL, args, f.Limit, f.Offset, scanVMListRow(userData))
	}
	if err != nil {
		return nil, 0, err
	}
	if err := repackVMs(ctx, q, list, userData); err != nil {
		return nil, 0, err
	}
	if err := fillVMNames(ctx, q, list); err != nil {
		return nil, 0, err
	}
	return list, total, nil
}

// VMTagsOf is TagsFor the VMs a VMFilter matches (paging ignored), in one query instead of id
// lists: for a whole list of tens of thousands of VMs.
func VMTagsOf(ctx context.Context, q Querier, f VMFilter) (map[string][]Tag, error) {
	where, args := f.where()
	rows, err := q.QueryContext(ctx, "SELECT "+tagCols+tagFrom+" WHERE g.resource_type = ? AND g.resource_id IN (SELECT v.id FROM vm_instances v WHERE "+
		where+") ORDER BY g.resource_id, g.tag_key", append([]any{"UserVm"}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("db: tags of vms: %w", err)
	}
	list, err := scanAll(rows, "tags of vms", scanTag)
	if err != nil {
		return nil, err
	}
	out := map[string][]Tag{}
	for _, t := range list {
		out[t.ResourceID] = append(out[t.ResourceID], *t)
	}
	return out, nil
}

// VMAffinityMembersOf is ListAffinityMembers for the VMs a VMFilter matches (paging ignored),
// in one query instead of id lists.
func VMAffinityMembersOf(ctx context.Context, q Querier, f VMFilter) ([]*AffinityMember, error) {
	where, args := f.where()
	rows, err := q.QueryContext(ctx, `SELECT m.group_id, m.vm_id, g.name, g.type, COALESCE(g.description,'') FROM affinity_group_vm_map m
		JOIN affinity_groups g ON g.id = m.group_id WHERE g.removed IS NULL AND m.vm_id IN (SELECT v.id FROM vm_instances v WHERE `+where+
		`) ORDER BY m.vm_id, g.name`, args...)
	if err != nil {
		return nil, fmt.Errorf("db: affinity members of vms: %w", err)
	}
	return scanAll(rows, "affinity members of vms", func(s interface{ Scan(...any) error }) (*AffinityMember, error) {
		var m AffinityMember
		return &m, s.Scan(&m.GroupID, &m.VMID, &m.Name, &m.Type, &m.Description)
	})
}

// fillVMNames sets the account, domain, zone and host names of VMs (what vmFrom joins), reading
// each distinct account, domain, zone and host once.
func fillVMNames(ctx context.Context, q Querier, vms []*VM) error {
	type named struct{ name, path string }
	lookup := func(table string, withPath bool, pick func(*VM) string) (map[string]named, error) {
		cols := "COALESCE(name,'')"
		if withPath {
			cols += ", COALESCE(path,'')"
		}
		seen := map[string]named{}
		var ids []string
		for _, v := range vms {
			if id := pick(v); id != "" {
				if _, ok := seen[id]; !ok {
					seen[id] = named{}
					ids = append(ids, id)
				}
			}
		}
		for start := 0; start < len(ids); start += 500 {
			c, a := inList("id", ids[start:min(start+500, len(ids))])
			rows, err := q.QueryContext(ctx, "SELECT id, "+cols+" FROM "+table+" WHERE "+c, a...)
			if err != nil {
				return nil, fmt.Errorf("db: list vms: %s names: %w", table, err)
			}
			for rows.Next() {
				var id string
				var n named
				dest := []any{&id, &n.name}
				if withPath {
					dest = append(dest, &n.path)
				}
				if err := rows.Scan(dest...); err != nil {
					rows.Close()
					return nil, fmt.Errorf("db: list vms: %s names: %w", table, err)
				}
				seen[id] = n
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("db: list vms: %s names: %w", table, err)
			}
		}
		return seen, nil
	}
	accounts, err := lookup("accounts", false, func(v *VM) string { return v.AccountID })
	if err != nil {
		return err
	}
	domains, err := lookup("domains", true, func(v *VM) string { return v.DomainID })
	if err != nil {
		return err
	}
	zones, err := lookup("zones", false, func(v *VM) string { return v.ZoneID })
	if err != nil {
		return err
	}
	hosts, err := lookup("hosts", false, func(v *VM) string { return v.HostID })
	if err != nil {
		return err
	}
	for _, v := range vms {
		v.AccountName, v.ZoneName, v.HostName = accounts[v.AccountID].name, zones[v.ZoneID].name, hosts[v.HostID].name
		d := domains[v.DomainID]
		v.DomainName, v.DomainPath = d.name, d.path
	}
	return nil
}

// UpdateVM writes a VM's mutable fields if its version still matches, and bumps the version.
func UpdateVM(ctx context.Context, q Querier, v *VM) error {
	details, err := vmDetailsJSON(v.Details)
	if err != nil {
		return fmt.Errorf("db: update vm: %w", err)
	}
	var live any = VMLiveKey(v.AccountID, v.ZoneID, v.Name)
	if v.State == VMExpunged || v.Removed != 0 {
		live = nil
	}
	res, err := q.ExecContext(ctx, `UPDATE vm_instances SET name = ?, display_name = ?, pod_id = ?, cluster_id = ?, host_id = ?, last_host_id = ?,
		migrate_host_id = ?, service_offering_id = ?, disk_offering_id = ?, template_id = ?, iso_id = ?, os_type_id = ?, hypervisor_type = ?,
		cpu_number = ?, cpu_speed = ?, memory = ?, state = ?, power_state = ?, power_state_updated = ?, ha_enabled = ?, dynamically_scalable = ?,
		display_vm = ?, user_data = ?, key_pairs = ?, password = ?, details = ?, vm_group = ?, security_groups = ?, live_key = ?, destroyed = ?,
		removed = ?, delete_protection = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL`,
		v.Name, nullable(v.DisplayName), nullable(v.PodID), nullable(v.ClusterID), nullable(v.HostID), nullable(v.LastHostID),
		nullable(v.MigrateHostID), v.ServiceOfferingID, nullable(v.DiskOfferingID), nullable(v.TemplateID), nullable(v.ISOID),
		nullable(v.OSTypeID), nullable(v.HypervisorType), v.CPUNumber, v.CPUSpeed, v.Memory, v.State, v.PowerState,
		nullMillis(v.PowerStateUpdated), boolInt(v.HAEnabled), boolInt(v.DynamicallyScalable), boolInt(v.DisplayVM), nullable(v.UserData),
		nullable(v.KeyPairs), nullable(v.Password), details, nullable(v.Group), nullable(v.SecurityGroups), live, nullMillis(v.Destroyed),
		nullMillis(v.Removed), boolInt(v.DeleteProtection), v.ID, v.Version)
	if err != nil {
		return fmt.Errorf("db: update vm: %w", err)
	}
	if err := expectOne(res); err != nil {
		return err
	}
	v.Version++
	return nil
}

// SetVMPowerState records a reported power state without touching the version (a report is
// not a user change); it returns whether the row changed.
func SetVMPowerState(ctx context.Context, q Querier, id, power string, at int64) (bool, error) {
	res, err := q.ExecContext(ctx, "UPDATE vm_instances SET power_state = ?, power_state_updated = ? WHERE id = ? AND power_state <> ? AND removed IS NULL",
		power, at, id, power)
	if err != nil {
		return false, fmt.Errorf("db: set vm power state: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// HostVM is the little the power-state sync needs of a VM placed on a host.
type HostVM struct {
	ID, Name, State, PowerState, HostID string
	Seq                                 int64
	AccountID                           string
	Version                             int64
	PowerStateUpdated                   int64 // when its power state last changed (ms; 0: never)
}

// InstanceName as VM.InstanceName.
func (h *HostVM) InstanceName() string {
	return (&VM{AccountID: h.AccountID, Seq: h.Seq}).InstanceName()
}

// ListHostVMs returns the VMs placed on a host (host_id or migrate_host_id) and not expunged.
func ListHostVMs(ctx context.Context, q Querier, hostID string) ([]*HostVM, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name, state, power_state, COALESCE(host_id,''), seq, account_id, version,
		COALESCE(power_state_updated, 0) FROM vm_instances WHERE host_id = ? AND removed IS NULL`, hostID)
	if err != nil {
		return nil, fmt.Errorf("db: list host vms: %w", err)
	}
	return scanAll(rows, "list host vms", func(s interface{ Scan(...any) error }) (*HostVM, error) {
		var h HostVM
		return &h, s.Scan(&h.ID, &h.Name, &h.State, &h.PowerState, &h.HostID, &h.Seq, &h.AccountID, &h.Version, &h.PowerStateUpdated)
	})
}

// ListExpungeDue returns up to limit ids of VMs to expunge: Destroyed or Error VMs destroyed
// (or failed) at or before cutoff, and Expunging ones a dead run left there a minute longer.
func ListExpungeDue(ctx context.Context, q Querier, cutoff int64, limit int) ([]string, error) {
	rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT id FROM vm_instances WHERE state IN (?, ?) AND destroyed <= ? AND removed IS NULL
		UNION SELECT id FROM vm_instances WHERE state = ? AND destroyed <= ? AND removed IS NULL LIMIT %d`, limit),
		VMDestroyed, VMError, cutoff, VMExpunging, cutoff-60000)
	if err != nil {
		return nil, fmt.Errorf("db: list expunge due: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("db: list expunge due: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// GetVMBySeq returns a VM not yet expunged by its sequence number (the one in its instance name).
func GetVMBySeq(ctx context.Context, q Querier, seq int64) (*VM, error) {
	v, err := scanVM(q.QueryRowContext(ctx, "SELECT "+vmCols+vmFrom+" WHERE v.seq = ? AND v.removed IS NULL", seq))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get vm: %w", err)
	}
	return v, nil
}

// ComputeUse is what VMs hold on one host: the sums the capacity ledger should show.
type ComputeUse struct {
	HostID        string
	CPUMHz, Cores int64
	MemoryMiB     int64
}

// SumVMCompute sums, per host, the CPU (number × speed), cores and memory of VMs holding a
// reservation there (VMHoldsCompute on host_id, plus migrate_host_id while Migrating).
func SumVMCompute(ctx context.Context, q Querier) ([]ComputeUse, error) {
	rows, err := q.QueryContext(ctx, `SELECT hid, SUM(cpu), SUM(cores), SUM(mem) FROM (
		SELECT host_id AS hid, cpu_number * cpu_speed AS cpu, cpu_number AS cores, memory AS mem FROM vm_instances
			WHERE state IN ('Starting','Running','Stopping','Migrating') AND host_id IS NOT NULL AND removed IS NULL
		UNION ALL
		SELECT migrate_host_id, cpu_number * cpu_speed, cpu_number, memory FROM vm_instances
			WHERE state = 'Migrating' AND migrate_host_id IS NOT NULL AND removed IS NULL) x GROUP BY hid`)
	if err != nil {
		return nil, fmt.Errorf("db: sum vm compute: %w", err)
	}
	defer rows.Close()
	var out []ComputeUse
	for rows.Next() {
		var c ComputeUse
		if err := rows.Scan(&c.HostID, &c.CPUMHz, &c.Cores, &c.MemoryMiB); err != nil {
			return nil, fmt.Errorf("db: sum vm compute: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
