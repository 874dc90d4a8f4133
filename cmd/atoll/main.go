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
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/atollcloud/atoll/agent"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/hypervisor/kvm"
	"github.com/atollcloud/atoll/hypervisor/simulator"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/allinone"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/network/bridge"
	"github.com/atollcloud/atoll/network/dnsmasq"
	"github.com/atollcloud/atoll/network/haproxy"
	"github.com/atollcloud/atoll/network/metadata"
	"github.com/atollcloud/atoll/network/router"
	"github.com/atollcloud/atoll/network/secgroup"
	"github.com/atollcloud/atoll/storage/nfs"
	"github.com/vishvananda/netns"
)

const usage = `atoll: an IaaS orchestrator that speaks the Apache CloudStack API

usage:
  atoll up      [--data-dir DIR] [--listen ADDR] [--agent-listen ADDR] [--admin-password PW] [--demo]
                [--hypervisor simulator|kvm] [--storage nfs|local] [--domain-type auto|kvm|qemu]
  atoll mgmt    --db 'mysql://user:pass@tcp(host:port)/atoll' --key-file FILE [--listen ADDR] [--agent-listen :8250]
  atoll agent   --mgmt HOST:PORT[,HOST:PORT] [--token T --ca-fingerprint F] [--state-dir DIR]  (atoll agent --help)
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
	case "agent":
		err = cmdAgent(os.Args[2:])
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

// serve runs a management server until SIGINT or SIGTERM. after runs once it is up (with a
// context that ends at the signal); the stop it returns, if any, runs before the server's
// shutdown.
func serve(o mgmt.Options, after func(context.Context, *mgmt.Server) (stop func(context.Context) error, err error)) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	s, err := mgmt.Start(ctx, o)
	if err != nil {
		return err
	}
	var stop func(context.Context) error
	if after != nil {
		if stop, err = after(ctx, s); err != nil {
			s.Shutdown(context.Background())
			return err
		}
	}
	<-ctx.Done()
	sctx, scancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer scancel()
	var errs []error
	if stop != nil {
		errs = append(errs, stop(sctx))
	}
	return errors.Join(append(errs, s.Shutdown(sctx))...)
}

func cmdUp(args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	dir := fs.String("data-dir", "./var", "directory for the embedded database and keys (and, with --hypervisor kvm, libvirt, NFS exports, the agent's identity and console logs)")
	listen := fs.String("listen", "127.0.0.1:8080", "API and UI address")
	agentListen := fs.String("agent-listen", ":8250", "agent endpoint address (TLS); empty: simulated hosts only")
	pw := fs.String("admin-password", "password", "the admin user's password on first start")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	demo := fs.Bool("demo", false, "build, once, a ready Advanced zone \"demo\" of Simulator hosts")
	hv := fs.String("hypervisor", "simulator", "simulator (the management server alone, or --demo) or kvm: this machine becomes a KVM host of a ready zone \""+allinone.Zone+"\" (root)")
	storage := fs.String("storage", "nfs", "with --hypervisor kvm: nfs (primary and secondary storage served by nfs-ganesha on loopback) or local (primary storage in a local directory)")
	domainType := fs.String("domain-type", "auto", "with --hypervisor kvm: auto (kvm where it works, else qemu emulation), kvm or qemu")
	scripts := fs.String("scripts", "", "with --hypervisor kvm: the directory holding libvirtd.sh and ganesha.sh (default: found next to the binary or the working directory)")
	fs.Parse(args)
	kvmHost := false
	switch strings.ToLower(*hv) {
	case "simulator":
	case "kvm":
		kvmHost = true
		if *demo {
			return errors.New("up: --demo builds Simulator hosts; leave it out with --hypervisor kvm")
		}
		if *agentListen == "" {
			return errors.New("up: --hypervisor kvm needs --agent-listen (the local agent connects to it)")
		}
	default:
		return fmt.Errorf("up: unknown hypervisor %q (simulator or kvm)", *hv)
	}
	log := logger(*level)
	o := mgmt.Options{DBURL: "sqlite://" + filepath.Join(*dir, "atoll.db"), Listen: *listen, AgentListen: *agentListen,
		KeyFile: filepath.Join(*dir, "keys", "secrets.key"), AdminPassword: *pw, Name: "atoll-up", Log: log}
	return serve(o, func(ctx context.Context, s *mgmt.Server) (func(context.Context) error, error) {
		key, secret, err := mgmt.AdminKeys(ctx, s, filepath.Join(*dir, "keys", "admin.env"))
		if err != nil {
			return nil, err
		}
		c := &api.Client{Endpoint: "http://" + s.Addr() + "/client/api", Key: key, Secret: secret}
		var stop func(context.Context) error
		if *demo {
			if err := mgmt.Demo(ctx, c); err != nil {
				return nil, err
			}
			fmt.Printf("Demo zone %q is ready: 4 Simulator hosts in 2 clusters, primary and secondary storage, public IPs.\n", mgmt.DemoZone)
		}
		if kvmHost {
			fmt.Println("Making this machine a KVM host (libvirtd, NFS storage, the agent, the tiny template): this can take a minute.")
			h, err := allinone.StartKVM(ctx, allinone.Options{DataDir: *dir, Client: c, AgentEndpoints: s.Agents.Addrs(),
				CAFingerprint: s.Agents.CAFingerprint(), Storage: strings.ToLower(*storage), DomainType: *domainType, ScriptsDir: *scripts, Log: log})
			if err != nil {
				return nil, err
			}
			stop = h.Stop
			fmt.Print(h.Summary(s.Addr(), key, secret))
		}
		fmt.Printf(`
