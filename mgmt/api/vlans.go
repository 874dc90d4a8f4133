package api

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/google/uuid"
)

// maxRangeAddresses bounds one IP range (each address is a row).
const maxRangeAddresses = 65536

func registerVlanIPRanges(s *Server) {
	s.Reg.Add(&Command{Name: "createVlanIpRange", Response: vlanIPRangeResponse, Roles: Admin, ResponseKey: "vlan",
		Description: "Creates a VLAN IP range.",
		Params: []Param{
			{Name: "zoneid", Type: TUUID, Description: "the Zone ID of the VLAN IP range"},
			{Name: "podid", Type: TUUID, Description: "optional parameter. Have to be specified for Direct Untagged vlan only."},
			{Name: "physicalnetworkid", Type: TUUID, Description: "the physical network id"},
			{Name: "networkid", Type: TUUID, Description: "the network id"},
			{Name: "projectid", Type: TUUID, Description: "project who will own the VLAN. If VLAN is Zone wide, this parameter should be omitted"},
			{Name: "account", Type: TString, Description: "account who will own the VLAN. If VLAN is Zone wide, this parameter should be omitted"},
			{Name: "domainid", Type: TUUID, Description: "domain ID of the account owning a VLAN"},
			{Name: "vlan", Type: TString, Description: "the ID or VID of the VLAN. If not specified, will be defaulted to the vlan of the network or if vlan of the network is null - to Untagged"},
			{Name: "gateway", Type: TString, Description: "the gateway of the VLAN IP range"},
			{Name: "netmask", Type: TString, Description: "the netmask of the VLAN IP range"},
			{Name: "startip", Type: TString, Description: "the beginning IP address in the VLAN IP range"},
			{Name: "endip", Type: TString, Description: "the ending IP address in the VLAN IP range"},
			{Name: "forvirtualnetwork", Type: TBool, Description: "true if VLAN is of Virtual type, false if Direct (default true)"},
			{Name: "forsystemvms", Type: TBool, Description: "true if IP range is set to system vms, false if not"},
			{Name: "ip6gateway", Type: TString, Description: "the gateway of the IPv6 network. Required for Shared networks and Isolated networks when it belongs to VPC"},
			{Name: "ip6cidr", Type: TString, Description: "the CIDR of IPv6 network, must be at least /64"},
			{Name: "startipv6", Type: TString, Description: "the beginning IPv6 address in the IPv6 network range"},
			{Name: "endipv6", Type: TString, Description: "the ending IPv6 address in the IPv6 network range"},
			{Name: "provider", Type: TString, Description: "Provider name for which the IP range is reserved for"},
		},
		Handler: createVlanIPRange})
	s.Reg.Add(&Command{Name: "deleteVlanIpRange", Response: successResponse, Roles: Admin,
		Description: "Deletes a VLAN IP range.",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the id of the VLAN IP range"}},
		Handler:     deleteVlanIPRange})
	s.Reg.Add(&Command{Name: "listVlanIpRanges", Response: vlanIPRangeResponse, Roles: Admin, List: true, ResponseKey: "vlaniprange",
		Description: "Lists all VLAN IP ranges.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "the ID of the VLAN IP range"},
			{Name: "zoneid", Type: TUUID, Description: "the Zone ID of the VLAN IP range"},
			{Name: "podid", Type: TUUID, Description: "the Pod ID of the VLAN IP range"},
			{Name: "vlan", Type: TString, Description: "the ID or VID of the VLAN. Default is an \"untagged\" VLAN."},
			{Name: "physicalnetworkid", Type: TUUID, Description: "physical network id of the VLAN IP range"},
			{Name: "networkid", Type: TUUID, Description: "network id of the VLAN IP range"},
			{Name: "account", Type: TString, Description: "the account with which the VLAN IP range is associated. Must be used with the domainId parameter."},
			{Name: "domainid", Type: TUUID, Description: "the domain ID with which the VLAN IP range is associated.  If used with the account parameter, returns all VLAN IP ranges for that account in the specified domain."},
			{Name: "projectid", Type: TUUID, Description: "project who will own the VLAN"},
			{Name: "forvirtualnetwork", Type: TBool, Description: "true if VLAN is of Virtual type, false if Direct"},
		},
		Handler: listVlanIPRanges})
}

// VLAN tags of IP ranges are stored as URIs, as CloudStack renders them: vlan://100,
// vxlan://5000, vlan://untagged.
const untaggedTag = "vlan://untagged"

