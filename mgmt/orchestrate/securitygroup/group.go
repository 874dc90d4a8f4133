package securitygroup

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// EnsureDefault returns the account's "default" group, making it when the account has none yet
// (CloudStack makes it with the account; accounts older than security groups get theirs on
// first use).
func EnsureDefault(ctx context.Context, q db.Querier, accountID string) (*db.SecurityGroup, error) {
	g, err := db.GetSecurityGroupByName(ctx, q, accountID, db.DefaultSGName)
	if err == nil || !errors.Is(err, db.ErrNotFound) {
		return g, err
	}
	acct, err := db.GetAccount(ctx, q, accountID)
	if err != nil {
		return nil, err
	}
	g = &db.SecurityGroup{ID: uuid.NewString(), Name: db.DefaultSGName, Description: db.DefaultSGDescription,
		AccountID: acct.ID, DomainID: acct.DomainID, Created: db.Now()}
	if err := db.InsertSecurityGroup(ctx, q, g); err != nil {
		if db.IsDuplicate(err) { // made meanwhile by another transaction: run this one again
			return nil, db.ErrConflict
		}
		return nil, err
	}
	return db.GetSecurityGroup(ctx, q, g.ID)
}

// CreateSpec is createSecurityGroup's input.
type CreateSpec struct {
	Name, Description     string
	AccountName, DomainID string // the owner (both or neither; the caller's account by default)
}

// Create makes a group for its owner (createSecurityGroup).
func Create(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, s CreateSpec) (*db.SecurityGroup, error) {
	name := strings.TrimSpace(s.Name)
	var id string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		owner, err := orchestrate.OwnerFor(ctx, tx, a.Caller, s.AccountName, s.DomainID)
		if err != nil {
			return err
		}
		if name == "" {
			return orchestrate.ErrParam("Security group name cannot be empty")
		}
		if _, err := EnsureDefault(ctx, tx, owner.ID); err != nil {
			return err
		}
		g := &db.SecurityGroup{ID: uuid.NewString(), Name: name, Description: s.Description, AccountID: owner.ID,
			DomainID: owner.DomainID, Created: db.Now()}
		if err := db.InsertSecurityGroup(ctx, tx, g); err != nil {
			if db.IsDuplicate(err) {
				return orchestrate.ErrParam("Unable to create security group, a group with name %s already exists.", name)
			}
			return err
		}
		id = g.ID
		return orchestrate.Event(ctx, tx, a, "SG.CREATE", "Created security group "+g.Name, "SecurityGroup", g.ID)
	})
	if err != nil {
		return nil, err
	}
	return db.GetSecurityGroup(ctx, d.DB.SQL, id)
}

// ownerID is CloudStack's getEntityOwnerId of the security group commands: the account named
// (account with domainid), or the caller's.
func ownerID(ctx context.Context, q db.Querier, caller *iam.Caller, account, domainID string) (string, error) {
	if account == "" && domainID == "" {
		return caller.User.AccountID, nil
	}
	o, err := orchestrate.OwnerFor(ctx, q, caller, account, domainID)
	if err != nil {
		return "", err
	}
	return o.ID, nil
}

// Ref names a group: by id, or by name in the account given (account and domainid) or the
// caller's.
type Ref struct {
	ID, Name              string
	AccountName, DomainID string
}

// Get loads a group the caller may act on.
func Get(ctx context.Context, q db.Querier, caller *iam.Caller, id string) (*db.SecurityGroup, error) {
	g, err := db.GetSecurityGroup(ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find security group by id %s", id)
	}
	if err != nil {
		return nil, err
	}
	if err := orchestrate.CheckOwnerAccess(ctx, q, caller, id, g.AccountID, g.DomainID); err != nil {
		return nil, err
	}
	return g, nil
}

// byName finds an account's group by name (making the account's default group if that is the
// one named); notFound is the error when there is none.
func byName(ctx context.Context, q db.Querier, accountID, name string, notFound error) (*db.SecurityGroup, error) {
	if strings.EqualFold(name, db.DefaultSGName) {
		return EnsureDefault(ctx, q, accountID)
	}
	g, err := db.GetSecurityGroupByName(ctx, q, accountID, name)
	if errors.Is(err, db.ErrNotFound) {
		return nil, notFound
	}
	return g, err
}

