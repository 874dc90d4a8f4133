package api

import (
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
)

// Firewall rules: createFirewallRule, deleteFirewallRule, listFirewallRules (ingress, on a
// public IP) and their egress twins (per network). The work is mgmt/orchestrate/network's
// (rules.go).

func registerFirewall(s *Server) {
	ruleParams := func(target Param) []Param {
		return []Param{target,
			{Name: "protocol", Type: TString, Required: true, Description: "the protocol for the firewall rule. Valid values are TCP/UDP/ICMP/ALL"},
			{Name: "startport", Type: TInt, Description: "the starting port of firewall rule"},
			{Name: "endport", Type: TInt, Description: "the ending port of firewall rule"},
			{Name: "cidrlist", Type: TList, Description: "the CIDR list to forward traffic from. Multiple entries must be separated by a single comma character (,)."},
			{Name: "icmptype", Type: TInt, Description: "type of the ICMP message being sent"},
			{Name: "icmpcode", Type: TInt, Description: "error code for this ICMP message"},
			{Name: "type", Type: TString, Description: "type of firewall rule: system/user"},
			{Name: "fordisplay", Type: TBool, Description: "an optional field, whether to the display the rule to the end user or not"},
		}
	}
	listParams := withScope(
		Param{Name: "id", Type: TUUID, Description: "Lists rule with the specified ID."},
		Param{Name: "ipaddressid", Type: TUUID, Description: "the ID of IP address of the firewall services"},
		Param{Name: "networkid", Type: TUUID, Description: "list firewall rules for certain network"},
		Param{Name: "fordisplay", Type: TBool, Description: "list resources by display flag"},
		Param{Name: "projectid", Type: TUUID, Description: "list objects by project"},
		tagsListParam,
	)
	s.Reg.Add(&Command{Name: "createFirewallRule", Response: firewallResponse, Roles: AllRoles, Async: true, ResponseKey: "firewallrule",
		Description: "Creates a firewall rule for a given IP address",
		Params:      ruleParams(Param{Name: "ipaddressid", Type: TUUID, Required: true, Description: "the IP address id of the port forwarding rule"}),
		Handler:     func(c *Call) (any, error) { return c.createRule(db.PurposeFirewall, db.TrafficIngress) },
		Job:         activateRuleJob})
	s.Reg.Add(&Command{Name: "createEgressFirewallRule", Response: firewallResponse, Roles: AllRoles, Async: true, ResponseKey: "firewallrule",
		Description: "Creates a egress firewall rule for a given network",
		Params: append(ruleParams(Param{Name: "networkid", Type: TUUID, Required: true, Description: "the network id of the port forwarding rule"}),
			Param{Name: "destcidrlist", Type: TList, Description: "the cidr list to forward traffic to. Multiple entries must be separated by a single comma character (,)."}),
		Handler: func(c *Call) (any, error) { return c.createRule(db.PurposeFirewall, db.TrafficEgress) },
		Job:     activateRuleJob})
	for _, d := range []struct{ name, traffic, desc string }{{"deleteFirewallRule", db.TrafficIngress, "Deletes a firewall rule"},
		{"deleteEgressFirewallRule", db.TrafficEgress, "Deletes an egress firewall rule"}} {
		traffic := d.traffic
		s.Reg.Add(&Command{Name: d.name, Response: successResponse, Roles: AllRoles, Async: true, ResponseKey: "firewallrule",
			Description: d.desc,
			Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the ID of the firewall rule"}},
			Handler:     func(c *Call) (any, error) { return c.deleteRuleStart(db.PurposeFirewall, traffic) },
			Job:         func(c *Call, j *db.Job) (any, error) { return c.deleteRuleJob(j, db.PurposeFirewall, traffic) }})
	}
	for _, d := range []struct{ name, traffic string }{{"updateFirewallRule", db.TrafficIngress}, {"updateEgressFirewallRule", db.TrafficEgress}} {
		traffic := d.traffic
		s.Reg.Add(&Command{Name: d.name, Response: firewallResponse, Roles: AllRoles, Async: true, ResponseKey: "firewallrule",
			Description: "Updates firewall rule ",
			Params: []Param{{Name: "id", Type: TUUID, Required: true, Description: "the ID of the firewall rule"},
				{Name: "fordisplay", Type: TBool, Description: "an optional field, whether to the display the rule to the end user or not"},
				{Name: "customid", Type: TString, Description: "an optional field, in case you want to set a custom id to the resource. Allowed to Root Admins only"}},
			Handler: func(c *Call) (any, error) { return c.updateRuleStart(traffic) },
			Job: func(c *Call, j *db.Job) (any, error) {
				var disp *bool
				if b, ok := c.P.Bool("fordisplay"); ok {
					disp = &b
				}
				if err := network.UpdateRuleDisplay(c.Ctx, c.deps(), c.actor(), j.InstanceID, traffic, disp, c.P.String("customid")); err != nil {
					return nil, err
				}
				return c.ruleObject(j.InstanceID)
			}})
	}
	s.Reg.Add(&Command{Name: "listFirewallRules", Response: firewallResponse, Roles: AllRoles, List: true, ResponseKey: "firewallrule",
		Description: "Lists all firewall rules for an IP address.", Params: listParams,
		Handler: func(c *Call) (any, error) { return c.listRules(db.PurposeFirewall, db.TrafficIngress) }})
	s.Reg.Add(&Command{Name: "listEgressFirewallRules", Response: firewallResponse, Roles: AllRoles, List: true, ResponseKey: "firewallrule",
		Description: "Lists all egress firewall rules for network ID.", Params: listParams,
		Handler: func(c *Call) (any, error) { return c.listRules(db.PurposeFirewall, db.TrafficEgress) }})
	owner := func(c *Call, q db.Querier, id string) (string, string, error) {
		r, err := db.GetRule(c.Ctx, q, id)
		if err != nil {
			return "", "", err
		}
		return r.AccountID, r.DomainID, nil
	}
	RegisterTaggable("FirewallRule", owner)
	RegisterTaggable("PortForwardingRule", owner)
}

