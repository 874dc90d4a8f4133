package template

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Owner names the account a new image belongs to: both fields or neither (the caller's own
// account). A projectid is refused before a workflow runs.
type Owner struct {
	Account  string // account name
	DomainID string // its domain, lower-case
}

// ownerForCreate is CloudStack's finalizeOwner: the account a new resource belongs to, the
// caller's own account by default.
func ownerForCreate(ctx context.Context, q db.Querier, caller *iam.Caller, o Owner) (*db.Account, error) {
	name, domainID := o.Account, o.DomainID
	u := caller.User
	if name == "" && domainID == "" {
		return db.GetAccount(ctx, q, u.AccountID)
	}
	if name == "" || domainID == "" {
		return nil, orchestrate.ErrParam("AccountName and domainId must be specified together")
	}
	if !caller.IsAdmin() {
		if !strings.EqualFold(name, u.AccountName) || domainID != u.DomainID {
			return nil, orchestrate.ErrDenied("Can't create/list resources for account %s in domain %s, permission denied", name, domainID)
		}
		return db.GetAccount(ctx, q, u.AccountID)
	}
	dom, err := db.GetDomain(ctx, q, domainID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find the domain by id=%s", domainID)
	}
	if err != nil {
		return nil, err
	}
	a, err := db.GetAccountByName(ctx, q, dom.ID, name)
	if errors.Is(err, db.ErrNotFound) || err == nil && !caller.CanManageAccount(a.ID, dom.Path) {
		if err == nil {
			return nil, orchestrate.ErrDenied("Account %s does not have permission to access account %s", u.AccountName, name)
		}
		return nil, orchestrate.ErrParam("Unable to find account %s in domain %s", name, domainID)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// publicUserTemplatesAllowed reads allow.public.user.templates for the account that owns or
// will own a template: whether a user (not an admin) may make it public.
func publicUserTemplatesAllowed(ctx context.Context, d *orchestrate.Deps, accountID string) (bool, error) {
	v, err := d.Config.Get(ctx, config.Account, accountID, "allow.public.user.templates")
	return strings.EqualFold(v, "true"), err
}

// osType checks an ostypeid (lower-case) names a guest OS type; "" when absent.
func osType(ctx context.Context, q db.Querier, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	if _, err := db.GetOSType(ctx, q, id); errors.Is(err, db.ErrNotFound) {
		return "", orchestrate.ErrParam("Please specify a valid guest OS type: unable to find OS type with id %s", id)
	} else if err != nil {
		return "", err
	}
	return id, nil
}
