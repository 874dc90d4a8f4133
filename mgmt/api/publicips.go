package api

import (
	"net/netip"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
)

// Public IPs: associateIpAddress, disassociateIpAddress, listPublicIpAddresses,
// updateIpAddress, and static NAT (enableStaticNat, disableStaticNat). The work is
// mgmt/orchestrate/network's (publicip.go, portforward.go).

func registerPublicIPs(s *Server) {
	s.Reg.Add(&Command{Name: "associateIpAddress", Response: ipAddressResponse, Roles: AllRoles, Async: true, ResponseKey: "ipaddress",
		Description: "Acquires and associates a public IP to an account.",
		Params: []Param{
			{Name: "account", Type: TString, Description: "the account to associate with this IP address"},
			{Name: "domainid", Type: TUUID, Description: "the ID of the domain to associate with this IP address"},
			{Name: "networkid", Type: TUUID, Description: "The network this IP address should be associated to."},
			{Name: "zoneid", Type: TUUID, Description: "the ID of the availability zone you want to acquire an public IP address from"},
			{Name: "ipaddress", Type: TString, Description: "IP Address to be associated"},
			{Name: "fordisplay", Type: TBool, Description: "an optional field, whether to the display the IP to the end user or not"},
			{Name: "isportable", Type: TBool, Description: "should be set to true if public IP is required to be transferable across zones (not supported)"},
			{Name: "projectid", Type: TUUID, Description: "Deploy VM for the project (projects are not supported: refused)"},
			{Name: "regionid", Type: TInt, Description: "region ID from where portable IP is to be associated."},
			{Name: "vpcid", Type: TUUID, Description: "the VPC you want the IP address to be associated with (VPCs are not supported: refused)"},
		},
		Handler: associateIPStart, Job: associateIPJob})
	s.Reg.Add(&Command{Name: "disassociateIpAddress", Response: successResponse, Roles: AllRoles, Async: true, ResponseKey: "ipaddress",
		Description: "Disassociates an IP address from the account.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the public IP address to disassociate"},
			{Name: "ipaddress", Type: TString, Description: "IP Address to be disassociated (ignored when id is given)"},
		},
		Handler: disassociateIPStart, Job: disassociateIPJob})
	s.Reg.Add(&Command{Name: "updateIpAddress", Response: ipAddressResponse, Roles: AllRoles, Async: true, ResponseKey: "ipaddress",
		Description: "Updates an IP address",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the public IP address to update"},
			{Name: "fordisplay", Type: TBool, Description: "an optional field, whether to the display the IP to the end user or not"},
			{Name: "customid", Type: TString, Description: "an optional field, in case you want to set a custom id to the resource. Allowed to Root Admins only"},
		},
		Handler: updateIPStart, Job: updateIPJob})
	s.Reg.Add(&Command{Name: "listPublicIpAddresses", Response: ipAddressResponse, Roles: AllRoles, List: true, ResponseKey: "publicipaddress",
		Description: "Lists all public IP addresses",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "lists IP address by ID"},
			Param{Name: "ipaddress", Type: TString, Description: "lists the specified IP address"},
			Param{Name: "allocatedonly", Type: TBool, Description: "limits search results to allocated public IP addresses (default true)"},
			Param{Name: "associatednetworkid", Type: TUUID, Description: "lists all public IP addresses associated to the network specified"},
			Param{Name: "networkid", Type: TUUID, Description: "lists all public IP addresses by source network ID"},
			Param{Name: "isstaticnat", Type: TBool, Description: "list only static NAT IP addresses"},
			Param{Name: "issourcenat", Type: TBool, Description: "list only source NAT IP addresses"},
			Param{Name: "forvirtualnetwork", Type: TBool, Description: "the virtual network for the IP address"},
			Param{Name: "forsystemvms", Type: TBool, Description: "true if range is dedicated for system VMs"},
			Param{Name: "forloadbalancing", Type: TBool, Description: "list only IPs used for load balancing"},
			Param{Name: "fordisplay", Type: TBool, Description: "list resources by display flag"},
			Param{Name: "zoneid", Type: TUUID, Description: "lists all public IP addresses by zone ID"},
			Param{Name: "vlanid", Type: TUUID, Description: "lists all public IP addresses by VLAN ID"},
			Param{Name: "physicalnetworkid", Type: TUUID, Description: "lists all public IP addresses by physical network ID"},
			Param{Name: "state", Type: TString, Description: "lists all public IP addresses by state"},
			Param{Name: "vpcid", Type: TUUID, Description: "List IPs belonging to the VPC"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project"},
			tagsListParam,
		),
		Handler: listPublicIPs})
	s.Reg.Add(&Command{Name: "enableStaticNat", Response: successResponse, Roles: AllRoles,
		Description: "Enables static NAT for given IP address",
		Params: []Param{
			{Name: "ipaddressid", Type: TUUID, Required: true, Description: "the public IP address ID for which static NAT feature is being enabled"},
			{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "the ID of the virtual machine for enabling static NAT feature"},
			{Name: "networkid", Type: TUUID, Description: "The network of the VM the static NAT will be enabled for."},
			{Name: "vmguestip", Type: TString, Description: "VM guest NIC secondary IP address for the port forwarding rule"},
		},
		Handler: enableStaticNat})
	s.Reg.Add(&Command{Name: "disableStaticNat", Response: successResponse, Roles: AllRoles, Async: true, ResponseKey: "staticnat",
		Description: "Disables static rule for given IP address",
		Params: []Param{
			{Name: "ipaddressid", Type: TUUID, Required: true, Description: "the public IP address ID for which static NAT feature is being disabled"},
		},
		Handler: disableStaticNatStart, Job: disableStaticNatJob})
	RegisterTaggable("PublicIpAddress", func(c *Call, q db.Querier, id string) (string, string, error) {
		p, err := db.GetPublicAddress(c.Ctx, q, id)
		if err != nil {
			return "", "", err
		}
		if p.AccountID == "" {
			return "", "", db.ErrNotFound
		}
		return p.AccountID, p.DomainID, nil
	})
}

