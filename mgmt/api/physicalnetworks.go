package api

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/google/uuid"
)

// Traffic types a physical network can carry.
const (
	trafficGuest      = "Guest"
	trafficPublic     = "Public"
	trafficManagement = "Management"
	trafficStorage    = "Storage"
)

// Physical network states and isolation methods (Atoll's network layer does VLAN and VXLAN).
const (
	pnEnabled  = "Enabled"
	pnDisabled = "Disabled"
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

// Guest VLAN/VNI ranges of physical networks.

// The ranges, their bounds and parsing are orchestrate/network's (the deploy's network
// implementation uses them too).
type vnetRange = network.VnetRange

var (
	vnetBounds      = network.VnetBounds
	isolationOf     = network.IsolationOf
	parseVnetRanges = network.ParseVnetRanges
)

// formatVnetRanges renders ranges as CloudStack does: "500-1000,2000-2000".
func formatVnetRanges(rs []vnetRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d-%d", r.Lo, r.Hi)
	}
	return strings.Join(parts, ",")
}

func vnetCount(rs []vnetRange) int64 {
	var n int64
	for _, r := range rs {
		n += r.Hi - r.Lo + 1
	}
	return n
}

func vnetContains(rs []vnetRange, v int64) bool {
	for _, r := range rs {
		if v >= r.Lo && v <= r.Hi {
			return true
		}
	}
	return false
}

// checkVnetOverlap refuses ranges that overlap those of another physical network of the zone
// with the same isolation method (VNIs share the zone's underlay; CloudStack checks VXLAN).
func (c *Call) checkVnetOverlap(tx db.Tx, pn *db.PhysicalNetwork, rs []vnetRange) error {
	others, _, err := db.ListPhysicalNetworks(c.Ctx, tx, db.PhysicalNetworkFilter{ZoneID: pn.ZoneID})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID == pn.ID || isolationOf(o) != isolationOf(pn) {
			continue
		}
		ors, err := parseVnetRanges("vlan", o.Vlan, isolationOf(o))
		if err != nil {
			continue
		}
		for _, a := range rs {
			for _, b := range ors {
				if a.Lo <= b.Hi && b.Lo <= a.Hi {
					return ErrParam("The vlan range %d-%d overlaps with the range %d-%d of physical network %s in zone %s; please specify a unique range",
						a.Lo, a.Hi, b.Lo, b.Hi, o.Name, pn.ZoneName)
				}
			}
		}
	}
	return nil
}

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
	n, err := db.GetPhysicalNetwork(c.Ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find physical network by id %s", id)
	}
	return n, err
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

