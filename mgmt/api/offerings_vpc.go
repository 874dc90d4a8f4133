package api

import (
	"errors"
	"slices"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/google/uuid"
)

// Services a VPC offering may provide (CloudStack's VpcManagerImpl supported services).
var vpcServices = []string{"Dhcp", "Dns", "UserData", "SourceNat", "StaticNat", "PortForwarding", "Lb", "Vpn", "NetworkACL", "Gateway", "Connectivity"}

var vpcProviders = []string{"VpcVirtualRouter", "InternalLbVm", "ConfigDrive", "Netscaler", "NiciraNvp", "BigSwitchBcf", "Tungsten", "Nsx", "Netris"}

func registerVPCOfferings(s *Server) {
	s.Reg.Add(&Command{Name: "createVPCOffering", Response: vpcOfferingResponse, Roles: Admin, Async: true, ResponseKey: "vpcoffering",
		Description: "Creates VPC offering",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name of the vpc offering"},
			{Name: "displaytext", Type: TString, Required: true, Length: 4096, Description: "the display text of the vpc offering"},
			{Name: "supportedservices", Type: TList, Description: "services supported by the vpc offering"},
			{Name: "serviceproviderlist", Type: TMap, Description: "provider to service mapping: serviceproviderlist[0].service=Dhcp&serviceproviderlist[0].provider=VpcVirtualRouter"},
			{Name: "servicecapabilitylist", Type: TMap, Description: "desired service capabilities as part of vpc offering"},
			{Name: "serviceofferingid", Type: TUUID, Description: "the ID of the service offering for the VPC router appliance"},
			{Name: "domainid", Type: TList, Elem: "uuid", Description: "the IDs of the containing domains, null for public offerings"},
			{Name: "zoneid", Type: TList, Elem: "uuid", Description: "the IDs of the containing zones, null for all zones"},
			{Name: "internetprotocol", Type: TString, Description: "the internet protocol: ipv4 (default) or dualstack"},
			{Name: "enable", Type: TBool, Description: "set to true to enable the offering on creation (default false)"},
			{Name: "fornsx", Type: TBool, Description: "true if the offering is for NSX (not supported)"},
		},
		Handler: createVPCOfferingStart, Job: createVPCOfferingJob})
	s.Reg.Add(&Command{Name: "updateVPCOffering", Response: vpcOfferingResponse, Roles: Admin, Async: true, ResponseKey: "vpcoffering",
		Description: "Updates VPC offering",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the id of the VPC offering"},
			{Name: "name", Type: TString, Length: 255, Description: "the name of the VPC offering"},
			{Name: "displaytext", Type: TString, Length: 4096, Description: "the display text of the VPC offering"},
			{Name: "state", Type: TString, Description: "update state for the VPC offering: Enabled or Disabled"},
			{Name: "sortkey", Type: TInt, Description: "sort key of the VPC offering"},
			{Name: "domainid", Type: TString, Description: "the IDs of the containing domains (comma-separated), \"public\" for every domain"},
			{Name: "zoneid", Type: TString, Description: "the IDs of the containing zones (comma-separated), \"all\" for every zone"},
		},
		Handler: updateVPCOfferingStart, Job: updateVPCOfferingJob})
	s.Reg.Add(&Command{Name: "deleteVPCOffering", Response: successResponse, Roles: Admin, Async: true,
		Description: "Deletes VPC offering",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the ID of the VPC offering"}},
		Handler:     deleteVPCOfferingStart, Job: deleteVPCOfferingJob})
}

// vpcOfferingFromParams validates createVPCOffering's parameters into an offering (no id yet).
func (c *Call) vpcOfferingFromParams() (*db.VPCOffering, error) {
	o := &db.VPCOffering{Name: strings.TrimSpace(c.P.String("name")), DisplayText: c.P.String("displaytext"),
		Services: map[string][]string{}, State: "Disabled"}
	if o.Name == "" {
		return nil, ErrParam("VPC offering name is required")
	}
	o.UniqueName = o.Name
	if v, ok := c.P.Bool("fornsx"); ok && v {
		return nil, Errorf(CodeUnsupported, CSServerAPI, "NSX VPC offerings are not supported")
	}
	for _, s := range c.P.List("supportedservices") {
		svc, ok := canonical(vpcServices, s)
		if !ok {
			if _, known := canonical(networkServices, s); known {
				return nil, ErrParam("Service %s is not supported in VPC", s)
			}
			return nil, ErrParam("Invalid service %s", s)
		}
		o.Services[svc] = []string{"VpcVirtualRouter"}
	}
	provided := map[string]bool{}
	for _, m := range c.P.Map("serviceproviderlist") {
		svc, ok := canonical(vpcServices, m["service"])
		if !ok {
			return nil, ErrParam("Invalid service %s", m["service"])
		}
		if _, on := o.Services[svc]; !on {
			return nil, ErrParam("Service %s is not enabled for the VPC offering, can't add a provider to it", svc)
		}
		prv, ok := canonical(vpcProviders, m["provider"])
		if !ok {
			return nil, ErrParam("Invalid service provider: %s", m["provider"])
		}
		if !provided[svc] {
			o.Services[svc], provided[svc] = nil, true
		}
		if !slices.Contains(o.Services[svc], prv) {
			o.Services[svc] = append(o.Services[svc], prv)
		}
	}
	if len(c.P.Map("servicecapabilitylist")) > 0 {
		return nil, Errorf(CodeUnsupported, CSServerAPI, "VPC offering service capabilities are not supported")
	}
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
	return o, nil
}

