package agents

import (
	"context"
	"fmt"
	"time"

	"github.com/atollcloud/atoll/db"
)

// monitor moves silent hosts to Alert and then Down, and starts orphaned simulated hosts.
// Every server runs it; each transition is a conditional update, so one server makes it.
func (m *Manager) monitor(ctx context.Context) {
	t := time.NewTicker(m.o.MonitorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.checkHosts(ctx)
		m.adoptSimulators(ctx)
	}
}

// checkHosts applies CloudStack's ping timeout: a host silent for ping.interval x
// ping.timeout goes to Alert; still silent one ping.interval later, it is Down. An agent
// that registered but was never added is forgotten when it goes silent.
func (m *Manager) checkHosts(ctx context.Context) {
	interval, factor := m.pingSettings(ctx)
	timeout := time.Duration(float64(interval) * factor)
	now := db.Now()
	silent, err := db.SilentHosts(ctx, m.db.Read(), now-timeout.Milliseconds(),
		db.HostStatusUp, db.HostStatusConnecting, db.HostStatusDisconnected)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("find silent hosts", "err", err)
		}
		return
	}
	for _, h := range silent {
		if h.Unbound() {
			_ = db.RemoveHost(ctx, m.db.SQL, h.ID, h.Version)
			continue
		}
		m.transition(ctx, h, db.HostStatusAlert, fmt.Sprintf("Host %s (id: %s) in zone %s, pod %s has not pinged for %v (ping.timeout): it is in Alert",
			h.Name, h.ID, h.ZoneName, h.PodName, time.Duration(now-h.LastPing)*time.Millisecond))
	}
	down, err := db.SilentHosts(ctx, m.db.Read(), now-(timeout+interval).Milliseconds(), db.HostStatusAlert)
	if err != nil {
		return
	}
	for _, h := range down {
		m.transition(ctx, h, db.HostStatusDown, fmt.Sprintf("Host is down, name: %s (id: %s), availability zone: %s, pod: %s",
			h.Name, h.ID, h.ZoneName, h.PodName))
	}
}

func (m *Manager) transition(ctx context.Context, h *db.Host, status, subject string) {
	err := m.db.Transaction(ctx, func(tx db.Tx) error {
		if err := db.SetHostStatus(ctx, tx, h.ID, h.Version, status); err != nil {
			return err
		}
		return db.InsertAlert(ctx, tx, &db.Alert{Type: db.AlertHost, ZoneID: h.ZoneID, PodID: h.PodID, ClusterID: h.ClusterID,
			Subject: subject})
	})
	if err != nil {
		return // another server (or a ping) changed the host first
	}
	m.log.Warn("host state changed", "host", h.ID, "name", h.Name, "from", h.Status, "to", status)
}
