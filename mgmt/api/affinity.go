package api

import (
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
	"github.com/google/uuid"
)

// affinityTypes are the group types the planner honours (CloudStack's affinity processors).
var affinityTypes = []string{db.AffinityHostAnti, db.AffinityHost}

func registerAffinity(s *Server) {
	s.Reg.Add(&Command{Name: "createAffinityGroup", Response: affinityGroupResponse, Roles: AllRoles, Async: true, ResponseKey: "affinitygroup",
		Description: "Creates an affinity/anti-affinity group",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "name of the affinity group"},
			{Name: "type", Type: TString, Required: true, Description: "Type of the affinity group from the available affinity/anti-affinity group types"},
			{Name: "description", Type: TString, Length: 4096, Description: "optional description of the affinity group"},
			{Name: "account", Type: TString, Description: "an account for the affinity group. Must be used with domainId."},
			{Name: "domainid", Type: TUUID, Description: "domainId of the account owning the affinity group"},
			{Name: "projectid", Type: TUUID, Description: "create affinity group for project (projects are not supported)"},
		},
		Handler: createAffinityGroup, Job: affinityGroupJob})
	s.Reg.Add(&Command{Name: "deleteAffinityGroup", Response: successResponse, Roles: AllRoles, Async: true,
		Description: "Deletes affinity group; its VMs leave it.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "The ID of the affinity group. Mutually exclusive with name parameter"},
			{Name: "name", Type: TString, Description: "The name of the affinity group. Mutually exclusive with ID parameter"},
			{Name: "account", Type: TString, Description: "the account of the affinity group. Must be specified with domain ID"},
			{Name: "domainid", Type: TUUID, Description: "the domain ID of account owning the affinity group"},
			{Name: "projectid", Type: TUUID, Description: "the ID of the project (projects are not supported)"},
		},
		Handler: deleteAffinityGroup, Job: func(c *Call, j *db.Job) (any, error) { return Success(), nil }})
	s.Reg.Add(&Command{Name: "listAffinityGroups", Response: affinityGroupResponse, Roles: AllRoles, List: true, ResponseKey: "affinitygroup",
		Description: "Lists affinity groups",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "list the affinity group by the ID provided"},
			Param{Name: "name", Type: TString, Description: "lists affinity groups by name"},
			Param{Name: "type", Type: TString, Description: "lists affinity groups by type"},
			Param{Name: "virtualmachineid", Type: TUUID, Description: "lists affinity groups by virtual machine ID"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (projects are not supported: refused)"},
		),
		Handler: listAffinityGroups})
	s.Reg.Add(&Command{Name: "listAffinityGroupTypes", Response: affinityGroupTypeResponse, Roles: AllRoles, List: true, ResponseKey: "affinityGroupType",
		Description: "Lists affinity group types available", Handler: func(c *Call) (any, error) {
			items := make([]any, 0, len(affinityTypes))
			for _, t := range affinityTypes {
				items = append(items, map[string]any{"type": t})
			}
			return ListResult{Key: "affinityGroupType", Items: items, Count: len(items)}, nil
		}})
	s.Reg.Add(&Command{Name: "updateVMAffinityGroup", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Updates the affinity/anti-affinity group associations of a virtual machine. The VM has to be stopped and restarted for the new properties to take effect.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "The ID of the virtual machine"},
			{Name: "affinitygroupids", Type: TList, Elem: "uuid", Description: "comma separated list of affinity groups id that are going to be applied to the virtual machine. Should be passed only when vm is created from a zone with Basic Network support. Mutually exclusive with securitygroupnames parameter"},
			{Name: "affinitygroupnames", Type: TList, Description: "comma separated list of affinity groups names that are going to be applied to the virtual machine. Mutually exclusive with affinitygroupids parameter"},
		},
		Handler: updateVMAffinityGroup, Job: updateVMAffinityGroupJob})
}

func renderAffinityGroup(g *db.AffinityGroup, vmIDs []string) map[string]any {
	m := map[string]any{"id": g.ID, "name": g.Name, "type": g.Type, "account": g.AccountName, "domainid": g.DomainID,
		"domain": g.DomainName, "domainpath": g.DomainPath}
	if len(vmIDs) > 0 { // CloudStack leaves the list out when no VM is in the group
		m["virtualmachineIds"] = vmIDs
	}
	set(m, "description", g.Description)
	return m
}

func (c *Call) affinityGroupObject(q db.Querier, id string) (any, error) {
	g, err := db.GetAffinityGroup(c.Ctx, q, id)
	if err != nil {
		return nil, err
	}
	ms, err := c.groupMembers(q, []string{g.ID})
	if err != nil {
		return nil, err
	}
	return Object{Key: "affinitygroup", Value: renderAffinityGroup(g, ms[g.ID])}, nil
}

