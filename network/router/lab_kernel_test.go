package router

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	osexec "os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// This file is the kernel tier's lab: an "underlay" namespace plays the host (a guest
// bridge and a public bridge), guest stand-ins and "outside" hosts are namespaces of their
// own on veths into those bridges, and the router namespaces are pinned in a temporary
// directory. Every namespace is the test's own and goes when it ends. It needs root;
// without root it skips, unless CI=true, where it fails.

type lab struct {
	t     *testing.T
	under netns.NsHandle
	uh    *netlink.Handle
	m     *Manager
	dir   string
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the kernel tier needs root, and CI=true forbids skipping it")
		}
		t.Skip("the kernel tier needs root (run as root, or CI=true to make this a failure)")
	}
}

// newNS makes an anonymous namespace, closed (and so deleted) when the test ends.
func newNS(t *testing.T) netns.NsHandle {
	t.Helper()
	errc := make(chan error, 1)
	var ns netns.NsHandle
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		n, err := netns.New()
		ns = n
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("new namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

func newLab(t *testing.T) *lab {
	t.Helper()
	needRoot(t)
	l := &lab{t: t, under: newNS(t), dir: t.TempDir()}
	h, err := netlink.NewHandleAt(l.under)
	if err != nil {
		t.Fatalf("netlink in the underlay: %v", err)
	}
	t.Cleanup(h.Close)
	l.uh = h
	for _, br := range []string{guestBridge, publicBridge} {
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: br}}); err != nil {
			t.Fatalf("add bridge %s: %v", br, err)
		}
		l.up(h, br)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := New(log, WithHostNetns(l.under), WithNetnsDir(l.dir))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	l.m = m
	t.Cleanup(func() {
		if err := m.Sweep(context.Background(), nil); err != nil {
			t.Errorf("final sweep: %v", err)
		}
		m.Close()
	})
	return l
}

func (l *lab) up(h *netlink.Handle, name string) {
	l.t.Helper()
	lk, err := h.LinkByName(name)
	if err != nil {
		l.t.Fatalf("link %s: %v", name, err)
	}
	if err := h.LinkSetUp(lk); err != nil {
		l.t.Fatalf("set %s up: %v", name, err)
	}
}

// peer is a stand-in host: a namespace with eth0 on one of the underlay's bridges.
type peer struct {
	name string
	ns   netns.NsHandle
	h    *netlink.Handle
	addr netip.Addr
}

// host adds a stand-in on bridge with addr, its default route via gw (when valid).
func (l *lab) host(name, bridge string, addr netip.Prefix, gw netip.Addr) *peer {
	t := l.t
	t.Helper()
	ns := newNS(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink in %s: %v", name, err)
	}
	t.Cleanup(h.Close)
	hostEnd := "v" + name
	if err := l.uh.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostEnd}, PeerName: "eth0",
		PeerNamespace: netlink.NsFd(int(ns))}); err != nil {
		t.Fatalf("veth for %s: %v", name, err)
	}
	br, err := l.uh.LinkByName(bridge)
	if err != nil {
		t.Fatal(err)
	}
	he, err := l.uh.LinkByName(hostEnd)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.uh.LinkSetMaster(he, br); err != nil {
		t.Fatalf("plug %s into %s: %v", hostEnd, bridge, err)
	}
	l.up(l.uh, hostEnd)
	eth, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(eth, &netlink.Addr{IPNet: &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}}); err != nil {
		t.Fatalf("address of %s: %v", name, err)
	}
	l.up(h, "eth0")
	l.up(h, "lo")
	ctx := context.Background()
	if err := waitOperUp(ctx, l.uh, hostEnd); err != nil {
		t.Fatal(err)
	}
	if err := waitOperUp(ctx, h, "eth0"); err != nil {
		t.Fatal(err)
	}
	if gw.IsValid() {
		if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw.AsSlice()}); err != nil {
			t.Fatalf("default route of %s: %v", name, err)
		}
	}
	return &peer{name: name, ns: ns, h: h, addr: addr.Addr()}
}

