package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/atollcloud/atoll/mgmt"
)

// Engine names a database engine.
const (
	SQLite  = "sqlite"
	MariaDB = "mariadb"
)

// APIOptions configure the API benchmark on one engine.
type APIOptions struct {
	Engine string      // SQLite or MariaDB
	MySQL  MySQLServer // for MariaDB
	Bin    string      // the atoll binary to run as the server
	Dir    string      // scratch directory
	// InProcess runs the management server inside this process instead of as bin (so a CPU
	// profile of this process covers it); the figures are then not the headline ones.
	InProcess bool
	Domains   int // child domains of ROOT created before the run
	MySQLPid  int // the MariaDB server's pid, for CPU figures (0: unknown)
	// AgentListen is the server's agent endpoint ("": none); ServerLog its output file
	// (default: server-<engine>.log in Dir).
	AgentListen string
	ServerLog   string
	Load        LoadOptions
	Log         io.Writer // progress lines
}

// APIResult is one engine's API figures.
type APIResult struct {
	Engine  string
	Server  string // how the server ran
	Domains int    // domains each answer lists
	KeysVia string // how the admin's key pair was obtained
	Load    LoadResult
}

// RunAPI starts a management server on the engine, creates the domains, and loads it with
// signed listDomains listall=true requests.
func RunAPI(ctx context.Context, o APIOptions) (*APIResult, error) {
	res := &APIResult{Engine: o.Engine}
	t, pid, stop, err := o.start(ctx, res)
	if err != nil {
		return nil, err
	}
	defer stop()
	c := t.client()
	for i := 1; i <= o.Domains; i++ {
		if _, err := c.Do(ctx, "createDomain", map[string]string{"name": fmt.Sprintf("bench-%03d", i)}); err != nil {
			return nil, fmt.Errorf("bench: create domain: %w", err)
		}
	}
	lo := o.Load
	if pid != 0 {
		lo.Pids = append(lo.Pids, pid)
	}
	if o.Engine == MariaDB && o.MySQLPid != 0 {
		lo.Pids = append(lo.Pids, o.MySQLPid)
	}
	lo.Command = "listDomains"
	lo.Params = map[string]string{"listall": "true"}
	first, err := c.Do(ctx, lo.Command, lo.Params)
	if err != nil {
		return nil, fmt.Errorf("bench: first listDomains: %w", err)
	}
	n, _ := first["count"].(float64)
	res.Domains = int(n)
	if res.Domains != o.Domains+1 {
		return nil, fmt.Errorf("bench: listDomains lists %d domains, want %d", res.Domains, o.Domains+1)
	}
	lo.Expect = `"count":` + strconv.Itoa(res.Domains) + ","
	fmt.Fprintf(o.Log, "   %s: %d clients, %s warm-up, %s measured ...\n", res.Server, lo.Clients, lo.Warmup, lo.Duration)
	res.Load = Load(ctx, t, lo)
	return res, ctx.Err()
}

// start runs the management server and returns its target, its pid (0 when in-process) and a
// stop function.
func (o APIOptions) start(ctx context.Context, res *APIResult) (Target, int, func(), error) {
	dir, err := os.MkdirTemp(o.Dir, "api-"+o.Engine+"-")
	if err != nil {
		return Target{}, 0, nil, fmt.Errorf("bench: %w", err)
	}
	var dbURL, dbName string
	keyFile := filepath.Join(dir, "secrets.key")
	var cleanups []func()
	stop := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		os.RemoveAll(dir)
	}
	fail := func(err error) (Target, int, func(), error) { stop(); return Target{}, 0, nil, err }
	switch o.Engine {
	case SQLite:
		dbURL = "sqlite://" + filepath.Join(dir, "atoll.db")
		keyFile = filepath.Join(dir, "keys", "secrets.key")
	case MariaDB:
		if dbURL, dbName, err = o.MySQL.CreateDatabase(ctx, "atoll_bench_"); err != nil {
			return fail(err)
		}
		cleanups = append(cleanups, func() { o.MySQL.DropDatabase(context.Background(), dbName) })
	default:
		return fail(fmt.Errorf("bench: unknown engine %q", o.Engine))
	}
	if o.InProcess {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		s, err := mgmt.Start(ctx, mgmt.Options{DBURL: dbURL, Listen: "127.0.0.1:0", KeyFile: keyFile, Name: "bench", Log: log})
		if err != nil {
			return fail(err)
		}
		cleanups = append(cleanups, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			s.Shutdown(sctx)
		})
		key, secret, err := mgmt.AdminKeys(ctx, s, filepath.Join(dir, "admin.env"))
		if err != nil {
			return fail(err)
		}
		res.Server, res.KeysVia = "in-process mgmt.Start", "mgmt.AdminKeys"
		return Target{Endpoint: "http://" + s.Addr() + "/client/api", Key: key, Secret: secret}, 0, stop, nil
	}
	addr, err := FreeAddr()
	if err != nil {
		return fail(err)
	}
	var args []string
	if o.Engine == SQLite {
		args = []string{"up", "--data-dir", dir, "--listen", addr, "--agent-listen", o.AgentListen, "--log-level", "warn"}
		res.Server = "atoll up"
	} else {
		args = []string{"mgmt", "--db", dbURL, "--key-file", keyFile, "--listen", addr, "--agent-listen", o.AgentListen, "--name", "bench", "--log-level", "warn"}
		res.Server = "atoll mgmt"
	}
	logFile := o.ServerLog
	if logFile == "" {
		logFile = filepath.Join(o.Dir, "server-"+o.Engine+".log")
	}
	p, err := StartProc(ctx, o.Bin, args, addr, logFile)
	if err != nil {
		return fail(err)
	}
	cleanups = append(cleanups, func() {
		if err := p.Stop(); err != nil {
			fmt.Fprintln(o.Log, "   warning:", err)
		}
	})
	t := Target{Endpoint: "http://" + addr + "/client/api"}
	if o.Engine == SQLite {
		t.Key, t.Secret, err = waitKeys(ctx, filepath.Join(dir, "keys", "admin.env"))
		res.KeysVia = "atoll up's keys/admin.env"
	} else {
		t.Key, t.Secret, err = AdminKeysByAPI(ctx, t.Endpoint, "password")
		res.KeysVia = "login + registerUserKeys"
	}
	if err != nil {
		return fail(err)
	}
	return t, p.Pid(), stop, nil
}
