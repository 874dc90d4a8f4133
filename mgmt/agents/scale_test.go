package agents_test

import (
	"context"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/atollcloud/atoll/agent"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/hypervisor/simulator"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// TestScaleRegistration rushes ATOLL_SCALE_HOSTS agents (one TLS connection each, all in this
// process) at one server and waits for every host to be Up: a profiling aid for the
// registration path (go test -run TestScaleRegistration -cpuprofile ...). make bench measures
// the same with separate processes.
func TestScaleRegistration(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ATOLL_SCALE_HOSTS"))
	if n <= 0 {
		t.Skip("set ATOLL_SCALE_HOSTS to run")
	}
	e := mgmttest.Start(t, mgmttest.Options{MySQL: os.Getenv("ATOLL_SCALE_MYSQL") != ""})
	addr := listen(t, e)
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "ping.interval", "value": "60"})
	z := mgmttest.Do(t, e.Admin, "createZone", map[string]string{"name": "scale", "networktype": "Advanced", "dns1": "192.0.2.53", "internaldns1": "192.0.2.53"})
	zid := z["zone"].(map[string]any)["id"].(string)
	p := mgmttest.Do(t, e.Admin, "createPod", map[string]string{"zoneid": zid, "name": "pod-1", "gateway": "192.168.100.1",
		"netmask": "255.255.255.0", "startip": "192.168.100.10", "endip": "192.168.100.250"})
	pid := p["pod"].(map[string]any)["id"].(string)
	c := mgmttest.Do(t, e.Admin, "addCluster", map[string]string{"zoneid": zid, "podid": pid, "clustername": "c1",
		"hypervisor": "Simulator", "clustertype": "CloudManaged"})
	cid := c["cluster"].([]any)[0].(map[string]any)["id"].(string)
	tok, fp := token(t, e, map[string]string{"clusterid": cid, "hosts": strconv.Itoa(n)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		cfg := agent.Config{Servers: []string{addr}, Token: tok, CAFingerprint: fp, Name: "scale"}
		if os.Getenv("ATOLL_SCALE_RUSH") != "" {
			// Every agent at once, as n real hosts would: the server's admission control alone
			// keeps it working.
			cfg.ConnectSlots = make(chan struct{}, n)
		}
		_ = agent.RunFleet(ctx, cfg, n, func(int) hypervisor.Driver { return simulator.New(hypervisor.HostInfo{}) })
	}()
	defer func() { cancel(); <-done }()
	d := e.Server.DB
	for {
		time.Sleep(500 * time.Millisecond)
		_, up, err := db.ListHosts(context.Background(), d.Read(), db.HostFilter{Status: db.HostStatusUp, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if up >= n {
			shed, busy := e.Server.Agents.Shed()
			t.Logf("%d hosts Up after %v (%.0f/s); %d connections closed before their handshake, %d busy answers", n,
				time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds(), shed, busy)
			break
		}
		if time.Since(start) > 10*time.Minute {
			t.Fatalf("%d of %d hosts Up after %v", up, n, time.Since(start))
		}
	}
	// ATOLL_SCALE_STEADY=65s ATOLL_SCALE_PROFILE=file: a CPU profile of the steady state.
	steady, _ := time.ParseDuration(os.Getenv("ATOLL_SCALE_STEADY"))
	if steady <= 0 {
		return
	}
	if f := os.Getenv("ATOLL_SCALE_PROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	time.Sleep(steady)
}
