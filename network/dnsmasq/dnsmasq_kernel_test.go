package dnsmasq

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/network/internal/nsproc"
	"github.com/atollcloud/atoll/network/internal/nstest"
)

// stateDir is a state directory dnsmasq (which drops to nobody) can read after a SIGHUP:
// t.TempDir's directories are 0700.
func stateDir(t *testing.T) string {
	d := t.TempDir()
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for p := filepath.Dir(d); p != "/" && strings.HasPrefix(p, os.TempDir()) && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	return d
}

func nslookup(t *testing.T, g *nstest.NS, name, server string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := nsproc.Run(ctx, g.Name, "busybox", "nslookup", "-type=a", name, server)
	// busybox prints the server first ("Server: ... Address: <server>:53"), then the answers.
	var addrs []string
	_, answers, _ := strings.Cut(string(out), "Name:")
	for _, line := range strings.Split(answers, "\n") {
		if a, ok := strings.CutPrefix(strings.TrimSpace(line), "Address:"); ok {
			addrs = append(addrs, strings.TrimSpace(a))
		}
	}
	return strings.Join(addrs, ",")
}

// TestKernelDnsmasq: guests get their static address by DHCP, resolve each other by name,
// and lease changes reach the same dnsmasq process by SIGHUP and dhcp_release.
func TestKernelDnsmasq(t *testing.T) {
	nstest.NeedRoot(t)
	nstest.NeedBinaries(t, "dnsmasq", "dhcp_release", "busybox")
	gw := netip.MustParsePrefix("10.71.0.1/24")
	lab := nstest.NewLab(t, gw)
	ga := lab.AddGuest(t, "02:00:0a:47:00:0b")
	gb := lab.AddGuest(t, "02:00:0a:47:00:0c")

	m := New(stateDir(t), slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx := context.Background()
	const id = "net-1"
	t.Cleanup(func() { m.Stop(ctx, id) })
	cfg := Config{
		Namespace: lab.Router.Name, Interface: "guest0", Gateway: gw, Domain: "cs1cloud.internal",
		Leases: []Lease{
			{MAC: "02:00:0A:47:00:0B", IP: netip.MustParseAddr("10.71.0.11"), Hostname: "vm-a"},
			{MAC: "02:00:0a:47:00:0c", IP: netip.MustParseAddr("10.71.0.12"), Hostname: "vm-b"},
		},
	}
	start := time.Now()
	if err := m.Ensure(ctx, id, cfg); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	t.Logf("timing: first Ensure (start dnsmasq) took %v", time.Since(start).Round(time.Millisecond))
	pid := m.PID(id)
	if pid == 0 {
		t.Fatal("no dnsmasq running after Ensure")
	}

	start = time.Now()
	da, out := ga.DHCPClient(t, true)
	t.Logf("timing: DHCP lease took %v", time.Since(start).Round(time.Millisecond))
	if da.IP != netip.MustParsePrefix("10.71.0.11/24") || da.Router != gw.Addr() || da.DNS != gw.Addr().String() ||
		da.Domain != "cs1cloud.internal" {
		t.Fatalf("guest a got %+v, want 10.71.0.11/24 via %v, DNS %v, domain cs1cloud.internal; udhcpc said:\n%s", da, gw.Addr(), gw.Addr(), out)
	}
	db, out := gb.DHCPClient(t, true)
	if db.IP != netip.MustParsePrefix("10.71.0.12/24") {
		t.Fatalf("guest b got %+v, want 10.71.0.12/24; udhcpc said:\n%s", db, out)
	}

	// Names: another VM's, bare and in the domain, and data-server for cloud-init.
	for name, want := range map[string]string{
		"vm-b": "10.71.0.12", "vm-b.cs1cloud.internal": "10.71.0.12", "vm-a.cs1cloud.internal": "10.71.0.11",
		"data-server": "10.71.0.1",
	} {
		if got := nslookup(t, ga, name, gw.Addr().String()); got != want {
			t.Errorf("from guest a, %s resolves to %q, want %q", name, got, want)
		}
	}

	// Idempotent: the same configuration changes nothing and keeps the process.
	if err := m.Ensure(ctx, id, cfg); err != nil {
		t.Fatalf("Ensure again: %v", err)
	}
	if got := m.PID(id); got != pid {
		t.Fatalf("pid %d after an unchanged Ensure, was %d", got, pid)
	}

	// vm-b moves to .22 and vm-a leaves: SIGHUP + dhcp_release, same dnsmasq.
	cfg.Leases = []Lease{{MAC: "02:00:0a:47:00:0c", IP: netip.MustParseAddr("10.71.0.22"), Hostname: "vm-b"}}
	start = time.Now()
	if err := m.Ensure(ctx, id, cfg); err != nil {
		t.Fatalf("Ensure with changed leases: %v", err)
	}
	t.Logf("timing: lease change (dhcp_release + SIGHUP) took %v", time.Since(start).Round(time.Millisecond))
	if got := m.PID(id); got != pid {
		t.Fatalf("dnsmasq restarted for a lease change: pid %d, was %d", got, pid)
	}
	waitFor(t, "the released leases to leave dnsmasq's lease file", func() bool {
		b, _ := os.ReadFile(filesIn(m.dir(id)).leases)
		return !strings.Contains(string(b), "10.71.0.11") && !strings.Contains(string(b), "10.71.0.12")
	})
	db, out = gb.DHCPClient(t, true)
	if db.IP != netip.MustParsePrefix("10.71.0.22/24") {
		t.Fatalf("guest b after the change got %+v, want 10.71.0.22/24; udhcpc said:\n%s", db, out)
	}
	if da, out = ga.DHCPClient(t, false); da.IP.IsValid() {
		t.Fatalf("guest a, whose lease was removed, still got %v; udhcpc said:\n%s", da.IP, out)
	}
	if got := nslookup(t, gb, "vm-b", gw.Addr().String()); got != "10.71.0.22" {
		t.Errorf("vm-b resolves to %q after the change, want 10.71.0.22", got)
	}
	if got := nslookup(t, gb, "vm-a.cs1cloud.internal", gw.Addr().String()); got != "" {
		t.Errorf("removed vm-a still resolves to %q", got)
	}

	// A configuration change (new upstream DNS) restarts; a crash is repaired by Ensure.
	cfg.DNS = []netip.Addr{netip.MustParseAddr("10.71.0.253")}
	if err := m.Ensure(ctx, id, cfg); err != nil {
		t.Fatalf("Ensure with new DNS: %v", err)
	}
	pid2 := m.PID(id)
	if pid2 == 0 || pid2 == pid {
		t.Fatalf("pid after a configuration change: %d (was %d): want a new process", pid2, pid)
	}
	if nsproc.Ours(pid, filesIn(m.dir(id)).conf) {
		t.Fatalf("old dnsmasq %d still runs", pid)
	}
	if err := nsproc.Stop(ctx, pid2, time.Second, filesIn(m.dir(id)).conf); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(ctx, id, cfg); err != nil {
		t.Fatalf("Ensure after a crash: %v", err)
	}
	pid3 := m.PID(id)
	if pid3 == 0 {
		t.Fatal("Ensure did not restart a dead dnsmasq")
	}
	if db, out = gb.DHCPClient(t, false); db.IP != netip.MustParsePrefix("10.71.0.22/24") {
		t.Fatalf("after the restart guest b got %+v; udhcpc said:\n%s", db, out)
	}

	list, err := m.List()
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].PID != pid3 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	// A second network, then Sweep keeping only it; Stop of the last leaves nothing.
	gw2 := netip.MustParsePrefix("10.72.0.1/24")
	lab2 := nstest.NewLab(t, gw2)
	if err := m.Ensure(ctx, "net-2", Config{Namespace: lab2.Router.Name, Interface: "guest0", Gateway: gw2}); err != nil {
		t.Fatalf("Ensure net-2: %v", err)
	}
	pidNet2 := m.PID("net-2")
	if err := m.Sweep(ctx, []string{"net-2"}); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if nsproc.Ours(pid3, "--conf-file="+filesIn(m.dir(id)).conf) || nsproc.Cmdline(pid3) != nil {
		t.Errorf("swept dnsmasq %d still runs: %q", pid3, nsproc.Cmdline(pid3))
	}
	if _, err := os.Stat(m.dir(id)); !os.IsNotExist(err) {
		t.Errorf("swept network's state dir is still there: %v", err)
	}
	if m.PID("net-2") != pidNet2 || pidNet2 == 0 {
		t.Errorf("Sweep touched the kept network")
	}
	if err := m.Stop(ctx, "net-2"); err != nil {
		t.Fatal(err)
	}
	if nsproc.Cmdline(pidNet2) != nil {
		t.Errorf("stopped dnsmasq %d still runs", pidNet2)
	}
	if ents, _ := os.ReadDir(m.stateDir); len(ents) != 0 {
		t.Errorf("state dir not empty after Stop and Sweep: %v", ents)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
