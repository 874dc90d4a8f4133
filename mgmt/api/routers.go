package api

import (
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
)

// routerResponse is CloudStack's DomainRouterResponse for Atoll's routers: a network namespace
// on a host rather than a system VM, so there is no template, service offering or link-local
// address to report.
var routerResponse = join(jobFields, []Field{
	f("id", rString, "the id of the router"),
	f("name", rString, "the name of the router"),
	f("state", rString, "the state of the router: Starting, Running, Stopped or Alert"),
	f("role", rString, "role of the domain router"),
	f("zoneid", rString, "the Zone ID for the router"),
	f("zonename", rString, "the Zone name for the router"),
	f("hostid", rString, "the host ID for the router"),
	f("hostname", rString, "the hostname for the router"),
	f("hypervisor", rString, "the hypervisor on which the template runs"),
	f("guestnetworkid", rString, "the ID of the corresponding guest network"),
	f("guestnetworkname", rString, "the name of the corresponding guest network"),
	f("guestipaddress", rString, "the guest IP address for the router"),
	f("guestmacaddress", rString, "the guest MAC address for the router"),
	f("gateway", rString, "the gateway for the router"),
	f("networkdomain", rString, "the network domain for the router"),
	f("publicip", rString, "the public IP address for the router"),
	f("publicmacaddress", rString, "the public MAC address for the router"),
	f("account", rString, "the account associated with the router"),
	f("domainid", rString, "the domain ID associated with the router"),
	f("domain", rString, "the domain associated with the router"),
	f("domainpath", rString, "path of the Domain the router belongs to"),
	f("created", rDate, "the date and time the router was created"),
	f("isredundantrouter", rBool, "if this router is an redundant virtual router"),
	f("redundantstate", rString, "the state of redundant virtual router"),
	f("requiresupgrade", rBool, "true if the router template requires upgrader"),
	f("healthchecksfailed", rBool, "true if any health checks had failed"),
	hasAnnotations("router"),
})

func registerRouters(s *Server) {
	s.Reg.Add(&Command{Name: "listRouters", Response: routerResponse, Roles: Admin | DomainAdmin, List: true, ResponseKey: "router",
		Description: "List routers: each isolated network's router namespace, on the host that runs it.",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "the ID of the disk router"},
			Param{Name: "name", Type: TString, Description: "the name of the router"},
			Param{Name: "networkid", Type: TUUID, Description: "list by network id"},
			Param{Name: "zoneid", Type: TUUID, Description: "the Zone ID of the router"},
			Param{Name: "hostid", Type: TUUID, Description: "the host ID of the router"},
			Param{Name: "state", Type: TString, Description: "the state of the router"},
			Param{Name: "podid", Type: TUUID, Description: "the Pod ID of the router (routers are placed on hosts, not pods: matches none)"},
			Param{Name: "clusterid", Type: TUUID, Description: "the cluster ID of the router (matches none)"},
			Param{Name: "vpcid", Type: TUUID, Description: "List networks by VPC (Atoll has no VPC routers: matches none)"},
			Param{Name: "forvpc", Type: TBool, Description: "if true is passed for this parameter, list only VPC routers"},
			Param{Name: "version", Type: TString, Description: "list virtual router elements by version"},
			Param{Name: "fetchhealthcheckresults", Type: TBool, Description: "if true is passed for this parameter, also fetch last executed health check results for the router"},
			Param{Name: "healthchecksfailed", Type: TBool, Description: "if this parameter is passed, list only routers by health check results"},
			Param{Name: "arch", Type: TString, Description: "CPU arch of the router"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (projects are not supported: refused)"},
		),
		Handler: listRouters})
}

func listRouters(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	forVPC, _ := c.P.Bool("forvpc")
	failed, _ := c.P.Bool("healthchecksfailed")
	if forVPC || failed || c.P.String("vpcid") != "" || c.P.String("podid") != "" || c.P.String("clusterid") != "" {
		return ListResult{Key: "router", Items: []any{}}, nil
	}
	f := db.RouterFilter{ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), NetworkID: strings.ToLower(c.P.String("networkid")),
		ZoneID: strings.ToLower(c.P.String("zoneid")), HostID: strings.ToLower(c.P.String("hostid")), State: c.P.String("state"),
		Keyword: c.P.String("keyword"), Scope: scope}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListRouters(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, r := range list {
		items = append(items, renderRouter(r))
	}
	return ListResult{Key: "router", Items: items, Count: total}, nil
}

// renderRouter is a router as CloudStack's DomainRouterResponse.
func renderRouter(r *db.Router) map[string]any {
	m := map[string]any{"id": r.ID, "name": r.Name, "state": r.State, "role": "VIRTUAL_ROUTER", "zoneid": r.ZoneID,
		"guestnetworkid": r.NetworkID, "guestmacaddress": r.GuestMAC, "domainid": r.DomainID, "created": FormatTime(r.Created),
		"isredundantrouter": false, "redundantstate": "UNKNOWN", "requiresupgrade": false, "healthchecksfailed": false,
		"hasannotations": false}
	set(m, "zonename", r.ZoneName)
	set(m, "hostid", r.HostID)
	set(m, "hostname", r.HostName)
	set(m, "hypervisor", r.Hypervisor)
	set(m, "guestnetworkname", r.NetworkName)
	set(m, "guestipaddress", r.GuestIP)
	set(m, "networkdomain", r.NetworkDomain)
	set(m, "account", r.AccountName)
	set(m, "domain", r.DomainName)
	set(m, "domainpath", r.DomainPath)
	if r.PublicIP != "" {
		m["publicip"], m["publicmacaddress"], m["gateway"] = r.PublicIP, r.PublicMAC, r.PublicGateway
	}
	return m
}

// The router commands act on a router namespace as CloudStack's act on a router VM.
func registerRouterOps(s *Server) {
	id := Param{Name: "id", Type: TUUID, Required: true, Description: "the ID of the router"}
	for _, op := range []struct{ name, desc string }{
		{"startRouter", "Starts a router: its namespace is placed on a host and applied."},
		{"stopRouter", "Stops a router: its namespace and daemons are removed from its host."},
		{"rebootRouter", "Starts a router again: removed from its host, then applied anew."},
		{"destroyRouter", "Destroys a router. Its network gets a new one when a VM starts on it or its rules are applied."},
	} {
		params := []Param{id}
		if op.name == "stopRouter" {
			params = append(params, Param{Name: "forced", Type: TBool, Description: "Force stop the VM (accepted: a namespace stops at once)"})
		}
		if op.name == "rebootRouter" {
			params = append(params, Param{Name: "forced", Type: TBool, Description: "Force reboot the router (accepted: a namespace stops at once)"})
		}
		s.Reg.Add(&Command{Name: op.name, Response: routerResponse, Roles: Admin, Async: true, ResponseKey: "router", Description: op.desc,
			Params: params, Handler: routerOpStart, Job: routerOpJob})
	}
}

func routerOpStart(c *Call) (any, error) {
	r, err := db.GetRouter(c.Ctx, c.S.DB.Read(), c.lowerID("id"))
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find router by id %s", c.P.String("id"))
	}
	if err != nil {
		return nil, err
	}
	return c.StartJob("DomainRouter", r.ID)
}

func routerOpJob(c *Call, j *db.Job) (any, error) {
	r, err := network.RouterOp(c.Ctx, c.deps(), j.Cmd, j.InstanceID)
	if err != nil {
		return nil, err
	}
	m := renderRouter(r)
	if r.Removed != 0 {
		m["state"] = "Destroyed" // destroyRouter answers the router as it was destroyed
	}
	return Object{Key: "router", Value: m}, nil
}
