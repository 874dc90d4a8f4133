package agents_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/agent"
	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/hypervisor/simulator"
	"github.com/atollcloud/atoll/mgmt/agents/agentstest"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// fastPings makes hosts ping every second and time out after three silent seconds. (A
// timeout of one interval is a coin toss: a ping a few milliseconds late on a loaded machine
// puts a connected host in Alert, and commands queued for it from another server are refused.)
func fastPings(t *testing.T, e *mgmttest.Env) {
	t.Helper()
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "ping.interval", "value": "1"})
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "ping.timeout", "value": "3"})
}

// listen opens the agent endpoint of a test server.
func listen(t *testing.T, e *mgmttest.Env) string {
	t.Helper()
	addr, err := e.Server.Agents.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return addr.String()
}

func token(t *testing.T, e *mgmttest.Env, params map[string]string) (tok, fp string) {
	t.Helper()
	r := mgmttest.Do(t, e.Admin, "createHostToken", params)["hosttoken"].(map[string]any)
	return r["token"].(string), r["cafingerprint"].(string)
}

// runAgent runs an agent until the returned stop is called (or the test ends).
func runAgent(t *testing.T, cfg agent.Config) (*agent.Agent, func()) {
	t.Helper()
	if cfg.Driver == nil {
		cfg.Driver = simulator.New(hypervisor.HostInfo{})
	}
	cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return a, stop
}

