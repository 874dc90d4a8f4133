package api

import (
	"sort"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/securitygroup"
)

// Security groups (Basic zones and security-group-enabled Advanced zones): createSecurityGroup,
// updateSecurityGroup, deleteSecurityGroup, listSecurityGroups,
// authorize/revokeSecurityGroupIngress/Egress. The
// workflows are mgmt/orchestrate/securitygroup's.

// securityGroupRuleFields are CloudStack's SecurityGroupRuleResponse.
var securityGroupRuleFields = []Field{
	f("ruleid", rString, "the id of the rule"),
	f("protocol", rString, "the protocol of the rule: tcp, udp, icmp, all or a protocol number"),
	f("startport", rInt, "the first port of the rule's range (tcp, udp)"),
	f("endport", rInt, "the last port of the rule's range (tcp, udp)"),
	f("icmptype", rInt, "the ICMP type (icmp; -1 any)"),
	f("icmpcode", rInt, "the ICMP code (icmp; -1 any)"),
	f("cidr", rString, "the CIDR the rule allows"),
	f("securitygroupname", rString, "the name of the group whose members the rule allows"),
	f("account", rString, "the account of the group whose members the rule allows"),
	tags(rSet, "rule"),
}

// securityGroupFields are CloudStack's SecurityGroupResponse (without BaseResponse's).
var securityGroupFields = join(owner("security group"), []Field{
	f("id", rString, "the security group's id"),
	f("name", rString, "the security group's name"),
	f("description", rString, "the security group's description"),
	nested("ingressrule", rSet, "the group's ingress rules", securityGroupRuleFields...),
	nested("egressrule", rSet, "the group's egress rules", securityGroupRuleFields...),
	f("virtualmachinecount", rInt, "the number of VMs in the group"),
	f("virtualmachineids", rSet, "the ids of the VMs in the group"),
	tags(rSet, "security group"),
})

var securityGroupResponse = join(jobFields, securityGroupFields)

