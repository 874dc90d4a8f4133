package mgmt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/agents"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/jobs"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/securitygroup"
	"github.com/atollcloud/atoll/mgmt/orchestrate/snapshot"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/atollcloud/atoll/mgmt/snapshots"
	"github.com/google/uuid"
)

// Version is the build's version, set by the linker.
var Version = "0.1.0-dev"

// Options configure a management server.
type Options struct {
	DBURL         string        // mysql://... or sqlite path
	Listen        string        // API address
	KeyFile       string        // secret-key encryption key, shared by every server of a cloud
	AdminPassword string        // the admin user's password on first start
	Name          string        // this server's name (default: hostname)
	JobLease      time.Duration // job lease (default 30 s)
	JobWorkers    int
	AgentListen   string // agent endpoint (TLS), e.g. ":8250"; empty: simulated hosts only
	Log           *slog.Logger
}

// Server is a running management server.
type Server struct {
	ID     string
	DB     *db.DB
	API    *api.Server
	Jobs   *jobs.Runner
	Keys   *iam.Keyring
	Agents *agents.Manager
	// Snapshots fires recurring snapshot policies while this server holds the scheduler lease.
	Snapshots *snapshots.Scheduler
	Listener  net.Listener
	name      string
	log       *slog.Logger
	http      *http.Server
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	// Bootstrapped is true when this start created the cloud's first rows.
	Bootstrapped bool
}

// Start opens the database, migrates it, bootstraps IAM and serves the API.
func Start(ctx context.Context, o Options) (*Server, error) {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	if o.AdminPassword == "" {
		o.AdminPassword = "password"
	}
	keys, err := iam.LoadOrCreateKeyring(o.KeyFile)
	if err != nil {
		return nil, err
	}
	d, err := db.Open(ctx, o.DBURL)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Server, error) { d.Close(); return nil, err }
	if _, err := d.Migrate(ctx); err != nil {
		return fail(err)
	}
	created, err := iam.Bootstrap(ctx, d, o.AdminPassword)
	if err != nil {
		return fail(fmt.Errorf("mgmt: bootstrap: %w", err))
	}
	if err := db.SeedCatalogue(ctx, d); err != nil {
		return fail(fmt.Errorf("mgmt: seed the catalogue: %w", err))
	}
	if err := securitygroup.AdoptLegacy(ctx, d, log); err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fail(fmt.Errorf("mgmt: listen on %s: %w", o.Listen, err))
	}
	id := uuid.NewString()
	runner := jobs.NewRunner(d, id, log)
	if o.JobLease > 0 {
		runner.Lease = o.JobLease
	}
	if o.JobWorkers > 0 {
		runner.Workers = o.JobWorkers
	}
	apiSrv := api.New(d, keys, runner, config.NewStore(d), log, id)
	mux := http.NewServeMux()
	mux.Handle("/client/api", apiSrv)
	mux.Handle("/client/api/", apiSrv)
	mux.HandleFunc(api.ExtractPath, apiSrv.ServeExtract)
	mux.HandleFunc(api.UploadPath, apiSrv.ServeUpload)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Atoll %s management server %s\nCloudStack API: /client/api\n", Version, o.Name)
	})
	s := &Server{ID: id, DB: d, API: apiSrv, Jobs: runner, Keys: keys, Listener: ln, log: log.With("component", "mgmt"),
		Bootstrapped: created, name: o.Name}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.heartbeat(runCtx, "Up")
	// The agents manager starts after the heartbeat: it takes over simulated hosts of servers
	// that are not alive, and this one must count as alive.
	mgr := agents.New(agents.Options{DB: d, Keys: keys, Config: apiSrv.Config, ServerID: id, Name: o.Name, Log: log})
	if err := mgr.Start(runCtx); err != nil {
		cancel()
		ln.Close()
		return fail(fmt.Errorf("mgmt: agents: %w", err))
	}
	s.Agents = mgr
	apiSrv.SetAgents(mgr)
	if o.AgentListen != "" {
		if _, err := mgr.Listen(o.AgentListen); err != nil {
			mgr.Stop(ctx)
			cancel()
			ln.Close()
			return fail(err)
		}
	}
	// The scheduler fires policies through the snapshot workflow itself, not through the API.
	deps := &orchestrate.Deps{DB: d, Ledger: planner.New(apiSrv.Config), Agents: mgr, Log: log, Config: apiSrv.Config, Jobs: runner}
	s.Snapshots = snapshots.New(d, id, func(ctx context.Context, p *db.SnapshotPolicy, ran time.Time, next int64) error {
		return snapshot.Fire(ctx, deps, p, ran, next)
	}, log)
	if o.JobLease > 0 {
		s.Snapshots.Lease = o.JobLease
	}
	// The VM stats collector samples the hosts whose agent connections this server holds.
	stats := &vm.StatsCollector{Deps: deps, ServerID: id}
	s.wg.Add(6)
	go func() { defer s.wg.Done(); s.watchUploads(runCtx, deps) }() // uploads.go
	go func() { defer s.wg.Done(); s.Snapshots.Run(runCtx) }()
	go func() { defer s.wg.Done(); stats.Run(runCtx) }()
	go func() { defer s.wg.Done(); runner.Run(runCtx) }()
	go func() { defer s.wg.Done(); s.heartbeats(runCtx) }()
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api server stopped", "err", err)
		}
	}()
	s.log.Info("management server started", "id", id, "listen", ln.Addr().String(), "db", string(d.Dialect))
	return s, nil
}

func (s *Server) heartbeat(ctx context.Context, state string) {
	now := db.Now()
	err := db.UpsertMgmtServer(ctx, s.DB.SQL, &db.MgmtServer{ID: s.ID, Name: s.name, Address: s.Listener.Addr().String(),
		Version: Version, State: state, Started: now, LastSeen: now})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("management server heartbeat", "err", err)
	}
}

func (s *Server) heartbeats(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.heartbeat(ctx, "Up")
			if err := db.DeleteExpiredSessions(ctx, s.DB.SQL); err != nil && ctx.Err() == nil {
				s.log.Warn("purge expired sessions", "err", err)
			}
		}
	}
}

// Shutdown stops serving, hands unfinished jobs back, and closes the database.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	s.cancel()
	s.wg.Wait()
	s.Agents.Stop(ctx)
	s.heartbeat(context.Background(), "Down")
	if cerr := s.DB.Close(); err == nil {
		err = cerr
	}
	return err
}

// Addr is the API's listening address.
func (s *Server) Addr() string { return s.Listener.Addr().String() }