func associateIPStart(c *Call) (any, error) {
	if c.lowerID("vpcid") != "" {
		return nil, ErrParam("VPCs are not supported (vpcid)")
	}
	if b, _ := c.P.Bool("isportable"); b {
		return nil, ErrParam("Portable IP addresses are not supported (isportable)")
	}
	spec := network.AssociateSpec{NetworkID: c.lowerID("networkid"), ZoneID: c.lowerID("zoneid")}
	if c.P.Has("account") || c.P.Has("domainid") || spec.NetworkID == "" {
		// Without them, the owner is the network's (AssociateIPAddrCmd.getEntityOwnerId).
		owner, err := c.ownerForCreate(c.S.DB.Read())
		if err != nil {
			return nil, err
		}
		spec.Owner = owner
	}
	if v := strings.TrimSpace(c.P.String("ipaddress")); v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return nil, ErrParam("Invalid ipaddress %q: an IPv4 address is required", v)
		}
		spec.Address = a.String()
	}
	if b, ok := c.P.Bool("fordisplay"); ok {
		spec.ForDisplay = &b
	}
	ipID, jobID, err := network.Associate(c.Ctx, c.deps(), c.actor(), spec)
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: ipID}, nil
}

func associateIPJob(c *Call, j *db.Job) (any, error) {
	if err := network.FinishAssociate(c.Ctx, c.deps(), j.InstanceID); err != nil {
		return nil, err
	}
	return c.publicIPObject(j.InstanceID)
}

func disassociateIPStart(c *Call) (any, error) {
	p, err := network.PublicIPForCaller(c.Ctx, c.S.DB.Read(), c.Caller, c.lowerID("id"), true)
	if err != nil {
		return nil, err
	}
	if err := network.CheckDisassociate(p); err != nil {
		return nil, err
	}
	return c.StartJob(network.IPJobType, p.ID)
}

func disassociateIPJob(c *Call, j *db.Job) (any, error) {
	if err := network.Disassociate(c.Ctx, c.deps(), c.actor(), j.InstanceID); err != nil {
		return nil, err
	}
	return Success(), nil
}

