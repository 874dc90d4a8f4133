package api

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/google/uuid"
)

// Network service providers and their elements.

// providerSpec describes a network service provider Atoll implements: its services, whether
// they can be enabled one by one, and the type of its element (CloudStack's
// virtual_router_providers) that must be enabled before the provider can be.
type providerSpec struct {
	name       string
	services   []string
	individual bool
	element    string
}

var providerSpecs = []providerSpec{
	{"VirtualRouter", []string{"Vpn", "Dhcp", "Dns", "Firewall", "Lb", "UserData", "SourceNat", "StaticNat", "PortForwarding", "Gateway"}, true, elemVirtualRouter},
	{"VpcVirtualRouter", []string{"Vpn", "Dhcp", "Dns", "Lb", "UserData", "SourceNat", "StaticNat", "PortForwarding", "NetworkACL", "Gateway"}, true, elemVPCVirtualRouter},
	{"InternalLbVm", []string{"Lb"}, false, elemInternalLbVm},
	{"ConfigDrive", []string{"UserData", "Dhcp", "Dns"}, false, ""},
	{"SecurityGroupProvider", []string{"SecurityGroup"}, false, ""},
}

// Element types.
const (
	elemVirtualRouter    = "VirtualRouter"
	elemVPCVirtualRouter = "VPCVirtualRouter"
	elemInternalLbVm     = "InternalLbVm"
)

func providerByName(name string) *providerSpec {
	for i := range providerSpecs {
		if strings.EqualFold(providerSpecs[i].name, strings.TrimSpace(name)) {
			return &providerSpecs[i]
		}
	}
	return nil
}

// defaultProviders are the providers a new physical network gets, as CloudStack does: the
// VirtualRouter, VpcVirtualRouter, InternalLbVm and ConfigDrive providers (and
// SecurityGroupProvider in a zone with security groups), all Disabled, with a disabled
// element for each router-like provider (network.CreatePhysical).
func defaultProviders() []network.Provider {
	out := make([]network.Provider, len(providerSpecs))
	for i, sp := range providerSpecs {
		out[i] = network.Provider{Name: sp.name, Services: sp.services, Element: sp.element}
	}
	return out
}

// insertProvider adds a Disabled provider and its element (network.InsertProvider).
func (c *Call) insertProvider(tx db.Tx, pnID string, sp *providerSpec, services []string, dest string) (*db.ServiceProvider, error) {
	return network.InsertProvider(c.Ctx, tx, pnID, network.Provider{Name: sp.name, Services: services, Element: sp.element}, dest)
}

func registerServiceProviders(s *Server) {
	s.Reg.Add(&Command{Name: "listNetworkServiceProviders", Response: networkServiceProviderResponse, Roles: Admin, List: true, ResponseKey: "networkserviceprovider",
		Description: "Lists network serviceproviders for a given physical network.",
		Params: []Param{
			{Name: "physicalnetworkid", Type: TUUID, Description: "the Physical Network ID"},
			{Name: "name", Type: TString, Description: "list providers by name"},
			{Name: "state", Type: TString, Description: "list providers by state"},
		},
		Handler: listServiceProviders})
	s.Reg.Add(&Command{Name: "addNetworkServiceProvider", Response: networkServiceProviderResponse, Roles: Admin, Async: true, ResponseKey: "networkserviceprovider",
		Description: "Adds a network serviceProvider to a physical network",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Description: "the name for the physical network service provider"},
			{Name: "physicalnetworkid", Type: TUUID, Required: true, Description: "the Physical Network ID to add the provider to"},
			{Name: "destinationphysicalnetworkid", Type: TUUID, Description: "the destination Physical Network ID to bridge to"},
			{Name: "servicelist", Type: TList, Description: "the list of services to be enabled for this physical network service provider"},
		},
		Handler: addServiceProvider, Job: serviceProviderJob})
	s.Reg.Add(&Command{Name: "updateNetworkServiceProvider", Response: networkServiceProviderResponse, Roles: Admin, Async: true, ResponseKey: "networkserviceprovider",
		Description: "Updates a network serviceProvider of a physical network",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "network service provider id"},
			{Name: "state", Type: TString, Description: "Enabled/Disabled/Shutdown the physical network service provider"},
			{Name: "servicelist", Type: TList, Description: "the list of services to be enabled for this physical network service provider"},
		},
		Handler: updateServiceProviderStart, Job: updateServiceProviderJob})
	s.Reg.Add(&Command{Name: "deleteNetworkServiceProvider", Response: successResponse, Roles: Admin, Async: true,
		Description: "Deletes a Network Service Provider.",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the ID of the network service provider"}},
		Handler:     deleteServiceProviderStart, Job: deleteServiceProviderJob})
	elementCommands(s, "VirtualRouter", "virtualrouterelement", []string{elemVirtualRouter, elemVPCVirtualRouter})
	elementCommands(s, "InternalLoadBalancer", "internalloadbalancerelement", []string{elemInternalLbVm})
	s.Reg.Add(&Command{Name: "createVirtualRouterElement", Response: routerElementResponse, Roles: Admin, Async: true, ResponseKey: "virtualrouterelement",
		Description: "Create a virtual router element.",
		Params: []Param{
			{Name: "nspid", Type: TUUID, Required: true, Description: "the network service provider ID of the virtual router element"},
			{Name: "providertype", Type: TString, Description: "The provider type. Supported types are VirtualRouter (default) and VPCVirtualRouter"},
		},
		Handler: createRouterElement, Job: func(c *Call, j *db.Job) (any, error) {
			return c.routerElementObject(j.InstanceID, "virtualrouterelement")
		}})
}

