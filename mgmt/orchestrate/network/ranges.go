package network

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Traffic types a physical network can carry.
const (
	TrafficGuest      = "Guest"
	TrafficPublic     = "Public"
	TrafficManagement = "Management"
	TrafficStorage    = "Storage"
)

// MaxRangeAddresses bounds one IP range (each address is a row).
const MaxRangeAddresses = 65536

// zoneAdvanced is an Advanced zone's network type.
const zoneAdvanced = "Advanced"

// VLAN tags of IP ranges are stored as URIs, as CloudStack renders them: vlan://100,
// vxlan://5000, vlan://untagged.
const UntaggedTag = "vlan://untagged"

// NormalizeVlanTag turns a vlan parameter ("", "untagged", "100", "vlan://100", "vxlan://5000")
// into the stored form on a physical network isolated by iso (VLAN or VXLAN), and returns the
// numeric id (0 when untagged).
func NormalizeVlanTag(v, iso string) (string, int64, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" || v == "untagged" || v == UntaggedTag {
		return UntaggedTag, 0, nil
	}
	scheme := strings.ToLower(iso)
	if i := strings.Index(v, "://"); i >= 0 {
		if v[:i] != scheme {
			return "", 0, orchestrate.ErrParam("Invalid vlan %q: the physical network is isolated by %s, so give the id alone or as %s://<id>", v, iso, scheme)
		}
		v = v[i+3:]
	}
	lo, hi := VnetBounds(iso)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < lo || id > hi {
		return "", 0, orchestrate.ErrParam("Invalid vlan %q: a %s id is a number between %d and %d, or untagged", v, iso, lo, hi)
	}
	return scheme + "://" + strconv.FormatInt(id, 10), id, nil
}

// RangeSpec is a new IP range of createVlanIpRange, its parameters parsed: the range row
// (zone, pod and physical network as given, gateway, netmask, addresses, owner, kind) and its
// addresses, with the vlan parameter as sent.
type RangeSpec struct {
	Range *db.VlanRange
	Addrs IPRange
	Vlan  string
}

// CreateRange adds a public (or a Basic zone's guest) IP range with its address rows, the
// zone's IP capacity and the VLAN.IP.RANGE.CREATE event, and returns it.
func CreateRange(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec RangeSpec) (*db.VlanRange, error) {
	v, r := spec.Range, spec.Addrs
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		z, pn, err := rangePlace(ctx, tx, v, spec.Vlan)
		if err != nil {
			return err
		}
		if err := CheckRangeFits(ctx, tx, z, pn, v, r); err != nil {
			return err
		}
		if err := db.InsertVlanRange(ctx, tx, v); err != nil {
			return err
		}
		if err := db.InsertPublicIPs(ctx, tx, z.ID, v.ID, r.Addrs()); err != nil {
			if db.IsDuplicate(err) {
				return orchestrate.ErrParam("The IP range %s-%s overlaps with addresses the zone %s already has", v.StartIP, v.EndIP, z.Name)
			}
			return err
		}
		if err := SyncIPCapacity(ctx, tx, z.ID, v.ForVirtualNetwork); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "VLAN.IP.RANGE.CREATE", fmt.Sprintf("Creating IP range %s-%s (%s) in zone %s", v.StartIP, v.EndIP, v.VlanTag, z.Name),
			"VlanIpRange", v.ID)
	})
	if err != nil {
		return nil, err
	}
	return db.GetVlanRange(ctx, d.DB.Read(), v.ID)
}

