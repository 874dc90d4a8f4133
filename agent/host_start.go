package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
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

// prepareMigration readies this host to take a running VM: on a real host its NICs' bridges
// are made and its disks found on their (shared) pools, none created; the driver answers
// where it takes the VM.
func (a *Agent) prepareMigration(ctx context.Context, s protocol.VMSpec) (protocol.MigrationTarget, error) {
	m, ok := a.cfg.Driver.(hypervisor.Migrator)
	if !ok {
		return protocol.MigrationTarget{}, errors.New("this hypervisor cannot migrate VMs")
	}
	spec := driverSpec(s)
	if a.cfg.Network != nil {
		for i, n := range s.Nics {
			br, err := a.cfg.Network.BridgeFor(ctx, n)
			if err != nil {
				return protocol.MigrationTarget{}, fmt.Errorf("nic %d of %s: %w", n.DeviceID, s.Name, err)
			}
			spec.Nics[i].Bridge = br
		}
	}
	if a.cfg.Storage != nil {
		if s.BootISOSource != nil {
			src, err := a.cfg.Storage.ISOSource(ctx, *s.BootISOSource)
			if err != nil {
				return protocol.MigrationTarget{}, fmt.Errorf("iso of %s: %w", s.Name, err)
			}
			spec.BootISO, spec.BootISOSource = s.BootISOSource.Path, src
		}
		disks, err := a.cfg.Storage.FindDisks(ctx, s)
		if err != nil {
			return protocol.MigrationTarget{}, err
		}
		spec.Disks = disks
	}
	to, err := m.PrepareMigration(ctx, spec)
	if err != nil {
		return protocol.MigrationTarget{}, err
	}
	return protocol.MigrationTarget{URI: to.URI, ConsoleLog: to.ConsoleLog, ConfigDrive: to.ConfigDrive}, nil
}
