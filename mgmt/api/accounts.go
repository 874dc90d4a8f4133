package api

import (
	"errors"
	"regexp"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate/securitygroup"
	"github.com/google/uuid"
)

// adminRoles are the role types CloudStack authorises for account and user administration
// (its old commands.properties value 7: root, resource and domain admins).
const adminRoles = Admin | ResourceAdmin | DomainAdmin

// Account states, as CloudStack spells them.
const (
	stateEnabled  = "enabled"
	stateDisabled = "disabled"
	stateLocked   = "locked"
)

func registerAccounts(s *Server) {
	byName := []Param{
		{Name: "id", Type: TUUID, Description: "Account id"},
		{Name: "account", Type: TString, Description: "Account name; with domainid, names the account when id is not given"},
		{Name: "domainid", Type: TUUID, Description: "Domain id of the account named by account (default: the caller's domain)"},
	}
	s.Reg.Add(&Command{Name: "listAccounts", Response: accountResponse, Roles: AllRoles, List: true, ResponseKey: "account",
		Description: "Lists accounts and provides detailed account information for listed accounts",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "list account by account ID"},
			{Name: "name", Type: TString, Description: "list account by account name"},
			{Name: "accounttype", Type: TInt, Description: "list accounts by account type: 0 user, 1 root admin, 2 domain admin"},
			{Name: "state", Type: TString, Description: "list accounts by state (enabled, disabled, locked)"},
			{Name: "domainid", Type: TUUID, Description: "list only resources belonging to the domain specified"},
			{Name: "isrecursive", Type: TBool, Description: "defaults to false; with domainid, also lists accounts of the domain's subdomains"},
			{Name: "listall", Type: TBool, Description: "If set to false, list only the caller's own account; if set to true, every account the caller may see. Default value is false"},
			{Name: "iscleanuprequired", Type: TBool, Description: "list accounts by cleanuprequired attribute (values are true or false)"},
			{Name: "details", Type: TList, Description: "comma separated list of account details requested"},
			{Name: "showicon", Type: TBool, Description: "flag to display the resource icon for accounts"},
		},
		Handler: listAccounts})
	s.Reg.Add(&Command{Name: "createAccount", Response: accountResponse, Roles: adminRoles, ResponseKey: "account",
		Description: "Creates an account",
		Params: []Param{
			{Name: "account", Type: TString, Length: 255, Description: "Name of the account to be created. The user will be added to this newly created account. If no account is specified, the username will be used as the account name."},
			{Name: "accounttype", Type: TShort, Description: "Type of the account.  Specify 0 for user, 1 for root admin, and 2 for domain admin"},
			{Name: "roleid", Type: TUUID, Description: "Creates the account under the specified role."},
			{Name: "domainid", Type: TUUID, Description: "Creates the user under the specified domain (default: the caller's domain)."},
			{Name: "email", Type: TString, Required: true, Length: 255, Description: "email"},
			{Name: "firstname", Type: TString, Required: true, Length: 255, Description: "firstname"},
			{Name: "lastname", Type: TString, Required: true, Length: 255, Description: "lastname"},
			{Name: "password", Type: TString, Required: true, Description: "Clear text password"},
			{Name: "timezone", Type: TString, Length: 64, Description: "Specifies a timezone for this command. For more information on the timezone parameter, see Time Zone Format."},
			{Name: "username", Type: TString, Required: true, Length: 255, Description: "Unique username."},
			{Name: "networkdomain", Type: TString, Length: 255, Description: "Network domain for the account's networks"},
			{Name: "accountid", Type: TString, Description: "Account UUID, required for adding account from external provisioning system"},
			{Name: "userid", Type: TString, Description: "User UUID, required for adding account from external provisioning system"},
		},
		Handler: createAccount})
	s.Reg.Add(&Command{Name: "updateAccount", Response: accountResponse, Roles: adminRoles, ResponseKey: "account",
		Description: "Updates account information for the authenticated user",
		Params: append(append([]Param{}, byName...),
			Param{Name: "newname", Type: TString, Length: 255, Description: "new name for the account"},
			Param{Name: "networkdomain", Type: TString, Length: 255, Description: "Network domain for the account's networks; empty string will update domainName with NULL value"},
			Param{Name: "roleid", Type: TUUID, Description: "The UUID of the dynamic role to set for the account"},
		),
		Handler: updateAccount})
	s.Reg.Add(&Command{Name: "deleteAccount", Response: successResponse, Roles: adminRoles, Async: true, ResponseKey: "account",
		Description: "Deletes a account, and all users associated with this account",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "Account id"}},
		Handler:     deleteAccountStart, Job: deleteAccountJob})
	s.Reg.Add(&Command{Name: "enableAccount", Response: accountResponse, Roles: adminRoles, ResponseKey: "account",
		Description: "Enables an account",
		Params:      append([]Param{}, byName...),
		Handler:     enableAccount})
	s.Reg.Add(&Command{Name: "disableAccount", Response: accountResponse, Roles: adminRoles, Async: true, ResponseKey: "account",
		Description: "Disables an account",
		Params: append(append([]Param{}, byName...),
			Param{Name: "lock", Type: TBool, Required: true, Description: "If true, only lock the account; else disable the account"}),
		Handler: disableAccountStart, Job: disableAccountJob})
	s.Reg.Add(&Command{Name: "lockAccount", Response: accountResponse, Roles: adminRoles, ResponseKey: "account",
		Description: "This deprecated function used to locks an account. Look for the API DisableAccount instead",
		Params: []Param{
			{Name: "account", Type: TString, Required: true, Description: "Locks the specified account."},
			{Name: "domainid", Type: TUUID, Required: true, Description: "Locks the specified account on this domain."},
		},
		Handler: lockAccount})
}

