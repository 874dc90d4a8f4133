package kvm

import (
	"errors"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"sort"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/atollcloud/atoll/hypervisor"
)

// Device names of the two CD-ROMs, on the IDE bus of the "pc" machine: the boot or attached
// ISO on hdc and the config drive on hdd, where CloudStack's KVM agent puts them.
const (
	isoDevice         = "hdc"
	configDriveDevice = "hdd"
)

// domainOptions are the host-side choices that shape a domain beside the VMSpec.
type domainOptions struct {
	Type        string // libvirt domain type: "kvm" or "qemu" (TCG)
	Machine     string // QEMU machine type ("pc")
	DiskCache   string // QEMU cache mode of every disk ("none")
	ConsoleLog  string // file the serial console is logged to (through virtlogd)
	ConfigDrive string // path of the config drive ISO; "" for none
	HostMHz     int64  // the host's CPU capacity (all cores × MHz), to scale shares on cgroup v2
	CgroupV2    bool   // the host uses cgroup v2 (cpu.weight, range 1..10000)
}

// buildDomain turns a VMSpec into a libvirt domain. It does no I/O.
func buildDomain(spec hypervisor.VMSpec, o domainOptions) (*libvirtxml.Domain, error) {
	if err := validSpec(spec); err != nil {
		return nil, err
	}
	if o.Type != "kvm" && o.Type != "qemu" {
		return nil, fmt.Errorf("domain type %q: want kvm or qemu", o.Type)
	}
	maxCPUs, maxMem := spec.MaxCPUs, spec.MaxMemoryBytes
	if maxCPUs < spec.CPUs {
		maxCPUs = spec.CPUs
	}
	if maxMem < spec.MemoryBytes {
		maxMem = spec.MemoryBytes
	}
	vcpu := &libvirtxml.DomainVCPU{Placement: "static", Value: uint(maxCPUs)}
	if maxCPUs > spec.CPUs {
		vcpu.Current = uint(spec.CPUs)
	}
	boot := []libvirtxml.DomainBootDevice{{Dev: "hd"}, {Dev: "cdrom"}}
	if spec.BootISO != "" {
		boot = []libvirtxml.DomainBootDevice{{Dev: "cdrom"}, {Dev: "hd"}}
	}
	d := &libvirtxml.Domain{
		Type:          o.Type,
		Name:          spec.Name,
		UUID:          spec.UUID,
		Memory:        &libvirtxml.DomainMemory{Value: uint(maxMem / 1024), Unit: "KiB"},
		CurrentMemory: &libvirtxml.DomainCurrentMemory{Value: uint(spec.MemoryBytes / 1024), Unit: "KiB"},
		VCPU:          vcpu,
		OS: &libvirtxml.DomainOS{
			Type:        &libvirtxml.DomainOSType{Arch: "x86_64", Machine: o.Machine, Type: "hvm"},
			BootDevices: boot,
		},
		Features: &libvirtxml.DomainFeatureList{
			ACPI: &libvirtxml.DomainFeature{}, APIC: &libvirtxml.DomainFeatureAPIC{}, PAE: &libvirtxml.DomainFeature{},
		},
		Clock:      &libvirtxml.DomainClock{Offset: "utc"},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices:    &libvirtxml.DomainDeviceList{},
	}
	if spec.SpeedMHz > 0 {
		d.CPUTune = &libvirtxml.DomainCPUTune{Shares: &libvirtxml.DomainCPUTuneShares{
			Value: cpuShares(spec.CPUs, spec.SpeedMHz, o.HostMHz, o.CgroupV2)}}
	}
	dev := d.Devices
	disks, err := buildDisks(spec.Disks, o.DiskCache)
	if err != nil {
		return nil, err
	}
	dev.Disks = disks
	// The ISO drive is always there, empty when no ISO is in it: an IDE drive cannot be
	// plugged into a running VM, and attachIso changes its media (ChangeISO).
	iso, err := isoSource(spec.BootISO, spec.BootISOSource)
	if err != nil {
		return nil, err
	}
	dev.Disks = append(dev.Disks, cdrom(iso, isoDevice))
	if o.ConfigDrive != "" {
		dev.Disks = append(dev.Disks, cdrom(&libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: o.ConfigDrive}}, configDriveDevice))
	}
	for _, n := range sortedNics(spec.Nics) {
		if n.Bridge == "" {
			continue
		}
		dev.Interfaces = append(dev.Interfaces, libvirtxml.DomainInterface{
			MAC:    &libvirtxml.DomainInterfaceMAC{Address: strings.ToLower(n.MAC)},
			Source: &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: n.Bridge}},
			Target: &libvirtxml.DomainInterfaceTarget{Dev: hypervisor.TapName(n.MAC)},
			Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
		})
	}
	port := uint(0)
	serial := libvirtxml.DomainSerial{
		Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
		Target: &libvirtxml.DomainSerialTarget{Port: &port},
	}
	if o.ConsoleLog != "" {
		serial.Log = &libvirtxml.DomainChardevLog{File: o.ConsoleLog, Append: "on"}
	}
	dev.Serials = []libvirtxml.DomainSerial{serial}
	dev.Consoles = []libvirtxml.DomainConsole{{
		Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
		Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port},
	}}
	// A virtio balloon lets ScaleVM move memory within the maximum, and reports guest memory.
	dev.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "virtio", Stats: &libvirtxml.DomainMemBalloonStats{Period: 10}}
	return d, nil
}

