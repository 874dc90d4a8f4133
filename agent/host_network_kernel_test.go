package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/network/secgroup"
)

// kernelNS makes a throwaway named network namespace, deleted when the test ends.
func kernelNS(t *testing.T, name string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("kernel tests need root (CI=true forbids skipping)")
		}
		t.Skip("kernel tests need root")
	}
	b := make([]byte, 3)
	rand.Read(b)
	ns := "atk" + hex.EncodeToString(b) + "-" + name
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// plug joins namespace ns to bridge br of host by a veth: hostEnd on the bridge, eth0 inside
// with mac and addr.
func plug(t *testing.T, host, br, hostEnd, ns, mac, addr string) {
	t.Helper()
	run(t, "ip", "-n", host, "link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", ns)
	run(t, "ip", "-n", ns, "link", "set", "eth0", "address", mac)
	run(t, "ip", "-n", ns, "addr", "add", addr, "dev", "eth0")
	run(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	run(t, "ip", "-n", host, "link", "set", hostEnd, "master", br, "up")
}

// listen runs TCP listeners on ports inside ns until the test ends.
func listen(t *testing.T, ns string, ports ...string) {
	t.Helper()
	prog := `import socket,sys,threading
def serve(p):
    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("0.0.0.0",int(p))); s.listen(16)
    while True:
        c,_=s.accept(); c.sendall(b"ok\n"); c.close()
for p in sys.argv[1:]: threading.Thread(target=serve,args=(p,),daemon=True).start()
threading.Event().wait()`
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, "python3", "-c", prog}, ports...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	time.Sleep(300 * time.Millisecond)
}

// reach reports whether a TCP connection from ns to addr:port is answered within 2 s.
func reach(ns, addr, port string) bool {
	out, err := exec.Command("ip", "netns", "exec", ns, "python3", "-c",
		"import socket,sys;c=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=2);print(c.recv(8).decode().strip())", addr, port).CombinedOutput()
	return err == nil && strings.TrimSpace(string(out)) == "ok"
}

// TestKernelHostNetworkSecurityGroups applies a management server's security group state
// through the agent (HostNetwork.ApplySecurityGroups) to a VM port: a namespace stand-in for
// the guest, attached by a veth named as its tap would be (at + MAC), with two peers on the
// same bridge. tcp/22 is admitted from one peer's address only, tcp/80 is dropped, and a rule
// naming a group follows the group's membership.
func TestKernelHostNetworkSecurityGroups(t *testing.T) {
	host := kernelNS(t, "host")
	vm, p1, p2 := kernelNS(t, "vm"), kernelNS(t, "p1"), kernelNS(t, "p2")
	run(t, "ip", "-n", host, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", host, "link", "set", "br0", "up")
	const mac = "02:00:00:aa:00:01"
	plug(t, host, "br0", "at020000aa0001", vm, mac, "10.90.0.10/24")
	plug(t, host, "br0", "p1h", p1, "02:00:00:aa:00:21", "10.90.0.21/24")
	plug(t, host, "br0", "p2h", p2, "02:00:00:aa:00:22", "10.90.0.22/24")
	listen(t, vm, "22", "80", "443")
	if !reach(p1, "10.90.0.10", "80") || !reach(p2, "10.90.0.10", "22") {
		t.Fatal("no connectivity before any filter")
	}

	h, err := netns.GetFromName(host)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sg, err := secgroup.New(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sg.Close()
	hn := &HostNetwork{Groups: sg}
	state := func(members ...string) protocol.SecurityGroupState {
		return protocol.SecurityGroupState{
			Ports: []protocol.SecurityGroupPort{{VM: "i-2-1-VM", MAC: mac, IPs: []string{"10.90.0.10"}, Ingress: []protocol.SecurityGroupRule{
				{Protocol: "tcp", Ports: [2]uint16{22, 22}, ICMPType: -1, ICMPCode: -1, CIDRs: []string{"10.90.0.21/32"}},
				{Protocol: "tcp", Ports: [2]uint16{443, 443}, ICMPType: -1, ICMPCode: -1, Group: "g-web"},
			}}},
			Groups: map[string][]string{"g-web": members},
		}
	}
	ctx := context.Background()
	if err := hn.ApplySecurityGroups(ctx, state("10.90.0.22")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from, port string
		want       bool
	}{
		{p1, "22", true}, {p2, "22", false}, {p1, "80", false}, {p2, "80", false}, {p2, "443", true}, {p1, "443", false},
	} {
		if got := reach(c.from, "10.90.0.10", c.port); got != c.want {
			t.Errorf("%s -> vm:%s reachable %v, want %v", c.from, c.port, got, c.want)
		}
	}
	// p2 leaves the group the 443 rule names; p1 joins it.
	start := time.Now()
	if err := hn.ApplySecurityGroups(ctx, state("10.90.0.21")); err != nil {
		t.Fatal(err)
	}
	t.Logf("membership change applied in %s", time.Since(start).Round(time.Millisecond))
	if reach(p2, "10.90.0.10", "443") || !reach(p1, "10.90.0.10", "443") {
		t.Errorf("after the membership change: p2 %v, p1 %v on 443; want false, true",
			reach(p2, "10.90.0.10", "443"), reach(p1, "10.90.0.10", "443"))
	}
	// No filtered port left: the table goes and everything passes again.
	if err := hn.ApplySecurityGroups(ctx, protocol.SecurityGroupState{}); err != nil {
		t.Fatal(err)
	}
	if !reach(p2, "10.90.0.10", "80") {
		t.Error("traffic still filtered after the last port left")
	}
}
