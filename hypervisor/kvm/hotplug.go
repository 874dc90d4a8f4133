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
	dom, running, err := d.runningDomain(ctx, op, vm)
	if err != nil || !running {
		return err
	}
	cur, err := d.findDisk(ctx, dom, disk.VolumeID)
	if err != nil {
		return fmt.Errorf("kvm: %s %s: %w", op, vm, err)
	}
	if (cur != nil) == attach {
		return nil
	}
	var xml string
	if attach {
		disks, err := buildDisks([]hypervisor.DiskSpec{disk}, d.cfg.DiskCache)
		if err != nil {
			return fmt.Errorf("kvm: %s %s: %w", op, vm, err)
		}
		cur = &disks[0]
	}
	// A detach names the disk as the domain has it (found by the volume's serial: the
	// caller need not know its device).
	if xml, err = cur.Marshal(); err != nil {
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
	d.log.Info(op, "vm", vm, "volume", disk.VolumeID)
	return nil
}

// findDisk returns the running domain's disk of a volume (by the serial buildDisks gives
// it), or nil.
func (d *Driver) findDisk(ctx context.Context, dom libvirt.Domain, volumeID string) (*libvirtxml.DomainDisk, error) {
	def, err := d.liveXML(ctx, dom)
	if err != nil {
		return nil, err
	}
	if def.Devices == nil {
		return nil, nil
	}
	want := diskSerial(volumeID)
	for i, x := range def.Devices.Disks {
		if x.Device == "disk" && x.Serial == want {
			return &def.Devices.Disks[i], nil
		}
	}
	return nil, nil
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

// ResizeDisk grows a running VM's disk (found by the volume's serial) to size bytes through
// QEMU (libvirt's block resize), so the guest sees it at once. It never shrinks: a live
// guest's file system would lose its end.
func (d *Driver) ResizeDisk(ctx context.Context, vm, volumeID string, size int64) (bool, error) {
	defer d.lockVM(vm)()
	dom, running, err := d.runningDomain(ctx, "resize disk", vm)
	if err != nil || !running {
		return false, err
	}
	cur, err := d.findDisk(ctx, dom, volumeID)
	if err != nil {
		return false, fmt.Errorf("kvm: resize disk of %s: %w", vm, err)
	}
	if cur == nil || cur.Target == nil {
		return false, nil
	}
	var have uint64
	err = d.conn.do(ctx, "block info", func(l *libvirt.Libvirt) error {
		var e error
		have, _, _, e = l.DomainGetBlockInfo(dom, cur.Target.Dev, 0)
		return e
	})
	if err != nil {
		return false, fmt.Errorf("kvm: resize disk %s of %s: %w", cur.Target.Dev, vm, err)
	}
	if size < int64(have) {
		return false, fmt.Errorf("kvm: resize disk %s of %s: shrinking a running VM's disk from %d to %d bytes is not supported", cur.Target.Dev, vm, have, size)
	}
	if size == int64(have) {
		return true, nil
	}
	err = d.conn.do(ctx, "block resize", func(l *libvirt.Libvirt) error {
		return l.DomainBlockResize(dom, cur.Target.Dev, uint64(size), libvirt.DomainBlockResizeBytes)
	})
	if err != nil {
		return false, fmt.Errorf("kvm: resize disk %s of %s: %w", cur.Target.Dev, vm, err)
	}
	return true, nil
}