// validSpec rejects a spec no domain can be built from.
func validSpec(s hypervisor.VMSpec) error {
	var errs []error
	if s.Name == "" || strings.ContainsAny(s.Name, "/ \t\n") {
		errs = append(errs, fmt.Errorf("invalid vm name %q", s.Name))
	}
	if s.CPUs < 1 {
		errs = append(errs, fmt.Errorf("cpus %d: want at least 1", s.CPUs))
	}
	if s.MemoryBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("memory %d bytes: want at least 1 MiB", s.MemoryBytes))
	}
	for _, n := range s.Nics {
		if n.Bridge == "" {
			continue
		}
		if hw, err := net.ParseMAC(n.MAC); err != nil || len(hw) != 6 {
			errs = append(errs, fmt.Errorf("nic %d: invalid mac %q", n.DeviceID, n.MAC))
		}
	}
	return errors.Join(errs...)
}

// buildDisks makes the virtio-blk disks, named vda, vdb ... by DeviceID (CloudStack's device
// ids: 0 for ROOT, 1, 2, 4 ... for data disks; 3 is the ISO's).
func buildDisks(specs []hypervisor.DiskSpec, cache string) ([]libvirtxml.DomainDisk, error) {
	sorted := append([]hypervisor.DiskSpec(nil), specs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].DeviceID < sorted[j].DeviceID })
	seen := map[string]bool{}
	var out []libvirtxml.DomainDisk
	for _, s := range sorted {
		if s.DeviceID < 0 {
			return nil, fmt.Errorf("disk %s: negative device id %d", s.VolumeID, s.DeviceID)
		}
		name := diskName("vd", s.DeviceID)
		if seen[name] {
			return nil, fmt.Errorf("disk %s: device id %d used twice", s.VolumeID, s.DeviceID)
		}
		seen[name] = true
		src, err := diskSource(s)
		if err != nil {
			return nil, err
		}
		l := s.Limits
		if (l.TotalBytesSec > 0 && (l.ReadBytesSec > 0 || l.WriteBytesSec > 0)) || (l.TotalIOPS > 0 && (l.ReadIOPS > 0 || l.WriteIOPS > 0)) {
			return nil, fmt.Errorf("disk %s: a total limit excludes read and write limits of the same kind (QEMU refuses both)", s.VolumeID)
		}
		out = append(out, libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: diskFormat(s.Format), Cache: cache},
			Source: src,
			Target: &libvirtxml.DomainDiskTarget{Dev: name, Bus: "virtio"},
			IOTune: ioTune(s.Limits),
			Serial: diskSerial(s.VolumeID),
		})
	}
	return out, nil
}

// diskSource says where a disk's bytes are: an NFS network source, or a host file.
func diskSource(s hypervisor.DiskSpec) (*libvirtxml.DomainDiskSource, error) {
	switch {
	case s.Source.NFSHost != "" || s.Source.NFSPath != "":
		if s.Source.NFSHost == "" || !strings.HasPrefix(s.Source.NFSPath, "/") {
			return nil, fmt.Errorf("disk %s: nfs source needs a host and an absolute path (got %q, %q)",
				s.VolumeID, s.Source.NFSHost, s.Source.NFSPath)
		}
		return &libvirtxml.DomainDiskSource{Network: &libvirtxml.DomainDiskSourceNetwork{
			Protocol: "nfs", Name: s.Source.NFSPath,
			Hosts: []libvirtxml.DomainDiskSourceHost{{Name: s.Source.NFSHost}},
			// QEMU's NFS client speaks as root; CloudStack's primary storage exports are
			// no_root_squash. (libvirt 9.0's schema also wants the element.)
			Identity: &libvirtxml.DomainDiskSourceNetworkIdentity{User: "root", Group: "root"},
		}}, nil
	case s.Source.File != "":
		if !filepath.IsAbs(s.Source.File) {
			return nil, fmt.Errorf("disk %s: file %q is not an absolute path", s.VolumeID, s.Source.File)
		}
		return &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: s.Source.File}}, nil
	case filepath.IsAbs(s.Path):
		return &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: s.Path}}, nil
	}
	return nil, fmt.Errorf("disk %s: no source (want Source.File, Source.NFSHost/NFSPath or an absolute Path; got Path %q)",
		s.VolumeID, s.Path)
}

