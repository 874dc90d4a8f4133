package api

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/google/uuid"
)

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
		if r.Size() > network.MaxRangeAddresses {
			return nil, ErrParam("The IP range %s-%s (startip-endip) holds %d addresses; a range may hold at most %d", start, end, r.Size(), network.MaxRangeAddresses)
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
	got, err := network.CreateRange(c.Ctx, c.deps(), c.actor(), network.RangeSpec{Range: v, Addrs: r, Vlan: c.P.String("vlan")})
	if err != nil {
		return nil, err
	}
	return Object{Key: "vlan", Value: c.renderVlanRange(got)}, nil
}

func deleteVlanIPRange(c *Call) (any, error) {
	if err := network.DeleteRange(c.Ctx, c.deps(), c.actor(), c.lowerID("id")); err != nil {
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
