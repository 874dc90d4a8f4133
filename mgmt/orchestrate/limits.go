package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
)

// Resource limits: what an account and its domains may hold, and the counts charged in the
// transactions that create and destroy what is counted.

// Settings holding the default limits, by resource type (CloudStack's max.account.* and
// max.domain.*; storage in GiB, memory in MiB).
var AccountLimitSettings = map[string]string{
	db.ResUserVM: "max.account.user.vms", db.ResPublicIP: "max.account.public.ips", db.ResVolume: "max.account.volumes",
	db.ResSnapshot: "max.account.snapshots", db.ResTemplate: "max.account.templates", db.ResProject: "max.account.projects",
	db.ResNetwork: "max.account.networks", db.ResVPC: "max.account.vpcs", db.ResCPU: "max.account.cpus",
	db.ResMemory: "max.account.memory", db.ResPrimaryStorage: "max.account.primary.storage",
	db.ResSecondaryStorage: "max.account.secondary.storage",
}

var DomainLimitSettings = map[string]string{
	db.ResUserVM: "max.domain.user.vms", db.ResPublicIP: "max.domain.public.ips", db.ResVolume: "max.domain.volumes",
	db.ResSnapshot: "max.domain.snapshots", db.ResTemplate: "max.domain.templates", db.ResProject: "max.domain.projects",
	db.ResNetwork: "max.domain.networks", db.ResVPC: "max.domain.vpcs", db.ResCPU: "max.domain.cpus",
	db.ResMemory: "max.domain.memory", db.ResPrimaryStorage: "max.domain.primary.storage",
	db.ResSecondaryStorage: "max.domain.secondary.storage",
}

const BytesPerGiB = int64(1) << 30

// SettingLimit turns a max.* setting's value into a limit in stored units: negative means
// unlimited; storage settings are GiB and stored limits bytes.
func SettingLimit(resourceType, v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return db.Unlimited
	}
	if db.IsStorageResource(resourceType) {
		return n * BytesPerGiB
	}
	return n
}

