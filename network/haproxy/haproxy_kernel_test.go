package haproxy

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/atollcloud/atoll/network/internal/nsproc"
	"github.com/atollcloud/atoll/network/internal/nstest"
)

// member serves, in a guest namespace, a TCP listener that greets with its name and then
// echoes lines: which member a connection reached, and whether it still works.
func member(t *testing.T, g *nstest.NS, addr, name string) {
	ln := g.Listen(t, addr)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := c.Write([]byte(name + "\n")); err != nil {
					return
				}
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte("echo " + l))
				}
			}()
		}
	}()
}

type conn struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, client *nstest.NS, addr string) (*conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cc := &conn{Conn: c, r: bufio.NewReader(c)}
	name, err := cc.r.ReadString('\n')
	if err != nil {
		c.Close()
		t.Fatalf("greeting through %s: %v", addr, err)
	}
	return cc, strings.TrimSpace(name)
}

func members(t *testing.T, client *nstest.NS, addr string, n int) []string {
	t.Helper()
	var got []string
	for range n {
		c, name := dial(t, client, addr)
		c.Close()
		got = append(got, name)
	}
	return got
}

// TestKernelHAProxy: a rule spreads connections over two members round robin, source
// stickiness keeps a client on one, a reload leaves an open connection working on the old
// process, and Stop leaves no process or file.
func TestKernelHAProxy(t *testing.T) {
	nstest.NeedRoot(t)
	nstest.NeedBinaries(t, "haproxy")
	gw := netip.MustParsePrefix("10.74.0.1/24")
	lab := nstest.NewLab(t, gw)
	for i, ip := range []string{"10.74.0.11", "10.74.0.12"} {
		g := lab.AddGuest(t, "02:00:0a:4a:00:0"+string(rune('1'+i)))
		g.AddAddr(t, "eth0", netip.PrefixFrom(netip.MustParseAddr(ip), 24))
		g.DefaultRoute(t, gw.Addr())
		member(t, g, ip+":8000", "vm"+string(rune('a'+i)))
	}
	// The public side: a client namespace on a veth to the router, the public IP on pub0.
	client := nstest.NewNS(t, "at-c-")
	if err := lab.Router.NL.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "pub0"}, PeerName: "eth0",
		PeerNamespace: netlink.NsFd(int(client.H))}); err != nil {
		t.Fatalf("public veth: %v", err)
	}
	lab.Router.NL.LinkSetUp(lab.Router.Link(t, "pub0"))
	client.NL.LinkSetUp(client.Link(t, "eth0"))
	lab.Router.AddAddr(t, "pub0", netip.MustParsePrefix("203.0.113.10/24"))
	client.AddAddr(t, "eth0", netip.MustParsePrefix("203.0.113.100/24"))

	dir := t.TempDir()
	m := New(dir, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx := context.Background()
	const id = "net-lb"
	t.Cleanup(func() { m.Stop(ctx, id) })
	r := Rule{Name: "lb-1", Public: netip.MustParseAddr("203.0.113.10"), PublicPort: 8000, PrivatePort: 8000,
		Algorithm: "roundrobin", Members: []netip.Addr{netip.MustParseAddr("10.74.0.11"), netip.MustParseAddr("10.74.0.12")}}
	cfg := Config{Namespace: lab.Router.Name, Rules: []Rule{r}}
	start := time.Now()
	if err := m.Ensure(ctx, id, cfg); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	t.Logf("timing: first Ensure (check + start) took %v", time.Since(start).Round(time.Millisecond))
	pid := m.PID(id)
	if pid == 0 {
		t.Fatal("no haproxy after Ensure")
	}
	got := members(t, client, "203.0.113.10:8000", 4)
	if got[0] == got[1] || got[0] != got[2] || got[1] != got[3] {
		t.Fatalf("round robin over two members gave %v", got)
	}
	if err := m.Ensure(ctx, id, cfg); err != nil || m.PID(id) != pid {
		t.Fatalf("unchanged Ensure: %v, pid %d (was %d)", err, m.PID(id), pid)
	}

	// A connection open across a reload keeps working on the draining old process.
	open, first := dial(t, client, "203.0.113.10:8000")
	defer open.Close()
	r.Stickiness = &Stickiness{Method: "SourceBased"}
	cfg.Rules = []Rule{r}
	start = time.Now()
	if err := m.Ensure(ctx, id, cfg); err != nil {
		t.Fatalf("Ensure with stickiness: %v", err)
	}
	t.Logf("timing: reload took %v", time.Since(start).Round(time.Millisecond))
	pid2 := m.PID(id)
	if pid2 == 0 || pid2 == pid {
		t.Fatalf("pid after reload %d, was %d", pid2, pid)
	}
	if _, err := open.Write([]byte("still there?\n")); err != nil {
		t.Fatalf("write on the connection opened before the reload: %v", err)
	}
	if l, err := open.r.ReadString('\n'); err != nil || l != "echo still there?\n" {
		t.Fatalf("connection opened before the reload (to %s) answered %q, %v", first, l, err)
	}
	got = members(t, client, "203.0.113.10:8000", 4)
	for _, g := range got[1:] {
		if g != got[0] {
			t.Fatalf("source stickiness let one client reach %v", got)
		}
	}
	open.Close()
	cfgPath := m.files(id).cfg
	if !nsproc.WaitGone(ctx, pid, 5*time.Second, cfgPath) {
		t.Errorf("old haproxy %d still runs after its last connection closed", pid)
	}

	// A refused configuration changes nothing.
	bad := cfg
	bad.Rules = []Rule{r, r}
	if err := m.Ensure(ctx, id, bad); err == nil {
		t.Fatal("two rules on one address accepted")
	}
	if m.PID(id) != pid2 {
		t.Fatal("a refused configuration touched the running haproxy")
	}

	// A configuration HAProxy accepts but cannot run (an address the router does not have)
	// leaves the old process serving, and stays a change for the next Ensure to try.
	unbindable := cfg
	unbindable.Rules = []Rule{r, {Public: netip.MustParseAddr("203.0.113.99"), PublicPort: 9000, PrivatePort: 8000,
		Algorithm: "source", Members: r.Members}}
	for i := range 2 {
		if err := m.Ensure(ctx, id, unbindable); err == nil {
			t.Fatalf("attempt %d: a rule on an address the router lacks was applied", i)
		}
	}
	if m.PID(id) != pid2 {
		t.Fatal("a failed reload replaced the running haproxy")
	}
	if got := members(t, client, "203.0.113.10:8000", 1); len(got) != 1 {
		t.Fatal("old rules not served after a failed reload")
	}
	if err := m.Ensure(ctx, id, cfg); err != nil || m.PID(id) != pid2 {
		t.Fatalf("back to the running rules: %v, pid %d (want %d unchanged)", err, m.PID(id), pid2)
	}

	// A crashed haproxy is started again by the next Ensure.
	if err := syscall.Kill(pid2, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !nsproc.WaitGone(ctx, pid2, 5*time.Second, cfgPath) {
		t.Fatal("killed haproxy still there")
	}
	if err := m.Ensure(ctx, id, cfg); err != nil {
		t.Fatalf("Ensure after a crash: %v", err)
	}
	if pid2 = m.PID(id); pid2 == 0 {
		t.Fatal("Ensure did not start a crashed haproxy again")
	}
	if got := members(t, client, "203.0.113.10:8000", 1); len(got) != 1 {
		t.Fatal("no answer after the restart")
	}

	list, err := m.List()
	if err != nil || len(list) != 1 || list[0].PID != pid2 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	// No rules stops it and removes the files; Sweep removes leftovers.
	if err := m.Ensure(ctx, id, Config{Namespace: lab.Router.Name}); err != nil {
		t.Fatalf("Ensure with no rules: %v", err)
	}
	if ps := nsproc.FindByArg(cfgPath); len(ps) != 0 {
		t.Fatalf("haproxy processes left after the last rule went: %v", ps)
	}
	if _, err := os.Stat(m.files(id).dir); !os.IsNotExist(err) {
		t.Fatalf("state dir left: %v", err)
	}
	if err := m.Ensure(ctx, id, cfg); err != nil {
		t.Fatal(err)
	}
	if err := m.Sweep(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ps := nsproc.FindByArg(cfgPath); len(ps) != 0 {
		t.Fatalf("haproxy processes left after Sweep: %v", ps)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("files left after Sweep: %v", ents)
	}
}
