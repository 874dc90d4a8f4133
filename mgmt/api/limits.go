package api

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// The limit engine lives in mgmt/orchestrate; these are the call's shorthands for it.

const bytesPerGiB = orchestrate.BytesPerGiB

var (
	accountLimitSettings = orchestrate.AccountLimitSettings
	domainLimitSettings  = orchestrate.DomainLimitSettings
)

func settingLimit(resourceType, v string) int64 { return orchestrate.SettingLimit(resourceType, v) }

func readableSize(b int64) string { return orchestrate.ReadableSize(b) }

func domainChain(c *Call, q db.Querier, domainID string) ([]*db.Domain, error) {
	return orchestrate.DomainChain(c.Ctx, q, domainID)
}

func (c *Call) limitDefaults(q db.Querier, accountID string) (acct, dom map[string]int64, err error) {
	return c.deps().LimitDefaults(c.Ctx, q, accountID)
}

func (c *Call) accountLimits(q db.Querier, accountID string) (*orchestrate.Limits, error) {
	return c.deps().AccountLimits(c.Ctx, q, accountID)
}

func (c *Call) chargeResources(tx db.Tx, accountID string, deltas map[string]int64) error {
	return c.deps().ChargeResources(c.Ctx, tx, accountID, deltas)
}

func (c *Call) chargeLimits(tx db.Tx, accountID string, positive bool) (*orchestrate.Limits, error) {
	return c.deps().ChargeLimits(c.Ctx, tx, accountID, positive)
}

func (c *Call) chargeLimitsOf(tx db.Tx, a *db.Account, positive bool) (*orchestrate.Limits, error) {
	return c.deps().ChargeLimitsOf(c.Ctx, tx, a, positive)
}

func (c *Call) applyCharge(tx db.Tx, el *orchestrate.Limits, deltas map[string]int64) error {
	return c.deps().ApplyCharge(c.Ctx, tx, el, deltas)
}

// ErrLimit is CloudStack's ResourceAllocationException (532/4370).
var ErrLimit = orchestrate.ErrLimit

func registerLimits(s *Server) {
	s.Reg.Add(&Command{Name: "listResourceLimits", Response: resourceLimitResponse, Roles: AllRoles, List: true, ResponseKey: "resourcelimit",
		Description: "Lists resource limits.",
		Params: []Param{
			{Name: "id", Type: TLong, Description: "Lists resource limits by ID (not supported: limits have no ids here, refused)"},
			{Name: "account", Type: TString, Description: "list resources by account; must be used with domainid"},
			{Name: "domainid", Type: TUUID, Description: "list only resources belonging to the domain specified"},
			{Name: "isrecursive", Type: TBool, Description: "accepted; limits are listed for one owner"},
			{Name: "listall", Type: TBool, Description: "accepted; limits are listed for one owner"},
			{Name: "projectid", Type: TUUID, Description: "list limits of a project (projects are not supported)"},
			{Name: "resourcetype", Type: TInt, Description: "type of resource: 0 instance, 1 public IP, 2 volume, 3 snapshot, 4 template, 5 project, 6 network, 7 VPC, 8 CPU, 9 memory, 10 primary storage, 11 secondary storage"},
			{Name: "resourcetypename", Type: TString, Description: "type of resource by name: user_vm, public_ip, volume, snapshot, template, project, network, vpc, cpu, memory, primary_storage, secondary_storage"},
			{Name: "tag", Type: TString, Description: "Tag for the resource type (not supported: tagged limits are not implemented, refused)"},
		},
		Handler: listResourceLimits})
	s.Reg.Add(&Command{Name: "updateResourceLimit", Response: resourceLimitResponse, Roles: Admin | ResourceAdmin | DomainAdmin, ResponseKey: "resourcelimit",
		Description: "Updates resource limits for an account or domain.",
		Params: []Param{
			{Name: "resourcetype", Type: TInt, Required: true, Description: "type of resource to update (0 to 11)"},
			{Name: "max", Type: TLong, Description: "maximum resource limit (-1 for unlimited; GiB for storage, MiB for memory)"},
			{Name: "account", Type: TString, Description: "update the resource limit for this account; must be used with domainid"},
			{Name: "domainid", Type: TUUID, Description: "update the resource limit for this domain (or the domain of account)"},
			{Name: "projectid", Type: TUUID, Description: "update the resource limit for a project (projects are not supported)"},
			{Name: "tag", Type: TString, Description: "tagged limits (not supported)"},
		},
		Handler: updateResourceLimit})
	s.Reg.Add(&Command{Name: "updateResourceCount", Response: resourceCountResponse, Roles: AllRoles, List: true, ResponseKey: "resourcecount",
		Description: "Recalculates the resource counts of an account or a domain from the resources they own.",
		Params: []Param{
			{Name: "domainid", Type: TUUID, Required: true, Description: "the domain to recalculate (with its subdomains and accounts)"},
			{Name: "account", Type: TString, Description: "recalculate only this account of the domain"},
			{Name: "resourcetype", Type: TInt, Description: "the type to recalculate (0 to 11); all when absent"},
			{Name: "projectid", Type: TUUID, Description: "recalculate a project (projects are not supported)"},
			{Name: "tag", Type: TString, Description: "tagged counts (not supported)"},
		},
		Handler: updateResourceCount})
}