func updateIPStart(c *Call) (any, error) {
	p, err := network.PublicIPForCaller(c.Ctx, c.S.DB.Read(), c.Caller, c.lowerID("id"), true)
	if err != nil {
		return nil, err
	}
	if v := c.P.String("customid"); v != "" {
		if !c.Caller.IsRootAdmin() {
			return nil, ErrDenied("Only the root admin can set a custom id (customid)")
		}
		if len(v) > 40 || strings.TrimSpace(v) != v {
			return nil, ErrParam("Invalid customid %q: at most 40 characters, no surrounding spaces", v)
		}
	}
	return c.StartJob(network.IPJobType, p.ID)
}

func updateIPJob(c *Call, j *db.Job) (any, error) {
	var disp *bool
	if b, ok := c.P.Bool("fordisplay"); ok {
		disp = &b
	}
	id, err := network.UpdateIP(c.Ctx, c.deps(), c.actor(), j.InstanceID, disp, c.P.String("customid"))
	if err != nil {
		return nil, err
	}
	return c.publicIPObject(id)
}

func enableStaticNat(c *Call) (any, error) {
	vmIP := strings.TrimSpace(c.P.String("vmguestip"))
	if vmIP != "" {
		if _, err := netip.ParseAddr(vmIP); err != nil {
			return nil, ErrParam("Invalid vmguestip %q: an IP address is required", vmIP)
		}
	}
	if err := network.EnableStaticNAT(c.Ctx, c.deps(), c.actor(), c.lowerID("ipaddressid"), c.lowerID("virtualmachineid"), vmIP,
		c.lowerID("networkid")); err != nil {
		return nil, err
	}
	return Success(), nil
}

func disableStaticNatStart(c *Call) (any, error) {
	p, err := network.PublicIPForCaller(c.Ctx, c.S.DB.Read(), c.Caller, c.lowerID("ipaddressid"), true)
	if err != nil {
		return nil, err
	}
	if err := network.CheckDisableStaticNAT(p); err != nil {
		return nil, err
	}
	return c.StartJob(network.IPJobType, p.ID)
}

func disableStaticNatJob(c *Call, j *db.Job) (any, error) {
	if err := network.DisableStaticNAT(c.Ctx, c.deps(), c.actor(), j.InstanceID); err != nil {
		return nil, err
	}
	return Success(), nil
}

