package api

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/google/uuid"
)

// Allocation states of zones and pods (CloudStack's Grouping.AllocationState).
const (
	allocEnabled  = "Enabled"
	allocDisabled = "Disabled"
)

// Zone network types.
const (
	zoneBasic    = "Basic"
	zoneAdvanced = "Advanced"
)

// defaultGuestCIDR is CloudStack's guest CIDR of an Advanced zone when none is given.
const defaultGuestCIDR = "10.1.1.0/24"

func registerZones(s *Server) {
	dns := []Param{
		{Name: "dns2", Type: TString, Description: "the second DNS for the Zone"},
		{Name: "internaldns2", Type: TString, Description: "the second internal DNS for the Zone"},
		{Name: "ip6dns1", Type: TString, Description: "the first DNS for IPv6 network in the Zone"},
		{Name: "ip6dns2", Type: TString, Description: "the second DNS for IPv6 network in the Zone"},
		{Name: "domain", Type: TString, Length: 255, Description: "Network domain name for the networks in the zone"},
		{Name: "guestcidraddress", Type: TString, Description: "the guest CIDR address for the Zone"},
		{Name: "allocationstate", Type: TString, Description: "Allocation state of this Zone for allocation of new resources (Enabled or Disabled)"},
		{Name: "localstorageenabled", Type: TBool, Description: "true if local storage offering enabled, false otherwise"},
		{Name: "dhcpprovider", Type: TString, Description: "the dhcp Provider for the Zone (VirtualRouter)"},
	}
	s.Reg.Add(&Command{Name: "listZones", Response: zoneResponse, Roles: AllRoles, List: true, ResponseKey: "zone",
		Description: "Lists zones",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "the ID of the zone"},
			{Name: "ids", Type: TList, Elem: "uuid", Description: "the IDs of the zones, mutually exclusive with id"},
			{Name: "name", Type: TString, Description: "the name of the zone"},
			{Name: "available", Type: TBool, Description: "true if you want to retrieve all available Zones. False if you only want to return the Zones from which you have at least one VM. Default is false."},
			{Name: "networktype", Type: TString, Description: "the network type of the zone that the virtual machine belongs to"},
			{Name: "domainid", Type: TUUID, Description: "the ID of the domain associated with the zone"},
			{Name: "showcapacities", Type: TBool, Description: "flag to display the capacity of the zones"},
			{Name: "showicon", Type: TBool, Description: "flag to display the resource image for the zones"},
			{Name: "tags", Type: TMap, Description: "List zones by resource tags (key/value pairs)"},
		},
		Handler: listZones})
	s.Reg.Add(&Command{Name: "createZone", Response: zoneResponse, Roles: Admin, ResponseKey: "zone",
		Description: "Creates a Zone.",
		Params: append([]Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name of the Zone"},
			{Name: "networktype", Type: TString, Required: true, Description: "network type of the zone, can be Basic or Advanced"},
			{Name: "dns1", Type: TString, Required: true, Description: "the first DNS for the Zone"},
			{Name: "internaldns1", Type: TString, Required: true, Description: "the first internal DNS for the Zone"},
			{Name: "domainid", Type: TUUID, Description: "the ID of the containing domain, null for public zones"},
			{Name: "securitygroupenabled", Type: TBool, Description: "true if network is security group enabled, false otherwise"},
			{Name: "isedge", Type: TBool, Description: "true if the zone is an edge zone, false otherwise"},
			{Name: "storageaccessgroups", Type: TList, Description: "comma separated list of storage access groups for the hosts in the zone"},
		}, dns...),
		Handler: createZone})
	s.Reg.Add(&Command{Name: "updateZone", Response: zoneResponse, Roles: Admin, ResponseKey: "zone",
		Description: "Updates a Zone.",
		Params: append([]Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the Zone"},
			{Name: "name", Type: TString, Length: 255, Description: "the name of the Zone"},
			{Name: "dns1", Type: TString, Description: "the first DNS for the Zone"},
			{Name: "internaldns1", Type: TString, Description: "the first internal DNS for the Zone"},
			{Name: "ispublic", Type: TBool, Description: "updates a private zone to public if set, but not vice-versa"},
			{Name: "details", Type: TMap, Length: 5120, Description: "the details for the Zone"},
			{Name: "dnssearchorder", Type: TList, Description: "the dns search order list"},
			{Name: "sortkey", Type: TInt, Description: "sort key of the zone, integer"},
		}, dns...),
		Handler: updateZone})
	s.Reg.Add(&Command{Name: "deleteZone", Response: successResponse, Roles: Admin,
		Description: "Deletes a Zone.",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the ID of the Zone"}},
		Handler:     deleteZone})
}

