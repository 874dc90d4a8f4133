package api

import (
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/google/uuid"
)

// Network services and providers as CloudStack names them (Network.Service, Network.Provider).
var networkServices = []string{"Vpn", "Dhcp", "Dns", "SourceNat", "PortForwarding", "Lb", "UserData", "StaticNat", "NetworkACL",
	"Firewall", "Gateway", "SecurityGroup", "Connectivity"}

var networkProviders = []string{"VirtualRouter", "VpcVirtualRouter", "InternalLbVm", "SecurityGroupProvider", "ConfigDrive",
	"Netscaler", "F5BigIp", "JuniperSRX", "PaloAlto", "NiciraNvp", "Ovs", "BigSwitchBcf", "Tungsten", "Nsx", "Netris", "BaremetalDhcpProvider",
	"BaremetalPxeProvider", "BaremetalUserdataProvider"}

func canonical(list []string, v string) (string, bool) {
	for _, s := range list {
		if strings.EqualFold(s, strings.TrimSpace(v)) {
			return s, true
		}
	}
	return "", false
}

func registerNetworkOfferings(s *Server) {
	s.Reg.Add(&Command{Name: "createNetworkOffering", Response: networkOfferingResponse, Roles: Admin, ResponseKey: "networkoffering",
		Description: "Creates a network offering.",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name of the network offering"},
			{Name: "displaytext", Type: TString, Required: true, Length: 4096, Description: "the display text of the network offering"},
			{Name: "guestiptype", Type: TString, Required: true, Description: "guest type of the network offering: Shared, Isolated or L2"},
			{Name: "traffictype", Type: TString, Required: true, Description: "the traffic type for the network offering; only Guest is supported"},
			{Name: "supportedservices", Type: TList, Description: "services supported by the network offering"},
			{Name: "serviceproviderlist", Type: TMap, Description: "provider to service mapping: serviceproviderlist[0].service=Dhcp&serviceproviderlist[0].provider=VirtualRouter"},
			{Name: "servicecapabilitylist", Type: TMap, Description: "desired service capabilities as part of network offering"},
			{Name: "specifyvlan", Type: TBool, Description: "true if network offering supports vlans"},
			{Name: "specifyipranges", Type: TBool, Description: "true if network offering supports specifying ip ranges; defaulted to false if not specified"},
			{Name: "availability", Type: TString, Description: "the availability of network offering: Required or Optional (default)"},
			{Name: "conservemode", Type: TBool, Description: "true if the network offering is IP conserve mode enabled (default true)"},
			{Name: "egressdefaultpolicy", Type: TBool, Description: "true if guest network default egress policy is allow; false if deny"},
			{Name: "ispersistent", Type: TBool, Description: "true if network offering supports persistent networks"},
			{Name: "keepaliveenabled", Type: TBool, Description: "if true keepalive will be turned on in the loadbalancer"},
			{Name: "maxconnections", Type: TInt, Description: "maximum number of concurrent connections supported by the network offering"},
			{Name: "networkrate", Type: TInt, Description: "data transfer rate in megabits per second allowed"},
			{Name: "serviceofferingid", Type: TUUID, Description: "the service offering ID used by the virtual router provider"},
			{Name: "tags", Type: TString, Length: 1024 /* CloudStack: 4096; our column holds 1024 */, Description: "the tags for the network offering"},
			{Name: "forvpc", Type: TBool, Description: "true if network offering is meant to be used for VPC"},
			{Name: "fornsx", Type: TBool, Description: "true if network offering is meant to be used for NSX (not supported)"},
			{Name: "fortungsten", Type: TBool, Description: "true if network offering is meant to be used for Tungsten-Fabric (not supported: true is refused)"},
			{Name: "networkmode", Type: TString, Description: "the mode with which the network will operate: NATTED (default); ROUTED is not supported"},
			{Name: "routingmode", Type: TString, Description: "the routing mode for the network offering: Static or Dynamic (not supported: refused)"},
			{Name: "specifyasnumber", Type: TBool, Description: "true if network offering supports choosing AS number (not supported: true is refused)"},
			{Name: "provider", Type: TString, Description: "name of the provider providing the service, NSX or Netris (not supported: refused)"},
			{Name: "nsxsupportlb", Type: TBool, Description: "true if network offering for NSX network offering supports Load balancer service (not supported: true is refused)"},
			{Name: "nsxsupportsinternallb", Type: TBool, Description: "true if network offering for NSX VPC network offering supports Internal Load balancer or not (not supported: true is refused)"},
			{Name: "domainid", Type: TList, Elem: "uuid", Description: "the IDs of the containing domains, null for public offerings"},
			{Name: "zoneid", Type: TList, Elem: "uuid", Description: "the IDs of the containing zones, null for all zones"},
			{Name: "details", Type: TMap, Length: 5120, Description: "network offering details in key/value pairs"},
			{Name: "internetprotocol", Type: TString, Description: "the internet protocol: ipv4 (default) or dualstack"},
			{Name: "enable", Type: TBool, Description: "set to true to enable the offering on creation (default false)"},
		},
		Handler: createNetworkOffering})
	s.Reg.Add(&Command{Name: "updateNetworkOffering", Response: networkOfferingResponse, Roles: Admin, ResponseKey: "networkoffering",
		Description: "Updates a network offering.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "the id of the network offering"},
			{Name: "name", Type: TString, Length: 255, Description: "the name of the network offering"},
			{Name: "displaytext", Type: TString, Length: 4096, Description: "the display text of the network offering"},
			{Name: "availability", Type: TString, Description: "the availability of network offering: Required or Optional"},
			{Name: "state", Type: TString, Description: "update state for the network offering: Enabled or Disabled"},
			{Name: "sortkey", Type: TInt, Description: "sort key of the network offering"},
			{Name: "maxconnections", Type: TInt, Description: "maximum number of concurrent connections supported by the network offering"},
			{Name: "keepaliveenabled", Type: TBool, Description: "if true keepalive will be turned on in the loadbalancer"},
			{Name: "tags", Type: TString, Length: 1024 /* CloudStack: 4096; our column holds 1024 */, Description: "the tags for the network offering"},
			{Name: "domainid", Type: TString, Description: "the IDs of the containing domains (comma-separated), \"public\" for every domain"},
			{Name: "zoneid", Type: TString, Description: "the IDs of the containing zones (comma-separated), \"all\" for every zone"},
		},
		Handler: updateNetworkOffering})
	s.Reg.Add(&Command{Name: "deleteNetworkOffering", Response: successResponse, Roles: Admin,
		Description: "Deletes a network offering.",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the ID of the network offering"}},
		Handler:     deleteNetworkOffering})
	s.Reg.Add(&Command{Name: "listNetworkOfferings", Response: networkOfferingResponse, Roles: AllRoles, List: true, ResponseKey: "networkoffering",
		Description: "Lists all available network offerings.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "list network offerings by ID"},
			{Name: "name", Type: TString, Description: "list network offerings by name"},
			{Name: "displaytext", Type: TString, Description: "list network offerings by display text"},
			{Name: "traffictype", Type: TString, Description: "list by traffic type"},
			{Name: "isdefault", Type: TBool, Description: "true if need to list only default network offerings"},
			{Name: "specifyvlan", Type: TBool, Description: "the tags for the network offering"},
			{Name: "availability", Type: TString, Description: "the availability of network offering"},
			{Name: "zoneid", Type: TUUID, Description: "list network offerings available for network creation in specific zone"},
			{Name: "domainid", Type: TUUID, Description: "the ID of the containing domain(s)"},
			{Name: "guestiptype", Type: TString, Description: "list network offerings by guest type: shared, isolated or l2"},
			{Name: "networkid", Type: TUUID, Description: "the ID of the network: lists offerings it can be upgraded to"},
			{Name: "supportedservices", Type: TList, Description: "list network offerings supporting certain services"},
			{Name: "sourcenatsupported", Type: TBool, Description: "true if need to list only netwok offerings where source NAT is supported"},
			{Name: "specifyipranges", Type: TBool, Description: "true if need to list only network offerings which support specifying ip ranges"},
			{Name: "forvpc", Type: TBool, Description: "the network offering can be used only for network creation inside the VPC"},
			{Name: "state", Type: TString, Description: "list network offerings by state: Enabled or Disabled"},
			{Name: "tags", Type: TString, Description: "list network offerings by tags"},
			{Name: "istagged", Type: TBool, Description: "true if offering has tags specified"},
			{Name: "routingmode", Type: TString, Description: "the routing mode (not supported: lists nothing when set)"},
		},
		Handler: listNetworkOfferings})
	s.Reg.Add(&Command{Name: "listVPCOfferings", Response: vpcOfferingResponse, Roles: AllRoles, List: true, ResponseKey: "vpcoffering",
		Description: "Lists VPC offerings.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "list VPC offerings by id"},
			{Name: "name", Type: TString, Description: "list VPC offerings by name"},
			{Name: "displaytext", Type: TString, Description: "list VPC offerings by display text"},
			{Name: "isdefault", Type: TBool, Description: "true if need to list only default VPC offerings"},
			{Name: "state", Type: TString, Description: "list VPC offerings by state: Enabled or Disabled"},
			{Name: "supportedservices", Type: TList, Description: "list VPC offerings supporting certain services"},
			{Name: "zoneid", Type: TUUID, Description: "id of zone VPC offering is associated with"},
			{Name: "domainid", Type: TUUID, Description: "the ID of the containing domain(s)"},
		},
		Handler: listVPCOfferings})
}

