package agents_test

import (
	"context"
	"testing"
	"time"

	"github.com/atollcloud/atoll/agent"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/agents/agentstest"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// Two management servers on one database: an agent connected to A reaches commands issued on
// either server (B's go through agent_commands); when A shuts down, the agent moves to B, and
// B takes over A's simulated hosts.
func TestAgentMovesToAnotherServer(t *testing.T) {
	for _, engine := range []string{"sqlite", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			opts := mgmttest.Options{}
			if engine == "mariadb" {
				mgmttest.MySQLBase(t)
				opts.MySQL = true
			}
			a := mgmttest.Start(t, opts)
			b := mgmttest.Start(t, mgmttest.Options{DBURL: a.DBURL, KeyFile: a.Key})
			// Starting B issued new admin keys: A's client uses them too.
			a.Admin = &api.Client{Endpoint: a.URL, Key: b.Admin.Key, Secret: b.Admin.Secret}
			fastPings(t, a)
			addrA, addrB := listen(t, a), listen(t, b)
			in := agentstest.MakeInfra(t, a.Server.DB, "Simulator")
			tok, fp := token(t, a, map[string]string{"clusterid": in.Cluster})
			ag, _ := runAgent(t, agent.Config{Servers: []string{addrA, addrB}, LB: agent.LBStatic, StateDir: t.TempDir(),
				Token: tok, CAFingerprint: fp})
			id := waitRegistered(t, ag, 10*time.Second)
			if ag.Server() != addrA {
				t.Fatalf("static lb: connected to %s, want the first server %s", ag.Server(), addrA)
			}
			agentstest.WaitHost(t, a.Server.DB, id, 5*time.Second, "Up on A", func(h *db.Host) bool {
				return h.Status == db.HostStatusUp && h.Owner == a.Server.ID
			})
			direct := echo(t, a, id, "direct")
			queued := echo(t, b, id, "through agent_commands")
			t.Logf("command latency: %v on the owner, %v from the other server", direct.Round(time.Microsecond), queued.Round(time.Millisecond))

			res := mgmttest.Do(t, a.Admin, "addHost", map[string]string{"zoneid": in.Zone, "podid": in.Pod, "clusterid": in.Cluster,
				"hypervisor": "Simulator", "url": "http://sim/c0/h0"})
			simID := res["host"].([]any)[0].(map[string]any)["id"].(string)
			echo(t, b, simID, "sim through agent_commands")

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// B commits the host as its own before its answer reaches the agent: the agent's own
			// view is waited for, not read the instant the database shows the move.
			reregistered := ag.Registered()
			stopped := time.Now()
			if err := a.Server.Shutdown(ctx); err != nil {
				t.Logf("shutdown A: %v", err)
			}
			agentstest.WaitHost(t, b.Server.DB, id, 10*time.Second, "Up on B", func(h *db.Host) bool {
				return h.Status == db.HostStatusUp && h.Owner == b.Server.ID
			})
			moved := time.Since(stopped)
			select {
			case <-reregistered:
			case <-time.After(10 * time.Second):
				t.Fatal("the agent did not register again within 10 s")
			}
			if ag.Server() != addrB || ag.HostID() != id {
				t.Fatalf("agent on %s as %s, want %s as %s", ag.Server(), ag.HostID(), addrB, id)
			}
			agentstest.WaitHost(t, b.Server.DB, simID, 10*time.Second, "simulated host Up on B", func(h *db.Host) bool {
				return h.Status == db.HostStatusUp && h.Owner == b.Server.ID
			})
			t.Logf("from A's shutdown: the agent Up on B after %v, A's simulated host Up on B after %v (A's shutdown included)",
				moved.Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
			echo(t, b, id, "after failover")
			echo(t, b, simID, "sim after failover")

			// A third server reaches both through B.
			c := mgmttest.Start(t, mgmttest.Options{DBURL: a.DBURL, KeyFile: a.Key})
			echo(t, c, id, "from C")
			echo(t, c, simID, "sim from C")
		})
	}
}

// A host deleted on one server while another holds its agent: the holder finds it gone at the
// next ping and stops its simulated agent.
func TestDeleteHostHeldByAnotherServer(t *testing.T) {
	a := mgmttest.Start(t, mgmttest.Options{})
	b := mgmttest.Start(t, mgmttest.Options{DBURL: a.DBURL, KeyFile: a.Key})
	a.Admin = &api.Client{Endpoint: a.URL, Key: b.Admin.Key, Secret: b.Admin.Secret}
	fastPings(t, a)
	in := agentstest.MakeInfra(t, a.Server.DB, "Simulator")
	res := mgmttest.Do(t, a.Admin, "addHost", map[string]string{"zoneid": in.Zone, "podid": in.Pod, "clusterid": in.Cluster,
		"hypervisor": "Simulator", "url": "http://sim/c0/h0"})
	id := res["host"].([]any)[0].(map[string]any)["id"].(string)
	if a.Server.Agents.Simulator(id) == nil {
		t.Fatal("the simulated host does not run on A")
	}
	mgmttest.Fail(t, b.Admin, "deleteHost", map[string]string{"id": id}, 530)
	mgmttest.Do(t, b.Admin, "deleteHost", map[string]string{"id": id, "forced": "true"})
	deadline := time.Now().Add(5 * time.Second)
	for a.Server.Agents.Simulator(id) != nil || a.Server.Agents.Connected(id) {
		if time.Now().After(deadline) {
			t.Fatal("A still runs the deleted host's agent")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := db.GetHost(t.Context(), a.Server.DB.Read(), id); err == nil {
		t.Fatal("the deleted host is still live")
	}
}