func registerSecurityGroups(s *Server) {
	s.Reg.Add(&Command{Name: "createSecurityGroup", Response: securityGroupResponse, Roles: AllRoles, ResponseKey: "securitygroup",
		Description: "Creates a security group",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "name of the security group"},
			{Name: "description", Type: TString, Length: 4096, Description: "the description of the security group"},
			{Name: "account", Type: TString, Description: "an optional account for the security group. Must be used with domainId."},
			{Name: "domainid", Type: TUUID, Description: "an optional domainId for the security group. If the account parameter is used, domainId must also be used."},
			{Name: "projectid", Type: TUUID, Description: "Create security group for project (projects are not supported)"},
		},
		Handler: createSecurityGroup})
	s.Reg.Add(&Command{Name: "deleteSecurityGroup", Response: successResponse, Roles: AllRoles,
		Description: "Deletes security group",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "The ID of the security group. Mutually exclusive with name parameter"},
			{Name: "name", Type: TString, Description: "The name of the security group. Mutually exclusive with id parameter"},
			{Name: "account", Type: TString, Description: "the account of the security group. Must be specified with domain ID"},
			{Name: "domainid", Type: TUUID, Description: "the domain ID of account owning the security group"},
			{Name: "projectid", Type: TUUID, Description: "the project of the security group (projects are not supported)"},
		},
		Handler: deleteSecurityGroup})
	s.Reg.Add(&Command{Name: "listSecurityGroups", Response: securityGroupResponse, Roles: AllRoles, List: true, ResponseKey: "securitygroup",
		Description: "Lists security groups",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "list the security group by the id provided"},
			Param{Name: "securitygroupname", Type: TString, Description: "lists security groups by name"},
			Param{Name: "virtualmachineid", Type: TUUID, Description: "lists security groups by virtual machine id"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (projects are not supported: refused)"},
			tagsListParam,
		),
		Handler: listSecurityGroups})
	s.Reg.Add(&Command{Name: "updateSecurityGroup", Response: securityGroupResponse, Roles: AllRoles, ResponseKey: "securitygroup",
		Description: "Updates a security group",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "The ID of the security group."},
			{Name: "name", Type: TString, Length: 255, Description: "The new name of the security group."},
			{Name: "customid", Type: TString, Description: "an optional field, in case you want to set a custom id to the resource. Allowed to Root Admins only"},
		},
		Handler: updateSecurityGroup})
	for _, typ := range []string{db.SGIngress, db.SGEgress} {
		word := "Ingress"
		if typ == db.SGEgress {
			word = "Egress"
		}
		s.Reg.Add(&Command{Name: "authorizeSecurityGroup" + word, Response: securityGroupResponse, Roles: AllRoles, Async: true, ResponseKey: "securitygroup",
			Description: "Authorizes a particular " + strings.ToLower(word) + " rule for this security group",
			Params: []Param{
				{Name: "securitygroupid", Type: TUUID, Description: "The ID of the security group. Mutually exclusive with securityGroupName parameter"},
				{Name: "securitygroupname", Type: TString, Description: "The name of the security group. Mutually exclusive with securityGroupId parameter"},
				{Name: "protocol", Type: TString, Description: "TCP is default. UDP is the other supported protocol"},
				{Name: "startport", Type: TInt, Description: "start port for this " + strings.ToLower(word) + " rule"},
				{Name: "endport", Type: TInt, Description: "end port for this " + strings.ToLower(word) + " rule"},
				{Name: "icmptype", Type: TInt, Description: "type of the icmp message being sent"},
				{Name: "icmpcode", Type: TInt, Description: "error code for this icmp message"},
				{Name: "cidrlist", Type: TList, Description: "the cidr list associated. Multiple entries must be separated by a single comma character (,)."},
				{Name: "usersecuritygrouplist", Type: TMap, Description: "user to security group mapping"},
				{Name: "account", Type: TString, Description: "an optional account for the security group. Must be used with domainId."},
				{Name: "domainid", Type: TUUID, Description: "an optional domainId for the security group. If the account parameter is used, domainId must also be used."},
				{Name: "projectid", Type: TUUID, Description: "an optional project of the security group (projects are not supported)"},
			},
			Handler: authorizeStart(typ), Job: authorizeJob(typ)})
		s.Reg.Add(&Command{Name: "revokeSecurityGroup" + word, Response: successResponse, Roles: AllRoles, Async: true,
			Description: "Deletes a particular " + strings.ToLower(word) + " rule from this security group",
			Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "The ID of the " + strings.ToLower(word) + " rule"}},
			Handler:     revokeStart(typ), Job: revokeJob(typ)})
	}
	RegisterTaggable("SecurityGroup", func(c *Call, q db.Querier, id string) (string, string, error) {
		g, err := db.GetSecurityGroup(c.Ctx, q, id)
		if err != nil {
			return "", "", err
		}
		return g.AccountID, g.DomainID, nil
	})
}

// renderSGRule renders one rule as CloudStack's SecurityGroupRuleResponse.
func renderSGRule(r *db.SecurityGroupRule) map[string]any {
	m := map[string]any{"ruleid": r.ID, "protocol": r.Protocol, "tags": []any{}}
	if r.Protocol == "icmp" {
		m["icmptype"], m["icmpcode"] = r.StartPort, r.EndPort
	} else {
		m["startport"], m["endport"] = r.StartPort, r.EndPort
	}
	if r.AllowedGroupID != "" {
		m["securitygroupname"], m["account"] = r.AllowedGroupName, r.AllowedAccountName
	} else {
		m["cidr"] = r.CIDR
	}
	return m
}

// sgRenderer renders groups with their rules, members and tags, read for all of them at once.
type sgRenderer struct {
	rules   map[string][]*db.SecurityGroupRule
	members map[string][]string
	tags    map[string][]db.Tag
}

func (c *Call) newSGRenderer(q db.Querier, groupIDs []string) (*sgRenderer, error) {
	r := &sgRenderer{rules: map[string][]*db.SecurityGroupRule{}, members: map[string][]string{}}
	if len(groupIDs) == 0 {
		return r, nil
	}
	rules, err := db.ListSecurityGroupRules(c.Ctx, q, groupIDs)
	if err != nil {
		return nil, err
	}
	for _, x := range rules {
		r.rules[x.GroupID] = append(r.rules[x.GroupID], x)
	}
	ms, err := db.ListSecurityGroupMembers(c.Ctx, q, nil, groupIDs)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		r.members[m.GroupID] = append(r.members[m.GroupID], m.VMID)
	}
	if r.tags, err = db.TagsFor(c.Ctx, q, "SecurityGroup", groupIDs); err != nil {
		return nil, err
	}
	return r, nil
}