// groupMembers returns the member VM ids of the groups.
func (c *Call) groupMembers(q db.Querier, groupIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(groupIDs) == 0 {
		return out, nil
	}
	cond, args := "", make([]any, 0, len(groupIDs))
	for i, id := range groupIDs {
		if i > 0 {
			cond += ", "
		}
		cond += "?"
		args = append(args, id)
	}
	rows, err := q.QueryContext(c.Ctx, "SELECT group_id, vm_id FROM affinity_group_vm_map WHERE group_id IN ("+cond+") ORDER BY vm_id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var g, v string
		if err := rows.Scan(&g, &v); err != nil {
			return nil, err
		}
		out[g] = append(out[g], v)
	}
	return out, rows.Err()
}

func createAffinityGroup(c *Call) (any, error) {
	typ := ""
	for _, t := range affinityTypes {
		if strings.EqualFold(t, strings.TrimSpace(c.P.String("type"))) {
			typ = t
		}
	}
	if typ == "" {
		return nil, ErrParam("Unable to create affinity group, invalid affinity group type %s", c.P.String("type"))
	}
	var jobID, id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		owner, err := c.ownerForCreate(tx)
		if err != nil {
			return err
		}
		g := &db.AffinityGroup{ID: uuid.NewString(), Name: strings.TrimSpace(c.P.String("name")), Description: c.P.String("description"),
			Type: typ, AccountID: owner.ID, DomainID: owner.DomainID, Created: db.Now()}
		if err := db.InsertAffinityGroup(c.Ctx, tx, g); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("Unable to create affinity group, a group with name %s already exists.", g.Name)
			}
			return err
		}
		id = g.ID
		if jobID, err = c.EnqueueJob(tx, "AffinityGroup", g.ID); err != nil {
			return err
		}
		return c.Event(tx, "AG.CREATE", "Created affinity group "+g.Name, "AffinityGroup", g.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: id}, nil
}

func affinityGroupJob(c *Call, j *db.Job) (any, error) {
	return c.affinityGroupObject(c.S.DB.SQL, j.InstanceID)
}

// affinityGroupOf finds a group by id, or by name in the account given (or the caller's).
func (c *Call) affinityGroupOf(q db.Querier) (*db.AffinityGroup, error) {
	id, name := strings.ToLower(c.P.String("id")), c.P.String("name")
	if id == "" && name == "" {
		return nil, ErrParam("Either the affinity group's name or id is required")
	}
	if id != "" && name != "" {
		return nil, ErrParam("Either the affinity group's name or id is required, not both")
	}
	var g *db.AffinityGroup
	var err error
	if id != "" {
		g, err = db.GetAffinityGroup(c.Ctx, q, id)
	} else {
		owner, oerr := c.ownerForCreate(q)
		if oerr != nil {
			return nil, oerr
		}
		g, err = db.GetAffinityGroupByName(c.Ctx, q, owner.ID, name)
	}
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find affinity group %s%s", id, name)
	}
	if err != nil {
		return nil, err
	}
	if err := c.checkOwnerAccess(q, id+name, g.AccountID, g.DomainID); err != nil {
		return nil, err
	}
	return g, nil
}

// deleteAffinityGroup removes a group; as in CloudStack, its VMs simply leave it.
func deleteAffinityGroup(c *Call) (any, error) {
	var jobID, id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		g, err := c.affinityGroupOf(tx)
		if err != nil {
			return err
		}
		id = g.ID
		if err := db.RemoveAffinityGroup(c.Ctx, tx, g.ID); err != nil {
			return err
		}
		if jobID, err = c.EnqueueJob(tx, "AffinityGroup", g.ID); err != nil {
			return err
		}
		return c.Event(tx, "AG.DELETE", "Deleted affinity group "+g.Name, "AffinityGroup", g.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: id}, nil
}

func listAffinityGroups(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	q := c.S.DB.Read()
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	f := db.AffinityGroupFilter{ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), Type: c.P.String("type"),
		Keyword: c.P.String("keyword"), Scope: scope}
	if vm := c.P.String("virtualmachineid"); vm != "" {
		v, err := c.vmOf(q, vm)
		if err != nil {
			return nil, err
		}
		f.VMID = v.ID
	}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListAffinityGroups(c.Ctx, q, f)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, g := range list {
		ids[i] = g.ID
	}
	members, err := c.groupMembers(q, ids)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, g := range list {
		items = append(items, renderAffinityGroup(g, members[g.ID]))
	}
	return ListResult{Key: "affinitygroup", Items: items, Count: total}, nil
}

func updateVMAffinityGroup(c *Call) (any, error) {
	v, err := c.vmOf(c.S.DB.Read(), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	owner, err := db.GetAccount(c.Ctx, c.S.DB.Read(), v.AccountID)
	if err != nil {
		return nil, err
	}
	if _, err := c.affinityGroupsFor(c.S.DB.Read(), owner); err != nil {
		return nil, err
	}
	return c.vmJob("id")
}

// updateVMAffinityGroupJob replaces a Stopped VM's groups (vm.UpdateAffinityGroups).
func updateVMAffinityGroupJob(c *Call, j *db.Job) (any, error) {
	return c.vmAnswer(vm.UpdateAffinityGroups(c.Ctx, c.deps(), j.InstanceID, c.P.List("affinitygroupids"), c.P.List("affinitygroupnames")))
}