// accountRoleType is the role type of an account's role (or, without one, of its type).
func accountRoleType(a *db.Account) string {
	if a.RoleType != "" {
		return a.RoleType
	}
	return iam.RoleTypeForAccount(a.Type)
}

func (c *Call) renderAccount(a *db.Account, users []*db.User) map[string]any {
	m := map[string]any{"id": a.ID, "name": a.Name, "accounttype": a.Type, "domainid": a.DomainID, "domain": a.DomainName,
		"domainpath": a.DomainPath, "state": a.State, "isdefault": a.IsDefault, "iscleanuprequired": false,
		"created": FormatTime(a.Created)}
	set(m, "roleid", a.RoleID)
	set(m, "rolename", a.RoleName)
	set(m, "roletype", a.RoleType)
	set(m, "networkdomain", a.NetworkDomain)
	us := make([]any, 0, len(users))
	for _, u := range users {
		us = append(us, c.renderUser(u))
	}
	m["user"] = us
	return m
}

// renderAccounts renders accounts with their users, read in one query.
func (c *Call) renderAccounts(list []*db.Account) ([]any, error) {
	items := make([]any, 0, len(list))
	if len(list) == 0 {
		return items, nil
	}
	ids := make([]string, len(list))
	for i, a := range list {
		ids[i] = a.ID
	}
	users, _, err := db.ListUsers(c.Ctx, c.S.DB.Read(), db.UserFilter{AccountIDs: ids})
	if err != nil {
		return nil, err
	}
	byAccount := map[string][]*db.User{}
	for _, u := range users {
		byAccount[u.AccountID] = append(byAccount[u.AccountID], u)
	}
	for _, a := range list {
		items = append(items, c.renderAccount(a, byAccount[a.ID]))
	}
	return items, nil
}