// normalizeVlanTag turns a vlan parameter ("", "untagged", "100", "vlan://100", "vxlan://5000")
// into the stored form on a physical network isolated by iso (VLAN or VXLAN), and returns the
// numeric id (0 when untagged).
func normalizeVlanTag(v, iso string) (string, int64, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" || v == "untagged" || v == untaggedTag {
		return untaggedTag, 0, nil
	}
	scheme := strings.ToLower(iso)
	if i := strings.Index(v, "://"); i >= 0 {
		if v[:i] != scheme {
			return "", 0, ErrParam("Invalid vlan %q: the physical network is isolated by %s, so give the id alone or as %s://<id>", v, iso, scheme)
		}
		v = v[i+3:]
	}
	lo, hi := vnetBounds(iso)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < lo || id > hi {
		return "", 0, ErrParam("Invalid vlan %q: a %s id is a number between %d and %d, or untagged", v, iso, lo, hi)
	}
	return scheme + "://" + strconv.FormatInt(id, 10), id, nil
}

func (c *Call) renderVlanRange(v *db.VlanRange) map[string]any {
	m := map[string]any{"id": v.ID, "zoneid": v.ZoneID, "vlan": v.VlanTag, "forvirtualnetwork": v.ForVirtualNetwork,
		"forsystemvms": v.ForSystemVMs}
	set(m, "gateway", v.Gateway)
	set(m, "netmask", v.Netmask)
	if n, err := network.ParseSubnet(v.Gateway, v.Netmask); err == nil {
		m["cidr"] = n.CIDR()
	}
	set(m, "startip", v.StartIP)
	set(m, "endip", v.EndIP)
	set(m, "ip6gateway", v.IP6Gateway)
	set(m, "ip6cidr", v.IP6CIDR)
	set(m, "startipv6", v.StartIPv6)
	set(m, "endipv6", v.EndIPv6)
	set(m, "physicalnetworkid", v.PhysicalNetworkID)
	set(m, "networkid", v.NetworkID)
	if v.PodID != "" {
		m["podid"], m["podname"] = v.PodID, v.PodName
	}
	set(m, "account", v.AccountName)
	if v.DomainID != "" {
		m["domainid"], m["domain"], m["domainpath"] = v.DomainID, v.DomainName, v.DomainPath
	}
	return m
}

// ipRangeOwner resolves account/domainid of a dedicated range (account ids and domain ids, or
// "" for a zone-wide range).
func (c *Call) ipRangeOwner() (accountID, domainID string, err error) {
	name := strings.TrimSpace(c.P.String("account"))
	domID := c.lowerID("domainid")
	if name == "" && domID == "" {
		return "", "", nil
	}
	dom, err := c.DomainForScope(domID)
	if err != nil {
		return "", "", err
	}
	if name == "" {
		return "", dom.ID, nil
	}
	a, err := db.GetAccountByName(c.Ctx, c.S.DB.Read(), dom.ID, name)
	if errors.Is(err, db.ErrNotFound) {
		return "", "", ErrParam("Unable to find account %s in domain %s", name, dom.Path)
	}
	if err != nil {
		return "", "", err
	}
	return a.ID, dom.ID, nil
}

// checkIPv6Range validates the IPv6 part of a range.
func (c *Call) checkIPv6Range(v *db.VlanRange) error {
	v.IP6Gateway, v.IP6CIDR = strings.TrimSpace(c.P.String("ip6gateway")), strings.TrimSpace(c.P.String("ip6cidr"))
	v.StartIPv6, v.EndIPv6 = strings.TrimSpace(c.P.String("startipv6")), strings.TrimSpace(c.P.String("endipv6"))
	if v.IP6Gateway == "" && v.IP6CIDR == "" && v.StartIPv6 == "" && v.EndIPv6 == "" {
		return nil
	}
	p, err := netip.ParsePrefix(v.IP6CIDR)
	if err != nil || !p.Addr().Is6() || p.Bits() > 64 {
		return ErrParam("Invalid ip6cidr %q: an IPv6 CIDR of at least /64 is required with IPv6 range parameters", v.IP6CIDR)
	}
	v.IP6CIDR = p.Masked().String()
	var addrs []netip.Addr
	for _, f := range []struct{ param, val string }{{"ip6gateway", v.IP6Gateway}, {"startipv6", v.StartIPv6}, {"endipv6", v.EndIPv6}} {
		if f.val == "" && f.param == "endipv6" {
			v.EndIPv6 = v.StartIPv6
			f.val = v.StartIPv6
		}
		a, err := netip.ParseAddr(f.val)
		if err != nil || !a.Is6() || !p.Contains(a) {
			return ErrParam("Invalid %s %q: an IPv6 address inside %s is required", f.param, f.val, v.IP6CIDR)
		}
		addrs = append(addrs, a)
	}
	if addrs[1].Compare(addrs[2]) > 0 {
		return ErrParam("The IPv6 start address (startipv6) must not be above the end address (endipv6)")
	}
	return nil
}

