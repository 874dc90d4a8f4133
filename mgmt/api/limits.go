package api

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
)

// Settings holding the default limits, by resource type (CloudStack's max.account.* and
// max.domain.*; storage in GiB, memory in MiB).
var accountLimitSettings = map[string]string{
	db.ResUserVM: "max.account.user.vms", db.ResPublicIP: "max.account.public.ips", db.ResVolume: "max.account.volumes",
	db.ResSnapshot: "max.account.snapshots", db.ResTemplate: "max.account.templates", db.ResProject: "max.account.projects",
	db.ResNetwork: "max.account.networks", db.ResVPC: "max.account.vpcs", db.ResCPU: "max.account.cpus",
	db.ResMemory: "max.account.memory", db.ResPrimaryStorage: "max.account.primary.storage",
	db.ResSecondaryStorage: "max.account.secondary.storage",
}

var domainLimitSettings = map[string]string{
	db.ResUserVM: "max.domain.user.vms", db.ResPublicIP: "max.domain.public.ips", db.ResVolume: "max.domain.volumes",
	db.ResSnapshot: "max.domain.snapshots", db.ResTemplate: "max.domain.templates", db.ResProject: "max.domain.projects",
	db.ResNetwork: "max.domain.networks", db.ResVPC: "max.domain.vpcs", db.ResCPU: "max.domain.cpus",
	db.ResMemory: "max.domain.memory", db.ResPrimaryStorage: "max.domain.primary.storage",
	db.ResSecondaryStorage: "max.domain.secondary.storage",
}

const bytesPerGiB = int64(1) << 30

// settingLimit turns a max.* setting's value into a limit in stored units: negative means
// unlimited; storage settings are GiB and stored limits bytes.
func settingLimit(resourceType, v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return db.Unlimited
	}
	if db.IsStorageResource(resourceType) {
		return n * bytesPerGiB
	}
	return n
}

// limitDefaults reads the default limits for an account (its account-scoped max.account.*
// values, else global, else the catalogue's) and for domains (max.domain.*), in stored units.
func (c *Call) limitDefaults(q db.Querier, accountID string) (acct, dom map[string]int64, err error) {
	// The max.account.* / max.domain.* defaults are settings: read through the server's
	// short-lived settings cache (db.ConfigCacheTTL). Explicit limits are read each time.
	global, err := c.S.DB.CachedConfigValues(c.Ctx, q, "global", "")
	if err != nil {
		return nil, nil, err
	}
	var scoped map[string]db.ConfigValue
	if accountID != "" {
		if scoped, err = c.S.DB.CachedConfigValues(c.Ctx, q, "account", accountID); err != nil {
			return nil, nil, err
		}
	}
	value := func(name string, accountScope bool) string {
		if v, ok := scoped[name]; ok && accountScope && v.Value.Valid {
			return v.Value.String
		}
		if v, ok := global[name]; ok && v.Value.Valid {
			return v.Value.String
		}
		if st, ok := c.S.Config.Lookup(name); ok {
			return st.Default
		}
		return "-1"
	}
	acct, dom = map[string]int64{}, map[string]int64{}
	for t, name := range accountLimitSettings {
		acct[t] = settingLimit(t, value(name, true))
	}
	for t, name := range domainLimitSettings {
		dom[t] = settingLimit(t, value(name, false))
	}
	return acct, dom, nil
}

// domainChain returns a domain and its ancestors, the domain first and ROOT last, in one query
// (ancestors are the prefixes of the domain's path).
func domainChain(c *Call, q db.Querier, domainID string) ([]*db.Domain, error) {
	d, err := db.GetDomain(c.Ctx, q, domainID)
	if err != nil {
		return nil, fmt.Errorf("api: domain %s of the chain: %w", domainID, err)
	}
	if d.ParentID == "" {
		return []*db.Domain{d}, nil
	}
	parts := strings.Split(d.Path, "/")
	var paths []string
	for i := len(parts) - 1; i >= 1; i-- {
		paths = append(paths, strings.Join(parts[:i], "/"))
	}
	ancestors, err := db.DomainsByPath(c.Ctx, q, paths)
	if err != nil {
		return nil, err
	}
	out := []*db.Domain{d}
	for id := d.ParentID; id != ""; {
		a, ok := ancestors[id]
		if !ok {
			return nil, fmt.Errorf("api: domain %s of the chain: %w", id, db.ErrNotFound)
		}
		out = append(out, a)
		id = a.ParentID
		if len(out) > 64 {
			return nil, errors.New("api: domain chain too deep")
		}
	}
	return out, nil
}

