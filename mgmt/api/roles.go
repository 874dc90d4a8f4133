package api

import (
	"errors"
	"regexp"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/google/uuid"
)

func registerRoles(s *Server) {
	// CloudStack lets root, resource and domain admins list roles (they pick one when
	// creating accounts); everything else about roles is the root admin's.
	s.Reg.Add(&Command{Name: "listRoles", Response: roleResponse, Roles: Admin | ResourceAdmin | DomainAdmin, List: true, ResponseKey: "role", Since: "4.9.0",
		Description: "Lists dynamic roles in CloudStack",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "List role by role ID."},
			{Name: "name", Type: TString, Description: "List role by role name."},
			{Name: "type", Type: TString, Description: "List role by role type, valid options are: Admin, ResourceAdmin, DomainAdmin, User."},
			{Name: "state", Type: TString, Description: "List role by role state, valid options are: enabled, disabled"},
		},
		Handler: listRoles})
	s.Reg.Add(&Command{Name: "createRole", Response: roleResponse, Roles: Admin, ResponseKey: "role", Since: "4.9.0",
		Description: "Creates a role",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "Creates a role with this unique name"},
			{Name: "type", Type: TString, Description: "The type of the role, valid options are: Admin, ResourceAdmin, DomainAdmin, User"},
			{Name: "roleid", Type: TUUID, Description: "ID of the role to be cloned from. Either roleid or type must be passed in"},
			{Name: "description", Type: TString, Length: 1024, Description: "The description of the role"},
			{Name: "ispublic", Type: TBool, Description: "Indicates whether the role will be visible to all users (public) or only to root admins (private). If this parameter is not specified during the creation of the role its value will be defaulted to true."},
		},
		Handler: createRole})
	s.Reg.Add(&Command{Name: "updateRole", Response: roleResponse, Roles: Admin, ResponseKey: "role", Since: "4.9.0",
		Description: "Updates a role",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "ID of the role"},
			{Name: "name", Type: TString, Length: 255, Description: "creates a role with this unique name"},
			{Name: "type", Type: TString, Description: "The type of the role, valid options are: Admin, ResourceAdmin, DomainAdmin, User"},
			{Name: "description", Type: TString, Length: 1024, Description: "The description of the role"},
			{Name: "ispublic", Type: TBool, Description: "Indicates whether the role will be visible to all users (public) or only to root admins (private)."},
		},
		Handler: updateRole})
	s.Reg.Add(&Command{Name: "deleteRole", Response: successResponse, Roles: Admin, Since: "4.9.0",
		Description: "Deletes a role",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "ID of the role"}},
		Handler:     deleteRole})
	// listRolePermissions is a plain command in CloudStack (BaseCmd), without paging.
	s.Reg.Add(&Command{Name: "listRolePermissions", Response: rolePermissionResponse, Roles: Admin, ResponseKey: "rolepermission", Since: "4.9.0",
		Description: "Lists role permissions",
		Params:      []Param{{Name: "roleid", Type: TUUID, Description: "ID of the role"}},
		Handler:     listRolePermissions})
	s.Reg.Add(&Command{Name: "createRolePermission", Response: rolePermissionResponse, Roles: Admin, ResponseKey: "rolepermission", Since: "4.9.0",
		Description: "Adds an API permission to a role",
		Params: []Param{
			{Name: "roleid", Type: TUUID, Required: true, Description: "ID of the role"},
			{Name: "rule", Type: TString, Required: true, Length: 255, Description: "The API name or wildcard rule such as list*"},
			{Name: "permission", Type: TString, Required: true, Description: "The rule permission, allow or deny. Default: deny."},
			{Name: "description", Type: TString, Length: 1024, Description: "The description of the role permission"},
		},
		Handler: createRolePermission})
	s.Reg.Add(&Command{Name: "updateRolePermission", Response: successResponse, Roles: Admin, Since: "4.9.0",
		Description: "Updates a role permission order",
		Params: []Param{
			{Name: "roleid", Type: TUUID, Required: true, Description: "ID of the role"},
			{Name: "ruleorder", Type: TList, Elem: "uuid", Description: "The parent role permission uuid, use 0 to move this rule at the top of the list"},
			{Name: "ruleid", Type: TUUID, Description: "Role permission rule id"},
			{Name: "permission", Type: TString, Description: "Rule permission, can be: allow or deny"},
		},
		Handler: updateRolePermission})
	s.Reg.Add(&Command{Name: "deleteRolePermission", Response: successResponse, Roles: Admin, Since: "4.9.0",
		Description: "Deletes a role permission",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "ID of the role permission"}},
		Handler:     deleteRolePermission})
}

