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
	"libvirt.org/go/libvirtxml"

	"github.com/atollcloud/atoll/hypervisor"
)

// PrepareMigration readies this (target) host for an incoming VM: the console log directory,
// the config drive ISO (it is not copied by the migration), and a check that every file disk
// is reachable here (shared storage). It answers where this host takes the VM: its migration
// URI and this host's paths of the console log and the config drive.
func (d *Driver) PrepareMigration(ctx context.Context, spec hypervisor.VMSpec) (hypervisor.MigrationTarget, error) {
	var none hypervisor.MigrationTarget
	if err := validSpec(spec); err != nil {
		return none, fmt.Errorf("kvm: prepare migration: %w", err)
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
		return none, fmt.Errorf("kvm: prepare migration of %s: disks not reachable on this host: %s", spec.Name, strings.Join(missing, ", "))
	}
	if err := os.MkdirAll(d.cfg.ConsoleLogDir, 0o750); err != nil {
		return none, fmt.Errorf("kvm: prepare migration of %s: %w", spec.Name, err)
	}
	to := hypervisor.MigrationTarget{URI: d.cfg.MigrationURI, ConsoleLog: d.ConsoleLogPath(spec.Name)}
	if spec.ConfigDrive != nil {
		to.ConfigDrive = d.ConfigDrivePath(spec.Name)
		if err := buildConfigDrive(ctx, d.cfg.GenISOImage, to.ConfigDrive, spec); err != nil {
			return none, fmt.Errorf("kvm: prepare migration of %s: %w", spec.Name, err)
		}
	}
	return to, nil
}

// targetXML is the domain definition the target runs: the source's, with each NIC on the
// other tap name (MigratedTapName) and the target's console log and config drive paths.
func targetXML(src string, configDrive string, to hypervisor.MigrationTarget) (string, error) {
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(src); err != nil {
		return "", err
	}
	if dom.Devices != nil {
		for i := range dom.Devices.Interfaces {
			if t := dom.Devices.Interfaces[i].Target; t != nil && t.Dev != "" {
				t.Dev = hypervisor.MigratedTapName(t.Dev)
			}
		}
		if to.ConsoleLog != "" {
			for i := range dom.Devices.Serials {
				if l := dom.Devices.Serials[i].Log; l != nil {
					l.File = to.ConsoleLog
				}
			}
		}
		for i := range dom.Devices.Disks {
			dk := &dom.Devices.Disks[i]
			if dk.Device != "cdrom" || dk.Source == nil || dk.Source.File == nil || dk.Source.File.File != configDrive {
				continue
			}
			if to.ConfigDrive == "" {
				return "", fmt.Errorf("the target prepared no config drive for %s", configDrive)
			}
			dk.Source.File.File = to.ConfigDrive
		}
	}
	return dom.Marshal()
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

// MigrateVM live-migrates a running VM to the target, peer to peer (this libvirtd drives the
// whole migration), defining it there (with targetXML's definition) and undefining it here. A
// VM this host no longer has is taken as already migrated (a replay).
func (d *Driver) MigrateVM(ctx context.Context, name string, to hypervisor.MigrationTarget) error {
	defer d.lockVM(name)()
	dconnuri, migrateURI, listen, err := migrationTarget(to.URI)
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
	var live, persistent string
	err = d.conn.do(ctx, "migrate", func(l *libvirt.Libvirt) error {
		var e error
		if live, e = l.DomainGetXMLDesc(dom, libvirt.DomainXMLMigratable); e != nil {
			return e
		}
		persistent, e = l.DomainGetXMLDesc(dom, libvirt.DomainXMLMigratable|libvirt.DomainXMLInactive)
		return e
	})
	if err != nil {
		return fmt.Errorf("kvm: migrate %s: read its definition: %w", name, err)
	}
	if live, err = targetXML(live, d.ConfigDrivePath(name), to); err == nil {
		persistent, err = targetXML(persistent, d.ConfigDrivePath(name), to)
	}
	if err != nil {
		return fmt.Errorf("kvm: migrate %s: %w", name, err)
	}
	params := []libvirt.TypedParam{
		{Field: libvirt.MigrateParamURI, Value: *libvirt.NewTypedParamValueString(migrateURI)},
		{Field: libvirt.MigrateParamDestXML, Value: *libvirt.NewTypedParamValueString(live)},
		{Field: libvirt.MigrateParamPersistXML, Value: *libvirt.NewTypedParamValueString(persistent)},
	}
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
