package api

import (
	"errors"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// ListScope turns account, domainid, isrecursive and listall into what a list may return, as
// CloudStack's buildACLSearchParameters does: an explicit domain (and account) must be one
// the caller may see; listall=true widens to everything the caller may see; otherwise a list
// shows the caller's own resources (or, when asked by id, whatever the caller may see).
func (c *Call) ListScope() (db.Scope, error) {
	u := c.Caller.User
	own := db.Scope{AccountID: u.AccountID}
	domainID, accountName := c.P.String("domainid"), c.P.String("account")
	recursive, _ := c.P.Bool("isrecursive")
	listAll, _ := c.P.Bool("listall")
	if domainID != "" || accountName != "" {
		dom, err := c.DomainForScope(domainID)
		if err != nil {
			return db.Scope{}, err
		}
		if accountName != "" {
			a, err := db.GetAccountByName(c.Ctx, c.S.DB.Read(), dom.ID, accountName)
			if errors.Is(err, db.ErrNotFound) {
				return db.Scope{}, ErrParam("Unable to find account %s in domain %s", accountName, dom.Path)
			}
			if err != nil {
				return db.Scope{}, err
			}
			if !c.Caller.CanManageAccount(a.ID, dom.Path) {
				return db.Scope{}, ErrDenied("Account %s does not have permission to access account %s", u.AccountName, accountName)
			}
			return db.Scope{AccountID: a.ID}, nil
		}
		if !c.Caller.IsAdmin() {
			return own, nil
		}
		return db.Scope{DomainPath: dom.Path, Recursive: recursive || listAll}, nil
	}
	if listAll || c.P.Has("id") {
		return c.VisibleScope(), nil
	}
	return own, nil
}

// VisibleScope is everything the caller may see.
func (c *Call) VisibleScope() db.Scope {
	u := c.Caller.User
	switch {
	case c.Caller.IsRootAdmin():
		return db.Scope{}
	case c.Caller.IsDomainAdmin():
		return db.Scope{DomainPath: u.DomainPath, Recursive: true}
	}
	return db.Scope{AccountID: u.AccountID}
}

// DomainForScope loads a domain the caller may see; "" means the caller's own domain. A refusal
// names the domain by the id the caller sent (CloudStack's DomainChecker wording), not its path.
func (c *Call) DomainForScope(domainID string) (*db.Domain, error) {
	if domainID == "" {
		domainID = c.Caller.User.DomainID
	}
	d, err := db.GetDomain(c.Ctx, c.S.DB.Read(), domainID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find domain by id %s", domainID)
	}
	if err != nil {
		return nil, err
	}
	if !c.Caller.CanSeeDomain(d.Path) {
		return nil, ErrDenied("Account %s does not have permission to operate within domain id=%s", c.Caller.User.AccountName, domainID)
	}
	return d, nil
}

// Event records an event for this call's caller inside transaction q.
func (c *Call) Event(q db.Querier, typ, description, resourceType, resourceID string) error {
	return orchestrate.Event(c.Ctx, q, c.actor(), typ, description, resourceType, resourceID)
}
