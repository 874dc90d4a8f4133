// Package orchestrate holds the VM work that both the API and the agents side need: building
// a VM's spec for its agent, releasing what a VM holds, the power-state sync from agent
// reports and the expunge sweeper. It talks to agents through a Sender, so it does not depend
// on the agents manager.
package orchestrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/jobs"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// Sender runs a command on a host's agent (the agents manager).
type Sender interface {
	Send(ctx context.Context, hostID, name string, body any) (*protocol.Answer, error)
}

// Deps are what the orchestration functions use.
type Deps struct {
	DB     *db.DB
	Ledger *planner.Ledger
	Agents Sender
	Log    *slog.Logger
	Config *config.Store // settings (limit defaults among them)
	Jobs   *jobs.Runner  // this server's job runner (nil where no job is written)
}

// Compute is what a VM takes of its host.
func Compute(v *db.VM) planner.Compute {
	return planner.Compute{CPUMHz: int64(v.CPUNumber) * v.CPUSpeed, Cores: int64(v.CPUNumber), Memory: v.Memory << 20}
}

// ReleaseCompute returns the CPU and memory a VM holds (on its host and, while Migrating, on
// its target) to the ledger. The caller then moves the VM to a state that holds nothing.
func ReleaseCompute(ctx context.Context, q db.Querier, l *planner.Ledger, v *db.VM) error {
	if !db.VMHoldsCompute(v.State) {
		return nil
	}
	if v.HostID != "" {
		if err := l.ReleaseCompute(ctx, q, v.HostID, Compute(v)); err != nil && !errors.Is(err, planner.ErrNoLedger) {
			return err
		}
	}
	if v.State == db.VMMigrating && v.MigrateHostID != "" {
		if err := l.ReleaseCompute(ctx, q, v.MigrateHostID, Compute(v)); err != nil && !errors.Is(err, planner.ErrNoLedger) {
			return err
		}
	}
	return nil
}

// Spec builds the spec a host's agent starts a VM from: its disks (attached volumes) and NICs.
func Spec(ctx context.Context, q db.Querier, v *db.VM) (protocol.VMSpec, error) {
	vols, _, err := db.ListVolumes(ctx, q, db.VolumeFilter{VMID: v.ID})
	if err != nil {
		return protocol.VMSpec{}, err
	}
	nics, err := db.ListNics(ctx, q, db.NicFilter{VMID: v.ID})
	if err != nil {
		return protocol.VMSpec{}, err
	}
	s := SpecOf(v, vols, nics)
	return s, ForRealHost(ctx, q, v, vols, &s)
}

// SpecOf is Spec from a VM's volumes and NICs already loaded (in device order).
func SpecOf(v *db.VM, vols []*db.Volume, nics []*db.Nic) protocol.VMSpec {
	s := protocol.VMSpec{Name: v.InstanceName(), UUID: v.ID, Hostname: v.Name, CPUs: v.CPUNumber, SpeedMHz: v.CPUSpeed,
		MemoryBytes: v.Memory << 20, Details: v.Details, UserData: v.UserData, OSType: v.OSTypeID}
	for _, o := range vols {
		path := o.Path
		if path == "" {
			path = o.ID
		}
		d := protocol.DiskSpec{VolumeID: o.ID, Type: o.Type, DeviceID: o.DeviceID, Path: path, PoolID: o.PoolID, Size: o.Size, Format: o.Format}
		if o.Type == db.VolumeRoot && o.TemplateID != "" {
			d.Template = o.TemplateID
		}
		s.Disks = append(s.Disks, d)
	}
	for _, n := range nics {
		s.Nics = append(s.Nics, protocol.NicSpec{MAC: n.MACAddress, IP: n.IPAddress, Netmask: n.Netmask, Gateway: n.Gateway,
			BroadcastURI: n.BroadcastURI, DeviceID: n.DeviceID, IsDefault: n.IsDefault, NetworkID: n.NetworkID})
	}
	if v.ISOID != "" {
		s.BootISO = v.ISOID
	}
	return s
}

// AgentError is a command the agent answered with a failure (or could not be reached for).
type AgentError struct {
	Command, HostID, Text string
}

func (e *AgentError) Error() string {
	return fmt.Sprintf("%s on host %s failed: %s", e.Command, e.HostID, e.Text)
}

// Send runs a command and turns a failed answer into an *AgentError.
func (d *Deps) Send(ctx context.Context, hostID, name string, body any, timeout time.Duration) error {
	return d.SendFor(ctx, hostID, name, body, nil, timeout)
}

// SendFor is Send that also decodes the answer's body into answer (when not nil).
func (d *Deps) SendFor(ctx context.Context, hostID, name string, body, answer any, timeout time.Duration) error {
	if d.Agents == nil {
		return &AgentError{Command: name, HostID: hostID, Text: "no agents manager on this management server"}
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ans, err := d.Agents.Send(cctx, hostID, name, body)
	if err != nil {
		return &AgentError{Command: name, HostID: hostID, Text: err.Error()}
	}
	if !ans.OK {
		return &AgentError{Command: name, HostID: hostID, Text: ans.Error}
	}
	if answer != nil && len(ans.Body) > 0 {
		if err := json.Unmarshal(ans.Body, answer); err != nil {
			return &AgentError{Command: name, HostID: hostID, Text: "bad answer: " + err.Error()}
		}
	}
	return nil
}
