package allinone

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"

	"github.com/atollcloud/atoll/agent"
	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/network/bridge"
)

// trackedBridges is the agent's network driver, remembering the bridges it handed out so that
// Stop can remove them once their guests are gone.
type trackedBridges struct {
	agent.Bridges
	mu    sync.Mutex
	names map[string]bool
}

func (t *trackedBridges) BridgeFor(ctx context.Context, nic protocol.NicSpec) (string, error) {
	name, err := t.Bridges.BridgeFor(ctx, nic)
	if err == nil {
		t.mu.Lock()
		if t.names == nil {
			t.names = map[string]bool{}
		}
		t.names[name] = true
		t.mu.Unlock()
	}
	return name, err
}

// removeIdle removes the bridges handed out that no guest uses any more (a bridge with a
// guest's tap on it, whose guest a system libvirtd keeps running, stays), and closes the
// manager.
func (t *trackedBridges) removeIdle(ctx context.Context, log *slog.Logger) error {
	t.mu.Lock()
	names := make([]string, 0, len(t.names))
	for n := range t.names {
		names = append(names, n)
	}
	t.mu.Unlock()
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		err := t.Manager.Remove(ctx, n, false)
		switch {
		case errors.Is(err, bridge.ErrBusy):
			log.Info("bridge still used by a guest: left", "bridge", n)
		case err != nil:
			errs = append(errs, err)
		}
	}
	t.Manager.Close()
	return errors.Join(errs...)
}