func createVPCOfferingStart(c *Call) (any, error) {
	o, err := c.vpcOfferingFromParams()
	if err != nil {
		return nil, err
	}
	if l, err := db.ListVPCOfferings(c.Ctx, c.S.DB.Read(), db.VPCOfferingFilter{Name: o.Name}); err != nil {
		return nil, err
	} else if len(l) > 0 {
		return nil, ErrParam("VPC offering with name %s already exists", o.Name)
	}
	return c.StartJob("VpcOffering", "")
}

func createVPCOfferingJob(c *Call, j *db.Job) (any, error) {
	o, err := c.vpcOfferingFromParams()
	if err != nil {
		return nil, err
	}
	o.ID, o.Created = uuid.NewString(), db.Now()
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if err := db.InsertVPCOffering(c.Ctx, tx, o); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("VPC offering with name %s already exists", o.Name)
			}
			return err
		}
		return c.Event(tx, "VPC.OFFERING.CREATE", "Creating VPC offering "+o.Name, "VpcOffering", o.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.vpcOfferingObject(o.ID)
}

func (c *Call) vpcOfferingByID(q db.Querier, id string) (*db.VPCOffering, error) {
	o, err := db.GetVPCOffering(c.Ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find VPC offering by id %s", id)
	}
	return o, err
}

func (c *Call) vpcOfferingObject(id string) (any, error) {
	o, err := c.vpcOfferingByID(c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	return Object{Key: "vpcoffering", Value: c.renderVPCOffering(o)}, nil
}

func updateVPCOfferingStart(c *Call) (any, error) {
	o, err := c.vpcOfferingByID(c.S.DB.Read(), c.lowerID("id"))
	if err != nil {
		return nil, err
	}
	if v := strings.TrimSpace(c.P.String("state")); v != "" {
		if _, ok := canonical([]string{"Enabled", "Disabled"}, v); !ok {
			return nil, ErrParam("Incorrect state value: %s", v)
		}
	}
	if c.P.Has("name") && strings.TrimSpace(c.P.String("name")) == "" {
		return nil, ErrParam("VPC offering name must not be empty")
	}
	if c.P.Has("domainid") {
		if _, err := c.offeringDomains("domainid", false); err != nil {
			return nil, err
		}
	}
	if c.P.Has("zoneid") {
		if _, err := c.offeringZones("zoneid"); err != nil {
			return nil, err
		}
	}
	return c.StartJob("VpcOffering", o.ID)
}

func updateVPCOfferingJob(c *Call, _ *db.Job) (any, error) {
	id := c.lowerID("id")
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
		o, err := c.vpcOfferingByID(tx, id)
		if err != nil {
			return err
		}
		if c.P.Has("name") {
			o.Name = strings.TrimSpace(c.P.String("name"))
		}
		if c.P.Has("displaytext") {
			o.DisplayText = c.P.String("displaytext")
		}
		if v := strings.TrimSpace(c.P.String("state")); v != "" {
			o.State, _ = canonical([]string{"Enabled", "Disabled"}, v)
		}
		if v, ok := c.P.Int("sortkey"); ok {
			o.SortKey = v
		}
		if c.P.Has("domainid") {
			o.DomainIDs = domains
		}
		if c.P.Has("zoneid") {
			o.ZoneIDs = zones
		}
		if err := db.UpdateVPCOffering(c.Ctx, tx, o); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("VPC offering with name %s already exists", o.Name)
			}
			return err
		}
		return c.Event(tx, "VPC.OFFERING.UPDATE", "Updating VPC offering "+o.Name, "VpcOffering", o.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.vpcOfferingObject(id)
}

func deleteVPCOfferingStart(c *Call) (any, error) {
	o, err := c.vpcOfferingByID(c.S.DB.Read(), c.lowerID("id"))
	if err != nil {
		return nil, err
	}
	if o.IsDefault {
		return nil, ErrParam("Default VPC offering %s can't be deleted", o.Name)
	}
	return c.StartJob("VpcOffering", o.ID)
}

func deleteVPCOfferingJob(c *Call, _ *db.Job) (any, error) {
	id := c.lowerID("id")
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		o, err := db.GetVPCOffering(c.Ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil // an earlier run of this job removed it
		}
		if err != nil {
			return err
		}
		if err := db.RemoveVPCOffering(c.Ctx, tx, o.ID); err != nil {
			return err
		}
		return c.Event(tx, "VPC.OFFERING.DELETE", "Deleting VPC offering "+o.Name, "VpcOffering", o.ID)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}
