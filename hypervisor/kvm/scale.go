package kvm

import (
	"context"
	"fmt"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/atollcloud/atoll/hypervisor"
)

// ScaleVM changes a running VM's vCPUs, memory and CPU weight in place, within the maxima it
// was started with (VMSpec.MaxCPUs, MaxMemoryBytes): vCPUs are hot-plugged (never removed),
// memory moves through the virtio balloon. A VM that is defined but off has nothing to change
// on the host: its next StartVM carries the new offering.
func (d *Driver) ScaleVM(ctx context.Context, name string, cpus int, speedMHz, memoryBytes int64) error {
	defer d.lockVM(name)()
	dom, ok, err := d.lookup(ctx, "scale", name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("kvm: scale %s: %w", name, hypervisor.ErrNoVM)
	}
	st, err := d.state(ctx, dom)
	if err != nil {
		return fmt.Errorf("kvm: scale %s: %w", name, err)
	}
	if !active(st) {
		return nil
	}
	if cpus < 1 || memoryBytes < 1<<20 {
		return fmt.Errorf("kvm: scale %s: %d cpus and %d bytes of memory: want at least 1 and 1 MiB", name, cpus, memoryBytes)
	}
	var curCPUs, maxCPUs int32
	var maxKiB uint64
	err = d.conn.do(ctx, "scale", func(l *libvirt.Libvirt) error {
		var e error
		if curCPUs, e = l.DomainGetVcpusFlags(dom, uint32(libvirt.DomainAffectLive)); e != nil {
			return e
		}
		if maxCPUs, e = l.DomainGetVcpusFlags(dom, uint32(libvirt.DomainAffectLive)|uint32(libvirt.DomainVCPUMaximum)); e != nil {
			return e
		}
		maxKiB, e = l.DomainGetMaxMemory(dom)
		return e
	})
	if err != nil {
		return fmt.Errorf("kvm: scale %s: %w", name, err)
	}
	kib := uint64(memoryBytes / 1024)
	switch {
	case cpus > int(maxCPUs):
		return fmt.Errorf("kvm: scale %s: %d cpus exceed the maximum of %d it was started with", name, cpus, maxCPUs)
	case cpus < int(curCPUs):
		return fmt.Errorf("kvm: scale %s: cannot remove cpus from a running vm (%d to %d)", name, curCPUs, cpus)
	case kib > maxKiB:
		return fmt.Errorf("kvm: scale %s: %d MiB of memory exceed the maximum of %d MiB it was started with", name, kib/1024, maxKiB/1024)
	}
	both := uint32(libvirt.DomainAffectLive) | uint32(libvirt.DomainAffectConfig)
	err = d.conn.do(ctx, "scale", func(l *libvirt.Libvirt) error {
		if cpus > int(curCPUs) {
			if e := l.DomainSetVcpusFlags(dom, uint32(cpus), both); e != nil {
				return fmt.Errorf("set %d vcpus: %w", cpus, e)
			}
		}
		if e := l.DomainSetMemoryFlags(dom, kib, both); e != nil {
			return fmt.Errorf("set memory to %d KiB: %w", kib, e)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kvm: scale %s: %w", name, err)
	}
	if speedMHz > 0 {
		h, herr := d.hostFacts(ctx)
		if herr == nil {
			shares := cpuShares(cpus, speedMHz, h.mhz, h.cgroupV2)
			herr = d.conn.do(ctx, "scale", func(l *libvirt.Libvirt) error {
				return l.DomainSetSchedulerParametersFlags(dom, []libvirt.TypedParam{{Field: libvirt.DomainSchedulerCPUShares,
					Value: *libvirt.NewTypedParamValueUllong(uint64(shares))}}, both)
			})
		}
		if herr != nil {
			// The weight is relative and the VM runs without it (libvirt without a cgroup
			// CPU controller refuses it): the scale itself stands.
			d.log.Warn("scale: cpu shares not updated", "vm", name, "err", herr)
		}
	}
	d.log.Info("vm scaled", "vm", name, "cpus", cpus, "memory_mib", kib/1024)
	return nil
}