// Roles have no enable/disable yet, so every live role is enabled.
const roleStateEnabled = "enabled"

func renderRole(r *db.Role) map[string]any {
	m := map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "isdefault": r.IsDefault, "ispublic": r.IsPublic,
		"state": roleStateEnabled}
	set(m, "description", r.Description)
	return m
}

func renderRolePermission(p *db.RolePermission) map[string]any {
	m := map[string]any{"id": p.ID, "roleid": p.RoleID, "rolename": p.RoleName, "rule": p.Rule,
		"permission": strings.ToLower(p.Permission)}
	set(m, "description", p.Description)
	return m
}

// roleVisible reports whether the caller may see a role, as CloudStack's RoleManagerImpl
// decides: root admins see every role; others never see Admin-type or private roles, nor a
// role that allows a command their own role does not.
func (c *Call) roleVisible(r *db.Role, callerRules []*db.RolePermission) (bool, error) {
	if c.Caller.IsRootAdmin() {
		return true, nil
	}
	if r.Type == iam.RoleAdmin || !r.IsPublic {
		return false, nil
	}
	if r.ID == c.Caller.User.RoleID {
		return true, nil
	}
	rules, err := db.ListRolePermissions(c.Ctx, c.S.DB.Read(), r.ID, "")
	if err != nil {
		return false, err
	}
	for _, cmd := range c.S.Reg.All() {
		if iam.Allowed(rules, cmd.Name) && !iam.Allowed(callerRules, cmd.Name) {
			return false, nil
		}
	}
	return true, nil
}

func listRoles(c *Call) (any, error) {
	f := db.RoleFilter{ID: strings.ToLower(c.P.String("id")), Name: strings.TrimSpace(c.P.String("name"))}
	if t := c.P.String("type"); t != "" {
		if f.Type = iam.NormalizeRoleType(t); f.Type == "" {
			return nil, ErrParam("Invalid role type %s: valid options are Admin, ResourceAdmin, DomainAdmin, User", t)
		}
	}
	if st := c.P.String("state"); st != "" && !strings.EqualFold(st, roleStateEnabled) {
		if !strings.EqualFold(st, "disabled") {
			return nil, ErrParam("Invalid role state %s: valid options are enabled, disabled", st)
		}
		return ListResult{Key: "role"}, nil
	}
	all, _, err := db.ListRoles(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	var callerRules []*db.RolePermission
	if !c.Caller.IsRootAdmin() {
		if callerRules, err = c.S.roleRules(c.Ctx, c.Caller.User.RoleID); err != nil {
			return nil, err
		}
	}
	kw := strings.ToLower(c.P.String("keyword"))
	var items []any
	for _, r := range all {
		if kw != "" && !strings.Contains(strings.ToLower(r.Name), kw) {
			continue
		}
		ok, err := c.roleVisible(r, callerRules)
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, renderRole(r))
		}
	}
	total := len(items)
	if limit, offset := c.P.Paging(); limit > 0 {
		items = items[min(offset, total):min(offset+limit, total)]
	}
	return ListResult{Key: "role", Items: items, Count: total}, nil
}

// roleByID loads a live role, answering CloudStack's "Invalid role id provided" when it is
// missing.
func (c *Call) roleByID(q db.Querier, id string) (*db.Role, error) {
	r, err := db.GetRole(c.Ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Invalid role id provided: %s", id)
	}
	return r, err
}

