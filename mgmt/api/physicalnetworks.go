package api

import (
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/google/uuid"
)

// Traffic types a physical network can carry.
const (
	trafficGuest      = network.TrafficGuest
	trafficPublic     = network.TrafficPublic
	trafficManagement = network.TrafficManagement
	trafficStorage    = network.TrafficStorage
)

// Physical network states and isolation methods (Atoll's network layer does VLAN and VXLAN).
const (
	pnEnabled  = network.PhysicalEnabled
	pnDisabled = network.PhysicalDisabled
	isoVLAN    = network.IsoVLAN
	isoVXLAN   = network.IsoVXLAN
)

func registerPhysicalNetworks(s *Server) {
	id := func(desc string) Param { return Param{Name: "id", Type: TUUID, Required: true, Description: desc} }
	labels := []Param{
		{Name: "kvmnetworklabel", Type: TString, Description: "The network name label of the physical device dedicated to this traffic on a KVM host"},
		{Name: "xennetworklabel", Type: TString, Description: "The network name label of the physical device dedicated to this traffic on a XenServer host"},
		{Name: "vmwarenetworklabel", Type: TString, Description: "The network name label of the physical device dedicated to this traffic on a VMware host"},
		{Name: "hypervnetworklabel", Type: TString, Description: "The network name label of the physical device dedicated to this traffic on a Hyperv host"},
		{Name: "ovm3networklabel", Type: TString, Description: "The network name of the physical device dedicated to this traffic on an OVM3 host"},
	}
	s.Reg.Add(&Command{Name: "listPhysicalNetworks", Response: physicalNetworkResponse, Roles: Admin, List: true, ResponseKey: "physicalnetwork",
		Description: "Lists physical networks",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "list physical network by id"},
			{Name: "zoneid", Type: TUUID, Description: "the Zone ID for the physical network"},
			{Name: "name", Type: TString, Description: "search by name"},
		},
		Handler: listPhysicalNetworks})
	s.Reg.Add(&Command{Name: "createPhysicalNetwork", Response: physicalNetworkResponse, Roles: Admin, Async: true, ResponseKey: "physicalnetwork",
		Description: "Creates a physical network",
		Params: []Param{
			{Name: "zoneid", Type: TUUID, Required: true, Description: "the Zone ID for the physical network"},
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name of the physical network"},
			{Name: "isolationmethods", Type: TList, Description: "the isolation method for the physical network[VLAN/VXLAN]"},
			{Name: "vlan", Type: TString, Description: "the VLAN for the physical network"},
			{Name: "broadcastdomainrange", Type: TString, Description: "the broadcast domain range for the physical network[Pod or Zone]. In Advanced Zone, default is Zone. In Basic Zone, default is Pod"},
			{Name: "networkspeed", Type: TString, Description: "the speed for the physical network[1G/10G]"},
			{Name: "tags", Type: TList, Description: "Tag the physical network"},
			{Name: "domainid", Type: TUUID, Description: "domain ID of the account owning a physical network"},
			{Name: "state", Type: TString, Description: "Enabled/Disabled (default Disabled). Atoll's addition: CloudStack ignores it on create, so Ansible's cs_physical_network needed a second run to enable the network"},
		},
		Handler: createPhysicalNetwork, Job: physicalNetworkJob})
	s.Reg.Add(&Command{Name: "updatePhysicalNetwork", Response: physicalNetworkResponse, Roles: Admin, Async: true, ResponseKey: "physicalnetwork",
		Description: "Updates a physical network",
		Params: []Param{id("physical network id"),
			{Name: "state", Type: TString, Description: "Enabled/Disabled"},
			{Name: "vlan", Type: TString, Description: "the VLAN for the physical network"},
			{Name: "tags", Type: TList, Description: "Tag the physical network"},
			{Name: "networkspeed", Type: TString, Description: "the speed for the physical network[1G/10G]"},
		},
		Handler: updatePhysicalNetworkStart, Job: updatePhysicalNetworkJob})
	s.Reg.Add(&Command{Name: "deletePhysicalNetwork", Response: successResponse, Roles: Admin, Async: true,
		Description: "Deletes a Physical Network.",
		Params:      []Param{id("the ID of the Physical network")},
		Handler:     deletePhysicalNetworkStart, Job: deletePhysicalNetworkJob})

	s.Reg.Add(&Command{Name: "listTrafficTypes", Response: trafficTypeResponse, Roles: Admin, List: true, ResponseKey: "traffictype",
		Description: "Lists traffic types of a given physical network.",
		Params:      []Param{{Name: "physicalnetworkid", Type: TUUID, Required: true, Description: "the Physical Network ID"}},
		Handler:     listTrafficTypes})
	s.Reg.Add(&Command{Name: "addTrafficType", Response: trafficTypeResponse, Roles: Admin, Async: true, ResponseKey: "traffictype",
		Description: "Adds traffic type to a physical network",
		Params: append([]Param{
			{Name: "physicalnetworkid", Type: TUUID, Required: true, Description: "the Physical Network ID"},
			{Name: "traffictype", Type: TString, Required: true, Description: "the trafficType to be added to the physical network"},
			{Name: "isolationmethod", Type: TString, Description: "Used if physical network has multiple isolation types and traffic type is public. Choose which isolation method. Valid options currently 'vlan' or 'vxlan', defaults to 'vlan'."},
			{Name: "vlan", Type: TString, Description: "The VLAN id to be used for Management traffic by the host"},
		}, labels...),
		Handler: addTrafficType, Job: trafficTypeJob})
	s.Reg.Add(&Command{Name: "updateTrafficType", Response: trafficTypeResponse, Roles: Admin, Async: true, ResponseKey: "traffictype",
		Description: "Updates traffic type of a physical network",
		Params:      append([]Param{id("traffic type id")}, labels...),
		Handler:     updateTrafficTypeStart, Job: updateTrafficTypeJob})
	s.Reg.Add(&Command{Name: "deleteTrafficType", Response: successResponse, Roles: Admin, Async: true, ResponseKey: "traffictype",
		Description: "Deletes traffic type of a physical network",
		Params:      []Param{id("traffic type id")},
		Handler:     deleteTrafficTypeStart, Job: deleteTrafficTypeJob})
	registerServiceProviders(s)
}