func createVlanIPRange(c *Call) (any, error) {
	v := &db.VlanRange{ID: uuid.NewString(), ZoneID: c.lowerID("zoneid"), PodID: c.lowerID("podid"),
		PhysicalNetworkID: c.lowerID("physicalnetworkid"), Created: db.Now()}
	v.ForVirtualNetwork = true
	if b, ok := c.P.Bool("forvirtualnetwork"); ok {
		v.ForVirtualNetwork = b
	}
	v.ForSystemVMs, _ = c.P.Bool("forsystemvms")
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	if id := c.lowerID("networkid"); id != "" {
		return nil, ErrParam("Unable to find network by id %s", id)
	}
	if err := c.checkIPv6Range(v); err != nil {
		return nil, err
	}
	if v.IP6CIDR != "" {
		return nil, ErrParam("An IPv6 range belongs to a shared network: pass networkid (IPv6 public ranges are not supported)")
	}
	var r network.IPRange
	{
		start := strings.TrimSpace(c.P.String("startip"))
		if start == "" {
			return nil, ErrParam("Please specify the IPv4 range: startip (with gateway and netmask) is required")
		}
		end := strings.TrimSpace(c.P.String("endip"))
		if end == "" {
			end = start
		}
		n, err := network.ParseSubnet(c.P.String("gateway"), c.P.String("netmask"))
		if err != nil {
			return nil, err
		}
		if r, err = n.CheckRange(start, end, "startip", "endip"); err != nil {
			return nil, err
		}
		if r.Size() > maxRangeAddresses {
			return nil, ErrParam("The IP range %s-%s (startip-endip) holds %d addresses; a range may hold at most %d", start, end, r.Size(), maxRangeAddresses)
		}
		v.Gateway, v.Netmask, v.StartIP, v.EndIP = n.GW.String(), n.Mask(), r.Lo.String(), r.Hi.String()
	}
	var err error
	if v.AccountID, v.DomainID, err = c.ipRangeOwner(); err != nil {
		return nil, err
	}
	if v.DomainID != "" && !v.ForVirtualNetwork {
		return nil, ErrParam("account and domainid dedicate a public IP range: they need forvirtualnetwork=true")
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		z, pn, err := c.ipRangePlace(tx, v)
		if err != nil {
			return err
		}
		if err := c.checkIPRangeFits(tx, z, pn, v, r); err != nil {
			return err
		}
		if err := db.InsertVlanRange(c.Ctx, tx, v); err != nil {
			return err
		}
		addrs := r.Addrs()
		if err := db.InsertPublicIPs(c.Ctx, tx, z.ID, v.ID, addrs); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("The IP range %s-%s overlaps with addresses the zone %s already has", v.StartIP, v.EndIP, z.Name)
			}
			return err
		}
		if err := c.syncIPCapacity(tx, z.ID, v.ForVirtualNetwork); err != nil {
			return err
		}
		return c.Event(tx, "VLAN.IP.RANGE.CREATE", fmt.Sprintf("Creating IP range %s-%s (%s) in zone %s", v.StartIP, v.EndIP, v.VlanTag, z.Name),
			"VlanIpRange", v.ID)
	})
	if err != nil {
		return nil, err
	}
	got, err := db.GetVlanRange(c.Ctx, c.S.DB.Read(), v.ID)
	if err != nil {
		return nil, err
	}
	return Object{Key: "vlan", Value: c.renderVlanRange(got)}, nil
}