// LimitDefaults reads the default limits for an account (its account-scoped max.account.*
// values, else global, else the catalogue's) and for domains (max.domain.*), in stored units.
func (d *Deps) LimitDefaults(ctx context.Context, q db.Querier, accountID string) (acct, dom map[string]int64, err error) {
	// The max.account.* / max.domain.* defaults are settings: read through the server's
	// short-lived settings cache (db.ConfigCacheTTL). Explicit limits are read each time.
	global, err := d.DB.CachedConfigValues(ctx, q, "global", "")
	if err != nil {
		return nil, nil, err
	}
	var scoped map[string]db.ConfigValue
	if accountID != "" {
		if scoped, err = d.DB.CachedConfigValues(ctx, q, "account", accountID); err != nil {
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
		if st, ok := d.Config.Lookup(name); ok {
			return st.Default
		}
		return "-1"
	}
	acct, dom = map[string]int64{}, map[string]int64{}
	for t, name := range AccountLimitSettings {
		acct[t] = SettingLimit(t, value(name, true))
	}
	for t, name := range DomainLimitSettings {
		dom[t] = SettingLimit(t, value(name, false))
	}
	return acct, dom, nil
}

// DomainChain returns a domain and its ancestors, the domain first and ROOT last, in one query
// (ancestors are the prefixes of the domain's path).
func DomainChain(ctx context.Context, q db.Querier, domainID string) ([]*db.Domain, error) {
	d, err := db.GetDomain(ctx, q, domainID)
	if err != nil {
		return nil, fmt.Errorf("orchestrate: domain %s of the chain: %w", domainID, err)
	}
	if d.ParentID == "" {
		return []*db.Domain{d}, nil
	}
	parts := strings.Split(d.Path, "/")
	var paths []string
	for i := len(parts) - 1; i >= 1; i-- {
		paths = append(paths, strings.Join(parts[:i], "/"))
	}
	ancestors, err := db.DomainsByPath(ctx, q, paths)
	if err != nil {
		return nil, err
	}
	out := []*db.Domain{d}
	for id := d.ParentID; id != ""; {
		a, ok := ancestors[id]
		if !ok {
			return nil, fmt.Errorf("orchestrate: domain %s of the chain: %w", id, db.ErrNotFound)
		}
		out = append(out, a)
		id = a.ParentID
		if len(out) > 64 {
			return nil, errors.New("orchestrate: domain chain too deep")
		}
	}
	return out, nil
}

// AccountChain is DomainChain for an account's domain, in one query when the account was
// loaded with its domain's path (the chain's paths are its prefixes).
func AccountChain(ctx context.Context, q db.Querier, a *db.Account) ([]*db.Domain, error) {
	if a.DomainPath == "" {
		return DomainChain(ctx, q, a.DomainID)
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
	byID, err := db.DomainsByPath(ctx, q, paths)
	if err != nil {
		return nil, err
	}
	var out []*db.Domain
	for id := a.DomainID; id != ""; {
		d, ok := byID[id]
		if !ok || len(out) > 64 {
			return DomainChain(ctx, q, a.DomainID) // renamed or moved meanwhile: walk it by id
		}
		out = append(out, d)
		id = d.ParentID
	}
	return out, nil
}

// Limits is what limits apply to an account and to each domain above it.
type Limits struct {
	Account *db.Account
	Chain   []*db.Domain // the account's domain first, ROOT last
	Acct    map[string]int64
	Dom     []map[string]int64 // per chain entry
}

// AccountLimits computes CloudStack's findCorrectResourceLimitForAccount and
// findCorrectResourceLimitForDomain for an account and its domains: a root admin's account
// and the ROOT domain are unlimited; otherwise an explicit limit, else (for a domain) the
// nearest explicit limit of a non-ROOT ancestor, else the max.* default.
func (d *Deps) AccountLimits(ctx context.Context, q db.Querier, accountID string) (*Limits, error) {
	a, err := db.GetAccount(ctx, q, accountID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find account by id %s", accountID)
	}
	if err != nil {
		return nil, err
	}
	return d.LimitsOf(ctx, q, a)
}

// LimitsOf is AccountLimits for a loaded account.
func (d *Deps) LimitsOf(ctx context.Context, q db.Querier, a *db.Account) (*Limits, error) {
	chain, err := AccountChain(ctx, q, a)
	if err != nil {
		return nil, err
	}
	acctDefaults, domDefaults, err := d.LimitDefaults(ctx, q, a.ID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(chain))
	for i, d := range chain {
		ids[i] = d.ID
	}
	explicitAcct, explicitDom, err := db.AccountAndDomainLimits(ctx, q, a.ID, ids)
	if err != nil {
		return nil, err
	}
	el := &Limits{Account: a, Chain: chain, Acct: map[string]int64{}}
	for _, t := range db.ResourceTypes {
		switch v, ok := explicitAcct[t]; {
		case a.Type == db.AccountRootAdmin:
			el.Acct[t] = db.Unlimited
		case ok:
			el.Acct[t] = v
		default:
			el.Acct[t] = acctDefaults[t]
		}
	}
	for i := range chain {
		m := map[string]int64{}
		for _, t := range db.ResourceTypes {
			m[t] = DomainLimitFor(chain[i:], explicitDom, domDefaults, t)
		}
		el.Dom = append(el.Dom, m)
	}
	return el, nil
}

// DomainLimitFor is the limit of chain[0] for a type, chain running up to ROOT.
func DomainLimitFor(chain []*db.Domain, explicit map[string]map[string]int64, defaults map[string]int64, t string) int64 {
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

// ReadableSize is CloudStack's NumbersUtil.toReadableSize, used in limit messages for storage.
func ReadableSize(b int64) string {
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
		return ReadableSize(v)
	}
	return strconv.FormatInt(v, 10)
}

// ErrLimit is CloudStack's ResourceAllocationException (532/4370).
func ErrLimit(format string, args ...any) *Error {
	return Errorf(CodeResourceLimit, CSResourceAllocation, format, args...)
}

// ChargeResources adds each delta (by db.Res* type; bytes for storage, MiB for memory) to the
// account's count and to the count of every domain above it except ROOT (whose count is the
// sum over all accounts), in the caller's transaction. A positive delta that would take the
// account or a domain past its limit is refused with CloudStack's 532 error and nothing is
// changed; negative deltas always succeed (counts stop at zero). Call it in the transaction
// that creates or destroys the counted resource.
func (d *Deps) ChargeResources(ctx context.Context, tx db.Tx, accountID string, deltas map[string]int64) error {
	positive := false
	for _, d := range deltas {
		if d > 0 {
			positive = true
		}
	}
	el, err := d.ChargeLimits(ctx, tx, accountID, positive)
	if err != nil {
		return err
	}
	return d.ApplyCharge(ctx, tx, el, deltas)
}

// ChargeLimits reads what ApplyCharge needs to charge an account: the account, its domains
// and (for a positive charge) their effective limits. A transaction that charges an account at
// its end reads them first, so that the counts' rows stay locked only briefly.
func (d *Deps) ChargeLimits(ctx context.Context, tx db.Tx, accountID string, positive bool) (*Limits, error) {
	a, err := db.GetAccount(ctx, tx, accountID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find account by id %s", accountID)
	}
	if err != nil {
		return nil, err
	}
	return d.ChargeLimitsOf(ctx, tx, a, positive)
}

// ChargeLimitsOf is ChargeLimits for an account the call loaded already (its id, type and
// domain are what count; they do not change).
func (d *Deps) ChargeLimitsOf(ctx context.Context, tx db.Tx, a *db.Account, positive bool) (*Limits, error) {
	// As CloudStack's checkResourceLimit, no limit (of the account or of its domains) applies
	// to a root admin's account; its counts still change.
	if positive && a.Type != db.AccountRootAdmin {
		return d.LimitsOf(ctx, tx, a)
	}
	chain, err := AccountChain(ctx, tx, a)
	if err != nil {
		return nil, err
	}
	return &Limits{Account: a, Chain: chain}, nil
}

// ApplyCharge adds deltas to the counts of el's account and domains within their limits, all
// or nothing (see ChargeResources).
func (d *Deps) ApplyCharge(ctx context.Context, tx db.Tx, el *Limits, deltas map[string]int64) error {
	type owner struct {
		typ, id string
		limits  map[string]int64 // nil: unlimited
		domain  *db.Domain
	}
	owners := []owner{{typ: db.OwnerAccount, id: el.Account.ID, limits: el.Acct}}
	for i, d := range el.Chain {
		if d.ParentID == "" {
			continue // ROOT: unlimited, its count is summed when read
		}
		var m map[string]int64
		if el.Dom != nil {
			m = el.Dom[i]
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
		err := db.AddResourceCounts(ctx, tx, o.typ, o.id, deltas, lim)
		var ex *db.ExceededLimit
		if !errors.As(err, &ex) {
			if err != nil {
				return err
			}
			continue
		}
		for j := i - 1; j >= 0; j-- {
			if err := db.AddResourceCounts(ctx, tx, owners[j].typ, owners[j].id, negated, nil); err != nil {
				return err
			}
		}
		t, a := ex.ResourceType, el.Account
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