func renderServiceProvider(p *db.ServiceProvider) map[string]any {
	services := []string{}
	if p.Services != "" {
		services = strings.Split(p.Services, ",")
	}
	m := map[string]any{"id": p.ID, "name": p.Name, "physicalnetworkid": p.PhysicalNetworkID, "state": p.State,
		"servicelist": services, "canenableindividualservice": false}
	if sp := providerByName(p.Name); sp != nil {
		m["canenableindividualservice"] = sp.individual
	}
	set(m, "destinationphysicalnetworkid", p.DestinationPhysicalNetworkID)
	return m
}

func (c *Call) serviceProviderByID(q db.Querier, id string) (*db.ServiceProvider, error) {
	p, err := db.GetServiceProvider(c.Ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Network Service Provider id=%s doesn't exist in the system", id)
	}
	return p, err
}

func listServiceProviders(c *Call) (any, error) {
	f := db.ServiceProviderFilter{PhysicalNetworkID: c.lowerID("physicalnetworkid"), Name: c.P.String("name"), State: c.P.String("state"),
		Keyword: c.P.String("keyword")}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListServiceProviders(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, p := range list {
		items = append(items, renderServiceProvider(p))
	}
	return ListResult{Key: "networkserviceprovider", Items: items, Count: total}, nil
}

// parseServiceList checks servicelist against what the provider offers, in canonical spelling.
func (c *Call) parseServiceList(sp *providerSpec) ([]string, error) {
	var out []string
	for _, s := range c.P.List("servicelist") {
		i := slices.IndexFunc(sp.services, func(x string) bool { return strings.EqualFold(x, s) })
		if i < 0 {
			return nil, ErrParam("Invalid servicelist: %s provider cannot provide the service %s (it offers %s)", sp.name, s, strings.Join(sp.services, ", "))
		}
		if !slices.Contains(out, sp.services[i]) {
			out = append(out, sp.services[i])
		}
	}
	if c.P.Has("servicelist") && !sp.individual && len(out) != len(sp.services) {
		return nil, ErrParam("Cannot enable subset of Services (servicelist), Please specify the complete list of Services for this Service Provider '%s': %s",
			sp.name, strings.Join(sp.services, ","))
	}
	return out, nil
}

func addServiceProvider(c *Call) (any, error) {
	sp := providerByName(c.P.String("name"))
	if sp == nil {
		return nil, ErrParam("Unable to find the Network Element implementing the Service Provider '%s' (name); Atoll implements %s",
			c.P.String("name"), providerNames())
	}
	services, err := c.parseServiceList(sp)
	if err != nil {
		return nil, err
	}
	if !c.P.Has("servicelist") {
		services = sp.services
	}
	pnID, dest := c.lowerID("physicalnetworkid"), c.lowerID("destinationphysicalnetworkid")
	var jobID, id string
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		pn, err := c.physicalNetworkByID(tx, pnID)
		if err != nil {
			return err
		}
		if dest != "" {
			if _, err := c.physicalNetworkByID(tx, dest); err != nil {
				return err
			}
		}
		p, err := c.insertProvider(tx, pn.ID, sp, services, dest)
		if err != nil {
			return err
		}
		id = p.ID
		if err := c.Event(tx, "SERVICE.PROVIDER.CREATE", "Adding provider "+sp.name+" to physical network "+pn.Name, "PhysicalNetworkServiceProvider", p.ID); err != nil {
			return err
		}
		jobID, err = c.EnqueueJob(tx, "PhysicalNetworkServiceProvider", p.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: id}, nil
}

func providerNames() string {
	names := make([]string, len(providerSpecs))
	for i, sp := range providerSpecs {
		names[i] = sp.name
	}
	return strings.Join(names, ", ")
}

func serviceProviderJob(c *Call, j *db.Job) (any, error) {
	p, err := c.serviceProviderByID(c.S.DB.Read(), j.InstanceID)
	if err != nil {
		return nil, err
	}
	return Object{Key: "networkserviceprovider", Value: renderServiceProvider(p)}, nil
}

func updateServiceProviderStart(c *Call) (any, error) {
	p, err := c.serviceProviderByID(c.S.DB.Read(), c.lowerID("id"))
	if err != nil {
		return nil, err
	}
	if err := c.checkProviderUpdate(p); err != nil {
		return nil, err
	}
	return c.StartJob("PhysicalNetworkServiceProvider", p.ID)
}

// checkProviderUpdate validates updateNetworkServiceProvider's state and servicelist.
func (c *Call) checkProviderUpdate(p *db.ServiceProvider) error {
	if v := c.P.String("state"); v != "" {
		st, err := parseChoice("state", v, pnEnabled, pnDisabled, "Shutdown")
		if err != nil {
			return err
		}
		if st == "Shutdown" {
			return ErrParam("Updating the provider state to 'Shutdown' is not supported (state)")
		}
	}
	if c.P.Has("servicelist") {
		sp := providerByName(p.Name)
		if sp == nil || !sp.individual {
			return ErrParam("Cannot update set of Services (servicelist) for this Service Provider '%s'", p.Name)
		}
		if _, err := c.parseServiceList(sp); err != nil {
			return err
		}
	}
	return nil
}

func updateServiceProviderJob(c *Call, j *db.Job) (any, error) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		p, err := c.serviceProviderByID(tx, j.InstanceID)
		if err != nil {
			return err
		}
		if err := c.checkProviderUpdate(p); err != nil {
			return err
		}
		sp := providerByName(p.Name)
		if c.P.Has("servicelist") {
			services, _ := c.parseServiceList(sp)
			p.Services = strings.Join(services, ",")
		}
		if v := c.P.String("state"); v != "" {
			p.State, _ = parseChoice("state", v, pnEnabled, pnDisabled)
			if p.State == pnEnabled && sp != nil && sp.element != "" {
				// CloudStack's element.isReady: a router-like provider needs its element enabled.
				on := true
				if _, n, err := db.ListRouterElements(c.Ctx, tx, db.RouterElementFilter{NSPID: p.ID, Enabled: &on, Limit: 1}); err != nil {
					return err
				} else if n == 0 {
					cmd := "configureVirtualRouterElement"
					if sp.element == elemInternalLbVm {
						cmd = "configureInternalLoadBalancerElement"
					}
					return ErrParam("Provider %s is not ready, cannot Enable the provider, please configure the provider first: enable its element (%s)", p.Name, cmd)
				}
			}
		}
		if err := db.UpdateServiceProvider(c.Ctx, tx, p); err != nil {
			return err
		}
		return c.Event(tx, "SERVICE.PROVIDER.UPDATE", "Updating provider "+p.Name+" to state "+p.State, "PhysicalNetworkServiceProvider", p.ID)
	})
	if err != nil {
		return nil, err
	}
	return serviceProviderJob(c, j)
}

