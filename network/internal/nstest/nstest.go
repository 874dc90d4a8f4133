// Package nstest builds, for kernel tests, a throwaway router namespace as network/router
// makes it (a named namespace with a veth "guest0" carrying the gateway address) on a bridge
// in a throwaway "host" namespace, and guest stand-in namespaces on the same bridge. Tests
// only: nothing in it touches the root namespace's links, routes or firewall.
package nstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/atollcloud/atoll/network/internal/nsproc"
)

// NeedRoot skips a kernel test without root, unless CI=true, where it fails.
func NeedRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("kernel tests need root, and CI=true forbids skipping them")
		}
		t.Skip("kernel tests need root (run as root, or CI=true to make this a failure)")
	}
}

// NeedBinaries fails (CI) or skips when a program the test drives is missing.
func NeedBinaries(t *testing.T, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := lookPath(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed (make deps installs it)", p)
			}
			t.Skipf("%s is not installed (make deps installs it)", p)
		}
	}
}

func lookPath(p string) (string, error) {
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin", "/usr/local/sbin"} {
		if fi, err := os.Stat(filepath.Join(d, p)); err == nil && !fi.IsDir() {
			return filepath.Join(d, p), nil
		}
	}
	return "", os.ErrNotExist
}

// NS is one named throwaway namespace.
type NS struct {
	Name string
	H    netns.NsHandle
	NL   *netlink.Handle
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NewNS makes a named namespace (prefix + random hex; 15 chars at most keeps link names
// derived from it short) with lo up, deleted when the test ends.
func NewNS(t *testing.T, prefix string) *NS {
	t.Helper()
	name := prefix + randHex(4)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("current namespace: %v", err)
	}
	h, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		orig.Close()
		t.Fatalf("back to the original namespace: %v", serr) // the thread stays locked and dies
	}
	orig.Close()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("new namespace %s: %v", name, err)
	}
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatalf("netlink in %s: %v", name, err)
	}
	n := &NS{Name: name, H: h, NL: nl}
	t.Cleanup(func() {
		nl.Close()
		h.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	lo, err := nl.LinkByName("lo")
	if err != nil {
		t.Fatalf("lo in %s: %v", name, err)
	}
	if err := nl.LinkSetUp(lo); err != nil {
		t.Fatalf("lo up in %s: %v", name, err)
	}
	return n
}

// Link returns a link of the namespace by name.
func (n *NS) Link(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := n.NL.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s in %s: %v", name, n.Name, err)
	}
	return l
}

// AddAddr puts an address (with prefix) on a link of the namespace.
func (n *NS) AddAddr(t *testing.T, link string, p netip.Prefix) {
	t.Helper()
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if err := n.NL.AddrAdd(n.Link(t, link), a); err != nil {
		t.Fatalf("add %v on %s in %s: %v", p, link, n.Name, err)
	}
}

// DefaultRoute sets the namespace's default route via gw.
func (n *NS) DefaultRoute(t *testing.T, gw netip.Addr) {
	t.Helper()
	r := &netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Gw: gw.AsSlice()}
	if err := n.NL.RouteReplace(r); err != nil {
		t.Fatalf("default route via %v in %s: %v", gw, n.Name, err)
	}
}

// Lab is a host namespace with a bridge, a router namespace joined to it by guest0 with the
// gateway address, and the guests added later.
type Lab struct {
	Host    *NS
	Router  *NS
	Gateway netip.Prefix
	Bridge  netlink.Link
	Guests  []*NS
}

// NewLab builds the host and router namespaces around gateway (10.71.0.1/24 style).
func NewLab(t *testing.T, gateway netip.Prefix) *Lab {
	t.Helper()
	NeedRoot(t)
	l := &Lab{Host: NewNS(t, "at-h-"), Router: NewNS(t, "atr-t-"), Gateway: gateway}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := l.Host.NL.LinkAdd(br); err != nil {
		t.Fatalf("bridge: %v", err)
	}
	l.Bridge = l.Host.Link(t, "br0")
	if err := l.Host.NL.LinkSetUp(l.Bridge); err != nil {
		t.Fatalf("bridge up: %v", err)
	}
	l.plug(t, "rtr0", l.Router, "guest0", nil)
	l.Router.AddAddr(t, "guest0", gateway)
	return l
}