// accountObject reads an account back after a change and renders it as {"account": ...}.
func (c *Call) accountObject(id string) (any, error) {
	a, err := db.GetAccount(c.Ctx, c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	items, err := c.renderAccounts([]*db.Account{a})
	if err != nil {
		return nil, err
	}
	return Object{Key: "account", Value: items[0]}, nil
}

// accountListScope is CloudStack's searchForAccounts scoping: an id names one account the
// caller may see; an admin's listall lists the subtree of domainid (or of its own domain); an
// admin's domainid lists that domain (its subtree with isrecursive); anything else lists the
// caller's own account.
func (c *Call) accountListScope() (db.Scope, error) {
	u := c.Caller.User
	var dom *db.Domain
	if id := c.P.String("domainid"); id != "" {
		d, err := c.DomainForScope(id)
		if err != nil {
			return db.Scope{}, err
		}
		dom = d
	}
	if id := strings.ToLower(c.P.String("id")); id != "" {
		a, err := db.GetAccount(c.Ctx, c.S.DB.Read(), id)
		if errors.Is(err, db.ErrNotFound) || err == nil && dom != nil && a.DomainID != dom.ID {
			return db.Scope{}, ErrParam("Unable to find account by id %s", id)
		}
		if err != nil {
			return db.Scope{}, err
		}
		if !c.Caller.CanManageAccount(a.ID, a.DomainPath) {
			return db.Scope{}, ErrDenied("Account %s does not have permission to access account %s", u.AccountName, id)
		}
		return db.Scope{AccountID: a.ID}, nil
	}
	listAll, _ := c.P.Bool("listall")
	recursive, _ := c.P.Bool("isrecursive")
	switch {
	case listAll && c.Caller.IsAdmin():
		path := u.DomainPath
		if dom != nil {
			path = dom.Path
		}
		return db.Scope{DomainPath: path, Recursive: true}, nil
	case !c.Caller.IsAdmin() || dom == nil:
		return db.Scope{AccountID: u.AccountID}, nil
	}
	return db.Scope{DomainPath: dom.Path, Recursive: recursive}, nil
}

func listAccounts(c *Call) (any, error) {
	scope, err := c.accountListScope()
	if err != nil {
		return nil, err
	}
	if cleanup, ok := c.P.Bool("iscleanuprequired"); ok && cleanup {
		return ListResult{Key: "account"}, nil // accounts are cleaned up in the transaction that removes them
	}
	f := db.AccountFilter{ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), State: c.P.String("state"),
		Keyword: c.P.String("keyword"), Scope: scope}
	if t, ok := c.P.Int("accounttype"); ok {
		f.Type = &t
	}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListAccounts(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items, err := c.renderAccounts(list)
	if err != nil {
		return nil, err
	}
	return ListResult{Key: "account", Items: items, Count: total}, nil
}

// accountByParams finds the account a command names by id, or by account and domainid (the
// caller's domain by default), reading through q.
func (c *Call) accountByParams(q db.Querier) (*db.Account, error) {
	if id := strings.ToLower(c.P.String("id")); id != "" {
		a, err := db.GetAccount(c.Ctx, q, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find account by id %s", id)
		}
		return a, err
	}
	name := c.P.String("account")
	if strings.TrimSpace(name) == "" {
		return nil, ErrParam("Either id or account (with domainid) must be specified")
	}
	dom, err := c.DomainForScope(c.P.String("domainid"))
	if err != nil {
		return nil, err
	}
	a, err := db.GetAccountByName(c.Ctx, q, dom.ID, name)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find account %s in domain %s", name, dom.Path)
	}
	return a, err
}

// checkAccountAccess is CloudStack's checkAccess plus verifyCallerPrivilegeForUserOrAccountOperations:
// the caller must administer the account's domain (or own the account), and may only act on
// accounts whose role type is no more privileged than its own and whose role grants nothing
// its own role does not.
func (c *Call) checkAccountAccess(a *db.Account) error {
	if !c.Caller.CanManageAccount(a.ID, a.DomainPath) {
		// Name the account as the caller did (by id, else by name): nothing it may not see.
		sent := strings.ToLower(c.P.String("id"))
		if sent != a.ID {
			sent = c.P.String("account")
		}
		return ErrDenied("Account %s does not have permission to operate on account %s", c.Caller.User.AccountName, sent)
	}
	return c.checkPrivilege(a.ID, a.Name, a.RoleID, accountRoleType(a), "")
}

// roleRank orders role types from most to least privileged, as CloudStack's RoleType ids do.
func roleRank(t string) int {
	switch t {
	case iam.RoleAdmin:
		return 1
	case iam.RoleResourceAdmin:
		return 2
	case iam.RoleDomainAdmin:
		return 4
	case iam.RoleUser:
		return 8
	}
	return 16
}

// checkPrivilege refuses acting on an account (and, with userID, one of its users) of a more
// privileged role type, a user acting on anyone but itself, and role escalation.
func (c *Call) checkPrivilege(accountID, accountName, roleID, roleType, userID string) error {
	if c.Caller.IsRootAdmin() {
		return nil
	}
	cu := c.Caller.User
	mine, theirs := roleRank(c.Caller.RoleType()), roleRank(roleType)
	if mine > theirs {
		return ErrDenied("The calling account %s has a lower role type than the account %s", cu.AccountName, accountName)
	}
	if c.Caller.RoleType() == iam.RoleUser && (accountID != cu.AccountID || userID != "" && userID != cu.ID) {
		return ErrDenied("User %s may only act on its own user", cu.Username)
	}
	return c.checkRoleEscalation(roleID)
}