// ipRangePlace resolves and locks the zone of a new range (from zoneid, podid or
// physicalnetworkid), applies the zone type's rules, and picks the physical network (by
// default the one carrying Public traffic, or Guest traffic for a direct range). It sets the
// range's zone, physical network and VLAN tag.
func (c *Call) ipRangePlace(tx db.Tx, v *db.VlanRange) (*db.Zone, *db.PhysicalNetwork, error) {
	var pod *db.Pod
	var pn *db.PhysicalNetwork
	var err error
	if v.PodID != "" {
		if pod, err = c.podByID(tx, v.PodID); err != nil {
			return nil, nil, err
		}
		if v.ZoneID != "" && v.ZoneID != pod.ZoneID {
			return nil, nil, ErrParam("Pod %s (podid) does not belong to zone %s (zoneid)", pod.Name, v.ZoneID)
		}
		v.ZoneID = pod.ZoneID
	}
	if v.PhysicalNetworkID != "" {
		if pn, err = c.physicalNetworkByID(tx, v.PhysicalNetworkID); err != nil {
			return nil, nil, err
		}
		if v.ZoneID != "" && v.ZoneID != pn.ZoneID {
			return nil, nil, ErrParam("Physical network %s (physicalnetworkid) does not belong to zone %s (zoneid)", pn.Name, v.ZoneID)
		}
		v.ZoneID = pn.ZoneID
	}
	if v.ZoneID == "" {
		return nil, nil, ErrParam("Please specify a valid zone: pass zoneid (or podid or physicalnetworkid)")
	}
	z, err := c.zoneForChange(tx, v.ZoneID)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case z.NetworkType == zoneBasic && v.ForVirtualNetwork:
		return nil, nil, ErrParam("Basic zone %s takes guest IP ranges only: pass forvirtualnetwork=false with podid", z.Name)
	case z.NetworkType == zoneBasic && pod == nil:
		return nil, nil, ErrParam("podid is required for an IP range of Basic zone %s", z.Name)
	case z.NetworkType == zoneAdvanced && !v.ForVirtualNetwork:
		return nil, nil, ErrParam("Network id is required for Direct vlan creation: a direct (forvirtualnetwork=false) range of Advanced zone %s belongs to a shared network (networkid)", z.Name)
	case z.NetworkType == zoneAdvanced && z.SecurityGroupsEnabled:
		return nil, nil, ErrParam("Can't add virtual ip range into a zone with security group enabled (zone %s)", z.Name)
	case z.NetworkType == zoneAdvanced && pod != nil:
		return nil, nil, ErrParam("podid can only be given for a guest IP range of a Basic zone")
	}
	if pn == nil {
		traffic := trafficPublic
		if !v.ForVirtualNetwork {
			traffic = trafficGuest
		}
		list, _, err := db.ListPhysicalNetworks(c.Ctx, tx, db.PhysicalNetworkFilter{ZoneID: z.ID, TrafficType: traffic})
		if err != nil {
			return nil, nil, err
		}
		if len(list) == 0 {
			return nil, nil, ErrParam("Unable to find the physical network with traffic=%s in zone %s: add the %s traffic type to a physical network first (or pass physicalnetworkid)", traffic, z.Name, traffic)
		}
		pn = list[0]
	}
	v.PhysicalNetworkID = pn.ID
	if v.VlanTag, _, err = normalizeVlanTag(c.P.String("vlan"), isolationOf(pn)); err != nil {
		return nil, nil, err
	}
	return z, pn, nil
}

// checkIPRangeFits refuses a range whose VLAN is one the zone allocates to guest networks, or
// whose addresses or subnet clash with the zone's other ranges or its pods' ranges.
func (c *Call) checkIPRangeFits(tx db.Tx, z *db.Zone, pn *db.PhysicalNetwork, v *db.VlanRange, r network.IPRange) error {
	if _, id, _ := normalizeVlanTag(v.VlanTag, isolationOf(pn)); id > 0 {
		pns, _, err := db.ListPhysicalNetworks(c.Ctx, tx, db.PhysicalNetworkFilter{ZoneID: z.ID})
		if err != nil {
			return err
		}
		for _, o := range pns {
			rs, err := parseVnetRanges("vlan", o.Vlan, isolationOf(o))
			if err == nil && isolationOf(o) == isolationOf(pn) && vnetContains(rs, id) {
				return ErrParam("The VLAN tag %s is already being used for dynamic vlan allocation for the guest network in zone %s (physical network %s, range %s)",
					v.VlanTag, z.Name, o.Name, o.Vlan)
			}
		}
	}
	n, _ := network.ParseSubnet(v.Gateway, v.Netmask)
	ranges, _, err := db.ListVlanRanges(c.Ctx, tx, db.VlanRangeFilter{ZoneID: z.ID})
	if err != nil {
		return err
	}
	for _, o := range ranges {
		on, err := network.ParseSubnet(o.Gateway, o.Netmask)
		if err != nil || !on.Overlaps(n) {
			continue
		}
		if or, ok := network.ParseIPRange(o.StartIP, o.EndIP); ok && or.Overlaps(r) {
			return ErrParam("The IP range %s-%s overlaps with the IP range %s-%s (%s) of zone %s. Please specify a different start IP/end IP.",
				v.StartIP, v.EndIP, o.StartIP, o.EndIP, o.VlanTag, z.Name)
		}
		if !strings.EqualFold(o.VlanTag, v.VlanTag) {
			return ErrParam("The IP range with tag: %s in zone %s has overlapped with the subnet %s. Please specify a different gateway/netmask.",
				o.VlanTag, z.Name, on.CIDR())
		}
		if o.Gateway != v.Gateway || o.Netmask != v.Netmask {
			return ErrParam("The IP range with tag: %s in zone %s has already been added with gateway %s, netmask %s. Please specify the same gateway/netmask to extend the range.",
				o.VlanTag, z.Name, o.Gateway, o.Netmask)
		}
	}
	pods, _, err := db.ListPods(c.Ctx, tx, db.PodFilter{ZoneID: z.ID})
	if err != nil {
		return err
	}
	for _, p := range pods {
		if pr, ok := network.ParseIPRange(p.StartIP, p.EndIP); ok && pr.Overlaps(r) {
			return ErrParam("The IP range %s-%s overlaps with the management IP range %s-%s of pod %s", v.StartIP, v.EndIP, p.StartIP, p.EndIP, p.Name)
		}
	}
	return nil
}

