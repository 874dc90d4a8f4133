package api

import (
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/google/uuid"
)

func registerDomains(s *Server) {
	s.Reg.Add(&Command{Name: "listDomains", Response: domainResponseFields, Roles: Admin | DomainAdmin | User, List: true, ResponseKey: "domain",
		Description: "Lists domains and provides detailed information for listed domains",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "List domain by domain ID."},
			{Name: "name", Type: TString, Description: "List domain by domain name."},
			{Name: "level", Type: TInt, Description: "List domains by domain level."},
			{Name: "listall", Type: TBool, Description: "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"},
			{Name: "details", Type: TList, Description: "comma separated list of domain details requested"},
		},
		Handler: listDomains})
	s.Reg.Add(&Command{Name: "listDomainChildren", Response: domainResponseFields, Roles: Admin | DomainAdmin, List: true, ResponseKey: "domain",
		Description: "Lists all children domains belonging to a specified domain",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "list children of the domain by ID"},
			{Name: "name", Type: TString, Description: "list children domains by name"},
			{Name: "isrecursive", Type: TBool, Description: "to return the entire tree, use the value \"true\""},
			{Name: "listall", Type: TBool, Description: "If set to true, list every child the caller may see"},
		},
		Handler: listDomainChildren})
	s.Reg.Add(&Command{Name: "createDomain", Response: domainResponseFields, Roles: Admin | DomainAdmin, ResponseKey: "domain",
		Description: "Creates a domain",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "creates domain with this name"},
			{Name: "parentdomainid", Type: TUUID, Description: "assigns new domain a parent domain by domain ID of the parent; if no parent domain is specified, the ROOT domain is assumed"},
			{Name: "networkdomain", Type: TString, Length: 255, Description: "Network domain for networks in the domain"},
			{Name: "domainid", Type: TUUID, Description: "Domain UUID, required for adding domain from another Region"},
		},
		Handler: createDomain})
	s.Reg.Add(&Command{Name: "updateDomain", Response: domainResponseFields, Roles: Admin | DomainAdmin, ResponseKey: "domain",
		Description: "Updates a domain with a new name",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "ID of domain to update"},
			{Name: "name", Type: TString, Length: 255, Description: "updates domain with this name"},
			{Name: "networkdomain", Type: TString, Length: 255, Description: "Network domain for the domain's networks; empty string will update domainName with NULL value"},
		},
		Handler: updateDomain})
	s.Reg.Add(&Command{Name: "deleteDomain", Response: successResponse, Roles: Admin | DomainAdmin, Async: true, ResponseKey: "domain",
		Description: "Deletes a specified domain",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "ID of domain to delete"},
			{Name: "cleanup", Type: TBool, Description: "true if all domain resources (child domains, accounts) have to be cleaned up, false otherwise"},
		},
		Handler: deleteDomainStart, Job: deleteDomainJob})
}

// domainResponse is CloudStack's DomainResponse as Atoll fills it. Its fields are in the order
// encoding/json sorts a map's keys, and the optional ones are left out exactly when the map
// this replaces left them out, so it renders the same bytes several times faster (listDomains
// renders one per domain).
type domainResponse struct {
	Created          string  `json:"created"`
	HasChild         bool    `json:"haschild"`
	ID               string  `json:"id"`
	Level            int     `json:"level"`
	Name             string  `json:"name"`
	NetworkDomain    string  `json:"networkdomain,omitempty"`
	ParentDomainID   *string `json:"parentdomainid,omitempty"`
	ParentDomainName *string `json:"parentdomainname,omitempty"`
	Path             string  `json:"path"`
	State            string  `json:"state"`
}

func renderDomain(d *db.Domain, parent *db.Domain, hasChild bool) *domainResponse {
	r := &domainResponse{ID: d.ID, Name: d.Name, Level: d.Level, Path: d.Path, HasChild: hasChild, State: d.State,
		Created: FormatTime(d.Created), NetworkDomain: d.NetworkDomain}
	if parent != nil {
		r.ParentDomainID, r.ParentDomainName = &parent.ID, &parent.Name
	}
	return r
}

// renderDomains renders domains listed with db.DomainFilter.Details, which carry their
// parent's name and whether they have children.
func (c *Call) renderDomains(list []*db.Domain) []any {
	items := make([]any, 0, len(list))
	for _, d := range list {
		var parent *db.Domain
		if d.ParentID != "" {
			parent = &db.Domain{ID: d.ParentID, Name: d.ParentName}
		}
		items = append(items, renderDomain(d, parent, d.HasChild))
	}
	return items
}