// checkRoleEscalation refuses, as CloudStack's checkRoleEscalation does, when a role (of an
// account being created or acted on) has a rule allowing a command the caller's own role's
// rules deny. Role types are ranked separately (checkPrivilege); this compares rules only, the
// same test listRoles uses to decide which roles a caller may see.
func (c *Call) checkRoleEscalation(roleID string) error {
	cu := c.Caller.User
	if c.Caller.IsRootAdmin() || roleID == "" || roleID == cu.RoleID {
		return nil
	}
	want, err := c.S.roleRules(c.Ctx, roleID)
	if err != nil {
		return err
	}
	have, err := c.S.roleRules(c.Ctx, cu.RoleID)
	if err != nil {
		return err
	}
	for _, cmd := range c.S.Reg.All() {
		if !cmd.NoAuth && iam.Allowed(want, cmd.Name) && !iam.Allowed(have, cmd.Name) {
			return ErrDenied("Account %s can not create or act on an account with more privileges than its own: that role allows %s",
				cu.AccountName, cmd.Name)
		}
	}
	return nil
}

// roleForNewAccount picks the role of a new account: roleid, or the default role of accounttype.
func (c *Call) roleForNewAccount() (*db.Role, error) {
	q := c.S.DB.Read()
	if id := strings.ToLower(c.P.String("roleid")); id != "" {
		r, err := db.GetRole(c.Ctx, q, id)
		if errors.Is(err, db.ErrNotFound) || err == nil && !r.IsPublic && !c.Caller.IsRootAdmin() {
			return nil, ErrParam("Unable to find role by id %s", id)
		}
		return r, err
	}
	t, ok := c.P.Int("accounttype")
	if !ok {
		return nil, ErrParam("Neither accounttype nor roleid was given: pass accounttype (0 user, 1 root admin, 2 domain admin) or roleid")
	}
	if t < db.AccountUser || t > db.AccountDomainAdmin {
		return nil, ErrParam("Invalid accounttype %d: use 0 (user), 1 (root admin) or 2 (domain admin), or pass roleid", t)
	}
	id, err := iam.DefaultRoleID(c.Ctx, q, iam.RoleTypeForAccount(t))
	if err != nil {
		return nil, err
	}
	return db.GetRole(c.Ctx, q, id)
}

var domainLabelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// validNetworkDomain is CloudStack's NetUtils.verifyDomainName.
func validNetworkDomain(s string) error {
	ok := len(s) >= 1 && len(s) <= 190
	for _, l := range strings.Split(s, ".") {
		ok = ok && domainLabelRE.MatchString(l)
	}
	if !ok {
		return ErrParam("Invalid network domain %q: total length must not exceed 190 chars; every domain part must be 1 to 63 characters long, "+
			"can contain ASCII letters 'a' through 'z', the digits '0' through '9' and the hyphen ('-'), and can't start or end with '-'", s)
	}
	return nil
}

// optionalUUID reads an id parameter declared as a string (accountid, userid): a UUID or "".
func (c *Call) optionalUUID(name string) (string, error) {
	v := c.P.String(name)
	if v == "" {
		return "", nil
	}
	if !IsUUID(v) {
		return "", ErrInvalid(c.Cmd.Name, name, v, "it is not a UUID")
	}
	return strings.ToLower(v), nil
}

