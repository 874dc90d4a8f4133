package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// PhysicalNetwork is one physical network of a zone: the wires its traffic types run on and,
// for guest traffic, the VLAN/VNI ranges (Vlan, e.g. "500-1000,2000-2100") it allocates from.
type PhysicalNetwork struct {
	ID                   string
	ZoneID               string
	Name                 string
	IsolationMethods     string // comma-separated; Atoll allows one
	Vlan                 string
	BroadcastDomainRange string // ZONE or POD
	NetworkSpeed         string
	Tags                 string
	State                string // Enabled or Disabled
	DomainID             string
	Version              int64
	Created              int64
	// Joined for rendering and checks.
	ZoneName, ZoneNetworkType string
	ZoneSecurityGroups        bool
}

const pnCols = `n.id, n.zone_id, n.name, COALESCE(n.isolation_methods,''), COALESCE(n.vlan,''), n.broadcast_domain_range,
	COALESCE(n.network_speed,''), COALESCE(n.tags,''), n.state, COALESCE(n.domain_id,''), n.version, n.created, z.name, z.network_type,
	z.security_groups_enabled`

const pnFrom = ` FROM physical_networks n JOIN zones z ON z.id = n.zone_id`

func scanPhysicalNetwork(s interface{ Scan(...any) error }) (*PhysicalNetwork, error) {
	var n PhysicalNetwork
	var sg int
	if err := s.Scan(&n.ID, &n.ZoneID, &n.Name, &n.IsolationMethods, &n.Vlan, &n.BroadcastDomainRange, &n.NetworkSpeed, &n.Tags,
		&n.State, &n.DomainID, &n.Version, &n.Created, &n.ZoneName, &n.ZoneNetworkType, &sg); err != nil {
		return nil, err
	}
	n.ZoneSecurityGroups = sg == 1
	return &n, nil
}

