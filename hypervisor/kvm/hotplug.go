package kvm

import (
	"context"
	"fmt"

	"github.com/atollcloud/atoll/hypervisor"
	"github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"
)

// AttachDisk plugs a disk into a running VM, live and into its persistent definition. A VM
// that is not running (or not defined) is left alone: its next start takes the disk from its
// spec. Attaching a disk already there is success.
func (d *Driver) AttachDisk(ctx context.Context, vm string, disk hypervisor.DiskSpec) error {
	return d.hotplug(ctx, "attach disk", vm, disk, true)
}

// DetachDisk pulls a disk out of a running VM (the guest is asked to release it; QEMU
// removes it once it has). A disk that is not there is success.
func (d *Driver) DetachDisk(ctx context.Context, vm string, disk hypervisor.DiskSpec) error {
	return d.hotplug(ctx, "detach disk", vm, disk, false)
}

func (d *Driver) hotplug(ctx context.Context, op, vm string, disk hypervisor.DiskSpec, attach bool) error {
	unlock := d.lockVM(vm)
	defer unlock()
	dom, ok, err := d.lookup(ctx, op, vm)
	if err != nil || !ok {
		return err
	}
	st, err := d.state(ctx, dom)
	if err != nil {
		return fmt.Errorf("kvm: %s %s: %w", op, vm, err)
	}
	if !active(st) {
		return nil
	}
	present, err := d.hasDisk(ctx, dom, disk)
	if err != nil {
		return fmt.Errorf("kvm: %s %s: %w", op, vm, err)
	}
	if present == attach {
		return nil
	}
	disks, err := buildDisks([]hypervisor.DiskSpec{disk}, d.cfg.DiskCache)
	if err != nil {
		return fmt.Errorf("kvm: %s %s: %w", op, vm, err)
	}
	xml, err := disks[0].Marshal()
	if err != nil {
		return fmt.Errorf("kvm: %s %s: %w", op, vm, err)
	}
	flags := libvirt.DomainDeviceModifyLive | libvirt.DomainDeviceModifyConfig
	err = d.conn.do(ctx, op, func(l *libvirt.Libvirt) error {
		if attach {
			return l.DomainAttachDeviceFlags(dom, xml, uint32(flags))
		}
		return l.DomainDetachDeviceFlags(dom, xml, uint32(flags))
	})
	if err != nil {
		return fmt.Errorf("kvm: %s %s (volume %s): %w", op, vm, disk.VolumeID, err)
	}
	d.log.Info(op, "vm", vm, "volume", disk.VolumeID, "device", diskName("vd", disk.DeviceID))
	return nil
}

// hasDisk reports whether the running domain has a disk at the spec's target device.
func (d *Driver) hasDisk(ctx context.Context, dom libvirt.Domain, disk hypervisor.DiskSpec) (bool, error) {
	def, err := d.liveXML(ctx, dom)
	if err != nil {
		return false, err
	}
	want := diskName("vd", disk.DeviceID)
	if def.Devices == nil {
		return false, nil
	}
	for _, x := range def.Devices.Disks {
		if x.Target != nil && x.Target.Dev == want {
			return true, nil
		}
	}
	return false, nil
}

// liveXML reads the running domain's definition.
func (d *Driver) liveXML(ctx context.Context, dom libvirt.Domain) (*libvirtxml.Domain, error) {
	var raw string
	err := d.conn.do(ctx, "dumpxml", func(l *libvirt.Libvirt) error {
		var e error
		raw, e = l.DomainGetXMLDesc(dom, 0)
		return e
	})
	if err != nil {
		return nil, err
	}
	def := &libvirtxml.Domain{}
	if err := def.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("parse domain xml: %w", err)
	}
	return def, nil
}
