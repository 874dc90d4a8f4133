package template

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// ByID loads a live template or ISO with CloudStack's error for an unknown id (id as the
// caller sent it).
func ByID(ctx context.Context, q db.Querier, k Kind, id string) (*db.Template, error) {
	t, err := db.GetTemplate(ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) || err == nil && t.IsISO() != k.ISO {
		return nil, orchestrate.ErrParam("unable to find %s with id %s", k.Noun, id)
	}
	return t, err
}

// CheckUse answers an error unless the caller may use a template or ISO: a public one, one it
// (or an account it manages) owns, or one shared with its account.
func CheckUse(ctx context.Context, q db.Querier, caller *iam.Caller, k Kind, t *db.Template) error {
	if t.IsPublic || orchestrate.CheckOwnerAccess(ctx, q, caller, t.ID, t.AccountID, t.DomainID) == nil {
		return nil
	}
	if ok, err := hasLaunchPermission(ctx, q, caller, t); err != nil || ok {
		return err
	}
	return orchestrate.ErrDenied("Account %s does not have permission to use %s %s", caller.User.AccountName, k.Noun, t.ID)
}

// hasLaunchPermission reports whether a template or ISO is shared with the caller's account
// (updateTemplatePermissions op=add).
func hasLaunchPermission(ctx context.Context, q db.Querier, caller *iam.Caller, t *db.Template) (bool, error) {
	shared, err := db.TemplatePermissions(ctx, q, t.ID)
	if err != nil {
		return false, err
	}
	for _, a := range shared {
		if a == caller.User.AccountID {
			return true, nil
		}
	}
	return false, nil
}

// CheckOwner answers an error unless the caller may change a template or ISO.
func CheckOwner(ctx context.Context, q db.Querier, caller *iam.Caller, k Kind, t *db.Template) error {
	if err := orchestrate.CheckOwnerAccess(ctx, q, caller, t.ID, t.AccountID, t.DomainID); err != nil {
		return orchestrate.ErrDenied("Account %s does not have permission to operate on %s %s", caller.User.AccountName, k.Noun, t.ID)
	}
	return nil
}

// CheckOperate is CloudStack's checkAccess(caller, OperateEntry, true, template) for
// copyTemplate/copyIso and extractTemplate/extractIso (DomainChecker.checkAccess for a
// VirtualMachineTemplate). Only the root admin and the owning account pass outright: unlike
// CheckOwner, a domain admin gets no right over the templates of the accounts in its domain.
// Beyond them, a private template is open to the accounts holding a launch permission on it
// (updateTemplatePermissions op=add), and a public one to nobody: being able to see and use a
// public template does not make another account's copy or extraction of it legitimate.
func CheckOperate(ctx context.Context, q db.Querier, caller *iam.Caller, k Kind, t *db.Template) error {
	if caller.IsRootAdmin() || t.AccountID == caller.User.AccountID {
		return nil
	}
	if t.IsPublic {
		return orchestrate.ErrDenied("Domain Admin and regular users can modify only their own Public templates")
	}
	if ok, err := hasLaunchPermission(ctx, q, caller, t); err != nil || ok {
		return err
	}
	return orchestrate.ErrDenied("Account %s does not have permission to launch instances from %s %s", caller.User.AccountName, k.Noun, t.ID)
}