func createAccount(c *Call) (any, error) {
	username := strings.TrimSpace(c.P.String("username"))
	name := strings.TrimSpace(c.P.String("account"))
	if name == "" {
		name = username
	}
	dom, err := c.DomainForScope(c.P.String("domainid"))
	if err != nil {
		return nil, err
	}
	role, err := c.roleForNewAccount()
	if err != nil {
		return nil, err
	}
	typ := iam.AccountTypeForRole(role.Type)
	if typ == db.AccountRootAdmin && dom.ParentID != "" {
		return nil, ErrParam("Invalid account type %d for an account in domain %s: accounts of the root admin role type can only be created in the ROOT domain", typ, dom.Path)
	}
	nd := c.P.String("networkdomain")
	if nd != "" {
		if err := validNetworkDomain(nd); err != nil {
			return nil, err
		}
	}
	accountID, err := c.optionalUUID("accountid")
	if err != nil {
		return nil, err
	}
	userID, err := c.optionalUUID("userid")
	if err != nil {
		return nil, err
	}
	if err := c.checkPrivilege("", name, role.ID, role.Type, ""); err != nil {
		return nil, err
	}
	hash, err := iam.HashPassword(c.P.String("password"))
	if err != nil {
		return nil, err
	}
	if accountID == "" {
		accountID = uuid.NewString()
	}
	if userID == "" {
		userID = uuid.NewString()
	}
	now := db.Now()
	a := &db.Account{ID: accountID, Name: name, Type: typ, DomainID: dom.ID, RoleID: role.ID, State: stateEnabled,
		NetworkDomain: nd, Created: now}
	u := &db.User{ID: userID, AccountID: a.ID, DomainID: dom.ID, Username: username, Password: hash,
		FirstName: strings.TrimSpace(c.P.String("firstname")), LastName: strings.TrimSpace(c.P.String("lastname")),
		Email: strings.TrimSpace(c.P.String("email")), Timezone: c.P.String("timezone"), State: stateEnabled,
		Source: "UNKNOWN", Created: now}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if _, err := db.GetAccountByName(c.Ctx, tx, dom.ID, name); err == nil {
			return ErrParam("The account %s already exists in domain %s", name, dom.Path)
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		if _, err := db.GetUserByName(c.Ctx, tx, dom.ID, username); err == nil {
			return ErrParam("The user %s already exists in domain %s", username, dom.Path)
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		if err := db.InsertAccount(c.Ctx, tx, a); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("The account %s already exists in domain %s, or the account id %s is taken", name, dom.Path, a.ID)
			}
			return err
		}
		if err := db.InsertUser(c.Ctx, tx, u); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("The user %s already exists in domain %s, or the user id %s is taken", username, dom.Path, u.ID)
			}
			return err
		}
		if _, err := securitygroup.EnsureDefault(c.Ctx, tx, a.ID); err != nil { // CloudStack makes it with the account
			return err
		}
		if err := c.Event(tx, "ACCOUNT.CREATE", "Creating account "+name+" in domain "+dom.Path, "Account", a.ID); err != nil {
			return err
		}
		return c.Event(tx, "USER.CREATE", "Creating user "+username+" in account "+name, "User", u.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return c.accountObject(a.ID)
}

// roleForChange checks a role change of account a, as CloudStack's validateRoleChange does.
func (c *Call) roleForChange(q db.Querier, a *db.Account, roleID string) (*db.Role, error) {
	r, err := db.GetRole(c.Ctx, q, roleID)
	if errors.Is(err, db.ErrNotFound) || err == nil && !r.IsPublic && !c.Caller.IsRootAdmin() {
		return nil, ErrParam("Role with ID %s is not found or not available for the account %s", roleID, a.Name)
	}
	if err != nil {
		return nil, err
	}
	if a.ID == c.Caller.User.AccountID {
		return nil, ErrDenied("Unable to update account role to %s: an account can not change its own role", r.Name)
	}
	if a.IsDefault {
		return nil, ErrParam("Unable to update account role to %s: the role of the default account %s can not be changed", r.Name, a.Name)
	}
	if !c.Caller.IsRootAdmin() {
		mine := roleRank(c.Caller.RoleType())
		if roleRank(r.Type) < mine || roleRank(accountRoleType(a)) < mine {
			return nil, ErrDenied("Unable to update account role to %s, as either current or new role has higher privileges than the caller", r.Name)
		}
	}
	if r.Type == iam.RoleAdmin && a.DomainPath != "ROOT" {
		return nil, ErrDenied("Unable to update account role to %s, as the account does not belong to the ROOT domain", r.Name)
	}
	if err := c.checkRoleEscalation(r.ID); err != nil {
		return nil, err
	}
	return r, nil
}

