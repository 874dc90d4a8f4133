package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
)

// DefaultCommandTimeout bounds a command that names no timeout.
const DefaultCommandTimeout = 10 * time.Minute

// answerCache remembers recent answers by command id, so a replayed command (the management
// server retried it, or another server re-sent it after taking the host over) is answered
// again without running twice; a replay of a command still running waits for it.
type answerCache struct {
	mu    sync.Mutex
	max   int
	m     map[string]*cached
	order []string
}

type cached struct {
	done chan struct{}
	ans  protocol.Answer
}

func newAnswerCache(max int) *answerCache { return &answerCache{max: max, m: map[string]*cached{}} }

// begin returns the entry for id and whether the caller must run the command.
func (c *answerCache) begin(id string) (*cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		return e, false
	}
	e := &cached{done: make(chan struct{})}
	c.m[id] = e
	c.order = append(c.order, id)
	if len(c.order) > c.max {
		old := c.order[0]
		c.order = c.order[1:]
		delete(c.m, old)
	}
	return e, true
}

// handle answers the management server's requests: commands only.
func (a *Agent) handle(ctx context.Context, typ string, body json.RawMessage) (any, error) {
	if typ != protocol.TypeCommand {
		return nil, fmt.Errorf("agent: unexpected request %q", typ)
	}
	var cmd protocol.Command
	if err := json.Unmarshal(body, &cmd); err != nil {
		return nil, fmt.Errorf("agent: decode command: %w", err)
	}
	if cmd.ID == "" || uncached(cmd.Name) {
		return a.run(cmd), nil
	}
	e, mine := a.cache.begin(cmd.ID)
	if mine {
		e.ans = a.run(cmd)
		close(e.done)
		return e.ans, nil
	}
	select {
	case <-e.done:
		return e.ans, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run executes a command. It does not depend on the connection: a command whose connection
// drops still finishes, so that its replay finds the answer.
func (a *Agent) run(cmd protocol.Command) protocol.Answer {
	timeout := DefaultCommandTimeout
	if cmd.TimeoutMs > 0 {
		timeout = time.Duration(cmd.TimeoutMs) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	body, err := a.exec(ctx, cmd)
	ans := protocol.Answer{ID: cmd.ID, OK: err == nil}
	if err != nil {
		ans.Error = err.Error()
		return ans
	}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return protocol.Answer{ID: cmd.ID, Error: "encode answer: " + err.Error()}
		}
		ans.Body = raw
	}
	return ans
}

func decode(cmd protocol.Command, v any) error {
	if len(cmd.Body) == 0 {
		return fmt.Errorf("%s: empty body", cmd.Name)
	}
	if err := json.Unmarshal(cmd.Body, v); err != nil {
		return fmt.Errorf("%s: decode body: %w", cmd.Name, err)
	}
	return nil
}

func (a *Agent) exec(ctx context.Context, cmd protocol.Command) (any, error) {
	d := a.cfg.Driver
	if ic, ok := d.(hypervisor.Interceptor); ok {
		if err := ic.Intercept(ctx, cmd.Name); err != nil {
			return nil, err
		}
	}
	switch cmd.Name {
	case protocol.CmdEcho:
		return cmd.Body, nil
	case protocol.CmdReady:
		return nil, nil
	case protocol.CmdHostInfo:
		info, err := d.HostInfo(ctx)
		if err != nil {
			return nil, err
		}
		return protocol.Register{ProtocolVersion: protocol.Version, GUID: a.id.guid, Name: a.cfg.Name,
			HypervisorType: info.HypervisorType, HypervisorVersion: info.HypervisorVersion, CPUSockets: info.CPUSockets,
			CPUCores: info.CPUCores, CPUSpeedMHz: info.CPUSpeedMHz, MemoryBytes: info.MemoryBytes,
			LocalStorageBytes: info.LocalStorageBytes, Capabilities: a.capabilities(info.Capabilities), AgentVersion: Version}, nil
	case protocol.CmdVMStates:
		return a.vmStates(ctx)
	case protocol.CmdGetVMStats:
		return a.vmStats(ctx, cmd)
	case protocol.CmdStartVM:
		var s protocol.VMSpec
		if err := decode(cmd, &s); err != nil {
			return nil, err
		}
		return nil, a.startVM(ctx, s)
	case protocol.CmdPrepareMigration:
		var s protocol.VMSpec
		if err := decode(cmd, &s); err != nil {
			return nil, err
		}
		return a.prepareMigration(ctx, s)
	case protocol.CmdMigrateVM:
		var r protocol.MigrateVM
		if err := decode(cmd, &r); err != nil {
			return nil, err
		}
		m, ok := d.(hypervisor.Migrator)
		if !ok {
			return nil, errors.New("this hypervisor cannot migrate VMs")
		}
		to := hypervisor.MigrationTarget{URI: r.Target.URI, ConsoleLog: r.Target.ConsoleLog, ConfigDrive: r.Target.ConfigDrive}
		if to.URI == "" {
			to.URI = r.TargetHostID
		}
		return nil, m.MigrateVM(ctx, r.Name, to)
	case protocol.CmdScaleVM:
		var r protocol.ScaleVM
		if err := decode(cmd, &r); err != nil {
			return nil, err
		}
		sc, ok := d.(hypervisor.Scaler)
		if !ok {
			return nil, errors.New("this hypervisor cannot scale running VMs")
		}
		return nil, sc.ScaleVM(ctx, r.Name, r.CPUs, r.SpeedMHz, r.MemoryBytes)
	case protocol.CmdStopVM, protocol.CmdRebootVM, protocol.CmdDestroyVM:
		var r protocol.VMRef
		if err := decode(cmd, &r); err != nil {
			return nil, err
		}
		switch cmd.Name {
		case protocol.CmdStopVM:
			return nil, d.StopVM(ctx, r.Name, r.Force)
		case protocol.CmdRebootVM:
			return nil, d.RebootVM(ctx, r.Name)
		}
		return nil, d.DestroyVM(ctx, r.Name)
	case protocol.CmdModifyStoragePool:
		if a.cfg.Storage == nil {
			return nil, errUnsupported(cmd.Name)
		}
		var r protocol.PoolRef
		if err := decode(cmd, &r); err != nil {
			return nil, err
		}
		return a.poolStats(ctx, r)
	case protocol.CmdDownloadTemplate:
		if a.cfg.Storage == nil {
			return nil, errUnsupported(cmd.Name)
		}
		var r protocol.DownloadTemplate
		if err := decode(cmd, &r); err != nil {
			return nil, err
		}
		return a.downloadTemplate(ctx, r)
	case protocol.CmdReconnect:
		// Answer first, then drop the connection.
		time.AfterFunc(50*time.Millisecond, a.Drop)
		return nil, nil
	}
	if body, ok, err := a.transferCommand(ctx, cmd); ok { // file chunks and copies out: transfer.go
		return body, err
	}
	if body, ok, err := a.storageCommand(ctx, cmd); ok { // volumes and snapshots: storage_commands.go
		return body, err
	}
	if body, ok, err := a.isoCommand(ctx, cmd); ok { // attachIso, detachIso: iso.go
		return body, err
	}
	if body, ok, err := a.networkCommand(ctx, cmd); ok { // bridges, routers, security groups: network.go
		return body, err
	}
	return nil, errors.New("unsupported command " + cmd.Name)
}

// driverSpec converts a wire VMSpec to the driver's.
func driverSpec(s protocol.VMSpec) hypervisor.VMSpec {
	out := hypervisor.VMSpec{Name: s.Name, UUID: s.UUID, Hostname: s.Hostname, CPUs: s.CPUs, SpeedMHz: s.SpeedMHz,
		MemoryBytes: s.MemoryBytes, Details: s.Details, UserData: s.UserData, SSHKeys: s.SSHKeys, BootISO: s.BootISO, OSType: s.OSType}
	if s.ConfigDrive || s.UserData != "" || len(s.SSHKeys) > 0 || s.Password != "" {
		out.ConfigDrive = &hypervisor.ConfigDrive{Password: s.Password}
	}
	for _, d := range s.Disks {
		out.Disks = append(out.Disks, hypervisor.DiskSpec{VolumeID: d.VolumeID, Type: d.Type, DeviceID: d.DeviceID, Path: d.Path,
			PoolID: d.PoolID, Size: d.Size, Format: d.Format, Template: d.Template})
	}
	for _, n := range s.Nics {
		out.Nics = append(out.Nics, hypervisor.NicSpec{MAC: n.MAC, IP: n.IP, Netmask: n.Netmask, Gateway: n.Gateway,
			BroadcastURI: n.BroadcastURI, DeviceID: n.DeviceID, IsDefault: n.IsDefault, NetworkID: n.NetworkID})
	}
	return out
}