Atoll is up.
  API endpoint : http://%s/client/api
  Web          : http://%s/
  Login        : admin / %s  (domain ROOT; only on first start: the password is kept in the database)
  API key      : %s
  Secret key   : %s
  Data         : %s (SQLite; keys in %s)
  Agents       : %s (TLS; CA fingerprint %s; a host joins with a token: atoll agent --help)
  Try          : CLOUDSTACK_ENDPOINT=http://%s/client/api CLOUDSTACK_KEY=%s CLOUDSTACK_SECRET=%s atoll api listDomains listall=true
`, s.Addr(), s.Addr(), *pw, key, secret, *dir, filepath.Join(*dir, "keys"), agentEndpoints(s), s.Agents.CAFingerprint(),
			s.Addr(), key, secret)
		return stop, nil
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
	agentListen := fs.String("agent-listen", "", "agent endpoint address (TLS), e.g. :8250 (CloudStack's port); empty: simulated hosts only")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Parse(args)
	if *dbURL == "" {
		return errors.New("mgmt: --db is required")
	}
	o := mgmt.Options{DBURL: *dbURL, Listen: *listen, KeyFile: *keyFile, AdminPassword: *pw, Name: *name, JobLease: *lease,
		AgentListen: *agentListen, Log: logger(*level)}
	return serve(o, func(_ context.Context, s *mgmt.Server) (func(context.Context) error, error) {
		fmt.Printf("atoll mgmt %s listening on http://%s/client/api\n", s.ID, s.Addr())
		if eps := s.Agents.Addrs(); len(eps) > 0 {
			fmt.Printf("agent endpoint %s, CA fingerprint %s\n", strings.Join(eps, ","), s.Agents.CAFingerprint())
		}
		return nil, nil
	})
}

func agentEndpoints(s *mgmt.Server) string {
	if eps := s.Agents.Addrs(); len(eps) > 0 {
		return strings.Join(eps, ",")
	}
	return "none (--agent-listen is empty)"
}

const agentUsage = `atoll agent: the host agent. It holds one TLS connection to a management server (moving to
another when that one dies), registers the host, pings, reports VM power states and runs the
commands the management servers send.