// rangePlace resolves and locks the zone of a new range (from zoneid, podid or
// physicalnetworkid), applies the zone type's rules, and picks the physical network (by
// default the one carrying Public traffic, or Guest traffic for a direct range). It sets the
// range's zone, physical network and VLAN tag.
func rangePlace(ctx context.Context, tx db.Tx, v *db.VlanRange, vlan string) (*db.Zone, *db.PhysicalNetwork, error) {
	var pod *db.Pod
	var pn *db.PhysicalNetwork
	var err error
	if v.PodID != "" {
		pod, err = db.GetPod(ctx, tx, v.PodID)
		if errors.Is(err, db.ErrNotFound) {
			return nil, nil, orchestrate.ErrParam("Unable to find pod by id %s", v.PodID)
		}
		if err != nil {
			return nil, nil, err
		}
		if v.ZoneID != "" && v.ZoneID != pod.ZoneID {
			return nil, nil, orchestrate.ErrParam("Pod %s (podid) does not belong to zone %s (zoneid)", pod.Name, v.ZoneID)
		}
		v.ZoneID = pod.ZoneID
	}
	if v.PhysicalNetworkID != "" {
		if pn, err = physicalNetworkByID(ctx, tx, v.PhysicalNetworkID); err != nil {
			return nil, nil, err
		}
		if v.ZoneID != "" && v.ZoneID != pn.ZoneID {
			return nil, nil, orchestrate.ErrParam("Physical network %s (physicalnetworkid) does not belong to zone %s (zoneid)", pn.Name, v.ZoneID)
		}
		v.ZoneID = pn.ZoneID
	}
	if v.ZoneID == "" {
		return nil, nil, orchestrate.ErrParam("Please specify a valid zone: pass zoneid (or podid or physicalnetworkid)")
	}
	z, err := ZoneForChange(ctx, tx, v.ZoneID)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case z.NetworkType == zoneBasic && v.ForVirtualNetwork:
		return nil, nil, orchestrate.ErrParam("Basic zone %s takes guest IP ranges only: pass forvirtualnetwork=false with podid", z.Name)
	case z.NetworkType == zoneBasic && pod == nil:
		return nil, nil, orchestrate.ErrParam("podid is required for an IP range of Basic zone %s", z.Name)
	case z.NetworkType == zoneAdvanced && !v.ForVirtualNetwork:
		return nil, nil, orchestrate.ErrParam("Network id is required for Direct vlan creation: a direct (forvirtualnetwork=false) range of Advanced zone %s belongs to a shared network (networkid)", z.Name)
	case z.NetworkType == zoneAdvanced && z.SecurityGroupsEnabled:
		return nil, nil, orchestrate.ErrParam("Can't add virtual ip range into a zone with security group enabled (zone %s)", z.Name)
	case z.NetworkType == zoneAdvanced && pod != nil:
		return nil, nil, orchestrate.ErrParam("podid can only be given for a guest IP range of a Basic zone")
	}
	if pn == nil {
		traffic := TrafficPublic
		if !v.ForVirtualNetwork {
			traffic = TrafficGuest
		}
		list, _, err := db.ListPhysicalNetworks(ctx, tx, db.PhysicalNetworkFilter{ZoneID: z.ID, TrafficType: traffic})
		if err != nil {
			return nil, nil, err
		}
		if len(list) == 0 {
			return nil, nil, orchestrate.ErrParam("Unable to find the physical network with traffic=%s in zone %s: add the %s traffic type to a physical network first (or pass physicalnetworkid)", traffic, z.Name, traffic)
		}
		pn = list[0]
	}
	v.PhysicalNetworkID = pn.ID
	if v.VlanTag, _, err = NormalizeVlanTag(vlan, IsolationOf(pn)); err != nil {
		return nil, nil, err
	}
	return z, pn, nil
}

