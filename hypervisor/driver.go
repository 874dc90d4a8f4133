package hypervisor

import (
	"context"
	"errors"
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
}

// Migrator is implemented by drivers that move running VMs between hosts: the target prepares
// to receive the VM (PrepareMigration), then the source sends it (MigrateVM) and forgets it.
type Migrator interface {
	PrepareMigration(ctx context.Context, spec VMSpec) error
	MigrateVM(ctx context.Context, name, target string) error
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