// resourceTypeParams reads resourcetype (CloudStack's number) or resourcetypename; "" = all.
func (c *Call) resourceTypeParams() (string, error) {
	if n, ok := c.P.Int("resourcetype"); ok {
		if n < 0 || n >= len(db.ResourceTypes) {
			return "", ErrParam("Please specify valid resource type")
		}
		if name := c.P.String("resourcetypename"); name != "" && !strings.EqualFold(name, db.ResourceTypes[n]) {
			return "", ErrParam("resourcetype %d and resourcetypename %s name different types", n, name)
		}
		return db.ResourceTypes[n], nil
	}
	if name := strings.TrimSpace(c.P.String("resourcetypename")); name != "" {
		if db.ResourceTypeNumber(strings.ToLower(name)) < 0 {
			return "", ErrParam("Please specify valid resource type name: one of %s", strings.Join(db.ResourceTypes, ", "))
		}
		return strings.ToLower(name), nil
	}
	return "", nil
}

// limitOwner resolves who a limit command is about: an account (account + domainid) or a
// domain (domainid alone); ok is false when neither is named.
func (c *Call) limitOwner(q db.Querier) (acct *db.Account, dom *db.Domain, err error) {
	name, domainID := strings.TrimSpace(c.P.String("account")), c.lowerID("domainid")
	if err := c.refuseProject(); err != nil {
		return nil, nil, err
	}
	if name != "" {
		if domainID == "" {
			return nil, nil, ErrParam("Account must be specified with domainId parameter")
		}
		d, err := c.DomainForScope(domainID)
		if err != nil {
			return nil, nil, err
		}
		a, err := db.GetAccountByName(c.Ctx, q, d.ID, name)
		if errors.Is(err, db.ErrNotFound) {
			return nil, nil, ErrParam("Unable to find account by name %s in domain %s", name, d.Path)
		}
		if err != nil {
			return nil, nil, err
		}
		if !c.Caller.CanManageAccount(a.ID, a.DomainPath) {
			return nil, nil, ErrDenied("Account %s does not have permission to access account %s", c.Caller.User.AccountName, name)
		}
		return a, nil, nil
	}
	if domainID != "" {
		d, err := c.DomainForScope(domainID)
		if err != nil {
			return nil, nil, err
		}
		return nil, d, nil
	}
	return nil, nil, nil
}

// renderLimit is CloudStack's ResourceLimitResponse: max in GiB for storage, no "limit" key
// (cs_resourcelimit breaks on one).
func renderLimit(t string, max int64, a *db.Account, d *db.Domain) map[string]any {
	if db.IsStorageResource(t) && max >= 0 {
		max = (max + bytesPerGiB - 1) / bytesPerGiB
	}
	m := map[string]any{"resourcetype": strconv.Itoa(db.ResourceTypeNumber(t)), "resourcetypename": t, "max": max}
	if a != nil {
		m["account"], m["domainid"], m["domain"], m["domainpath"] = a.Name, a.DomainID, a.DomainName, a.DomainPath
	} else if d != nil {
		m["domainid"], m["domain"], m["domainpath"] = d.ID, d.Name, d.Path
	}
	return m
}

// domainLimits computes the effective limits of one domain (chain from it up to ROOT).
func (c *Call) domainLimits(q db.Querier, d *db.Domain) (map[string]int64, error) {
	chain, err := domainChain(c, q, d.ID)
	if err != nil {
		return nil, err
	}
	_, defaults, err := c.limitDefaults(q, "")
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(chain))
	for i, x := range chain {
		ids[i] = x.ID
	}
	explicit, err := db.ResourceLimitsOf(c.Ctx, q, db.OwnerDomain, ids)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, t := range db.ResourceTypes {
		out[t] = orchestrate.DomainLimitFor(chain, explicit, defaults, t)
	}
	return out, nil
}