// plug makes a veth: hostEnd on the host bridge, peer (named inside) in ns.
func (l *Lab) plug(t *testing.T, hostEnd string, ns *NS, inside string, mac net.HardwareAddr) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostEnd, MasterIndex: l.Bridge.Attrs().Index}, PeerName: inside,
		PeerNamespace: netlink.NsFd(int(ns.H)), PeerHardwareAddr: mac}
	if err := l.Host.NL.LinkAdd(v); err != nil {
		t.Fatalf("veth %s/%s: %v", hostEnd, inside, err)
	}
	if err := l.Host.NL.LinkSetUp(l.Host.Link(t, hostEnd)); err != nil {
		t.Fatalf("%s up: %v", hostEnd, err)
	}
	if err := ns.NL.LinkSetUp(ns.Link(t, inside)); err != nil {
		t.Fatalf("%s up in %s: %v", inside, ns.Name, err)
	}
}

// AddGuest makes a guest stand-in namespace with eth0 (the given MAC) on the bridge, as a
// VM's tap would be; no address yet.
func (l *Lab) AddGuest(t *testing.T, mac string) *NS {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	g := NewNS(t, "at-g-")
	l.plug(t, "vm"+randHex(3), g, "eth0", hw)
	l.Guests = append(l.Guests, g)
	return g
}

// DHCP is what a DHCP client got.
type DHCP struct {
	IP       netip.Prefix
	Router   netip.Addr
	DNS      string
	Domain   string
	Hostname string
}

// DHCPClient runs busybox udhcpc once in the namespace on eth0 and returns the lease it got
// (zero and the client's output when none came); with apply it puts the address and default
// route on the guest as a real client would.
func (n *NS) DHCPClient(t *testing.T, apply bool) (DHCP, string) {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "udhcpc.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
echo "LEASE ip=$ip mask=$mask router=$router dns=$dns domain=$domain hostname=$hostname"
`), 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// -n: exit when no lease, -q: exit after getting one, -t/-T: 4 tries 1 s apart. No
	// -O hostname: busybox asks for hostname when it is passed with -O.
	out, err := nsproc.Run(ctx, n.Name, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "4", "-T", "1",
		"-s", script, "-O", "hostname", "-O", "domain", "-O", "dns", "-O", "router")
	var d DHCP
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "LEASE ") {
			continue
		}
		kv := map[string]string{}
		for _, f := range strings.Fields(line)[1:] {
			k, v, _ := strings.Cut(f, "=")
			kv[k] = v
		}
		ip, _ := netip.ParseAddr(kv["ip"])
		bits := 24
		if m, e := strconv.Atoi(kv["mask"]); e == nil {
			bits = m
		}
		d.IP = netip.PrefixFrom(ip, bits)
		d.Router, _ = netip.ParseAddr(kv["router"])
		d.DNS, d.Domain, d.Hostname = kv["dns"], kv["domain"], kv["hostname"]
	}
	if err != nil && d.IP.IsValid() {
		t.Fatalf("udhcpc: %v", err)
	}
	if apply && d.IP.IsValid() {
		eth := n.Link(t, "eth0")
		addrs, _ := n.NL.AddrList(eth, netlink.FAMILY_V4)
		for _, a := range addrs {
			n.NL.AddrDel(eth, &a)
		}
		n.AddAddr(t, "eth0", d.IP)
		if d.Router.IsValid() {
			n.DefaultRoute(t, d.Router)
		}
	}
	return d, string(out)
}

// Dial opens a TCP connection from inside the namespace.
func (n *NS) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := nsproc.Do(n.Name, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// Listen opens a TCP listener inside the namespace.
func (n *NS) Listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := nsproc.Do(n.Name, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, n.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
