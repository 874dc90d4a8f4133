package agent

import (
	"context"
	"fmt"

	"github.com/atollcloud/atoll/agent/protocol"
)

// NetworkDriver plugs a real host's VM NICs into its networks: it makes sure the bridge of
// the NIC's guest network exists and names it.
type NetworkDriver interface {
	BridgeFor(ctx context.Context, nic protocol.NicSpec) (string, error)
}

// startVM starts a VM. On a real host its disks are made ready on their pools first (new
// ones created, from their template when they are ROOT disks) and its NICs given bridges; a
// start that fails removes the disks it created, so nothing is left half-made.
func (a *Agent) startVM(ctx context.Context, s protocol.VMSpec) error {
	spec := driverSpec(s)
	if a.cfg.Network != nil {
		for i, n := range s.Nics {
			br, err := a.cfg.Network.BridgeFor(ctx, n)
			if err != nil {
				return fmt.Errorf("nic %d of %s: %w", n.DeviceID, s.Name, err)
			}
			spec.Nics[i].Bridge = br
		}
	}
	if a.cfg.Storage == nil {
		return a.cfg.Driver.StartVM(ctx, spec)
	}
	if s.BootISOSource != nil {
		// The ISO first: it creates nothing to undo.
		src, err := a.cfg.Storage.ISOSource(ctx, *s.BootISOSource)
		if err != nil {
			return fmt.Errorf("iso of %s: %w", s.Name, err)
		}
		spec.BootISO, spec.BootISOSource = s.BootISOSource.Path, src
	}
	disks, created, err := a.cfg.Storage.PrepareDisks(ctx, s)
	if err != nil {
		return err
	}
	spec.Disks = disks
	if err := a.cfg.Driver.StartVM(ctx, spec); err != nil {
		for i := len(created) - 1; i >= 0; i-- {
			if uerr := created[i](context.WithoutCancel(ctx)); uerr != nil {
				a.log.Warn("remove the disk of a VM that did not start", "vm", s.Name, "err", uerr)
			}
		}
		return err
	}
	return nil
}
