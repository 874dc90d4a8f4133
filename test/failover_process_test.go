package test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/bench"
)

// TestAgentFailoverProcesses: two `atoll mgmt` processes on one MariaDB database and a real
// `atoll agent` process that lists both. SIGKILL the server holding the agent's connection: the
// agent moves to the other one, which then reaches it with a command (reconnectHost).
func TestAgentFailoverProcesses(t *testing.T) {
	dbURL := dbtest.NewMySQLDatabase(t)
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	type server struct {
		p        *proc
		endpoint string
		agent    string
	}
	start := func(name string) *server {
		apiAddr, agentAddr := freePort(t), freePort(t)
		p := startProc(t, name+".log", "mgmt", "--db", dbURL, "--key-file", keyFile, "--listen", apiAddr,
			"--agent-listen", agentAddr, "--name", name, "--job-lease", "3s")
		s := &server{p: p, endpoint: "http://" + apiAddr + "/client/api", agent: agentAddr}
		waitFor(t, name+" answering", 30*time.Second, func() (bool, string) {
			r, err := http.Get(s.endpoint + "?command=listZones&response=json")
			if err != nil {
				return false, err.Error()
			}
			r.Body.Close()
			return true, ""
		})
		return s
	}
	a := start("mgmt-a")
	b := start("mgmt-b")
	ctx := context.Background()
	key, secret, err := bench.AdminKeysByAPI(ctx, a.endpoint, "password")
	if err != nil {
		t.Fatal(err)
	}
	ca := &api.Client{Endpoint: a.endpoint, Key: key, Secret: secret}
	cb := &api.Client{Endpoint: b.endpoint, Key: key, Secret: secret}
	if err := mgmt.Demo(ctx, ca); err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"ping.interval", "1"}, {"ping.timeout", "3"}} {
		if _, err := ca.Do(ctx, "updateConfiguration", map[string]string{"name": kv[0], "value": kv[1]}); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := ca.Do(ctx, "listClusters", map[string]string{"name": "cluster-1"})
	if err != nil {
		t.Fatal(err)
	}
	clusterID := cl["cluster"].([]any)[0].(map[string]any)["id"].(string)
	tr, err := ca.Do(ctx, "createHostToken", map[string]string{"clusterid": clusterID})
	if err != nil {
		t.Fatal(err)
	}
	tok := tr["hosttoken"].(map[string]any)
	startProc(t, "agent.log", "agent", "--hypervisor", "simulator", "--mgmt", a.agent+","+b.agent, "--lb", "static",
		"--state-dir", t.TempDir(), "--name", "fo-host", "--token", tok["token"].(string),
		"--ca-fingerprint", tok["cafingerprint"].(string))

	var hostID, owner, state string
	look := func(c *api.Client) func() (bool, string) {
		return func() (bool, string) {
			r, err := c.Do(ctx, "listHosts", map[string]string{"name": "fo-host"})
			if err != nil || r["host"] == nil {
				return false, fmt.Sprint(r, err)
			}
			h := r["host"].([]any)[0].(map[string]any)
			hostID, state = h["id"].(string), h["state"].(string)
			owner, _ = h["managementserverid"].(string)
			return state == "Up", state + " " + owner
		}
	}
	waitFor(t, "agent Up on its first server", 30*time.Second, look(ca))
	first := owner
	// Kill whichever server holds the connection (static lb picks A; if B won, kill B). Were the
	// wrong one killed, the agent would not move and the wait below would fail.
	victim, sc := a, cb
	ms, err := cb.Do(ctx, "listManagementServers", map[string]string{"name": "mgmt-b"})
	if err == nil && ms["managementserver"] != nil && ms["managementserver"].([]any)[0].(map[string]any)["id"] == first {
		victim, sc = b, ca
	}
	victim.p.stop(syscall.SIGKILL)
	waitFor(t, "agent Up on the surviving server", 30*time.Second, func() (bool, string) {
		ok, s := look(sc)()
		return ok && owner != first && owner != "", s
	})
	r, err := sc.Do(ctx, "reconnectHost", map[string]string{"id": hostID})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	j, err := sc.Wait(wctx, r["jobid"].(string))
	if err != nil || j["jobstatus"].(float64) != 1 {
		t.Fatalf("reconnectHost through the surviving server: %v %v", j, err)
	}
	waitFor(t, "agent Up after reconnectHost", 30*time.Second, look(sc))
}
