package api

import (
	"sort"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
)

// Load-balancer rules of isolated networks: createLoadBalancerRule, updateLoadBalancerRule,
// deleteLoadBalancerRule, listLoadBalancerRules, assignToLoadBalancerRule,
// removeFromLoadBalancerRule, listLoadBalancerRuleInstances and the stickiness and health-check
// policies. The workflows are mgmt/orchestrate/network's (lb*.go).

// lbRuleResponse is CloudStack's LoadBalancerResponse.
var lbRuleResponse = join(jobFields, inZone("rule"), owner("rule"), []Field{
	f("id", rString, "the load balancer rule ID"),
	f("name", rString, "the name of the load balancer"),
	f("description", rString, "the description of the load balancer"),
	f("publicipid", rString, "the public ip address id"),
	f("publicip", rString, "the public ip address"),
	f("publicport", rString, "the public port"),
	f("privateport", rString, "the private port"),
	f("algorithm", rString, "the load balancer algorithm (source, roundrobin, leastconn)"),
	f("networkid", rString, "the id of the guest network the lb rule belongs to"),
	f("cidrlist", rString, "the CIDR list to allow traffic, all other CIDRs will be blocked"),
	f("state", rString, "the state of the rule: Add, Active or Revoke"),
	f("protocol", rString, "the protocol of the loadbalanacer rule"),
	f("fordisplay", rBool, "is rule for display to the regular user"),
	tags(rList, "load balancer"),
})

// stickinessResponse is CloudStack's LBStickinessResponse.
var stickinessResponse = join(jobFields, []Field{
	f("lbruleid", rString, "the LB rule ID"),
	f("name", rString, "the name of the load balancer rule"),
	f("description", rString, "the description of the load balancer rule"),
	f("state", rString, "the state of the load balancer rule"),
	f("account", rString, "the account of the load balancer rule"),
	f("domainid", rString, "the domain ID of the load balancer rule"),
	f("domain", rString, "the domain of the load balancer rule"),
	f("zoneid", rString, "the id of the zone the rule belongs to"),
	nested("stickinesspolicy", rList, "the list of stickinesspolicies",
		f("id", rString, "the LB Stickiness policy ID"),
		f("name", rString, "the name of the Stickiness policy"),
		f("methodname", rString, "the method name of the Stickiness policy"),
		f("description", rString, "the description of the Stickiness policy"),
		f("state", rString, "the state of the policy"),
		f("params", rMap, "the params of the policy"),
		f("fordisplay", rBool, "is policy for display to the regular user")),
})

// healthCheckResponse is CloudStack's LBHealthCheckResponse.
var healthCheckResponse = join(jobFields, []Field{
	f("lbruleid", rString, "the LB rule ID"),
	f("account", rString, "the account of the HealthCheck policy"),
	f("domainid", rString, "the domain ID of the HealthCheck policy"),
	f("domain", rString, "the domain of the HealthCheck policy"),
	f("zoneid", rString, "the id of the zone the HealthCheck policy belongs to"),
	nested("healthcheckpolicy", rList, "the list of healthcheckpolicies",
		f("id", rString, "the LB HealthCheck policy ID"),
		f("pingpath", rString, "the pingpath  of the healthcheck policy"),
		f("description", rString, "the description of the healthcheck policy"),
		f("state", rString, "the state of the policy"),
		f("responsetime", rPInt, "Time to wait when receiving a response from the health check"),
		f("healthcheckinterval", rPInt, "Amount of time between health checks"),
		f("healthcheckthresshold", rPInt, "Number of consecutive health check success before declaring an instance healthy"),
		f("unhealthcheckthresshold", rPInt, "Number of consecutive health check failures before declaring an instance unhealthy."),
		f("fordisplay", rBool, "is policy for display to the regular user")),
})

var lbIDParam = Param{Name: "id", Type: TUUID, Required: true, Description: "the ID of the load balancer rule"}

var lbMemberParams = []Param{lbIDParam,
	{Name: "virtualmachineids", Type: TList, Elem: "uuid", Description: "the list of IDs of the virtual machine"},
	{Name: "vmidipmap", Type: TMap, Description: "VM ID and IP map, vmidipmap[0].vmid=1 vmidipmap[0].vmip=10.1.1.75"},
}

