package orchestrate

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
)

// OwnerFor is CloudStack's finalizeOwner: the account a new resource belongs to, from an
// account name and its domain id (both or neither), the caller's own account by default.
func OwnerFor(ctx context.Context, q db.Querier, caller *iam.Caller, name, domainID string) (*db.Account, error) {
	u := caller.User
	if name == "" && domainID == "" {
		return db.GetAccount(ctx, q, u.AccountID)
	}
	if name == "" || domainID == "" {
		return nil, ErrParam("AccountName and domainId must be specified together")
	}
	if !caller.IsAdmin() {
		if !strings.EqualFold(name, u.AccountName) || domainID != u.DomainID {
			return nil, ErrDenied("Can't create/list resources for account %s in domain %s, permission denied", name, domainID)
		}
		return db.GetAccount(ctx, q, u.AccountID)
	}
	dom, err := db.GetDomain(ctx, q, domainID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find the domain by id=%s", domainID)
	}
	if err != nil {
		return nil, err
	}
	a, err := db.GetAccountByName(ctx, q, dom.ID, name)
	if errors.Is(err, db.ErrNotFound) || err == nil && !caller.CanManageAccount(a.ID, dom.Path) {
		if err == nil {
			return nil, ErrDenied("Account %s does not have permission to access account %s", u.AccountName, name)
		}
		return nil, ErrParam("Unable to find account %s in domain %s", name, domainID)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}
