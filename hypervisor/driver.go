package hypervisor

import (
	"context"
	"errors"
	"strings"
)

// HostInfo describes a host's hardware and hypervisor.
type HostInfo struct {
	HypervisorType    string // "Simulator", "KVM"
	HypervisorVersion string
	CPUSockets        int
	CPUCores          int   // total cores across sockets
	CPUSpeedMHz       int64 // per core
	MemoryBytes       int64
	LocalStorageBytes int64
	Capabilities      []string
}

// PowerState is a VM's power state, as CloudStack names it.
type PowerState string

const (
	PowerOn      PowerState = "PowerOn"
	PowerOff     PowerState = "PowerOff"
	PowerUnknown PowerState = "PowerUnknown"
)

// VM is one VM the hypervisor knows, with its power state.
type VM struct {
	Name  string
	State PowerState
}

// VMSpec is what starting a VM needs.
type VMSpec struct {
	Name        string // the instance name (i-N-N-VM), the hypervisor's handle
	UUID        string
	Hostname    string
	CPUs        int
	SpeedMHz    int64
	MemoryBytes int64
	Details     map[string]string
	Disks       []DiskSpec
	Nics        []NicSpec
	UserData    string // base64, as the user gave it
	SSHKeys     []string
	BootISO     string // path of an ISO to boot from (a VM deployed from an ISO)
	OSType      string
	// BootISOSource, when set, is where BootISO's bytes are (an NFS export QEMU opens itself,
	// or a host file), as the agent's storage resolved it; unset, BootISO is a host file.
	BootISOSource DiskSource

	// MaxCPUs and MaxMemoryBytes are the most a running VM may be scaled up to (ScaleVM);
	// zero means CPUs and MemoryBytes, i.e. not scalable while running.
	MaxCPUs        int
	MaxMemoryBytes int64
	// ConfigDrive, when set, asks the driver to attach a CloudStack config drive: an ISO
	// labelled config-2 carrying UserData, SSHKeys, Hostname, UUID and what ConfigDrive adds.
	ConfigDrive *ConfigDrive
}

// ConfigDrive is what a CloudStack config drive carries beyond the VMSpec's own fields.
type ConfigDrive struct {
	// Password becomes cloudstack/password/vm_password.txt (empty: no password file).
	Password string
	// Metadata adds or overrides cloudstack/metadata/<name>.txt files, by CloudStack's names:
	// service-offering, availability-zone, local-ipv4, public-ipv4, public-hostname,
	// cloud-identifier, hypervisor-host-name, ... The driver itself writes instance-id and
	// vm-id (UUID, else Name), local-hostname (Hostname) and public-keys (SSHKeys).
	Metadata map[string]string
}

// DiskSpec is one disk of a VM.
type DiskSpec struct {
	VolumeID string
	Type     string // ROOT or DATADISK
	DeviceID int
	Path     string
	PoolID   string
	Size     int64
	Format   string
	Template string // path of the template a ROOT disk is cloned from, when it is new

	// Source says where the hypervisor finds the disk's bytes (the storage layer fills it
	// in); when it is empty, Path is taken as a file on the host.
	Source DiskSource
	// Limits caps the disk's throughput (QEMU I/O throttling); zero fields are unlimited.
	Limits DiskLimits
}

// DiskSource locates a disk's bytes: a file on the host, or a file on an NFS export that the
// hypervisor opens itself (QEMU's NFS client), without a kernel mount.
type DiskSource struct {
	File    string // absolute path of a file on the host
	NFSHost string // NFS server name or address, with NFSPath
	NFSPath string // the file on the server, export path included: /export/primary/vol.qcow2
}

// DiskLimits are a disk's throughput caps, per second (CloudStack's disk offering
// bytesreadrate, byteswriterate, iopsreadrate, iopswriterate, and totals).
type DiskLimits struct {
	ReadBytesSec, WriteBytesSec, TotalBytesSec int64
	ReadIOPS, WriteIOPS, TotalIOPS             int64
}

// NicSpec is one network interface of a VM.
type NicSpec struct {
	MAC          string
	IP, Netmask  string
	Gateway      string
	BroadcastURI string // vlan://N, vxlan://N
	DeviceID     int
	IsDefault    bool
	NetworkID    string
	// Bridge is the host bridge the NIC is plugged into (set by the agent's network driver);
	// empty: the driver creates no interface for it.
	Bridge string
}

// TapName is the host-side device of a VM NIC with this MAC on a KVM host: "at" and the MAC's
// twelve hex digits (14 characters, within Linux's 15). MACs are unique in a zone, so the name
// is unique on a host, and network code finds a NIC's tap from its MAC alone.
func TapName(mac string) string {
	hex := make([]byte, 0, 12)
	for i := 0; i < len(mac) && len(hex) < 12; i++ {
		c := mac[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			hex = append(hex, c)
		case c >= 'A' && c <= 'F':
			hex = append(hex, c+'a'-'A')
		}
	}
	return "at" + string(hex)
}