// portParam reads an optional port (-1 when not sent).
func (c *Call) portParam(name string) int {
	if v, ok := c.P.Int(name); ok {
		return v
	}
	return -1
}

// createRule validates a create*Rule call's parameters and starts its job.
func (c *Call) createRule(purpose, traffic string) (any, error) {
	spec := network.RuleSpec{Purpose: purpose, TrafficType: traffic, IPID: c.lowerID("ipaddressid"), NetworkID: c.lowerID("networkid"),
		Protocol: strings.ToLower(strings.TrimSpace(c.P.String("protocol"))), IcmpType: -1, IcmpCode: -1, DestStartPort: -1, DestEndPort: -1,
		ForDisplay: true}
	if b, ok := c.P.Bool("fordisplay"); ok {
		spec.ForDisplay = b
	}
	if t := strings.TrimSpace(c.P.String("type")); t != "" && !strings.EqualFold(t, "user") {
		return nil, ErrParam("Invalid type %q: only user rules can be created (type)", t)
	}
	var err error
	if spec.CIDRs, err = network.ParseCIDRs("cidrlist", c.P.List("cidrlist")); err != nil {
		return nil, err
	}
	if spec.DestCIDRs, err = network.ParseCIDRs("destcidrlist", c.P.List("destcidrlist")); err != nil {
		return nil, err
	}
	if purpose == db.PurposePortForwarding {
		spec.StartPort, spec.EndPort = c.portParam("publicport"), c.portParam("publicendport")
		spec.DestStartPort, spec.DestEndPort = c.portParam("privateport"), c.portParam("privateendport")
		if spec.EndPort == -1 {
			spec.EndPort = spec.StartPort
		}
		if spec.DestEndPort == -1 {
			spec.DestEndPort = spec.DestStartPort
		}
		spec.VMID, spec.VMIP = c.lowerID("virtualmachineid"), strings.TrimSpace(c.P.String("vmguestip"))
		spec.OpenFirewall = true // CloudStack's default outside VPCs
		if b, ok := c.P.Bool("openfirewall"); ok {
			spec.OpenFirewall = b
		}
	} else {
		spec.StartPort, spec.EndPort = c.portParam("startport"), c.portParam("endport")
		if spec.EndPort == -1 {
			spec.EndPort = spec.StartPort
		}
		if spec.Protocol == "icmp" {
			spec.IcmpType, spec.IcmpCode = c.portParam("icmptype"), c.portParam("icmpcode")
		} else if c.P.Has("icmptype") || c.P.Has("icmpcode") {
			return nil, ErrParam("Can specify icmpCode and icmpType for ICMP protocol only")
		}
	}
	if spec.Protocol == "" {
		return nil, ErrParam("Invalid protocol: tcp, udp, icmp or all (protocol)")
	}
	ruleID, jobID, err := network.CreateRule(c.Ctx, c.deps(), c.actor(), spec)
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: ruleID}, nil
}

// activateRuleJob is every create*Rule's job: the network's rules are applied.
func activateRuleJob(c *Call, j *db.Job) (any, error) {
	if err := network.ActivateRule(c.Ctx, c.deps(), j.InstanceID); err != nil {
		return nil, err
	}
	return c.ruleObject(j.InstanceID)
}

func (c *Call) deleteRuleStart(purpose, traffic string) (any, error) {
	r, err := network.RuleForCaller(c.Ctx, c.S.DB.Read(), c.actor(), c.lowerID("id"), purpose, traffic)
	if err != nil {
		return nil, err
	}
	return c.StartJob(network.RuleJobType, r.ID)
}