// refuseUnsupportedOfferingModes refuses, naming the parameter, what CloudStack 4.20's
// createNetworkOffering accepts but Atoll does not implement: ROUTED networks, dynamic or
// static routing with AS numbers, and the NSX, Netris and Tungsten-Fabric integrations.
// Without it these were left unread and an ordinary NATted offering was made.
func refuseUnsupportedOfferingModes(c *Call) error {
	switch m := strings.TrimSpace(c.P.String("networkmode")); {
	case m == "" || strings.EqualFold(m, "NATTED"):
	case strings.EqualFold(m, "ROUTED"):
		return ErrParam("networkmode ROUTED is not supported: only NATTED network offerings can be created")
	default:
		return ErrParam("Invalid networkmode %s: valid values are NATTED and ROUTED (only NATTED is supported)", m)
	}
	if m := strings.TrimSpace(c.P.String("routingmode")); m != "" {
		return ErrParam("routingmode %s is not supported: routed network offerings are not implemented", m)
	}
	if p := strings.TrimSpace(c.P.String("provider")); p != "" {
		return ErrParam("provider %s is not supported: NSX and Netris network offerings are not implemented", p)
	}
	for _, f := range []struct{ name, what string }{
		{"specifyasnumber", "AS numbers for routed networks are not implemented"},
		{"nsxsupportlb", "NSX network offerings are not implemented"},
		{"nsxsupportsinternallb", "NSX network offerings are not implemented"},
		{"fortungsten", "Tungsten-Fabric network offerings are not implemented"},
	} {
		if v, ok := c.P.Bool(f.name); ok && v {
			return ErrParam("%s=true is not supported: %s", f.name, f.what)
		}
	}
	return nil
}

