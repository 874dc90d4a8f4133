package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/agents/agentstest"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

func addSimHost(t *testing.T, e *mgmttest.Env, in agentstest.Infra, path string, extra map[string]string) map[string]any {
	t.Helper()
	p := map[string]string{"zoneid": in.Zone, "podid": in.Pod, "clusterid": in.Cluster, "hypervisor": "Simulator",
		"url": "http://sim/" + path, "username": "root", "password": "x"}
	for k, v := range extra {
		p[k] = v
	}
	res := mgmttest.Do(t, e.Admin, "addHost", p)
	hosts, ok := res["host"].([]any)
	if !ok || len(hosts) != 1 {
		t.Fatalf("addHost must answer a list of one host: %v", res)
	}
	return hosts[0].(map[string]any)
}

func TestSimulatedHostLifecycle(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	in := agentstest.MakeInfra(t, e.Server.DB, "Simulator")
	start := time.Now()
	h := addSimHost(t, e, in, "c0/h0", map[string]string{"hosttags": "ssd,fast"})
	took := time.Since(start)
	if h["state"] != "Up" || h["resourcestate"] != "Enabled" || h["type"] != "Routing" || h["hypervisor"] != "Simulator" ||
		h["name"] != "h0" || h["hosttags"] != "ssd,fast" || h["clusterid"] != in.Cluster || h["podid"] != in.Pod ||
		h["cpunumber"].(float64) != 4 || h["cpuspeed"].(float64) != 8000 || h["memorytotal"].(float64) != 8<<30 ||
		h["managementserverid"] != e.Server.ID || h["cpuallocated"] != "0.00%" {
		t.Fatalf("added host: %v", h)
	}
	t.Logf("addHost answered with the simulated host Up after %v", took.Round(time.Millisecond))
	id := h["id"].(string)

	// It answers a command through the whole path: API server -> agents manager -> pipe -> agent.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	ans, err := e.Server.Agents.Send(ctx, id, protocol.CmdEcho, map[string]string{"hello": "agent"})
	if err != nil || !ans.OK || !strings.Contains(string(ans.Body), "agent") {
		t.Fatalf("echo: %v %+v", err, ans)
	}

	// The capacity ledger holds its totals.
	c, err := db.HostCapacityRows(ctx, e.Server.DB.Read(), []string{id})
	if err != nil || c[id][db.CapCPU].Total != 4*8000 || c[id][db.CapMemory].Total != 8<<30 || c[id][db.CapCPUCore].Total != 4 ||
		c[id][db.CapCPU].ClusterID != in.Cluster {
		t.Fatalf("capacity: %v %+v", err, c[id])
	}

	// The same URL twice in one cluster is refused.
	mgmttest.Fail(t, e.Admin, "addHost", map[string]string{"zoneid": in.Zone, "podid": in.Pod, "clusterid": in.Cluster,
		"hypervisor": "Simulator", "url": "http://sim/c0/h0"}, 431)

	// listHosts filters.
	for _, tc := range []struct {
		params map[string]string
		want   int
	}{
		{nil, 1},
		{map[string]string{"zoneid": in.Zone}, 1},
		{map[string]string{"type": "routing"}, 1},
		{map[string]string{"type": "SecondaryStorage"}, 0},
		{map[string]string{"state": "up", "resourcestate": "Enabled"}, 1},
		{map[string]string{"state": "Down"}, 0},
		{map[string]string{"hypervisor": "simulator", "keyword": "h"}, 1},
		{map[string]string{"name": "h0", "clusterid": in.Cluster}, 1},
		{map[string]string{"id": id}, 1},
		{map[string]string{"keyword": "nomatch"}, 0},
	} {
		got := mgmttest.Do(t, e.Admin, "listHosts", tc.params)
		if n, _ := got["count"].(float64); int(n) != tc.want {
			t.Errorf("listHosts %v: %v, want %d", tc.params, got, tc.want)
		}
		if tc.want == 0 && len(got) != 0 {
			t.Errorf("empty listHosts must be {}: %v", got)
		}
	}

	// updateHost: tags, disable, enable.
	u := mgmttest.Do(t, e.Admin, "updateHost", map[string]string{"id": id, "hosttags": "gpu", "allocationstate": "Disable"})["host"].(map[string]any)
	if u["hosttags"] != "gpu" || u["resourcestate"] != "Disabled" {
		t.Fatalf("updateHost: %v", u)
	}
	u = mgmttest.Do(t, e.Admin, "updateHost", map[string]string{"id": id, "allocationstate": "Enable", "name": "renamed"})["host"].(map[string]any)
	if u["resourcestate"] != "Enabled" || u["name"] != "renamed" {
		t.Fatalf("updateHost enable: %v", u)
	}
	mgmttest.Fail(t, e.Admin, "updateHost", map[string]string{"id": id, "allocationstate": "Sideways"}, 431)

	// deleteHost is refused while the host is Up and Enabled.
	mgmttest.Fail(t, e.Admin, "deleteHost", map[string]string{"id": id}, 530)

	// Maintenance, as Ansible's cs_host drives it.
	m := mgmttest.DoAsync(t, e.Admin, "prepareHostForMaintenance", map[string]string{"id": id})["host"].(map[string]any)
	if m["resourcestate"] != "Maintenance" {
		t.Fatalf("prepareHostForMaintenance: %v", m)
	}
	mgmttest.Fail(t, e.Admin, "prepareHostForMaintenance", map[string]string{"id": id}, 431)
	mgmttest.Fail(t, e.Admin, "updateHost", map[string]string{"id": id, "allocationstate": "Enable"}, 431)
	m = mgmttest.DoAsync(t, e.Admin, "cancelHostMaintenance", map[string]string{"id": id})["host"].(map[string]any)
	if m["resourcestate"] != "Enabled" {
		t.Fatalf("cancelHostMaintenance: %v", m)
	}
	mgmttest.Fail(t, e.Admin, "cancelHostMaintenance", map[string]string{"id": id}, 431)

	// reconnectHost restarts the simulated agent: the host comes back Up with the same id.
	r := mgmttest.DoAsync(t, e.Admin, "reconnectHost", map[string]string{"id": id})["host"].(map[string]any)
	if r["state"] != "Up" || r["id"] != id {
		t.Fatalf("reconnectHost: %v", r)
	}

	// Into maintenance again, then delete: the host and its capacity rows are gone.
	mgmttest.DoAsync(t, e.Admin, "prepareHostForMaintenance", map[string]string{"id": id})
	if got := mgmttest.Do(t, e.Admin, "deleteHost", map[string]string{"id": id}); got["success"] != true {
		t.Fatalf("deleteHost: %v", got)
	}
	if got := mgmttest.Do(t, e.Admin, "listHosts", nil); len(got) != 0 {
		t.Fatalf("listHosts after delete: %v", got)
	}
	c, _ = db.HostCapacityRows(ctx, e.Server.DB.Read(), []string{id})
	if len(c[id]) != 0 {
		t.Fatalf("capacity rows left after delete: %v", c[id])
	}
	if e.Server.Agents.Connected(id) {
		t.Fatal("the deleted host's agent is still connected")
	}
	body, _ := json.Marshal(h)
	_ = body
}

