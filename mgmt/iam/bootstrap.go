package iam

import (
	"context"
	"errors"

	"github.com/atollcloud/atoll/db"
	"github.com/google/uuid"
)

// DefaultRoles are CloudStack's built-in roles. Each allows every command its role type is
// authorised for; custom roles narrow that with their own rules.
var DefaultRoles = []struct{ Name, Type, Description string }{
	{"Root Admin", RoleAdmin, "Default root admin role"},
	{"Resource Admin", RoleResourceAdmin, "Default resource admin role"},
	{"Domain Admin", RoleDomainAdmin, "Default domain admin role"},
	{"User", RoleUser, "Default user role"},
}

// Bootstrap creates, once, the ROOT domain, the default roles and the admin account with user
// "admin" and the given password. It is safe to run on several servers at once.
func Bootstrap(ctx context.Context, d *db.DB, adminPassword string) (created bool, err error) {
	hash, err := HashPassword(adminPassword)
	if err != nil {
		return false, err
	}
	err = d.Transaction(ctx, func(tx db.Tx) error {
		created = false
		if _, err := db.GetDomainByPath(ctx, tx, "ROOT"); err == nil {
			return nil
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		now := db.Now()
		root := &db.Domain{ID: uuid.NewString(), Name: "ROOT", Path: "ROOT", Level: 0, State: "Active", Created: now}
		if err := db.InsertDomain(ctx, tx, root); err != nil {
			if db.IsDuplicate(err) {
				return db.ErrConflict // another server bootstrapped first; re-read
			}
			return err
		}
		var adminRole string
		for i, r := range DefaultRoles {
			role := &db.Role{ID: uuid.NewString(), Name: r.Name, Type: r.Type, Description: r.Description, IsDefault: true, IsPublic: true, Created: now + int64(i)}
			if err := db.InsertRole(ctx, tx, role); err != nil {
				return err
			}
			if err := db.InsertRolePermission(ctx, tx, &db.RolePermission{ID: uuid.NewString(), RoleID: role.ID, Rule: "*",
				Permission: "allow", Description: "every command the role type is authorised for", Created: now}); err != nil {
				return err
			}
			if r.Type == RoleAdmin {
				adminRole = role.ID
			}
		}
		acct := &db.Account{ID: uuid.NewString(), Name: "admin", Type: db.AccountRootAdmin, DomainID: root.ID, RoleID: adminRole,
			State: "enabled", IsDefault: true, Created: now}
		if err := db.InsertAccount(ctx, tx, acct); err != nil {
			return err
		}
		u := &db.User{ID: uuid.NewString(), AccountID: acct.ID, DomainID: root.ID, Username: "admin", Password: hash,
			FirstName: "Admin", LastName: "User", State: "enabled", Source: "UNKNOWN", IsDefault: true, Created: now}
		if err := db.InsertUser(ctx, tx, u); err != nil {
			return err
		}
		created = true
		return nil
	})
	return created, err
}

// DefaultRoleID returns the id of the default role of a role type.
func DefaultRoleID(ctx context.Context, q db.Querier, roleType string) (string, error) {
	roles, _, err := db.ListRoles(ctx, q, db.RoleFilter{Type: roleType})
	if err != nil {
		return "", err
	}
	for _, r := range roles {
		if r.IsDefault {
			return r.ID, nil
		}
	}
	return "", db.ErrNotFound
}