// setVlanCapacity keeps the guest VLAN/VNI capacity of a physical network in step with its ranges.
func (c *Call) setVlanCapacity(tx db.Tx, pn *db.PhysicalNetwork, rs []vnetRange) error {
	if pn.ZoneNetworkType != zoneAdvanced {
		return nil
	}
	return db.SetCapacityTotal(c.Ctx, tx, db.Capacity{Type: db.CapVLAN, ObjectID: pn.ID, ZoneID: pn.ZoneID, Total: vnetCount(rs)})
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
	var jobID string
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		z, err := c.zoneForChange(tx, pn.ZoneID)
		if err != nil {
			return err
		}
		pn.ZoneName, pn.ZoneNetworkType = z.Name, z.NetworkType
		if z.AllocationState == allocEnabled {
			return ErrParam("Cannot create PhysicalNetwork since the Zone %s is currently enabled; disable it first", z.Name)
		}
		if z.NetworkType == zoneBasic {
			if _, n, err := db.ListPhysicalNetworks(c.Ctx, tx, db.PhysicalNetworkFilter{ZoneID: z.ID, Limit: 1}); err != nil {
				return err
			} else if n > 0 {
				return ErrParam("Cannot add the physical network to basic zone %s, there is a physical network already existing in this basic Zone", z.Name)
			}
			if pn.Vlan != "" {
				return ErrParam("Can't add vnet range (vlan) to the physical network in the Basic zone %s", z.Name)
			}
		}
		want := "ZONE"
		if z.NetworkType == zoneBasic {
			want = "POD"
		}
		pn.BroadcastDomainRange = want
		if v := c.P.String("broadcastdomainrange"); v != "" {
			got, err := parseChoice("broadcastdomainrange", v, "ZONE", "POD")
			if err != nil {
				return err
			}
			if got != want {
				return ErrParam("%s zone can have broadcastdomainrange of value %s only", z.NetworkType, want)
			}
		}
		if err := c.checkVnetOverlap(tx, pn, ranges); err != nil {
			return err
		}
		if err := db.InsertPhysicalNetwork(c.Ctx, tx, pn); err != nil {
			return err
		}
		if err := c.addDefaultProviders(tx, pn, z); err != nil {
			return err
		}
		if err := c.setVlanCapacity(tx, pn, ranges); err != nil {
			return err
		}
		if err := c.Event(tx, "PHYSICAL.NETWORK.CREATE", "Creating physical network "+pn.Name+" in zone "+z.Name, "PhysicalNetwork", pn.ID); err != nil {
			return err
		}
		jobID, err = c.EnqueueJob(tx, "PhysicalNetwork", pn.ID)
		return err
	})
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
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		pn, err := c.physicalNetworkByID(tx, j.InstanceID)
		if err != nil {
			return err
		}
		if _, err := c.zoneForChange(tx, pn.ZoneID); err != nil {
			return err
		}
		if v := c.P.String("state"); v != "" {
			if pn.State, err = parseChoice("state", v, pnEnabled, pnDisabled); err != nil {
				return err
			}
		}
		if c.P.Has("networkspeed") {
			pn.NetworkSpeed = strings.TrimSpace(c.P.String("networkspeed"))
		}
		if c.P.Has("tags") {
			if pn.Tags, err = c.singleTag(); err != nil {
				return err
			}
			if pn.Tags == "" {
				if err := c.checkUntaggedGuest(tx, pn); err != nil {
					return err
				}
			}
		}
		if c.P.Has("vlan") {
			rs, err := parseVnetRanges("vlan", c.P.String("vlan"), isolationOf(pn))
			if err != nil {
				return err
			}
			if err := c.checkVnetOverlap(tx, pn, rs); err != nil {
				return err
			}
			used, err := db.ListAllocatedVnets(c.Ctx, tx, pn.ID)
			if err != nil {
				return err
			}
			for _, v := range used {
				if !vnetContains(rs, v) {
					return ErrInUse("Physical network %s has allocated vnet %d outside the new range %s; release it before shrinking the range", pn.Name, v, formatVnetRanges(rs))
				}
			}
			pn.Vlan = formatVnetRanges(rs)
			if err := c.setVlanCapacity(tx, pn, rs); err != nil {
				return err
			}
		}
		if err := db.UpdatePhysicalNetwork(c.Ctx, tx, pn); err != nil {
			return err
		}
		return c.Event(tx, "PHYSICAL.NETWORK.UPDATE", "Updating physical network "+pn.Name, "PhysicalNetwork", pn.ID)
	})
	if err != nil {
		return nil, err
	}
	return physicalNetworkJob(c, j)
}

// checkUntaggedGuest refuses a second untagged physical network carrying Guest traffic in a
// zone: guest networks could not tell which to use (CloudStack's checkForPhysicalNetworksWithoutTag).
func (c *Call) checkUntaggedGuest(tx db.Tx, pn *db.PhysicalNetwork) error {
	carries, _, err := db.ListTrafficTypes(c.Ctx, tx, db.TrafficTypeFilter{PhysicalNetworkID: pn.ID, TrafficType: trafficGuest})
	if err != nil || len(carries) == 0 {
		return err
	}
	others, _, err := db.ListPhysicalNetworks(c.Ctx, tx, db.PhysicalNetworkFilter{ZoneID: pn.ZoneID, TrafficType: trafficGuest})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID != pn.ID && o.Tags == "" {
			return ErrParam("There are more than 1 physical network without tags carrying Guest traffic in zone %s (%s and %s): tag them", pn.ZoneName, o.Name, pn.Name)
		}
	}
	return nil
}

func deletePhysicalNetworkStart(c *Call) (any, error) {
	pn, err := c.physicalNetworkByID(c.S.DB.Read(), c.lowerID("id"))
	if err != nil {
		return nil, err
	}
	return c.StartJob("PhysicalNetwork", pn.ID)
}