func listDomains(c *Call) (any, error) {
	f := db.DomainFilter{ID: c.P.String("id"), Name: c.P.String("name"), Details: true}
	if lv, ok := c.P.Int("level"); ok {
		f.Level = &lv
	}
	listAll, _ := c.P.Bool("listall")
	// CloudStack: without an id, an admin lists its own domain, or its whole subtree with
	// listall; a user only ever sees its own domain.
	switch {
	case !c.Caller.IsAdmin():
		f.Under = c.Caller.User.DomainPath
	case f.ID != "" || listAll:
		if !c.Caller.IsRootAdmin() {
			f.Under, f.Recursive = c.Caller.User.DomainPath, true
		}
	default:
		f.Under = c.Caller.User.DomainPath
	}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListDomains(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	return ListResult{Key: "domain", Items: c.renderDomains(list), Count: total}, nil
}

func listDomainChildren(c *Call) (any, error) {
	parent, err := c.DomainForScope(c.P.String("id"))
	if err != nil {
		return nil, err
	}
	recursive, _ := c.P.Bool("isrecursive")
	f := db.DomainFilter{Name: c.P.String("name"), Details: true}
	if recursive {
		f.Under, f.Recursive = parent.Path+"/", true
	} else {
		f.ParentID = parent.ID
	}
	f.Limit, f.Offset = c.P.Paging()
	if recursive {
		// Descendants only: the subtree below parent, not parent itself.
		f.Under = ""
	}
	var list []*db.Domain
	var total int
	if recursive {
		all, _, err := db.ListDomains(c.Ctx, c.S.DB.Read(), db.DomainFilter{Name: f.Name, Under: parent.Path, Recursive: true, Details: true})
		if err != nil {
			return nil, err
		}
		for _, d := range all {
			if d.ID != parent.ID {
				list = append(list, d)
			}
		}
		total = len(list)
		if f.Limit > 0 {
			end := min(f.Offset+f.Limit, len(list))
			list = list[min(f.Offset, len(list)):end]
		}
	} else {
		if list, total, err = db.ListDomains(c.Ctx, c.S.DB.Read(), f); err != nil {
			return nil, err
		}
	}
	return ListResult{Key: "domain", Items: c.renderDomains(list), Count: total}, nil
}

func validDomainName(name string) error {
	if strings.TrimSpace(name) == "" || strings.ContainsAny(name, "/\\") {
		return ErrParam("Domain name %q is invalid: it must not be empty or contain '/'", name)
	}
	return nil
}

func createDomain(c *Call) (any, error) {
	name := strings.TrimSpace(c.P.String("name"))
	if err := validDomainName(name); err != nil {
		return nil, err
	}
	parent, err := c.DomainForScope(c.P.String("parentdomainid"))
	if err != nil {
		return nil, err
	}
	d := &db.Domain{ID: c.P.String("domainid"), ParentID: parent.ID, Name: name, Path: parent.Path + "/" + name,
		Level: parent.Level + 1, NetworkDomain: c.P.String("networkdomain"), State: "Active", Created: db.Now()}
	if d.ID == "" {
		d.ID = uuid.NewString()
	}
	d.ID = strings.ToLower(d.ID)
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if err := db.InsertDomain(c.Ctx, tx, d); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("Domain with name %s already exists for the parent id=%s", name, parent.ID)
			}
			return err
		}
		return c.Event(tx, "DOMAIN.CREATE", "Creating domain "+d.Path, "Domain", d.ID)
	})
	if err != nil {
		return nil, err
	}
	return Object{Key: "domain", Value: renderDomain(d, parent, false)}, nil
}

// domainForChange loads a domain the caller may change; ROOT and the caller's own domain are
// only changeable by a root admin.
func (c *Call) domainForChange(id string) (*db.Domain, error) {
	d, err := c.DomainForScope(id)
	if err != nil {
		return nil, err
	}
	if !c.Caller.IsRootAdmin() && d.ID == c.Caller.User.DomainID {
		return nil, ErrDenied("Domain admin %s may not change its own domain", c.Caller.User.Username)
	}
	return d, nil
}

func updateDomain(c *Call) (any, error) {
	var out *db.Domain
	var parent *db.Domain
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		d, err := c.domainForChange(c.P.String("id"))
		if err != nil {
			return err
		}
		oldPath := d.Path
		if c.P.Has("name") {
			name := strings.TrimSpace(c.P.String("name"))
			if d.ParentID == "" && name != d.Name {
				return ErrParam("ROOT domain can not be edited with a new name")
			}
			if err := validDomainName(name); err != nil {
				return err
			}
			d.Name = name
			d.Path = d.Path[:len(d.Path)-len(pathLast(d.Path))] + name
		}
		if c.P.Has("networkdomain") {
			d.NetworkDomain = c.P.String("networkdomain")
		}
		if err := db.UpdateDomain(c.Ctx, tx, d); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("Domain with name %s already exists under the same parent", d.Name)
			}
			return err
		}
		if d.Path != oldPath {
			if err := db.RenameDomainSubtree(c.Ctx, tx, oldPath, d.Path); err != nil {
				return err
			}
		}
		if d.ParentID != "" {
			if parent, err = db.GetDomain(c.Ctx, tx, d.ParentID); err != nil {
				return err
			}
		}
		d.Version++
		out = d
		return c.Event(tx, "DOMAIN.UPDATE", "Updating domain "+d.Path, "Domain", d.ID)
	})
	if err != nil {
		return nil, err
	}
	_, n, err := db.ListDomains(c.Ctx, c.S.DB.Read(), db.DomainFilter{ParentID: out.ID, Limit: 1})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return Object{Key: "domain", Value: renderDomain(out, parent, n > 0)}, nil
}

