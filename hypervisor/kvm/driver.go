package kvm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/atollcloud/atoll/hypervisor"
)

// Config configures the driver. Zero fields take the defaults noted.
type Config struct {
	Socket string // libvirtd's unix socket (/run/libvirt/libvirt-sock)
	URI    string // the URI opened on it (qemu:///system)
	// DomainType is "auto" (the default), "kvm" or "qemu". Auto picks kvm only when libvirt's
	// capabilities offer it, /dev/kvm opens read-write and the CPU flags show vmx or svm (a
	// nested "PVM" /dev/kvm passes the first two but cannot run guests); else qemu (TCG).
	DomainType string
	// Machine is QEMU's machine type ("pc": i440fx, as CloudStack's KVM agent uses; its IDE
	// bus takes the ISO and config drive CD-ROMs without an AHCI driver in the guest).
	Machine        string
	DiskCache      string        // cache mode of every disk ("none", CloudStack's default)
	ConnectTimeout time.Duration // dialing and opening libvirt (5 s); also the hung-call probe
	CallTimeout    time.Duration // bound of one libvirt call, migrations excepted (60 s)
	StopTimeout    time.Duration // graceful ACPI shutdown before a destroy (30 s)
	ConfigDriveDir string        // config drive ISOs, <name>.iso (/var/lib/atoll/configdrive)
	ConsoleLogDir  string        // serial console logs, <name>.log (/var/log/atoll/console)
	GenISOImage    string        // the ISO builder ("genisoimage")
	// MigrationURI is how other hosts' libvirtds reach this one's for live migration, as
	// CloudStack's KVM agent does it: qemu+tcp://<this host's name>/system by default.
	MigrationURI string
	Logger       *slog.Logger
}

func (c Config) withDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Socket, "/run/libvirt/libvirt-sock")
	def(&c.URI, string(libvirt.QEMUSystem))
	def(&c.DomainType, "auto")
	def(&c.Machine, "pc")
	def(&c.DiskCache, "none")
	def(&c.ConfigDriveDir, "/var/lib/atoll/configdrive")
	def(&c.ConsoleLogDir, "/var/log/atoll/console")
	def(&c.GenISOImage, "genisoimage")
	if c.MigrationURI == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			c.MigrationURI = "qemu+tcp://" + h + "/system"
		}
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 60 * time.Second
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Driver runs VMs through libvirtd. Domains are persistent while they exist: StartVM defines
// and starts one; StopVM shuts it down and undefines it, as CloudStack's KVM agent does, so a
// stopped VM leaves nothing on the host but its console log. A domain that dies behind
// Atoll's back stays defined and is listed PowerOff until StopVM, DestroyVM or StartVM.
type Driver struct {
	cfg  Config
	log  *slog.Logger
	conn *conn

	hostMu sync.Mutex
	host   *hostFacts // resolved on first use

	locks sync.Map // vm name -> *sync.Mutex: one operation per VM at a time
}

// New returns a driver; it dials libvirtd on first use, and again whenever the connection
// has died.
func New(cfg Config) (*Driver, error) {
	cfg = cfg.withDefaults()
	switch cfg.DomainType {
	case "auto", "kvm", "qemu":
	default:
		return nil, fmt.Errorf("kvm: domain type %q: want auto, kvm or qemu", cfg.DomainType)
	}
	log := cfg.Logger.With("component", "kvm")
	return &Driver{cfg: cfg, log: log, conn: newConn(cfg.Socket, cfg.URI, cfg.ConnectTimeout, cfg.CallTimeout, log)}, nil
}

// Close drops the connection to libvirtd.
func (d *Driver) Close() error {
	d.conn.close()
	return nil
}

// ConsoleLogPath is the file the VM's serial console is logged to (appended across starts).
func (d *Driver) ConsoleLogPath(name string) string {
	return filepath.Join(d.cfg.ConsoleLogDir, name+".log")
}

// ConfigDrivePath is the VM's config drive ISO.
func (d *Driver) ConfigDrivePath(name string) string {
	return filepath.Join(d.cfg.ConfigDriveDir, name+".iso")
}

