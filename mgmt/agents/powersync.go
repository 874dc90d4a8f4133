package agents

import "context"

// Go runs f in the background for as long as the manager runs: f's context ends when the
// manager stops, and Stop waits for f to return. The API layer starts the VM power-state sync's
// companion loops (the expunge sweeper) with it; the sync itself is installed with
// OnPowerReport, which the registration and ping paths already call.
func (m *Manager) Go(f func(ctx context.Context)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping || m.ctx == nil {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f(m.ctx)
	}()
}
