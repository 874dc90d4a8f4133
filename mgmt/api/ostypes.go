package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
)

func registerOSTypes(s *Server) {
	s.Reg.Add(&Command{Name: "listOsTypes", Response: osTypeResponse, Roles: AllRoles, List: true, ResponseKey: "ostype",
		Description: "Lists all supported OS types for this cloud.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "list by Os type Id"},
			{Name: "ids", Type: TList, Elem: "uuid", Description: "list by Os type Ids"},
			{Name: "oscategoryid", Type: TUUID, Description: "list by Os Category id"},
			{Name: "description", Type: TString, Description: "list os by description"},
			{Name: "fordisplay", Type: TBool, Description: "list resources by display flag (root admins only)"},
		},
		Handler: listOsTypes})
	s.Reg.Add(&Command{Name: "listOsCategories", Response: osCategoryResponse, Roles: AllRoles, List: true, ResponseKey: "oscategory",
		Description: "Lists all supported OS categories for this cloud.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "list Os category by id"},
			{Name: "name", Type: TString, Description: "list os category by name"},
			{Name: "isfeatured", Type: TBool, Description: "list available OS categories by featured or not"},
			{Name: "showicon", Type: TBool, Description: "show the icon (there are none)"},
			{Name: "zoneid", Type: TUUID, Description: "List available OS categories types for the zone (those with templates there)"},
			{Name: "arch", Type: TString, Description: "List OS category types by the architecture of their templates (Atoll's are x86_64)"},
			{Name: "isiso", Type: TBool, Description: "List available OS categories by ISO flag (those with ISOs, or with templates)"},
			{Name: "isvnf", Type: TBool, Description: "List available OS categories having VNF templates (Atoll has none)"},
		},
		Handler: listOsCategories})
}

func listOsTypes(c *Call) (any, error) {
	f := db.OSTypeFilter{ID: c.lowerID("id"), CategoryID: c.lowerID("oscategoryid"), Description: c.P.String("description"),
		Keyword: c.P.String("keyword")}
	// CloudStack shows only displayable OS types to anyone but a root admin.
	if v, ok := c.P.Bool("fordisplay"); ok && c.Caller.IsRootAdmin() {
		f.ForDisplay = &v
	} else if !c.Caller.IsRootAdmin() {
		t := true
		f.ForDisplay = &t
	}
	ids := map[string]bool{}
	for _, id := range c.P.List("ids") {
		ids[strings.ToLower(id)] = true
	}
	if len(ids) == 0 {
		f.Limit, f.Offset = c.P.Paging()
	}
	list, total, err := db.ListOSTypes(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	cats, _, err := db.ListOSCategories(c.Ctx, c.S.DB.Read(), db.OSCategoryFilter{})
	if err != nil {
		return nil, err
	}
	catName := map[string]string{}
	for _, k := range cats {
		catName[k.ID] = k.Name
	}
	var items []any
	for _, t := range list {
		if len(ids) > 0 && !ids[t.ID] {
			continue
		}
		m := map[string]any{"id": t.ID, "name": t.Description, "description": t.Description, "oscategoryid": t.CategoryID,
			"isuserdefined": t.IsUserDefined, "fordisplay": t.ForDisplay}
		set(m, "oscategoryname", catName[t.CategoryID])
		items = append(items, m)
	}
	if len(ids) > 0 {
		total = len(items)
		items = c.pageItems(items)
	}
	return ListResult{Key: "ostype", Items: items, Count: total}, nil
}

func listOsCategories(c *Call) (any, error) {
	f := db.OSCategoryFilter{ID: c.lowerID("id"), Name: c.P.String("name"), Keyword: c.P.String("keyword")}
	if v, ok := c.P.Bool("isfeatured"); ok {
		f.Featured = &v
	}
	// zoneid, arch, isiso and isvnf list the categories that have such templates.
	f.TemplateZoneID = c.lowerID("zoneid")
	if v, ok := c.P.Bool("isiso"); ok {
		f.TemplateISO = &v
	}
	if v, ok := c.P.Bool("isvnf"); ok {
		f.TemplateVNF = &v
	}
	arch := c.P.String("arch")
	if arch != "" && !strings.EqualFold(arch, "x86_64") {
		return ListResult{Key: "oscategory"}, nil // every template is x86_64: none has this arch
	}
	f.WithTemplates = f.TemplateZoneID != "" || f.TemplateISO != nil || f.TemplateVNF != nil || arch != ""
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListOSCategories(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, k := range list {
		items = append(items, map[string]any{"id": k.ID, "name": k.Name, "isfeatured": k.Featured, "created": FormatTime(k.Created)})
	}
	return ListResult{Key: "oscategory", Items: items, Count: total}, nil
}
