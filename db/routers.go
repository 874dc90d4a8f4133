package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Router states (CloudStack's VirtualMachine.State names where they apply).
const (
	RouterStarting = "Starting"
	RouterRunning  = "Running"
	RouterStopped  = "Stopped"
	RouterAlert    = "Alert"
)

// Router is an isolated network's router (migration 0017): a namespace on HostID.
type Router struct {
	ID, Name, NetworkID, ZoneID string
	AccountID, DomainID         string
	HostID                      string
	State                       string
	GuestIP, GuestMAC           string
	PublicMAC                   string
	Created, Updated, Removed   int64
	Version                     int64
	// Joined for rendering.
	HostName, ZoneName, NetworkName, NetworkDomain string
	AccountName, DomainName, DomainPath            string
	Hypervisor                                     string // its host's
	PublicIP, PublicGateway                        string // its network's source NAT address and range gateway
}

const routerCols = `r.id, r.name, r.network_id, r.zone_id, COALESCE(r.account_id,''), r.domain_id, COALESCE(r.host_id,''), r.state,
	COALESCE(r.guest_ip,''), r.guest_mac, r.public_mac, r.created, r.updated, COALESCE(r.removed,0), r.version,
	COALESCE(h.name,''), COALESCE(z.name,''), COALESCE(n.name,''), COALESCE(n.network_domain,''),
	COALESCE(a.name,''), COALESCE(d.name,''), COALESCE(d.path,''), COALESCE(h.hypervisor_type,''), COALESCE(sn.address,''),
	COALESCE(sv.gateway,'')`

const routerFrom = ` FROM routers r LEFT JOIN hosts h ON h.id = r.host_id LEFT JOIN zones z ON z.id = r.zone_id
	LEFT JOIN networks n ON n.id = r.network_id LEFT JOIN accounts a ON a.id = r.account_id LEFT JOIN domains d ON d.id = r.domain_id
	LEFT JOIN public_ips sn ON sn.network_id = r.network_id AND sn.source_nat = 1 LEFT JOIN vlan_ranges sv ON sv.id = sn.vlan_id`

func scanRouter(s interface{ Scan(...any) error }) (*Router, error) {
	var r Router
	err := s.Scan(&r.ID, &r.Name, &r.NetworkID, &r.ZoneID, &r.AccountID, &r.DomainID, &r.HostID, &r.State, &r.GuestIP, &r.GuestMAC,
		&r.PublicMAC, &r.Created, &r.Updated, &r.Removed, &r.Version, &r.HostName, &r.ZoneName, &r.NetworkName, &r.NetworkDomain,
		&r.AccountName, &r.DomainName, &r.DomainPath, &r.Hypervisor, &r.PublicIP, &r.PublicGateway)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// InsertRouter adds a router row.
func InsertRouter(ctx context.Context, q Querier, r *Router) error {
	_, err := q.ExecContext(ctx, `INSERT INTO routers (id, name, network_id, zone_id, account_id, domain_id, host_id, state, guest_ip,
		guest_mac, public_mac, created, updated, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
		r.ID, r.Name, r.NetworkID, r.ZoneID, nullable(r.AccountID), r.DomainID, nullable(r.HostID), r.State, nullable(r.GuestIP),
		r.GuestMAC, r.PublicMAC, r.Created, r.Created)
	if err != nil {
		return fmt.Errorf("db: insert router: %w", err)
	}
	return nil
}

// GetRouter reads a live router by id.
func GetRouter(ctx context.Context, q Querier, id string) (*Router, error) {
	return oneRouter(ctx, q, "r.id = ?", id)
}

// NetworkRouter reads the live router of a network (ErrNotFound: it has none).
func NetworkRouter(ctx context.Context, q Querier, networkID string) (*Router, error) {
	return oneRouter(ctx, q, "r.network_id = ?", networkID)
}

func oneRouter(ctx context.Context, q Querier, where string, arg any) (*Router, error) {
	r, err := scanRouter(q.QueryRowContext(ctx, "SELECT "+routerCols+routerFrom+" WHERE "+where+" AND r.removed IS NULL", arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get router: %w", err)
	}
	return r, nil
}

// RouterFilter selects routers.
type RouterFilter struct {
	ID, Name, NetworkID, ZoneID, HostID, State, Keyword string
	Scope                                               Scope
	Limit, Offset                                       int
}

// ListRouters answers the live routers matching f, by name, and their total count.
func ListRouters(ctx context.Context, q Querier, f RouterFilter) ([]*Router, int, error) {
	where, args := []string{"r.removed IS NULL"}, []any{}
	add := func(cond string, v string) {
		if v != "" {
			where, args = append(where, cond), append(args, v)
		}
	}
	add("r.id = ?", f.ID)
	add("r.name = ?", f.Name)
	add("r.network_id = ?", f.NetworkID)
	add("r.zone_id = ?", f.ZoneID)
	add("r.host_id = ?", f.HostID)
	add("r.state = ?", f.State)
	if f.Keyword != "" {
		where, args = append(where, "LOWER(r.name) LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	where, args = f.Scope.apply(where, args, "r.account_id", "d.path")
	w := " WHERE " + strings.Join(where, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+routerFrom+w, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count routers: %w", err)
	}
	rows, err := q.QueryContext(ctx, "SELECT "+routerCols+routerFrom+w+" ORDER BY r.name, r.id"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list routers: %w", err)
	}
	defer rows.Close()
	var out []*Router
	for rows.Next() {
		r, err := scanRouter(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("db: scan router: %w", err)
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// MoveRouter sets a router's host and state if its version is still version (ErrConflict
// otherwise: another server moved it first).
func MoveRouter(ctx context.Context, q Querier, id string, version int64, hostID, state string) error {
	res, err := q.ExecContext(ctx, "UPDATE routers SET host_id = ?, state = ?, updated = ?, version = version + 1 WHERE id = ? AND version = ? AND removed IS NULL",
		nullable(hostID), state, Now(), id, version)
	if err != nil {
		return fmt.Errorf("db: move router: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrConflict
	}
	return nil
}

// SetRouterState sets a router's state when it is on hostID (a late answer from a host the
// router has left changes nothing).
func SetRouterState(ctx context.Context, q Querier, id, hostID, state string) error {
	_, err := q.ExecContext(ctx, "UPDATE routers SET state = ?, updated = ?, version = version + 1 WHERE id = ? AND host_id = ? AND removed IS NULL",
		state, Now(), id, hostID)
	if err != nil {
		return fmt.Errorf("db: router state: %w", err)
	}
	return nil
}

// RemoveNetworkRouter marks a network's router removed and answers it as it was (nil: none).
func RemoveNetworkRouter(ctx context.Context, q Querier, networkID string) (*Router, error) {
	r, err := NetworkRouter(ctx, q, networkID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := q.ExecContext(ctx, "UPDATE routers SET removed = ?, state = ?, version = version + 1 WHERE id = ?", Now(), RouterStopped, r.ID); err != nil {
		return nil, fmt.Errorf("db: remove router: %w", err)
	}
	return r, nil
}

// RouterLoad answers how many live routers each host of a zone runs.
func RouterLoad(ctx context.Context, q Querier, zoneID string) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, "SELECT host_id, COUNT(*) FROM routers WHERE zone_id = ? AND removed IS NULL AND host_id IS NOT NULL GROUP BY host_id", zoneID)
	if err != nil {
		return nil, fmt.Errorf("db: router load: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("db: router load: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// OrphanRouters answers the live, placed routers whose host is gone, Down or not Enabled.
func OrphanRouters(ctx context.Context, q Querier) ([]*Router, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+routerCols+routerFrom+` WHERE r.removed IS NULL AND r.host_id IS NOT NULL
		AND (h.id IS NULL OR h.removed IS NOT NULL OR h.status = ? OR h.resource_state <> ?) ORDER BY r.id`, HostStatusDown, HostResourceEnabled)
	if err != nil {
		return nil, fmt.Errorf("db: orphan routers: %w", err)
	}
	return scanAll(rows, "orphan routers", scanRouter)
}