func waitRegistered(t *testing.T, a *agent.Agent, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if a.Server() != "" && a.HostID() != "" {
			return a.HostID()
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("agent %s did not register within %v", a.GUID(), within)
	return ""
}

func echo(t *testing.T, e *mgmttest.Env, hostID, msg string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	ans, err := e.Server.Agents.Send(ctx, hostID, protocol.CmdEcho, msg)
	if err != nil || !ans.OK || string(ans.Body) != `"`+msg+`"` {
		t.Fatalf("echo %q via %s: %v %+v", msg, e.Server.ID, err, ans)
	}
	return time.Since(start)
}

// An agent with nothing but a token and the CA fingerprint enrolls, gets its certificate,
// registers over mutual TLS into the token's cluster, and keeps its identity across restarts.
func TestEnrollAndMutualTLS(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	addr := listen(t, e)
	in := agentstest.MakeInfra(t, e.Server.DB, "Simulator")
	tok, fp := token(t, e, map[string]string{"clusterid": in.Cluster})
	dir := t.TempDir()
	cfg := agent.Config{Servers: []string{addr}, StateDir: dir, Token: tok, CAFingerprint: fp, Name: "kvm-01"}
	start := time.Now()
	a, stop := runAgent(t, cfg)
	id := waitRegistered(t, a, 10*time.Second)
	h, _ := agentstest.WaitHost(t, e.Server.DB, id, 5*time.Second, "Up", agentstest.Status(db.HostStatusUp))
	t.Logf("enrolled and Up in %v", time.Since(start).Round(time.Millisecond))
	if h.ClusterID != in.Cluster || h.Name != "kvm-01" || h.GUID != a.GUID() || h.CertSerial == "" || h.IPAddress != "127.0.0.1" {
		t.Fatalf("host: %+v", h)
	}
	echo(t, e, id, "over tls")

	// Restarted without the token, it keeps its guid and certificate: same host.
	stop()
	agentstest.WaitHost(t, e.Server.DB, id, 5*time.Second, "Disconnected", agentstest.Status(db.HostStatusDisconnected))
	cfg.Token = ""
	a2, _ := runAgent(t, cfg)
	if id2 := waitRegistered(t, a2, 10*time.Second); id2 != id || a2.GUID() != a.GUID() {
		t.Fatalf("restart: host %s guid %s, want %s %s", id2, a2.GUID(), id, a.GUID())
	}
	agentstest.WaitHost(t, e.Server.DB, id, 5*time.Second, "Up again", agentstest.Status(db.HostStatusUp))

	// The token was one-time: another agent cannot enroll with it.
	b, err := agent.New(agent.Config{Servers: []string{addr}, StateDir: t.TempDir(), Token: tok, CAFingerprint: fp,
		Driver: simulator.New(hypervisor.HostInfo{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	b.Run(ctx)
	if b.Enrolled() || b.HostID() != "" {
		t.Fatal("a used token enrolled a second agent")
	}
}

// rawRegister connects with cfg and tries to register as guid; it returns why it failed.
func rawRegister(t *testing.T, addr string, cfg *tls.Config, guid string) error {
	t.Helper()
	nc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	conn := protocol.NewConn(nc, nil)
	go conn.Serve()
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return conn.Call(ctx, protocol.TypeRegister, protocol.Register{ProtocolVersion: protocol.Version, GUID: guid,
		HypervisorType: "Simulator", CPUCores: 1}, nil)
}

func selfSigned(t *testing.T, cn string) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestUnauthenticatedAgentsAreRefused(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	addr := listen(t, e)
	insecure := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}

	// No client certificate: only enrollment is allowed.
	err := rawRegister(t, addr, insecure, "intruder")
	var re *protocol.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "certificate is required") {
		t.Fatalf("register without a certificate: %v", err)
	}
	// A certificate the cloud's CA did not sign: the handshake fails.
	withCert := insecure.Clone()
	withCert.Certificates = []tls.Certificate{selfSigned(t, "intruder")}
	if err := rawRegister(t, addr, withCert, "intruder"); err == nil {
		t.Fatal("a self-signed client certificate was accepted")
	}
	// A bad token: no certificate.
	_, fp := token(t, e, nil)
	a, err := agent.New(agent.Config{Servers: []string{addr}, StateDir: t.TempDir(), Token: "not-a-token", CAFingerprint: fp,
		Driver: simulator.New(hypervisor.HostInfo{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	a.Run(ctx)
	if a.Enrolled() {
		t.Fatal("enrolled with a bad token")
	}
	// A server whose CA does not match the pinned fingerprint is not trusted with the token.
	tok, _ := token(t, e, nil)
	b, err := agent.New(agent.Config{Servers: []string{addr}, StateDir: t.TempDir(), Token: tok, CAFingerprint: strings.Repeat("ab", 32),
		Driver: simulator.New(hypervisor.HostInfo{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(t.Context(), time.Second)
	defer cancel2()
	b.Run(ctx2)
	if b.Enrolled() {
		t.Fatal("enrolled with a server whose CA does not match the pin")
	}
	if hosts, _, _ := db.ListHosts(t.Context(), e.Server.DB.Read(), db.HostFilter{Unbound: true}); len(hosts) != 0 {
		t.Fatalf("refused agents left hosts: %d", len(hosts))
	}
}

// addHost with hypervisor KVM and url http://<address> binds to the agent that registered
// from that address, as Ansible's cs_host adds a real host.
func TestAddHostBindsRegisteredAgent(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	addr := listen(t, e)
	in := agentstest.MakeInfra(t, e.Server.DB, "KVM")
	tok, fp := token(t, e, nil)
	kvm := func(name, address string) agent.Config {
		return agent.Config{Servers: []string{addr}, StateDir: t.TempDir(), Token: tok, CAFingerprint: fp, Name: name, Address: address,
			Driver: simulator.New(hypervisor.HostInfo{HypervisorType: "KVM", HypervisorVersion: "8.2", CPUCores: 8, CPUSpeedMHz: 2400})}
	}
	a, _ := runAgent(t, kvm("node1", "10.9.8.7"))
	id := waitRegistered(t, a, 10*time.Second)
	// Registered but not added: not listed, not a routing host.
	if got := mgmttest.Do(t, e.Admin, "listHosts", nil); len(got) != 0 {
		t.Fatalf("an unbound agent is listed: %v", got)
	}
	res := mgmttest.Do(t, e.Admin, "addHost", map[string]string{"zoneid": in.Zone, "podid": in.Pod, "clusterid": in.Cluster,
		"hypervisor": "KVM", "url": "http://10.9.8.7", "username": "root", "password": "secret", "hosttags": "a,b"})
	h := res["host"].([]any)[0].(map[string]any)
	if h["id"] != id || h["state"] != "Up" || h["hypervisor"] != "KVM" || h["ipaddress"] != "10.9.8.7" || h["name"] != "node1" ||
		h["cpunumber"].(float64) != 8 || h["hypervisorversion"] != "8.2" || h["hosttags"] != "a,b" {
		t.Fatalf("addHost: %v", h)
	}
	echo(t, e, id, "bound")
	mgmttest.Fail(t, e.Admin, "addHost", map[string]string{"zoneid": in.Zone, "podid": in.Pod, "clusterid": in.Cluster,
		"hypervisor": "KVM", "url": "http://10.9.8.7"}, 431)

	// addHost before the agent registers waits for it. (The token was used: a second one.)
	tok, _ = token(t, e, nil)
	added := make(chan map[string]any, 1)
	go func() {
		r, err := e.Admin.Do(context.Background(), "addHost", map[string]string{"zoneid": in.Zone, "podid": in.Pod,
			"clusterid": in.Cluster, "hypervisor": "KVM", "url": "http://node2.example"})
		if err != nil {
			t.Errorf("addHost waiting for its agent: %v", err)
		}
		added <- r
	}()
	time.Sleep(300 * time.Millisecond)
	b, _ := runAgent(t, kvm("node2.example", "10.9.8.8"))
	r := <-added
	if h := r["host"].([]any)[0].(map[string]any); h["id"] != waitRegistered(t, b, 5*time.Second) || h["state"] != "Up" || h["ipaddress"] != "10.9.8.8" {
		t.Fatalf("addHost by name: %v", h)
	}
}

// A host whose agent dies goes Disconnected, then Alert and Down after ping.timeout; when the
// agent comes back the host is Up again with the same id.
func TestHostStatesFollowTheAgent(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	fastPings(t, e)
	in := agentstest.MakeInfra(t, e.Server.DB, "Simulator")
	res := mgmttest.Do(t, e.Admin, "addHost", map[string]string{"zoneid": in.Zone, "podid": in.Pod, "clusterid": in.Cluster,
		"hypervisor": "Simulator", "url": "http://sim/c0/h0"})
	id := res["host"].([]any)[0].(map[string]any)["id"].(string)
	m := e.Server.Agents

	killed := time.Now()
	if !m.StopSimulator(id) {
		t.Fatal("no simulated agent running")
	}
	_, d := agentstest.WaitHost(t, e.Server.DB, id, 2*time.Second, "Disconnected", agentstest.Status(db.HostStatusDisconnected))
	_, a := agentstest.WaitHost(t, e.Server.DB, id, 10*time.Second, "Alert", agentstest.Status(db.HostStatusAlert))
	_, dn := agentstest.WaitHost(t, e.Server.DB, id, 10*time.Second, "Down", agentstest.Status(db.HostStatusDown))
	t.Logf("after the agent died: Disconnected in %v, Alert %v later, Down %v later (ping.interval 1 s, ping.timeout 3)",
		d.Round(time.Millisecond), a.Round(time.Millisecond), dn.Round(time.Millisecond))
	var alerts int
	e.Server.DB.Read().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM alerts WHERE type = 7 AND created >= ?", killed.UnixMilli()).Scan(&alerts)
	if alerts != 2 {
		t.Fatalf("%d host alerts, want 2 (Alert and Down)", alerts)
	}
	if got := mgmttest.Do(t, e.Admin, "listHosts", map[string]string{"id": id})["host"].([]any)[0].(map[string]any); got["state"] != "Down" || got["disconnected"] == nil {
		t.Fatalf("listHosts: %v", got)
	}
	if err := m.StartSimulator(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	_, up := agentstest.WaitHost(t, e.Server.DB, id, 5*time.Second, "Up", agentstest.Status(db.HostStatusUp))
	t.Logf("restarted agent Up in %v", up.Round(time.Millisecond))
	echo(t, e, id, "back")

	// A host that stops pinging (an injected fault) while connected also goes to Alert, and
	// back Up when pings resume.
	if err := m.SetSimulatorFault(t.Context(), db.FaultScopeHost, id, protocol.CmdPingFaults, 0, true, ""); err != nil {
		t.Fatal(err)
	}
	agentstest.WaitHost(t, e.Server.DB, id, 10*time.Second, "Alert while silent", agentstest.Status(db.HostStatusAlert))
	if err := m.ClearSimulatorFaults(t.Context(), db.FaultScopeHost, id, ""); err != nil {
		t.Fatal(err)
	}
	agentstest.WaitHost(t, e.Server.DB, id, 5*time.Second, "Up after pings resume", agentstest.Status(db.HostStatusUp))
}

func TestSimulatorFaults(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	in := agentstest.MakeInfra(t, e.Server.DB, "Simulator")
	var ids []string
	for _, p := range []string{"c0/h0", "c0/h1"} {
		res := mgmttest.Do(t, e.Admin, "addHost", map[string]string{"zoneid": in.Zone, "podid": in.Pod, "clusterid": in.Cluster,
			"hypervisor": "Simulator", "url": "http://sim/" + p})
		ids = append(ids, res["host"].([]any)[0].(map[string]any)["id"].(string))
	}
	m := e.Server.Agents
	ctx := t.Context()
	// Cluster-wide failure of Echo, overridden for one host by a latency-only fault.
	mgmttest.Do(t, e.Admin, "configureSimulatorFault", map[string]string{"clusterid": in.Cluster, "name": "Echo", "fail": "true", "message": "injected"})
	if err := m.SetSimulatorFault(ctx, db.FaultScopeHost, ids[1], "*", 200*time.Millisecond, false, ""); err != nil {
		t.Fatal(err)
	}
	ans, err := m.Send(ctx, ids[0], protocol.CmdEcho, "x")
	if err != nil || ans.OK || ans.Error != "injected" {
		t.Fatalf("cluster fault: %v %+v", err, ans)
	}
	if took := echo(t, e, ids[1], "slow"); took < 200*time.Millisecond {
		t.Fatalf("host latency fault not applied: %v", took)
	}
	mgmttest.Do(t, e.Admin, "configureSimulatorFault", map[string]string{"clusterid": in.Cluster, "name": "Echo", "remove": "true"})
	echo(t, e, ids[0], "healed")
	mgmttest.Fail(t, e.Admin, "configureSimulatorFault", map[string]string{"name": "Echo"}, 431)
}

// An agent without its own --lb takes the cloud's indirect.agent.lb.algorithm, and the server
// list from the "host" setting once an admin sets it.
func TestAgentTakesTheCloudsServerList(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	addr := listen(t, e)
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "indirect.agent.lb.algorithm", "value": "shuffle"})
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "host", "value": "127.0.0.1, localhost:1"})
	tok, fp := token(t, e, nil)
	a, _ := runAgent(t, agent.Config{Servers: []string{addr}, StateDir: t.TempDir(), Token: tok, CAFingerprint: fp})
	waitRegistered(t, a, 10*time.Second)
	_, port, _ := strings.Cut(addr, ":")
	servers, lb := a.Servers()
	if lb != agent.LBShuffle || len(servers) != 2 || servers[0] != "127.0.0.1:"+port || servers[1] != "localhost:1" {
		t.Fatalf("servers %v, lb %q", servers, lb)
	}
}
