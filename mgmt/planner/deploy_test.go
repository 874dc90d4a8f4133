package planner_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

// placeEnv is a zone with one pod and two clusters (a and b) of two hosts each (4 × 1000 MHz,
// 4 GiB) and one cluster pool each.
type placeEnv struct {
	*env
	zone, pod, ca, cb string
	hosts             map[string][]string // cluster -> hosts
	pools             map[string]string
}

func newPlaceEnv(t *testing.T) *placeEnv {
	e := &placeEnv{env: sqliteEnv(t), zone: uuid.NewString(), pod: uuid.NewString(), ca: uuid.NewString(), cb: uuid.NewString(),
		hosts: map[string][]string{}, pools: map[string]string{}}
	ctx := context.Background()
	if err := db.InsertPod(ctx, e.d.SQL, &db.Pod{ID: e.pod, ZoneID: e.zone, Name: "p", AllocationState: "Enabled", Created: 1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{e.ca, e.cb} {
		if err := db.InsertCluster(ctx, e.d.SQL, &db.Cluster{ID: c, ZoneID: e.zone, PodID: e.pod, Name: "c-" + c[:6], HypervisorType: "Simulator",
			ClusterType: "CloudManaged", AllocationState: "Enabled", ManagedState: "Managed", Arch: "x86_64", Created: 1}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			e.hosts[c] = append(e.hosts[c], e.host(t, e.zone, e.pod, c, 4, 1000, 4*gib))
		}
		e.pools[c] = e.pool(t, e.zone, e.pod, c, 100*gib)
	}
	return e
}

func (e *placeEnv) deploy(t *testing.T, req planner.Request, disks ...planner.DiskRequest) (*planner.Placement, error) {
	t.Helper()
	req.ZoneID = e.zone
	var pl *planner.Placement
	err := e.tx(t, func(tx db.Tx) error {
		var err error
		pl, err = e.l.Deploy(context.Background(), tx, req, disks)
		return err
	})
	return pl, err
}

func TestDeployPlanner(t *testing.T) {
	e := newPlaceEnv(t)
	ctx := context.Background()
	need := planner.Compute{CPUMHz: 1000, Cores: 1, Memory: gib}
	e.set(t, config.Global, "", planner.AlgorithmSetting, "firstfit")

	// First fit fills the first host of the first cluster first, its cluster's pool too.
	pl, err := e.deploy(t, planner.Request{Need: need}, planner.DiskRequest{Size: gib})
	if err != nil {
		t.Fatal(err)
	}
	first := pl.HostID
	if pl2, _ := e.deploy(t, planner.Request{Need: need}); pl2 == nil || pl2.HostID != first {
		t.Fatalf("first fit moved on from a host with room: %v", pl2)
	}
	if pl.Pools[0] != e.pools[pl.ClusterID] {
		t.Fatalf("the volume went to another cluster's pool")
	}

	// Host tags: only a host carrying the offering's tag qualifies.
	tagged := e.hosts[e.cb][1]
	if _, err := e.d.SQL.Exec("UPDATE hosts SET host_tags = 'ssd,fast' WHERE id = ?", tagged); err != nil {
		t.Fatal(err)
	}
	if pl, err := e.deploy(t, planner.Request{Need: need, HostTag: "SSD"}); err != nil || pl.HostID != tagged {
		t.Fatalf("host tag: %v %v", pl, err)
	}
	if _, err := e.deploy(t, planner.Request{Need: need, HostTag: "gpu"}); !errors.Is(err, planner.ErrNoDeployment) {
		t.Fatalf("an unknown host tag: %v", err)
	}

	// Hypervisor: only hosts running the template's qualify (DeferTake: chosen, nothing taken,
	// so that the later steps see the same capacity whichever hosts these choose).
	if _, err := e.d.SQL.Exec("UPDATE hosts SET hypervisor_type = 'KVM' WHERE cluster_id = ?", e.cb); err != nil {
		t.Fatal(err)
	}
	if pl, err := e.deploy(t, planner.Request{Need: need, Hypervisor: "KVM", DeferTake: true}); err != nil || pl.ClusterID != e.cb || pl.Hypervisor != "KVM" {
		t.Fatalf("hypervisor KVM: %v %v", pl, err)
	}
	if pl, err := e.deploy(t, planner.Request{Need: need, Hypervisor: "Simulator", DeferTake: true}); err != nil || pl.ClusterID != e.ca || pl.Hypervisor != "Simulator" {
		t.Fatalf("hypervisor Simulator: %v %v", pl, err)
	}
	if _, err := e.deploy(t, planner.Request{Need: need, Hypervisor: "XenServer", DeferTake: true}); !errors.Is(err, planner.ErrNoDeployment) || !strings.Contains(err.Error(), "hypervisor") {
		t.Fatalf("no XenServer host: %v", err)
	}
	if _, err := e.d.SQL.Exec("UPDATE hosts SET hypervisor_type = 'Simulator' WHERE cluster_id = ?", e.cb); err != nil {
		t.Fatal(err)
	}

	// A disabled cluster is skipped; a disabled host too.
	if _, err := e.d.SQL.Exec("UPDATE clusters SET allocation_state = 'Disabled' WHERE id = ?", e.ca); err != nil {
		t.Fatal(err)
	}
	if pl, err := e.deploy(t, planner.Request{Need: need, ClusterID: e.ca}); err == nil {
		t.Fatalf("deployed into a disabled cluster: %v", pl)
	}
	if _, err := e.d.SQL.Exec("UPDATE clusters SET allocation_state = 'Enabled' WHERE id = ?", e.ca); err != nil {
		t.Fatal(err)
	}

	// Anti-affinity and affinity.
	avoid := map[string]bool{}
	for _, h := range append(e.hosts[e.ca], e.hosts[e.cb][0]) {
		avoid[h] = true
	}
	if pl, err := e.deploy(t, planner.Request{Need: need, Avoid: avoid}); err != nil || pl.HostID != e.hosts[e.cb][1] {
		t.Fatalf("anti-affinity: %v %v", pl, err)
	}
	if pl, err := e.deploy(t, planner.Request{Need: need, Require: map[string]bool{e.hosts[e.cb][0]: true}}); err != nil || pl.HostID != e.hosts[e.cb][0] {
		t.Fatalf("affinity: %v %v", pl, err)
	}

	// The memory over-provisioning factor admits more than the host has.
	big := planner.Compute{CPUMHz: 100, Memory: 6 * gib}
	e.set(t, config.Global, "", planner.MemThresholdSetting, "1")
	if _, err := e.deploy(t, planner.Request{Need: big}); !errors.Is(err, planner.ErrNoDeployment) {
		t.Fatalf("6 GiB on 4 GiB hosts: %v", err)
	}
	e.set(t, config.Cluster, e.cb, planner.MemFactorSetting, "2")
	if pl, err := e.deploy(t, planner.Request{Need: big}); err != nil || pl.ClusterID != e.cb {
		t.Fatalf("with factor 2 in cluster b: %v %v", pl, err)
	}

	// Nothing left: a refusal reserves nothing.
	before, _ := db.ListCapacity(ctx, e.d.Read(), db.CapacityFilter{})
	if _, err := e.deploy(t, planner.Request{Need: planner.Compute{CPUMHz: 100000, Memory: gib}}, planner.DiskRequest{Size: gib}); !errors.Is(err, planner.ErrNoDeployment) {
		t.Fatalf("too much cpu: %v", err)
	}
	after, _ := db.ListCapacity(ctx, e.d.Read(), db.CapacityFilter{})
	for i := range before {
		if before[i].Used != after[i].Used {
			t.Fatalf("a refused deploy changed %v", after[i])
		}
	}
}

// User dispersing: the account's next VM goes to a host where it has the fewest.
func TestUserDispersing(t *testing.T) {
	e := newPlaceEnv(t)
	acct := uuid.NewString()
	if _, err := e.d.SQL.Exec(`INSERT INTO vm_instances (id, name, account_id, domain_id, zone_id, host_id, service_offering_id, state, cpu_number,
		cpu_speed, memory, created) VALUES (?, 'x', ?, 'd', ?, ?, 'so', 'Running', 0, 0, 0, 1)`, uuid.NewString(), acct, e.zone, e.hosts[e.ca][1]); err != nil {
		t.Fatal(err)
	}
	small := planner.Compute{CPUMHz: 1, Memory: 1}
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		pl, err := e.deploy(t, planner.Request{Need: small, AccountID: acct, Planner: planner.UserDispersingPlanner})
		if err != nil {
			t.Fatal(err)
		}
		if pl.HostID == e.hosts[e.ca][1] {
			t.Fatal("user dispersing chose the host where the account already runs a vm")
		}
		if _, err := e.d.SQL.Exec(`INSERT INTO vm_instances (id, name, account_id, domain_id, zone_id, host_id, service_offering_id, state,
			cpu_number, cpu_speed, memory, created) VALUES (?, 'x', ?, 'd', ?, ?, 'so', 'Running', 0, 0, 0, 1)`, uuid.NewString(), acct, e.zone, pl.HostID); err != nil {
			t.Fatal(err)
		}
		if seen[pl.HostID] {
			t.Fatalf("user dispersing reused host %s before using every host", pl.HostID)
		}
		seen[pl.HostID] = true
	}
}
