package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Host statuses (CloudStack's Status) follow the agent connection and heartbeats.
const (
	HostStatusConnecting   = "Connecting"
	HostStatusUp           = "Up"
	HostStatusDisconnected = "Disconnected"
	HostStatusAlert        = "Alert"
	HostStatusDown         = "Down"
	HostStatusRemoved      = "Removed"
)

// Host resource states (CloudStack's ResourceState) follow the administrator.
// HostResourceCreating marks an agent that registered but was not added by addHost yet
// (an unbound host: no zone, not listed).
const (
	HostResourceEnabled        = "Enabled"
	HostResourceDisabled       = "Disabled"
	HostResourcePrepareMaint   = "PrepareForMaintenance"
	HostResourceMaintenance    = "Maintenance"
	HostResourceErrorInMaint   = "ErrorInMaintenance"
	HostResourceErrorInPrepare = "ErrorInPrepareForMaintenance"
	HostResourceCreating       = "Creating"
)

// Host types: a hypervisor host is Routing; an agent that registered but was not added yet
// is Unbound (Atoll's own), so that nothing counting routing hosts (the capacity ledger
// check) sees it.
const (
	HostTypeRouting = "Routing"
	HostTypeUnbound = "Unbound"
)

// Host is a hypervisor host.
type Host struct {
	ID, Name, GUID, Type                 string
	ZoneID, PodID, ClusterID             string
	HypervisorType, HypervisorVersion    string
	URL, IPAddress                       string
	Status, ResourceState                string
	CPUSockets, CPUs                     int
	CPUSpeed, Memory, LocalStorage       int64
	Capabilities, HostTags, AgentVersion string
	Owner                                string
	LastPing, Disconnected               int64 // Disconnected 0: never
	CertSerial                           string
	Version, Created, Removed            int64
	// Filled by ListHosts and GetHost for rendering.
	ZoneName, PodName, ClusterName, ClusterType string
}

// Unbound reports whether the host is an agent that registered but was not added.
func (h *Host) Unbound() bool { return h.ZoneID == "" }

const hostCols = `h.id, h.name, h.guid, h.type, h.zone_id, COALESCE(h.pod_id,''), COALESCE(h.cluster_id,''), h.hypervisor_type,
	COALESCE(h.hypervisor_version,''), COALESCE(h.url,''), COALESCE(h.ip_address,''), h.status, h.resource_state, h.cpu_sockets, h.cpus,
	h.cpu_speed, h.memory, h.local_storage, COALESCE(h.capabilities,''), COALESCE(h.host_tags,''), COALESCE(h.agent_version,''),
	COALESCE(h.owner,''), h.last_ping, COALESCE(h.disconnected,0), COALESCE(h.cert_serial,''), h.version, h.created, COALESCE(h.removed,0),
	COALESCE(z.name,''), COALESCE(p.name,''), COALESCE(c.name,''), COALESCE(c.cluster_type,'')`

const hostJoins = ` FROM hosts h LEFT JOIN zones z ON z.id = h.zone_id LEFT JOIN pods p ON p.id = h.pod_id
	LEFT JOIN clusters c ON c.id = h.cluster_id`

func scanHost(s interface{ Scan(...any) error }) (*Host, error) {
	var h Host
	err := s.Scan(&h.ID, &h.Name, &h.GUID, &h.Type, &h.ZoneID, &h.PodID, &h.ClusterID, &h.HypervisorType, &h.HypervisorVersion,
		&h.URL, &h.IPAddress, &h.Status, &h.ResourceState, &h.CPUSockets, &h.CPUs, &h.CPUSpeed, &h.Memory, &h.LocalStorage,
		&h.Capabilities, &h.HostTags, &h.AgentVersion, &h.Owner, &h.LastPing, &h.Disconnected, &h.CertSerial, &h.Version,
		&h.Created, &h.Removed, &h.ZoneName, &h.PodName, &h.ClusterName, &h.ClusterType)
	if err != nil {
		return nil, err
	}
	return &h, nil
}

func nullTime(t int64) any {
	if t == 0 {
		return nil
	}
	return t
}

// InsertHost creates a host. Its guid is unique among live hosts (IsDuplicate on a clash).
func InsertHost(ctx context.Context, q Querier, h *Host) error {
	_, err := q.ExecContext(ctx, `INSERT INTO hosts (id, name, guid, type, zone_id, pod_id, cluster_id, hypervisor_type, hypervisor_version,
		url, ip_address, status, resource_state, cpu_sockets, cpus, cpu_speed, memory, local_storage, capabilities, host_tags,
		agent_version, owner, last_ping, disconnected, cert_serial, live_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		h.ID, h.Name, h.GUID, h.Type, h.ZoneID, nullable(h.PodID), nullable(h.ClusterID), h.HypervisorType, nullable(h.HypervisorVersion),
		nullable(h.URL), nullable(h.IPAddress), h.Status, h.ResourceState, h.CPUSockets, h.CPUs, h.CPUSpeed, h.Memory, h.LocalStorage,
		nullable(h.Capabilities), nullable(h.HostTags), nullable(h.AgentVersion), nullable(h.Owner), h.LastPing, nullTime(h.Disconnected),
		nullable(h.CertSerial), h.GUID, h.Created)
	if err != nil {
		return fmt.Errorf("db: insert host: %w", err)
	}
	return nil
}

// GetHost returns a live host by id (unbound ones included).
func GetHost(ctx context.Context, q Querier, id string) (*Host, error) {
	return getHost(ctx, q, "h.id = ?", id)
}

// GetHostByGUID returns the live host with an agent guid.
func GetHostByGUID(ctx context.Context, q Querier, guid string) (*Host, error) {
	return getHost(ctx, q, "h.live_key = ?", guid)
}

// HostIDByGUID returns the id of the live host with an agent guid (ErrNotFound if none): the
// cheap check of the enrollment and registration paths, where the guid is usually new.
func HostIDByGUID(ctx context.Context, q Querier, guid string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, "SELECT id FROM hosts WHERE live_key = ?", guid).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("db: get host id: %w", err)
	}
	return id, nil
}

func getHost(ctx context.Context, q Querier, where string, arg any) (*Host, error) {
	h, err := scanHost(q.QueryRowContext(ctx, "SELECT "+hostCols+hostJoins+" WHERE "+where+" AND h.removed IS NULL", arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get host: %w", err)
	}
	return h, nil
}

// HostFilter selects hosts for listing. Unbound hosts are left out unless Unbound is set,
// which selects only them.
type HostFilter struct {
	ID, Name, ZoneID, PodID, ClusterID string
	Status, ResourceState, Hypervisor  string
	Keyword, Owner, Address            string
	Unbound                            bool
	IDs                                []string
	Limit, Offset                      int
}

func (f HostFilter) where() (string, []any) {
	w := []string{"h.removed IS NULL"}
	var args []any
	add := func(cond string, a ...any) { w = append(w, cond); args = append(args, a...) }
	if f.Unbound {
		add("h.zone_id = ''")
	} else {
		add("h.zone_id <> ''")
	}
	if f.ID != "" {
		add("h.id = ?", f.ID)
	}
	if len(f.IDs) > 0 {
		add("h.id IN (?"+strings.Repeat(",?", len(f.IDs)-1)+")", anySlice(f.IDs)...)
	}
	if f.Name != "" {
		add("LOWER(h.name) = LOWER(?)", f.Name)
	}
	if f.ZoneID != "" {
		add("h.zone_id = ?", f.ZoneID)
	}
	if f.PodID != "" {
		add("h.pod_id = ?", f.PodID)
	}
	if f.ClusterID != "" {
		add("h.cluster_id = ?", f.ClusterID)
	}
	if f.Status != "" {
		add("LOWER(h.status) = LOWER(?)", f.Status)
	}
	if f.ResourceState != "" {
		add("LOWER(h.resource_state) = LOWER(?)", f.ResourceState)
	}
	if f.Hypervisor != "" {
		add("LOWER(h.hypervisor_type) = LOWER(?)", f.Hypervisor)
	}
	if f.Owner != "" {
		add("h.owner = ?", f.Owner)
	}
	if f.Address != "" {
		add("(LOWER(h.ip_address) = LOWER(?) OR LOWER(h.name) = LOWER(?))", f.Address, f.Address)
	}
	if f.Keyword != "" {
		add("LOWER(h.name) LIKE ?"+LikeEscape, "%"+strings.TrimSuffix(LikePrefix(strings.ToLower(f.Keyword)), "%")+"%")
	}
	return strings.Join(w, " AND "), args
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ListHosts returns matching hosts ordered by creation, and the total before paging.
func ListHosts(ctx context.Context, q Querier, f HostFilter) ([]*Host, int, error) {
	where, args := f.where()
	return listPaged(ctx, q, "list hosts", "hosts h", where,
		"SELECT "+hostCols+hostJoins+" WHERE "+where+" ORDER BY h.created, h.id", args, f.Limit, f.Offset, scanHost)
}

// UpdateHost writes a host's mutable columns if its version still matches (ErrConflict if not).
func UpdateHost(ctx context.Context, q Querier, h *Host) error {
	res, err := q.ExecContext(ctx, `UPDATE hosts SET name = ?, type = ?, zone_id = ?, pod_id = ?, cluster_id = ?, hypervisor_type = ?,
		hypervisor_version = ?, url = ?, ip_address = ?, status = ?, resource_state = ?, cpu_sockets = ?, cpus = ?, cpu_speed = ?,
		memory = ?, local_storage = ?, capabilities = ?, host_tags = ?, agent_version = ?, owner = ?, last_ping = ?,
		disconnected = ?, cert_serial = ?, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`,
		h.Name, h.Type, h.ZoneID, nullable(h.PodID), nullable(h.ClusterID), h.HypervisorType, nullable(h.HypervisorVersion), nullable(h.URL),
		nullable(h.IPAddress), h.Status, h.ResourceState, h.CPUSockets, h.CPUs, h.CPUSpeed, h.Memory, h.LocalStorage,
		nullable(h.Capabilities), nullable(h.HostTags), nullable(h.AgentVersion), nullable(h.Owner), h.LastPing,
		nullTime(h.Disconnected), nullable(h.CertSerial), h.ID, h.Version)
	if err != nil {
		return fmt.Errorf("db: update host: %w", err)
	}
	if err := expectOne(res); err != nil {
		return err
	}
	h.Version++
	return nil
}

// SetHostStatus moves a host to a status if its version still matches (ErrConflict if not).
func SetHostStatus(ctx context.Context, q Querier, id string, version int64, status string) error {
	res, err := q.ExecContext(ctx, "UPDATE hosts SET status = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL",
		status, id, version)
	if err != nil {
		return fmt.Errorf("db: set host status: %w", err)
	}
	return expectOne(res)
}

// pingSet is the SET clause of a heartbeat: a bound host that was not Up comes back Up.
// version is assigned first: MySQL evaluates assignments left to right with new values.
const pingSet = `UPDATE hosts SET
		version = version + (CASE WHEN zone_id <> '' AND status <> 'Up' THEN 1 ELSE 0 END),
		disconnected = (CASE WHEN zone_id <> '' AND status <> 'Up' THEN NULL ELSE disconnected END),
		status = (CASE WHEN zone_id <> '' THEN 'Up' ELSE status END),
		last_ping = ?`

// HostPing records a heartbeat from a host whose connection owner holds; a bound host that
// was not Up comes back Up. It reports false when owner no longer holds the host (another
// server took it over, or it was removed).
func HostPing(ctx context.Context, q Querier, id, owner string, now int64) (bool, error) {
	res, err := q.ExecContext(ctx, pingSet+" WHERE id = ? AND owner = ? AND removed IS NULL", now, id, owner)
	if err != nil {
		return false, fmt.Errorf("db: host ping: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// HostPings records the heartbeats of many hosts whose connections owner holds in one
// statement (as HostPing does for one), and returns the ids owner no longer holds. The
// common case, every host still held, costs that one statement.
func HostPings(ctx context.Context, q Querier, ids []string, owner string, now int64) (lost []string, err error) {
	if len(ids) == 0 {
		return nil, nil
	}
	in := " AND id IN (?" + strings.Repeat(",?", len(ids)-1) + ")"
	res, err := q.ExecContext(ctx, pingSet+" WHERE owner = ? AND removed IS NULL"+in, append([]any{now, owner}, anySlice(ids)...)...)
	if err != nil {
		return nil, fmt.Errorf("db: host pings: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == int64(len(ids)) {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, "SELECT id FROM hosts WHERE owner = ? AND removed IS NULL"+in, append([]any{owner}, anySlice(ids)...)...)
	if err != nil {
		return nil, fmt.Errorf("db: host pings: %w", err)
	}
	held, err := scanAll(rows, "host pings", func(s interface{ Scan(...any) error }) (*string, error) {
		var id string
		return &id, s.Scan(&id)
	})
	if err != nil {
		return nil, err
	}
	keep := make(map[string]bool, len(held))
	for _, id := range held {
		keep[*id] = true
	}
	for _, id := range ids {
		if !keep[id] {
			lost = append(lost, id)
		}
	}
	return lost, nil
}

// MarkHostDisconnected records that owner's connection to a host closed.
func MarkHostDisconnected(ctx context.Context, q Querier, id, owner string, now int64) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE hosts SET version = version + 1, status = 'Disconnected', disconnected = ?
		WHERE id = ? AND owner = ? AND removed IS NULL AND status IN ('Up', 'Connecting')`, now, id, owner)
	if err != nil {
		return false, fmt.Errorf("db: mark host disconnected: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseHosts gives up every host owner holds (a clean shutdown): connected ones become
// Disconnected, and none has an owner, so another server may take over simulated ones at once.
func ReleaseHosts(ctx context.Context, q Querier, owner string, now int64) error {
	_, err := q.ExecContext(ctx, `UPDATE hosts SET version = version + 1,
		disconnected = (CASE WHEN status IN ('Up', 'Connecting') THEN ? ELSE disconnected END),
		status = (CASE WHEN status IN ('Up', 'Connecting') THEN 'Disconnected' ELSE status END),
		owner = NULL
		WHERE owner = ? AND removed IS NULL`, now, owner)
	if err != nil {
		return fmt.Errorf("db: release hosts: %w", err)
	}
	return nil
}

// ClaimHost makes owner the holder of a host's connection, if its version still matches.
func ClaimHost(ctx context.Context, q Querier, id string, version int64, owner string) error {
	res, err := q.ExecContext(ctx, "UPDATE hosts SET owner = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL",
		owner, id, version)
	if err != nil {
		return fmt.Errorf("db: claim host: %w", err)
	}
	return expectOne(res)
}

// SilentHosts returns live hosts in one of statuses whose last heartbeat is older than before.
func SilentHosts(ctx context.Context, q Querier, before int64, statuses ...string) ([]*Host, error) {
	if len(statuses) == 0 {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+hostCols+hostJoins+" WHERE h.removed IS NULL AND h.last_ping < ? AND h.status IN (?"+
		strings.Repeat(",?", len(statuses)-1)+")", append([]any{before}, anySlice(statuses)...)...)
	if err != nil {
		return nil, fmt.Errorf("db: silent hosts: %w", err)
	}
	return scanAll(rows, "silent hosts", scanHost)
}

// OrphanedHosts returns live, bound hosts whose guid starts with guidPrefix that no live
// management server holds: no owner, or an owner whose heartbeat is older than aliveAfter or
// that said Down.
// Every server runs it twice a second: the guid range on live_key (a live host's guid; the
// unique index hosts_live) keeps it from reading hosts of other guids, such as thousands of
// agents' uuids.
func OrphanedHosts(ctx context.Context, q Querier, guidPrefix string, aliveAfter int64) ([]*Host, error) {
	query := "SELECT " + hostCols + hostJoins + ` WHERE h.removed IS NULL AND h.zone_id <> '' AND h.guid LIKE ?` + LikeEscape + `
		AND (h.owner IS NULL OR NOT EXISTS (SELECT 1 FROM mgmt_servers m WHERE m.id = h.owner AND m.state = 'Up' AND m.last_seen >= ?))`
	args := []any{LikePrefix(guidPrefix), aliveAfter}
	if guidPrefix != "" {
		query += " AND h.live_key >= ?"
		args = append(args, guidPrefix)
		if upper, ok := prefixEnd(guidPrefix); ok {
			query += " AND h.live_key < ?"
			args = append(args, upper)
		}
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("db: orphaned hosts: %w", err)
	}
	return scanAll(rows, "orphaned hosts", scanHost)
}

// prefixEnd is the least string greater than every string that starts with p (byte order).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// RemoveHost soft-deletes a host if its version still matches.
func RemoveHost(ctx context.Context, q Querier, id string, version int64) error {
	res, err := q.ExecContext(ctx, `UPDATE hosts SET removed = ?, live_key = NULL, status = 'Removed', owner = NULL, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`, Now(), id, version)
	if err != nil {
		return fmt.Errorf("db: remove host: %w", err)
	}
	return expectOne(res)
}

// HostCapacityRows returns the capacity ledger rows of hosts, by host id and type.
func HostCapacityRows(ctx context.Context, q Querier, hostIDs []string) (map[string]map[int]*Capacity, error) {
	out := map[string]map[int]*Capacity{}
	if len(hostIDs) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT capacity_type, object_id, zone_id, COALESCE(pod_id,''), COALESCE(cluster_id,''), used, reserved,
		total, enabled, updated FROM capacity WHERE object_id IN (?`+strings.Repeat(",?", len(hostIDs)-1)+")", anySlice(hostIDs)...)
	if err != nil {
		return nil, fmt.Errorf("db: host capacity: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c Capacity
		var enabled int
		if err := rows.Scan(&c.Type, &c.ObjectID, &c.ZoneID, &c.PodID, &c.ClusterID, &c.Used, &c.Reserved, &c.Total, &enabled, &c.Updated); err != nil {
			return nil, fmt.Errorf("db: host capacity: %w", err)
		}
		c.Enabled = enabled == 1
		if out[c.ObjectID] == nil {
			out[c.ObjectID] = map[int]*Capacity{}
		}
		out[c.ObjectID][c.Type] = &c
	}
	return out, rows.Err()
}

// InsertCapacityRows creates ledger rows known not to exist yet (a new host's) in one
// statement; used and reserved start at 0.
func InsertCapacityRows(ctx context.Context, q Querier, rows []Capacity) error {
	if len(rows) == 0 {
		return nil
	}
	now := Now()
	args := make([]any, 0, 7*len(rows))
	for _, c := range rows {
		args = append(args, c.Type, c.ObjectID, c.ZoneID, nullable(c.PodID), nullable(c.ClusterID), c.Total, now)
	}
	_, err := q.ExecContext(ctx, `INSERT INTO capacity (capacity_type, object_id, zone_id, pod_id, cluster_id, used, reserved, total, enabled, updated)
		VALUES `+strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, 0, 0, ?, 1, ?), ", len(rows)), ", "), args...)
	if err != nil {
		return fmt.Errorf("db: insert capacity: %w", err)
	}
	return nil
}

// Placement is a zone, pod and cluster, with what hosts need to know of them.
type Placement struct {
	ZoneID, ZoneName, PodID, PodName                 string
	ClusterID, ClusterName                           string
	ClusterHypervisor, ClusterType                   string
	ZoneAllocation, PodAllocation, ClusterAllocation string
}

// ResolvePlacement finds the one live cluster named by cluster (an id or a name) inside the
// pod and zone named by pod and zone (ids or names; "" matches any). It returns ErrNotFound
// when none matches and an error when several do.
func ResolvePlacement(ctx context.Context, q Querier, zone, pod, cluster string) (*Placement, error) {
	if cluster == "" {
		return nil, ErrNotFound
	}
	query := `SELECT z.id, z.name, z.allocation_state, p.id, p.name, p.allocation_state, c.id, c.name, c.hypervisor_type, c.cluster_type,
		c.allocation_state FROM clusters c JOIN pods p ON p.id = c.pod_id JOIN zones z ON z.id = c.zone_id
		WHERE c.removed IS NULL AND p.removed IS NULL AND z.removed IS NULL AND (c.id = ? OR LOWER(c.name) = LOWER(?))`
	args := []any{cluster, cluster}
	if pod != "" {
		query += " AND (p.id = ? OR LOWER(p.name) = LOWER(?))"
		args = append(args, pod, pod)
	}
	if zone != "" {
		query += " AND (z.id = ? OR LOWER(z.name) = LOWER(?))"
		args = append(args, zone, zone)
	}
	rows, err := q.QueryContext(ctx, query+" LIMIT 2", args...)
	if err != nil {
		return nil, fmt.Errorf("db: resolve placement: %w", err)
	}
	defer rows.Close()
	var out []*Placement
	for rows.Next() {
		var p Placement
		if err := rows.Scan(&p.ZoneID, &p.ZoneName, &p.ZoneAllocation, &p.PodID, &p.PodName, &p.PodAllocation, &p.ClusterID,
			&p.ClusterName, &p.ClusterHypervisor, &p.ClusterType, &p.ClusterAllocation); err != nil {
			return nil, fmt.Errorf("db: resolve placement: %w", err)
		}
		out = append(out, &p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: resolve placement: %w", err)
	}
	switch len(out) {
	case 0:
		return nil, ErrNotFound
	case 1:
		return out[0], nil
	}
	return nil, fmt.Errorf("db: cluster %q names more than one cluster; give its id", cluster)
}

// ZonePod returns the names of a live zone and of a live pod in it (pod "" skips the pod).
func ZonePod(ctx context.Context, q Querier, zoneID, podID string) (*Placement, error) {
	p := &Placement{ZoneID: zoneID, PodID: podID}
	err := q.QueryRowContext(ctx, "SELECT name, allocation_state FROM zones WHERE id = ? AND removed IS NULL", zoneID).Scan(&p.ZoneName, &p.ZoneAllocation)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("zone %s: %w", zoneID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("db: get zone: %w", err)
	}
	if podID == "" {
		return p, nil
	}
	err = q.QueryRowContext(ctx, "SELECT name, allocation_state FROM pods WHERE id = ? AND zone_id = ? AND removed IS NULL", podID, zoneID).
		Scan(&p.PodName, &p.PodAllocation)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("pod %s in zone %s: %w", podID, zoneID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("db: get pod: %w", err)
	}
	return p, nil
}