func listPublicIPs(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	empty := ListResult{Key: "publicipaddress", Items: []any{}}
	if c.lowerID("vpcid") != "" {
		return empty, nil // no VPCs
	}
	if b, _ := c.P.Bool("forloadbalancing"); b {
		return empty, nil // load balancer rules are another change's
	}
	f := db.PublicAddressFilter{ID: c.lowerID("id"), ZoneID: c.lowerID("zoneid"), Address: strings.TrimSpace(c.P.String("ipaddress")),
		NetworkID: c.lowerID("associatednetworkid"), VlanID: c.lowerID("vlanid"), PhysicalNetworkID: c.lowerID("physicalnetworkid"),
		RangeNetworkID: c.lowerID("networkid"), Keyword: c.P.String("keyword")}
	if v := strings.TrimSpace(c.P.String("state")); v != "" {
		st, err := parseChoice("state", v, db.IPFree, db.IPAllocating, db.IPAllocated, db.IPReleasing)
		if err != nil {
			return nil, err
		}
		f.State = st
	}
	for _, b := range []struct {
		name string
		dst  **bool
	}{{"issourcenat", &f.SourceNAT}, {"isstaticnat", &f.StaticNAT}, {"forvirtualnetwork", &f.ForVirtualNetwork},
		{"fordisplay", &f.ForDisplay}, {"forsystemvms", &f.ForSystemVMs}} {
		if v, ok := c.P.Bool(b.name); ok {
			*b.dst = &v
		}
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	f.Scope = scope
	if b, ok := c.P.Bool("allocatedonly"); ok && !b || f.State == db.IPFree {
		f.IncludeFree = true
		if !c.Caller.IsRootAdmin() {
			f.FreeAccountID, f.FreeDomainID = c.Caller.User.AccountID, c.Caller.User.DomainID
		}
	}
	f.TagClause, f.TagArgs = db.TagFilterClause("PublicIpAddress", "i.id", c.tagsParam())
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListPublicAddresses(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items, err := c.renderPublicIPs(list)
	if err != nil {
		return nil, err
	}
	return ListResult{Key: "publicipaddress", Items: items, Count: total}, nil
}

func (c *Call) publicIPObject(id string) (any, error) {
	p, err := db.GetPublicAddress(c.Ctx, c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	items, err := c.renderPublicIPs([]*db.PublicAddress{p})
	if err != nil {
		return nil, err
	}
	return Object{Key: "ipaddress", Value: items[0]}, nil
}

func (c *Call) renderPublicIPs(list []*db.PublicAddress) ([]any, error) {
	ids := make([]string, len(list))
	maps := make([]map[string]any, len(list))
	for i, p := range list {
		ids[i] = p.ID
		m := map[string]any{"id": p.ID, "ipaddress": p.Address, "state": p.State, "zoneid": p.ZoneID, "zonename": p.ZoneName,
			"issourcenat": p.SourceNAT, "isstaticnat": p.VMID != "", "issystem": false, "isportable": false,
			"forvirtualnetwork": p.ForVirtualNetwork, "forsystemvms": p.ForSystemVMs, "forprovider": false, "fordisplay": p.ForDisplay,
			"vlanid": p.VlanID, "hasannotations": false}
		if i := strings.Index(p.VlanTag, "://"); i >= 0 {
			m["vlanname"] = p.VlanTag[i+3:]
		} else {
			set(m, "vlanname", p.VlanTag)
		}
		set(m, "physicalnetworkid", p.PhysicalNetworkID)
		if p.Allocated > 0 {
			m["allocated"] = FormatTime(p.Allocated)
		}
		if p.AccountID != "" {
			m["account"], m["domainid"], m["domain"], m["domainpath"] = p.AccountName, p.DomainID, p.DomainName, p.DomainPath
		}
		if p.NetworkID != "" && p.NetworkGuestType == db.GuestIsolated {
			m["associatednetworkid"], m["associatednetworkname"] = p.NetworkID, p.NetworkName
		}
		if p.VMID != "" {
			m["virtualmachineid"], m["vmipaddress"], m["virtualmachinetype"] = p.VMID, p.VMIP, "User"
			set(m, "virtualmachinename", p.VMName)
			set(m, "virtualmachinedisplayname", p.VMDisplayName)
			if p.VMDisplayName == "" {
				set(m, "virtualmachinedisplayname", p.VMName)
			}
		}
		switch {
		case p.SourceNAT:
			m["purpose"] = "SourceNat"
		case p.VMID != "":
			m["purpose"] = "StaticNat"
		}
		maps[i] = m
	}
	if len(list) > 0 {
		withRules, err := db.AddressesWithRules(c.Ctx, c.S.DB.Read(), ids)
		if err != nil {
			return nil, err
		}
		for i, m := range maps {
			m["hasrules"] = withRules[ids[i]] != "" || list[i].VMID != ""
			if withRules[ids[i]] == db.PurposePortForwarding && m["purpose"] == nil {
				m["purpose"] = db.PurposePortForwarding
			}
		}
	}
	// Tags as {key, value} only: Ansible's cs_ip_address finds an address by comparing the
	// dicts it wants with these for equality (API-COMPAT.md 1.8).
	tags, err := db.TagsFor(c.Ctx, c.S.DB.Read(), "PublicIpAddress", ids)
	if err != nil {
		return nil, err
	}
	for i, m := range maps {
		kv := make([]any, 0, len(tags[ids[i]]))
		for _, t := range tags[ids[i]] {
			kv = append(kv, map[string]any{"key": t.Key, "value": t.Value})
		}
		m["tags"] = kv
	}
	items := make([]any, len(maps))
	for i, m := range maps {
		items[i] = m
	}
	return items, nil
}
