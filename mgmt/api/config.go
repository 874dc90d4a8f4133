package api

import (
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
)

// configScopeParams are the parameters that pick a setting's scope, in CloudStack's order.
var configScopeParams = []struct{ param, scope, what string }{
	{"zoneid", config.Zone, "zone"},
	{"clusterid", config.Cluster, "cluster"},
	{"domainid", config.Domain, "domain"},
	{"accountid", config.Account, "account"},
	{"storageid", config.StoragePool, "storage pool"},
	{"imagestoreuuid", "imagestore", "image store"},
}

func configScopeParamList(verb string) []Param {
	return []Param{
		{Name: "zoneid", Type: TUUID, Description: "the ID of the Zone to " + verb + " the parameter value for corresponding zone"},
		{Name: "clusterid", Type: TUUID, Description: "the ID of the Cluster to " + verb + " the parameter value for corresponding cluster"},
		{Name: "storageid", Type: TUUID, Description: "the ID of the Storage pool to " + verb + " the parameter value for corresponding storage pool"},
		{Name: "accountid", Type: TUUID, Description: "the ID of the Account to " + verb + " the parameter value for corresponding account"},
		{Name: "domainid", Type: TUUID, Description: "the ID of the Domain to " + verb + " the parameter value for corresponding domain"},
		{Name: "imagestoreuuid", Type: TUUID, Description: "the ID of the Image Store to " + verb + " the parameter value for corresponding image store"},
	}
}

func registerConfig(s *Server) {
	s.Reg.Add(&Command{Name: "listConfigurations", Response: configurationResponse, Roles: Admin, List: true, ResponseKey: "configuration",
		Description: "Lists all configurations.",
		Params: append([]Param{
			{Name: "name", Type: TString, Description: "lists configuration by name"},
			{Name: "category", Type: TString, Description: "lists configurations by category"},
		}, configScopeParamList("list")...),
		Handler: listConfigurations})
	s.Reg.Add(&Command{Name: "updateConfiguration", Response: configurationResponse, Roles: Admin, ResponseKey: "configuration",
		Description: "Updates a configuration.",
		Params: append([]Param{
			{Name: "name", Type: TString, Required: true, Description: "the name of the configuration"},
			{Name: "value", Type: TString, Length: 4096, Description: "the value of the configuration"},
		}, configScopeParamList("update")...),
		Handler: updateConfiguration})
}

// configScope turns the scope parameters into a scope and the id of an object the caller may
// see; no scope parameter means global.
func (c *Call) configScope() (scope, id string, err error) {
	scope, what, n := config.Global, "", 0
	for _, sp := range configScopeParams {
		if v := c.P.String(sp.param); v != "" {
			scope, id, what = sp.scope, strings.ToLower(v), sp.what
			n++
		}
	}
	if n > 1 {
		return "", "", ErrParam("cannot handle multiple IDs, provide only one ID corresponding to the scope")
	}
	switch scope {
	case config.Global:
	case config.Domain:
		if _, err := c.DomainForScope(id); err != nil {
			return "", "", err
		}
	case config.Account:
		a, err := db.GetAccount(c.Ctx, c.S.DB.Read(), id)
		if errors.Is(err, db.ErrNotFound) {
			return "", "", ErrParam("Unable to find account by id %s", id)
		}
		if err != nil {
			return "", "", err
		}
		if !c.Caller.CanManageAccount(a.ID, a.DomainPath) {
			return "", "", ErrDenied("Account %s does not have permission to access account %s", c.Caller.User.AccountName, id)
		}
	case config.Cluster:
		if _, err := db.GetCluster(c.Ctx, c.S.DB.Read(), id); errors.Is(err, db.ErrNotFound) {
			return "", "", ErrParam("Unable to find %s by id %s", what, id)
		} else if err != nil {
			return "", "", err
		}
	case config.StoragePool:
		if _, err := db.GetStoragePool(c.Ctx, c.S.DB.Read(), id); errors.Is(err, db.ErrNotFound) {
			return "", "", ErrParam("Unable to find %s by id %s", what, id)
		} else if err != nil {
			return "", "", err
		}
	default:
		// Zones and image stores are not looked up here yet, so no id names one.
		return "", "", ErrParam("Unable to find %s by id %s", what, id)
	}
	return scope, id, nil
}