func deleteServiceProviderStart(c *Call) (any, error) {
	p, err := c.serviceProviderByID(c.S.DB.Read(), c.lowerID("id"))
	if err != nil {
		return nil, err
	}
	return c.StartJob("PhysicalNetworkServiceProvider", p.ID)
}

func deleteServiceProviderJob(c *Call, j *db.Job) (any, error) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		p, err := db.GetServiceProvider(c.Ctx, tx, j.InstanceID)
		if errors.Is(err, db.ErrNotFound) {
			return nil // an earlier run of this job removed it
		}
		if err != nil {
			return err
		}
		if err := db.RemoveServiceProvider(c.Ctx, tx, p.ID); err != nil {
			return err
		}
		return c.Event(tx, "SERVICE.PROVIDER.DELETE", "Deleting provider "+p.Name, "PhysicalNetworkServiceProvider", p.ID)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}

// elementCommands registers list<Kind>Elements and configure<Kind>Element over the elements of
// the given types, rendered under key.
func elementCommands(s *Server, kind, key string, types []string) {
	s.Reg.Add(&Command{Name: "list" + kind + "Elements", Response: routerElementResponse, Roles: Admin, List: true, ResponseKey: key,
		Description: "Lists all available " + kind + " elements.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "list elements by id"},
			{Name: "nspid", Type: TUUID, Description: "list elements by network service provider id"},
			{Name: "enabled", Type: TBool, Description: "list network offerings by enabled state"},
		},
		Handler: func(c *Call) (any, error) {
			f := db.RouterElementFilter{ID: c.lowerID("id"), NSPID: c.lowerID("nspid"), Types: types}
			if b, ok := c.P.Bool("enabled"); ok {
				f.Enabled = &b
			}
			f.Limit, f.Offset = c.P.Paging()
			list, total, err := db.ListRouterElements(c.Ctx, c.S.DB.Read(), f)
			if err != nil {
				return nil, err
			}
			items := make([]any, 0, len(list))
			for _, e := range list {
				items = append(items, map[string]any{"id": e.ID, "nspid": e.NSPID, "enabled": e.Enabled})
			}
			return ListResult{Key: key, Items: items, Count: total}, nil
		}})
	s.Reg.Add(&Command{Name: "configure" + kind + "Element", Response: routerElementResponse, Roles: Admin, Async: true, ResponseKey: key,
		Description: "Configures a " + kind + " element.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the element"},
			{Name: "enabled", Type: TBool, Required: true, Description: "Enabled/Disabled the service provider"},
		},
		Handler: func(c *Call) (any, error) {
			list, _, err := db.ListRouterElements(c.Ctx, c.S.DB.Read(), db.RouterElementFilter{ID: c.lowerID("id"), Types: types})
			if err != nil {
				return nil, err
			}
			if len(list) == 0 {
				return nil, ErrParam("Unable to find %s element by id %s", kind, c.lowerID("id"))
			}
			return c.StartJob(kind+"Element", list[0].ID)
		},
		Job: func(c *Call, j *db.Job) (any, error) {
			enabled, _ := c.P.Bool("enabled")
			err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
				if err := db.SetRouterElementEnabled(c.Ctx, tx, j.InstanceID, enabled); err != nil {
					if errors.Is(err, db.ErrConflict) {
						return ErrParam("Unable to find %s element by id %s", kind, j.InstanceID)
					}
					return err
				}
				return c.Event(tx, "NETWORK.ELEMENT.CONFIGURE", fmt.Sprintf("Configuring %s element: enabled=%t", kind, enabled), kind+"Element", j.InstanceID)
			})
			if err != nil {
				return nil, err
			}
			return c.routerElementObject(j.InstanceID, key)
		}})
}

