package api

import (
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
)

// templateFilters are CloudStack's TemplateFilter values.
var templateFilters = []string{"featured", "self", "selfexecutable", "sharedexecutable", "executable", "community", "all"}

func registerTemplateLists(s *Server) {
	s.Reg.Add(&Command{Name: "listTemplates", Response: templateResponse, Roles: AllRoles, List: true, ResponseKey: "template",
		Description: "List all public, private, and privileged templates.",
		Params: withScope(
			Param{Name: "templatefilter", Type: TString, Required: true, Description: "possible values are featured, self, selfexecutable, sharedexecutable, executable, community and all"},
			Param{Name: "id", Type: TUUID, Description: "the template ID"},
			Param{Name: "ids", Type: TList, Elem: "uuid", Description: "the IDs of the templates, mutually exclusive with id"},
			Param{Name: "name", Type: TString, Description: "the template name"},
			Param{Name: "zoneid", Type: TUUID, Description: "list templates by zoneId"},
			Param{Name: "hypervisor", Type: TString, Description: "the hypervisor for which to restrict the search"},
			Param{Name: "showremoved", Type: TBool, Description: "show removed templates as well"},
			Param{Name: "isready", Type: TBool, Description: "list templates that are ready to be deployed"},
			Param{Name: "templatetype", Type: TString, Description: "the type of the template"},
			Param{Name: "showunique", Type: TBool, Description: "If set to true, list only unique templates across zones"},
			Param{Name: "showicon", Type: TBool, Description: "flag to display the resource image for the templates"},
			Param{Name: "details", Type: TList, Description: "comma separated list of template details requested"},
			Param{Name: "arch", Type: TString, Description: "the CPU arch of the template"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (projects are not supported: refused)"},
			tagsListParam,
		),
		Handler: func(c *Call) (any, error) { return c.listImages(templateKind, c.P.String("templatefilter")) }})
}

// imageVisibility is the SQL condition on templates t for a filter and the caller's scope.
func (c *Call) imageVisibility(filter string) (string, []any, *bool, error) {
	scope, err := c.ListScope()
	if err != nil {
		return "", nil, nil, err
	}
	ready := true
	own, ownArgs := templateScopeCond(scope)
	// executable's shared templates are those shared with the account listed for (the
	// caller's own unless account/domainid name another).
	sharedWith := db.Scope{AccountID: c.Caller.User.AccountID}
	if scope.AccountID != "" {
		sharedWith.AccountID = scope.AccountID
	}
	shared, sharedArgs := templateSharedCond(sharedWith)
	switch strings.ToLower(filter) {
	case "self":
		return own, ownArgs, nil, nil
	case "selfexecutable":
		return own, ownArgs, &ready, nil
	case "sharedexecutable":
		s, a := templateSharedCond(scope)
		return s, a, &ready, nil
	case "executable":
		return "(" + own + " OR t.is_public = 1 OR " + shared + ")", append(ownArgs, sharedArgs...), &ready, nil
	case "featured":
		return "t.featured = 1", nil, &ready, nil
	case "community":
		return "t.is_public = 1 AND t.featured = 0", nil, &ready, nil
	case "all":
		if !c.Caller.IsAdmin() {
			return "", nil, nil, ErrParam("Filter all can be specified by admin only")
		}
		if c.Caller.IsRootAdmin() && c.P.String("domainid") == "" && c.P.String("account") == "" {
			return "1 = 1", nil, nil, nil
		}
		if c.P.String("domainid") == "" && c.P.String("account") == "" {
			scope = c.VisibleScope()
			own, ownArgs = templateScopeCond(scope)
		}
		return "(" + own + " OR t.is_public = 1)", ownArgs, nil, nil
	}
	return "", nil, nil, ErrParam("Invalid template filter %s: use one of %s", filter, strings.Join(templateFilters, ", "))
}

// templateScopeCond restricts templates t to owners within a scope.
func templateScopeCond(s db.Scope) (string, []any) {
	var w []string
	var args []any
	if s.AccountID != "" {
		w, args = append(w, "t.account_id = ?"), append(args, s.AccountID)
	}
	if s.DomainPath != "" {
		if s.Recursive {
			w = append(w, "t.domain_id IN (SELECT id FROM domains WHERE path = ? OR path LIKE ?"+db.LikeEscape+")")
			args = append(args, s.DomainPath, db.LikePrefix(s.DomainPath+"/"))
		} else {
			w, args = append(w, "t.domain_id IN (SELECT id FROM domains WHERE path = ?)"), append(args, s.DomainPath)
		}
	}
	if len(w) == 0 {
		return "1 = 1", nil
	}
	return "(" + strings.Join(w, " AND ") + ")", args
}

// templateSharedCond keeps templates t shared with an account within a scope.
func templateSharedCond(s db.Scope) (string, []any) {
	if s.AccountID != "" {
		return "t.id IN (SELECT template_id FROM template_permissions WHERE account_id = ?)", []any{s.AccountID}
	}
	if s.DomainPath == "" {
		return "t.id IN (SELECT template_id FROM template_permissions)", nil
	}
	cond := "d.path = ?"
	args := []any{s.DomainPath}
	if s.Recursive {
		cond = "(d.path = ? OR d.path LIKE ?" + db.LikeEscape + ")"
		args = append(args, db.LikePrefix(s.DomainPath+"/"))
	}
	return "t.id IN (SELECT p.template_id FROM template_permissions p JOIN accounts a ON a.id = p.account_id JOIN domains d ON d.id = a.domain_id WHERE " +
		cond + ")", args
}

// listImages answers listTemplates and listIsos: one item per (template, zone).
func (c *Call) listImages(k imageKind, filter string) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	if c.P.String("id") != "" && c.P.String("ids") != "" {
		return nil, ErrParam("Specify either id or ids but not both parameters")
	}
	visible, args, ready, err := c.imageVisibility(filter)
	if err != nil {
		return nil, err
	}
	if err := template.EnsureBuiltin(c.Ctx, c.deps()); err != nil {
		return nil, err
	}
	f := db.TemplateFilter{ISO: k.ISO, ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), Keyword: c.P.String("keyword"),
		ZoneID: strings.ToLower(c.P.String("zoneid")), Hypervisor: c.P.String("hypervisor"), Visible: visible, Args: args, Ready: ready,
		Tags: c.tagsParam()}
	for _, id := range c.P.List("ids") {
		f.IDs = append(f.IDs, strings.ToLower(id))
	}
	// isready=true keeps ready ones only; false filters nothing (CloudStack's isReady()).
	if v, _ := c.P.Bool("isready"); v {
		f.Ready = &v
	}
	if v, ok := c.P.Bool("showremoved"); ok {
		f.ShowRemoved = v
	}
	for name, dst := range map[string]**bool{"bootable": &f.Bootable, "ispublic": &f.Public} {
		if v, ok := c.P.Bool(name); ok {
			*dst = &v
		}
	}
	if tt := c.P.String("templatetype"); tt != "" {
		f.TemplateTypes = []string{strings.ToUpper(tt)}
	}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListTemplates(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items, err := c.renderImages(k, list)
	if err != nil {
		return nil, err
	}
	return ListResult{Key: k.key, Items: items, Count: total}, nil
}