// CheckRangeFits refuses a range whose VLAN is one the zone allocates to guest networks, or
// whose addresses or subnet clash with the zone's other ranges or its pods' ranges.
func CheckRangeFits(ctx context.Context, tx db.Tx, z *db.Zone, pn *db.PhysicalNetwork, v *db.VlanRange, r IPRange) error {
	if _, id, _ := NormalizeVlanTag(v.VlanTag, IsolationOf(pn)); id > 0 {
		pns, _, err := db.ListPhysicalNetworks(ctx, tx, db.PhysicalNetworkFilter{ZoneID: z.ID})
		if err != nil {
			return err
		}
		for _, o := range pns {
			rs, err := ParseVnetRanges("vlan", o.Vlan, IsolationOf(o))
			if err == nil && IsolationOf(o) == IsolationOf(pn) && VnetContains(rs, id) {
				return orchestrate.ErrParam("The VLAN tag %s is already being used for dynamic vlan allocation for the guest network in zone %s (physical network %s, range %s)",
					v.VlanTag, z.Name, o.Name, o.Vlan)
			}
		}
	}
	n, _ := ParseSubnet(v.Gateway, v.Netmask)
	ranges, _, err := db.ListVlanRanges(ctx, tx, db.VlanRangeFilter{ZoneID: z.ID})
	if err != nil {
		return err
	}
	for _, o := range ranges {
		on, err := ParseSubnet(o.Gateway, o.Netmask)
		if err != nil || !on.Overlaps(n) {
			continue
		}
		if or, ok := ParseIPRange(o.StartIP, o.EndIP); ok && or.Overlaps(r) {
			return orchestrate.ErrParam("The IP range %s-%s overlaps with the IP range %s-%s (%s) of zone %s. Please specify a different start IP/end IP.",
				v.StartIP, v.EndIP, o.StartIP, o.EndIP, o.VlanTag, z.Name)
		}
		if !strings.EqualFold(o.VlanTag, v.VlanTag) {
			return orchestrate.ErrParam("The IP range with tag: %s in zone %s has overlapped with the subnet %s. Please specify a different gateway/netmask.",
				o.VlanTag, z.Name, on.CIDR())
		}
		if o.Gateway != v.Gateway || o.Netmask != v.Netmask {
			return orchestrate.ErrParam("The IP range with tag: %s in zone %s has already been added with gateway %s, netmask %s. Please specify the same gateway/netmask to extend the range.",
				o.VlanTag, z.Name, o.Gateway, o.Netmask)
		}
	}
	pods, _, err := db.ListPods(ctx, tx, db.PodFilter{ZoneID: z.ID})
	if err != nil {
		return err
	}
	for _, p := range pods {
		if pr, ok := ParseIPRange(p.StartIP, p.EndIP); ok && pr.Overlaps(r) {
			return orchestrate.ErrParam("The IP range %s-%s overlaps with the management IP range %s-%s of pod %s", v.StartIP, v.EndIP, p.StartIP, p.EndIP, p.Name)
		}
	}
	return nil
}

// SyncIPCapacity sets the zone's public (or direct) IP capacity total to the addresses of its
// ranges. The caller holds the zone lock, so the count is exact.
func SyncIPCapacity(ctx context.Context, tx db.Tx, zoneID string, forVirtual bool) error {
	n, err := db.CountZonePublicIPs(ctx, tx, zoneID, forVirtual)
	if err != nil {
		return err
	}
	typ := db.CapPublicIP
	if !forVirtual {
		typ = db.CapDirectPublicIP
	}
	return db.SetCapacityTotal(ctx, tx, db.Capacity{Type: typ, ObjectID: zoneID, ZoneID: zoneID, Total: n})
}

// RemoveRange deletes a range whose addresses are all free, with its addresses, and shrinks
// the zone's capacity. The caller holds the zone lock.
func RemoveRange(ctx context.Context, a orchestrate.Actor, tx db.Tx, v *db.VlanRange) error {
	n, err := db.CountPublicIPsInUse(ctx, tx, v.ID)
	if err != nil {
		return err
	}
	if n > 0 {
		return orchestrate.ErrInUse("Unable to delete the IP range %s-%s (%s): %d of its IP addresses are in use; release them first", v.StartIP, v.EndIP, v.VlanTag, n)
	}
	if err := db.RemoveVlanRange(ctx, tx, v.ID); err != nil {
		return err
	}
	if err := SyncIPCapacity(ctx, tx, v.ZoneID, v.ForVirtualNetwork); err != nil {
		return err
	}
	return orchestrate.Event(ctx, tx, a, "VLAN.IP.RANGE.DELETE", fmt.Sprintf("Deleting IP range %s-%s (%s)", v.StartIP, v.EndIP, v.VlanTag), "VlanIpRange", v.ID)
}

// DeleteRange deletes an IP range (deleteVlanIpRange) none of whose addresses is in use.
func DeleteRange(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := db.GetVlanRange(ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return orchestrate.ErrParam("Unable to find IP range by id %s", id)
		}
		if err != nil {
			return err
		}
		if _, err := ZoneForChange(ctx, tx, v.ZoneID); err != nil {
			return err
		}
		return RemoveRange(ctx, a, tx, v)
	})
}
