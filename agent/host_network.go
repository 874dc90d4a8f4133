package agent

import (
	"context"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/network/bridge"
)

// Bridges is a real host's NetworkDriver: each guest network gets a Linux bridge (over a
// VLAN sub-interface or a VXLAN link when the host has uplinks for them).
type Bridges struct {
	Manager *bridge.Manager
	Uplinks bridge.Uplinks
}

// BridgeFor makes sure the bridge of the NIC's guest network exists and names it.
func (b *Bridges) BridgeFor(ctx context.Context, nic protocol.NicSpec) (string, error) {
	return b.Manager.EnsureFor(ctx, b.Uplinks, nic.BroadcastURI, nic.NetworkID)
}
