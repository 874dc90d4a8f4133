package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
)

func registerTemplatePermissions(s *Server) {
	for _, k := range []imageKind{templateKind, isoKind} {
		k := k
		noun, cmd := "template", "Template"
		if k.ISO {
			noun, cmd = "ISO", "Iso"
		}
		s.Reg.Add(&Command{Name: "update" + cmd + "Permissions", Response: successResponse, Roles: AllRoles,
			Description: "Updates a " + noun + " visibility permissions. A public " + noun + " is visible to all accounts within the same domain. A private " + noun + " is visible only to the owner of the " + noun + ". A privileged " + noun + " is a private " + noun + " with account permissions added. Only accounts specified under the " + noun + " permissions are visible to them.",
			Params: []Param{
				{Name: "id", Type: TUUID, Required: true, Description: "the " + noun + " ID"},
				{Name: "ispublic", Type: TBool, Description: "true for a public " + noun + ", false for a private one"},
				{Name: "isfeatured", Type: TBool, Description: "true for featured " + noun + "/ISO, false otherwise"},
				{Name: "isextractable", Type: TBool, Description: "true if the " + noun + "/ISO is extractable, false other wise. Can be set only by root admin."},
				{Name: "op", Type: TString, Description: "permission operator (add, remove, reset)"},
				{Name: "accounts", Type: TList, Description: "a comma delimited list of accounts within caller's domain. If specified, \"op\" parameter has to be passed in."},
				{Name: "projectids", Type: TList, Elem: "uuid", Description: "a comma delimited list of projects (projects are not supported)"},
			},
			Handler: func(c *Call) (any, error) { return c.updateImagePermissions(k) }})
		s.Reg.Add(&Command{Name: "list" + cmd + "Permissions", Response: templatePermissionsResponse, Roles: AllRoles, ResponseKey: "templatepermission",
			Description: "List " + noun + " visibility and all accounts that have permissions to view this " + noun + ".",
			Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the " + noun + " ID"}},
			Handler:     func(c *Call) (any, error) { return c.listImagePermissions(k) }})
	}
}

func (c *Call) updateImagePermissions(k imageKind) (any, error) {
	op := strings.ToLower(c.P.String("op"))
	accounts := c.P.List("accounts")
	if ids := c.P.List("projectids"); len(ids) > 0 {
		return nil, errNoProject(ids[0])
	}
	if len(accounts) > 0 && op != "add" && op != "remove" && op != "reset" {
		return nil, ErrParam("Invalid operation on accounts, the operation must be either 'add' or 'remove' in order to modify launch permissions.  Given operation is: '%s'", c.P.String("op"))
	}
	if op != "" && op != "add" && op != "remove" && op != "reset" {
		return nil, ErrParam("Invalid operation %s: use add, remove or reset", c.P.String("op"))
	}
	spec := template.PermissionsSpec{Op: op, Accounts: accounts}
	for name, dst := range map[string]**bool{"ispublic": &spec.Public, "isfeatured": &spec.Featured, "isextractable": &spec.Extractable} {
		if v, ok := c.P.Bool(name); ok {
			*dst = &v
		}
	}
	if err := template.UpdatePermissions(c.Ctx, c.deps(), c.actor(), k.Kind, c.P.String("id"), spec); err != nil {
		return nil, err
	}
	return Success(), nil
}

func (c *Call) listImagePermissions(k imageKind) (any, error) {
	q := c.S.DB.Read()
	t, err := c.imageByID(q, k, c.P.String("id"))
	if err != nil {
		return nil, err
	}
	if err := c.checkImageOwner(q, k, t); err != nil {
		if !t.IsPublic {
			return nil, ErrParam("unable to list permissions for %s with id %s", k.Noun, c.P.String("id"))
		}
	}
	ids, err := db.TemplatePermissions(c.Ctx, q, t.ID)
	if err != nil {
		return nil, err
	}
	names := []any{}
	for _, id := range ids {
		if a, err := db.GetAccount(c.Ctx, q, id); err == nil {
			names = append(names, a.Name)
		}
	}
	m := map[string]any{"id": t.ID, "ispublic": t.IsPublic}
	if len(names) > 0 { // CloudStack sets the account list only when someone holds a permission
		m["account"] = names
	}
	set(m, "domainid", t.DomainID)
	return Object{Key: "templatepermission", Value: m}, nil
}
