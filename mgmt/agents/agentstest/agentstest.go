// Package agentstest helps tests of hosts and agents: it makes a zone, pod and cluster with
// SQL (the zone, pod and cluster commands are not needed for that) and waits for host states.
package agentstest

import (
	"context"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/google/uuid"
)

// Infra is a zone with one pod and one cluster.
type Infra struct{ Zone, Pod, Cluster string }

// MakeInfra inserts a zone, a pod and a cluster of the given hypervisor.
func MakeInfra(t testing.TB, d *db.DB, hypervisor string) Infra {
	t.Helper()
	in := Infra{Zone: uuid.NewString(), Pod: uuid.NewString(), Cluster: uuid.NewString()}
	now := db.Now()
	ctx := context.Background()
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO zones (id, name, network_type, allocation_state, zone_token, created) VALUES (?, ?, 'Advanced', 'Enabled', ?, ?)`,
			[]any{in.Zone, "zone-" + in.Zone[:8], uuid.NewString(), now}},
		{`INSERT INTO pods (id, zone_id, name, allocation_state, created) VALUES (?, ?, ?, 'Enabled', ?)`,
			[]any{in.Pod, in.Zone, "pod-" + in.Pod[:8], now}},
		{`INSERT INTO clusters (id, zone_id, pod_id, name, hypervisor_type, cluster_type, allocation_state, created)
			VALUES (?, ?, ?, ?, ?, 'CloudManaged', 'Enabled', ?)`, []any{in.Cluster, in.Zone, in.Pod, "cluster-" + in.Cluster[:8], hypervisor, now}},
	}
	for _, s := range stmts {
		if _, err := d.SQL.ExecContext(ctx, s.q, s.args...); err != nil {
			t.Fatalf("make infrastructure: %v", err)
		}
	}
	return in
}

// WaitHost polls a host until ok, failing the test after within; it returns the host and how
// long it took.
func WaitHost(t testing.TB, d *db.DB, id string, within time.Duration, what string, ok func(*db.Host) bool) (*db.Host, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		h, err := db.GetHost(context.Background(), d.Read(), id)
		if err == nil && ok(h) {
			return h, time.Since(start)
		}
		if time.Since(start) > within {
			if h != nil {
				t.Fatalf("host %s: %s not reached within %v (status %s, resource %s, owner %s)", id, what, within, h.Status, h.ResourceState, h.Owner)
			}
			t.Fatalf("host %s: %s not reached within %v: %v", id, what, within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Status matches a host status.
func Status(s string) func(*db.Host) bool { return func(h *db.Host) bool { return h.Status == s } }