// Delete removes a group no VM uses and no rule names (deleteSecurityGroup); an account's
// default group is reserved.
func Delete(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, r Ref) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		if r.ID != "" && r.Name != "" {
			return orchestrate.ErrParam("name and id parameters are mutually exclusive")
		}
		var g *db.SecurityGroup
		var err error
		switch {
		case r.Name != "":
			owner, oerr := ownerID(ctx, tx, a.Caller, r.AccountName, r.DomainID)
			if oerr != nil {
				return oerr
			}
			g, err = db.GetSecurityGroupByName(ctx, tx, owner, r.Name)
			if errors.Is(err, db.ErrNotFound) {
				if strings.EqualFold(r.Name, db.DefaultSGName) {
					return orchestrate.ErrParam("The network group default is reserved")
				}
				return orchestrate.ErrParam("Unable to find security group by name %s for the account id=%s", r.Name, owner)
			}
			if err == nil {
				err = orchestrate.CheckOwnerAccess(ctx, tx, a.Caller, g.ID, g.AccountID, g.DomainID)
			}
		case r.ID != "":
			g, err = Get(ctx, tx, a.Caller, r.ID)
			if e := (*orchestrate.Error)(nil); errors.As(err, &e) && e.Code == orchestrate.CodeParam {
				err = orchestrate.ErrParam("Unable to find network group: %s; failed to delete group.", r.ID)
			}
		default:
			return orchestrate.ErrParam("Either id or name parameter is required by deleteSecurityGroup command")
		}
		if err != nil {
			return err
		}
		if err := db.LockSecurityGroup(ctx, tx, g.ID); err != nil {
			return err
		}
		if strings.EqualFold(g.Name, db.DefaultSGName) {
			return orchestrate.ErrParam("The network group default is reserved")
		}
		if n, err := db.CountRulesAllowing(ctx, tx, g.ID); err != nil {
			return err
		} else if n > 0 {
			return orchestrate.ErrInUse("Cannot delete group when there are security rules that allow this group")
		}
		if n, err := db.CountSecurityGroupVMs(ctx, tx, g.ID); err != nil {
			return err
		} else if n > 0 {
			return orchestrate.ErrInUse("Cannot delete group when it's in use by virtual machines")
		}
		if err := db.DeleteTagsOf(ctx, tx, "SecurityGroup", g.ID); err != nil {
			return err
		}
		if err := db.DeleteSecurityGroup(ctx, tx, g.ID); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "SG.DELETE", "Deleted security group "+g.Name, "SecurityGroup", g.ID)
	})
}

// EnsureDefaultFor makes the account's default group if it has none yet, in its own
// transaction (before a list, so that every account shows its default group).
func EnsureDefaultFor(ctx context.Context, d *orchestrate.Deps, accountID string) error {
	if _, err := db.GetSecurityGroupByName(ctx, d.DB.Read(), accountID, db.DefaultSGName); err == nil || !errors.Is(err, db.ErrNotFound) {
		return err
	}
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		_, err := EnsureDefault(ctx, tx, accountID)
		return err
	})
}

// Target loads the group a rule request names (securitygroupid, or securitygroupname in the
// account given or the caller's) for the caller to change; cmd names the command in errors.
func Target(ctx context.Context, q db.Querier, a orchestrate.Actor, r Ref, cmd string) (*db.SecurityGroup, error) {
	if r.ID != "" && r.Name != "" {
		return nil, orchestrate.ErrParam("securityGroupId and securityGroupName parameters are mutually exclusive")
	}
	return ruleTarget(ctx, q, a, r, cmd)
}

// Rename gives a group another name (updateSecurityGroup); the default group keeps its name and
// no other group may take it.
func Rename(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id, name string) (*db.SecurityGroup, error) {
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		g, err := db.GetSecurityGroup(ctx, tx, strings.ToLower(id))
		if errors.Is(err, db.ErrNotFound) {
			return orchestrate.ErrParam("Unable to find security group: %s; failed to update security group.", id)
		}
		if err != nil {
			return err
		}
		if name == "" || name == g.Name {
			return nil
		}
		if strings.TrimSpace(name) == "" {
			return orchestrate.ErrParam("Security group name cannot be empty")
		}
		if err := orchestrate.CheckOwnerAccess(ctx, tx, a.Caller, id, g.AccountID, g.DomainID); err != nil {
			return err
		}
		if strings.EqualFold(name, db.DefaultSGName) {
			return orchestrate.ErrParam("The security group name %s is reserved", db.DefaultSGName)
		}
		if strings.EqualFold(g.Name, db.DefaultSGName) {
			return orchestrate.ErrParam("The default security group cannot be renamed")
		}
		if err := db.RenameSecurityGroup(ctx, tx, g, name); err != nil {
			if db.IsDuplicate(err) {
				return orchestrate.ErrParam("Unable to update security group, a group with name %s already exists.", name)
			}
			return err
		}
		return orchestrate.Event(ctx, tx, a, "SG.UPDATE", "Renamed security group "+g.Name+" to "+name, "SecurityGroup", g.ID)
	})
	if err != nil {
		return nil, err
	}
	return db.GetSecurityGroup(ctx, d.DB.SQL, strings.ToLower(id))
}
