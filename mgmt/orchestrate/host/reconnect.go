package host

import (
	"context"
	"strings"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/agents"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// reconnectWait bounds how long Reconnect waits for the agent to connect again.
var reconnectWait = 20 * time.Second

// Reconnect drops the host's agent connection and waits for the agent to connect again (a
// simulated host's agent is restarted; a real one is told to reconnect). It returns the host
// as last read, Up.
func Reconnect(ctx context.Context, d *orchestrate.Deps, id string) (*db.Host, error) {
	m, err := Manager(d)
	if err != nil {
		return nil, err
	}
	h, err := Load(ctx, d.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	sim := strings.HasPrefix(h.GUID, agents.SimGUIDPrefix)
	switch {
	case sim && (h.Owner == "" || h.Owner == m.ServerID() || h.Status != db.HostStatusUp):
		m.StopSimulator(h.ID)
		if err := m.StartSimulator(ctx, h.ID); err != nil {
			return nil, orchestrate.ErrInternal("Failed to reconnect host %s: %s", h.Name, d.Cause(err))
		}
	case h.Status == db.HostStatusUp || h.Status == db.HostStatusConnecting:
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ans, err := m.Send(cctx, h.ID, protocol.CmdReconnect, nil)
		cancel()
		if err != nil {
			return nil, orchestrate.ErrInternal("Failed to reconnect host %s: %s", h.Name, d.Cause(err))
		}
		if !ans.OK {
			return nil, orchestrate.ErrInternal("Failed to reconnect host %s: %s", h.Name, ans.Error)
		}
	default:
		return nil, orchestrate.ErrInternal("Host %s is %s: its agent is not connected to any management server, and reconnects by itself when it can reach one", h.Name, h.Status)
	}
	v0 := h.Version
	h, err = wait(ctx, d, h.ID, reconnectWait, func(n *db.Host) bool { return n.Version != v0 && n.Status == db.HostStatusUp })
	if err != nil {
		return nil, err
	}
	if h.Status != db.HostStatusUp {
		return nil, orchestrate.ErrInternal("Host %s did not reconnect within %v (state %s)", h.Name, reconnectWait, h.Status)
	}
	return h, nil
}
