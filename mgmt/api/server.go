package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/jobs"
)

// Server serves /client/api.
type Server struct {
	DB       *db.DB
	Keys     *iam.Keyring
	Reg      *Registry
	Jobs     *jobs.Runner
	Config   *config.Store
	Log      *slog.Logger
	ServerID string
	// MaxBody bounds a POST body.
	MaxBody int64

	cacheMu sync.Mutex
	cache   map[string]*authEntry // api key -> credentials, briefly
	rules   map[string]*rulesEntry
	// deploySlots bounds the deploy transactions this server runs at once (deployTxSlots).
	deploySlots chan struct{}
}

// deployTxSlots is how many deploy transactions a server runs at once; more wait their turn
// here. Every deploy of a cluster ends by updating its pool's ledger row: past a few at once
// they queue on that row lock inside the database, where waiting costs CPU (lock waits,
// wake-ups, deadlock checks) that the deploys holding the row need. ATOLL_DEPLOY_TX_SLOTS
// overrides it.
var deployTxSlots = envInt("ATOLL_DEPLOY_TX_SLOTS", 4)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// authTTL bounds how long another server's change to a key, user or role can go unseen here.
const authTTL = time.Second

type authEntry struct {
	user    *db.User
	secret  string
	expires time.Time
}

type rulesEntry struct {
	rules   []*db.RolePermission
	expires time.Time
}

// New builds an API server with every command registered.
func New(d *db.DB, keys *iam.Keyring, runner *jobs.Runner, cfg *config.Store, log *slog.Logger, serverID string) *Server {
	s := &Server{DB: d, Keys: keys, Reg: NewRegistry(), Jobs: runner, Config: cfg, Log: log.With("component", "api"),
		ServerID: serverID, MaxBody: 4 << 20, cache: map[string]*authEntry{}, rules: map[string]*rulesEntry{},
		deploySlots: make(chan struct{}, deployTxSlots)}
	registerAll(s)
	if runner != nil {
		for _, c := range s.Reg.All() {
			if c.Async {
				runner.Handle(c.Name, s.jobAdapter(c))
			}
		}
	}
	return s
}

// Invalidate drops cached credentials and role rules after an IAM change.
func (s *Server) Invalidate() {
	s.cacheMu.Lock()
	s.cache = map[string]*authEntry{}
	s.rules = map[string]*rulesEntry{}
	s.cacheMu.Unlock()
}

// Call is one command invocation.
type Call struct {
	Ctx    context.Context
	S      *Server
	Cmd    *Command
	P      Params
	Caller *iam.Caller
	Req    *http.Request
	W      http.ResponseWriter
	// Hint is what the API call that enqueued this job loaded already (set only in a job
	// run by jobs.RunLocal on the enqueuing server; a job must work without it).
	Hint any
}