func listResourceLimits(c *Call) (any, error) {
	typ, err := c.resourceTypeParams()
	if err != nil {
		return nil, err
	}
	// Limits are computed per owner here: there are no limit ids to look up, and no tagged
	// (host or storage tag) limits to list, so either filter is refused rather than answered
	// with an empty list.
	if c.P.Has("id") {
		return nil, ErrParam("Parameter id is not supported: resource limits have no ids here; list them by account, domainid and resourcetype")
	}
	if c.P.String("tag") != "" {
		return nil, ErrParam("Parameter tag is not supported: tagged resource limits are not implemented")
	}
	q := c.S.DB.Read()
	var acct *db.Account
	var dom *db.Domain
	if c.Caller.IsAdmin() {
		if acct, dom, err = c.limitOwner(q); err != nil {
			return nil, err
		}
	} else if err := c.refuseProject(); err != nil {
		return nil, err
	} else if strings.TrimSpace(c.P.String("account")) != "" {
		// CloudStack resolves account+domainid (AccountManagerImpl.finalyzeAccountId: 431 when
		// domainid is missing or the account unknown) and then lists the caller's own limits
		// (ResourceLimitManagerImpl.searchForLimits); a tenant naming another account is refused
		// here (531, as limitOwner refuses any caller an account it does not manage) instead of
		// being answered with its own limits. domainid alone is still ignored for a tenant.
		if acct, _, err = c.limitOwner(q); err != nil {
			return nil, err
		}
	}
	if acct == nil && dom == nil {
		if acct, err = db.GetAccount(c.Ctx, q, c.Caller.User.AccountID); err != nil {
			return nil, err
		}
	}
	var limits map[string]int64
	if acct != nil {
		el, err := c.accountLimits(q, acct.ID)
		if err != nil {
			return nil, err
		}
		limits = el.Acct
	} else if limits, err = c.domainLimits(q, dom); err != nil {
		return nil, err
	}
	var items []any
	for _, t := range db.ResourceTypes {
		if typ != "" && t != typ {
			continue
		}
		items = append(items, renderLimit(t, limits[t], acct, dom))
	}
	return ListResult{Key: "resourcelimit", Items: c.pageItems(items), Count: len(items)}, nil
}

func updateResourceLimit(c *Call) (any, error) {
	typ, err := c.resourceTypeParams()
	if err != nil {
		return nil, err
	}
	if c.P.String("tag") != "" {
		return nil, ErrParam("Resource limit with a tag is not supported for resource type %s", c.P.String("resourcetype"))
	}
	max := int64(db.Unlimited)
	if v, ok := intParam(c, "max"); ok {
		if v < db.Unlimited {
			return nil, ErrParam("Please specify either '-1' for an infinite limit, or a limit that is at least '0'.")
		}
		max = v
	}
	stored := max
	if db.IsStorageResource(typ) && max >= 0 {
		stored = max * bytesPerGiB
	}
	var acct *db.Account
	var dom *db.Domain
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if acct, dom, err = c.limitOwner(tx); err != nil {
			return err
		}
		u := c.Caller.User
		switch {
		case acct != nil:
			if acct.Type == db.AccountRootAdmin && max != db.Unlimited {
				return ErrParam("Only %d limit is supported for Root Admin accounts", db.Unlimited)
			}
			if acct.ID == u.AccountID && !c.Caller.IsRootAdmin() {
				return ErrDenied("Unable to update resource limit for their own account %s, permission denied", acct.ID)
			}
			if err := db.SetResourceLimit(c.Ctx, tx, db.OwnerAccount, acct.ID, typ, stored); err != nil {
				return err
			}
			return c.Event(tx, "RESOURCE.LIMIT.UPDATE", fmt.Sprintf("Updating %s limit of account %s to %d", typ, acct.Name, max), "Account", acct.ID)
		case dom != nil:
			if dom.ParentID == "" {
				return ErrDenied("Cannot update resource limit for ROOT domain %s, permission denied", dom.ID)
			}
			if dom.ID == u.DomainID && !c.Caller.IsRootAdmin() {
				return ErrDenied("Unable to update resource limit for domain %s, permission denied", dom.ID)
			}
			parent, err := db.GetDomain(c.Ctx, tx, dom.ParentID)
			if err != nil {
				return err
			}
			pl, err := c.domainLimits(tx, parent)
			if err != nil {
				return err
			}
			if p := pl[typ]; p >= 0 && (stored > p || stored == db.Unlimited) {
				shown := p
				if db.IsStorageResource(typ) {
					shown = p / bytesPerGiB
				}
				return ErrParam("Domain %s(id: %s) has maximum allowed resource limit %d for %s, please specify a value less than or equal to %d",
					dom.Name, parent.ID, shown, typ, shown)
			}
			if err := db.SetResourceLimit(c.Ctx, tx, db.OwnerDomain, dom.ID, typ, stored); err != nil {
				return err
			}
			return c.Event(tx, "RESOURCE.LIMIT.UPDATE", fmt.Sprintf("Updating %s limit of domain %s to %d", typ, dom.Path, max), "Domain", dom.ID)
		}
		return ErrParam("AccountId or domainId have to be specified in order to update resource limit")
	})
	if err != nil {
		return nil, err
	}
	return Object{Key: "resourcelimit", Value: renderLimit(typ, stored, acct, dom)}, nil
}

