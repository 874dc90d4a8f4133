package kvm

import (
	"context"
	"fmt"
	"reflect"

	"github.com/atollcloud/atoll/hypervisor"
	"github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"
)

// ChangeISO puts an ISO into a running VM's CD-ROM drive (hdc), or ejects the one there when
// iso is nil, live and in its persistent definition (libvirt's update-device: QEMU changes
// the media; the guest sees the drive's new size). A VM that is not running is left alone:
// its next start takes the ISO from its spec. Media already as asked is success.
func (d *Driver) ChangeISO(ctx context.Context, vm string, iso *hypervisor.DiskSource) error {
	op := "change iso"
	if iso == nil {
		op = "eject iso"
	}
	unlock := d.lockVM(vm)
	defer unlock()
	dom, running, err := d.runningDomain(ctx, op, vm)
	if err != nil || !running {
		return err
	}
	var src *libvirtxml.DomainDiskSource
	if iso != nil {
		if src, err = isoSource("", *iso); err != nil {
			return fmt.Errorf("kvm: %s %s: %w", op, vm, err)
		}
	}
	def, err := d.liveXML(ctx, dom)
	if err != nil {
		return fmt.Errorf("kvm: %s %s: %w", op, vm, err)
	}
	var cur *libvirtxml.DomainDisk
	if def.Devices != nil {
		for i, x := range def.Devices.Disks {
			if x.Device == "cdrom" && x.Target != nil && x.Target.Dev == isoDevice {
				cur = &def.Devices.Disks[i]
			}
		}
	}
	if cur == nil {
		return fmt.Errorf("kvm: %s %s: the domain has no CD-ROM drive %s (started by an older agent: stop and start the VM)", op, vm, isoDevice)
	}
	if sameMedia(cur.Source, src) {
		return nil
	}
	disk := cdrom(src, isoDevice)
	xml, err := disk.Marshal()
	if err != nil {
		return fmt.Errorf("kvm: %s %s: %w", op, vm, err)
	}
	flags := libvirt.DomainDeviceModifyLive | libvirt.DomainDeviceModifyConfig
	err = d.conn.do(ctx, op, func(l *libvirt.Libvirt) error {
		// A forced change: a guest that locked the tray does not keep its ISO.
		return l.DomainUpdateDeviceFlags(dom, xml, flags|libvirt.DomainDeviceModifyForce)
	})
	if err != nil {
		return fmt.Errorf("kvm: %s %s: %w", op, vm, err)
	}
	d.log.Info(op, "vm", vm, "iso", fmt.Sprint(iso))
	return nil
}

// sameMedia reports whether the drive's source (as libvirt reports it) is the one wanted: the
// same file, or the same NFS host and path; an empty drive has no file and no network source.
func sameMedia(have, want *libvirtxml.DomainDiskSource) bool {
	key := func(s *libvirtxml.DomainDiskSource) []string {
		switch {
		case s == nil:
			return nil
		case s.File != nil && s.File.File != "":
			return []string{"file", s.File.File}
		case s.Network != nil:
			k := []string{s.Network.Protocol, s.Network.Name}
			for _, h := range s.Network.Hosts {
				k = append(k, h.Name)
			}
			return k
		}
		return nil
	}
	return reflect.DeepEqual(key(have), key(want))
}
