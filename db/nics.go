package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Nic is a VM's network interface on a guest network.
type Nic struct {
	ID, VMID, NetworkID string
	AccountID           string
	IPAddress, Netmask  string
	Gateway             string
	IP6Address          string
	IP6Gateway, IP6CIDR string
	MACAddress          string
	IsDefault           bool
	DeviceID            int
	BroadcastURI        string
	IsolationURI        string
	TrafficType         string // Guest
	Mode                string // Dhcp or Static
	State               string // Allocated, Reserved, Releasing
	Version             int64
	Created, Removed    int64
}

func nicIPKey(n *Nic) any {
	if n.IPAddress == "" || n.Removed != 0 {
		return nil
	}
	return n.NetworkID + "/" + n.IPAddress
}

func nicMACKey(n *Nic) any {
	if n.Removed != 0 {
		return nil
	}
	return n.NetworkID + "/" + strings.ToLower(n.MACAddress)
}

const nicCols = `id, vm_id, network_id, COALESCE(account_id,''), COALESCE(ip_address,''), COALESCE(netmask,''), COALESCE(gateway,''),
	COALESCE(ip6_address,''), COALESCE(ip6_gateway,''), COALESCE(ip6_cidr,''), mac_address, is_default, device_id,
	COALESCE(broadcast_uri,''), COALESCE(isolation_uri,''), traffic_type, mode, state, version, created, COALESCE(removed,0)`

func scanNic(s interface{ Scan(...any) error }) (*Nic, error) {
	var n Nic
	var def int
	if err := s.Scan(&n.ID, &n.VMID, &n.NetworkID, &n.AccountID, &n.IPAddress, &n.Netmask, &n.Gateway, &n.IP6Address, &n.IP6Gateway,
		&n.IP6CIDR, &n.MACAddress, &def, &n.DeviceID, &n.BroadcastURI, &n.IsolationURI, &n.TrafficType, &n.Mode, &n.State, &n.Version,
		&n.Created, &n.Removed); err != nil {
		return nil, err
	}
	n.IsDefault = def == 1
	return &n, nil
}