func updateAccount(c *Call) (any, error) {
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		a, err := c.accountByParams(tx)
		if err != nil {
			return err
		}
		if err := c.checkAccountAccess(a); err != nil {
			return err
		}
		if c.P.Has("newname") {
			n := strings.TrimSpace(c.P.String("newname"))
			if n == "" {
				return ErrParam("The new account name for account %s within domain %s is empty; the account was not renamed", a.Name, a.DomainPath)
			}
			if other, err := db.GetAccountByName(c.Ctx, tx, a.DomainID, n); err == nil && other.ID != a.ID {
				return ErrParam("The account with the proposed name %s exists in the domain %s", n, a.DomainPath)
			} else if err != nil && !errors.Is(err, db.ErrNotFound) {
				return err
			}
			a.Name = n
		}
		if c.P.Has("networkdomain") {
			nd := c.P.String("networkdomain")
			if nd != "" {
				if err := validNetworkDomain(nd); err != nil {
					return err
				}
			}
			a.NetworkDomain = nd
		}
		if rid := strings.ToLower(c.P.String("roleid")); rid != "" && rid != a.RoleID {
			r, err := c.roleForChange(tx, a, rid)
			if err != nil {
				return err
			}
			a.RoleID, a.Type = r.ID, iam.AccountTypeForRole(r.Type)
		}
		if err := db.UpdateAccount(c.Ctx, tx, a); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("The account with the proposed name %s exists in the domain %s", a.Name, a.DomainPath)
			}
			return err
		}
		id = a.ID
		return c.Event(tx, "ACCOUNT.UPDATE", "Updating account "+a.Name, "Account", a.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return c.accountObject(id)
}

// checkAccountDeletable refuses deleting an account the caller may not touch, its own account
// and the default admin account.
func (c *Call) checkAccountDeletable(a *db.Account) error {
	if err := c.checkAccountAccess(a); err != nil {
		return err
	}
	if a.ID == c.Caller.User.AccountID {
		return ErrParam("Deletion of your own account is not allowed. To delete account %s (ID: %s, domain %s), ask another user with permission to perform the operation",
			a.Name, a.ID, a.DomainPath)
	}
	if a.IsDefault {
		return ErrParam("The account is default and can't be removed")
	}
	return nil
}

func deleteAccountStart(c *Call) (any, error) {
	a, err := c.accountByParams(c.S.DB.Read())
	if err != nil {
		return nil, err
	}
	if err := c.checkAccountDeletable(a); err != nil {
		return nil, err
	}
	return c.StartJob("Account", a.ID)
}

func deleteAccountJob(c *Call, j *db.Job) (any, error) {
	a, err := db.GetAccount(c.Ctx, c.S.DB.SQL, j.InstanceID)
	if errors.Is(err, db.ErrNotFound) {
		return Success(), nil // an earlier run of this job removed it
	}
	if err != nil {
		return nil, err
	}
	if err := c.checkAccountDeletable(a); err != nil {
		return nil, err
	}
	if err := c.deleteAccountWithResources(a); err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return Success(), nil
}

// deleteAccountWithResources disables an account (its users' sessions end, so nothing new is
// created while it is cleaned up), releases everything it owns (cleanupAccount) and removes
// it. Run again after a failure it picks up where the last run stopped.
func (c *Call) deleteAccountWithResources(a *db.Account) error {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		cur, err := db.GetAccount(c.Ctx, tx, a.ID)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return setAccountStateTx(c, tx, cur, stateDisabled, "", "")
	})
	if err != nil {
		return err
	}
	c.S.Invalidate() // cached credentials of its users stop working now
	if err := c.cleanupAccount(a.ID); err != nil {
		return err
	}
	return c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		cur, err := db.GetAccount(c.Ctx, tx, a.ID)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		// Something created for it while the cleanup ran (a request already past
		// authentication): fail rather than leave it without an owner; a re-run releases it.
		if what, err := db.AccountLiveObject(c.Ctx, tx, a.ID); err != nil {
			return err
		} else if what != "" {
			return ErrInternal("Failed to clean up account %s: a %s was created for it during the cleanup; try again", a.Name, what)
		}
		return removeAccountTx(c, tx, cur)
	})
}

