package template

import (
	"context"
	"errors"
	"fmt"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// PermissionsSpec is an updateTemplatePermissions or updateIsoPermissions, checked: nil
// leaves a flag as it is; Op is add, remove, reset or "" (lower-case), and with accounts one
// of the first three.
type PermissionsSpec struct {
	Public, Featured, Extractable *bool
	Op                            string
	Accounts                      []string // account names in the template's domain
}

// UpdatePermissions changes who may see and use a template or ISO (id as the caller sent it):
// public, featured and extractable, and the accounts it is shared with.
func UpdatePermissions(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, k Kind, id string, s PermissionsSpec) error {
	caller := a.Caller
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		t, err := ByID(ctx, tx, k, id)
		if err != nil {
			return err
		}
		if err := CheckOwner(ctx, tx, caller, k, t); err != nil {
			return orchestrate.ErrParam("unable to update permissions for %s with id %s", k.Noun, id)
		}
		if t.TemplateType == db.TemplateSystem {
			return orchestrate.ErrParam("Unable to update public/private/featured status of system templates")
		}
		root := caller.IsRootAdmin()
		wasPublic := t.IsPublic
		if s.Public != nil {
			if v := *s.Public; v && !t.IsPublic && !caller.IsAdmin() {
				allow, err := publicUserTemplatesAllowed(ctx, d, t.AccountID)
				if err != nil {
					return err
				}
				if !allow {
					return orchestrate.ErrParam("Only private %ss can be created.", k.Noun)
				}
			}
			t.IsPublic = *s.Public
		}
		if s.Featured != nil && *s.Featured != t.Featured {
			if !root {
				return orchestrate.ErrDenied("Only root admins may change whether a %s is featured", k.Noun)
			}
			t.Featured = *s.Featured
		}
		if s.Extractable != nil && *s.Extractable != t.Extractable {
			if wasPublic && !root {
				return orchestrate.ErrDenied("Only root admins may change whether a public %s is extractable", k.Noun)
			}
			t.Extractable = *s.Extractable
		}
		if err := db.UpdateTemplate(ctx, tx, t); err != nil {
			return err
		}
		switch {
		case s.Op == "reset":
			if err := db.ResetTemplatePermissions(ctx, tx, t.ID); err != nil {
				return err
			}
		case len(s.Accounts) > 0:
			domainID := t.DomainID
			for _, name := range s.Accounts {
				acct, err := db.GetAccountByName(ctx, tx, domainID, name)
				if errors.Is(err, db.ErrNotFound) || err == nil && acct.State != "enabled" {
					return orchestrate.ErrParam("Unable to share %s %s with account %s in domain id=%s, account not found.", k.Noun, t.ID, name, domainID)
				}
				if err != nil {
					return err
				}
				if s.Op == "add" {
					err = db.AddTemplatePermission(ctx, tx, t.ID, acct.ID)
				} else {
					err = db.RemoveTemplatePermission(ctx, tx, t.ID, acct.ID)
				}
				if err != nil {
					return err
				}
			}
		}
		return orchestrate.Event(ctx, tx, a, k.EvUpdate, fmt.Sprintf("updating permissions of %s %s", k.Noun, t.Name), k.ResType, t.ID)
	})
}
