// Package simulator is an in-memory hypervisor driver: VMs are map entries, and latency and
// failures can be injected per command name, either set on the driver or looked up through a
// FaultSource (the management server backs it with the simulator_faults table).
package simulator

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/atollcloud/atoll/hypervisor"
)

// Fault is injected into a command: a delay, then a failure if Fail is set.
type Fault struct {
	Latency time.Duration
	Fail    bool
	Message string
}

// FaultSource looks up the fault for a command (ok false: none).
type FaultSource func(ctx context.Context, command string) (Fault, bool)

// Defaults are CloudStack's simulator host defaults (MockAgentManagerImpl).
var Defaults = hypervisor.HostInfo{
	HypervisorType: "Simulator", HypervisorVersion: "1.0", CPUSockets: 1, CPUCores: 4, CPUSpeedMHz: 8000,
	MemoryBytes: 8 << 30, LocalStorageBytes: 1 << 40, Capabilities: []string{"hvm"},
}

// Driver is the simulator.
type Driver struct {
	info hypervisor.HostInfo

	mu     sync.Mutex
	vms    map[string]hypervisor.PowerState
	specs  map[string]hypervisor.VMSpec // the spec each VM was last started (or scaled) with
	faults map[string]Fault             // by lower-cased command name; "*" for all
	source FaultSource
}

// New returns a simulator with the given host info (zero fields take Defaults).
func New(info hypervisor.HostInfo) *Driver {
	if info.HypervisorType == "" {
		info.HypervisorType = Defaults.HypervisorType
	}
	if info.HypervisorVersion == "" {
		info.HypervisorVersion = Defaults.HypervisorVersion
	}
	if info.CPUSockets == 0 {
		info.CPUSockets = Defaults.CPUSockets
	}
	if info.CPUCores == 0 {
		info.CPUCores = Defaults.CPUCores
	}
	if info.CPUSpeedMHz == 0 {
		info.CPUSpeedMHz = Defaults.CPUSpeedMHz
	}
	if info.MemoryBytes == 0 {
		info.MemoryBytes = Defaults.MemoryBytes
	}
	if info.LocalStorageBytes == 0 {
		info.LocalStorageBytes = Defaults.LocalStorageBytes
	}
	if info.Capabilities == nil {
		info.Capabilities = Defaults.Capabilities
	}
	return &Driver{info: info, vms: map[string]hypervisor.PowerState{}, specs: map[string]hypervisor.VMSpec{}, faults: map[string]Fault{}}
}

// SetFault sets (or, with a zero Fault, clears) a fault for a command name ("*": every command).
func (d *Driver) SetFault(command string, f Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f == (Fault{}) {
		delete(d.faults, strings.ToLower(command))
		return
	}
	d.faults[strings.ToLower(command)] = f
}

// SetFaultSource installs a lookup consulted when no fault is set on the driver itself.
func (d *Driver) SetFaultSource(s FaultSource) {
	d.mu.Lock()
	d.source = s
	d.mu.Unlock()
}

// Intercept applies the fault configured for command: it waits the latency (or until ctx
// ends) and then fails if the fault says so.
func (d *Driver) Intercept(ctx context.Context, command string) error {
	d.mu.Lock()
	f, ok := d.faults[strings.ToLower(command)]
	if !ok {
		f, ok = d.faults["*"]
	}
	src := d.source
	d.mu.Unlock()
	if !ok && src != nil {
		f, ok = src(ctx, command)
	}
	if !ok {
		return nil
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if f.Fail {
		msg := f.Message
		if msg == "" {
			msg = "simulated failure of " + command
		}
		return errors.New(msg)
	}
	return nil
}

// HostInfo returns the simulated hardware.
func (d *Driver) HostInfo(ctx context.Context) (hypervisor.HostInfo, error) { return d.info, nil }

// ListVMs returns every VM, sorted by name.
func (d *Driver) ListVMs(ctx context.Context) ([]hypervisor.VM, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]hypervisor.VM, 0, len(d.vms))
	for n, s := range d.vms {
		out = append(out, hypervisor.VM{Name: n, State: s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// StartVM defines and powers on a VM (a running one is left as it is).
func (d *Driver) StartVM(ctx context.Context, spec hypervisor.VMSpec) error {
	if spec.Name == "" {
		return fmt.Errorf("simulator: start: empty vm name")
	}
	d.mu.Lock()
	d.vms[spec.Name] = hypervisor.PowerOn
	d.specs[spec.Name] = spec
	d.mu.Unlock()
	return nil
}

// Spec returns the spec a VM was started with (tests and the simulator's own checks).
func (d *Driver) Spec(name string) (hypervisor.VMSpec, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.specs[name]
	return s, ok
}

// PowerOffVM makes a VM power off by itself, as a guest shutting down would (tests of the
// power-state sync); it reports whether the VM existed.
func (d *Driver) PowerOffVM(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.vms[name]; !ok {
		return false
	}
	d.vms[name] = hypervisor.PowerOff
	return true
}

// PrepareMigration defines the incoming VM on this (target) host, running: a simulated
// migration has no paused phase.
func (d *Driver) PrepareMigration(ctx context.Context, spec hypervisor.VMSpec) (hypervisor.MigrationTarget, error) {
	return hypervisor.MigrationTarget{}, d.StartVM(ctx, spec)
}

// MigrateVM sends a running VM to the target and forgets it here. Migrating a VM this host no
// longer has succeeds (a replay after the VM left).
func (d *Driver) MigrateVM(ctx context.Context, name string, to hypervisor.MigrationTarget) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.vms[name]
	if !ok {
		return nil
	}
	if s != hypervisor.PowerOn {
		return fmt.Errorf("simulator: migrate %s: vm is %s", name, s)
	}
	delete(d.vms, name)
	delete(d.specs, name)
	return nil
}

// ScaleVM changes a running VM's CPU and memory.
func (d *Driver) ScaleVM(ctx context.Context, name string, cpus int, speedMHz, memoryBytes int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.vms[name]
	if !ok {
		return fmt.Errorf("simulator: scale %s: %w", name, hypervisor.ErrNoVM)
	}
	if s != hypervisor.PowerOn {
		return fmt.Errorf("simulator: scale %s: vm is %s", name, s)
	}
	spec := d.specs[name]
	spec.Name, spec.CPUs, spec.SpeedMHz, spec.MemoryBytes = name, cpus, speedMHz, memoryBytes
	d.specs[name] = spec
	return nil
}

// StopVM powers a VM off.
func (d *Driver) StopVM(ctx context.Context, name string, force bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.vms[name]; !ok {
		return nil
	}
	d.vms[name] = hypervisor.PowerOff
	return nil
}

// RebootVM reboots a running VM.
func (d *Driver) RebootVM(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.vms[name]
	if !ok {
		return fmt.Errorf("simulator: reboot %s: %w", name, hypervisor.ErrNoVM)
	}
	if s != hypervisor.PowerOn {
		return fmt.Errorf("simulator: reboot %s: vm is %s", name, s)
	}
	return nil
}

// DestroyVM removes a VM.
func (d *Driver) DestroyVM(ctx context.Context, name string) error {
	d.mu.Lock()
	delete(d.vms, name)
	delete(d.specs, name)
	d.mu.Unlock()
	return nil
}

var (
	_ hypervisor.Migrator    = (*Driver)(nil)
	_ hypervisor.Scaler      = (*Driver)(nil)
	_ hypervisor.Driver      = (*Driver)(nil)
	_ hypervisor.Interceptor = (*Driver)(nil)
)
