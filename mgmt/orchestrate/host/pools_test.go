package host

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// poolAgent answers ModifyStoragePool as a host whose pools are reachable or not.
type poolAgent struct {
	reach   bool
	lost    bool // the host does not answer at all
	answers int
}

func (a *poolAgent) Send(ctx context.Context, hostID, name string, body any) (*protocol.Answer, error) {
	a.answers++
	if a.lost {
		return nil, errors.New("agents: host not connected")
	}
	if !a.reach {
		return &protocol.Answer{OK: false, Error: "pool p1: check: dial tcp 127.0.0.1:2049: connection refused"}, nil
	}
	raw, _ := json.Marshal(protocol.PoolStats{CapacityBytes: 100 << 30, UsedBytes: 10 << 30, AvailableBytes: 90 << 30})
	return &protocol.Answer{OK: true, Body: raw}, nil
}

// TestSyncPoolsReach: a pool its host answers it cannot reach goes from Up to Down with an
// alert and out of the planner's candidates; reached again it is Up with an alert and a
// candidate again; a host that does not answer changes nothing; a Disabled pool stays
// Disabled either way.
func TestSyncPoolsReach(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, "sqlite://"+filepath.Join(t.TempDir(), "atoll.db"), true)
	agent := &poolAgent{reach: true}
	deps := &orchestrate.Deps{DB: d, Ledger: planner.New(nil), Agents: agent}
	h := &db.Host{ID: "h1", Name: "kvm-1", GUID: "g1", Type: db.HostTypeRouting, ZoneID: "z1", ClusterID: "c1", HypervisorType: "KVM",
		Status: "Up", ResourceState: db.HostResourceEnabled}
	if err := db.InsertHost(ctx, d.SQL, h); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*db.StoragePool{
		{ID: "p1", Name: "primary-1", ZoneID: "z1", ClusterID: "c1", Scope: "CLUSTER", PoolType: "NetworkFilesystem", URL: "nfs://127.0.0.1/export/p1",
			Provider: "DefaultPrimary", Status: db.PoolUp},
		{ID: "p2", Name: "primary-2", ZoneID: "z1", ClusterID: "c1", Scope: "CLUSTER", PoolType: "NetworkFilesystem", URL: "nfs://127.0.0.1/export/p2",
			Provider: "DefaultPrimary", Status: db.PoolDisabled},
	} {
		if err := db.InsertStoragePool(ctx, d.SQL, p); err != nil {
			t.Fatal(err)
		}
	}
	state := func(id string) string {
		t.Helper()
		p, err := db.GetStoragePool(ctx, d.Read(), id)
		if err != nil {
			t.Fatal(err)
		}
		return p.Status
	}
	alerts := func() []string {
		t.Helper()
		list, _, err := db.ListAlerts(ctx, d.Read(), db.AlertFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range list {
			if a.Type != db.AlertStorageMisc || a.ZoneID != "z1" {
				t.Errorf("alert %+v: want ALERT.STORAGE.MISC in zone z1", a)
			}
			out = append(out, a.Subject)
		}
		return out
	}
	candidate := func() bool {
		t.Helper()
		pools, err := planner.Pools(ctx, d.Read(), "z1")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pools {
			if p.ID == "p1" {
				return true
			}
		}
		return false
	}

	if err := SyncPools(ctx, deps, "h1"); err != nil {
		t.Fatal(err)
	}
	if state("p1") != db.PoolUp || state("p2") != db.PoolDisabled || len(alerts()) != 0 || !candidate() {
		t.Fatalf("reachable: p1 %s, p2 %s, alerts %v, candidate %v", state("p1"), state("p2"), alerts(), candidate())
	}

	agent.lost = true
	if err := SyncPools(ctx, deps, "h1"); err == nil {
		t.Error("SyncPools with the host not answering: no error")
	}
	if state("p1") != db.PoolUp || len(alerts()) != 0 {
		t.Fatalf("host not answering: p1 %s, alerts %v", state("p1"), alerts())
	}

	agent.lost, agent.reach = false, false
	if err := SyncPools(ctx, deps, "h1"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("SyncPools with the pool unreachable: %v", err)
	}
	if state("p1") != db.PoolDown || state("p2") != db.PoolDisabled || candidate() {
		t.Fatalf("unreachable: p1 %s, p2 %s, candidate %v", state("p1"), state("p2"), candidate())
	}
	if a := alerts(); len(a) != 1 || !strings.Contains(a[0], "primary-1") || !strings.Contains(a[0], "Down") || !strings.Contains(a[0], "kvm-1") {
		t.Fatalf("alerts after the pool went Down: %q", a)
	}
	_ = SyncPools(ctx, deps, "h1") // still unreachable: no second alert
	if a := alerts(); len(a) != 1 {
		t.Fatalf("alerts after a second failed check: %q", a)
	}

	agent.reach = true
	if err := SyncPools(ctx, deps, "h1"); err != nil {
		t.Fatal(err)
	}
	if state("p1") != db.PoolUp || state("p2") != db.PoolDisabled || !candidate() {
		t.Fatalf("reachable again: p1 %s, p2 %s, candidate %v", state("p1"), state("p2"), candidate())
	}
	if a := alerts(); len(a) != 2 || !strings.Contains(a[0]+a[1], "is Up") {
		t.Fatalf("alerts after the pool came back: %q", a)
	}
}
