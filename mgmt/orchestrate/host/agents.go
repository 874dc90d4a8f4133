package host

import (
	"context"
	"log/slog"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/agents"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
)

// Agents is what the workflows need of the agents manager (*agents.Manager): the management
// server hands its manager to the API as an Agents, and the API passes it on in the Deps.
type Agents interface {
	Send(ctx context.Context, hostID, name string, body any) (*protocol.Answer, error)
	ServerID() string
	StartSimulator(ctx context.Context, hostID string) error
	StopSimulator(hostID string) bool
	Disconnect(hostID string)
	CreateToken(ctx context.Context, q db.Querier, zoneID, podID, clusterID string, validity time.Duration, count int) (*agents.Token, error)
	Addrs() []string
	SetSimulatorFault(ctx context.Context, scopeType, scopeID, command string, latency time.Duration, fail bool, message string) error
	ClearSimulatorFaults(ctx context.Context, scopeType, scopeID, command string) error
	OnPowerReport(f agents.PowerReport)
	OnConnect(f func(ctx context.Context, hostID string))
	Go(f func(ctx context.Context))
}

var _ Agents = (*agents.Manager)(nil)

// Manager is the agents manager the deps carry, or CloudStack's error when this management
// server runs none.
func Manager(d *orchestrate.Deps) (Agents, error) {
	if m, ok := d.Agents.(Agents); ok && m != nil {
		return m, nil
	}
	return nil, orchestrate.ErrInternal("the agents manager is not running on this management server")
}

// RunCompute installs the VM power-state sync (vm.PowerSync, with deps built for each report)
// and the storage pool sync of real hosts (SyncPools) on the agents manager, and runs sweep
// for as long as the manager runs.
func RunCompute(m Agents, deps func(ctx context.Context) *orchestrate.Deps, log *slog.Logger, sweep func(ctx context.Context)) {
	power := vm.PowerSync(deps, log)
	pools := &poolSync{deps: deps, log: log, last: map[string]time.Time{}}
	m.OnPowerReport(func(ctx context.Context, hostID string, full bool, vms []protocol.VMState) {
		power(ctx, hostID, full, vms)
		if full {
			pools.maybe(ctx, hostID)
		}
	})
	m.OnConnect(func(ctx context.Context, hostID string) {
		if err := network.HostSync(ctx, deps(ctx), hostID); err != nil {
			log.Warn("guest networking sync of a connected host", "host", hostID, "err", err)
		}
	})
	m.Go(sweep)
	m.Go(func(ctx context.Context) { network.WatchRouters(ctx, deps(ctx), RouterWatchInterval) })
}

// RouterWatchInterval is how often each management server looks for routers whose host went
// Down (network.WatchRouters).
const RouterWatchInterval = 2 * time.Second