// render renders a group as CloudStack's SecurityGroupResponse; only, when set, limits its
// rules to those (an authorize's answer holds the rules it added).
func (r *sgRenderer) render(g *db.SecurityGroup, only []*db.SecurityGroupRule) map[string]any {
	m := map[string]any{"id": g.ID, "name": g.Name, "account": g.AccountName, "domainid": g.DomainID, "domain": g.DomainName,
		"domainpath": g.DomainPath, "ingressrule": []any{}, "egressrule": []any{}, "tags": renderTags(r.tags[g.ID])}
	set(m, "description", g.Description)
	rules := r.rules[g.ID]
	if only != nil {
		rules = only
	}
	in, out := []any{}, []any{}
	for _, x := range rules {
		if x.Type == db.SGEgress {
			out = append(out, renderSGRule(x))
		} else {
			in = append(in, renderSGRule(x))
		}
	}
	m["ingressrule"], m["egressrule"] = in, out
	vms := append([]string{}, r.members[g.ID]...)
	sort.Strings(vms)
	ids := make([]any, len(vms))
	for i, v := range vms {
		ids[i] = v
	}
	m["virtualmachinecount"], m["virtualmachineids"] = len(vms), ids
	return m
}

func (c *Call) securityGroupObject(g *db.SecurityGroup, only []*db.SecurityGroupRule) (any, error) {
	r, err := c.newSGRenderer(c.S.DB.Read(), []string{g.ID})
	if err != nil {
		return nil, err
	}
	return Object{Key: "securitygroup", Value: r.render(g, only)}, nil
}

func createSecurityGroup(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	g, err := securitygroup.Create(c.Ctx, c.deps(), c.actor(), securitygroup.CreateSpec{Name: c.P.String("name"),
		Description: c.P.String("description"), AccountName: c.P.String("account"), DomainID: c.lowerID("domainid")})
	if err != nil {
		return nil, err
	}
	return c.securityGroupObject(g, nil)
}

func updateSecurityGroup(c *Call) (any, error) {
	if c.P.String("customid") != "" {
		return nil, ErrParam("customid is not supported: Atoll's ids are its own")
	}
	name := c.P.String("name")
	if c.P.Has("name") && strings.TrimSpace(name) == "" {
		return nil, ErrParam("Security group name cannot be empty")
	}
	g, err := securitygroup.Rename(c.Ctx, c.deps(), c.actor(), c.lowerID("id"), name)
	if err != nil {
		return nil, err
	}
	return c.securityGroupObject(g, nil)
}

func deleteSecurityGroup(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	err := securitygroup.Delete(c.Ctx, c.deps(), c.actor(), securitygroup.Ref{ID: c.lowerID("id"), Name: c.P.String("name"),
		AccountName: c.P.String("account"), DomainID: c.lowerID("domainid")})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}

func listSecurityGroups(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	// Every account has its default group: the caller's (and the one listed) get theirs now
	// if they were made before security groups were.
	for _, a := range []string{c.Caller.User.AccountID, scope.AccountID} {
		if a != "" {
			if err := securitygroup.EnsureDefaultFor(c.Ctx, c.deps(), a); err != nil {
				return nil, err
			}
		}
	}
	q := c.S.DB.Read()
	f := db.SecurityGroupFilter{ID: c.lowerID("id"), Name: strings.TrimSpace(c.P.String("securitygroupname")),
		Keyword: c.P.String("keyword"), Scope: scope}
	if id := c.P.String("virtualmachineid"); id != "" {
		v, err := c.vmOf(q, id)
		if err != nil {
			return nil, err
		}
		f.VMID = v.ID
	}
	f.TagClause, f.TagArgs = db.TagFilterClause("SecurityGroup", "g.id", c.tagsParam())
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListSecurityGroups(c.Ctx, q, f)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, g := range list {
		ids[i] = g.ID
	}
	r, err := c.newSGRenderer(q, ids)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, g := range list {
		items = append(items, r.render(g, nil))
	}
	return ListResult{Key: "securitygroup", Items: items, Count: total}, nil
}

