package api

import (
	"errors"
	"fmt"
	"strconv"

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
	scope, id := "global", ""
	if accountID != "" {
		scope, id = "account", accountID
	}
	av, err := c.S.Config.Values(c.Ctx, q, scope, id, "")
	if err != nil {
		return nil, nil, err
	}
	gv := av
	if scope != "global" {
		if gv, err = c.S.Config.Values(c.Ctx, q, "global", "", ""); err != nil {
			return nil, nil, err
		}
	}
	values := map[string]string{}
	for _, v := range gv {
		values[v.Name] = v.Value
	}
	for _, v := range av {
		values[v.Name] = v.Value
	}
	acct, dom = map[string]int64{}, map[string]int64{}
	for t, name := range accountLimitSettings {
		acct[t] = db.Unlimited
		if v, ok := values[name]; ok {
			acct[t] = settingLimit(t, v)
		}
	}
	for t, name := range domainLimitSettings {
		dom[t] = db.Unlimited
		if v, ok := values[name]; ok {
			dom[t] = settingLimit(t, v)
		}
	}
	return acct, dom, nil
}

// domainChain returns a domain and its ancestors, the domain first and ROOT last.
func domainChain(c *Call, q db.Querier, domainID string) ([]*db.Domain, error) {
	var out []*db.Domain
	for id := domainID; id != ""; {
		d, err := db.GetDomain(c.Ctx, q, id)
		if err != nil {
			return nil, fmt.Errorf("api: domain %s of the chain: %w", id, err)
		}
		out = append(out, d)
		id = d.ParentID
		if len(out) > 64 {
			return nil, errors.New("api: domain chain too deep")
		}
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
	chain, err := domainChain(c, q, a.DomainID)
	if err != nil {
		return nil, err
	}
	acctDefaults, domDefaults, err := c.limitDefaults(q, a.ID)
	if err != nil {
		return nil, err
	}
	explicitAcct, err := db.ResourceLimits(c.Ctx, q, db.OwnerAccount, a.ID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(chain))
	for i, d := range chain {
		ids[i] = d.ID
	}
	explicitDom, err := db.ResourceLimitsOf(c.Ctx, q, db.OwnerDomain, ids)
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
	var el *effectiveLimits
	var err error
	if positive {
		if el, err = c.accountLimits(tx, accountID); err != nil {
			return err
		}
	} else {
		a, err := db.GetAccount(c.Ctx, tx, accountID)
		if errors.Is(err, db.ErrNotFound) {
			return ErrParam("Unable to find account by id %s", accountID)
		}
		if err != nil {
			return err
		}
		chain, err := domainChain(c, tx, a.DomainID)
		if err != nil {
			return err
		}
		el = &effectiveLimits{account: a, chain: chain}
	}
	type applied struct {
		ownerType, ownerID, t string
		delta                 int64
	}
	var done []applied
	undo := func() error {
		for i := len(done) - 1; i >= 0; i-- {
			a := done[i]
			if err := db.AddResourceCount(c.Ctx, tx, a.ownerType, a.ownerID, a.t, -a.delta, db.Unlimited); err != nil {
				return err
			}
		}
		return nil
	}
	limitOf := func(m map[string]int64, t string) int64 {
		if m == nil {
			return db.Unlimited
		}
		return m[t]
	}
	// A fixed order (types in CloudStack's order; the account, then its domains upwards) keeps
	// concurrent charges from locking rows in opposite orders.
	for _, t := range db.ResourceTypes {
		delta := deltas[t]
		if delta == 0 {
			continue
		}
		a := el.account
		lim := limitOf(el.acct, t)
		if err := db.AddResourceCount(c.Ctx, tx, db.OwnerAccount, a.ID, t, delta, lim); err != nil {
			var ex *db.ErrLimitExceeded
			if errors.As(err, &ex) {
				if uerr := undo(); uerr != nil {
					return uerr
				}
				return ErrLimit("Maximum amount of resources of Type = '%s', tag = 'null' for Account Name = %s in Domain Id = %s is exceeded: "+
					"Account Resource Limit = %s, Current Account Resource Amount = %s, Current Account Resource Reservation = %s, Requested Resource Amount = %s.",
					t, a.Name, a.DomainID, amount(t, lim), amount(t, ex.Count), amount(t, 0), amount(t, delta))
			}
			return err
		}
		done = append(done, applied{db.OwnerAccount, a.ID, t, delta})
		for i, d := range el.chain {
			if d.ParentID == "" {
				continue // ROOT: unlimited, its count is summed when read
			}
			var dl map[string]int64
			if el.dom != nil {
				dl = el.dom[i]
			}
			lim := limitOf(dl, t)
			if err := db.AddResourceCount(c.Ctx, tx, db.OwnerDomain, d.ID, t, delta, lim); err != nil {
				var ex *db.ErrLimitExceeded
				if errors.As(err, &ex) {
					if uerr := undo(); uerr != nil {
						return uerr
					}
					return ErrLimit("Maximum domain resource limits of Type '%s' for Domain Id = %s is exceeded: Domain Resource Limit = %s, "+
						"Current Domain Resource Amount = %s, Current Resource Reservation = %s, Requested Resource Amount = %s.",
						t, d.ID, amount(t, lim), amount(t, ex.Count), amount(t, 0), amount(t, delta))
				}
				return err
			}
			done = append(done, applied{db.OwnerDomain, d.ID, t, delta})
		}
	}
	return nil
}