func registerLoadBalancers(s *Server) {
	s.Reg.Add(&Command{Name: "createLoadBalancerRule", Response: lbRuleResponse, Roles: AllRoles, Async: true, ResponseKey: "loadbalancer",
		Description: "Creates a load balancer rule",
		Params: []Param{
			{Name: "algorithm", Type: TString, Required: true, Description: "load balancer algorithm (source, roundrobin, leastconn)"},
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "name of the load balancer rule"},
			{Name: "privateport", Type: TInt, Required: true, Description: "the private port of the private IP address/virtual machine where the network traffic will be load balanced to"},
			{Name: "publicport", Type: TInt, Required: true, Description: "the public port from where the network traffic will be load balanced from"},
			{Name: "publicipid", Type: TUUID, Description: "public IP address ID from where the network traffic will be load balanced from"},
			{Name: "networkid", Type: TUUID, Description: "The guest network this rule will be created for"},
			{Name: "zoneid", Type: TUUID, Description: "zone where the load balancer is going to be created"},
			{Name: "description", Type: TString, Length: 4096, Description: "the description of the load balancer rule"},
			{Name: "cidrlist", Type: TList, Description: "the CIDR list to allow traffic, all other CIDRs will be blocked. By default, all CIDRs are allowed."},
			{Name: "protocol", Type: TString, Description: "The protocol for the LB such as tcp, udp or tcp-proxy."},
			{Name: "openfirewall", Type: TBool, Description: "if true, firewall rule for source/end public port is automatically created; if false - firewall rule has to be created explicitly"},
			{Name: "account", Type: TString, Description: "the account associated with the load balancer. Must be used with the domainId parameter."},
			{Name: "domainid", Type: TUUID, Description: "the domain ID associated with the load balancer"},
			{Name: "projectid", Type: TUUID, Description: "the project of the load balancer (projects are not supported)"},
			{Name: "fordisplay", Type: TBool, Description: "an optional field, whether to the display the rule to the end user or not"},
		},
		Handler: createLBRule, Job: lbRuleJob})
	s.Reg.Add(&Command{Name: "updateLoadBalancerRule", Response: lbRuleResponse, Roles: AllRoles, Async: true, ResponseKey: "loadbalancer",
		Description: "Updates load balancer",
		Params: []Param{lbIDParam,
			{Name: "name", Type: TString, Length: 255, Description: "the name of the load balancer rule"},
			{Name: "description", Type: TString, Length: 4096, Description: "the description of the load balancer rule"},
			{Name: "algorithm", Type: TString, Description: "load balancer algorithm (source, roundrobin, leastconn)"},
			{Name: "cidrlist", Type: TList, Description: "the CIDR list to allow traffic, all other CIDRs will be blocked"},
			{Name: "protocol", Type: TString, Description: "The protocol for the LB"},
			{Name: "fordisplay", Type: TBool, Description: "an optional field, whether to the display the rule to the end user or not"},
			{Name: "customid", Type: TString, Description: "an optional field, in case you want to set a custom id to the resource (not supported)"},
		},
		Handler: updateLBRuleStart, Job: updateLBRuleJob})
	s.Reg.Add(&Command{Name: "deleteLoadBalancerRule", Response: successResponse, Roles: AllRoles, Async: true,
		Description: "Deletes a load balancer rule.", Params: []Param{lbIDParam},
		Handler: deleteLBRuleStart, Job: deleteLBRuleJob})
	s.Reg.Add(&Command{Name: "listLoadBalancerRules", Response: lbRuleResponse, Roles: AllRoles, List: true, ResponseKey: "loadbalancerrule",
		Description: "Lists load balancer rules.",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "the ID of the load balancer rule"},
			Param{Name: "name", Type: TString, Description: "the name of the load balancer rule"},
			Param{Name: "publicipid", Type: TUUID, Description: "the public IP address ID of the load balancer rule"},
			Param{Name: "networkid", Type: TUUID, Description: "list by network ID the rule belongs to"},
			Param{Name: "virtualmachineid", Type: TUUID, Description: "the ID of the virtual machine of the load balancer rule"},
			Param{Name: "zoneid", Type: TUUID, Description: "the availability zone ID"},
			Param{Name: "fordisplay", Type: TBool, Description: "list resources by display flag"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (projects are not supported)"},
			tagsListParam,
		),
		Handler: listLBRules})
	s.Reg.Add(&Command{Name: "assignToLoadBalancerRule", Response: successResponse, Roles: AllRoles, Async: true,
		Description: "Assigns virtual machine or a list of virtual machines to a load balancer rule.", Params: lbMemberParams,
		Handler: assignLBStart, Job: assignLBJob})
	s.Reg.Add(&Command{Name: "removeFromLoadBalancerRule", Response: successResponse, Roles: AllRoles, Async: true,
		Description: "Removes a virtual machine or a list of virtual machines from a load balancer rule.", Params: lbMemberParams,
		Handler: removeLBStart, Job: removeLBJob})
	s.Reg.Add(&Command{Name: "listLoadBalancerRuleInstances", Response: vmResponseFields, Roles: AllRoles, List: true, ResponseKey: "loadbalancerruleinstance",
		Description: "List all virtual machine instances that are assigned to a load balancer rule.",
		Params: []Param{lbIDParam,
			{Name: "applied", Type: TBool, Description: "true if listing all virtual machines currently applied to the load balancer rule; default is true"},
			{Name: "lbvmips", Type: TBool, Description: "true if load balancer rule VM IP information to be included; default is false"},
		},
		Handler: listLBInstances})
	registerLBPolicies(s)
	RegisterTaggable("LoadBalancer", func(c *Call, q db.Querier, id string) (string, string, error) {
		r, err := db.GetLBRule(c.Ctx, q, id)
		if err != nil {
			return "", "", err
		}
		return r.AccountID, r.DomainID, nil
	})
}