// configType is the type listConfigurations reports (CloudStack's Configuration.ValueType).
func configType(t string) string {
	switch t {
	case "Integer", "Long", "Short":
		return "Number"
	case "Float", "Double":
		return "Decimal"
	case "Boolean":
		return "Boolean"
	}
	return "String"
}

func renderConfig(v config.Value) map[string]any {
	component := v.Component
	if component == "" {
		component = "management-server"
	}
	m := map[string]any{"name": v.Name, "value": v.Value, "defaultvalue": v.Default, "category": v.Category,
		"description": v.Description, "scope": v.Scope, "isdynamic": v.Dynamic, "type": configType(v.Type), "component": component}
	// CloudStack's "id" is the scope's numeric database id (a long); Atoll's ids are UUIDs, so
	// it is left out rather than sent as a string a typed client cannot decode.
	return m
}

func listConfigurations(c *Call) (any, error) {
	scope, id, err := c.configScope()
	if err != nil {
		return nil, err
	}
	values, err := c.S.Config.Values(c.Ctx, c.S.DB.Read(), scope, id, "")
	if err != nil {
		return nil, err
	}
	// CloudStack matches name as a substring (LIKE %name%), category exactly, and keyword
	// against name, category, description, component and value.
	name, category := strings.ToLower(c.P.String("name")), c.P.String("category")
	kw := strings.ToLower(c.P.String("keyword"))
	var match []config.Value
	for _, v := range values {
		if name != "" && !strings.Contains(strings.ToLower(v.Name), name) {
			continue
		}
		if category != "" && !strings.EqualFold(v.Category, category) {
			continue
		}
		if kw != "" && !slices.ContainsFunc([]string{v.Name, v.Category, v.Description, v.Component, v.Value}, func(s string) bool {
			return strings.Contains(strings.ToLower(s), kw)
		}) {
			continue
		}
		match = append(match, v)
	}
	sort.Slice(match, func(i, j int) bool { return match[i].Name < match[j].Name })
	total := len(match)
	if limit, offset := c.P.Paging(); limit > 0 {
		match = match[min(offset, total):min(offset+limit, total)]
	}
	items := make([]any, 0, len(match))
	for _, v := range match {
		items = append(items, renderConfig(v))
	}
	return ListResult{Key: "configuration", Items: items, Count: total}, nil
}

func updateConfiguration(c *Call) (any, error) {
	name := strings.TrimSpace(c.P.String("name"))
	st, ok := c.S.Config.Lookup(name)
	if !ok {
		return nil, ErrParam("Config parameter with name %s doesn't exist", name)
	}
	scope, id, err := c.configScope()
	if err != nil {
		return nil, err
	}
	if scope != config.Global && !slices.Contains(st.Scopes, scope) {
		return nil, ErrParam("Invalid scope id provided for the parameter %s: it can be set at scope %s", name, strings.Join(st.Scopes, ", "))
	}
	// Without a value CloudStack changes nothing and answers the setting as it is; an empty
	// value or "null" resets it to what it inherits.
	var newValue *string
	change := c.P.Has("value")
	if change {
		v := strings.TrimSpace(c.P.String("value"))
		if v != "" && v != "null" {
			if err := st.Check(v); err != nil {
				return nil, ErrParam("Invalid value for configuration %s: %v", name, err)
			}
			if st.Type == "Boolean" {
				v = strings.ToLower(v)
			}
			newValue = &v
		}
	}
	var out config.Value
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if change {
			if err := c.S.Config.Set(c.Ctx, tx, scope, id, name, newValue); err != nil {
				return err
			}
			shown := "(inherited)"
			if newValue != nil {
				shown = *newValue
			}
			if strings.Contains(strings.ToLower(name), "password") {
				shown = "*****"
			}
			desc := "Name: " + name + " New Value: " + shown
			if scope != config.Global {
				desc += " Scope: " + scope + " " + id
			}
			if err := c.Event(tx, "CONFIGURATION.VALUE.EDIT", desc, "", ""); err != nil {
				return err
			}
		}
		vs, err := c.S.Config.Values(c.Ctx, tx, scope, id, name)
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			return ErrInternal("setting %s vanished from scope %s", name, scope)
		}
		out = vs[0]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return Object{Key: "configuration", Value: renderConfig(out)}, nil
}