func (c *Call) routerElementObject(id, key string) (any, error) {
	list, _, err := db.ListRouterElements(c.Ctx, c.S.DB.Read(), db.RouterElementFilter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrParam("Unable to find element by id %s", id)
	}
	e := list[0]
	return Object{Key: key, Value: map[string]any{"id": e.ID, "nspid": e.NSPID, "enabled": e.Enabled}}, nil
}

// createRouterElement adds the element of a VirtualRouter or VpcVirtualRouter provider; the
// providers Atoll creates come with theirs, so for them it answers the existing element.
func createRouterElement(c *Call) (any, error) {
	typ := elemVirtualRouter
	if v := c.P.String("providertype"); v != "" {
		var err error
		if typ, err = parseChoice("providertype", v, elemVirtualRouter, elemVPCVirtualRouter); err != nil {
			return nil, err
		}
	}
	nspID := c.lowerID("nspid")
	var jobID, id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		p, err := c.serviceProviderByID(tx, nspID)
		if err != nil {
			return err
		}
		if sp := providerByName(p.Name); sp == nil || sp.element != typ {
			return ErrParam("Provider %s (nspid) does not take a %s element (providertype)", p.Name, typ)
		}
		list, _, err := db.ListRouterElements(c.Ctx, tx, db.RouterElementFilter{NSPID: p.ID})
		if err != nil {
			return err
		}
		if len(list) > 0 {
			id = list[0].ID
		} else {
			e := &db.RouterElement{ID: uuid.NewString(), NSPID: p.ID, Type: typ, Created: db.Now()}
			if err := db.InsertRouterElement(c.Ctx, tx, e); err != nil {
				return err
			}
			id = e.ID
			if err := c.Event(tx, "SERVICE.PROVIDER.CREATE", "Creating "+typ+" element of provider "+p.Name, "VirtualRouterElement", e.ID); err != nil {
				return err
			}
		}
		jobID, err = c.EnqueueJob(tx, "VirtualRouterElement", id)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: id}, nil
}
