package allinone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/atollcloud/atoll/agent"
	"github.com/atollcloud/atoll/hypervisor/kvm"
	"github.com/atollcloud/atoll/hypervisor/tinyimage"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/network/bridge"
	"github.com/atollcloud/atoll/storage/nfs"
	"github.com/vishvananda/netns"
)

// Zone is the name of the zone the local KVM host joins.
const Zone = "kvm"

// Storage modes.
const (
	StorageNFS   = "nfs"   // primary and secondary storage exported by nfs-ganesha on loopback
	StorageLocal = "local" // primary storage in a local directory (a Filesystem pool); secondary on NFS
)

// Options configure StartKVM.
type Options struct {
	DataDir string // the all-in-one's data directory; libvirt/, nfs/, storage/, agent/, console/ go under it
	// Client is the admin's API client of the running management server.
	Client *api.Client
	// AgentEndpoints are the management server's agent endpoints (host:port; an empty or
	// unspecified host is reached on 127.0.0.1), and CAFingerprint its agent CA's.
	AgentEndpoints []string
	CAFingerprint  string
	Storage        string // StorageNFS (default) or StorageLocal
	DomainType     string // auto (default), kvm or qemu
	// ScriptsDir holds libvirtd.sh, ganesha.sh and tiny-template.sh ("": FindScripts looks).
	ScriptsDir string
	// LibvirtSocket is the system libvirtd's socket (SystemLibvirtSocket): used when it answers.
	LibvirtSocket string
	// HostName is the host's name in the cloud (default: the machine's hostname).
	HostName string
	// Wait bounds the template download (default 10 min).
	Wait time.Duration
	Log  *slog.Logger
}