// Guest VLAN/VNI ranges of physical networks: their bounds, parsing and checks are
// orchestrate/network's.
var (
	isolationOf      = network.IsolationOf
	parseVnetRanges  = network.ParseVnetRanges
	formatVnetRanges = network.FormatVnetRanges
)

func renderPhysicalNetwork(n *db.PhysicalNetwork) map[string]any {
	m := map[string]any{"id": n.ID, "name": n.Name, "zoneid": n.ZoneID, "zonename": n.ZoneName, "state": n.State,
		"broadcastdomainrange": n.BroadcastDomainRange}
	set(m, "isolationmethods", n.IsolationMethods)
	set(m, "vlan", n.Vlan)
	set(m, "networkspeed", n.NetworkSpeed)
	set(m, "tags", n.Tags)
	set(m, "domainid", n.DomainID)
	return m
}

func (c *Call) physicalNetworkByID(q db.Querier, id string) (*db.PhysicalNetwork, error) {
	return network.PhysicalNetwork(c.Ctx, q, id)
}

func listPhysicalNetworks(c *Call) (any, error) {
	f := db.PhysicalNetworkFilter{ID: c.lowerID("id"), ZoneID: c.lowerID("zoneid"), Name: c.P.String("name"), Keyword: c.P.String("keyword")}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListPhysicalNetworks(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, n := range list {
		items = append(items, renderPhysicalNetwork(n))
	}
	return ListResult{Key: "physicalnetwork", Items: items, Count: total}, nil
}

// singleTag reads the tags parameter: at most one tag (CloudStack's limit).
func (c *Call) singleTag() (string, error) {
	tags := c.P.List("tags")
	if len(tags) > 1 {
		return "", ErrParam("Only one tag can be specified for a physical network at this time (tags=%s)", c.P.String("tags"))
	}
	if len(tags) == 0 {
		return "", nil
	}
	return tags[0], nil
}

func createPhysicalNetwork(c *Call) (any, error) {
	pn := &db.PhysicalNetwork{ID: uuid.NewString(), ZoneID: c.lowerID("zoneid"), Name: strings.TrimSpace(c.P.String("name")),
		State: pnDisabled, NetworkSpeed: strings.TrimSpace(c.P.String("networkspeed")), Created: db.Now()}
	if v := c.P.String("state"); v != "" {
		st, err := parseChoice("state", v, pnEnabled, pnDisabled)
		if err != nil {
			return nil, err
		}
		pn.State = st
	}
	methods := c.P.List("isolationmethods")
	if len(methods) > 1 {
		return nil, ErrParam("Only one isolationMethod can be specified for a physical network at this time (isolationmethods=%s)", c.P.String("isolationmethods"))
	}
	if len(methods) == 1 {
		m, err := parseChoice("isolationmethods", methods[0], isoVLAN, isoVXLAN)
		if err != nil {
			return nil, err
		}
		pn.IsolationMethods = m
	}
	var err error
	if pn.Tags, err = c.singleTag(); err != nil {
		return nil, err
	}
	if id := c.lowerID("domainid"); id != "" {
		d, err := c.DomainForScope(id)
		if err != nil {
			return nil, err
		}
		pn.DomainID = d.ID
	}
	ranges, err := parseVnetRanges("vlan", c.P.String("vlan"), isolationOf(pn))
	if err != nil {
		return nil, err
	}
	pn.Vlan = formatVnetRanges(ranges)
	jobID, err := network.CreatePhysical(c.Ctx, c.deps(), c.actor(), network.PhysicalSpec{Network: pn, Ranges: ranges,
		BroadcastDomainRange: c.P.String("broadcastdomainrange"), Providers: defaultProviders()})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: pn.ID}, nil
}