How a host joins a cloud:
  1. Get a one-time host token from the cloud, as an admin (any CloudStack client works; the
     command is Atoll's own):
       atoll api createHostToken [clusterid=<cluster id>] [hosts=N] [validity=<minutes>]
     It answers the token, the CA fingerprint (cafingerprint) and the agent endpoints.
  2. On the host:
       atoll agent --mgmt mgmt1:8250,mgmt2:8250 --token <token> --ca-fingerprint <cafingerprint>
     The agent checks the server against the fingerprint, sends its token and a key request,
     and keeps the signed certificate in --state-dir; later starts need no token.
  3. With clusterid in the token the host is added as it registers. Otherwise add it with
     addHost (Ansible cs_host, cloudmonkey, or atoll api):
       atoll api addHost zoneid=<id> podid=<id> clusterid=<id> hypervisor=KVM url=http://<host address>

--hypervisor simulator --hosts N runs N simulated hosts in this process, each with its own
connection and identity (state in --state-dir/host-<i>, token <token>.<i> for i > 0, which
createHostToken hosts=N issues): for scale tests. Give the token a clusterid so they are added
as they register.

flags:
`

func cmdAgent(args []string) error {
	fs := flag.NewFlagSet("agent", flag.ExitOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), agentUsage); fs.PrintDefaults() }
	servers := fs.String("mgmt", os.Getenv("ATOLL_MGMT"), "management server agent endpoints, host:port[,host:port] (ATOLL_MGMT)")
	lb := fs.String("lb", "", "how to pick a server: static (in order), roundrobin (rotated per host) or shuffle; default: the cloud's indirect.agent.lb.algorithm")
	stateDir := fs.String("state-dir", "/var/lib/atoll/agent", "keeps the host's identity: guid, key and certificates")
	tok := fs.String("token", os.Getenv("ATOLL_HOST_TOKEN"), "one-time host token, to enroll (ATOLL_HOST_TOKEN)")
	fp := fs.String("ca-fingerprint", "", "SHA-256 fingerprint of the cloud's agent CA, given with the token")
	zone := fs.String("zone", "", "zone hint (id or name), narrowing --cluster")
	pod := fs.String("pod", "", "pod hint (id or name), narrowing --cluster")
	cluster := fs.String("cluster", "", "cluster hint (id or name): the host is added to it as it registers (the token's cluster otherwise)")
	hv := fs.String("hypervisor", "kvm", "kvm or simulator")
	hosts := fs.Int("hosts", 1, "with --hypervisor simulator: how many simulated hosts to run")
	name := fs.String("name", "", "host name to report (default: the hostname)")
	address := fs.String("address", "", "address to report, which addHost's url names (default: the local address of the connection)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	socket := fs.String("libvirt-socket", "/run/libvirt/libvirt-sock", "with --hypervisor kvm: libvirtd's unix socket")
	domainType := fs.String("domain-type", "auto", "with --hypervisor kvm: auto (kvm where it works, else qemu emulation), kvm or qemu")
	consoleDir := fs.String("console-log-dir", "/var/log/atoll/console", "with --hypervisor kvm: where each VM's serial console is logged")
	driveDir := fs.String("config-drive-dir", "/var/lib/atoll/configdrive", "with --hypervisor kvm: where config drive ISOs are kept")
	migrationURI := fs.String("migration-uri", "", "with --hypervisor kvm: how other hosts' libvirtds reach this one's for live migration (default qemu+tcp://<hostname>/system)")
	nfsMode := fs.String("nfs-mode", "auto", "with --hypervisor kvm: how NFS storage is reached: auto (a kernel mount where the kernel has an NFS client, else QEMU's own), kernel or userspace")
	vxlanLocal := fs.String("vxlan-local", "", "with --hypervisor kvm: this host's VXLAN tunnel source address (empty: VXLAN guest networks stay on this host)")
	vxlanDev := fs.String("vxlan-dev", "", "with --hypervisor kvm: the device VXLAN tunnels leave by")
	vxlanMcast := fs.Bool("vxlan-multicast", false, "with --hypervisor kvm: VXLAN networks use a multicast group per VNI (CloudStack's 239.x.y.z mapping) instead of head-end replication")
	vlanDev := fs.String("vlan-dev", "", "with --hypervisor kvm: the device VLAN guest networks' sub-interfaces are made on (<dev>.<vlan>)")
	mtu := fs.Int("guest-mtu", 0, "with --hypervisor kvm: MTU of guest network bridges and links (0: the kernel's)")
	publicBridge := fs.String("public-bridge", "cloudbr2", "with --hypervisor kvm: the bridge routers join for public traffic when the zone's public traffic label names none")
	guestNet := fs.Bool("guest-networking", true, "with --hypervisor kvm: build guest networks' routers (namespaces with NAT, firewall, dnsmasq, metadata, haproxy) and security groups on this host; false: only bridges")
	netState := fs.String("network-state-dir", "/var/lib/atoll/network", "with --hypervisor kvm: where router daemons (dnsmasq, haproxy) keep their files")
	fs.Parse(args)
	if *servers == "" {
		return errors.New("agent: --mgmt is required")
	}
	uplinks := bridge.Uplinks{VLAN: *vlanDev, VXLANUnderlay: *vxlanDev, MTU: *mtu, VXLANMulticast: *vxlanMcast}
	if *vxlanLocal != "" {
		a, err := netip.ParseAddr(*vxlanLocal)
		if err != nil {
			return fmt.Errorf("agent: --vxlan-local: %w", err)
		}
		uplinks.VXLANLocal = a
	}
	log := logger(*level)
	var newDriver func(int) hypervisor.Driver
	var hostStorage *agent.HostStorage
	var network agent.NetworkDriver
	switch strings.ToLower(*hv) {
	case "simulator":
		newDriver = func(int) hypervisor.Driver { return simulator.New(hypervisor.HostInfo{}) }
	case "kvm":
		mode, err := nfs.ParseMode(*nfsMode)
		if err != nil {
			return fmt.Errorf("agent: --nfs-mode: %w", err)
		}
		drv, err := kvm.New(kvm.Config{Socket: *socket, DomainType: *domainType, ConsoleLogDir: *consoleDir, ConfigDriveDir: *driveDir,
			MigrationURI: *migrationURI, Logger: log})
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		defer drv.Close()
		bridges, err := bridge.New(netns.None(), log)
		if err != nil {
			return fmt.Errorf("agent: network: %w", err)
		}
		hostStorage = &agent.HostStorage{NFSMode: mode, Log: log}
		defer hostStorage.Close()
		if *guestNet {
			hn, err := hostNetwork(bridges, uplinks, *publicBridge, *netState, log)
			if err != nil {
				return fmt.Errorf("agent: network: %w", err)
			}
			defer hn.Close()
			network = hn
		} else {
			network = &agent.Bridges{Manager: bridges, Uplinks: uplinks}
		}
		newDriver = func(int) hypervisor.Driver { return drv }
	default:
		return fmt.Errorf("agent: unknown hypervisor %q (kvm or simulator)", *hv)
	}
	if *hosts > 1 && strings.ToLower(*hv) != "simulator" {
		return errors.New("agent: --hosts is for --hypervisor simulator")
	}
	cfg := agent.Config{Servers: strings.Split(*servers, ","), LB: *lb, StateDir: *stateDir, Token: *tok, CAFingerprint: *fp,
		Zone: *zone, Pod: *pod, Cluster: *cluster, Name: *name, Address: *address, Log: log, Storage: hostStorage, Network: network}
	if err := agent.ValidLB(cfg.LB); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return agent.RunFleet(ctx, cfg, *hosts, newDriver)
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

// hostNetwork builds a real host's guest networking: bridges, routers (namespaces, dnsmasq,
// the metadata server, haproxy) and security groups, with daemon files under stateDir.
func hostNetwork(bridges *bridge.Manager, uplinks bridge.Uplinks, publicBridge, stateDir string, log *slog.Logger) (*agent.HostNetwork, error) {
	hn := &agent.HostNetwork{Bridges: agent.Bridges{Manager: bridges, Uplinks: uplinks}, PublicBridge: publicBridge, Log: log}
	var err error
	if hn.Routers, err = router.New(log); err != nil {
		return nil, err
	}
	// dnsmasq drops to nobody and re-reads its files: the state directory must be traversable.
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	hn.DHCP = dnsmasq.New(filepath.Join(stateDir, "dnsmasq"), log)
	hn.Metadata = metadata.New(log)
	hn.LB = haproxy.New(filepath.Join(stateDir, "haproxy"), log)
	if hn.Groups, err = secgroup.New(netns.None(), log); err != nil {
		hn.Close()
		return nil, err
	}
	return hn, nil
}