// syncIPCapacity sets the zone's public (or direct) IP capacity total to the addresses of its
// ranges. The caller holds the zone lock, so the count is exact.
func (c *Call) syncIPCapacity(tx db.Tx, zoneID string, forVirtual bool) error {
	n, err := db.CountZonePublicIPs(c.Ctx, tx, zoneID, forVirtual)
	if err != nil {
		return err
	}
	typ := db.CapPublicIP
	if !forVirtual {
		typ = db.CapDirectPublicIP
	}
	return db.SetCapacityTotal(c.Ctx, tx, db.Capacity{Type: typ, ObjectID: zoneID, ZoneID: zoneID, Total: n})
}

// removeVlanRange deletes a range whose addresses are all free, with its addresses, and shrinks
// the zone's capacity. The caller holds the zone lock.
func (c *Call) removeVlanRange(tx db.Tx, v *db.VlanRange) error {
	n, err := db.CountPublicIPsInUse(c.Ctx, tx, v.ID)
	if err != nil {
		return err
	}
	if n > 0 {
		return ErrInUse("Unable to delete the IP range %s-%s (%s): %d of its IP addresses are in use; release them first", v.StartIP, v.EndIP, v.VlanTag, n)
	}
	if err := db.RemoveVlanRange(c.Ctx, tx, v.ID); err != nil {
		return err
	}
	if err := c.syncIPCapacity(tx, v.ZoneID, v.ForVirtualNetwork); err != nil {
		return err
	}
	return c.Event(tx, "VLAN.IP.RANGE.DELETE", fmt.Sprintf("Deleting IP range %s-%s (%s)", v.StartIP, v.EndIP, v.VlanTag), "VlanIpRange", v.ID)
}

func deleteVlanIPRange(c *Call) (any, error) {
	id := c.lowerID("id")
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := db.GetVlanRange(c.Ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return ErrParam("Unable to find IP range by id %s", id)
		}
		if err != nil {
			return err
		}
		if _, err := c.zoneForChange(tx, v.ZoneID); err != nil {
			return err
		}
		return c.removeVlanRange(tx, v)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}

func listVlanIPRanges(c *Call) (any, error) {
	f := db.VlanRangeFilter{ID: c.lowerID("id"), ZoneID: c.lowerID("zoneid"), PodID: c.lowerID("podid"),
		PhysicalNetworkID: c.lowerID("physicalnetworkid"), NetworkID: c.lowerID("networkid"), Keyword: c.P.String("keyword")}
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	if b, ok := c.P.Bool("forvirtualnetwork"); ok {
		f.ForVirtualNetwork = &b
	}
	if v := strings.ToLower(strings.TrimSpace(c.P.String("vlan"))); v != "" {
		id := v
		if i := strings.Index(v, "://"); i >= 0 {
			id = v[i+len("://"):]
		}
		f.VlanTags = []string{v, "vlan://" + id, "vxlan://" + id}
	}
	if c.P.String("account") != "" || c.P.String("domainid") != "" {
		accountID, domainID, err := c.ipRangeOwner()
		if err != nil {
			return nil, err
		}
		f.AccountID, f.DomainID = accountID, domainID
	}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListVlanRanges(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, v := range list {
		items = append(items, c.renderVlanRange(v))
	}
	return ListResult{Key: "vlaniprange", Items: items, Count: total}, nil
}
