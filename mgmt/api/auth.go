package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
)

func registerAuth(s *Server) {
	s.Reg.Add(&Command{Name: "login", Response: loginResponse, Roles: AllRoles, NoAuth: true, Description: "Logs a user into the CloudStack. A successful login attempt will generate a JSESSIONID cookie value that can be passed in subsequent Query command calls until the \"logout\" command has been issued or the session has expired.",
		Params: []Param{
			{Name: "username", Type: TString, Required: true, Description: "Username"},
			{Name: "password", Type: TString, Required: true, Description: "Hashed password (default is MD5). If you wish to use any other hashing algorithm, you would need to write a custom authentication adapter See Docs section."},
			{Name: "domain", Type: TString, Description: "Path of the domain that the user belongs to. Example: domain=/com/cloud/internal. If no domain is passed in, the ROOT (/) domain is assumed."},
			{Name: "domainId", Type: TLong, Description: "The id of the domain that the user belongs to."},
		},
		Handler: login})
	s.Reg.Add(&Command{Name: "logout", Response: logoutResponse, Roles: AllRoles, Description: "Logs out the user", Handler: logout})
}

// domainPathFromLogin turns CloudStack's login domain ("/", "/a/b", "a/b", "ROOT/a") into a path.
func domainPathFromLogin(d string) string {
	d = strings.Trim(strings.TrimSpace(d), "/")
	if d == "" || strings.EqualFold(d, "ROOT") {
		return "ROOT"
	}
	if len(d) > 5 && strings.EqualFold(d[:5], "ROOT/") {
		return "ROOT/" + d[5:]
	}
	return "ROOT/" + d
}

var errLogin = &Error{Code: CodeUnauthorized, CSCode: CSServerAPI, Text: "Failed to authenticate user; please provide valid credentials"}

func login(c *Call) (any, error) {
	if c.Req != nil && c.Req.Method != http.MethodPost {
		return nil, Errorf(405, CSServerAPI, "Please use HTTP POST to authenticate using this API")
	}
	dom, err := db.GetDomainByPath(c.Ctx, c.S.DB.Read(), domainPathFromLogin(c.P.String("domain")))
	if err != nil {
		return nil, errLogin
	}
	u, err := db.GetUserByName(c.Ctx, c.S.DB.Read(), dom.ID, c.P.String("username"))
	if err != nil || !iam.CheckPassword(u.Password, c.P.String("password")) || !userActive(u) {
		return nil, errLogin
	}
	timeout, _ := strconv.Atoi(c.S.configOr(c, "session.timeout", "1800"))
	if timeout <= 0 {
		timeout = 1800
	}
	token, key := randomHex(32), randomHex(16)
	sess := &db.Session{ID: iam.HashToken(token), SessionKey: key, UserID: u.ID, Created: db.Now(),
		Expires: time.Now().Add(time.Duration(timeout) * time.Second).UnixMilli()}
	c.Caller = &iam.Caller{User: u}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if err := db.InsertSession(c.Ctx, tx, sess); err != nil {
			return err
		}
		return c.Event(tx, "USER.LOGIN", "user has logged in from IP Address "+clientIP(c.Req), "User", u.ID)
	})
	if err != nil {
		return nil, err
	}
	if c.W != nil {
		http.SetCookie(c.W, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.SetCookie(c.W, &http.Cookie{Name: "sessionkey", Value: key, Path: "/", SameSite: http.SameSiteLaxMode})
		http.SetCookie(c.W, &http.Cookie{Name: "userid", Value: u.ID, Path: "/"})
	}
	resp := Raw{"timeout": timeout, "sessionkey": key, "username": u.Username, "userid": u.ID,
		"domainid": u.DomainID, "account": u.AccountName, "type": strconv.Itoa(u.AccountType),
		"registered": "false", "issuerfor2fa": "", "is2faenabled": "false", "is2faverified": "false"}
	set(resp, "firstname", u.FirstName)
	set(resp, "lastname", u.LastName)
	set(resp, "timezone", u.Timezone)
	return resp, nil
}

func logout(c *Call) (any, error) {
	if ck, err := c.Req.Cookie(SessionCookie); err == nil {
		err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
			if err := db.DeleteSession(c.Ctx, tx, iam.HashToken(ck.Value)); err != nil {
				return err
			}
			return c.Event(tx, "USER.LOGOUT", "user has logged out", "User", c.Caller.User.ID)
		})
		if err != nil {
			return nil, err
		}
	}
	if c.W != nil {
		http.SetCookie(c.W, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1})
		http.SetCookie(c.W, &http.Cookie{Name: "sessionkey", Value: "", Path: "/", MaxAge: -1})
	}
	return Raw{"description": "success"}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed"))
	}
	return hex.EncodeToString(b)
}

func clientIP(r *http.Request) string {
	if r == nil {
		return ""
	}
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// configOr reads a global setting, falling back to def on error.
func (s *Server) configOr(c *Call, name, def string) string {
	if s.Config == nil {
		return def
	}
	v, err := s.Config.Get(c.Ctx, "global", "", name)
	if err != nil {
		return def
	}
	return v
}
