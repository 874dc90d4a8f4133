package api

import (
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/google/uuid"
)

func registerUsers(s *Server) {
	id := func(what string) []Param {
		return []Param{{Name: "id", Type: TUUID, Required: true, Description: what}}
	}
	s.Reg.Add(&Command{Name: "listUsers", Response: userResponse, Roles: AllRoles, List: true, ResponseKey: "user",
		Description: "Lists user accounts",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "List user by ID."},
			Param{Name: "username", Type: TString, Description: "List user by the username"},
			Param{Name: "accounttype", Type: TInt, Description: "List users by account type: 0 user, 1 root admin, 2 domain admin"},
			Param{Name: "state", Type: TString, Description: "List users by state of the user account (enabled, disabled, locked)."},
			Param{Name: "usersource", Type: TString, Description: "List users by their authentication source (native, ldap, saml2, saml2disabled)."},
			Param{Name: "showicon", Type: TBool, Description: "flag to display the resource icon for users"},
		),
		Handler: listUsers})
	s.Reg.Add(&Command{Name: "createUser", Response: userResponse, Roles: adminRoles, ResponseKey: "user",
		Description: "Creates a user for an account that already exists",
		Params: []Param{
			{Name: "account", Type: TString, Required: true, Description: "Creates the user under the specified account. If no account is specified, the username will be used as the account name."},
			{Name: "domainid", Type: TUUID, Description: "Creates the user under the specified domain. Has to be accompanied with the account parameter (default: the caller's domain)"},
			{Name: "email", Type: TString, Required: true, Length: 255, Description: "email"},
			{Name: "firstname", Type: TString, Required: true, Length: 255, Description: "firstname"},
			{Name: "lastname", Type: TString, Required: true, Length: 255, Description: "lastname"},
			{Name: "password", Type: TString, Required: true, Description: "Clear text password"},
			{Name: "timezone", Type: TString, Length: 64, Description: "Specifies a timezone for this command. For more information on the timezone parameter, see Time Zone Format."},
			{Name: "username", Type: TString, Required: true, Length: 255, Description: "Unique username"},
			{Name: "userid", Type: TString, Description: "User UUID, required for adding account from external provisioning system"},
		},
		Handler: createUser})
	s.Reg.Add(&Command{Name: "updateUser", Response: userResponse, Roles: AllRoles, ResponseKey: "user",
		Description: "Updates a user account",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "User uuid"},
			{Name: "username", Type: TString, Length: 255, Description: "Unique username"},
			{Name: "password", Type: TString, Description: "Clear text password (default hashed to SHA256SALT). If you wish to use any other hashing algorithm, you would need to write a custom authentication adapter. Can't be passed when command is executed via integration.api.port"},
			{Name: "currentpassword", Type: TString, Description: "Current password that was being used by the user. You must inform the current password when updating the password."},
			{Name: "firstname", Type: TString, Length: 255, Description: "first name"},
			{Name: "lastname", Type: TString, Length: 255, Description: "last name"},
			{Name: "email", Type: TString, Length: 255, Description: "email"},
			{Name: "timezone", Type: TString, Length: 64, Description: "Specifies a timezone for this command. For more information on the timezone parameter, see Time Zone Format."},
			{Name: "userapikey", Type: TString, Length: 128, Description: "The API key for the user. Must be specified with userSecretKey"},
			{Name: "usersecretkey", Type: TString, Length: 255, Description: "The secret key for the user. Must be specified with userApiKey"},
		},
		Handler: updateUser})
	s.Reg.Add(&Command{Name: "deleteUser", Response: successResponse, Roles: adminRoles, Description: "Deletes a user for an account",
		Params: id("id of the user to be deleted"), Handler: deleteUser})
	s.Reg.Add(&Command{Name: "enableUser", Response: userResponse, Roles: adminRoles, ResponseKey: "user",
		Description: "Enables a user account", Params: id("Enables user by user ID."), Handler: enableUser})
	s.Reg.Add(&Command{Name: "disableUser", Response: userResponse, Roles: adminRoles, Async: true, ResponseKey: "user",
		Description: "Disables a user account", Params: id("Disables user by user ID."),
		Handler: disableUserStart, Job: disableUserJob})
	s.Reg.Add(&Command{Name: "lockUser", Response: userResponse, Roles: adminRoles, ResponseKey: "user",
		Description: "Locks a user account", Params: id("Locks user by user ID."), Handler: lockUser})
	s.Reg.Add(&Command{Name: "registerUserKeys", Response: userKeysResponse, Roles: AllRoles, ResponseKey: "userkeys",
		Description: "This command allows a user to register for the developer API, returning a secret key and an API key. This request is made through the integration API port, so it is a privileged command and must be made on behalf of a user. It is up to the implementer just how the username and password are entered, and then how that translates to an integration API request. Both secret key and API key should be returned to the user",
		Params:      id("User id"), Handler: registerUserKeys})
	s.Reg.Add(&Command{Name: "getUserKeys", Response: userKeysResponse, Roles: AllRoles, ResponseKey: "userkeys",
		Description: "This command allows the user to query the seceret and API keys for the account",
		Params:      id("ID of the user whose keys are required"), Handler: getUserKeys})
}