// ruleSpec reads authorizeSecurityGroupIngress/Egress's parameters.
func (c *Call) ruleSpec() securitygroup.RuleSpec {
	s := securitygroup.RuleSpec{Group: securitygroup.Ref{ID: c.lowerID("securitygroupid"), Name: c.P.String("securitygroupname"),
		AccountName: c.P.String("account"), DomainID: c.lowerID("domainid")}, Protocol: c.P.String("protocol"), CIDRs: c.P.List("cidrlist")}
	intp := func(k string) *int {
		if n, ok := c.P.Int(k); ok {
			return &n
		}
		return nil
	}
	s.StartPort, s.EndPort, s.ICMPType, s.ICMPCode = intp("startport"), intp("endport"), intp("icmptype"), intp("icmpcode")
	for _, m := range c.P.Map("usersecuritygrouplist") {
		s.Peers = append(s.Peers, securitygroup.PeerGroup{Account: m["account"], Group: m["group"]})
	}
	return s
}

func authorizeStart(typ string) func(c *Call) (any, error) {
	return func(c *Call) (any, error) {
		if err := c.refuseProject(); err != nil {
			return nil, err
		}
		jobID, groupID, err := securitygroup.StartAuthorize(c.Ctx, c.deps(), c.actor(), typ, c.ruleSpec())
		if err != nil {
			return nil, err
		}
		c.S.Jobs.Wake()
		return JobStarted{JobID: jobID, ID: groupID}, nil
	}
}

func authorizeJob(typ string) JobFunc {
	return func(c *Call, j *db.Job) (any, error) {
		s := c.ruleSpec()
		s.Group = securitygroup.Ref{ID: j.InstanceID}
		g, added, err := securitygroup.Authorize(c.Ctx, c.deps(), c.actor(), typ, s)
		if err != nil {
			return nil, err
		}
		return c.securityGroupObject(g, added)
	}
}

func revokeStart(typ string) func(c *Call) (any, error) {
	return func(c *Call) (any, error) {
		jobID, err := securitygroup.StartRevoke(c.Ctx, c.deps(), c.actor(), typ, c.lowerID("id"))
		if err != nil {
			return nil, err
		}
		c.S.Jobs.Wake()
		return JobStarted{JobID: jobID}, nil
	}
}

func revokeJob(typ string) JobFunc {
	return func(c *Call, j *db.Job) (any, error) {
		if _, err := securitygroup.Revoke(c.Ctx, c.deps(), c.actor(), typ, c.lowerID("id")); err != nil {
			return nil, err
		}
		return Success(), nil
	}
}

// vmSecurityGroups renders the security groups of the VMs (vm id -> groups, in the order the
// VM joined them), as listVirtualMachines's securitygroup[].
func (c *Call) vmSecurityGroups(q db.Querier, vmIDs []string) (map[string][]map[string]any, error) {
	out := map[string][]map[string]any{}
	if len(vmIDs) == 0 {
		return out, nil
	}
	if some, err := db.AnyRows(c.Ctx, q, "security_group_vm_map", "1 = 1"); err != nil || !some {
		return out, err
	}
	var ms []*db.SecurityGroupMember
	for _, ch := range chunks(vmIDs, 1000) {
		part, err := db.ListSecurityGroupMembers(c.Ctx, q, ch, nil)
		if err != nil {
			return nil, err
		}
		ms = append(ms, part...)
	}
	if len(ms) == 0 {
		return out, nil
	}
	groups := map[string]map[string]any{}
	var ids []string
	for _, m := range ms {
		if _, ok := groups[m.GroupID]; !ok {
			groups[m.GroupID] = nil
			ids = append(ids, m.GroupID)
		}
	}
	r, err := c.newSGRenderer(q, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		g, err := db.GetSecurityGroup(c.Ctx, q, id)
		if err != nil {
			return nil, err
		}
		groups[id] = r.render(g, nil)
	}
	for _, m := range ms {
		out[m.VMID] = append(out[m.VMID], groups[m.GroupID])
	}
	return out, nil
}
