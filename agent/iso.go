package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
)

// isoCommand runs an ISO command (attachIso, detachIso on a running VM); ok is false for any
// other command name.
func (a *Agent) isoCommand(ctx context.Context, cmd protocol.Command) (body any, ok bool, err error) {
	if cmd.Name != protocol.CmdAttachISO && cmd.Name != protocol.CmdDetachISO {
		return nil, false, nil
	}
	ch, can := a.cfg.Driver.(hypervisor.ISOChanger)
	if !can || a.cfg.Storage == nil {
		return nil, true, errUnsupported(cmd.Name)
	}
	var r protocol.ISOCommand
	if err := decode(cmd, &r); err != nil {
		return nil, true, err
	}
	if r.VM == "" {
		return nil, true, fmt.Errorf("%s: no vm named", cmd.Name)
	}
	if cmd.Name == protocol.CmdDetachISO {
		return nil, true, ch.ChangeISO(ctx, r.VM, nil)
	}
	if r.ISO == nil {
		return nil, true, errors.New(cmd.Name + ": no iso named")
	}
	src, err := a.cfg.Storage.ISOSource(ctx, *r.ISO)
	if err != nil {
		return nil, true, fmt.Errorf("iso for %s: %w", r.VM, err)
	}
	return nil, true, ch.ChangeISO(ctx, r.VM, &src)
}