func createRole(c *Call) (any, error) {
	name := strings.TrimSpace(c.P.String("name"))
	typ, cloneID := c.P.String("type"), c.P.String("roleid")
	switch {
	case typ == "" && cloneID == "":
		return nil, ErrParam("Neither role type nor role ID is provided")
	case typ != "" && cloneID != "":
		return nil, ErrParam("Both role type and role ID should not be specified")
	}
	r := &db.Role{ID: uuid.NewString(), Name: name, Description: c.P.String("description"), IsPublic: true, Created: db.Now()}
	if v, ok := c.P.Bool("ispublic"); ok {
		r.IsPublic = v
	}
	if typ != "" {
		if r.Type = iam.NormalizeRoleType(typ); r.Type == "" {
			return nil, ErrParam("Invalid role type provided: %s; valid options are Admin, ResourceAdmin, DomainAdmin, User", typ)
		}
	}
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		var rules []*db.RolePermission
		if cloneID != "" {
			src, err := c.roleByID(tx, cloneID)
			if err != nil {
				return err
			}
			r.Type = src.Type
			if rules, err = db.ListRolePermissions(c.Ctx, tx, src.ID, ""); err != nil {
				return err
			}
		}
		if err := db.InsertRole(c.Ctx, tx, r); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("Role with name %s already exists", name)
			}
			return err
		}
		for i, p := range rules {
			cp := &db.RolePermission{ID: uuid.NewString(), RoleID: r.ID, Rule: p.Rule, Permission: p.Permission,
				Description: p.Description, SortOrder: i, Created: r.Created}
			if err := db.InsertRolePermission(c.Ctx, tx, cp); err != nil {
				return err
			}
		}
		desc := "Creating role " + name + " of type " + r.Type
		if cloneID != "" {
			desc = "Creating role " + name + " by cloning role " + cloneID
		}
		return c.Event(tx, "ROLE.CREATE", desc, "Role", r.ID)
	})
	if err != nil {
		return nil, err
	}
	return Object{Key: "role", Value: renderRole(r)}, nil
}

func updateRole(c *Call) (any, error) {
	var out *db.Role
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		r, err := c.roleByID(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		name, typ, desc := strings.TrimSpace(c.P.String("name")), c.P.String("type"), c.P.String("description")
		public, hasPublic := c.P.Bool("ispublic")
		if r.IsDefault {
			// CloudStack: a default role may only be made public or private.
			if !hasPublic || name != "" || typ != "" || desc != "" {
				return ErrDenied("Default roles cannot be updated (with the exception of making it private/public).")
			}
		}
		if name != "" {
			r.Name = name
		}
		if typ != "" {
			nt := iam.NormalizeRoleType(typ)
			if nt == "" {
				return ErrParam("Invalid role type provided: %s; valid options are Admin, ResourceAdmin, DomainAdmin, User", typ)
			}
			if nt != r.Type {
				n, err := db.CountAccountsWithRole(c.Ctx, tx, r.ID)
				if err != nil {
					return err
				}
				if n > 0 {
					return ErrDenied("Found accounts that have role in use, won't allow to change role type")
				}
				r.Type = nt
			}
		}
		if desc != "" {
			r.Description = desc
		}
		if hasPublic {
			r.IsPublic = public
		}
		if err := db.UpdateRole(c.Ctx, tx, r); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("Role with name %s already exists", r.Name)
			}
			return err
		}
		r.Version++
		out = r
		return c.Event(tx, "ROLE.UPDATE", "Updating role "+r.Name, "Role", r.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return Object{Key: "role", Value: renderRole(out)}, nil
}

func deleteRole(c *Call) (any, error) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		r, err := c.roleByID(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		if r.IsDefault {
			return ErrDenied("Default roles cannot be deleted")
		}
		n, err := db.CountAccountsWithRole(c.Ctx, tx, r.ID)
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrDenied("Found accounts that have role in use, won't allow to delete role")
		}
		if err := db.RemoveRole(c.Ctx, tx, r.ID); err != nil {
			return err
		}
		return c.Event(tx, "ROLE.DELETE", "Deleting role "+r.Name, "Role", r.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return Success(), nil
}

func listRolePermissions(c *Call) (any, error) {
	roleID := c.P.String("roleid")
	if roleID != "" {
		if _, err := c.roleByID(c.S.DB.Read(), roleID); err != nil {
			return nil, err
		}
	}
	rules, err := db.ListRolePermissions(c.Ctx, c.S.DB.Read(), strings.ToLower(roleID), "")
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(rules))
	for _, p := range rules {
		items = append(items, renderRolePermission(p))
	}
	return ListResult{Key: "rolepermission", Items: items, Count: len(items)}, nil
}

// ruleRE is CloudStack's Rule pattern: API names and '*' wildcards only.
var ruleRE = regexp.MustCompile(`^[a-zA-Z0-9*]+$`)

// parsePermission accepts allow or deny in any case.
func parsePermission(v string) (string, error) {
	switch p := strings.ToLower(strings.TrimSpace(v)); p {
	case "allow", "deny":
		return p, nil
	}
	return "", ErrParam("Values for permission parameter should be: allow or deny")
}

