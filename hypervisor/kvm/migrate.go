package kvm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/atollcloud/atoll/hypervisor"
)

// PrepareMigration readies this (target) host for an incoming VM: the console log directory,
// the config drive ISO at the path the domain names (it is not copied by the migration), and
// a check that every file disk is reachable here (shared storage).
func (d *Driver) PrepareMigration(ctx context.Context, spec hypervisor.VMSpec) error {
	if err := validSpec(spec); err != nil {
		return fmt.Errorf("kvm: prepare migration: %w", err)
	}
	var missing []string
	for _, disk := range spec.Disks {
		p := disk.Source.File
		if p == "" && disk.Source.NFSHost == "" {
			p = disk.Path
		}
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("kvm: prepare migration of %s: disks not reachable on this host: %s", spec.Name, strings.Join(missing, ", "))
	}
	if err := os.MkdirAll(d.cfg.ConsoleLogDir, 0o750); err != nil {
		return fmt.Errorf("kvm: prepare migration of %s: %w", spec.Name, err)
	}
	if spec.ConfigDrive != nil {
		if err := buildConfigDrive(ctx, d.cfg.GenISOImage, d.ConfigDrivePath(spec.Name), spec); err != nil {
			return fmt.Errorf("kvm: prepare migration of %s: %w", spec.Name, err)
		}
	}
	return nil
}

// migrationTarget turns MigrateVM's target into the destination libvirt URI, QEMU's
// migration URI and the address QEMU listens on there. The target is a libvirt URI
// (qemu+tcp://10.0.0.5:16509/system) or a host address ("10.0.0.5", "host:16509"), reached
// with qemu+tcp; the memory stream goes to the same host over tcp, as CloudStack does.
func migrationTarget(target string) (dconnuri, migrateURI, listen string, err error) {
	target = strings.TrimSpace(target)
	if target == "" {
		return "", "", "", errors.New("empty migration target")
	}
	if !strings.Contains(target, "://") {
		target = "qemu+tcp://" + target + "/system"
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", "", "", fmt.Errorf("migration target %q: %w", target, err)
	}
	host := u.Hostname()
	if host == "" {
		return "", "", "", fmt.Errorf("migration target %q names no host", target)
	}
	migrateURI = "tcp://" + net.JoinHostPort(host, "")
	migrateURI = strings.TrimSuffix(migrateURI, ":")
	if _, err := netip.ParseAddr(host); err == nil {
		listen = host
	}
	return target, migrateURI, listen, nil
}

// MigrateVM live-migrates a running VM to target, peer to peer (this libvirtd drives the
// whole migration), defining it there and undefining it here. A VM this host no longer has is
// taken as already migrated (a replay).
func (d *Driver) MigrateVM(ctx context.Context, name, target string) error {
	defer d.lockVM(name)()
	dconnuri, migrateURI, listen, err := migrationTarget(target)
	if err != nil {
		return fmt.Errorf("kvm: migrate %s: %w", name, err)
	}
	dom, ok, err := d.lookup(ctx, "migrate", name)
	if err != nil || !ok {
		return err
	}
	st, err := d.state(ctx, dom)
	if err != nil {
		return fmt.Errorf("kvm: migrate %s: %w", name, err)
	}
	if !active(st) {
		return fmt.Errorf("kvm: migrate %s: vm is %s", name, powerState(st))
	}
	params := []libvirt.TypedParam{{Field: libvirt.MigrateParamURI, Value: *libvirt.NewTypedParamValueString(migrateURI)}}
	if listen != "" {
		params = append(params, libvirt.TypedParam{Field: libvirt.MigrateParamListenAddress, Value: *libvirt.NewTypedParamValueString(listen)})
	}
	flags := libvirt.MigrateLive | libvirt.MigratePeer2peer | libvirt.MigratePersistDest |
		libvirt.MigrateUndefineSource | libvirt.MigrateAutoConverge
	start := time.Now()
	err = d.conn.doLong(ctx, "migrate", func(l *libvirt.Libvirt) error {
		_, e := l.DomainMigratePerform3Params(dom, libvirt.OptString{dconnuri}, params, nil, flags)
		return e
	})
	if err != nil {
		return fmt.Errorf("kvm: migrate %s to %s: %w", name, dconnuri, err)
	}
	d.log.Info("vm migrated", "vm", name, "to", dconnuri, "took", time.Since(start).Round(time.Millisecond))
	if err := os.Remove(d.ConfigDrivePath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Warn("migrate: config drive not removed", "vm", name, "err", err)
	}
	return nil
}