// ServeHTTP answers /client/api.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cmdName := ""
	defer func() {
		if p := recover(); p != nil {
			s.Log.Error("panic serving API request", "command", cmdName, "panic", p, "stack", string(debug.Stack()))
			writeError(w, cmdName, ErrInternalGeneric())
		}
	}()
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeError(w, "", Errorf(405, CSServerAPI, "method %s is not allowed", r.Method))
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, s.MaxBody)
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, "", Errorf(CodeMalformed, CSServerAPI, "malformed request: %v", err))
		return
	}
	// Parameter names are read case-insensitively here (normalizeKey), which CloudStack does
	// not do: ApiServer.handleRequest copies the servlet's parameter map with each name as sent
	// (paramMap.put(key, value[0])) and ParamProcessWorker reads each parameter by its exact,
	// lower-case name, so of id=A&ID=B CloudStack uses A and ignores ID, while its signature
	// check (verifyRequest) takes apiKey, signature and expires in any case. So CloudStack has
	// no one rule for a name sent twice in different case, and ranging over r.Form (a map) would
	// pick a spelling at random: such a request is refused (431, naming the parameter), the same
	// way every time, before it is authenticated or run. Clients send each parameter once, and
	// answering with one spelling while a proxy, WAF or log reads the other is how parameter
	// pollution works. A name repeated exactly (id=A&id=B) takes its first value, as
	// CloudStack's value[0] does (r.Form lists a POST body's values before the query string's; a
	// servlet lists the query string's first), and raw, which the signature covers, keeps that
	// same first value.
	p := make(Params, len(r.Form))
	raw := make(map[string]string, len(r.Form))
	spelled := make(map[string]bool, len(r.Form))
	twice := "" // the first, in name order, of the names sent in more than one spelling
	for k, vs := range r.Form {
		if len(vs) == 0 {
			continue
		}
		raw[k] = vs[0]
		n := normalizeKey(k)
		if spelled[n] && (twice == "" || n < twice) {
			twice = n
		}
		spelled[n] = true
		p[n] = vs[0]
	}
	if twice != "" {
		name := p["command"]
		if twice == "command" {
			name = ""
		}
		writeError(w, name, Errorf(CodeParam, CSServerAPI, "Parameter %s was sent more than once, in different case; send each parameter once", twice))
		return
	}
	cmdName = p["command"]
	if cmdName == "" {
		writeError(w, "", Errorf(CodeUnsupported, CSServerAPI, "missing command parameter"))
		return
	}
	if f := p["response"]; f != "" && !strings.EqualFold(f, "json") {
		writeError(w, cmdName, ErrParam("response format %q is not supported; use response=json", f))
		return
	}
	cmd := s.Reg.Get(cmdName)
	c := &Call{Ctx: r.Context(), S: s, Cmd: cmd, P: p, Req: r, W: w}
	if cmd == nil || !cmd.NoAuth {
		caller, aerr := s.authenticate(r.Context(), r, p, raw)
		if aerr != nil {
			writeError(w, cmdName, aerr)
			return
		}
		c.Caller = caller
		if cmd == nil || !s.permitted(r.Context(), caller, cmd) {
			writeError(w, cmdName, errUnknownCommand(cmdName))
			return
		}
	}
	res, err := s.run(c)
	if err != nil {
		writeError(w, cmd.Name, s.asAPIError(cmd.Name, err))
		return
	}
	writeResult(w, cmd.Name, res)
}

func (s *Server) run(c *Call) (any, error) {
	if err := c.Cmd.validate(c.P); err != nil {
		return nil, err
	}
	return c.Cmd.Handler(c)
}

func (s *Server) asAPIError(cmd string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	// Anything else is unexpected: its text may carry SQL, table names or driver messages, so
	// it goes to the log and the caller gets CloudStack's generic words (BaseCmd.USER_ERROR_MESSAGE).
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		s.Log.Warn("command cancelled", "command", cmd, "err", err)
	} else {
		s.Log.Error("command failed", "command", cmd, "err", err)
	}
	return ErrInternalGeneric()
}

// permitted checks the command's authorised role types and the caller's role rules.
func (s *Server) permitted(ctx context.Context, caller *iam.Caller, cmd *Command) bool {
	if !cmd.Roles.has(caller.RoleType()) {
		return false
	}
	rules, err := s.roleRules(ctx, caller.User.RoleID)
	if err != nil {
		s.Log.Error("read role rules", "err", err)
		return false
	}
	return iam.Allowed(rules, cmd.Name)
}

func (s *Server) roleRules(ctx context.Context, roleID string) ([]*db.RolePermission, error) {
	now := time.Now()
	s.cacheMu.Lock()
	e := s.rules[roleID]
	s.cacheMu.Unlock()
	if e != nil && now.Before(e.expires) {
		return e.rules, nil
	}
	rules, err := db.ListRolePermissions(ctx, s.DB.Read(), roleID, "")
	if err != nil {
		return nil, err
	}
	s.cacheMu.Lock()
	s.rules[roleID] = &rulesEntry{rules: rules, expires: now.Add(authTTL)}
	s.cacheMu.Unlock()
	return rules, nil
}