// removeAccountTx deletes an account and its users inside tx, ending their sessions; what the
// account owns is released before, by cleanupAccount.
func removeAccountTx(c *Call, tx db.Tx, a *db.Account) error {
	if err := endAccountSessions(c, tx, a.ID); err != nil {
		return err
	}
	if err := db.RemoveUsersOfAccount(c.Ctx, tx, a.ID); err != nil {
		return err
	}
	if err := db.RemoveAccount(c.Ctx, tx, a.ID); err != nil {
		return err
	}
	return c.Event(tx, "ACCOUNT.DELETE", "Deleting account "+a.Name, "Account", a.ID)
}

// endAccountSessions ends the sessions of every user of an account.
func endAccountSessions(c *Call, tx db.Tx, accountID string) error {
	users, _, err := db.ListUsers(c.Ctx, tx, db.UserFilter{Scope: db.Scope{AccountID: accountID}})
	if err != nil {
		return err
	}
	for _, u := range users {
		if err := db.DeleteSessionsOfUser(c.Ctx, tx, u.ID); err != nil {
			return err
		}
	}
	return nil
}

// setAccountStateTx moves an account to state inside tx, ending its users' sessions unless the
// new state is enabled, and records event typ (none when typ is "" or nothing changed).
func setAccountStateTx(c *Call, tx db.Tx, a *db.Account, state, typ, description string) error {
	if a.State == state {
		return nil
	}
	a.State = state
	if err := db.UpdateAccount(c.Ctx, tx, a); err != nil {
		return err
	}
	if state != stateEnabled {
		if err := endAccountSessions(c, tx, a.ID); err != nil {
			return err
		}
	}
	if typ == "" {
		return nil
	}
	return c.Event(tx, typ, description, "Account", a.ID)
}

func enableAccount(c *Call) (any, error) {
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		a, err := c.accountByParams(tx)
		if err != nil {
			return err
		}
		if err := c.checkAccountAccess(a); err != nil {
			return err
		}
		id = a.ID
		return setAccountStateTx(c, tx, a, stateEnabled, "ACCOUNT.ENABLE", "Enabling account "+a.Name)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return c.accountObject(id)
}

// checkAccountDisable refuses disabling or locking an account the caller may not touch, its
// own account, the default admin account, and locking a disabled account (CloudStack only
// locks enabled accounts).
func (c *Call) checkAccountDisable(a *db.Account, lock bool) error {
	if err := c.checkAccountAccess(a); err != nil {
		return err
	}
	verb := "disabled"
	if lock {
		verb = "locked"
	}
	if a.ID == c.Caller.User.AccountID {
		return ErrParam("Account %s is the caller's own account and can not be %s by it; ask another administrator", a.Name, verb)
	}
	if a.IsDefault {
		return ErrParam("The default account %s can not be %s", a.Name, verb)
	}
	if lock && a.State == stateDisabled {
		return ErrParam("Unable to lock account %s: it is disabled, and only an enabled account can be locked; enable it first", a.Name)
	}
	return nil
}

func disableAccountStart(c *Call) (any, error) {
	a, err := c.accountByParams(c.S.DB.Read())
	if err != nil {
		return nil, err
	}
	lock, _ := c.P.Bool("lock")
	if err := c.checkAccountDisable(a, lock); err != nil {
		return nil, err
	}
	return c.StartJob("Account", a.ID)
}

func disableAccountJob(c *Call, j *db.Job) (any, error) {
	lock, _ := c.P.Bool("lock")
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		a, err := db.GetAccount(c.Ctx, tx, j.InstanceID)
		if errors.Is(err, db.ErrNotFound) {
			return ErrParam("Unable to find account by id %s", j.InstanceID)
		}
		if err != nil {
			return err
		}
		if err := c.checkAccountDisable(a, lock); err != nil {
			return err
		}
		if lock {
			return setAccountStateTx(c, tx, a, stateLocked, "ACCOUNT.DISABLE", "Locking account "+a.Name)
		}
		return setAccountStateTx(c, tx, a, stateDisabled, "ACCOUNT.DISABLE", "Disabling account "+a.Name)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return c.accountObject(j.InstanceID)
}

func lockAccount(c *Call) (any, error) {
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		a, err := c.accountByParams(tx)
		if err != nil {
			return err
		}
		if err := c.checkAccountDisable(a, true); err != nil {
			return err
		}
		id = a.ID
		return setAccountStateTx(c, tx, a, stateLocked, "ACCOUNT.DISABLE", "Locking account "+a.Name)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return c.accountObject(id)
}