func deletePhysicalNetworkJob(c *Call, j *db.Job) (any, error) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		pn, err := db.GetPhysicalNetwork(c.Ctx, tx, j.InstanceID)
		if errors.Is(err, db.ErrNotFound) {
			return nil // an earlier run of this job removed it
		}
		if err != nil {
			return err
		}
		if _, err := c.zoneForChange(tx, pn.ZoneID); err != nil {
			return err
		}
		if n, err := db.CountPhysicalNetworkNetworks(c.Ctx, tx, pn.ID); err != nil {
			return err
		} else if n > 0 {
			return ErrInUse("The Physical Network %s is not deletable because there are %d networks using it", pn.Name, n)
		}
		used, err := db.ListAllocatedVnets(c.Ctx, tx, pn.ID)
		if err != nil {
			return err
		}
		if len(used) > 0 {
			return ErrInUse("The Physical Network %s is not deletable because there are %d allocated vnets for this physical network", pn.Name, len(used))
		}
		if _, n, err := db.ListVlanRanges(c.Ctx, tx, db.VlanRangeFilter{PhysicalNetworkID: pn.ID}); err != nil {
			return err
		} else if n > 0 {
			return ErrInUse("The Physical Network %s is not deletable because there are %d IP ranges on it; delete them first", pn.Name, n)
		}
		if err := db.RemovePhysicalNetwork(c.Ctx, tx, pn.ID); err != nil {
			return err
		}
		if err := db.DeleteCapacity(c.Ctx, tx, pn.ID); err != nil {
			return err
		}
		return c.Event(tx, "PHYSICAL.NETWORK.DELETE", "Deleting physical network "+pn.Name, "PhysicalNetwork", pn.ID)
	})
	if err != nil {
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
	t, err := db.GetTrafficType(c.Ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find traffic type by id %s", id)
	}
	return t, err
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
		_, id, err := normalizeVlanTag(v, isoVLAN)
		if err != nil {
			return nil, err
		}
		t.Vlan = "untagged"
		if id > 0 {
			t.Vlan = strconv.FormatInt(id, 10)
		}
	}
	var jobID string
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		pn, err := c.physicalNetworkByID(tx, t.PhysicalNetworkID)
		if err != nil {
			return err
		}
		if _, err := c.zoneForChange(tx, pn.ZoneID); err != nil {
			return err
		}
		if t.IsolationMethod != "" && t.IsolationMethod != isolationOf(pn) {
			return ErrParam("Invalid isolationmethod %s: physical network %s is isolated by %s", t.IsolationMethod, pn.Name, isolationOf(pn))
		}
		if typ != trafficGuest {
			// Public, Management and Storage traffic each run on one physical network per zone.
			if _, n, err := db.ListTrafficTypes(c.Ctx, tx, db.TrafficTypeFilter{ZoneID: pn.ZoneID, TrafficType: typ, Limit: 1}); err != nil {
				return err
			} else if n > 0 {
				return ErrParam("Fail to add the traffic type to physical network because Zone %s already has a physical network with this traffic type: %s", pn.ZoneName, typ)
			}
		}
		if err := db.InsertTrafficType(c.Ctx, tx, t); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("This physical network (%s) already supports the traffic type: %s", pn.Name, typ)
			}
			return err
		}
		if typ == trafficGuest && pn.Tags == "" {
			if err := c.checkUntaggedGuest(tx, pn); err != nil {
				return err
			}
		}
		if err := c.Event(tx, "TRAFFIC.TYPE.CREATE", "Adding "+typ+" traffic type to physical network "+pn.Name, "TrafficType", t.ID); err != nil {
			return err
		}
		jobID, err = c.EnqueueJob(tx, "TrafficType", t.ID)
		return err
	})
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
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		t, err := c.trafficTypeByID(tx, j.InstanceID)
		if err != nil {
			return err
		}
		c.applyLabels(t)
		if err := db.UpdateTrafficTypeLabels(c.Ctx, tx, t); err != nil {
			return err
		}
		return c.Event(tx, "TRAFFIC.TYPE.UPDATE", "Updating "+t.TrafficType+" traffic type of physical network "+t.PhysicalNetworkID, "TrafficType", t.ID)
	})
	if err != nil {
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
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		t, err := db.GetTrafficType(c.Ctx, tx, j.InstanceID)
		if errors.Is(err, db.ErrNotFound) {
			return nil // an earlier run of this job removed it
		}
		if err != nil {
			return err
		}
		if _, err := c.zoneForChange(tx, t.ZoneID); err != nil {
			return err
		}
		switch t.TrafficType {
		case trafficPublic, trafficGuest:
			// Public traffic carries the public ranges; Guest the vnets and a Basic zone's ranges.
			virt := t.TrafficType == trafficPublic
			if _, n, err := db.ListVlanRanges(c.Ctx, tx, db.VlanRangeFilter{PhysicalNetworkID: t.PhysicalNetworkID, ForVirtualNetwork: &virt}); err != nil {
				return err
			} else if n > 0 {
				return ErrInUse("The %s traffic type is not deletable because there are %d IP ranges using it; delete them first", t.TrafficType, n)
			}
			if t.TrafficType == trafficGuest {
				if used, err := db.ListAllocatedVnets(c.Ctx, tx, t.PhysicalNetworkID); err != nil {
					return err
				} else if len(used) > 0 {
					return ErrInUse("The Guest traffic type is not deletable because there are %d allocated guest vnets on its physical network", len(used))
				}
			}
		}
		if err := db.RemoveTrafficType(c.Ctx, tx, t.ID); err != nil {
			return err
		}
		return c.Event(tx, "TRAFFIC.TYPE.DELETE", "Deleting "+t.TrafficType+" traffic type of physical network "+t.PhysicalNetworkID, "TrafficType", t.ID)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}