func physicalNetworkJob(c *Call, j *db.Job) (any, error) {
	pn, err := c.physicalNetworkByID(c.S.DB.Read(), j.InstanceID)
	if err != nil {
		return nil, err
	}
	return Object{Key: "physicalnetwork", Value: renderPhysicalNetwork(pn)}, nil
}

func updatePhysicalNetworkStart(c *Call) (any, error) {
	pn, err := c.physicalNetworkByID(c.S.DB.Read(), c.lowerID("id"))
	if err != nil {
		return nil, err
	}
	if v := c.P.String("state"); v != "" {
		if _, err := parseChoice("state", v, pnEnabled, pnDisabled); err != nil {
			return nil, err
		}
	}
	if _, err := c.singleTag(); err != nil {
		return nil, err
	}
	if c.P.Has("vlan") {
		if pn.ZoneNetworkType == zoneBasic && strings.TrimSpace(c.P.String("vlan")) != "" {
			return nil, ErrParam("Can't add vnet range (vlan) to the physical network in the Basic zone %s", pn.ZoneName)
		}
		if _, err := parseVnetRanges("vlan", c.P.String("vlan"), isolationOf(pn)); err != nil {
			return nil, err
		}
	}
	return c.StartJob("PhysicalNetwork", pn.ID)
}

func updatePhysicalNetworkJob(c *Call, j *db.Job) (any, error) {
	var u network.PhysicalUpdate
	if v := c.P.String("state"); v != "" {
		st, err := parseChoice("state", v, pnEnabled, pnDisabled)
		if err != nil {
			return nil, err
		}
		u.State = st
	}
	if c.P.Has("networkspeed") {
		v := strings.TrimSpace(c.P.String("networkspeed"))
		u.NetworkSpeed = &v
	}
	if c.P.Has("tags") {
		tag, err := c.singleTag()
		if err != nil {
			return nil, err
		}
		u.Tags = &tag
	}
	if c.P.Has("vlan") {
		v := c.P.String("vlan")
		u.Vlan = &v
	}
	pn, err := network.UpdatePhysical(c.Ctx, c.deps(), c.actor(), j.InstanceID, u)
	if err != nil {
		return nil, err
	}
	return Object{Key: "physicalnetwork", Value: renderPhysicalNetwork(pn)}, nil
}

func deletePhysicalNetworkStart(c *Call) (any, error) {
	pn, err := c.physicalNetworkByID(c.S.DB.Read(), c.lowerID("id"))
	if err != nil {
		return nil, err
	}
	return c.StartJob("PhysicalNetwork", pn.ID)
}

func deletePhysicalNetworkJob(c *Call, j *db.Job) (any, error) {
	if err := network.DeletePhysical(c.Ctx, c.deps(), c.actor(), j.InstanceID); err != nil {
		return nil, err
	}
	return Success(), nil
}

// Traffic types.

