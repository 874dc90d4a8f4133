package template

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Owner names the account a new image belongs to: both fields or neither (the caller's own
// account). A projectid is refused before a workflow runs.
type Owner struct {
	Account  string // account name
	DomainID string // its domain, lower-case
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