// in runs fn on a thread inside the namespace; sockets fn makes stay there.
func in(t *testing.T, ns netns.NsHandle, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// listen starts a TCP server in p on port that answers each connection with the address it
// sees the client at, then closes it.
func (p *peer) listen(t *testing.T, network string, port int) {
	t.Helper()
	var ln net.Listener
	if err := in(t, p.ns, func() (err error) {
		ln, err = net.Listen(network, fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatalf("listen on %s:%d: %v", p.name, port, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s %s\n", p.name, c.RemoteAddr().(*net.TCPAddr).IP)
			c.Close()
		}
	}()
}

// dial connects from p to addr:port and returns what the server said (its name and the
// client address it saw), or the error.
func (p *peer) dial(t *testing.T, addr netip.Addr, port int) (string, error) {
	t.Helper()
	var out string
	err := in(t, p.ns, func() error {
		d := net.Dialer{Timeout: 700 * time.Millisecond}
		c, err := d.Dial("tcp4", netip.AddrPortFrom(addr, uint16(port)).String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		out = strings.TrimSpace(line)
		return nil
	})
	return out, err
}

// reaches asserts that p reaches addr:port and the server there sees p as from.
func (p *peer) reaches(t *testing.T, addr netip.Addr, port int, server string, from netip.Addr) {
	t.Helper()
	got, err := p.dial(t, addr, port)
	if err != nil {
		t.Fatalf("%s -> %s:%d: %v, want it answered by %s", p.name, addr, port, err, server)
	}
	if want := server + " " + from.String(); got != want {
		t.Fatalf("%s -> %s:%d: the server said %q, want %q", p.name, addr, port, got, want)
	}
}

// blocked asserts that p does not reach addr:port.
func (p *peer) blocked(t *testing.T, addr netip.Addr, port int) {
	t.Helper()
	if got, err := p.dial(t, addr, port); err == nil {
		t.Fatalf("%s -> %s:%d answered %q, want it blocked", p.name, addr, port, got)
	}
}

// ping sends one ICMP echo from p to addr and reports whether the reply came.
func (p *peer) ping(t *testing.T, addr netip.Addr) bool {
	t.Helper()
	ok := false
	err := in(t, p.ns, func() error {
		c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		defer c.Close()
		// A fresh id per ping: conntrack would count a reused one as established.
		id := uint16(pingID.Add(1))
		msg := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), 0, 1, 'a', 't', 'o', 'l', 'l'}
		binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
		if _, err := c.WriteTo(msg, &net.IPAddr{IP: addr.AsSlice()}); err != nil {
			return err
		}
		deadline := time.Now().Add(700 * time.Millisecond)
		buf := make([]byte, 1500)
		for {
			c.SetReadDeadline(deadline)
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return nil // timeout: no reply
			}
			if n >= 8 && buf[0] == 0 && from.(*net.IPAddr).IP.Equal(addr.AsSlice()) &&
				binary.BigEndian.Uint16(buf[4:]) == id {
				ok = true
				return nil
			}
		}
	})
	if err != nil {
		t.Fatalf("ping from %s: %v", p.name, err)
	}
	return ok
}

var pingID atomic.Uint32

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func (l *lab) apply(s Spec) {
	l.t.Helper()
	start := time.Now()
	if err := l.m.Apply(context.Background(), s); err != nil {
		l.t.Fatalf("Apply: %v", err)
	}
	l.t.Logf("timing: Apply %s took %v", s.ID, time.Since(start).Round(time.Microsecond))
}

// standard is a lab with two guests (g1 10.1.1.10, g2 10.1.1.11), one outside host (the
// public gateway) and the base router applied.
func standard(t *testing.T) (*lab, *peer, *peer, *peer, Spec) {
	l := newLab(t)
	g1 := l.host("g1", guestBridge, netip.MustParsePrefix("10.1.1.10/24"), guestGW.Addr())
	g2 := l.host("g2", guestBridge, netip.MustParsePrefix("10.1.1.11/24"), guestGW.Addr())
	out := l.host("out", publicBridge, outsideA, netip.Addr{})
	s := baseSpec("net-" + strings.ReplaceAll(t.Name(), "/", "-"))
	l.apply(s)
	l.failDump(s.ID)
	return l, g1, g2, out, s
}

func itoa(n int) string { return fmt.Sprint(n) }

// runCmd runs a command and returns its output.
func runCmd(name string, args ...string) (string, error) {
	out, err := osexec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %v: %w: %s", name, args, err, out)
	}
	return string(out), nil
}

// udpEcho starts a UDP server in p that answers each datagram with its name and the
// address it saw the sender at.
func (p *peer) udpEcho(t *testing.T, port int) {
	t.Helper()
	var c net.PacketConn
	if err := in(t, p.ns, func() (err error) {
		c, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatalf("udp listen on %s:%d: %v", p.name, port, err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo([]byte(p.name+" "+from.(*net.UDPAddr).IP.String()), from)
		}
	}()
}

// udpAsk sends a datagram from p to addr:port and returns the answer, or the error.
func (p *peer) udpAsk(t *testing.T, addr netip.Addr, port int) (string, error) {
	t.Helper()
	var out string
	err := in(t, p.ns, func() error {
		c, err := net.Dial("udp4", netip.AddrPortFrom(addr, uint16(port)).String())
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("hello")); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		out = string(buf[:n])
		return nil
	})
	return out, err
}