// renderLBRule renders a rule as CloudStack's LoadBalancerResponse.
func renderLBRule(r *db.LBRule, tags []db.Tag) map[string]any {
	m := map[string]any{"id": r.ID, "name": r.Name, "publicipid": r.PublicIPID, "publicip": r.PublicIP,
		"publicport": strconv.Itoa(r.PublicPort), "privateport": strconv.Itoa(r.PrivatePort), "algorithm": r.Algorithm,
		"networkid": r.NetworkID, "state": r.State, "zoneid": r.ZoneID, "zonename": r.ZoneName, "account": r.AccountName,
		"domainid": r.DomainID, "domain": r.DomainName, "domainpath": r.DomainPath, "fordisplay": r.Display, "tags": renderTags(tags)}
	set(m, "description", r.Description)
	set(m, "cidrlist", r.CIDRList)
	set(m, "protocol", r.Protocol)
	return m
}

func (c *Call) lbRuleObject(id string) (any, error) {
	q := c.S.DB.Read()
	r, err := db.GetLBRule(c.Ctx, q, id)
	if err != nil {
		return nil, err
	}
	tags, err := db.TagsFor(c.Ctx, q, "LoadBalancer", []string{r.ID})
	if err != nil {
		return nil, err
	}
	return Object{Key: "loadbalancer", Value: renderLBRule(r, tags[r.ID])}, nil
}

// lbSpec reads createLoadBalancerRule's parameters.
func (c *Call) lbSpec() (network.LBSpec, error) {
	if err := c.refuseProject(); err != nil {
		return network.LBSpec{}, err
	}
	name := strings.TrimSpace(c.P.String("name"))
	if name == "" {
		return network.LBSpec{}, ErrParam("Invalid name: a load balancer rule's name can't be empty")
	}
	pub, _ := c.P.Int("publicport")
	priv, _ := c.P.Int("privateport")
	spec := network.LBSpec{Name: name, Description: c.P.String("description"), PublicIPID: c.lowerID("publicipid"),
		NetworkID: c.lowerID("networkid"), PublicPort: pub, PrivatePort: priv, Algorithm: c.P.String("algorithm"),
		Protocol: c.P.String("protocol"), CIDRs: c.P.List("cidrlist"), OpenFirewall: true, Display: true}
	if b, ok := c.P.Bool("openfirewall"); ok {
		spec.OpenFirewall = b
	}
	if b, ok := c.P.Bool("fordisplay"); ok {
		spec.Display = b
	}
	if spec.PublicIPID == "" {
		return spec, ErrParam("publicipid is required: Atoll creates load balancer rules on an isolated network's public IP address")
	}
	return spec, nil
}