// userRoleType is the role type of a user's account.
func userRoleType(u *db.User) string {
	if u.RoleType != "" {
		return u.RoleType
	}
	return iam.RoleTypeForAccount(u.AccountType)
}

// userSource renders a user's source as CloudStack's UserResponse does: lower case, with
// UNKNOWN (a password user) shown as "native".
func userSource(s string) string {
	s = strings.ToLower(s)
	if s == "" || s == "unknown" {
		return "native"
	}
	return s
}

// renderUser renders a user; the secret key is never part of it (only getUserKeys and
// registerUserKeys show one).
func (c *Call) renderUser(u *db.User) map[string]any {
	m := map[string]any{"id": u.ID, "username": u.Username, "created": FormatTime(u.Created), "state": u.State,
		"account": u.AccountName, "accountid": u.AccountID, "accounttype": u.AccountType, "domainid": u.DomainID,
		"domain": u.DomainName, "isdefault": u.IsDefault, "usersource": userSource(u.Source),
		"is2faenabled": false, "iscallerchilddomain": iam.InDomainTree(c.Caller.User.DomainPath, u.DomainPath)}
	set(m, "firstname", u.FirstName)
	set(m, "lastname", u.LastName)
	set(m, "email", u.Email)
	set(m, "timezone", u.Timezone)
	set(m, "roleid", u.RoleID)
	set(m, "rolename", u.RoleName)
	set(m, "roletype", u.RoleType)
	set(m, "apikey", u.APIKey)
	return m
}

