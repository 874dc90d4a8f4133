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

// VMSpec is what starting a VM needs (minimal until the VM work lands).
type VMSpec struct {
	Name        string
	CPUs        int
	SpeedMHz    int64
	MemoryBytes int64
	Details     map[string]string
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