func createLBRule(c *Call) (any, error) {
	spec, err := c.lbSpec()
	if err != nil {
		return nil, err
	}
	r, jobID, err := network.CreateLB(c.Ctx, c.deps(), c.actor(), spec)
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: r.ID}, nil
}

func lbRuleJob(c *Call, j *db.Job) (any, error) {
	if err := network.ApplyNewLB(c.Ctx, c.deps(), j.InstanceID); err != nil {
		return nil, err
	}
	return c.lbRuleObject(j.InstanceID)
}

// lbUpdate reads updateLoadBalancerRule's parameters.
func (c *Call) lbUpdate() (network.LBUpdate, error) {
	var u network.LBUpdate
	if c.P.Has("customid") {
		return u, ErrParam("customid is not supported: Atoll's ids are its own")
	}
	if c.P.Has("name") {
		v := c.P.String("name")
		u.Name = &v
	}
	if c.P.Has("description") {
		v := c.P.String("description")
		u.Description = &v
	}
	u.Algorithm, u.Protocol = c.P.String("algorithm"), c.P.String("protocol")
	if c.P.Has("cidrlist") {
		l := c.P.List("cidrlist")
		u.CIDRs = &l
	}
	if b, ok := c.P.Bool("fordisplay"); ok {
		u.Display = &b
	}
	return u, nil
}

func updateLBRuleStart(c *Call) (any, error) {
	u, err := c.lbUpdate()
	if err != nil {
		return nil, err
	}
	id := c.lowerID("id")
	if err := network.CheckUpdateLB(c.Ctx, c.deps(), c.actor(), id, u); err != nil {
		return nil, err
	}
	return c.StartJob("FirewallRule", id)
}

func updateLBRuleJob(c *Call, j *db.Job) (any, error) {
	u, err := c.lbUpdate()
	if err != nil {
		return nil, err
	}
	if err := network.UpdateLB(c.Ctx, c.deps(), c.actor(), j.InstanceID, u); err != nil {
		return nil, err
	}
	return c.lbRuleObject(j.InstanceID)
}

func deleteLBRuleStart(c *Call) (any, error) {
	id := c.lowerID("id")
	if err := network.CheckDeleteLB(c.Ctx, c.deps(), c.actor(), id); err != nil {
		return nil, err
	}
	return c.StartJob("FirewallRule", id)
}

func deleteLBRuleJob(c *Call, j *db.Job) (any, error) {
	if err := network.DeleteLB(c.Ctx, c.deps(), c.actor(), j.InstanceID); err != nil {
		return nil, err
	}
	return Success(), nil
}

