// Package netnstest gives the kernel-tier tests of the network packages throwaway network
// namespaces ("hosts", "guests", an underlay) joined by veths, and traffic between them:
// TCP from Go sockets opened inside a namespace, and commands (busybox) run inside one.
// Tests only: product code never imports it.
package netnstest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Require skips the test unless it runs as root; under CI=true it fails instead.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the kernel tier needs root, and CI=true forbids skipping it")
	}
	t.Skip("the kernel tier needs root (run as root, or CI=true to make this a failure)")
}

// NS is one throwaway network namespace and a netlink handle in it.
type NS struct {
	Name   string // for messages only
	Handle netns.NsHandle
	H      *netlink.Handle
}

// New makes an unnamed network namespace with its loopback up; it is gone (with every link
// in it) when the test ends and the last descriptor on it closes.
func New(t testing.TB, name string) *NS {
	t.Helper()
	Require(t)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("current namespace: %v", err)
	}
	ns, nerr := netns.New()
	if serr := netns.Set(orig); serr != nil {
		orig.Close()
		t.Fatalf("back to the original namespace: %v", serr) // the thread stays locked and dies
	}
	orig.Close()
	runtime.UnlockOSThread()
	if nerr != nil {
		t.Fatalf("new namespace: %v", nerr)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		t.Fatalf("netlink handle in %s: %v", name, err)
	}
	n := &NS{Name: name, Handle: ns, H: h}
	t.Cleanup(func() {
		h.Close()
		ns.Close()
	})
	n.Up(t, "lo")
	return n
}

// Do runs fn on a thread inside the namespace: sockets fn opens, and processes it starts,
// belong to the namespace.
func (n *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(n.Handle); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter %s: %w", n.Name, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("leave %s: %w", n.Name, err) // the thread stays locked and dies
	}
	runtime.UnlockOSThread()
	return ferr
}

// Link returns the link called name.
func (n *NS) Link(t testing.TB, name string) netlink.Link {
	t.Helper()
	l, err := n.H.LinkByName(name)
	if err != nil {
		t.Fatalf("%s: link %s: %v", n.Name, name, err)
	}
	return l
}

// Up sets a link up.
func (n *NS) Up(t testing.TB, name string) {
	t.Helper()
	if err := n.H.LinkSetUp(n.Link(t, name)); err != nil {
		t.Fatalf("%s: set %s up: %v", n.Name, name, err)
	}
}

// Addr adds an address ("10.0.0.1/24", "2001:db8::1/64") to a link; an IPv6 one skips
// duplicate address detection, so it is usable at once.
func (n *NS) Addr(t testing.TB, link, prefix string) {
	t.Helper()
	a, err := netlink.ParseAddr(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if a.IP.To4() == nil {
		a.Flags |= unix.IFA_F_NODAD
	}
	if err := n.H.AddrAdd(n.Link(t, link), a); err != nil {
		t.Fatalf("%s: add %s to %s: %v", n.Name, prefix, link, err)
	}
}

// DelAddr removes an address from a link.
func (n *NS) DelAddr(t testing.TB, link, prefix string) {
	t.Helper()
	a, err := netlink.ParseAddr(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.H.AddrDel(n.Link(t, link), a); err != nil {
		t.Fatalf("%s: delete %s from %s: %v", n.Name, prefix, link, err)
	}
}

// SetMAC changes a link's MAC address.
func (n *NS) SetMAC(t testing.TB, link string, mac net.HardwareAddr) {
	t.Helper()
	if err := n.H.LinkSetHardwareAddr(n.Link(t, link), mac); err != nil {
		t.Fatalf("%s: set %s mac %v: %v", n.Name, link, mac, err)
	}
}

// Bridge makes a plain bridge, up.
func (n *NS) Bridge(t testing.TB, name string) {
	t.Helper()
	if err := n.H.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		t.Fatalf("%s: add bridge %s: %v", n.Name, name, err)
	}
	n.Up(t, name)
}

// Plug attaches a port to a bridge.
func (n *NS) Plug(t testing.TB, port, bridge string) {
	t.Helper()
	if err := n.H.LinkSetMaster(n.Link(t, port), n.Link(t, bridge)); err != nil {
		t.Fatalf("%s: attach %s to %s: %v", n.Name, port, bridge, err)
	}
}

// Veth joins two namespaces: aName in a, bName in b (with mac, when given), both up.
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string, mac net.HardwareAddr) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aName}, PeerName: bName,
		PeerNamespace: netlink.NsFd(int(b.Handle)), PeerHardwareAddr: mac}
	if err := a.H.LinkAdd(v); err != nil {
		t.Fatalf("veth %s/%s - %s/%s: %v", a.Name, aName, b.Name, bName, err)
	}
	a.Up(t, aName)
	b.Up(t, bName)
}

// Serve listens on TCP addr ("10.0.0.1:22") inside the namespace and answers every
// connection with "hi" from the namespace's name, until the test ends.
func (n *NS) Serve(t testing.TB, addr string) {
	t.Helper()
	var l net.Listener
	if err := n.Do(func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("%s: listen %s: %v", n.Name, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "hi from "+n.Name)
			c.Close()
		}
	}()
}

// Dial connects from the namespace to TCP addr, optionally from the local address src
// (invalid: the kernel's choice), and reads the server's greeting; an error says where the
// exchange stopped. A filtered path fails with a timeout after about timeout.
func (n *NS) Dial(addr string, src netip.Addr, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := net.Dialer{}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	var c net.Conn
	if err := n.Do(func() (err error) { c, err = d.DialContext(ctx, "tcp", addr); return err }); err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	if err != nil {
		return "", fmt.Errorf("read from %s: %w", addr, err)
	}
	return string(b), nil
}

// Run runs a command inside the namespace and returns its combined output.
func (n *NS) Run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []byte
	err := n.Do(func() (err error) {
		out, err = exec.CommandContext(ctx, name, args...).CombinedOutput()
		return err
	})
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), n.Name, err,
			strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Start starts a long-running command inside the namespace; it is killed when the test ends.
func (n *NS) Start(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdout = testWriter{t, n.Name + ": " + name}
	cmd.Stderr = cmd.Stdout
	if err := n.Do(cmd.Start); err != nil {
		t.Fatalf("%s: start %s: %v", n.Name, name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

type testWriter struct {
	t      testing.TB
	prefix string
}

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s: %s", w.prefix, strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