func (d *Driver) lockVM(name string) func() {
	m, _ := d.locks.LoadOrStore(name, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// lookup finds a domain by name; ok is false when libvirt has none.
func (d *Driver) lookup(ctx context.Context, op, name string) (dom libvirt.Domain, ok bool, err error) {
	err = d.conn.do(ctx, "lookup", func(l *libvirt.Libvirt) error {
		var e error
		dom, e = l.DomainLookupByName(name)
		return e
	})
	if libvirt.IsNotFound(err) {
		return dom, false, nil
	}
	if err != nil {
		return dom, false, fmt.Errorf("kvm: %s %s: %w", op, name, err)
	}
	return dom, true, nil
}

// runningDomain finds a VM's domain when it runs; running is false (err nil) when libvirt has
// no such domain or it is not active: live changes then have nothing to do.
func (d *Driver) runningDomain(ctx context.Context, op, name string) (dom libvirt.Domain, running bool, err error) {
	dom, ok, err := d.lookup(ctx, op, name)
	if err != nil || !ok {
		return dom, false, err
	}
	st, err := d.state(ctx, dom)
	if err != nil {
		return dom, false, fmt.Errorf("kvm: %s %s: %w", op, name, err)
	}
	return dom, active(st), nil
}

// state returns a domain's libvirt state; a domain gone meanwhile is shut off.
func (d *Driver) state(ctx context.Context, dom libvirt.Domain) (libvirt.DomainState, error) {
	var st int32
	err := d.conn.do(ctx, "state", func(l *libvirt.Libvirt) error {
		var e error
		st, _, e = l.DomainGetState(dom, 0)
		return e
	})
	if libvirt.IsNotFound(err) {
		return libvirt.DomainShutoff, nil
	}
	return libvirt.DomainState(st), err
}

// active reports whether a domain state has a QEMU process behind it.
func active(s libvirt.DomainState) bool {
	return s != libvirt.DomainShutoff && s != libvirt.DomainCrashed && s != libvirt.DomainNostate
}

// powerState maps libvirt's states to CloudStack's, as its KVM agent does.
func powerState(s libvirt.DomainState) hypervisor.PowerState {
	switch s {
	case libvirt.DomainRunning, libvirt.DomainBlocked, libvirt.DomainPaused, libvirt.DomainPmsuspended:
		return hypervisor.PowerOn
	case libvirt.DomainShutdown, libvirt.DomainShutoff, libvirt.DomainCrashed:
		return hypervisor.PowerOff
	}
	return hypervisor.PowerUnknown
}

// HostInfo reports the host's CPUs and memory from libvirt's node info.
func (d *Driver) HostInfo(ctx context.Context) (hypervisor.HostInfo, error) {
	var info hypervisor.HostInfo
	err := d.conn.do(ctx, "host info", func(l *libvirt.Libvirt) error {
		_, mem, cpus, mhz, nodes, sockets, _, _, err := l.NodeGetInfo()
		if err != nil {
			return err
		}
		ver, err := l.ConnectGetVersion()
		if err != nil {
			return err
		}
		info = hypervisor.HostInfo{
			HypervisorType:    "KVM",
			HypervisorVersion: fmt.Sprintf("%d.%d.%d", ver/1000000, ver/1000%1000, ver%1000),
			CPUSockets:        int(max(nodes, 1) * max(sockets, 1)),
			CPUCores:          int(cpus),
			CPUSpeedMHz:       int64(mhz),
			MemoryBytes:       int64(mem) * 1024,
			Capabilities:      []string{"hvm"},
		}
		return nil
	})
	if err != nil {
		return hypervisor.HostInfo{}, fmt.Errorf("kvm: host info: %w", err)
	}
	return info, nil
}

// ListVMs returns every domain libvirt knows with its power state, in one call.
func (d *Driver) ListVMs(ctx context.Context) ([]hypervisor.VM, error) {
	var recs []libvirt.DomainStatsRecord
	err := d.conn.do(ctx, "list domains", func(l *libvirt.Libvirt) error {
		var e error
		recs, e = l.ConnectGetAllDomainStats(nil, uint32(libvirt.DomainStatsState), 0)
		return e
	})
	if err != nil {
		return nil, fmt.Errorf("kvm: list vms: %w", err)
	}
	out := make([]hypervisor.VM, 0, len(recs))
	for _, r := range recs {
		st := libvirt.DomainNostate
		if v, ok := paramInt(r.Params, "state.state"); ok {
			st = libvirt.DomainState(v)
		}
		out = append(out, hypervisor.VM{Name: r.Dom.Name, State: powerState(st)})
	}
	sortVMs(out)
	return out, nil
}

// StartVM defines the domain and starts it. A running domain of that name is left alone; a
// defined one that is off is replaced by the spec's. If any step fails, what was made is
// undone: the domain is undefined again and its config drive removed.
func (d *Driver) StartVM(ctx context.Context, spec hypervisor.VMSpec) error {
	if err := validSpec(spec); err != nil {
		return fmt.Errorf("kvm: start: %w", err)
	}
	defer d.lockVM(spec.Name)()
	dom, ok, err := d.lookup(ctx, "start", spec.Name)
	if err != nil {
		return err
	}
	if ok {
		st, err := d.state(ctx, dom)
		if err != nil {
			return fmt.Errorf("kvm: start %s: %w", spec.Name, err)
		}
		if active(st) {
			d.log.Info("start: already running", "vm", spec.Name)
			return nil
		}
		if err := d.undefine(ctx, dom); err != nil {
			return fmt.Errorf("kvm: start %s: replace the stale definition: %w", spec.Name, err)
		}
	}
	h, err := d.hostFacts(ctx)
	if err != nil {
		return fmt.Errorf("kvm: start %s: %w", spec.Name, err)
	}
	r := &reverter{}
	defer r.fail()
	opts := domainOptions{Type: h.domainType, Machine: d.cfg.Machine, DiskCache: d.cfg.DiskCache,
		ConsoleLog: d.ConsoleLogPath(spec.Name), HostMHz: h.mhz, CgroupV2: h.cgroupV2}
	if err := os.MkdirAll(d.cfg.ConsoleLogDir, 0o750); err != nil {
		return fmt.Errorf("kvm: start %s: console log dir: %w", spec.Name, err)
	}
	if spec.ConfigDrive != nil {
		iso := d.ConfigDrivePath(spec.Name)
		if err := buildConfigDrive(ctx, d.cfg.GenISOImage, iso, spec); err != nil {
			return fmt.Errorf("kvm: start %s: %w", spec.Name, err)
		}
		r.add(func() { _ = os.Remove(iso) })
		opts.ConfigDrive = iso
	}
	x, err := buildDomain(spec, opts)
	if err != nil {
		return fmt.Errorf("kvm: start %s: %w", spec.Name, err)
	}
	doc, err := x.Marshal()
	if err != nil {
		return fmt.Errorf("kvm: start %s: domain xml: %w", spec.Name, err)
	}
	start := time.Now()
	err = d.conn.do(ctx, "define", func(l *libvirt.Libvirt) error {
		var e error
		dom, e = l.DomainDefineXML(doc)
		return e
	})
	if err != nil {
		return fmt.Errorf("kvm: start %s: define: %w", spec.Name, err)
	}
	r.add(func() {
		// Undo with a fresh context: the caller's may be what ended.
		uctx, cancel := context.WithTimeout(context.Background(), d.cfg.ConnectTimeout+10*time.Second)
		defer cancel()
		if err := d.undefine(uctx, dom); err != nil {
			d.log.Warn("start failed and the domain could not be undefined", "vm", spec.Name, "err", err)
		}
	})
	err = d.conn.do(ctx, "create", func(l *libvirt.Libvirt) error { return l.DomainCreate(dom) })
	if err != nil {
		return fmt.Errorf("kvm: start %s: %w", spec.Name, err)
	}
	r.success()
	d.log.Info("vm started", "vm", spec.Name, "type", h.domainType, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// undefine removes a domain's persistent definition (a running one becomes transient).
func (d *Driver) undefine(ctx context.Context, dom libvirt.Domain) error {
	err := d.conn.do(ctx, "undefine", func(l *libvirt.Libvirt) error {
		return l.DomainUndefineFlags(dom, libvirt.DomainUndefineManagedSave|libvirt.DomainUndefineSnapshotsMetadata)
	})
	if libvirt.IsNotFound(err) {
		return nil
	}
	return err
}

// destroy powers a domain off at once; one already off is fine.
func (d *Driver) destroy(ctx context.Context, dom libvirt.Domain) error {
	err := d.conn.do(ctx, "destroy", func(l *libvirt.Libvirt) error {
		return l.DomainDestroyFlags(dom, libvirt.DomainDestroyDefault)
	})
	if err == nil || libvirt.IsNotFound(err) {
		return nil
	}
	if st, serr := d.state(ctx, dom); serr == nil && !active(st) {
		return nil // it went down by itself meanwhile
	}
	return err
}

// shutdown asks the guest to power off (ACPI power button), waits up to the stop timeout,
// pressing again every 5 s (a guest still booting may miss the first press), then destroys
// it. It reports whether the guest went down by itself.
func (d *Driver) shutdown(ctx context.Context, name string, dom libvirt.Domain) (graceful bool, err error) {
	deadline := time.Now().Add(d.cfg.StopTimeout)
	var lastPress time.Time
	for {
		st, err := d.state(ctx, dom)
		if err != nil {
			return false, err
		}
		if !active(st) {
			return true, nil
		}
		if time.Now().After(deadline) {
			d.log.Warn("graceful stop timed out; destroying", "vm", name, "timeout", d.cfg.StopTimeout)
			return false, d.destroy(ctx, dom)
		}
		if time.Since(lastPress) >= 5*time.Second {
			err := d.conn.do(ctx, "shutdown", func(l *libvirt.Libvirt) error {
				return l.DomainShutdownFlags(dom, libvirt.DomainShutdownAcpiPowerBtn)
			})
			if err != nil && !libvirt.IsNotFound(err) {
				if st, serr := d.state(ctx, dom); serr == nil && !active(st) {
					return true, nil
				}
				d.log.Warn("acpi shutdown refused; destroying", "vm", name, "err", err)
				return false, d.destroy(ctx, dom)
			}
			lastPress = time.Now()
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// StopVM powers a VM off (gracefully within the stop timeout unless force) and undefines it.
// A VM libvirt does not know is already stopped.
func (d *Driver) StopVM(ctx context.Context, name string, force bool) error {
	defer d.lockVM(name)()
	dom, ok, err := d.lookup(ctx, "stop", name)
	if err != nil || !ok {
		return err
	}
	st, err := d.state(ctx, dom)
	if err != nil {
		return fmt.Errorf("kvm: stop %s: %w", name, err)
	}
	start := time.Now()
	if active(st) {
		if force {
			err = d.destroy(ctx, dom)
		} else {
			var graceful bool
			graceful, err = d.shutdown(ctx, name, dom)
			d.log.Info("vm stopped", "vm", name, "graceful", graceful, "took", time.Since(start).Round(time.Millisecond))
		}
		if err != nil {
			return fmt.Errorf("kvm: stop %s: %w", name, err)
		}
	}
	if err := d.undefine(ctx, dom); err != nil {
		return fmt.Errorf("kvm: stop %s: %w", name, err)
	}
	return nil
}

// RebootVM restarts a running VM as CloudStack's KVM agent does: a stop (graceful within the
// stop timeout, else forced) and a start of the same definition, so a guest that ignores ACPI
// still reboots.
func (d *Driver) RebootVM(ctx context.Context, name string) error {
	defer d.lockVM(name)()
	dom, ok, err := d.lookup(ctx, "reboot", name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("kvm: reboot %s: %w", name, hypervisor.ErrNoVM)
	}
	st, err := d.state(ctx, dom)
	if err != nil {
		return fmt.Errorf("kvm: reboot %s: %w", name, err)
	}
	if !active(st) {
		return fmt.Errorf("kvm: reboot %s: vm is %s", name, powerState(st))
	}
	if _, err := d.shutdown(ctx, name, dom); err != nil {
		return fmt.Errorf("kvm: reboot %s: %w", name, err)
	}
	if err := d.conn.do(ctx, "create", func(l *libvirt.Libvirt) error { return l.DomainCreate(dom) }); err != nil {
		return fmt.Errorf("kvm: reboot %s: start again: %w", name, err)
	}
	return nil
}

// DestroyVM powers a VM off at once, undefines it and removes its config drive. A VM libvirt
// does not know is already destroyed (its config drive is still removed).
func (d *Driver) DestroyVM(ctx context.Context, name string) error {
	defer d.lockVM(name)()
	dom, ok, err := d.lookup(ctx, "destroy", name)
	if err != nil {
		return err
	}
	if ok {
		if err := d.destroy(ctx, dom); err != nil {
			return fmt.Errorf("kvm: destroy %s: %w", name, err)
		}
		if err := d.undefine(ctx, dom); err != nil {
			return fmt.Errorf("kvm: destroy %s: %w", name, err)
		}
	}
	if err := os.Remove(d.ConfigDrivePath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("kvm: destroy %s: config drive: %w", name, err)
	}
	return nil
}

var (
	_ hypervisor.Driver        = (*Driver)(nil)
	_ hypervisor.Migrator      = (*Driver)(nil)
	_ hypervisor.Scaler        = (*Driver)(nil)
	_ hypervisor.StatsReporter = (*Driver)(nil)
	_ hypervisor.PowerWatcher  = (*Driver)(nil)
	_ hypervisor.DiskResizer   = (*Driver)(nil)
)