// diskFormat maps CloudStack's format names (QCOW2, RAW) to QEMU's; qcow2 by default.
func diskFormat(f string) string {
	switch strings.ToLower(f) {
	case "raw":
		return "raw"
	default:
		return "qcow2"
	}
}

// diskSerial is the serial the guest sees (/dev/disk/by-id): the volume id without dashes,
// cut to QEMU's 20 characters, as CloudStack does.
func diskSerial(volumeID string) string {
	s := strings.ReplaceAll(volumeID, "-", "")
	if len(s) > 20 {
		s = s[:20]
	}
	return s
}

func ioTune(l hypervisor.DiskLimits) *libvirtxml.DomainDiskIOTune {
	if l == (hypervisor.DiskLimits{}) {
		return nil
	}
	u := func(v int64) uint64 {
		if v < 0 {
			return 0
		}
		return uint64(v)
	}
	return &libvirtxml.DomainDiskIOTune{
		ReadBytesSec: u(l.ReadBytesSec), WriteBytesSec: u(l.WriteBytesSec), TotalBytesSec: u(l.TotalBytesSec),
		ReadIopsSec: u(l.ReadIOPS), WriteIopsSec: u(l.WriteIOPS), TotalIopsSec: u(l.TotalIOPS),
	}
}

// cdrom is a read-only IDE CD-ROM drive holding src; nil src is an empty drive.
func cdrom(src *libvirtxml.DomainDiskSource, dev string) libvirtxml.DomainDisk {
	return libvirtxml.DomainDisk{
		Device:   "cdrom",
		Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
		Source:   src,
		Target:   &libvirtxml.DomainDiskTarget{Dev: dev, Bus: "ide"},
		ReadOnly: &libvirtxml.DomainDiskReadOnly{},
	}
}

// isoSource says where an ISO's bytes are: src when set (a file or an NFS export QEMU opens
// itself), else path as a host file; nil when there is no ISO.
func isoSource(path string, src hypervisor.DiskSource) (*libvirtxml.DomainDiskSource, error) {
	if path == "" && src == (hypervisor.DiskSource{}) {
		return nil, nil
	}
	s, err := diskSource(hypervisor.DiskSpec{VolumeID: "iso", Path: path, Source: src})
	if err != nil {
		return nil, fmt.Errorf("cd-rom: %w", err)
	}
	return s, nil
}

// diskName is libvirt's device naming: vda ... vdz, vdaa ... (index 0 is vda).
func diskName(prefix string, index int) string {
	var b []byte
	for i := index; ; i = i/26 - 1 {
		b = append([]byte{byte('a' + i%26)}, b...)
		if i < 26 {
			break
		}
	}
	return prefix + string(b)
}

func sortedNics(nics []hypervisor.NicSpec) []hypervisor.NicSpec {
	out := append([]hypervisor.NicSpec(nil), nics...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	return out
}

// Bounds of libvirt's <shares>: cgroup v1 cpu.shares takes 2..262144; cgroup v2 cpu.weight
// takes 1..10000 (libvirt before 9.1 still refuses values under 2).
const (
	sharesMin   = 2
	sharesMaxV1 = 262144
	sharesMaxV2 = 10000
)

// cpuShares is a VM's CPU weight as CloudStack's KVM agent computes it: vCPUs × MHz. On a
// cgroup v2 host, whose range stops at 10000, it is scaled to the host's capacity
// (ceil(cpus × MHz × 10000 / host MHz)), as CloudStack does since 4.20; both are clamped to
// the range libvirt accepts.
func cpuShares(cpus int, speedMHz, hostMHz int64, cgroupV2 bool) uint {
	want := float64(cpus) * float64(speedMHz)
	max := float64(sharesMaxV1)
	if cgroupV2 {
		max = sharesMaxV2
		if hostMHz > 0 {
			want = math.Ceil(want * sharesMaxV2 / float64(hostMHz))
		}
	}
	return uint(math.Max(sharesMin, math.Min(max, want)))
}