func TestAddHostRefusesBadPlacement(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	in := agentstest.MakeInfra(t, e.Server.DB, "Simulator")
	kvm := agentstest.MakeInfra(t, e.Server.DB, "KVM")
	base := func(kv ...string) map[string]string {
		p := map[string]string{"zoneid": in.Zone, "podid": in.Pod, "clusterid": in.Cluster, "hypervisor": "Simulator", "url": "http://sim/c/h"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(p, kv[i])
			} else {
				p[kv[i]] = kv[i+1]
			}
		}
		return p
	}
	for name, p := range map[string]map[string]string{
		"unknown zone":        base("zoneid", "00000000-0000-4000-8000-000000000000"),
		"pod of another zone": base("podid", kvm.Pod),
		"cluster elsewhere":   base("clusterid", kvm.Cluster),
		"no cluster":          base("clusterid", ""),
		"bad hypervisor":      base("hypervisor", "XenServer"),
		"wrong hypervisor":    base("hypervisor", "KVM"),
		"bad allocation":      base("allocationstate", "Maybe"),
	} {
		t.Run(name, func(t *testing.T) { mgmttest.Fail(t, e.Admin, "addHost", p, 431) })
	}
	if got := mgmttest.Do(t, e.Admin, "listHosts", nil); len(got) != 0 {
		t.Fatalf("refused addHost left hosts: %v", got)
	}
}