// accountChain is domainChain for an account's domain, in one query when the account was
// loaded with its domain's path (the chain's paths are its prefixes).
func accountChain(c *Call, q db.Querier, a *db.Account) ([]*db.Domain, error) {
	if a.DomainPath == "" {
		return domainChain(c, q, a.DomainID)
	}
	if !strings.Contains(a.DomainPath, "/") {
		// ROOT (only ROOT's path has no parent part): the chain is ROOT alone, and what is
		// used of it (id, no parent) the account names already.
		return []*db.Domain{{ID: a.DomainID, Name: a.DomainName, Path: a.DomainPath}}, nil
	}
	parts := strings.Split(a.DomainPath, "/")
	paths := make([]string, 0, len(parts))
	for i := len(parts); i >= 1; i-- {
		paths = append(paths, strings.Join(parts[:i], "/"))
	}
	byID, err := db.DomainsByPath(c.Ctx, q, paths)
	if err != nil {
		return nil, err
	}
	var out []*db.Domain
	for id := a.DomainID; id != ""; {
		d, ok := byID[id]
		if !ok || len(out) > 64 {
			return domainChain(c, q, a.DomainID) // renamed or moved meanwhile: walk it by id
		}
		out = append(out, d)
		id = d.ParentID
	}
	return out, nil
}

// effectiveLimits is what limits apply to an account and to each domain above it.
type effectiveLimits struct {
	account *db.Account
	chain   []*db.Domain // the account's domain first, ROOT last
	acct    map[string]int64
	dom     []map[string]int64 // per chain entry
}

// accountLimits computes CloudStack's findCorrectResourceLimitForAccount and
// findCorrectResourceLimitForDomain for an account and its domains: a root admin's account
// and the ROOT domain are unlimited; otherwise an explicit limit, else (for a domain) the
// nearest explicit limit of a non-ROOT ancestor, else the max.* default.
func (c *Call) accountLimits(q db.Querier, accountID string) (*effectiveLimits, error) {
	a, err := db.GetAccount(c.Ctx, q, accountID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find account by id %s", accountID)
	}
	if err != nil {
		return nil, err
	}
	return c.limitsOf(q, a)
}

// limitsOf is accountLimits for a loaded account.
func (c *Call) limitsOf(q db.Querier, a *db.Account) (*effectiveLimits, error) {
	chain, err := accountChain(c, q, a)
	if err != nil {
		return nil, err
	}
	acctDefaults, domDefaults, err := c.limitDefaults(q, a.ID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(chain))
	for i, d := range chain {
		ids[i] = d.ID
	}
	explicitAcct, explicitDom, err := db.AccountAndDomainLimits(c.Ctx, q, a.ID, ids)
	if err != nil {
		return nil, err
	}
	el := &effectiveLimits{account: a, chain: chain, acct: map[string]int64{}}
	for _, t := range db.ResourceTypes {
		switch v, ok := explicitAcct[t]; {
		case a.Type == db.AccountRootAdmin:
			el.acct[t] = db.Unlimited
		case ok:
			el.acct[t] = v
		default:
			el.acct[t] = acctDefaults[t]
		}
	}
	for i := range chain {
		m := map[string]int64{}
		for _, t := range db.ResourceTypes {
			m[t] = domainLimitFor(chain[i:], explicitDom, domDefaults, t)
		}
		el.dom = append(el.dom, m)
	}
	return el, nil
}

// domainLimitFor is the limit of chain[0] for a type, chain running up to ROOT.
func domainLimitFor(chain []*db.Domain, explicit map[string]map[string]int64, defaults map[string]int64, t string) int64 {
	if chain[0].ParentID == "" {
		return db.Unlimited // no limits on ROOT
	}
	for _, d := range chain {
		if d.ParentID == "" {
			break
		}
		if v, ok := explicit[d.ID][t]; ok {
			return v
		}
	}
	return defaults[t]
}

// readableSize is CloudStack's NumbersUtil.toReadableSize, used in limit messages for storage.
func readableSize(b int64) string {
	const kb, mb, gb, tb = 1 << 10, 1 << 20, 1 << 30, 1 << 40
	switch {
	case b >= 0 && b < kb:
		return strconv.FormatInt(b, 10) + " bytes"
	case b < mb:
		return fmt.Sprintf("%.2f KB", float64(b)/kb)
	case b < gb:
		return fmt.Sprintf("%.2f MB", float64(b)/mb)
	case b < tb:
		return fmt.Sprintf("%.2f GB", float64(b)/gb)
	}
	return fmt.Sprintf("%.4f TB", float64(b)/tb)
}

func amount(t string, v int64) string {
	if db.IsStorageResource(t) {
		return readableSize(v)
	}
	return strconv.FormatInt(v, 10)
}

// ErrLimit is CloudStack's ResourceAllocationException (532/4370).
func ErrLimit(format string, args ...any) *Error {
	return Errorf(CodeResourceLimit, CSResourceAllocation, format, args...)
}