func renderTrafficType(t *db.TrafficType) map[string]any {
	m := map[string]any{"id": t.ID, "traffictype": t.TrafficType, "physicalnetworkid": t.PhysicalNetworkID}
	set(m, "kvmnetworklabel", t.KVMLabel)
	set(m, "xennetworklabel", t.XenLabel)
	set(m, "vmwarenetworklabel", t.VMwareLabel)
	set(m, "hypervnetworklabel", t.HyperVLabel)
	set(m, "ovm3networklabel", t.OVM3Label)
	set(m, "vlan", t.Vlan)
	set(m, "isolationmethods", t.IsolationMethods)
	return m
}

func (c *Call) trafficTypeByID(q db.Querier, id string) (*db.TrafficType, error) {
	return network.TrafficType(c.Ctx, q, id)
}

func listTrafficTypes(c *Call) (any, error) {
	pn, err := c.physicalNetworkByID(c.S.DB.Read(), c.lowerID("physicalnetworkid"))
	if err != nil {
		return nil, err
	}
	f := db.TrafficTypeFilter{PhysicalNetworkID: pn.ID, Keyword: c.P.String("keyword")}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListTrafficTypes(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, t := range list {
		items = append(items, renderTrafficType(t))
	}
	return ListResult{Key: "traffictype", Items: items, Count: total}, nil
}

// applyLabels sets the labels that were sent; an empty label clears it.
func (c *Call) applyLabels(t *db.TrafficType) {
	for _, l := range []struct {
		param string
		dst   *string
	}{{"kvmnetworklabel", &t.KVMLabel}, {"xennetworklabel", &t.XenLabel}, {"vmwarenetworklabel", &t.VMwareLabel},
		{"hypervnetworklabel", &t.HyperVLabel}, {"ovm3networklabel", &t.OVM3Label}} {
		if c.P.Has(l.param) {
			*l.dst = strings.TrimSpace(c.P.String(l.param))
		}
	}
}

func addTrafficType(c *Call) (any, error) {
	typ, err := parseChoice("traffictype", c.P.String("traffictype"), trafficGuest, trafficPublic, trafficManagement, trafficStorage)
	if err != nil {
		return nil, err
	}
	t := &db.TrafficType{ID: uuid.NewString(), PhysicalNetworkID: c.lowerID("physicalnetworkid"), TrafficType: typ, Created: db.Now()}
	c.applyLabels(t)
	if v := c.P.String("isolationmethod"); v != "" {
		if t.IsolationMethod, err = parseChoice("isolationmethod", v, isoVLAN, isoVXLAN); err != nil {
			return nil, err
		}
	}
	if v := strings.TrimSpace(c.P.String("vlan")); v != "" {
		_, id, err := network.NormalizeVlanTag(v, isoVLAN)
		if err != nil {
			return nil, err
		}
		t.Vlan = "untagged"
		if id > 0 {
			t.Vlan = strconv.FormatInt(id, 10)
		}
	}
	jobID, err := network.AddTrafficType(c.Ctx, c.deps(), c.actor(), t)
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: t.ID}, nil
}

func trafficTypeJob(c *Call, j *db.Job) (any, error) {
	t, err := c.trafficTypeByID(c.S.DB.Read(), j.InstanceID)
	if err != nil {
		return nil, err
	}
	return Object{Key: "traffictype", Value: renderTrafficType(t)}, nil
}

func updateTrafficTypeStart(c *Call) (any, error) {
	t, err := c.trafficTypeByID(c.S.DB.Read(), c.lowerID("id"))
	if err != nil {
		return nil, err
	}
	return c.StartJob("TrafficType", t.ID)
}

func updateTrafficTypeJob(c *Call, j *db.Job) (any, error) {
	if err := network.UpdateTrafficType(c.Ctx, c.deps(), c.actor(), j.InstanceID, c.applyLabels); err != nil {
		return nil, err
	}
	return trafficTypeJob(c, j)
}

func deleteTrafficTypeStart(c *Call) (any, error) {
	t, err := c.trafficTypeByID(c.S.DB.Read(), c.lowerID("id"))
	if err != nil {
		return nil, err
	}
	return c.StartJob("TrafficType", t.ID)
}

func deleteTrafficTypeJob(c *Call, j *db.Job) (any, error) {
	if err := network.DeleteTrafficType(c.Ctx, c.deps(), c.actor(), j.InstanceID); err != nil {
		return nil, err
	}
	return Success(), nil
}