// NewMAC returns a random locally administered unicast MAC in CloudStack's guest range
// (02:00:xx:xx:xx:xx). Uniqueness within a network is enforced by the nics table.
func NewMAC() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// InsertNic creates a NIC. An address or MAC already used by a live NIC of the network gives
// an error IsDuplicate accepts.
func InsertNic(ctx context.Context, q Querier, n *Nic) error {
	if n.TrafficType == "" {
		n.TrafficType = "Guest"
	}
	if n.Mode == "" {
		n.Mode = "Dhcp"
	}
	if n.State == "" {
		n.State = "Allocated"
	}
	_, err := q.ExecContext(ctx, `INSERT INTO nics (id, vm_id, network_id, account_id, ip_address, netmask, gateway, ip6_address, ip6_gateway,
		ip6_cidr, mac_address, is_default, device_id, broadcast_uri, isolation_uri, traffic_type, mode, state, ip_key, mac_key, version, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		n.ID, n.VMID, n.NetworkID, nullable(n.AccountID), nullable(n.IPAddress), nullable(n.Netmask), nullable(n.Gateway),
		nullable(n.IP6Address), nullable(n.IP6Gateway), nullable(n.IP6CIDR), n.MACAddress, boolInt(n.IsDefault), n.DeviceID,
		nullable(n.BroadcastURI), nullable(n.IsolationURI), n.TrafficType, n.Mode, n.State, nicIPKey(n), nicMACKey(n), n.Created)
	if err != nil {
		return fmt.Errorf("db: insert nic: %w", err)
	}
	return nil
}

// GetNic returns a live NIC by id.
func GetNic(ctx context.Context, q Querier, id string) (*Nic, error) {
	n, err := scanNic(q.QueryRowContext(ctx, "SELECT "+nicCols+" FROM nics WHERE id = ? AND removed IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get nic: %w", err)
	}
	return n, nil
}

// NicFilter selects live NICs.
type NicFilter struct {
	ID        string
	VMID      string
	VMIDs     []string
	NetworkID string
	IPAddress string
}

// ListNics returns matching live NICs ordered by VM and device id.
func ListNics(ctx context.Context, q Querier, f NicFilter) ([]*Nic, error) {
	w := []string{"removed IS NULL"}
	var args []any
	for col, val := range map[string]string{"id": f.ID, "vm_id": f.VMID, "network_id": f.NetworkID, "ip_address": f.IPAddress} {
		if val != "" {
			w, args = append(w, col+" = ?"), append(args, val)
		}
	}
	if len(f.VMIDs) > 0 {
		c, a := inList("vm_id", f.VMIDs)
		w, args = append(w, c), append(args, a...)
	}
	from := " FROM nics"
	if len(f.VMIDs) > 1 {
		from += forceIndex("nics_vm")
	}
	rows, err := q.QueryContext(ctx, "SELECT "+nicCols+from+" WHERE "+strings.Join(w, " AND ")+" ORDER BY vm_id, device_id", args...)
	if err != nil {
		return nil, fmt.Errorf("db: list nics: %w", err)
	}
	return scanAll(rows, "list nics", scanNic)
}

// ListAllLiveNics returns every live NIC, for batch rendering of a whole VM list at once
// (cheaper than an IN list of tens of thousands of ids).
func ListAllLiveNics(ctx context.Context, q Querier) ([]*Nic, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+nicCols+" FROM nics WHERE removed IS NULL")
	if err != nil {
		return nil, fmt.Errorf("db: list nics: %w", err)
	}
	return scanAll(rows, "list nics", scanNic)
}

// UpdateNic writes a NIC's mutable fields if its version still matches; setting Removed
// frees its address and MAC.
func UpdateNic(ctx context.Context, q Querier, n *Nic) error {
	res, err := q.ExecContext(ctx, `UPDATE nics SET ip_address = ?, netmask = ?, gateway = ?, ip6_address = ?, mac_address = ?, is_default = ?,
		device_id = ?, broadcast_uri = ?, isolation_uri = ?, mode = ?, state = ?, ip_key = ?, mac_key = ?, removed = ?, version = version + 1
		WHERE id = ? AND version = ? AND removed IS NULL`,
		nullable(n.IPAddress), nullable(n.Netmask), nullable(n.Gateway), nullable(n.IP6Address), n.MACAddress, boolInt(n.IsDefault),
		n.DeviceID, nullable(n.BroadcastURI), nullable(n.IsolationURI), n.Mode, n.State, nicIPKey(n), nicMACKey(n), nullMillis(n.Removed),
		n.ID, n.Version)
	if err != nil {
		return fmt.Errorf("db: update nic: %w", err)
	}
	if err := expectOne(res); err != nil {
		return err
	}
	n.Version++
	return nil
}

// RemoveVMNics removes every live NIC of a VM (the VM expunged), freeing their addresses.
func RemoveVMNics(ctx context.Context, q Querier, vmID string, at int64) error {
	if _, err := q.ExecContext(ctx, "UPDATE nics SET removed = ?, ip_key = NULL, mac_key = NULL, version = version + 1 WHERE vm_id = ? AND removed IS NULL",
		at, vmID); err != nil {
		return fmt.Errorf("db: remove vm nics: %w", err)
	}
	return nil
}

// NicIPInUse reports whether a live NIC of the network holds the address.
func NicIPInUse(ctx context.Context, q Querier, networkID, ip string) (bool, error) {
	n, err := count(ctx, q, "nics", "ip_key = ?", []any{networkID + "/" + ip})
	return n > 0, err
}

// nicListCols are the columns a VM list renders of a NIC; ListNicsOfVMs and ListNicsToRender
// leave the other fields (AccountID, IPv6 gateway and CIDR, Mode, State, Version, Created,
// Removed) zero. As for VMs (vmListCols), the ids, addresses and numbers come packed in one
// space-separated column.
const nicListCols = `CONCAT_WS(' ', vm_id, network_id, COALESCE(ip_address,''), COALESCE(netmask,''), COALESCE(gateway,''),
	COALESCE(ip6_address,''), mac_address, is_default, device_id, traffic_type), id, COALESCE(broadcast_uri,''), COALESCE(isolation_uri,'')`

func scanNicListRow(s interface{ Scan(...any) error }) (*Nic, error) {
	var n Nic
	var packed string
	if err := s.Scan(&packed, &n.ID, &n.BroadcastURI, &n.IsolationURI); err != nil {
		return nil, err
	}
	var f [10]string
	if !splitPacked(packed, f[:]) {
		n.DeviceID = -1 // read again by repackNics
		return &n, nil
	}
	dev, err := strconv.Atoi(f[8])
	if err != nil {
		return nil, fmt.Errorf("nic %s: packed device id %q: %w", n.ID, f[8], err)
	}
	n.VMID, n.NetworkID, n.IPAddress, n.Netmask, n.Gateway, n.IP6Address, n.MACAddress = f[0], f[1], f[2], f[3], f[4], f[5], f[6]
	n.IsDefault, n.DeviceID, n.TrafficType = f[7] == "1", dev, f[9]
	return &n, nil
}

// repackNics reads again, column by column, the NICs whose packed column did not split.
func repackNics(ctx context.Context, q Querier, list []*Nic) error {
	for i, n := range list {
		if n.DeviceID != -1 {
			continue
		}
		full, err := scanNic(q.QueryRowContext(ctx, "SELECT "+nicCols+" FROM nics WHERE id = ?", n.ID))
		if err != nil {
			return fmt.Errorf("db: list nics: %w", err)
		}
		list[i] = &Nic{ID: full.ID, VMID: full.VMID, NetworkID: full.NetworkID, IPAddress: full.IPAddress, Netmask: full.Netmask,
			Gateway: full.Gateway, IP6Address: full.IP6Address, MACAddress: full.MACAddress, IsDefault: full.IsDefault, DeviceID: full.DeviceID,
			BroadcastURI: full.BroadcastURI, IsolationURI: full.IsolationURI, TrafficType: full.TrafficType}
	}
	return nil
}

// NicsByVM groups NICs by VM id, each VM's in device order (ties by id).
func NicsByVM(list []*Nic) map[string][]*Nic {
	out := make(map[string][]*Nic, len(list))
	for _, n := range list {
		out[n.VMID] = append(out[n.VMID], n)
	}
	for _, l := range out {
		if len(l) > 1 {
			sort.Slice(l, func(i, j int) bool {
				if l[i].DeviceID != l[j].DeviceID {
					return l[i].DeviceID < l[j].DeviceID
				}
				return l[i].ID < l[j].ID
			})
		}
	}
	return out
}

// ListNicsOfVMs returns, for rendering, the live NICs of the VMs a VMFilter matches (its page
// of them when f.Limit is set) in one query, in no particular order (NicsByVM orders them):
// cheaper than IN lists when a list returns tens of thousands of VMs, and it needs no VM list
// first. Only nicListCols are read.
func ListNicsOfVMs(ctx context.Context, q Querier, f VMFilter) ([]*Nic, error) {
	where, args := f.where()
	query := "SELECT " + nicListCols + " FROM nics WHERE removed IS NULL AND vm_id IN (SELECT v.id FROM vm_instances v WHERE " + where + ")"
	if where == (VMFilter{}).whereAll() && f.Limit == 0 {
		// Every live VM: every live NIC, without reading vm_instances a second time (a NIC of
		// a VM gone meanwhile is not rendered: callers take the NICs of the VMs they list).
		query = "SELECT " + nicListCols + " FROM nics WHERE removed IS NULL"
	} else if f.Limit > 0 {
		query = "SELECT " + nicListCols + " FROM nics n JOIN (SELECT v.id AS pid FROM vm_instances v WHERE " + where + " ORDER BY v.seq" +
			page(f.Limit, f.Offset) + ") p ON p.pid = n.vm_id WHERE n.removed IS NULL"
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("db: list nics of vms: %w", err)
	}
	list, err := scanAll(rows, "list nics of vms", scanNicListRow)
	if err != nil {
		return nil, err
	}
	return list, repackNics(ctx, q, list)
}

// whereAll is the condition of a filter that keeps every live VM.
func (f VMFilter) whereAll() string {
	w, _ := f.where()
	return w
}

// ListNicsToRender returns, for rendering, the live NICs of the VMs named (at most a few
// thousand ids), in no particular order (NicsByVM orders them). Only nicListCols are read.
func ListNicsToRender(ctx context.Context, q Querier, vmIDs []string) ([]*Nic, error) {
	var out []*Nic
	for start := 0; start < len(vmIDs); start += 1000 {
		c, a := inList("vm_id", vmIDs[start:min(start+1000, len(vmIDs))])
		rows, err := q.QueryContext(ctx, "SELECT "+nicListCols+" FROM nics"+forceIndex("nics_vm")+" WHERE removed IS NULL AND "+c, a...)
		if err != nil {
			return nil, fmt.Errorf("db: list nics: %w", err)
		}
		list, err := scanAll(rows, "list nics", scanNicListRow)
		if err != nil {
			return nil, err
		}
		if err := repackNics(ctx, q, list); err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	return out, nil
}

// AnyRows reports whether a table has any row matching cond (a cheap existence probe that
// lets a list skip loading what nothing has: tags, affinity groups).
func AnyRows(ctx context.Context, q Querier, table, cond string, args ...any) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM "+table+" WHERE "+cond+" LIMIT 1", args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("db: probe %s: %w", table, err)
	}
	return true, nil
}
