package api

import (
	"fmt"
	"sort"
	"strings"

	"github.com/atollcloud/atoll/mgmt/iam"
)

// Type is a parameter's CloudStack type, as listApis reports it.
type Type string

const (
	TString  Type = "string"
	TBool    Type = "boolean"
	TInt     Type = "integer"
	TLong    Type = "long"
	TShort   Type = "short"
	TUUID    Type = "uuid"
	TMap     Type = "map"
	TList    Type = "list"
	TDate    Type = "date"
	TUUIDs   Type = "list" // a comma-separated list of uuids
	typeUUID      = "uuids"
)

// Param declares one request parameter.
type Param struct {
	Name        string
	Type        Type
	Required    bool
	Description string
	Length      int
	// Elem is "uuid" for lists of ids, validated like single ids.
	Elem string
}

// Field declares one field of a command's response, as CloudStack's listApis describes it:
// Type is the Java type CloudStack's response class gives the field, lower-cased (string,
// long, integer, boolean, date, double, list, set, map, object, or a nested response's class
// name); Fields lists a nested object's (or list of objects') own fields.
type Field struct {
	Name        string
	Type        string
	Description string
	Fields      []Field
}

// Roles is the set of role types a command is authorised for (CloudStack's @APICommand
// authorized list). The role's permission rules are checked in addition.
type Roles uint8

const (
	Admin Roles = 1 << iota
	ResourceAdmin
	DomainAdmin
	User
	AllRoles = Admin | ResourceAdmin | DomainAdmin | User
)

func (r Roles) has(roleType string) bool {
	switch roleType {
	case iam.RoleAdmin:
		return r&Admin != 0
	case iam.RoleResourceAdmin:
		return r&ResourceAdmin != 0
	case iam.RoleDomainAdmin:
		return r&DomainAdmin != 0
	case iam.RoleUser:
		return r&User != 0
	}
	return false
}

// Handler runs a synchronous command, or validates and enqueues an async one.
type Handler func(c *Call) (any, error)

// Command is one API command: the single source of truth for its name, parameters,
// async-ness, response key and who may call it.
type Command struct {
	Name        string
	Description string
	Since       string
	Async       bool
	// ResponseKey is the item key of a list, the object key of a single object, or the
	// jobresult key of an async command.
	ResponseKey string
	List        bool
	Params      []Param
	// Response lists the fields of the object the command answers (a list's items, an async
	// command's job result), as listApis reports them.
	Response []Field
	Roles    Roles
	// NoAuth commands (login) run without a signed request or session.
	NoAuth  bool
	Handler Handler
	// Job runs an async command's work on whichever server claims the job.
	Job JobFunc

	params map[string]*Param
}

// Registry holds every command the server knows.
type Registry struct {
	cmds map[string]*Command // by lower-case name
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{cmds: map[string]*Command{}} }

// pagingParams are added to every list command, as CloudStack's BaseListCmd does.
var pagingParams = []Param{
	{Name: "page", Type: TInt, Description: "the page number of the result set (starts at 1)"},
	{Name: "pagesize", Type: TInt, Description: "the number of items per page"},
	{Name: "keyword", Type: TString, Description: "list by keyword"},
}

// accountScopeParams are added to list commands over owned resources (BaseListAccountResourcesCmd).
var accountScopeParams = []Param{
	{Name: "account", Type: TString, Description: "list resources by account; must be used with domainid"},
	{Name: "domainid", Type: TUUID, Description: "list only resources belonging to the domain specified"},
	{Name: "isrecursive", Type: TBool, Description: "defaults to false; with domainid, also lists resources of the domain's subdomains"},
	{Name: "listall", Type: TBool, Description: "if true, list every resource the caller may see; if false, only the caller's own"},
}

// Add registers a command; it panics on a duplicate, a programming error.
func (r *Registry) Add(c *Command) {
	key := strings.ToLower(c.Name)
	if _, dup := r.cmds[key]; dup {
		panic(fmt.Sprintf("api: command %s registered twice", c.Name))
	}
	if c.Roles == 0 {
		panic(fmt.Sprintf("api: command %s has no roles", c.Name))
	}
	if len(c.Response) == 0 {
		panic(fmt.Sprintf("api: command %s declares no response fields", c.Name))
	}
	if c.Async && c.Job == nil {
		panic(fmt.Sprintf("api: async command %s has no job", c.Name))
	}
	if c.List {
		c.Params = append(c.Params, pagingParams...)
	}
	c.params = map[string]*Param{}
	for i := range c.Params {
		p := &c.Params[i]
		if _, dup := c.params[p.Name]; dup {
			panic(fmt.Sprintf("api: command %s declares %s twice", c.Name, p.Name))
		}
		c.params[p.Name] = p
	}
	r.cmds[key] = c
}

// Get returns a command by name, case-insensitively.
func (r *Registry) Get(name string) *Command { return r.cmds[strings.ToLower(name)] }

// All returns every command sorted by name.
func (r *Registry) All() []*Command {
	out := make([]*Command, 0, len(r.cmds))
	for _, c := range r.cmds {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// withScope returns params plus the account-scope parameters of owned-resource lists.
func withScope(ps ...Param) []Param { return append(ps, accountScopeParams...) }