func createNetworkOffering(c *Call) (any, error) {
	o := &db.NetworkOffering{ID: uuid.NewString(), Name: strings.TrimSpace(c.P.String("name")), DisplayText: c.P.String("displaytext"),
		Services: map[string]string{}, Details: c.offeringDetailsParam("details"), ConserveMode: true, State: "Disabled", Created: db.Now()}
	if o.Name == "" {
		return nil, ErrParam("Network offering name is required")
	}
	o.UniqueName = o.Name
	tt, ok := canonical([]string{"Guest", "Public", "Management", "Control", "Storage"}, c.P.String("traffictype"))
	if !ok {
		return nil, ErrParam("Invalid value for traffictype. Supported traffic types: Public, Guest, Control, Management, Storage")
	}
	if tt != "Guest" {
		return nil, ErrParam("Only traffic type Guest is supported in the current release")
	}
	o.TrafficType = tt
	gt, ok := canonical([]string{"Isolated", "Shared", "L2"}, c.P.String("guestiptype"))
	if !ok {
		return nil, ErrParam("Invalid guest type %s: use one of Isolated, Shared, L2", c.P.String("guestiptype"))
	}
	o.GuestIPType = gt
	o.ForVPC, _ = c.P.Bool("forvpc")
	if v, ok := c.P.Bool("fornsx"); ok && v {
		return nil, Errorf(CodeUnsupported, CSServerAPI, "NSX network offerings are not supported")
	}
	if err := refuseUnsupportedOfferingModes(c); err != nil {
		return nil, err
	}
	// Services, with their providers (VirtualRouter, or VpcVirtualRouter for VPC offerings,
	// when none is given, as CloudStack defaults them).
	for _, s := range c.P.List("supportedservices") {
		svc, ok := canonical(networkServices, s)
		if !ok {
			return nil, ErrParam("Invalid service %s", s)
		}
		def := "VirtualRouter"
		if o.ForVPC {
			def = "VpcVirtualRouter"
		}
		if svc == "SecurityGroup" {
			def = "SecurityGroupProvider"
		}
		o.Services[svc] = def
	}
	for _, m := range c.P.Map("serviceproviderlist") {
		svc, ok := canonical(networkServices, m["service"])
		if !ok {
			return nil, ErrParam("Invalid service %s", m["service"])
		}
		if _, on := o.Services[svc]; !on {
			return nil, ErrParam("Service %s is not enabled for the network offering, can't add a provider to it", svc)
		}
		prv, ok := canonical(networkProviders, m["provider"])
		if !ok {
			return nil, ErrParam("Invalid service provider: %s", m["provider"])
		}
		o.Services[svc] = prv
	}
	if gt == "L2" && len(o.Services) > 0 {
		return nil, ErrParam("Services are not supported by L2 network offerings")
	}
	if _, sg := o.Services["SecurityGroup"]; sg && gt != "Shared" {
		return nil, ErrParam("SecurityGroup service is supported only for guest IP type Shared")
	}
	_, sourceNat := o.Services["SourceNat"]
	if sourceNat && gt == "Shared" {
		return nil, ErrParam("SourceNat service is not supported by network offerings of guest IP type Shared")
	}
	for _, m := range c.P.Map("servicecapabilitylist") {
		svc, ok := canonical(networkServices, m["service"])
		if !ok {
			return nil, ErrParam("Invalid service %s", m["service"])
		}
		if _, on := o.Services[svc]; !on {
			return nil, ErrParam("Service %s is not enabled for the network offering, can't set its capabilities", svc)
		}
		name := strings.TrimSpace(m["capabilitytype"])
		if name == "" {
			return nil, ErrParam("Invalid capability type for service %s", svc)
		}
		o.Capabilities = append(o.Capabilities, db.NetworkCapability{Service: svc, Name: name, Value: m["capabilityvalue"]})
	}
	hasCap := func(svc, name string) bool {
		for _, cp := range o.Capabilities {
			if cp.Service == svc && strings.EqualFold(cp.Name, name) {
				return true
			}
		}
		return false
	}
	if sourceNat && !hasCap("SourceNat", "SupportedSourceNatTypes") {
		o.Capabilities = append(o.Capabilities, db.NetworkCapability{Service: "SourceNat", Name: "SupportedSourceNatTypes", Value: "peraccount"})
	}
	if _, lb := o.Services["Lb"]; lb && !hasCap("Lb", "SupportedLBIsolation") {
		o.Capabilities = append(o.Capabilities, db.NetworkCapability{Service: "Lb", Name: "SupportedLBIsolation", Value: "dedicated"})
	}
	o.SpecifyVlan, _ = c.P.Bool("specifyvlan")
	o.SpecifyIPRanges, _ = c.P.Bool("specifyipranges")
	if gt == "Shared" && !o.SpecifyIPRanges {
		if c.P.Has("specifyipranges") {
			return nil, ErrParam("SpecifyIpRanges should always be true for Shared network offerings")
		}
		o.SpecifyIPRanges = true
	}
	if o.SpecifyIPRanges && sourceNat {
		return nil, ErrParam("SpecifyIpRanges can only be true for Shared network offerings and Isolated with no SourceNat service")
	}
	o.Availability = "Optional"
	if v := strings.TrimSpace(c.P.String("availability")); v != "" {
		a, ok := canonical([]string{"Required", "Optional"}, v)
		if !ok {
			return nil, ErrParam("Invalid value for Availability. Supported types: Required, Optional")
		}
		if a == "Required" && (gt != "Isolated" || !sourceNat) {
			return nil, ErrParam("Availability can be Required only for guestIpType Isolated with the SourceNat service")
		}
		o.Availability = a
	}
	if v, ok := c.P.Bool("conservemode"); ok {
		o.ConserveMode = v
	}
	o.EgressDefaultPolicy, _ = c.P.Bool("egressdefaultpolicy")
	o.IsPersistent, _ = c.P.Bool("ispersistent")
	if o.IsPersistent && gt == "Shared" {
		return nil, ErrParam("Persistent Network offering can be created only for guest IP type Isolated or L2")
	}
	o.KeepAliveEnabled, _ = c.P.Bool("keepaliveenabled")
	if v, ok := c.P.Int("maxconnections"); ok {
		o.MaxConnections = v
	}
	if v, ok := c.P.Int("networkrate"); ok {
		o.NetworkRate = v
	}
	o.Tags = tagList(c.P.String("tags"))
	if v := strings.TrimSpace(c.P.String("internetprotocol")); v != "" {
		ip, ok := canonical([]string{"ipv4", "dualstack"}, v)
		if !ok {
			return nil, ErrParam("Invalid internetprotocol %s: use ipv4 or dualstack", v)
		}
		o.InternetProtocol = ip
	}
	if id := c.lowerID("serviceofferingid"); id != "" {
		so, err := c.serviceOfferingByID(c.S.DB.Read(), id)
		if err != nil {
			return nil, err
		}
		if !so.IsSystem || so.SystemVMType != "domainrouter" {
			return nil, ErrParam("The specified service offering %s is not a system offering for virtual routers", id)
		}
		o.ServiceOfferingID = so.ID
	}
	if v, _ := c.P.Bool("enable"); v {
		o.State = "Enabled"
	}
	var err error
	if o.DomainIDs, err = c.offeringDomains("domainid", false); err != nil {
		return nil, err
	}
	if o.ZoneIDs, err = c.offeringZones("zoneid"); err != nil {
		return nil, err
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if err := db.InsertNetworkOffering(c.Ctx, tx, o); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("Network offering with name %s already exists", o.Name)
			}
			return err
		}
		return c.Event(tx, "NETWORK.OFFERING.CREATE", "Creating network offering "+o.Name, "NetworkOffering", o.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.networkOfferingObject(o.ID)
}