// InsertPhysicalNetwork creates a physical network.
func InsertPhysicalNetwork(ctx context.Context, q Querier, n *PhysicalNetwork) error {
	_, err := q.ExecContext(ctx, `INSERT INTO physical_networks (id, zone_id, name, isolation_methods, vlan, broadcast_domain_range,
		network_speed, tags, state, domain_id, version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		n.ID, n.ZoneID, n.Name, nullable(n.IsolationMethods), nullable(n.Vlan), n.BroadcastDomainRange, nullable(n.NetworkSpeed),
		nullable(n.Tags), n.State, nullable(n.DomainID), n.Created)
	if err != nil {
		return fmt.Errorf("db: insert physical network: %w", err)
	}
	return nil
}

// GetPhysicalNetwork returns a live physical network by id.
func GetPhysicalNetwork(ctx context.Context, q Querier, id string) (*PhysicalNetwork, error) {
	n, err := scanPhysicalNetwork(q.QueryRowContext(ctx, "SELECT "+pnCols+pnFrom+" WHERE n.id = ? AND n.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get physical network: %w", err)
	}
	return n, nil
}

// PhysicalNetworkFilter selects physical networks; Name and Keyword match part of the name.
type PhysicalNetworkFilter struct {
	ID, ZoneID, Name, Keyword string
	// TrafficType keeps only networks carrying this traffic type.
	TrafficType   string
	Limit, Offset int
}

// ListPhysicalNetworks returns matching physical networks and the total count before paging.
func ListPhysicalNetworks(ctx context.Context, q Querier, f PhysicalNetworkFilter) ([]*PhysicalNetwork, int, error) {
	w := []string{"n.removed IS NULL"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "n.id = ?"), append(args, f.ID)
	}
	if f.ZoneID != "" {
		w, args = append(w, "n.zone_id = ?"), append(args, f.ZoneID)
	}
	for _, s := range []string{f.Name, f.Keyword} {
		if s != "" {
			w, args = append(w, "LOWER(n.name) LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(s)))
		}
	}
	if f.TrafficType != "" {
		w = append(w, "EXISTS (SELECT 1 FROM traffic_types t WHERE t.physical_network_id = n.id AND t.traffic_type = ? AND t.removed IS NULL)")
		args = append(args, f.TrafficType)
	}
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+pnFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count physical networks: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+pnCols+pnFrom+" WHERE "+where+" ORDER BY n.created, n.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list physical networks: %w", err)
	}
	out, err := scanAll(rows, "list physical networks", scanPhysicalNetwork)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdatePhysicalNetwork writes the mutable fields if the version still matches.
func UpdatePhysicalNetwork(ctx context.Context, q Querier, n *PhysicalNetwork) error {
	res, err := q.ExecContext(ctx, `UPDATE physical_networks SET vlan = ?, network_speed = ?, tags = ?, state = ?, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`, nullable(n.Vlan), nullable(n.NetworkSpeed), nullable(n.Tags), n.State, n.ID, n.Version)
	if err != nil {
		return fmt.Errorf("db: update physical network: %w", err)
	}
	return expectOne(res)
}

// RemovePhysicalNetwork soft-deletes a physical network with its traffic types, service
// providers and their elements.
func RemovePhysicalNetwork(ctx context.Context, q Querier, id string) error {
	now := Now()
	for _, s := range []string{
		"UPDATE virtual_router_elements SET removed = ? WHERE removed IS NULL AND nsp_id IN (SELECT id FROM network_service_providers WHERE physical_network_id = ?)",
		"UPDATE network_service_providers SET removed = ?, live_key = NULL WHERE physical_network_id = ? AND removed IS NULL",
		"UPDATE traffic_types SET removed = ?, live_key = NULL WHERE physical_network_id = ? AND removed IS NULL",
	} {
		if _, err := q.ExecContext(ctx, s, now, id); err != nil {
			return fmt.Errorf("db: remove physical network: %w", err)
		}
	}
	res, err := q.ExecContext(ctx, "UPDATE physical_networks SET removed = ?, state = 'Disabled', version = version + 1 WHERE id = ? AND removed IS NULL", now, id)
	if err != nil {
		return fmt.Errorf("db: remove physical network: %w", err)
	}
	return expectOne(res)
}

// TrafficType is a kind of traffic (Guest, Public, Management, Storage) a physical network
// carries, with the name of the host device (label) per hypervisor.
type TrafficType struct {
	ID                string
	PhysicalNetworkID string
	TrafficType       string
	KVMLabel          string
	XenLabel          string
	VMwareLabel       string
	HyperVLabel       string
	OVM3Label         string
	Vlan              string
	IsolationMethod   string
	Created           int64
	// Joined: the physical network's isolation methods and zone.
	IsolationMethods, ZoneID string
}

const ttCols = `t.id, t.physical_network_id, t.traffic_type, COALESCE(t.kvm_label,''), COALESCE(t.xen_label,''), COALESCE(t.vmware_label,''),
	COALESCE(t.hyperv_label,''), COALESCE(t.ovm3_label,''), COALESCE(t.vlan,''), COALESCE(t.isolation_method,''), t.created,
	COALESCE(n.isolation_methods,''), n.zone_id`

const ttFrom = ` FROM traffic_types t JOIN physical_networks n ON n.id = t.physical_network_id`

func scanTrafficType(s interface{ Scan(...any) error }) (*TrafficType, error) {
	var t TrafficType
	if err := s.Scan(&t.ID, &t.PhysicalNetworkID, &t.TrafficType, &t.KVMLabel, &t.XenLabel, &t.VMwareLabel, &t.HyperVLabel,
		&t.OVM3Label, &t.Vlan, &t.IsolationMethod, &t.Created, &t.IsolationMethods, &t.ZoneID); err != nil {
		return nil, err
	}
	return &t, nil
}

// InsertTrafficType adds a traffic type; the same type twice on one physical network gives an
// error IsDuplicate accepts.
func InsertTrafficType(ctx context.Context, q Querier, t *TrafficType) error {
	_, err := q.ExecContext(ctx, `INSERT INTO traffic_types (id, physical_network_id, traffic_type, kvm_label, xen_label, vmware_label,
		hyperv_label, ovm3_label, vlan, isolation_method, live_key, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.PhysicalNetworkID, t.TrafficType, nullable(t.KVMLabel), nullable(t.XenLabel), nullable(t.VMwareLabel),
		nullable(t.HyperVLabel), nullable(t.OVM3Label), nullable(t.Vlan), nullable(t.IsolationMethod),
		t.PhysicalNetworkID+"/"+t.TrafficType, t.Created)
	if err != nil {
		return fmt.Errorf("db: insert traffic type: %w", err)
	}
	return nil
}

// GetTrafficType returns a live traffic type by id.
func GetTrafficType(ctx context.Context, q Querier, id string) (*TrafficType, error) {
	t, err := scanTrafficType(q.QueryRowContext(ctx, "SELECT "+ttCols+ttFrom+" WHERE t.id = ? AND t.removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get traffic type: %w", err)
	}
	return t, nil
}

// TrafficTypeFilter selects traffic types.
type TrafficTypeFilter struct {
	PhysicalNetworkID, ZoneID, TrafficType, Keyword string
	Limit, Offset                                   int
}

// ListTrafficTypes returns matching traffic types and the total count before paging.
func ListTrafficTypes(ctx context.Context, q Querier, f TrafficTypeFilter) ([]*TrafficType, int, error) {
	w := []string{"t.removed IS NULL", "n.removed IS NULL"}
	var args []any
	if f.PhysicalNetworkID != "" {
		w, args = append(w, "t.physical_network_id = ?"), append(args, f.PhysicalNetworkID)
	}
	if f.ZoneID != "" {
		w, args = append(w, "n.zone_id = ?"), append(args, f.ZoneID)
	}
	if f.TrafficType != "" {
		w, args = append(w, "t.traffic_type = ?"), append(args, f.TrafficType)
	}
	if f.Keyword != "" {
		w, args = append(w, "LOWER(t.traffic_type) LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+ttFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count traffic types: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+ttCols+ttFrom+" WHERE "+where+" ORDER BY t.created, t.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list traffic types: %w", err)
	}
	out, err := scanAll(rows, "list traffic types", scanTrafficType)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateTrafficTypeLabels writes a traffic type's labels.
func UpdateTrafficTypeLabels(ctx context.Context, q Querier, t *TrafficType) error {
	res, err := q.ExecContext(ctx, `UPDATE traffic_types SET kvm_label = ?, xen_label = ?, vmware_label = ?, hyperv_label = ?, ovm3_label = ?
		WHERE id = ? AND removed IS NULL`, nullable(t.KVMLabel), nullable(t.XenLabel), nullable(t.VMwareLabel), nullable(t.HyperVLabel),
		nullable(t.OVM3Label), t.ID)
	if err != nil {
		return fmt.Errorf("db: update traffic type: %w", err)
	}
	return expectOne(res)
}

// RemoveTrafficType soft-deletes a traffic type.
func RemoveTrafficType(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "UPDATE traffic_types SET removed = ?, live_key = NULL WHERE id = ? AND removed IS NULL", Now(), id)
	if err != nil {
		return fmt.Errorf("db: remove traffic type: %w", err)
	}
	return expectOne(res)
}

// ServiceProvider is a network service provider enabled on a physical network (CloudStack's
// physical_network_service_providers): VirtualRouter, VpcVirtualRouter, InternalLbVm ...
type ServiceProvider struct {
	ID                           string
	PhysicalNetworkID            string
	Name                         string
	State                        string // Enabled, Disabled or Shutdown
	DestinationPhysicalNetworkID string
	Services                     string // comma-separated service names
	Created                      int64
}

const nspCols = `id, physical_network_id, name, state, COALESCE(destination_physical_network_id,''), COALESCE(services,''), created`

func scanServiceProvider(s interface{ Scan(...any) error }) (*ServiceProvider, error) {
	var p ServiceProvider
	if err := s.Scan(&p.ID, &p.PhysicalNetworkID, &p.Name, &p.State, &p.DestinationPhysicalNetworkID, &p.Services, &p.Created); err != nil {
		return nil, err
	}
	return &p, nil
}

// InsertServiceProvider adds a provider; the same provider twice on one physical network gives
// an error IsDuplicate accepts.
func InsertServiceProvider(ctx context.Context, q Querier, p *ServiceProvider) error {
	_, err := q.ExecContext(ctx, `INSERT INTO network_service_providers (id, physical_network_id, name, state, destination_physical_network_id,
		services, live_key, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, p.ID, p.PhysicalNetworkID, p.Name, p.State,
		nullable(p.DestinationPhysicalNetworkID), nullable(p.Services), p.PhysicalNetworkID+"/"+strings.ToLower(p.Name), p.Created)
	if err != nil {
		return fmt.Errorf("db: insert service provider: %w", err)
	}
	return nil
}

// GetServiceProvider returns a live provider by id.
func GetServiceProvider(ctx context.Context, q Querier, id string) (*ServiceProvider, error) {
	p, err := scanServiceProvider(q.QueryRowContext(ctx, "SELECT "+nspCols+" FROM network_service_providers WHERE id = ? AND removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get service provider: %w", err)
	}
	return p, nil
}

// ServiceProviderFilter selects providers; Name and State match case-insensitively.
type ServiceProviderFilter struct {
	PhysicalNetworkID, Name, State, Keyword string
	Limit, Offset                           int
}

// ListServiceProviders returns matching providers and the total count before paging.
func ListServiceProviders(ctx context.Context, q Querier, f ServiceProviderFilter) ([]*ServiceProvider, int, error) {
	w := []string{"removed IS NULL"}
	var args []any
	if f.PhysicalNetworkID != "" {
		w, args = append(w, "physical_network_id = ?"), append(args, f.PhysicalNetworkID)
	}
	if f.Name != "" {
		w, args = append(w, "LOWER(name) = LOWER(?)"), append(args, f.Name)
	}
	if f.State != "" {
		w, args = append(w, "LOWER(state) = LOWER(?)"), append(args, f.State)
	}
	if f.Keyword != "" {
		w, args = append(w, "LOWER(name) LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	where := strings.Join(w, " AND ")
	total, err := count(ctx, q, "network_service_providers", where, args)
	if err != nil || total == 0 {
		return nil, total, err
	}
	rows, err := q.QueryContext(ctx, "SELECT "+nspCols+" FROM network_service_providers WHERE "+where+" ORDER BY created, id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list service providers: %w", err)
	}
	out, err := scanAll(rows, "list service providers", scanServiceProvider)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateServiceProvider writes a provider's state and services.
func UpdateServiceProvider(ctx context.Context, q Querier, p *ServiceProvider) error {
	res, err := q.ExecContext(ctx, "UPDATE network_service_providers SET state = ?, services = ? WHERE id = ? AND removed IS NULL",
		p.State, nullable(p.Services), p.ID)
	if err != nil {
		return fmt.Errorf("db: update service provider: %w", err)
	}
	return expectOne(res)
}

// RemoveServiceProvider soft-deletes a provider and its elements.
func RemoveServiceProvider(ctx context.Context, q Querier, id string) error {
	now := Now()
	if _, err := q.ExecContext(ctx, "UPDATE virtual_router_elements SET removed = ? WHERE nsp_id = ? AND removed IS NULL", now, id); err != nil {
		return fmt.Errorf("db: remove service provider elements: %w", err)
	}
	res, err := q.ExecContext(ctx, "UPDATE network_service_providers SET removed = ?, live_key = NULL, state = 'Shutdown' WHERE id = ? AND removed IS NULL", now, id)
	if err != nil {
		return fmt.Errorf("db: remove service provider: %w", err)
	}
	return expectOne(res)
}

// RouterElement is the element behind a router-like provider (CloudStack's
// virtual_router_providers): Type is VirtualRouter, VPCVirtualRouter or InternalLbVm.
type RouterElement struct {
	ID      string
	NSPID   string
	Type    string
	Enabled bool
	Created int64
}

// InsertRouterElement adds an element.
func InsertRouterElement(ctx context.Context, q Querier, e *RouterElement) error {
	_, err := q.ExecContext(ctx, "INSERT INTO virtual_router_elements (id, nsp_id, type, enabled, created) VALUES (?, ?, ?, ?, ?)",
		e.ID, e.NSPID, e.Type, boolInt(e.Enabled), e.Created)
	if err != nil {
		return fmt.Errorf("db: insert router element: %w", err)
	}
	return nil
}

// RouterElementFilter selects elements; Types limits to these types.
type RouterElementFilter struct {
	ID, NSPID     string
	Enabled       *bool
	Types         []string
	Limit, Offset int
}

// ListRouterElements returns matching live elements and the total count before paging.
func ListRouterElements(ctx context.Context, q Querier, f RouterElementFilter) ([]*RouterElement, int, error) {
	w := []string{"removed IS NULL"}
	var args []any
	if f.ID != "" {
		w, args = append(w, "id = ?"), append(args, f.ID)
	}
	if f.NSPID != "" {
		w, args = append(w, "nsp_id = ?"), append(args, f.NSPID)
	}
	if f.Enabled != nil {
		w, args = append(w, "enabled = ?"), append(args, boolInt(*f.Enabled))
	}
	if len(f.Types) > 0 {
		w = append(w, "type IN (?"+strings.Repeat(", ?", len(f.Types)-1)+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	where := strings.Join(w, " AND ")
	total, err := count(ctx, q, "virtual_router_elements", where, args)
	if err != nil || total == 0 {
		return nil, total, err
	}
	rows, err := q.QueryContext(ctx, "SELECT id, nsp_id, type, enabled, created FROM virtual_router_elements WHERE "+where+
		" ORDER BY created, id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list router elements: %w", err)
	}
	defer rows.Close()
	var out []*RouterElement
	for rows.Next() {
		var e RouterElement
		var enabled int
		if err := rows.Scan(&e.ID, &e.NSPID, &e.Type, &enabled, &e.Created); err != nil {
			return nil, 0, fmt.Errorf("db: list router elements: %w", err)
		}
		e.Enabled = enabled == 1
		out = append(out, &e)
	}
	return out, total, rows.Err()
}

// SetRouterElementEnabled enables or disables an element.
func SetRouterElementEnabled(ctx context.Context, q Querier, id string, enabled bool) error {
	res, err := q.ExecContext(ctx, "UPDATE virtual_router_elements SET enabled = ? WHERE id = ? AND removed IS NULL", boolInt(enabled), id)
	if err != nil {
		return fmt.Errorf("db: set router element enabled: %w", err)
	}
	return expectOne(res)
}
