package api

import (
	"context"
	"strconv"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/host"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
)

// startCompute installs the VM power-state sync on the agents manager and starts the expunge
// sweeper, both for as long as the manager runs (host.RunCompute).
func (s *Server) startCompute(m host.Agents) {
	host.RunCompute(m, func(ctx context.Context) *orchestrate.Deps { return (&Call{Ctx: ctx, S: s}).deps() }, s.Log, s.sweepExpunged)
}

// settingInt reads an integer setting (global), with a fallback.
func (s *Server) settingInt(ctx context.Context, name string, fallback int64) int64 {
	v, err := s.Config.Get(ctx, config.Global, "", name)
	if err != nil {
		return fallback
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fallback
	}
	return n
}

// sweepExpunged expunges, every expunge.interval seconds, the VMs destroyed (or failed at
// deploy) more than expunge.delay seconds ago. Every management server runs it: the move to
// Expunging is a conditional update, so each VM is expunged by one of them.
func (s *Server) sweepExpunged(ctx context.Context) {
	var last time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		interval := time.Duration(s.settingInt(ctx, "expunge.interval", 86400)) * time.Second
		if time.Since(last) < interval {
			continue
		}
		last = time.Now()
		if err := s.SweepOnce(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("expunge sweep failed", "err", err)
		}
	}
}

// SweepOnce expunges the VMs due now (vm.SweepOnce).
func (s *Server) SweepOnce(ctx context.Context) error {
	delay := s.settingInt(ctx, "expunge.delay", 86400) * 1000
	c := &Call{Ctx: ctx, S: s}
	return vm.SweepOnce(ctx, c.deps(), db.Now()-delay)
}