func (c *Call) networkOfferingByID(q db.Querier, id string) (*db.NetworkOffering, error) {
	o, err := db.GetNetworkOffering(c.Ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find network offering by id %s", id)
	}
	return o, err
}

func (c *Call) networkOfferingObject(id string) (any, error) {
	o, err := c.networkOfferingByID(c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	return Object{Key: "networkoffering", Value: c.renderNetworkOffering(o)}, nil
}

func renderServices(providers map[string][]string, caps []db.NetworkCapability) []any {
	names := make([]string, 0, len(providers))
	for s := range providers {
		names = append(names, s)
	}
	sort.Strings(names)
	out := make([]any, 0, len(names))
	for _, s := range names {
		var prv []any
		for _, p := range providers[s] {
			prv = append(prv, map[string]any{"name": p})
		}
		svc := map[string]any{"name": s, "provider": prv}
		var cl []any
		for _, cp := range caps {
			if cp.Service == s {
				cl = append(cl, map[string]any{"name": cp.Name, "value": cp.Value, "canchooseservicecapability": false})
			}
		}
		if len(cl) > 0 {
			svc["capability"] = cl
		}
		out = append(out, svc)
	}
	return out
}

func (c *Call) renderNetworkOffering(o *db.NetworkOffering) map[string]any {
	m := map[string]any{"id": o.ID, "name": o.Name, "displaytext": o.DisplayText, "traffictype": o.TrafficType,
		"isdefault": o.IsDefault, "specifyvlan": o.SpecifyVlan, "conservemode": o.ConserveMode, "specifyipranges": o.SpecifyIPRanges,
		"availability": o.Availability, "state": o.State, "guestiptype": o.GuestIPType, "forvpc": o.ForVPC, "fornsx": o.ForNSX,
		"fortungsten": false, "ispersistent": o.IsPersistent, "egressdefaultpolicy": o.EgressDefaultPolicy,
		"supportsstrechedl2subnet": o.SupportsStrechedL2, "supportspublicaccess": o.SupportsPublicAccess,
		"supportsinternallb": o.Services["Lb"] == "InternalLbVm", "specifyasnumber": false, "hasannotations": false,
		"created": FormatTime(o.Created), "internetprotocol": "IPv4"}
	if strings.EqualFold(o.InternetProtocol, "dualstack") {
		m["internetprotocol"] = "DualStack"
	}
	set(m, "tags", o.Tags)
	set(m, "serviceofferingid", o.ServiceOfferingID)
	if o.NetworkRate > 0 {
		m["networkrate"] = o.NetworkRate
	}
	if o.MaxConnections > 0 {
		m["maxconnections"] = o.MaxConnections
	}
	if len(o.Details) > 0 {
		d := map[string]any{}
		for k, v := range o.Details {
			d[k] = v
		}
		m["details"] = d
	}
	prv := map[string][]string{}
	for s, p := range o.Services {
		prv[s] = []string{p}
	}
	m["service"] = renderServices(prv, o.Capabilities)
	c.renderRestriction(m, o.DomainIDs, o.ZoneIDs)
	return m
}

func boolFilter(c *Call, name string) *bool {
	if v, ok := c.P.Bool(name); ok {
		return &v
	}
	return nil
}

func listNetworkOfferings(c *Call) (any, error) {
	f := db.NetworkOfferingFilter{ID: c.lowerID("id"), Name: c.P.String("name"), Keyword: c.P.String("keyword"),
		IsDefault: boolFilter(c, "isdefault"), SpecifyVlan: boolFilter(c, "specifyvlan"), SpecifyIPRanges: boolFilter(c, "specifyipranges"),
		ForVPC: boolFilter(c, "forvpc")}
	for _, p := range []struct {
		param string
		dst   *string
		ok    []string
	}{{"traffictype", &f.TrafficType, []string{"Guest", "Public", "Management", "Control", "Storage"}},
		{"guestiptype", &f.GuestIPType, []string{"Isolated", "Shared", "L2"}},
		{"availability", &f.Availability, []string{"Required", "Optional", "Unavailable"}},
		{"state", &f.State, []string{"Enabled", "Disabled", "Inactive"}}} {
		if v := strings.TrimSpace(c.P.String(p.param)); v != "" {
			cv, ok := canonical(p.ok, v)
			if !ok {
				return nil, ErrParam("Invalid %s %s: use one of %s", p.param, v, strings.Join(p.ok, ", "))
			}
			*p.dst = cv
		}
	}
	notSystem := false
	f.IsSystem = &notSystem
	if c.P.String("routingmode") != "" {
		return ListResult{Key: "networkoffering"}, nil // routed (ROUTED mode) offerings are not supported
	}
	domainFilter, err := c.listDomainFilter()
	if err != nil {
		return nil, err
	}
	var wantServices []string
	for _, s := range c.P.List("supportedservices") {
		svc, ok := canonical(networkServices, s)
		if !ok {
			return nil, ErrParam("Invalid service %s", s)
		}
		wantServices = append(wantServices, svc)
	}
	if v, ok := c.P.Bool("sourcenatsupported"); ok && v {
		wantServices = append(wantServices, "SourceNat")
	}
	var current *db.NetworkOffering
	if id := c.lowerID("networkid"); id != "" {
		n, err := db.GetNetwork(c.Ctx, c.S.DB.Read(), id)
		if errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find network by id %s", id)
		}
		if err != nil {
			return nil, err
		}
		if n.AccountID != "" {
			a, err := db.GetAccount(c.Ctx, c.S.DB.Read(), n.AccountID)
			if err != nil || !c.Caller.CanManageAccount(n.AccountID, a.DomainPath) {
				return nil, ErrParam("Unable to find network by id %s", id)
			}
		} else if d, err := db.GetDomain(c.Ctx, c.S.DB.Read(), n.DomainID); err != nil || !c.Caller.IsRootAdmin() && !c.Caller.CanSeeDomain(d.Path) {
			return nil, ErrParam("Unable to find network by id %s", id)
		}
		if current, err = db.GetNetworkOffering(c.Ctx, c.S.DB.Read(), n.NetworkOfferingID); err != nil && !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
	}
	list, err := db.ListNetworkOfferings(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	var lists [][]string
	for _, o := range list {
		lists = append(lists, o.DomainIDs)
	}
	vis, err := c.newOfferingVisibility(lists...)
	if err != nil {
		return nil, err
	}
	zoneID, tags, display := c.lowerID("zoneid"), tagList(c.P.String("tags")), c.P.String("displaytext")
	tagged, hasTagged := c.P.Bool("istagged")
	var items []any
	for _, o := range list {
		if !vis.visible(o.DomainIDs) || !inZones(o.ZoneIDs, zoneID) {
			continue
		}
		if domainFilter != "" && !slices.Contains(o.DomainIDs, domainFilter) {
			continue
		}
		if display != "" && !strings.EqualFold(o.DisplayText, display) {
			continue
		}
		if tags != "" && !strings.EqualFold(o.Tags, tags) || hasTagged && tagged != (o.Tags != "") {
			continue
		}
		missing := false
		for _, s := range wantServices {
			if _, ok := o.Services[s]; !ok {
				missing = true
			}
		}
		if missing {
			continue
		}
		if current != nil && (o.ID == current.ID || o.GuestIPType != current.GuestIPType || o.State != "Enabled") {
			continue
		}
		items = append(items, c.renderNetworkOffering(o))
	}
	return ListResult{Key: "networkoffering", Items: c.pageItems(items), Count: len(items)}, nil
}

func updateNetworkOffering(c *Call) (any, error) {
	id := c.lowerID("id")
	if id == "" {
		return nil, ErrMissing(c.Cmd.Name, "id")
	}
	var domains, zones []string
	var err error
	if c.P.Has("domainid") {
		if domains, err = c.offeringDomains("domainid", false); err != nil {
			return nil, err
		}
	}
	if c.P.Has("zoneid") {
		if zones, err = c.offeringZones("zoneid"); err != nil {
			return nil, err
		}
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		o, err := c.networkOfferingByID(tx, id)
		if err != nil {
			return err
		}
		if o.IsSystem {
			return ErrParam("Can't update system network offerings")
		}
		if c.P.Has("name") {
			if o.Name = strings.TrimSpace(c.P.String("name")); o.Name == "" {
				return ErrParam("Network offering name must not be empty")
			}
		}
		if c.P.Has("displaytext") {
			o.DisplayText = c.P.String("displaytext")
		}
		if v := strings.TrimSpace(c.P.String("availability")); v != "" {
			a, ok := canonical([]string{"Required", "Optional"}, v)
			if !ok {
				return ErrParam("Invalid value for Availability. Supported types: Required, Optional")
			}
			if a == "Required" && (o.GuestIPType != "Isolated" || !o.HasService("SourceNat")) {
				return ErrParam("Availability can be Required only for guestIpType Isolated with the SourceNat service")
			}
			o.Availability = a
		}
		if v := strings.TrimSpace(c.P.String("state")); v != "" {
			st, ok := canonical([]string{"Enabled", "Disabled"}, v)
			if !ok {
				return ErrParam("Incorrect state value: %s", v)
			}
			o.State = st
		}
		if v, ok := c.P.Int("sortkey"); ok {
			o.SortKey = v
		}
		if v, ok := c.P.Int("maxconnections"); ok {
			o.MaxConnections = v
		}
		if v, ok := c.P.Bool("keepaliveenabled"); ok {
			o.KeepAliveEnabled = v
		}
		if c.P.Has("tags") {
			o.Tags = tagList(c.P.String("tags"))
		}
		if c.P.Has("domainid") {
			o.DomainIDs = domains
		}
		if c.P.Has("zoneid") {
			o.ZoneIDs = zones
		}
		if err := db.UpdateNetworkOffering(c.Ctx, tx, o); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("Network offering with name %s already exists", o.Name)
			}
			return err
		}
		return c.Event(tx, "NETWORK.OFFERING.EDIT", "Updating network offering "+o.Name, "NetworkOffering", o.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.networkOfferingObject(id)
}

func deleteNetworkOffering(c *Call) (any, error) {
	id := c.lowerID("id")
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		o, err := c.networkOfferingByID(tx, id)
		if err != nil {
			return err
		}
		if o.IsDefault {
			return ErrParam("Default network offering can't be deleted")
		}
		n, err := db.CountNetworksUsingOffering(c.Ctx, tx, o.ID)
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrParam("Can't delete network offering %s as its used by %d networks. To make the network offering unavaiable, disable it", o.ID, n)
		}
		if err := db.RemoveNetworkOffering(c.Ctx, tx, o.ID); err != nil {
			return err
		}
		return c.Event(tx, "NETWORK.OFFERING.DELETE", "Deleting network offering "+o.Name, "NetworkOffering", o.ID)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}