func (c *Call) renderZone(z *db.Zone) map[string]any {
	m := map[string]any{"id": z.ID, "name": z.Name, "networktype": z.NetworkType, "allocationstate": z.AllocationState,
		"zonetoken": z.ZoneToken, "securitygroupsenabled": z.SecurityGroupsEnabled, "localstorageenabled": z.LocalStorageEnabled,
		"type": "Core", "hasannotations": false, "tags": []any{}}
	set(m, "description", z.Description)
	set(m, "dhcpprovider", z.DHCPProvider)
	set(m, "domain", z.NetworkDomain)
	if z.DomainID != "" {
		m["domainid"] = z.DomainID
		set(m, "domainname", z.DomainName)
	}
	// CloudStack's full view (root admins) adds the addresses inside the zone.
	if c.Caller.IsRootAdmin() {
		set(m, "dns1", z.DNS1)
		set(m, "dns2", z.DNS2)
		set(m, "internaldns1", z.InternalDNS1)
		set(m, "internaldns2", z.InternalDNS2)
		set(m, "ip6dns1", z.IP6DNS1)
		set(m, "ip6dns2", z.IP6DNS2)
		set(m, "guestcidraddress", z.GuestCIDR)
	}
	return m
}

// lowerID returns an id parameter in the stored (lower-case) form.
func (c *Call) lowerID(name string) string {
	return strings.ToLower(strings.TrimSpace(c.P.String(name)))
}

// zoneByID reads a live zone, answering CloudStack's error for an unknown id.
func (c *Call) zoneByID(q db.Querier, id string) (*db.Zone, error) {
	z, err := db.GetZone(c.Ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find zone by id %s", id)
	}
	return z, err
}

// zoneForChange locks a zone for a change to what it holds (db.LockZone) and reads it.
func (c *Call) zoneForChange(tx db.Tx, id string) (*db.Zone, error) {
	if err := db.LockZone(c.Ctx, tx, id); errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find zone by id %s", id)
	} else if err != nil {
		return nil, err
	}
	return c.zoneByID(tx, id)
}