// userObject reads a user back after a change and renders it as {"user": ...}.
func (c *Call) userObject(id string) (any, error) {
	u, err := db.GetUser(c.Ctx, c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	return Object{Key: "user", Value: c.renderUser(u)}, nil
}

func listUsers(c *Call) (any, error) {
	me := c.Caller.User
	f := db.UserFilter{ID: strings.ToLower(c.P.String("id")), Username: c.P.String("username"), State: c.P.String("state"),
		Keyword: c.P.String("keyword")}
	// CloudStack: a user only ever lists itself.
	if !c.Caller.IsAdmin() {
		if f.ID != "" && f.ID != me.ID {
			return nil, ErrDenied("Calling user is not authorized to see the user requested by id")
		}
		f.ID = me.ID
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	f.Scope = scope
	if t, ok := c.P.Int("accounttype"); ok {
		f.AccountType = &t
	}
	if src := strings.ToLower(c.P.String("usersource")); src != "" {
		f.Sources = []string{src}
		if src == "native" {
			f.Sources = append(f.Sources, "unknown")
		}
	}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListUsers(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, u := range list {
		items = append(items, c.renderUser(u))
	}
	return ListResult{Key: "user", Items: items, Count: total}, nil
}

// userByID loads a live user through q.
func (c *Call) userByID(q db.Querier, id string) (*db.User, error) {
	u, err := db.GetUser(c.Ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find user by id %s", id)
	}
	return u, err
}

// checkUserAccess: the caller must administer the user's account (a plain user: be that user).
func (c *Call) checkUserAccess(u *db.User) error {
	if !c.Caller.CanManageAccount(u.AccountID, u.DomainPath) {
		return ErrDenied("Account %s does not have permission to operate on user %s", c.Caller.User.AccountName, u.ID)
	}
	return c.checkPrivilege(u.AccountID, u.AccountName, u.RoleID, userRoleType(u), u.ID)
}

// userForChange loads a user the caller may act on.
func (c *Call) userForChange(q db.Querier, id string) (*db.User, error) {
	u, err := c.userByID(q, id)
	if err != nil {
		return nil, err
	}
	if err := c.checkUserAccess(u); err != nil {
		return nil, err
	}
	return u, nil
}

func createUser(c *Call) (any, error) {
	username := strings.TrimSpace(c.P.String("username"))
	accountName := c.P.String("account")
	dom, err := c.DomainForScope(c.P.String("domainid"))
	if err != nil {
		return nil, err
	}
	userID, err := c.optionalUUID("userid")
	if err != nil {
		return nil, err
	}
	if userID == "" {
		userID = uuid.NewString()
	}
	hash, err := iam.HashPassword(c.P.String("password"))
	if err != nil {
		return nil, err
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		a, err := db.GetAccountByName(c.Ctx, tx, dom.ID, accountName)
		if errors.Is(err, db.ErrNotFound) {
			return ErrParam("Unable to find account %s in domain %s to create user", accountName, dom.Path)
		}
		if err != nil {
			return err
		}
		if err := c.checkAccountAccess(a); err != nil {
			return err
		}
		if a.State != stateEnabled {
			return ErrParam("Unable to create user in account %s: the account is %s", a.Name, a.State)
		}
		if _, err := db.GetUserByName(c.Ctx, tx, dom.ID, username); err == nil {
			return ErrParam("The user %s already exists in domain %s", username, dom.Path)
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		u := &db.User{ID: userID, AccountID: a.ID, DomainID: dom.ID, Username: username, Password: hash,
			FirstName: strings.TrimSpace(c.P.String("firstname")), LastName: strings.TrimSpace(c.P.String("lastname")),
			Email: strings.TrimSpace(c.P.String("email")), Timezone: c.P.String("timezone"), State: stateEnabled,
			Source: "UNKNOWN", Created: db.Now()}
		if err := db.InsertUser(c.Ctx, tx, u); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("The user %s already exists in domain %s, or the user id %s is taken", username, dom.Path, u.ID)
			}
			return err
		}
		return c.Event(tx, "USER.CREATE", "Creating user "+username+" in account "+a.Name, "User", u.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return c.userObject(userID)
}

func updateUser(c *Call) (any, error) {
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		u, err := c.userForChange(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		if c.P.Has("username") {
			name := strings.TrimSpace(c.P.String("username"))
			if name == "" {
				return ErrParam("Username cannot be empty.")
			}
			if other, err := db.GetUserByName(c.Ctx, tx, u.DomainID, name); err == nil && other.ID != u.ID {
				return ErrParam("The user %s already exists in domain %s", name, u.DomainPath)
			} else if err != nil && !errors.Is(err, db.ErrNotFound) {
				return err
			}
			u.Username = name
		}
		for _, f := range []struct {
			param, label string
			field        *string
		}{{"firstname", "Firstname", &u.FirstName}, {"lastname", "Lastname", &u.LastName}} {
			if c.P.Has(f.param) {
				v := strings.TrimSpace(c.P.String(f.param))
				if v == "" {
					return ErrParam("%s cannot be empty.", f.label)
				}
				*f.field = v
			}
		}
		// As CloudStack: a blank email or timezone leaves the current value.
		if v := strings.TrimSpace(c.P.String("email")); v != "" {
			u.Email = v
		}
		if v := strings.TrimSpace(c.P.String("timezone")); v != "" {
			u.Timezone = v
		}
		if c.P.Has("password") {
			if err := c.checkNewPassword(u); err != nil {
				return err
			}
			if u.Password, err = iam.HashPassword(c.P.String("password")); err != nil {
				return err
			}
		}
		key, secret := c.P.String("userapikey"), c.P.String("usersecretkey")
		if (strings.TrimSpace(key) == "") != (strings.TrimSpace(secret) == "") {
			return ErrParam("Please provide a userApiKey/userSecretKey pair")
		}
		if key != "" {
			if owner, err := db.GetUserByAPIKey(c.Ctx, tx, key); err == nil && owner.ID != u.ID {
				return ErrParam("The API key [%s] already exists in the system. Please provide a unique key.", key)
			} else if err != nil && !errors.Is(err, db.ErrNotFound) {
				return err
			}
			enc, err := c.S.Keys.Encrypt(secret)
			if err != nil {
				return err
			}
			u.APIKey, u.SecretKey = key, enc
		}
		if err := db.UpdateUser(c.Ctx, tx, u); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("The user %s already exists in domain %s, or the API key is taken", u.Username, u.DomainPath)
			}
			return err
		}
		id = u.ID
		return c.Event(tx, "USER.UPDATE", "Updating user "+u.Username, "User", u.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return c.userObject(id)
}

// checkNewPassword is CloudStack's validateUserPasswordAndUpdateIfNeeded: a new password must
// not be blank, and a caller that is not an admin must give its current password.
func (c *Call) checkNewPassword(u *db.User) error {
	if strings.TrimSpace(c.P.String("password")) == "" {
		return ErrParam("Password cannot be empty or blank.")
	}
	if c.Caller.IsAdmin() {
		return nil
	}
	cur := c.P.String("currentpassword")
	if strings.TrimSpace(cur) == "" {
		return ErrParam("To set a new password the current password must be provided.")
	}
	if !iam.CheckPassword(u.Password, cur) {
		return ErrParam("Current password is incorrect.")
	}
	return nil
}

func deleteUser(c *Call) (any, error) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		u, err := c.userByID(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		if err := c.checkUserAccess(u); err != nil {
			return err
		}
		if u.ID == c.Caller.User.ID {
			return ErrParam("The caller is requesting to delete itself. As a security measure, this operation is not allowed. To delete user %s (ID: %s, domain %s), ask another user with permission to execute the operation",
				u.Username, u.ID, u.DomainPath)
		}
		if u.IsDefault {
			return ErrParam("The user is default and can't be (re)moved")
		}
		if err := db.DeleteSessionsOfUser(c.Ctx, tx, u.ID); err != nil {
			return err
		}
		if err := db.RemoveUser(c.Ctx, tx, u.ID); err != nil {
			return err
		}
		return c.Event(tx, "USER.DELETE", "Deleting user "+u.Username, "User", u.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return Success(), nil
}

func enableUser(c *Call) (any, error) {
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		u, err := c.userForChange(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		id = u.ID
		changed := u.State != stateEnabled || u.LoginAttempts != 0
		if changed {
			u.State, u.LoginAttempts = stateEnabled, 0
			if err := db.UpdateUser(c.Ctx, tx, u); err != nil {
				return err
			}
		}
		// As CloudStack: enabling a user enables its account too.
		if u.AccountState != stateEnabled {
			a, err := db.GetAccount(c.Ctx, tx, u.AccountID)
			if err != nil {
				return err
			}
			if err := setAccountStateTx(c, tx, a, stateEnabled, "", ""); err != nil {
				return err
			}
			changed = true
		}
		if !changed {
			return nil
		}
		return c.Event(tx, "USER.ENABLE", "Enabling user "+u.Username, "User", u.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return c.userObject(id)
}

// checkUserDisable refuses disabling or locking oneself (it would end the caller's own access).
func (c *Call) checkUserDisable(u *db.User) error {
	if u.ID == c.Caller.User.ID {
		return ErrParam("User %s can not disable or lock itself; ask another administrator", u.Username)
	}
	return nil
}

func disableUserStart(c *Call) (any, error) {
	u, err := c.userForChange(c.S.DB.Read(), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	if err := c.checkUserDisable(u); err != nil {
		return nil, err
	}
	return c.StartJob("User", u.ID)
}

func disableUserJob(c *Call, j *db.Job) (any, error) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		u, err := c.userForChange(tx, j.InstanceID)
		if err != nil {
			return err
		}
		if err := c.checkUserDisable(u); err != nil {
			return err
		}
		if u.State == stateDisabled {
			return nil
		}
		u.State = stateDisabled
		if err := db.UpdateUser(c.Ctx, tx, u); err != nil {
			return err
		}
		if err := db.DeleteSessionsOfUser(c.Ctx, tx, u.ID); err != nil {
			return err
		}
		return c.Event(tx, "USER.DISABLE", "Disabling user "+u.Username, "User", u.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return c.userObject(j.InstanceID)
}

func lockUser(c *Call) (any, error) {
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		u, err := c.userForChange(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		if err := c.checkUserDisable(u); err != nil {
			return err
		}
		id = u.ID
		switch u.State {
		case stateLocked:
			return nil
		case stateDisabled:
			return ErrParam("Unable to lock user %s: it is disabled, and only an enabled user can be locked; enable it first", u.Username)
		}
		u.State = stateLocked
		if err := db.UpdateUser(c.Ctx, tx, u); err != nil {
			return err
		}
		if err := db.DeleteSessionsOfUser(c.Ctx, tx, u.ID); err != nil {
			return err
		}
		// As CloudStack: when no enabled user is left, the account is locked too.
		_, enabled, err := db.ListUsers(c.Ctx, tx, db.UserFilter{State: stateEnabled, Scope: db.Scope{AccountID: u.AccountID}, Limit: 1})
		if err != nil {
			return err
		}
		if enabled == 0 && u.AccountState == stateEnabled {
			a, err := db.GetAccount(c.Ctx, tx, u.AccountID)
			if err != nil {
				return err
			}
			if err := setAccountStateTx(c, tx, a, stateLocked, "", ""); err != nil {
				return err
			}
		}
		return c.Event(tx, "USER.LOCK", "Locking user "+u.Username, "User", u.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return c.userObject(id)
}

func registerUserKeys(c *Call) (any, error) {
	var key, secret string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		u, err := c.userForChange(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		key, secret = iam.RandomKey(64), iam.RandomKey(64)
		enc, err := c.S.Keys.Encrypt(secret)
		if err != nil {
			return err
		}
		u.APIKey, u.SecretKey = key, enc
		if err := db.UpdateUser(c.Ctx, tx, u); err != nil {
			if db.IsDuplicate(err) {
				return db.ErrConflict // a random key collided: run again with new keys
			}
			return err
		}
		return c.Event(tx, "REGISTER.USER.KEY", "Registering API keys for user "+u.Username, "User", u.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Invalidate()
	return Object{Key: "userkeys", Value: map[string]any{"apikey": key, "secretkey": secret}}, nil
}

func getUserKeys(c *Call) (any, error) {
	u, err := c.userForChange(c.S.DB.Read(), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	keys := map[string]any{}
	set(keys, "apikey", u.APIKey)
	if u.SecretKey != "" {
		secret, err := c.S.Keys.Decrypt(u.SecretKey)
		if err != nil {
			return nil, err
		}
		keys["secretkey"] = secret
	}
	return Object{Key: "userkeys", Value: keys}, nil
}