func pathLast(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func deleteDomainStart(c *Call) (any, error) {
	d, err := c.domainForChange(c.P.String("id"))
	if err != nil {
		return nil, err
	}
	if d.ParentID == "" {
		return nil, ErrParam("Can't delete ROOT domain")
	}
	return c.StartJob("Domain", d.ID)
}

func deleteDomainJob(c *Call, _ *db.Job) (any, error) {
	cleanup, _ := c.P.Bool("cleanup")
	// Check first: a refusal changes nothing.
	d, err := db.GetDomain(c.Ctx, c.S.DB.SQL, c.P.String("id"))
	if errors.Is(err, db.ErrNotFound) {
		// The handler saw it before enqueueing: an earlier run of this job (on a server
		// that died before recording the outcome) removed it.
		return Success(), nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := c.domainAccountsDeletable(c.S.DB.SQL, d, cleanup); err != nil {
		return nil, err
	}
	if cleanup {
		// As CloudStack's cleanupDomain: every account beneath is cleaned up as deleteAccount
		// does, then the domains' own networks go.
		accounts, _, err := db.ListAccounts(c.Ctx, c.S.DB.SQL, db.AccountFilter{Scope: db.Scope{DomainPath: d.Path, Recursive: true}})
		if err != nil {
			return nil, err
		}
		for _, a := range accounts {
			if err := c.deleteAccountWithResources(a); err != nil {
				return nil, err
			}
		}
		err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
			nets, _, err := db.ListNetworks(c.Ctx, tx, db.NetworkFilter{Scope: db.Scope{DomainPath: d.Path, Recursive: true}})
			if err != nil {
				return err
			}
			for _, n := range nets {
				if err := c.destroyNetwork(tx, n); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		d, err := db.GetDomain(c.Ctx, tx, c.P.String("id"))
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		accounts, err := c.domainAccountsDeletable(tx, d, cleanup)
		if err != nil {
			return err
		}
		if len(accounts) > 0 {
			// Created beneath the domain while the cleanup ran.
			return ErrInternal("Failed to clean up domain %s: account %s was created in it meanwhile; try again", d.Path, accounts[0].Name)
		}
		subtree, _, err := db.ListDomains(c.Ctx, tx, db.DomainFilter{Under: d.Path, Recursive: true})
		if err != nil {
			return err
		}
		// Deepest first, so no domain is removed before its children.
		for i := len(subtree) - 1; i >= 0; i-- {
			if err := db.RemoveDomain(c.Ctx, tx, subtree[i].ID); err != nil {
				return err
			}
			if err := db.DeleteOwnerLimits(c.Ctx, tx, db.OwnerDomain, subtree[i].ID); err != nil {
				return err
			}
		}
		return c.Event(tx, "DOMAIN.DELETE", "Deleting domain "+d.Path, "Domain", d.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return Success(), nil
}

// domainAccountsDeletable returns the accounts beneath a domain, refusing when the domain
// has child domains or accounts and cleanup is false, or holds the caller's own account.
func (c *Call) domainAccountsDeletable(q db.Querier, d *db.Domain, cleanup bool) ([]*db.Account, error) {
	subtree, _, err := db.ListDomains(c.Ctx, q, db.DomainFilter{Under: d.Path, Recursive: true})
	if err != nil {
		return nil, err
	}
	accounts, _, err := db.ListAccounts(c.Ctx, q, db.AccountFilter{Scope: db.Scope{DomainPath: d.Path, Recursive: true}})
	if err != nil {
		return nil, err
	}
	if !cleanup && (len(subtree) > 1 || len(accounts) > 0) {
		return nil, Errorf(CodeParam, CSInvalidParameter, "Failed to delete domain %s, because it has %d child domain(s) and %d account(s); use cleanup=true to delete them too",
			d.Path, len(subtree)-1, len(accounts))
	}
	for _, a := range accounts {
		if a.ID == c.Caller.User.AccountID {
			return nil, ErrParam("Can't delete domain %s: it holds the caller's own account", d.Path)
		}
	}
	return accounts, nil
}