// chargeResources adds each delta (by db.Res* type; bytes for storage, MiB for memory) to the
// account's count and to the count of every domain above it except ROOT (whose count is the
// sum over all accounts), in the caller's transaction. A positive delta that would take the
// account or a domain past its limit is refused with CloudStack's 532 error and nothing is
// changed; negative deltas always succeed (counts stop at zero). Call it in the transaction
// that creates or destroys the counted resource.
func (c *Call) chargeResources(tx db.Tx, accountID string, deltas map[string]int64) error {
	positive := false
	for _, d := range deltas {
		if d > 0 {
			positive = true
		}
	}
	el, err := c.chargeLimits(tx, accountID, positive)
	if err != nil {
		return err
	}
	return c.applyCharge(tx, el, deltas)
}

// chargeLimits reads what applyCharge needs to charge an account: the account, its domains
// and (for a positive charge) their effective limits. A transaction that charges an account at
// its end reads them first, so that the counts' rows stay locked only briefly.
func (c *Call) chargeLimits(tx db.Tx, accountID string, positive bool) (*effectiveLimits, error) {
	a, err := db.GetAccount(c.Ctx, tx, accountID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find account by id %s", accountID)
	}
	if err != nil {
		return nil, err
	}
	return c.chargeLimitsOf(tx, a, positive)
}

// chargeLimitsOf is chargeLimits for an account the call loaded already (its id, type and
// domain are what count; they do not change).
func (c *Call) chargeLimitsOf(tx db.Tx, a *db.Account, positive bool) (*effectiveLimits, error) {
	// As CloudStack's checkResourceLimit, no limit (of the account or of its domains) applies
	// to a root admin's account; its counts still change.
	if positive && a.Type != db.AccountRootAdmin {
		return c.limitsOf(tx, a)
	}
	chain, err := accountChain(c, tx, a)
	if err != nil {
		return nil, err
	}
	return &effectiveLimits{account: a, chain: chain}, nil
}

// applyCharge adds deltas to the counts of el's account and domains within their limits, all
// or nothing (see chargeResources).
func (c *Call) applyCharge(tx db.Tx, el *effectiveLimits, deltas map[string]int64) error {
	type owner struct {
		typ, id string
		limits  map[string]int64 // nil: unlimited
		domain  *db.Domain
	}
	owners := []owner{{typ: db.OwnerAccount, id: el.account.ID, limits: el.acct}}
	for i, d := range el.chain {
		if d.ParentID == "" {
			continue // ROOT: unlimited, its count is summed when read
		}
		var m map[string]int64
		if el.dom != nil {
			m = el.dom[i]
		}
		owners = append(owners, owner{typ: db.OwnerDomain, id: d.ID, limits: m, domain: d})
	}
	negated := map[string]int64{}
	for t, d := range deltas {
		negated[t] = -d
	}
	// A fixed order (the account, then its domains upwards; rows in key order within each)
	// keeps concurrent charges from locking rows in opposite orders.
	for i, o := range owners {
		lim := o.limits
		if lim == nil {
			lim = map[string]int64{}
			for _, t := range db.ResourceTypes {
				lim[t] = db.Unlimited
			}
		}
		err := db.AddResourceCounts(c.Ctx, tx, o.typ, o.id, deltas, lim)
		var ex *db.ExceededLimit
		if !errors.As(err, &ex) {
			if err != nil {
				return err
			}
			continue
		}
		for j := i - 1; j >= 0; j-- {
			if err := db.AddResourceCounts(c.Ctx, tx, owners[j].typ, owners[j].id, negated, nil); err != nil {
				return err
			}
		}
		t, a := ex.ResourceType, el.account
		if o.domain == nil {
			return ErrLimit("Maximum amount of resources of Type = '%s', tag = 'null' for Account Name = %s in Domain Id = %s is exceeded: "+
				"Account Resource Limit = %s, Current Account Resource Amount = %s, Current Account Resource Reservation = %s, Requested Resource Amount = %s.",
				t, a.Name, a.DomainID, amount(t, ex.Limit), amount(t, ex.Count), amount(t, 0), amount(t, deltas[t]))
		}
		return ErrLimit("Maximum domain resource limits of Type '%s' for Domain Id = %s is exceeded: Domain Resource Limit = %s, "+
			"Current Domain Resource Amount = %s, Current Resource Reservation = %s, Requested Resource Amount = %s.",
			t, o.domain.ID, amount(t, ex.Limit), amount(t, ex.Count), amount(t, 0), amount(t, deltas[t]))
	}
	return nil
}

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
		out[t] = domainLimitFor(chain, explicit, defaults, t)
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
		limits = el.acct
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