// imageItems lists and renders the (template, zone) items a filter selects, unpaged.
func (c *Call) imageItems(k imageKind, f db.TemplateFilter) ([]any, error) {
	f.ISO = k.ISO
	list, _, err := db.ListTemplates(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	return c.renderImages(k, list)
}

// names caches account, domain and OS type names while rendering a list.
type imageNames struct {
	c        *Call
	accounts map[string]*db.Account
	domains  map[string]*db.Domain
	osTypes  map[string]string
	root     *db.Domain
}

func (n *imageNames) account(id string) *db.Account {
	if a, ok := n.accounts[id]; ok {
		return a
	}
	a, _ := db.GetAccount(n.c.Ctx, n.c.S.DB.Read(), id)
	n.accounts[id] = a
	return a
}

func (n *imageNames) domain(id string) *db.Domain {
	if id == "" {
		if n.root == nil {
			n.root, _ = db.GetDomainByPath(n.c.Ctx, n.c.S.DB.Read(), "ROOT")
		}
		return n.root
	}
	if d, ok := n.domains[id]; ok {
		return d
	}
	d, _ := db.GetDomain(n.c.Ctx, n.c.S.DB.Read(), id)
	n.domains[id] = d
	return d
}

func (n *imageNames) osType(id string) string {
	if id == "" {
		return ""
	}
	if s, ok := n.osTypes[id]; ok {
		return s
	}
	o, err := db.GetOSType(n.c.Ctx, n.c.S.DB.Read(), id)
	s := ""
	if err == nil {
		s = o.Description
	}
	n.osTypes[id] = s
	return s
}

func (c *Call) renderImages(k imageKind, list []*db.TemplateInZone) ([]any, error) {
	names := &imageNames{c: c, accounts: map[string]*db.Account{}, domains: map[string]*db.Domain{}, osTypes: map[string]string{}}
	items := make([]any, 0, len(list))
	maps := make([]map[string]any, 0, len(list))
	ids := make([]string, 0, len(list))
	for _, t := range list {
		m, err := c.renderImage(t, names)
		if err != nil {
			return nil, err
		}
		items, maps, ids = append(items, m), append(maps, m), append(ids, t.ID)
	}
	if err := c.attachTags(k.ResType, ids, maps); err != nil {
		return nil, err
	}
	return items, nil
}

// imageStatus is CloudStack's template status text for a zone's copy.
func imageStatus(t *db.TemplateInZone) string {
	switch t.DownloadState {
	case db.DownloadDone:
		return "Download Complete"
	case db.DownloadInProgress:
		if t.DownloadPct >= 100 {
			return "Installing Template"
		}
		return strconv.Itoa(t.DownloadPct) + "% Downloaded"
	}
	if t.ErrorStr != "" {
		return strings.TrimSpace(t.ErrorStr)
	}
	if t.DownloadState == db.DownloadNotStarted {
		return "Not Downloaded"
	}
	switch t.DownloadState {
	case db.UploadNotStarted:
		return "Not Uploaded"
	case db.UploadInProgress:
		return "Upload in progress"
	}
	return t.State
}

func (c *Call) renderImage(t *db.TemplateInZone, names *imageNames) (map[string]any, error) {
	if names == nil {
		names = &imageNames{c: c, accounts: map[string]*db.Account{}, domains: map[string]*db.Domain{}, osTypes: map[string]string{}}
	}
	size := t.StoreSize
	if size == 0 && t.DownloadState == db.DownloadDone {
		size = t.Size
	}
	m := map[string]any{"id": t.ID, "name": t.Name, "displaytext": t.DisplayText, "ispublic": t.IsPublic, "isfeatured": t.Featured,
		"isextractable": t.Extractable, "crossZones": t.CrossZones, "passwordenabled": t.PasswordEnabled, "sshkeyenabled": t.SSHKeyEnabled,
		"isdynamicallyscalable": t.IsDynamicallyScalable, "requireshvm": t.RequiresHVM, "bootable": t.Bootable, "format": t.Format,
		"hypervisor": t.HypervisorType, "templatetype": t.TemplateType, "created": FormatTime(t.Created), "isready": t.DownloadState == db.DownloadDone,
		"status": imageStatus(t), "size": size, "physicalsize": t.PhysicalSize, "bits": t.Bits, "hasannotations": false,
		"directdownload": false, "deployasis": false, "arch": "x86_64"}
	set(m, "checksum", t.Checksum)
	set(m, "url", t.URL)
	set(m, "templatetag", t.TemplateTag)
	set(m, "sourcetemplateid", t.SourceTemplateID)
	if t.Removed != 0 {
		m["removed"] = FormatTime(t.Removed)
	}
	if t.ZoneID != "" {
		m["zoneid"] = t.ZoneID
		set(m, "zonename", t.ZoneName)
		pct := t.DownloadPct
		m["downloaddetails"] = []any{map[string]any{"downloadPercent": strconv.Itoa(pct), "downloadState": t.DownloadState}}
	}
	if t.OSTypeID != "" {
		m["ostypeid"] = t.OSTypeID
		set(m, "ostypename", names.osType(t.OSTypeID))
	}
	if len(t.Details) > 0 {
		d := map[string]any{}
		for k, v := range t.Details {
			d[k] = v
		}
		m["details"] = d
	}
	if t.AccountID == "" {
		m["account"] = "system"
		if d := names.domain(""); d != nil {
			m["domainid"], m["domain"], m["domainpath"] = d.ID, d.Name, d.Path
		}
		return m, nil
	}
	m["accountid"] = t.AccountID
	if a := names.account(t.AccountID); a != nil {
		m["account"] = a.Name
	}
	m["domainid"] = t.DomainID
	if d := names.domain(t.DomainID); d != nil {
		m["domain"], m["domainpath"] = d.Name, d.Path
	}
	return m, nil
}
