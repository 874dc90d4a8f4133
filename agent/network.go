package agent

import (
	"context"
	"fmt"

	"github.com/atollcloud/atoll/agent/protocol"
)

// GuestNetworking is what a real host does for guest networks beyond plugging NICs
// (NetworkDriver): each command carries the whole desired state of what it names, and the
// implementation (HostNetwork) converges the kernel on it.
type GuestNetworking interface {
	SetupNetwork(ctx context.Context, s protocol.NetworkSetup) error
	ApplyRouter(ctx context.Context, s protocol.RouterSpec) (*protocol.RouterApplied, error)
	RemoveRouter(ctx context.Context, r protocol.NetworkRef) error
	ApplySecurityGroups(ctx context.Context, s protocol.SecurityGroupState) error
	Sync(ctx context.Context, s protocol.NetworkSync) error
}

// capabilities answers the host's capabilities: its driver's, and guest networking when its
// network driver has it (the management server sends guest networking commands only then).
func (a *Agent) capabilities(driver []string) []string {
	out := append([]string{}, driver...)
	if _, ok := a.cfg.Network.(GuestNetworking); ok {
		out = append(out, protocol.CapGuestNetworking)
	}
	return out
}

// networkCommand runs a guest networking command; ok is false for any other command name. A
// host whose network driver has no guest networking (none, or bridges only) refuses them.
func (a *Agent) networkCommand(ctx context.Context, cmd protocol.Command) (body any, ok bool, err error) {
	switch cmd.Name {
	case protocol.CmdSetupNetwork, protocol.CmdApplyRouter, protocol.CmdRemoveRouter, protocol.CmdApplySecurityGroups,
		protocol.CmdSyncNetworks:
	default:
		return nil, false, nil
	}
	g, can := a.cfg.Network.(GuestNetworking)
	if !can {
		return nil, true, errUnsupported(cmd.Name)
	}
	switch cmd.Name {
	case protocol.CmdSetupNetwork:
		var s protocol.NetworkSetup
		if err := decode(cmd, &s); err != nil {
			return nil, true, err
		}
		if s.NetworkID == "" || s.BroadcastURI == "" {
			return nil, true, fmt.Errorf("%s: no network or broadcast URI", cmd.Name)
		}
		return nil, true, g.SetupNetwork(ctx, s)
	case protocol.CmdApplyRouter:
		var s protocol.RouterSpec
		if err := decode(cmd, &s); err != nil {
			return nil, true, err
		}
		if s.NetworkID == "" {
			return nil, true, fmt.Errorf("%s: no network", cmd.Name)
		}
		ans, err := g.ApplyRouter(ctx, s)
		return ans, true, err
	case protocol.CmdRemoveRouter:
		var r protocol.NetworkRef
		if err := decode(cmd, &r); err != nil {
			return nil, true, err
		}
		if r.NetworkID == "" {
			return nil, true, fmt.Errorf("%s: no network", cmd.Name)
		}
		return nil, true, g.RemoveRouter(ctx, r)
	case protocol.CmdApplySecurityGroups:
		var s protocol.SecurityGroupState
		if err := decode(cmd, &s); err != nil {
			return nil, true, err
		}
		return nil, true, g.ApplySecurityGroups(ctx, s)
	default:
		var s protocol.NetworkSync
		if err := decode(cmd, &s); err != nil {
			return nil, true, err
		}
		return nil, true, g.Sync(ctx, s)
	}
}
