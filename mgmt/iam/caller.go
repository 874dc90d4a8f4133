package iam

import (
	"strings"

	"github.com/atollcloud/atoll/db"
)

// Role types, as CloudStack names them.
const (
	RoleAdmin         = "Admin"
	RoleResourceAdmin = "ResourceAdmin"
	RoleDomainAdmin   = "DomainAdmin"
	RoleUser          = "User"
)

// RoleTypes lists the valid role types.
var RoleTypes = []string{RoleAdmin, RoleResourceAdmin, RoleDomainAdmin, RoleUser}

// NormalizeRoleType returns the canonical spelling of a role type, or "" if unknown.
func NormalizeRoleType(s string) string {
	for _, t := range RoleTypes {
		if strings.EqualFold(s, t) {
			return t
		}
	}
	return ""
}

// AccountTypeForRole maps a role type to CloudStack's account type number.
func AccountTypeForRole(roleType string) int {
	switch roleType {
	case RoleAdmin:
		return db.AccountRootAdmin
	case RoleDomainAdmin:
		return db.AccountDomainAdmin
	case RoleResourceAdmin:
		return 3
	}
	return db.AccountUser
}

// RoleTypeForAccount maps an account type to the role type of its default role.
func RoleTypeForAccount(t int) string {
	switch t {
	case db.AccountRootAdmin:
		return RoleAdmin
	case db.AccountDomainAdmin:
		return RoleDomainAdmin
	case 3:
		return RoleResourceAdmin
	}
	return RoleUser
}

// Caller is the authenticated user a request runs as.
type Caller struct {
	User *db.User
}

// RoleType returns the caller's role type.
func (c *Caller) RoleType() string {
	if c.User.RoleType != "" {
		return c.User.RoleType
	}
	return RoleTypeForAccount(c.User.AccountType)
}

// IsRootAdmin reports whether the caller administers the whole cloud.
func (c *Caller) IsRootAdmin() bool { return c.RoleType() == RoleAdmin }

// IsDomainAdmin reports whether the caller administers a domain subtree.
func (c *Caller) IsDomainAdmin() bool {
	t := c.RoleType()
	return t == RoleDomainAdmin || t == RoleResourceAdmin
}

// IsAdmin reports root or domain admin.
func (c *Caller) IsAdmin() bool { return c.IsRootAdmin() || c.IsDomainAdmin() }

// InDomainTree reports whether path is the caller's domain or below it.
func InDomainTree(top, path string) bool {
	return strings.EqualFold(path, top) || len(path) > len(top) && strings.EqualFold(path[:len(top)+1], top+"/")
}

// CanSeeDomain reports whether the caller may see a domain: root admins see all, domain admins
// their subtree, users their own domain.
func (c *Caller) CanSeeDomain(path string) bool {
	switch {
	case c.IsRootAdmin():
		return true
	case c.IsDomainAdmin():
		return InDomainTree(c.User.DomainPath, path)
	}
	return strings.EqualFold(path, c.User.DomainPath)
}

// CanManageAccount reports whether the caller may act on an account (and what it owns).
func (c *Caller) CanManageAccount(accountID, domainPath string) bool {
	switch {
	case c.IsRootAdmin():
		return true
	case c.IsDomainAdmin():
		return InDomainTree(c.User.DomainPath, domainPath)
	}
	return accountID == c.User.AccountID
}

// MatchRule reports whether a role permission rule (a command name, '*' matching any run of
// characters) matches a command name, case-insensitively.
func MatchRule(rule, cmd string) bool {
	rule, cmd = strings.ToLower(rule), strings.ToLower(cmd)
	if !strings.Contains(rule, "*") {
		return rule == cmd
	}
	parts := strings.Split(rule, "*")
	if !strings.HasPrefix(cmd, parts[0]) {
		return false
	}
	cmd = cmd[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(cmd, p)
		if i < 0 {
			return false
		}
		cmd = cmd[i+len(p):]
	}
	return strings.HasSuffix(cmd, last)
}

// Allowed evaluates a role's rules in order; the first rule that matches decides. A command
// no rule matches is denied.
func Allowed(rules []*db.RolePermission, cmd string) bool {
	for _, r := range rules {
		if MatchRule(r.Rule, cmd) {
			return strings.EqualFold(r.Permission, "allow")
		}
	}
	return false
}