func (c *Call) updateRuleStart(traffic string) (any, error) {
	r, err := network.RuleForCaller(c.Ctx, c.S.DB.Read(), c.actor(), c.lowerID("id"), db.PurposeFirewall, traffic)
	if err != nil {
		return nil, err
	}
	if v := c.P.String("customid"); v != "" && v != r.ID {
		return nil, ErrParam("customid cannot be changed on a firewall rule")
	}
	return c.StartJob(network.RuleJobType, r.ID)
}

func (c *Call) deleteRuleJob(j *db.Job, purpose, traffic string) (any, error) {
	if err := network.RevokeRule(c.Ctx, c.deps(), c.actor(), j.InstanceID, purpose, traffic); err != nil {
		return nil, err
	}
	return Success(), nil
}

func (c *Call) listRules(purpose, traffic string) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	key := "firewallrule"
	typ := "FirewallRule"
	if purpose == db.PurposePortForwarding {
		key, typ = "portforwardingrule", "PortForwardingRule"
	}
	f := db.RuleFilter{ID: c.lowerID("id"), Purpose: purpose, NetworkID: c.lowerID("networkid"), IPID: c.lowerID("ipaddressid"),
		Keyword: c.P.String("keyword")}
	if purpose == db.PurposeFirewall {
		f.TrafficType = traffic
	}
	if f.IPID != "" {
		if _, err := network.PublicIPForCaller(c.Ctx, c.S.DB.Read(), c.Caller, f.IPID, false); err != nil {
			return nil, err
		}
	}
	if b, ok := c.P.Bool("fordisplay"); ok {
		f.ForDisplay = &b
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	f.Scope = scope
	f.TagClause, f.TagArgs = db.TagFilterClause(typ, "r.id", c.tagsParam())
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListRules(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items, err := c.renderRules(list)
	if err != nil {
		return nil, err
	}
	return ListResult{Key: key, Items: items, Count: total}, nil
}

func (c *Call) ruleObject(id string) (any, error) {
	r, err := db.GetRule(c.Ctx, c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	items, err := c.renderRules([]*db.FirewallRule{r})
	if err != nil {
		return nil, err
	}
	key := "firewallrule"
	if r.Purpose == db.PurposePortForwarding {
		key = "portforwardingrule"
	}
	return Object{Key: key, Value: items[0]}, nil
}

// renderRules renders firewall rules as FirewallResponse and port forwarding rules as
// FirewallRuleResponse, with their tags.
func (c *Call) renderRules(list []*db.FirewallRule) ([]any, error) {
	byType := map[string][]string{}
	maps := make([]map[string]any, len(list))
	for i, r := range list {
		m := map[string]any{"id": r.ID, "protocol": r.Protocol, "state": r.State, "networkid": r.NetworkID, "fordisplay": r.ForDisplay}
		if r.IPID != "" {
			m["ipaddressid"], m["ipaddress"] = r.IPID, r.Address
		}
		if r.Purpose == db.PurposePortForwarding {
			m["publicport"], m["publicendport"] = strconv.Itoa(r.StartPort), strconv.Itoa(r.EndPort)
			m["privateport"], m["privateendport"] = strconv.Itoa(r.DestStartPort), strconv.Itoa(r.DestEndPort)
			m["virtualmachineid"], m["vmguestip"] = r.VMID, r.VMIP
			set(m, "virtualmachinename", r.VMName)
			dn := r.VMDisplayName
			if dn == "" {
				dn = r.VMName
			}
			set(m, "virtualmachinedisplayname", dn)
			set(m, "cidrlist", r.CIDRs)
			byType["PortForwardingRule"] = append(byType["PortForwardingRule"], r.ID)
		} else {
			m["traffictype"], m["cidrlist"] = r.TrafficType, r.CIDRs
			if r.StartPort != -1 {
				m["startport"], m["endport"] = r.StartPort, r.EndPort
			}
			if r.Protocol == "icmp" {
				m["icmptype"], m["icmpcode"] = r.IcmpType, r.IcmpCode
			}
			if r.TrafficType == db.TrafficEgress {
				dest := r.DestCIDRs
				m["destcidrlist"] = dest
			}
			byType["FirewallRule"] = append(byType["FirewallRule"], r.ID)
		}
		maps[i] = m
	}
	for typ, ids := range byType {
		tags, err := db.TagsFor(c.Ctx, c.S.DB.Read(), typ, ids)
		if err != nil {
			return nil, err
		}
		for i, r := range list {
			if (typ == "PortForwardingRule") == (r.Purpose == db.PurposePortForwarding) {
				maps[i]["tags"] = renderTags(tags[r.ID])
			}
		}
	}
	items := make([]any, len(maps))
	for i, m := range maps {
		items[i] = m
	}
	return items, nil
}
