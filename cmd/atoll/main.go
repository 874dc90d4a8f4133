// Command atoll is Atoll's one binary: management server, all-in-one, database tools and a
// signed API client. This file only wires flags to packages.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
)

const usage = `atoll: an IaaS orchestrator that speaks the Apache CloudStack API

usage:
  atoll up      [--data-dir DIR] [--listen ADDR] [--agent-listen ADDR] [--admin-password PW]
  atoll mgmt    --db 'mysql://user:pass@tcp(host:port)/atoll' --key-file FILE [--listen ADDR]
  atoll db      migrate --db URL
  atoll api     [--endpoint URL --key K --secret S] COMMAND [key=value ...]
  atoll version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = cmdUp(os.Args[2:])
	case "mgmt":
		err = cmdMgmt(os.Args[2:])
	case "db":
		err = cmdDB(os.Args[2:])
	case "api":
		err = cmdAPI(os.Args[2:])
	case "version", "--version":
		fmt.Println("atoll", mgmt.Version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "atoll: unknown subcommand %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "atoll:", err)
		os.Exit(1)
	}
}

func logger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// serve runs a management server until SIGINT or SIGTERM.
func serve(o mgmt.Options, after func(*mgmt.Server) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := mgmt.Start(ctx, o)
	if err != nil {
		return err
	}
	if after != nil {
		if err := after(s); err != nil {
			s.Shutdown(context.Background())
			return err
		}
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}

func cmdUp(args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	dir := fs.String("data-dir", "./var", "directory for the embedded database and keys")
	listen := fs.String("listen", "127.0.0.1:8080", "API and UI address")
	agentListen := fs.String("agent-listen", ":8250", "agent endpoint address (agents arrive with the infrastructure work)")
	pw := fs.String("admin-password", "password", "the admin user's password on first start")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Parse(args)
	_ = agentListen
	o := mgmt.Options{DBURL: "sqlite://" + filepath.Join(*dir, "atoll.db"), Listen: *listen,
		KeyFile: filepath.Join(*dir, "keys", "secrets.key"), AdminPassword: *pw, Name: "atoll-up", Log: logger(*level)}
	return serve(o, func(s *mgmt.Server) error {
		key, secret, err := mgmt.AdminKeys(context.Background(), s, filepath.Join(*dir, "keys", "admin.env"))
		if err != nil {
			return err
		}
		fmt.Printf(`
Atoll is up.
  API endpoint : http://%s/client/api
  Web          : http://%s/
  Login        : admin / %s  (domain ROOT; only on first start: the password is kept in the database)
  API key      : %s
  Secret key   : %s
  Data         : %s (SQLite; keys in %s)
  Try          : CLOUDSTACK_ENDPOINT=http://%s/client/api CLOUDSTACK_KEY=%s CLOUDSTACK_SECRET=%s atoll api listDomains listall=true
`, s.Addr(), s.Addr(), *pw, key, secret, *dir, filepath.Join(*dir, "keys"), s.Addr(), key, secret)
		return nil
	})
}

func cmdMgmt(args []string) error {
	fs := flag.NewFlagSet("mgmt", flag.ExitOnError)
	dbURL := fs.String("db", os.Getenv("ATOLL_DB"), "database URL: mysql://user:pass@tcp(host:port)/atoll or sqlite:///path.db")
	listen := fs.String("listen", "127.0.0.1:8080", "API address")
	keyFile := fs.String("key-file", "/etc/atoll/secrets.key", "encryption key for secrets at rest; the same file on every management server")
	pw := fs.String("admin-password", "password", "the admin user's password if this start creates the cloud")
	name := fs.String("name", "", "this server's name (default: hostname)")
	lease := fs.Duration("job-lease", 30*time.Second, "how long a job claim lasts without renewal; a dead server's jobs are taken over after it")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Parse(args)
	if *dbURL == "" {
		return errors.New("mgmt: --db is required")
	}
	o := mgmt.Options{DBURL: *dbURL, Listen: *listen, KeyFile: *keyFile, AdminPassword: *pw, Name: *name, JobLease: *lease, Log: logger(*level)}
	return serve(o, func(s *mgmt.Server) error {
		fmt.Printf("atoll mgmt %s listening on http://%s/client/api\n", s.ID, s.Addr())
		return nil
	})
}

func cmdDB(args []string) error {
	if len(args) < 1 || args[0] != "migrate" {
		return errors.New("usage: atoll db migrate --db URL")
	}
	fs := flag.NewFlagSet("db migrate", flag.ExitOnError)
	dbURL := fs.String("db", os.Getenv("ATOLL_DB"), "database URL")
	fs.Parse(args[1:])
	ctx := context.Background()
	d, err := db.Open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := d.Migrate(ctx)
	if err != nil {
		return err
	}
	v, err := d.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("applied %d migration(s); schema version %d\n", n, v)
	return nil
}

func cmdAPI(args []string) error {
	fs := flag.NewFlagSet("api", flag.ExitOnError)
	endpoint := fs.String("endpoint", os.Getenv("CLOUDSTACK_ENDPOINT"), "API endpoint (CLOUDSTACK_ENDPOINT)")
	key := fs.String("key", os.Getenv("CLOUDSTACK_KEY"), "API key (CLOUDSTACK_KEY)")
	secret := fs.String("secret", os.Getenv("CLOUDSTACK_SECRET"), "secret key (CLOUDSTACK_SECRET)")
	post := fs.Bool("post", false, "send parameters as a POST form")
	wait := fs.Bool("wait", true, "wait for an async command's job and print its result")
	fs.Parse(args)
	if fs.NArg() < 1 {
		return errors.New("usage: atoll api COMMAND [key=value ...]")
	}
	if *endpoint == "" {
		return errors.New("api: no endpoint (--endpoint or CLOUDSTACK_ENDPOINT)")
	}
	params := map[string]string{}
	for _, kv := range fs.Args()[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("api: argument %q is not key=value", kv)
		}
		params[k] = v
	}
	c := &api.Client{Endpoint: *endpoint, Key: *key, Secret: *secret, Post: *post}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := c.Do(ctx, fs.Arg(0), params)
	if err != nil {
		return err
	}
	if jobID, ok := res["jobid"].(string); ok && *wait {
		if res, err = c.Wait(ctx, jobID); err != nil {
			return err
		}
	}
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(out))
	return nil
}