// Host is the local machine running as a KVM host of Zone.
type Host struct {
	ZoneID, ClusterID string
	HostName          string
	TemplateID        string
	OfferingID        string // "Small Instance", for the deploy hint
	ConsoleDir        string
	LibvirtSocket     string
	PrivateLibvirt    bool
	Storage           string
	PrimaryURL        string
	SecondaryURL      string

	o       Options
	scripts string
	lv      *libvirt
	nfs     *ganesha
	img     *imageServer
	drv     *kvm.Driver
	hs      *agent.HostStorage
	net     *trackedBridges
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

// StartKVM makes this machine a KVM host of Zone, building what is missing, and returns once
// the host is Up and the tiny template ready. On failure it stops what it started.
func StartKVM(ctx context.Context, o Options) (h *Host, err error) {
	if o.Client == nil {
		return nil, errors.New("allinone: no API client")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("allinone: a KVM host needs root (libvirtd, nfs-ganesha, bridges): run atoll up --hypervisor kvm as root")
	}
	if o.Storage == "" {
		o.Storage = StorageNFS
	}
	if o.Storage != StorageNFS && o.Storage != StorageLocal {
		return nil, fmt.Errorf("allinone: storage %q: want nfs or local", o.Storage)
	}
	if o.DomainType == "" {
		o.DomainType = "auto"
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.HostName == "" {
		o.HostName, _ = os.Hostname()
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("allinone: data dir: %w", err)
	}
	o.DataDir = dir
	h = &Host{o: o, HostName: o.HostName, Storage: o.Storage, ConsoleDir: filepath.Join(dir, "console"), done: make(chan struct{})}
	defer func() {
		if err != nil {
			h.Stop(context.WithoutCancel(ctx))
			h = nil
		}
	}()
	log := o.Log.With("component", "allinone")
	sdir, err := FindScripts(o.ScriptsDir)
	if err != nil {
		return nil, fmt.Errorf("allinone: %w", err)
	}
	h.scripts = sdir

	began := time.Now()
	if h.lv, err = startLibvirt(ctx, sdir, o.LibvirtSocket, filepath.Join(dir, "libvirt")); err != nil {
		return nil, fmt.Errorf("allinone: %w", err)
	}
	h.LibvirtSocket, h.PrivateLibvirt = h.lv.socket, h.lv.private
	log.Info("libvirtd answers", "socket", h.LibvirtSocket, "private", h.PrivateLibvirt, "took", time.Since(began).Round(time.Millisecond))

	began = time.Now()
	nfsDir := filepath.Join(dir, "nfs")
	exportDirs := []string{filepath.Join(nfsDir, "secondary")}
	if o.Storage == StorageNFS {
		exportDirs = append(exportDirs, filepath.Join(nfsDir, "primary"))
	}
	if h.nfs, err = startGanesha(ctx, sdir, filepath.Join(nfsDir, "ganesha"), exportDirs...); err != nil {
		return nil, fmt.Errorf("allinone: %w", err)
	}
	h.SecondaryURL = "nfs://127.0.0.1" + h.nfs.exports[0]
	if o.Storage == StorageNFS {
		h.PrimaryURL = "nfs://127.0.0.1" + h.nfs.exports[1]
	} else {
		local := filepath.Join(dir, "storage", "primary")
		if err := os.MkdirAll(local, 0o755); err != nil {
			return nil, fmt.Errorf("allinone: %w", err)
		}
		h.PrimaryURL = "file://" + local
	}
	log.Info("storage served", "primary", h.PrimaryURL, "secondary", h.SecondaryURL, "took", time.Since(began).Round(time.Millisecond))

	if err := h.buildZone(ctx); err != nil {
		return nil, err
	}
	if err := h.startAgent(ctx); err != nil {
		return nil, err
	}
	if err := h.waitHostUp(ctx, 2*time.Minute); err != nil {
		return nil, err
	}

	began = time.Now()
	source := func() (string, string, error) {
		img, err := tinyimage.Path(filepath.Dir(sdir))
		if err != nil {
			return "", "", fmt.Errorf("the tiny template: %w", err)
		}
		sum, err := fileChecksum(img)
		if err != nil {
			return "", "", err
		}
		if h.img, err = serveImage(img, "tiny.qcow2"); err != nil {
			return "", "", err
		}
		return h.img.url, sum, nil
	}
	h.TemplateID, err = ensureTemplate(ctx, o.Client, h.ZoneID, source, o.Wait)
	h.img.close() // the copy is in the image store now
	h.img = nil
	if err != nil {
		return nil, fmt.Errorf("allinone: %w", err)
	}
	log.Info("template ready", "template", TemplateName, "id", h.TemplateID, "took", time.Since(began).Round(time.Millisecond))
	if r, err := o.Client.Do(ctx, "listServiceOfferings", map[string]string{"name": "Small Instance"}); err == nil {
		h.OfferingID, _ = api.First(r, "serviceoffering")["id"].(string)
	}
	return h, nil
}

// buildZone sets what a loopback install needs and builds Zone once.
func (h *Host) buildZone(ctx context.Context) error {
	c := h.o.Client
	if _, err := c.Do(ctx, "updateConfiguration", map[string]string{"name": "atoll.image.url.allow.loopback", "value": "true"}); err != nil {
		return fmt.Errorf("allinone: allow loopback template URLs: %w", err)
	}
	err := mgmt.DemoWith(ctx, c, mgmt.DemoOptions{Zone: Zone, Clusters: 1, Hypervisor: "KVM", PrimaryURL: h.PrimaryURL, SecondaryURL: h.SecondaryURL})
	if err != nil {
		return fmt.Errorf("allinone: build zone %s: %w", Zone, err)
	}
	z, err := c.Do(ctx, "listZones", map[string]string{"name": Zone})
	if err != nil {
		return fmt.Errorf("allinone: %w", err)
	}
	h.ZoneID, _ = api.First(z, "zone")["id"].(string)
	cl, err := c.Do(ctx, "listClusters", map[string]string{"zoneid": h.ZoneID, "name": "cluster-1"})
	if err != nil {
		return fmt.Errorf("allinone: %w", err)
	}
	h.ClusterID, _ = api.First(cl, "cluster")["id"].(string)
	if h.ZoneID == "" || h.ClusterID == "" {
		return fmt.Errorf("allinone: zone %s or its cluster-1 not found after building it", Zone)
	}
	// A zone built by an earlier start keeps its pool: say so when it is not the one asked for.
	pools, err := c.Do(ctx, "listStoragePools", map[string]string{"zoneid": h.ZoneID})
	if err == nil {
		if p := api.First(pools, "storagepool"); p != nil {
			want := map[string]string{StorageNFS: "NetworkFilesystem", StorageLocal: "Filesystem"}[h.Storage]
			if p["type"] != want {
				h.o.Log.Warn("zone built earlier with other primary storage: keeping it", "zone", Zone, "pool", p["name"], "type", p["type"], "asked", h.Storage)
			}
		}
	}
	return nil
}

// startAgent runs the host agent in this process: enrolled with a host token for the zone's
// cluster on first start, with the identity kept under DataDir/agent for later ones.
func (h *Host) startAgent(ctx context.Context) error {
	log := h.o.Log
	mode, err := nfs.ParseMode("auto")
	if err != nil {
		return fmt.Errorf("allinone: %w", err)
	}
	if h.drv, err = kvm.New(kvm.Config{Socket: h.LibvirtSocket, DomainType: h.o.DomainType, ConsoleLogDir: h.ConsoleDir,
		ConfigDriveDir: filepath.Join(h.o.DataDir, "configdrive"), Logger: log}); err != nil {
		return fmt.Errorf("allinone: %w", err)
	}
	bridges, err := bridge.New(netns.None(), log)
	if err != nil {
		return fmt.Errorf("allinone: network: %w", err)
	}
	h.net = &trackedBridges{Bridges: agent.Bridges{Manager: bridges}}
	h.hs = &agent.HostStorage{NFSMode: mode, MountRoot: filepath.Join(h.o.DataDir, "mnt"), Log: log}
	servers := make([]string, 0, len(h.o.AgentEndpoints))
	for _, ep := range h.o.AgentEndpoints {
		servers = append(servers, loopbackEndpoint(ep))
	}
	if len(servers) == 0 {
		return errors.New("allinone: the management server has no agent endpoint (--agent-listen is empty)")
	}
	cfg := agent.Config{Servers: servers, StateDir: filepath.Join(h.o.DataDir, "agent"), CAFingerprint: h.o.CAFingerprint,
		Name: h.HostName, Log: log, Storage: h.hs, Network: h.net, Driver: h.drv}
	a, err := agent.New(cfg)
	if err != nil {
		return fmt.Errorf("allinone: %w", err)
	}
	if !a.Enrolled() {
		r, err := h.o.Client.Do(ctx, "createHostToken", map[string]string{"clusterid": h.ClusterID})
		if err != nil {
			return fmt.Errorf("allinone: host token: %w", err)
		}
		tok := api.First(r, "hosttoken")
		cfg.Token, _ = tok["token"].(string)
		if fp, _ := tok["cafingerprint"].(string); fp != "" {
			cfg.CAFingerprint = fp
		}
		if a, err = agent.New(cfg); err != nil {
			return fmt.Errorf("allinone: %w", err)
		}
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancel = cancel
	go func() {
		defer close(h.done)
		a.Run(actx)
	}()
	return nil
}

// loopbackEndpoint turns a listener address (":8250", "[::]:8250") into one to dial.
func loopbackEndpoint(addr string) string {
	host, port, ok := strings.Cut(addr, "]:")
	if ok {
		host = strings.TrimPrefix(host, "[")
	} else if i := strings.LastIndex(addr, ":"); i >= 0 {
		host, port = addr[:i], addr[i+1:]
	} else {
		return addr
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// waitHostUp waits until the host is Up in the zone and its primary pool has a size.
func (h *Host) waitHostUp(ctx context.Context, max time.Duration) error {
	deadline := time.Now().Add(max)
	last := ""
	for {
		r, err := h.o.Client.Do(ctx, "listHosts", map[string]string{"zoneid": h.ZoneID, "type": "Routing", "name": h.HostName})
		last = fmt.Sprint(err)
		if err == nil {
			st := api.First(r, "host")["state"]
			last = fmt.Sprintf("host state %v", st)
			if st == "Up" {
				p, err := h.o.Client.Do(ctx, "listStoragePools", map[string]string{"zoneid": h.ZoneID})
				last = fmt.Sprint(err)
				if err == nil {
					size, _ := api.First(p, "storagepool")["disksizetotal"].(float64)
					if size > 0 {
						return nil
					}
					last = "primary storage not measured yet"
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("allinone: host %s not Up with its storage within %s (last: %s)", h.HostName, max, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Stop ends what StartKVM started, in reverse: the agent, the template server, a private
// libvirtd (with its guests), ganesha, and the guest bridges no guest uses any more. The management server is the caller's.
func (h *Host) Stop(ctx context.Context) error {
	if h == nil {
		return nil
	}
	var errs []error
	h.once.Do(func() {
		if h.cancel != nil {
			h.cancel()
			select {
			case <-h.done:
			case <-time.After(15 * time.Second):
				errs = append(errs, errors.New("allinone: the agent did not stop within 15 s"))
			}
		}
		h.img.close()
		if h.hs != nil {
			errs = append(errs, h.hs.Close())
		}
		if h.drv != nil {
			errs = append(errs, h.drv.Close())
		}
		// Guests first (a private libvirtd's stop ends them), then the exports they used.
		if h.lv != nil {
			errs = append(errs, h.lv.stop(ctx, h.scripts))
		}
		if h.nfs != nil {
			errs = append(errs, h.nfs.stop(ctx, h.scripts))
		}
		if h.net != nil {
			errs = append(errs, h.net.removeIdle(ctx, h.o.Log))
		}
	})
	return errors.Join(errs...)
}