func listLBRules(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	f := db.LBRuleFilter{ID: c.lowerID("id"), Name: strings.TrimSpace(c.P.String("name")), Keyword: c.P.String("keyword"),
		PublicIPID: c.lowerID("publicipid"), NetworkID: c.lowerID("networkid"), ZoneID: c.lowerID("zoneid"), VMID: c.lowerID("virtualmachineid")}
	if b, ok := c.P.Bool("fordisplay"); ok {
		f.Display = &b
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	f.Scope = scope
	f.TagClause, f.TagArgs = db.TagFilterClause("LoadBalancer", "r.id", c.tagsParam())
	f.Limit, f.Offset = c.P.Paging()
	q := c.S.DB.Read()
	list, total, err := db.ListLBRules(c.Ctx, q, f)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, r := range list {
		ids[i] = r.ID
	}
	tags, err := db.TagsFor(c.Ctx, q, "LoadBalancer", ids)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, r := range list {
		items = append(items, renderLBRule(r, tags[r.ID]))
	}
	return ListResult{Key: "loadbalancerrule", Items: items, Count: total}, nil
}

// lbMembers reads the VMs of assignToLoadBalancerRule and removeFromLoadBalancerRule.
func (c *Call) lbMembers() (network.LBMembers, error) {
	m := network.LBMembers{VMIPs: map[string][]string{}}
	for _, id := range c.P.List("virtualmachineids") {
		m.VMIDs = append(m.VMIDs, strings.ToLower(id))
	}
	for i, e := range c.P.Map("vmidipmap") {
		vm, ip := strings.ToLower(strings.TrimSpace(e["vmid"])), strings.TrimSpace(e["vmip"])
		if vm == "" || ip == "" {
			return m, ErrParam("Invalid vmidipmap[%d]: both vmid and vmip are required", i)
		}
		if !IsUUID(vm) {
			return m, ErrParam("Invalid vmidipmap[%d].vmid %q: a uuid is required", i, e["vmid"])
		}
		m.VMIPs[vm] = append(m.VMIPs[vm], ip)
	}
	return m, nil
}

func assignLBStart(c *Call) (any, error) {
	m, err := c.lbMembers()
	if err != nil {
		return nil, err
	}
	id := c.lowerID("id")
	if err := network.CheckAssignLB(c.Ctx, c.deps(), c.actor(), id, m); err != nil {
		return nil, err
	}
	return c.StartJob("FirewallRule", id)
}

func assignLBJob(c *Call, j *db.Job) (any, error) {
	m, err := c.lbMembers()
	if err != nil {
		return nil, err
	}
	if err := network.AssignLB(c.Ctx, c.deps(), c.actor(), j.InstanceID, m); err != nil {
		return nil, err
	}
	return Success(), nil
}

func removeLBStart(c *Call) (any, error) {
	m, err := c.lbMembers()
	if err != nil {
		return nil, err
	}
	id := c.lowerID("id")
	if err := network.CheckRemoveLB(c.Ctx, c.deps(), c.actor(), id, m); err != nil {
		return nil, err
	}
	return c.StartJob("FirewallRule", id)
}

func removeLBJob(c *Call, j *db.Job) (any, error) {
	m, err := c.lbMembers()
	if err != nil {
		return nil, err
	}
	if err := network.RemoveLB(c.Ctx, c.deps(), c.actor(), j.InstanceID, m); err != nil {
		return nil, err
	}
	return Success(), nil
}

// listLBInstances lists the VMs a rule balances to (applied, the default) or the VMs of the
// rule's network it does not (applied=false); lbvmips adds each VM's balanced addresses.
func listLBInstances(c *Call) (any, error) {
	q := c.S.DB.Read()
	r, err := network.LBRuleForCaller(c.Ctx, q, c.actor(), c.lowerID("id"))
	if err != nil {
		return nil, err
	}
	maps, err := db.ListLBVMs(c.Ctx, q, r.ID)
	if err != nil {
		return nil, err
	}
	ips := map[string][]string{}
	for _, m := range maps {
		if !m.Revoked {
			ips[m.VMID] = append(ips[m.VMID], m.VMIP)
		}
	}
	applied := true
	if b, ok := c.P.Bool("applied"); ok {
		applied = b
	}
	var ids []string
	if applied {
		for id := range ips {
			ids = append(ids, id)
		}
	} else {
		nics, err := db.ListNics(c.Ctx, q, db.NicFilter{NetworkID: r.NetworkID})
		if err != nil {
			return nil, err
		}
		for _, n := range nics {
			if _, in := ips[n.VMID]; !in {
				ids = append(ids, n.VMID)
			}
		}
	}
	sort.Strings(ids)
	var vms []*db.VM
	for _, id := range ids {
		v, err := db.GetVM(c.Ctx, q, id)
		if err != nil {
			continue // gone meanwhile
		}
		switch v.State {
		case db.VMDestroyed, db.VMExpunging, db.VMExpunged, db.VMError:
			continue
		}
		if !applied && v.AccountID != r.AccountID {
			continue
		}
		vms = append(vms, v)
	}
	items, err := c.renderVMs(q, vms, true)
	if err != nil {
		return nil, err
	}
	if b, _ := c.P.Bool("lbvmips"); b {
		for i, it := range items {
			items[i] = map[string]any{"loadbalancerruleinstance": it, "lbvmipaddresses": append([]string{}, ips[vms[i].ID]...)}
		}
		return paged(c, "lbrulevmidip", items), nil
	}
	return paged(c, "loadbalancerruleinstance", items), nil
}

// paged answers a list built in full with the page asked for.
func paged(c *Call, key string, items []any) ListResult {
	total := len(items)
	if limit, offset := c.P.Paging(); limit > 0 {
		items = items[min(offset, len(items)):min(offset+limit, len(items))]
	}
	return ListResult{Key: key, Items: items, Count: total}
}