func listZones(c *Call) (any, error) {
	f := db.ZoneFilter{ID: c.lowerID("id"), Name: c.P.String("name"), NetworkType: c.P.String("networktype"),
		Keyword: c.P.String("keyword")}
	for _, id := range c.P.List("ids") {
		f.IDs = append(f.IDs, strings.ToLower(id))
	}
	if id := c.lowerID("domainid"); id != "" {
		d, err := c.DomainForScope(id)
		if err != nil {
			return nil, err
		}
		f.DomainID = d.ID
	}
	// CloudStack: a root admin sees every zone; anyone else only enabled zones that are public
	// or dedicated to its domain or one above it (a domain admin also those below).
	if !c.Caller.IsRootAdmin() {
		f.EnabledOnly = true
		f.VisibleTo, f.VisibleBelow = c.Caller.User.DomainPath, c.Caller.IsDomainAdmin()
	}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListZones(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, z := range list {
		items = append(items, c.renderZone(z))
	}
	return ListResult{Key: "zone", Items: items, Count: total}, nil
}

// parseChoice matches v case-insensitively against choices and returns the canonical spelling.
func parseChoice(param, v string, choices ...string) (string, error) {
	for _, ch := range choices {
		if strings.EqualFold(strings.TrimSpace(v), ch) {
			return ch, nil
		}
	}
	return "", ErrParam("Invalid %s %q: use one of %s", param, v, strings.Join(choices, ", "))
}

// checkIPParam checks that an optional address parameter is an IPv4 (or, with v6, IPv6) address.
func (c *Call) checkIPParam(name string, v6 bool) (string, error) {
	v := strings.TrimSpace(c.P.String(name))
	if v == "" {
		return "", nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || (v6 && !a.Is6()) || (!v6 && !a.Is4()) {
		kind := "IPv4"
		if v6 {
			kind = "IPv6"
		}
		return "", ErrParam("Please enter a valid %s address for %s: %q", kind, name, v)
	}
	return a.String(), nil
}

// validGuestCIDR checks a zone's guest CIDR (network.ValidGuestCIDR).
var validGuestCIDR = network.ValidGuestCIDR

// applyZoneParams sets the parameters createZone and updateZone share, as sent.
func (c *Call) applyZoneParams(z *db.Zone) error {
	for _, f := range []struct {
		param string
		v6    bool
		dst   *string
	}{{"dns1", false, &z.DNS1}, {"dns2", false, &z.DNS2}, {"internaldns1", false, &z.InternalDNS1}, {"internaldns2", false, &z.InternalDNS2},
		{"ip6dns1", true, &z.IP6DNS1}, {"ip6dns2", true, &z.IP6DNS2}} {
		if !c.P.Has(f.param) {
			continue
		}
		v, err := c.checkIPParam(f.param, f.v6)
		if err != nil {
			return err
		}
		*f.dst = v
	}
	if c.P.Has("domain") {
		nd := strings.TrimSpace(c.P.String("domain"))
		if nd != "" {
			if err := validNetworkDomain(nd); err != nil {
				return err
			}
		}
		z.NetworkDomain = nd
	}
	if v := c.P.String("allocationstate"); v != "" {
		st, err := parseChoice("allocationstate", v, allocEnabled, allocDisabled)
		if err != nil {
			return err
		}
		z.AllocationState = st
	}
	if v, ok := c.P.Bool("localstorageenabled"); ok {
		z.LocalStorageEnabled = v
	}
	if v := c.P.String("dhcpprovider"); v != "" {
		p, err := parseChoice("dhcpprovider", v, "VirtualRouter", "VpcVirtualRouter", "ConfigDrive")
		if err != nil {
			return err
		}
		z.DHCPProvider = p
	}
	if v := c.P.String("guestcidraddress"); v != "" && z.NetworkType == zoneAdvanced {
		cidr, err := validGuestCIDR(v)
		if err != nil {
			return err
		}
		z.GuestCIDR = cidr
	}
	return nil
}

func createZone(c *Call) (any, error) {
	if isEdge, _ := c.P.Bool("isedge"); isEdge {
		return nil, ErrParam("Edge zones (isedge=true) are not supported; create a core zone")
	}
	nt, err := parseChoice("networktype", c.P.String("networktype"), zoneBasic, zoneAdvanced)
	if err != nil {
		return nil, err
	}
	z := &db.Zone{ID: uuid.NewString(), Name: strings.TrimSpace(c.P.String("name")), NetworkType: nt,
		AllocationState: allocDisabled, DHCPProvider: "VirtualRouter", ZoneToken: uuid.NewString(), Created: db.Now()}
	if nt == zoneAdvanced {
		z.GuestCIDR = defaultGuestCIDR
	}
	if err := c.applyZoneParams(z); err != nil {
		return nil, err
	}
	// Basic zones isolate guests with security groups only (CloudStack forces it on).
	z.SecurityGroupsEnabled, _ = c.P.Bool("securitygroupenabled")
	if nt == zoneBasic {
		z.SecurityGroupsEnabled = true
	}
	if id := c.lowerID("domainid"); id != "" {
		d, err := c.DomainForScope(id)
		if err != nil {
			return nil, err
		}
		z.DomainID = d.ID
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if err := db.InsertZone(c.Ctx, tx, z); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("A zone with name %s already exists. Please specify a unique zone name.", z.Name)
			}
			return err
		}
		return c.Event(tx, "ZONE.CREATE", "Creating zone "+z.Name, "Zone", z.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.zoneObject(z.ID)
}

func (c *Call) zoneObject(id string) (any, error) {
	z, err := c.zoneByID(c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	return Object{Key: "zone", Value: c.renderZone(z)}, nil
}

func updateZone(c *Call) (any, error) {
	id := c.lowerID("id")
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		z, err := c.zoneByID(tx, id)
		if err != nil {
			return err
		}
		wasEnabled := z.AllocationState == allocEnabled
		if c.P.Has("name") {
			if z.Name = strings.TrimSpace(c.P.String("name")); z.Name == "" {
				return ErrParam("Invalid name: a zone name must not be empty")
			}
		}
		if err := c.applyZoneParams(z); err != nil {
			return err
		}
		if public, _ := c.P.Bool("ispublic"); public {
			z.DomainID = ""
		}
		if z.AllocationState == allocEnabled && !wasEnabled {
			if err := c.checkZoneReady(tx, z); err != nil {
				return err
			}
		}
		if err := db.UpdateZone(c.Ctx, tx, z); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("A zone with name %s already exists. Please specify a unique zone name.", z.Name)
			}
			return err
		}
		return c.Event(tx, "ZONE.EDIT", "Editing zone "+z.Name, "Zone", z.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.zoneObject(id)
}

// checkZoneReady is CloudStack's check before enabling a zone: a physical network must carry
// Management traffic and, in an Advanced zone without security groups, one Public traffic.
// Without Storage traffic, storage traffic goes the management way: a Storage traffic type
// with the management labels is added to the management physical network.
func (c *Call) checkZoneReady(tx db.Tx, z *db.Zone) error {
	types, _, err := db.ListTrafficTypes(c.Ctx, tx, db.TrafficTypeFilter{ZoneID: z.ID})
	if err != nil {
		return err
	}
	byType := map[string]*db.TrafficType{}
	for _, t := range types {
		byType[t.TrafficType] = t
	}
	mgmt := byType[trafficManagement]
	if mgmt == nil {
		return ErrParam("Cannot enable this Zone since: Unable to find the default physical network with traffic=Management in the zone %s; add the Management traffic type to a physical network first", z.Name)
	}
	if z.NetworkType == zoneAdvanced && !z.SecurityGroupsEnabled && byType[trafficPublic] == nil {
		return ErrParam("Cannot enable this Zone since: Unable to find the default physical network with traffic=Public in the zone %s; add the Public traffic type to a physical network first", z.Name)
	}
	if byType[trafficStorage] != nil {
		return nil
	}
	st := *mgmt
	st.ID, st.TrafficType, st.Vlan, st.IsolationMethod, st.Created = uuid.NewString(), trafficStorage, "", "", db.Now()
	if err := db.InsertTrafficType(c.Ctx, tx, &st); err != nil {
		return err
	}
	return c.Event(tx, "TRAFFIC.TYPE.CREATE", "Adding default Storage traffic type to physical network "+st.PhysicalNetworkID, "TrafficType", st.ID)
}

func deleteZone(c *Call) (any, error) {
	id := c.lowerID("id")
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		z, err := c.zoneByID(tx, id)
		if err != nil {
			return err
		}
		// Remove first, then count: the removal locks the zone row (LockZone), so whatever
		// was added to the zone before is seen and nothing can be added after.
		if err := db.RemoveZone(c.Ctx, tx, id); err != nil {
			return err
		}
		u, err := db.CountZoneUsage(c.Ctx, tx, id)
		if err != nil {
			return err
		}
		var held []string
		for _, h := range []struct {
			n    int
			what string
		}{{u.Hosts, "hosts"}, {u.Pods, "pods"}, {u.PhysicalNetworks, "physical networks"}, {u.IPRanges, "IP ranges"},
			{u.StoragePools, "primary storage pools"}, {u.ImageStores, "secondary storage (image stores)"},
			{u.VMs, "virtual machines"}, {u.Volumes, "storage volumes"}} {
			if h.n > 0 {
				held = append(held, fmt.Sprintf("%d %s", h.n, h.what))
			}
		}
		if len(held) > 0 {
			return ErrInUse("The zone %s cannot be deleted because there are %s in this zone; remove them first", z.Name, strings.Join(held, ", "))
		}
		if err := db.DeleteCapacity(c.Ctx, tx, id); err != nil {
			return err
		}
		return c.Event(tx, "ZONE.DELETE", "Deleting zone "+z.Name, "Zone", id)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}
