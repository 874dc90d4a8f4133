package api

import (
	"sort"
	"strings"
	"unicode"

	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/iam"
)

// CloudStackVersion is the CloudStack API level Atoll speaks, as listCapabilities reports it.
const CloudStackVersion = "4.20.0.0"

func registerDiscovery(s *Server) {
	s.Reg.Add(&Command{Name: "listApis", Response: apiDiscoveryResponse, Roles: AllRoles, ResponseKey: "api", Since: "4.1.0",
		Description: "lists all available apis on the server, provided by the Api Discovery plugin",
		Params:      []Param{{Name: "name", Type: TString, Description: "API name"}},
		Handler:     listApis})
	s.Reg.Add(&Command{Name: "listCapabilities", Response: capabilitiesResponse, Roles: AllRoles, ResponseKey: "capability",
		Description: "Lists capabilities",
		Handler:     listCapabilities})
}

// callable returns whether the caller may call a command: the same two checks as every
// request (role type against the command's roles, then the role's rules).
func (c *Call) callable() (func(*Command) bool, error) {
	rules, err := c.S.roleRules(c.Ctx, c.Caller.User.RoleID)
	if err != nil {
		return nil, err
	}
	rt := c.Caller.RoleType()
	return func(cmd *Command) bool { return cmd.Roles.has(rt) && iam.Allowed(rules, cmd.Name) }, nil
}

// entityOf is the kind of object a command is about: its response key, or else the noun of
// its name (deleteRolePermission: rolepermission).
func entityOf(cmd *Command) string {
	if cmd.ResponseKey != "" {
		return cmd.ResponseKey
	}
	for i, r := range cmd.Name {
		if unicode.IsUpper(r) {
			return strings.ToLower(cmd.Name[i:])
		}
	}
	return ""
}

// returnsEntity reports whether a command answers the objects of its response key (deletes
// answer success, as CloudStack's SuccessResponse, and relate to nothing).
func returnsEntity(cmd *Command) bool {
	return cmd.ResponseKey != "" && !strings.HasPrefix(cmd.Name, "delete") && !strings.HasPrefix(cmd.Name, "remove")
}

// discovery is listApis's view of the registry: which commands answer which kind of object,
// so "related" can name them, as CloudStack derives it from response classes.
type discovery struct {
	byEntity map[string][]string
}

func newDiscovery(all []*Command) *discovery {
	d := &discovery{byEntity: map[string][]string{}}
	for _, cmd := range all {
		if returnsEntity(cmd) {
			d.byEntity[cmd.ResponseKey] = append(d.byEntity[cmd.ResponseKey], cmd.Name)
		}
	}
	for _, names := range d.byEntity {
		sort.Strings(names)
	}
	return d
}

// paramEntity is the kind of object an id parameter names: id is the command's own,
// xxxid/xxxids name xxx, or the longest known kind xxx ends with (parentdomainid: domain).
func (d *discovery) paramEntity(cmd *Command, p Param) string {
	if p.Type != TUUID && !(p.Type == TList && p.Elem == "uuid") {
		return ""
	}
	if p.Name == "id" || p.Name == "ids" {
		return entityOf(cmd)
	}
	base, ok := strings.CutSuffix(p.Name, "ids")
	if !ok {
		if base, ok = strings.CutSuffix(p.Name, "id"); !ok {
			return ""
		}
	}
	if _, ok := d.byEntity[base]; ok {
		return base
	}
	best := ""
	for k := range d.byEntity {
		if strings.HasSuffix(base, k) && len(k) > len(best) {
			best = k
		}
	}
	return best
}