func createRolePermission(c *Call) (any, error) {
	rule := strings.TrimSpace(c.P.String("rule"))
	if !ruleRE.MatchString(rule) {
		return nil, ErrParam("Only API names and wildcards are allowed, invalid rule provided: %s", rule)
	}
	perm, err := parsePermission(c.P.String("permission"))
	if err != nil {
		return nil, err
	}
	p := &db.RolePermission{ID: uuid.NewString(), Rule: rule, Permission: perm, Description: c.P.String("description"), Created: db.Now()}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		r, err := c.roleByID(tx, c.P.String("roleid"))
		if err != nil {
			return err
		}
		if r.IsDefault {
			return ErrDenied("Role permission cannot be added for Default roles")
		}
		existing, err := db.ListRolePermissions(c.Ctx, tx, r.ID, "")
		if err != nil {
			return err
		}
		for _, e := range existing {
			if strings.EqualFold(e.Rule, rule) {
				return ErrDenied("Rule already exists for the role: %s", r.Name)
			}
		}
		if p.SortOrder, err = db.NextRulePosition(c.Ctx, tx, r.ID); err != nil {
			return err
		}
		p.RoleID, p.RoleName = r.ID, r.Name
		if err := db.InsertRolePermission(c.Ctx, tx, p); err != nil {
			return err
		}
		return c.Event(tx, "ROLE.PERMISSION.CREATE", "Creating role permission "+perm+" "+rule+" for role "+r.Name, "Role", r.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return Object{Key: "rolepermission", Value: renderRolePermission(p)}, nil
}

func updateRolePermission(c *Call) (any, error) {
	order := c.P.List("ruleorder")
	ruleID, permission := c.P.String("ruleid"), c.P.String("permission")
	hasOrder := c.P.Has("ruleorder")
	switch {
	case hasOrder && (ruleID != "" || permission != ""):
		return nil, ErrParam("Parameters permission and ruleid must be mutually exclusive with ruleorder")
	case !hasOrder && (ruleID == "" || permission == ""):
		// CloudStack silently answers success=false here; say what is missing instead.
		return nil, ErrParam("Either ruleorder, or both ruleid and permission, must be provided")
	}
	var perm string
	if !hasOrder {
		var err error
		if perm, err = parsePermission(permission); err != nil {
			return nil, err
		}
	}
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		r, err := c.roleByID(tx, c.P.String("roleid"))
		if err != nil {
			return err
		}
		if r.IsDefault {
			return ErrDenied("Role permission cannot be updated for Default roles")
		}
		current, err := db.ListRolePermissions(c.Ctx, tx, r.ID, "")
		if err != nil {
			return err
		}
		byID := map[string]*db.RolePermission{}
		for _, p := range current {
			byID[p.ID] = p
		}
		if !hasOrder {
			p := byID[strings.ToLower(ruleID)]
			if p == nil {
				return ErrParam("Invalid rule id provided: %s", ruleID)
			}
			if err := db.UpdateRolePermission(c.Ctx, tx, p.ID, perm); err != nil {
				return err
			}
			return c.Event(tx, "ROLE.PERMISSION.UPDATE", "Updating permission of rule "+p.Rule+" of role "+r.Name+" to "+perm, "Role", r.ID)
		}
		seen := map[string]bool{}
		for _, id := range order {
			id = strings.ToLower(id)
			if byID[id] == nil {
				return ErrParam("Provided role permission(s) do not exist: %s is not a rule of role %s", id, r.Name)
			}
			if seen[id] {
				return ErrParam("Role permission %s is listed twice in ruleorder", id)
			}
			seen[id] = true
		}
		if len(order) != len(current) {
			return ErrParam("The role permission list provided mismatches the current role permissions: ruleorder must list all %d rules of role %s",
				len(current), r.Name)
		}
		for i, id := range order {
			if err := db.SetRulePosition(c.Ctx, tx, strings.ToLower(id), i); err != nil {
				return err
			}
		}
		return c.Event(tx, "ROLE.PERMISSION.UPDATE", "Reordering permissions of role "+r.Name, "Role", r.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return Success(), nil
}

func deleteRolePermission(c *Call) (any, error) {
	id := strings.ToLower(c.P.String("id"))
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		found, err := db.ListRolePermissions(c.Ctx, tx, "", id)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return ErrParam("Invalid role permission id provided: %s", id)
		}
		p := found[0]
		r, err := c.roleByID(tx, p.RoleID)
		if err != nil {
			return err
		}
		if r.IsDefault {
			return ErrDenied("Role permission cannot be deleted for Default roles")
		}
		if err := db.DeleteRolePermission(c.Ctx, tx, p.ID); err != nil {
			return err
		}
		return c.Event(tx, "ROLE.PERMISSION.DELETE", "Deleting role permission "+p.Rule+" of role "+r.Name, "Role", r.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return Success(), nil
}