// PowerWatcher is implemented by drivers that learn at once when a VM stops or crashes
// behind the agent's back (libvirt's lifecycle events): the agent then reports its VMs'
// power states without waiting for its next heartbeat. The channel carries the names of
// such VMs, never blocks the driver (events beyond its buffer are dropped: one report covers
// them all) and closes when ctx ends.
type PowerWatcher interface {
	WatchPower(ctx context.Context) <-chan string
}

// MigratedTapName is the host-side device a NIC takes on the target of a live migration when
// it is cur on the source: "at" and "au" alternate, so the two taps can exist side by side
// while the VM switches over (both ends on one machine, or a stale tap left on the target).
func MigratedTapName(cur string) string {
	if rest, ok := strings.CutPrefix(cur, "at"); ok {
		return "au" + rest
	}
	if rest, ok := strings.CutPrefix(cur, "au"); ok {
		return "at" + rest
	}
	return cur
}

// MigrationTarget is where a target host takes an incoming VM: how the source reaches its
// hypervisor, and the host-local paths the VM's definition must name there.
type MigrationTarget struct {
	URI         string // the target hypervisor's migration address (libvirt: qemu+tcp://host/system)
	ConsoleLog  string // the VM's serial console log on the target ("" keep the source's)
	ConfigDrive string // the VM's config drive ISO on the target ("" none)
}

// Migrator is implemented by drivers that move running VMs between hosts: the target prepares
// to receive the VM (PrepareMigration) and says where it takes it, then the source sends it
// (MigrateVM) and forgets it.
type Migrator interface {
	PrepareMigration(ctx context.Context, spec VMSpec) (MigrationTarget, error)
	MigrateVM(ctx context.Context, name string, to MigrationTarget) error
}

// VMStats are one VM's raw counters at one moment; rates are differences between samples.
type VMStats struct {
	Name        string
	State       PowerState
	CPUs        int
	CPUTimeNs   uint64 // guest CPU time used since it started, all vCPUs
	MemoryBytes int64  // memory the guest has now (its balloon's size)
	MaxMemory   int64  // the most it may have
	RSSBytes    int64  // host memory its process uses
	FreeMemory  int64  // memory the guest reports unused (its balloon driver's stats); 0: not reported
	Disks       []DiskStats
	Nics        []NicStats
}

// DiskStats are one disk's I/O counters since the VM started.
type DiskStats struct {
	Device     string // target device: vda, vdb, hdc ...
	Path       string // the file (or NFS path) behind it
	ReadBytes  int64
	WriteBytes int64
	ReadOps    int64
	WriteOps   int64
}

// NicStats are one NIC's counters since the VM started.
type NicStats struct {
	Device    string // host-side device (TapName of the NIC's MAC on KVM)
	RxBytes   int64  // received by the guest
	TxBytes   int64  // sent by the guest
	RxPackets int64
	TxPackets int64
}

// StatsReporter is implemented by drivers that report per-VM usage counters.
type StatsReporter interface {
	VMStats(ctx context.Context) ([]VMStats, error)
}

// Scaler is implemented by drivers that change a running VM's CPU and memory.
type Scaler interface {
	ScaleVM(ctx context.Context, name string, cpus int, speedMHz, memoryBytes int64) error
}

// Driver runs VMs on one host. Every operation is idempotent: starting a running VM,
// stopping a stopped one or destroying a missing one succeeds.
type Driver interface {
	HostInfo(ctx context.Context) (HostInfo, error)
	ListVMs(ctx context.Context) ([]VM, error)
	StartVM(ctx context.Context, spec VMSpec) error
	StopVM(ctx context.Context, name string, force bool) error
	RebootVM(ctx context.Context, name string) error
	DestroyVM(ctx context.Context, name string) error
}

// Interceptor is implemented by drivers that inject faults: the agent calls Intercept before
// running each command (and before each heartbeat, named "Ping"); a non-nil error fails it.
// It may also sleep to add latency.
type Interceptor interface {
	Intercept(ctx context.Context, command string) error
}

// ErrNoVM is returned for an operation on a VM the hypervisor does not know.
var ErrNoVM = errors.New("hypervisor: no such vm")

// DiskResizer is implemented by drivers that grow a running VM's disk in place (the guest
// sees the new size at once). resized is false when the VM is not running or has no such
// disk: the caller then resizes the file itself.
type DiskResizer interface {
	ResizeDisk(ctx context.Context, vm, volumeID string, size int64) (resized bool, err error)
}

// DiskAttacher is implemented by drivers that plug a disk into a running VM and pull it out
// again (attachVolume, detachVolume). A VM that is not running has nothing to change on the
// host: its next start takes its disks from its spec.
type DiskAttacher interface {
	AttachDisk(ctx context.Context, vm string, disk DiskSpec) error
	DetachDisk(ctx context.Context, vm string, disk DiskSpec) error
}
