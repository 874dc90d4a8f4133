package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
)

// Port forwarding rules: createPortForwardingRule, updatePortForwardingRule,
// deletePortForwardingRule, listPortForwardingRules. The work is
// mgmt/orchestrate/network's (rules.go, portforward.go).

func registerPortForwarding(s *Server) {
	s.Reg.Add(&Command{Name: "createPortForwardingRule", Response: portForwardingResponse, Roles: AllRoles, Async: true,
		ResponseKey: "portforwardingrule", Description: "Creates a port forwarding rule",
		Params: []Param{
			{Name: "ipaddressid", Type: TUUID, Required: true, Description: "the IP address id of the port forwarding rule"},
			{Name: "protocol", Type: TString, Required: true, Description: "the protocol for the port forwarding rule. Valid values are TCP or UDP."},
			{Name: "publicport", Type: TInt, Required: true, Description: "the starting port of port forwarding rule's public port range"},
			{Name: "publicendport", Type: TInt, Description: "the ending port of port forwarding rule's private port range"},
			{Name: "privateport", Type: TInt, Required: true, Description: "the starting port of port forwarding rule's private port range"},
			{Name: "privateendport", Type: TInt, Description: "the ending port of port forwarding rule's private port range"},
			{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "the ID of the virtual machine for the port forwarding rule"},
			{Name: "vmguestip", Type: TString, Description: "VM guest nic secondary IP address for the port forwarding rule"},
			{Name: "networkid", Type: TUUID, Description: "the network of the virtual machine the port forwarding rule will be created for."},
			{Name: "cidrlist", Type: TList, Description: "the source CIDR list to allow traffic from; all other CIDRs will be blocked."},
			{Name: "openfirewall", Type: TBool, Description: "if true, firewall rule for source/end public port is automatically created; if false - firewall rule has to be created explicitly. If not specified 1) defaulted to false when PF rule is being created for VPC guest network 2) in all other cases defaulted to true"},
			{Name: "fordisplay", Type: TBool, Description: "an optional field, whether to the display the rule to the end user or not"},
		},
		Handler: func(c *Call) (any, error) { return c.createRule(db.PurposePortForwarding, db.TrafficIngress) },
		Job:     activateRuleJob})
	s.Reg.Add(&Command{Name: "updatePortForwardingRule", Response: portForwardingResponse, Roles: AllRoles, Async: true,
		ResponseKey: "portforwardingrule", Description: "Updates a port forwarding rule. Only the private port and the virtual machine can be updated.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the port forwarding rule"},
			{Name: "privateport", Type: TInt, Description: "the private start port of the port forwarding rule"},
			{Name: "privateendport", Type: TInt, Description: "the private end port of the port forwarding rule"},
			{Name: "virtualmachineid", Type: TUUID, Description: "the ID of the virtual machine for the port forwarding rule"},
			{Name: "vmguestip", Type: TString, Description: "VM guest nic Secondary ip address for the port forwarding rule"},
			{Name: "cidrlist", Type: TList, Description: "the source CIDR list to allow traffic from; all other CIDRs will be blocked."},
			{Name: "customid", Type: TString, Description: "an optional field, in case you want to set a custom id to the resource. Allowed to Root Admins only"},
			{Name: "fordisplay", Type: TBool, Description: "an optional field, whether to the display the rule to the end user or not"},
		},
		Handler: updatePortForwardingStart, Job: updatePortForwardingJob})
	s.Reg.Add(&Command{Name: "deletePortForwardingRule", Response: successResponse, Roles: AllRoles, Async: true,
		ResponseKey: "portforwardingrule", Description: "Deletes a port forwarding rule",
		Params:  []Param{{Name: "id", Type: TUUID, Required: true, Description: "the ID of the port forwarding rule"}},
		Handler: func(c *Call) (any, error) { return c.deleteRuleStart(db.PurposePortForwarding, "") },
		Job:     func(c *Call, j *db.Job) (any, error) { return c.deleteRuleJob(j, db.PurposePortForwarding, "") }})
	s.Reg.Add(&Command{Name: "listPortForwardingRules", Response: portForwardingResponse, Roles: AllRoles, List: true,
		ResponseKey: "portforwardingrule", Description: "Lists all port forwarding rules for an IP address.",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "Lists rule with the specified ID."},
			Param{Name: "ipaddressid", Type: TUUID, Description: "the ID of IP address of the port forwarding services"},
			Param{Name: "networkid", Type: TUUID, Description: "list port forwarding rules for certain network"},
			Param{Name: "fordisplay", Type: TBool, Description: "list resources by display flag"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project"},
			tagsListParam,
		),
		Handler: func(c *Call) (any, error) { return c.listRules(db.PurposePortForwarding, "") }})
}

// portForwardUpdate reads updatePortForwardingRule's parameters.
func (c *Call) portForwardUpdate() (network.PortForwardUpdate, error) {
	u := network.PortForwardUpdate{VMID: c.lowerID("virtualmachineid"), VMIP: strings.TrimSpace(c.P.String("vmguestip")),
		DestStartPort: c.portParam("privateport"), DestEndPort: c.portParam("privateendport"), CustomID: c.P.String("customid")}
	if u.DestStartPort == -1 && u.DestEndPort != -1 {
		return u, ErrParam("privateendport needs privateport")
	}
	if c.P.Has("cidrlist") {
		cidrs, err := network.ParseCIDRs("cidrlist", c.P.List("cidrlist"))
		if err != nil {
			return u, err
		}
		u.CIDRs = &cidrs
	}
	if b, ok := c.P.Bool("fordisplay"); ok {
		u.ForDisplay = &b
	}
	return u, nil
}

func updatePortForwardingStart(c *Call) (any, error) {
	r, err := network.RuleForCaller(c.Ctx, c.S.DB.Read(), c.actor(), c.lowerID("id"), db.PurposePortForwarding, "")
	if err != nil {
		return nil, err
	}
	if _, err := c.portForwardUpdate(); err != nil {
		return nil, err
	}
	return c.StartJob(network.RuleJobType, r.ID)
}

func updatePortForwardingJob(c *Call, j *db.Job) (any, error) {
	u, err := c.portForwardUpdate()
	if err != nil {
		return nil, err
	}
	if err := network.UpdatePortForwarding(c.Ctx, c.deps(), c.actor(), j.InstanceID, u); err != nil {
		return nil, err
	}
	return c.ruleObject(j.InstanceID)
}