// recountAccount recomputes an account's counts from the rows that hold its resources, in tx,
// after locking its count rows so that concurrent charges wait. Types no existing table
// counts keep their stored values.
func (c *Call) recountAccount(tx db.Tx, accountID string) error {
	if _, err := tx.ExecContext(c.Ctx, "UPDATE resource_counts SET count_value = count_value WHERE owner_type = ? AND owner_id = ?",
		db.OwnerAccount, accountID); err != nil {
		return fmt.Errorf("api: lock resource counts: %w", err)
	}
	counts, counted, err := db.CountAccountResources(c.Ctx, tx, accountID)
	if err != nil {
		return err
	}
	counted[db.ResProject] = true // projects are not supported: always 0
	for _, t := range db.ResourceTypes {
		if counted[t] {
			if err := db.SetResourceCount(c.Ctx, tx, db.OwnerAccount, accountID, t, counts[t]); err != nil {
				return err
			}
		}
	}
	return nil
}

func renderCount(t string, n int64, a *db.Account, d *db.Domain) map[string]any {
	m := map[string]any{"resourcetype": strconv.Itoa(db.ResourceTypeNumber(t)), "resourcetypename": t, "resourcecount": n}
	if a != nil {
		m["account"], m["domainid"], m["domain"], m["domainpath"] = a.Name, a.DomainID, a.DomainName, a.DomainPath
	} else {
		m["domainid"], m["domain"], m["domainpath"] = d.ID, d.Name, d.Path
	}
	return m
}

func updateResourceCount(c *Call) (any, error) {
	typ, err := c.resourceTypeParams()
	if err != nil {
		return nil, err
	}
	if c.P.String("tag") != "" {
		return nil, ErrParam("Tagged resource counts are not supported")
	}
	dom, err := c.DomainForScope(c.lowerID("domainid"))
	if err != nil {
		return nil, err
	}
	var acct *db.Account
	if c.P.String("account") != "" {
		if acct, _, err = c.limitOwner(c.S.DB.Read()); err != nil {
			return nil, err
		}
	} else if err := c.refuseProject(); err != nil {
		return nil, err
	} else if !c.Caller.IsAdmin() {
		// A user recounts its own account only.
		if dom.ID != c.Caller.User.DomainID {
			return nil, ErrDenied("Account %s does not have permission to operate within domain id=%s", c.Caller.User.AccountName, dom.ID)
		}
		if acct, err = db.GetAccount(c.Ctx, c.S.DB.Read(), c.Caller.User.AccountID); err != nil {
			return nil, err
		}
	}
	var counts map[string]int64
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if acct != nil {
			if err := c.recountAccount(tx, acct.ID); err != nil {
				return err
			}
			counts, err = db.ResourceCounts(c.Ctx, tx, db.OwnerAccount, acct.ID)
			return err
		}
		accounts, _, err := db.ListAccounts(c.Ctx, tx, db.AccountFilter{Scope: db.Scope{DomainPath: dom.Path, Recursive: true}})
		if err != nil {
			return err
		}
		for _, a := range accounts {
			if err := c.recountAccount(tx, a.ID); err != nil {
				return err
			}
		}
		domains, _, err := db.ListDomains(c.Ctx, tx, db.DomainFilter{Under: dom.Path, Recursive: true})
		if err != nil {
			return err
		}
		for _, d := range domains {
			if d.ParentID == "" {
				continue // ROOT's counts are summed when read
			}
			sums, err := db.SumAccountCounts(c.Ctx, tx, d.Path)
			if err != nil {
				return err
			}
			for _, t := range db.ResourceTypes {
				if err := db.SetResourceCount(c.Ctx, tx, db.OwnerDomain, d.ID, t, sums[t]); err != nil {
					return err
				}
			}
		}
		if dom.ParentID == "" {
			counts, err = db.SumAccountCounts(c.Ctx, tx, "")
		} else {
			counts, err = db.ResourceCounts(c.Ctx, tx, db.OwnerDomain, dom.ID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var items []any
	for _, t := range db.ResourceTypes {
		if typ != "" && t != typ {
			continue
		}
		items = append(items, renderCount(t, counts[t], acct, dom))
	}
	return ListResult{Key: "resourcecount", Items: items, Count: len(items)}, nil
}