// authenticate accepts a signed request (apiKey + signature) or a session (JSESSIONID cookie
// plus the sessionkey parameter or cookie).
func (s *Server) authenticate(ctx context.Context, r *http.Request, p Params, raw map[string]string) (*iam.Caller, *Error) {
	if key := p["apikey"]; key != "" {
		return s.authSigned(ctx, p, raw)
	}
	return s.authSession(ctx, r, p)
}

func (s *Server) authSigned(ctx context.Context, p Params, raw map[string]string) (*iam.Caller, *Error) {
	sig := p["signature"]
	if sig == "" {
		return nil, errUnauthorized
	}
	if v, ok := p["signatureversion"]; ok && v == "3" {
		exp, ok := p["expires"]
		if !ok {
			return nil, errUnauthorized
		}
		t, err := time.Parse("2006-01-02T15:04:05-0700", exp)
		if err != nil {
			if t, err = time.Parse("2006-01-02T15:04:05Z07:00", exp); err != nil {
				return nil, errUnauthorized
			}
		}
		if time.Now().After(t) {
			return nil, &Error{Code: CodeUnauthorized, CSCode: CSServerAPI, Text: "unable to verify user credentials and/or request signature: the request has expired"}
		}
	}
	user, secret, err := s.credentials(ctx, p["apikey"])
	if err != nil {
		if !errors.Is(err, db.ErrNotFound) {
			s.Log.Error("look up api key", "err", err)
		}
		return nil, errUnauthorized
	}
	if !iam.VerifySignature(raw, secret, sig) {
		return nil, errUnauthorized
	}
	if !userActive(user) {
		return nil, &Error{Code: CodeUnauthorized, CSCode: CSServerAPI, Text: "user or account is disabled or locked"}
	}
	return &iam.Caller{User: user}, nil
}

func userActive(u *db.User) bool {
	return u.State == "enabled" && u.AccountState == "enabled"
}

func (s *Server) credentials(ctx context.Context, key string) (*db.User, string, error) {
	now := time.Now()
	s.cacheMu.Lock()
	e := s.cache[key]
	s.cacheMu.Unlock()
	if e != nil && now.Before(e.expires) {
		return e.user, e.secret, nil
	}
	u, err := db.GetUserByAPIKey(ctx, s.DB.Read(), key)
	if err != nil {
		return nil, "", err
	}
	secret, err := s.Keys.Decrypt(u.SecretKey)
	if err != nil {
		return nil, "", fmt.Errorf("api: secret key of user %s: %w", u.ID, err)
	}
	s.cacheMu.Lock()
	if len(s.cache) > 100000 {
		s.cache = map[string]*authEntry{}
	}
	s.cache[key] = &authEntry{user: u, secret: secret, expires: now.Add(authTTL)}
	s.cacheMu.Unlock()
	return u, secret, nil
}

// SessionCookie is the cookie holding the session id, as CloudStack (a Java servlet) names it.
const SessionCookie = "JSESSIONID"

func (s *Server) authSession(ctx context.Context, r *http.Request, p Params) (*iam.Caller, *Error) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return nil, errUnauthorized
	}
	sess, err := db.GetSession(ctx, s.DB.Read(), iam.HashToken(ck.Value))
	if err != nil {
		return nil, errUnauthorized
	}
	key := p["sessionkey"]
	if key == "" {
		if c, err := r.Cookie("sessionkey"); err == nil {
			key = c.Value
		}
	}
	if key == "" || key != sess.SessionKey {
		return nil, errUnauthorized
	}
	u, err := db.GetUser(ctx, s.DB.Read(), sess.UserID)
	if err != nil || !userActive(u) {
		return nil, errUnauthorized
	}
	return &iam.Caller{User: u}, nil
}
