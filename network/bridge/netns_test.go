package bridge

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// This file is the kernel tier: every test runs against the real kernel in a network
// namespace of its own, made here and gone when the test ends. It needs root; without root
// it skips, unless CI=true, where it fails.

// testNS is one throwaway network namespace with a Manager and a plain netlink handle (for
// the test's own ports and checks) in it.
type testNS struct {
	ns netns.NsHandle
	m  *Manager
	h  *netlink.Handle
}

func newTestNS(t *testing.T) *testNS {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the netns tier needs root, and CI=true forbids skipping it")
		}
		t.Skip("the netns tier needs root (run as root, or CI=true to make this a failure)")
	}
	ns := enterNewNS(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		t.Fatalf("netlink handle in the test namespace: %v", err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := New(ns, log)
	if err != nil {
		h.Close()
		ns.Close()
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		// The namespace has no name and no process in it: closing the last descriptors
		// (this one and the netlink sockets') deletes it with every link inside.
		m.Close()
		h.Close()
		if err := ns.Close(); err != nil {
			t.Errorf("close the test namespace: %v", err)
		}
	})
	return &testNS{ns: ns, m: m, h: h}
}

// enterNewNS makes a new network namespace and returns a handle on it, leaving the calling
// thread in the namespace it was in. A thread that cannot be put back stays locked, so Go
// ends it with the goroutine instead of reusing it.
func enterNewNS(t *testing.T) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("current namespace: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		if serr := netns.Set(orig); serr != nil {
			t.Fatalf("new namespace: %v; and back: %v", err, serr)
		}
		runtime.UnlockOSThread()
		t.Fatalf("new namespace: %v", err)
	}
	if err := netns.Set(orig); err != nil {
		ns.Close()
		t.Fatalf("back to the original namespace: %v", err)
	}
	runtime.UnlockOSThread()
	return ns
}

// inNS runs fn with the calling thread inside the test namespace: for what netlink cannot
// aim at another namespace (a tap is made with an ioctl on /dev/net/tun).
func (n *testNS) inNS(t *testing.T, fn func() error) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("current namespace: %v", err)
	}
	defer orig.Close()
	if err := netns.Set(n.ns); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("enter the test namespace: %v", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		t.Fatalf("back to the original namespace: %v", err) // the thread stays locked and dies
	}
	runtime.UnlockOSThread()
	if ferr != nil {
		t.Fatal(ferr)
	}
}

// veth makes a veth pair in the test namespace, both ends up, and returns the first end.
func (n *testNS) veth(t *testing.T, name, peer string) netlink.Link {
	t.Helper()
	if err := n.h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}); err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	for _, nm := range []string{peer, name} {
		if err := n.h.LinkSetUp(n.link(t, nm)); err != nil {
			t.Fatalf("set %s up: %v", nm, err)
		}
	}
	return n.link(t, name)
}

// tap makes a persistent tap device in the test namespace, as libvirt does for a NIC.
func (n *testNS) tap(t *testing.T, name string) netlink.Link {
	t.Helper()
	n.inNS(t, func() error {
		return netlink.LinkAdd(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}, Mode: netlink.TUNTAP_MODE_TAP})
	})
	return n.link(t, name)
}

// plug attaches a port to a bridge, as libvirt does for a NIC on <source bridge=...>.
func (n *testNS) plug(t *testing.T, port, bridge string) {
	t.Helper()
	if err := n.h.LinkSetMaster(n.link(t, port), n.link(t, bridge)); err != nil {
		t.Fatalf("attach %s to %s: %v", port, bridge, err)
	}
}

func (n *testNS) link(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := n.h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l
}

func (n *testNS) exists(t *testing.T, name string) bool {
	t.Helper()
	_, err := n.h.LinkByName(name)
	if err != nil && !isNotFound(err) {
		t.Fatalf("link %s: %v", name, err)
	}
	return err == nil
}

// list is Manager.List with the result reduced to "bridge[port:type,...]" strings.
func (n *testNS) list(t *testing.T) []string {
	t.Helper()
	infos, err := n.m.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var out []string
	for _, b := range infos {
		var ports []string
		for _, p := range b.Ports {
			ports = append(ports, p.Name+":"+p.Type)
		}
		out = append(out, b.Name+"["+strings.Join(ports, ",")+"]")
	}
	return out
}

func wantList(t *testing.T, n *testNS, want ...string) {
	t.Helper()
	if got := n.list(t); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("List = %q, want %q", got, want)
	}
}

// timed runs fn and logs how long it took.
func timed(t *testing.T, what string, fn func() error) error {
	t.Helper()
	start := time.Now()
	err := fn()
	t.Logf("timing: %s took %v", what, time.Since(start).Round(time.Microsecond))
	return err
}

func isUp(l netlink.Link) bool { return l.Attrs().Flags&net.FlagUp != 0 }

func wantErrIs(t *testing.T, what string, err, target error, mention ...string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
	for _, s := range mention {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q does not mention %q", what, err, s)
		}
	}
}