func (c *Call) renderVPCOffering(o *db.VPCOffering) map[string]any {
	m := map[string]any{"id": o.ID, "name": o.Name, "displaytext": o.DisplayText, "isdefault": o.IsDefault, "state": o.State,
		"distributedvpcrouter": o.DistributedRouter, "supportsregionLevelvpc": o.RegionLevel, "fornsx": false, "specifyasnumber": false,
		"created": FormatTime(o.Created), "internetprotocol": "IPv4", "service": renderServices(o.Services, nil)}
	if strings.EqualFold(o.InternetProtocol, "dualstack") {
		m["internetprotocol"] = "DualStack"
	}
	c.renderRestriction(m, o.DomainIDs, o.ZoneIDs)
	return m
}

func listVPCOfferings(c *Call) (any, error) {
	f := db.VPCOfferingFilter{ID: c.lowerID("id"), Name: c.P.String("name"), Keyword: c.P.String("keyword"),
		DisplayText: c.P.String("displaytext"), IsDefault: boolFilter(c, "isdefault")}
	if v := strings.TrimSpace(c.P.String("state")); v != "" {
		st, ok := canonical([]string{"Enabled", "Disabled"}, v)
		if !ok {
			return nil, ErrParam("Invalid state %s: use Enabled or Disabled", v)
		}
		f.State = st
	}
	var want []string
	for _, s := range c.P.List("supportedservices") {
		svc, ok := canonical(networkServices, s)
		if !ok {
			return nil, ErrParam("Invalid service %s", s)
		}
		want = append(want, svc)
	}
	domainFilter, err := c.listDomainFilter()
	if err != nil {
		return nil, err
	}
	list, err := db.ListVPCOfferings(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	var lists [][]string
	for _, o := range list {
		lists = append(lists, o.DomainIDs)
	}
	vis, err := c.newOfferingVisibility(lists...)
	if err != nil {
		return nil, err
	}
	zoneID := c.lowerID("zoneid")
	var items []any
	for _, o := range list {
		if !vis.visible(o.DomainIDs) || !inZones(o.ZoneIDs, zoneID) {
			continue
		}
		if domainFilter != "" && !slices.Contains(o.DomainIDs, domainFilter) {
			continue
		}
		missing := false
		for _, s := range want {
			if _, ok := o.Services[s]; !ok {
				missing = true
			}
		}
		if missing {
			continue
		}
		items = append(items, c.renderVPCOffering(o))
	}
	return ListResult{Key: "vpcoffering", Items: c.pageItems(items), Count: len(items)}, nil
}
