package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
)

// TEMPORARY (H6, load balancers): a minimal listPublicIpAddresses, only so that Ansible's
// cs_loadbalancer_rule can look up the address its rules sit on (get_ip_address:
// listPublicIpAddresses(ipaddress, account, domainid, projectid, vpcid) -> publicipaddress[0]).
// It lists the public addresses of the guest networks the caller may see (today: their source
// NAT addresses). H1 writes the real command (associateIpAddress and friends); at the merge,
// the lead drops this file and its registerPublicIPListH6 line in commands.go in favour of
// H1's.

func registerPublicIPListH6(s *Server) {
	s.Reg.Add(&Command{Name: "listPublicIpAddresses", Response: publicIPResponseH6, Roles: AllRoles, List: true, ResponseKey: "publicipaddress",
		Description: "Lists all public IP addresses",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "lists IP address by ID"},
			Param{Name: "ipaddress", Type: TString, Description: "lists the specified IP address"},
			Param{Name: "zoneid", Type: TUUID, Description: "lists all public IP addresses by zone ID"},
			Param{Name: "associatednetworkid", Type: TUUID, Description: "lists all public IP addresses associated to the network specified"},
			Param{Name: "issourcenat", Type: TBool, Description: "list only source NAT IP addresses"},
			Param{Name: "isstaticnat", Type: TBool, Description: "list only static NAT IP addresses"},
			Param{Name: "allocatedonly", Type: TBool, Description: "limits search results to allocated public IP addresses"},
			Param{Name: "forvirtualnetwork", Type: TBool, Description: "the virtual network for the IP address"},
			Param{Name: "vpcid", Type: TUUID, Description: "List IPs belonging to the VPC"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (projects are not supported)"},
			tagsListParam,
		),
		Handler: listPublicIPsH6})
}

var publicIPResponseH6 = join(jobFields, inZone("address"), owner("address"), []Field{
	f("id", rString, "public IP address id"),
	f("ipaddress", rString, "public IP address"),
	f("allocated", rDate, "date the public IP address was acquired"),
	f("issourcenat", rBool, "true if the IP address is a source nat address, false otherwise"),
	f("isstaticnat", rBool, "true if this ip is for static nat, false otherwise"),
	f("issystem", rBool, "true if this ip is system ip (was allocated as a part of deployVm or createLbRule)"),
	f("forvirtualnetwork", rBool, "the virtual network for the IP address"),
	f("vlanid", rString, "the ID of the VLAN associated with the IP address"),
	f("associatednetworkid", rString, "the ID of the Network associated with the IP address"),
	f("associatednetworkname", rString, "the name of the Network associated with the IP address"),
	f("state", rString, "State of the ip address. Can be: Allocating, Allocated, Releasing, Reserved and Free"),
	f("fordisplay", rBool, "is public ip for display to the regular user"),
	tags(rList, "public IP address"),
})

func listPublicIPsH6(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	empty := ListResult{Key: "publicipaddress", Items: []any{}}
	if c.lowerID("vpcid") != "" {
		return empty, nil
	}
	if b, ok := c.P.Bool("isstaticnat"); ok && b {
		return empty, nil
	}
	if b, ok := c.P.Bool("forvirtualnetwork"); ok && !b {
		return empty, nil
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	q := c.S.DB.Read()
	nets, _, err := db.ListNetworks(c.Ctx, q, db.NetworkFilter{Scope: scope, ZoneID: c.lowerID("zoneid"), ID: c.lowerID("associatednetworkid")})
	if err != nil {
		return nil, err
	}
	id, addr := c.lowerID("id"), strings.TrimSpace(c.P.String("ipaddress"))
	snat, snatGiven := c.P.Bool("issourcenat")
	var items []any
	for _, n := range nets {
		ips, err := db.ListNetworkPublicIPs(c.Ctx, q, n.ID)
		if err != nil {
			return nil, err
		}
		for _, p := range ips {
			if id != "" && p.ID != id || addr != "" && p.Address != addr || snatGiven && p.SourceNAT != snat || !p.SourceNAT {
				continue
			}
			m := map[string]any{"id": p.ID, "ipaddress": p.Address, "zoneid": n.ZoneID, "zonename": n.ZoneName, "issourcenat": p.SourceNAT,
				"isstaticnat": false, "issystem": false, "forvirtualnetwork": true, "vlanid": p.VlanID, "associatednetworkid": n.ID,
				"associatednetworkname": n.Name, "state": p.State, "fordisplay": true, "account": n.AccountName, "domainid": n.DomainID,
				"domain": n.DomainName, "domainpath": n.DomainPath, "tags": []any{}}
			items = append(items, m)
		}
	}
	return paged(c, "publicipaddress", items), nil
}