func (d *discovery) related(entity, except string) string {
	var out []string
	for _, n := range d.byEntity[entity] {
		if n != except {
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
}

func (d *discovery) render(cmd *Command) map[string]any {
	params := make([]any, 0, len(cmd.Params))
	ps := append([]Param(nil), cmd.Params...)
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	for _, p := range ps {
		length := p.Length
		if length == 0 {
			length = DefaultLength // CloudStack's @Parameter default, and the bound validate applies
		}
		pm := map[string]any{"name": p.Name, "description": p.Description, "type": string(p.Type), "length": length, "required": p.Required}
		if e := d.paramEntity(cmd, p); e != "" {
			set(pm, "related", d.related(e, ""))
		}
		params = append(params, pm)
	}
	// cmk's sync needs "response" to be a list, so it is always present.
	m := map[string]any{"name": cmd.Name, "description": cmd.Description, "isasync": cmd.Async, "params": params,
		"response": renderFields(cmd.Response)}
	set(m, "since", cmd.Since)
	if returnsEntity(cmd) {
		set(m, "related", d.related(cmd.ResponseKey, cmd.Name))
	}
	return m
}

// renderFields gives response fields as CloudStack's ApiResponseResponse: name, description,
// type, and a nested object's own fields under "response"; sorted by name, like params.
func renderFields(fields []Field) []any {
	fs := append([]Field(nil), fields...)
	sort.Slice(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
	out := make([]any, 0, len(fs))
	for _, f := range fs {
		m := map[string]any{"name": f.Name, "description": f.Description, "type": f.Type}
		if len(f.Fields) > 0 {
			m["response"] = renderFields(f.Fields)
		}
		out = append(out, m)
	}
	return out
}

// listApis is generated from the registry, filtered to what the caller may call.
func listApis(c *Call) (any, error) {
	ok, err := c.callable()
	if err != nil {
		return nil, err
	}
	all := c.S.Reg.All()
	d := newDiscovery(all)
	var items []any
	if name := c.P.String("name"); name != "" {
		cmd := c.S.Reg.Get(name)
		if cmd == nil || !ok(cmd) {
			return nil, ErrParam("Api Discovery plugin was unable to find an api by that name: %s", name)
		}
		items = append(items, d.render(cmd))
	} else {
		for _, cmd := range all {
			if ok(cmd) {
				items = append(items, d.render(cmd))
			}
		}
	}
	return ListResult{Key: "api", Items: items, Count: len(items)}, nil
}

func listCapabilities(c *Call) (any, error) {
	u := c.Caller.User
	get := func(scope, id, name string) (string, error) { return c.S.Config.Get(c.Ctx, scope, id, name) }
	isTrue := func(scope, id, name string) (bool, error) {
		v, err := get(scope, id, name)
		return strings.EqualFold(v, "true"), err
	}
	publicTemplates, err := isTrue(config.Account, u.AccountID, "allow.public.user.templates")
	if err != nil {
		return nil, err
	}
	userProjects, err := isTrue(config.Domain, u.DomainID, "allow.user.create.projects")
	if err != nil {
		return nil, err
	}
	dynamicScaling, err := isTrue(config.Global, "", "enable.dynamic.scale.vm")
	if err != nil {
		return nil, err
	}
	throttling, err := isTrue(config.Global, "", "api.throttling.enabled")
	if err != nil {
		return nil, err
	}
	// Values without a setting in the catalogue are CloudStack's defaults for what Atoll
	// does not offer (yet): no zone has security groups, no Kubernetes service, no ELB.
	capability := map[string]any{
		"cloudstackversion":                            CloudStackVersion,
		"securitygroupsenabled":                        false,
		"dynamicrolesenabled":                          true,
		"userpublictemplateenabled":                    publicTemplates,
		"supportELB":                                   "false",
		"projectinviterequired":                        false,
		"allowusercreateprojects":                      userProjects,
		"customdiskofferingminsize":                    1,
		"customdiskofferingmaxsize":                    1024,
		"regionsecondaryenabled":                       false,
		"kvmsnapshotenabled":                           false,
		"allowuserviewdestroyedvm":                     false,
		"allowuserexpungerecovervm":                    false,
		"allowuserexpungerecovervolume":                true,
		"allowuserviewalldomainaccounts":               false,
		"allowuserforcestopvm":                         true,
		"kubernetesserviceenabled":                     false,
		"kubernetesclusterexperimentalfeaturesenabled": false,
		"customhypervisordisplayname":                  "Custom",
		"defaultuipagesize":                            20,
		"instancesstatsretentiontime":                  720,
		"instancesstatsuseronly":                       false,
		"instancesdisksstatsretentionenabled":          false,
		"instancesdisksstatsretentiontime":             720,
		"sharedfsvmmincpucount":                        2,
		"sharedfsvmminramsize":                         1024,
		"dynamicscalingenabled":                        dynamicScaling,
	}
	// CloudStack reports the API limits only while throttling is on.
	if throttling {
		capability["apilimitinterval"] = 1
		capability["apilimitmax"] = 25
	}
	return Object{Key: "capability", Value: capability}, nil
}
