package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/atollcloud/atoll/network/router"
	"github.com/atollcloud/atoll/network/secgroup"
)

// NetworkResult is what the data-plane benchmark measured, in a throwaway network namespace
// standing for a host: a router given 1,000 port-forwarding and 1,000 firewall rules, and
// security groups on 100 VM ports.
type NetworkResult struct {
	RouterRules             int
	RouterFirst, RouterNoop time.Duration
	RouterOneRule           time.Duration
	SGPorts, SGRules        int
	SGFirst, SGRuleChange   time.Duration
	SGMembership, SGNoop    time.Duration
}

// RunNetwork measures the router and security group libraries against this kernel (root).
func RunNetwork(ctx context.Context, logw io.Writer) (*NetworkResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	b := make([]byte, 3)
	rand.Read(b)
	name := "atbench-" + hex.EncodeToString(b)
	host, err := netns.NewNamed(name)
	if err != nil {
		return nil, fmt.Errorf("network benchmark: namespace: %w", err)
	}
	defer netns.DeleteNamed(name)
	defer host.Close()
	if err := netns.Set(orig); err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(host)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	for _, br := range []string{"brg", "brp"} {
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: br}}); err != nil {
			return nil, fmt.Errorf("network benchmark: bridge %s: %w", br, err)
		}
		l, err := h.LinkByName(br)
		if err != nil {
			return nil, err
		}
		if err := h.LinkSetUp(l); err != nil {
			return nil, err
		}
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := &NetworkResult{}
	if err := benchRouter(ctx, host, log, r); err != nil {
		return nil, err
	}
	if err := benchSecurityGroups(ctx, host, log, r); err != nil {
		return nil, err
	}
	return r, nil
}

func benchRouter(ctx context.Context, host netns.NsHandle, log *slog.Logger, r *NetworkResult) error {
	m, err := router.New(log, router.WithHostNetns(host))
	if err != nil {
		return err
	}
	defer m.Close()
	pub := netip.MustParseAddr("198.51.100.10")
	s := router.Spec{ID: "bench-router", EgressDefaultAllow: true, SourceNAT: pub,
		Guest:  router.Side{Bridge: "brg", Addrs: []netip.Prefix{netip.MustParsePrefix("10.77.0.1/16")}},
		Public: &router.Side{Bridge: "brp", Addrs: []netip.Prefix{netip.PrefixFrom(pub, 24)}, Gateway: netip.MustParseAddr("198.51.100.1")}}
	const n = 1000
	for i := 0; i < n; i++ {
		port := uint16(20000 + i)
		guest := netip.AddrFrom4([4]byte{10, 77, byte(i / 250), byte(i%250 + 2)})
		s.PortForward = append(s.PortForward, router.PortForward{Public: pub, Proto: "tcp", PublicPorts: [2]uint16{port, port},
			PrivatePorts: [2]uint16{22, 22}, Private: guest})
		s.Ingress = append(s.Ingress, router.FirewallRule{Public: pub, Proto: "tcp", Ports: [2]uint16{port, port}, ICMPType: -1, ICMPCode: -1,
			Sources: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	}
	r.RouterRules = 2 * n
	defer m.Remove(context.Background(), s.ID)
	t := time.Now()
	if err := m.Apply(ctx, s); err != nil {
		return fmt.Errorf("network benchmark: router: %w", err)
	}
	r.RouterFirst = time.Since(t)
	t = time.Now()
	if err := m.Apply(ctx, s); err != nil {
		return err
	}
	r.RouterNoop = time.Since(t)
	s.Ingress[0].Sources = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	t = time.Now()
	if err := m.Apply(ctx, s); err != nil {
		return err
	}
	r.RouterOneRule = time.Since(t)
	return nil
}

func benchSecurityGroups(ctx context.Context, host netns.NsHandle, log *slog.Logger, r *NetworkResult) error {
	m, err := secgroup.New(host, log)
	if err != nil {
		return err
	}
	defer m.Close()
	defer m.Remove(context.Background())
	const ports = 100
	members := make([]netip.Addr, 0, ports)
	st := secgroup.State{Groups: map[string][]netip.Addr{}}
	rules := []secgroup.Rule{
		{Proto: "tcp", Ports: [2]uint16{22, 22}, ICMPType: -1, ICMPCode: -1, CIDRs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}},
		{Proto: "tcp", Ports: [2]uint16{443, 443}, ICMPType: -1, ICMPCode: -1, Group: "web"},
		{Proto: "icmp", ICMPType: 8, ICMPCode: -1},
		{Proto: "udp", Ports: [2]uint16{53, 53}, ICMPType: -1, ICMPCode: -1, Group: "web"},
	}
	for i := 0; i < ports; i++ {
		ip := netip.AddrFrom4([4]byte{10, 78, 0, byte(i + 2)})
		members = append(members, ip)
		st.Ports = append(st.Ports, secgroup.Port{Tap: fmt.Sprintf("at0200000000%02x", i), IPs: []netip.Addr{ip},
			MAC: net.HardwareAddr{0x02, 0, 0, 0, 0, byte(i)}, Ingress: rules})
	}
	st.Groups["web"] = members
	r.SGPorts, r.SGRules = ports, len(rules)
	t := time.Now()
	if err := m.Apply(ctx, st); err != nil {
		return fmt.Errorf("network benchmark: security groups: %w", err)
	}
	r.SGFirst = time.Since(t)
	t = time.Now()
	if err := m.Apply(ctx, st); err != nil {
		return err
	}
	r.SGNoop = time.Since(t)
	// One rule added to the group every port is in: each port's chains are rewritten.
	more := append(append([]secgroup.Rule{}, rules...), secgroup.Rule{Proto: "tcp", Ports: [2]uint16{8080, 8080}, ICMPType: -1, ICMPCode: -1,
		CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	for i := range st.Ports {
		st.Ports[i].Ingress = more
	}
	t = time.Now()
	if err := m.Apply(ctx, st); err != nil {
		return err
	}
	r.SGRuleChange = time.Since(t)
	// A member leaves the group a rule names: a set update only.
	st.Groups["web"] = members[1:]
	t = time.Now()
	if err := m.Apply(ctx, st); err != nil {
		return err
	}
	r.SGMembership = time.Since(t)
	return nil
}

func (o Options) reportNetwork(r *NetworkResult) {
	fmt.Fprintf(o.Out, "\n== Guest networking data plane (this kernel, a throwaway namespace as the host)\n")
	fmt.Fprintf(o.Out, "  router with %d rules (port forwarding + firewall): first apply %s, unchanged %s, one rule changed %s\n",
		r.RouterRules, r.RouterFirst.Round(time.Millisecond), r.RouterNoop.Round(time.Millisecond), r.RouterOneRule.Round(time.Millisecond))
	fmt.Fprintf(o.Out, "  security groups on %d VM ports (%d rules each): first apply %s, unchanged %s\n",
		r.SGPorts, r.SGRules, r.SGFirst.Round(time.Millisecond), r.SGNoop.Round(time.Millisecond))
	fmt.Fprintf(o.Out, "    a rule added to the group of all %d ports: enforced after %s; a member leaving: %s\n",
		r.SGPorts, r.SGRuleChange.Round(time.Millisecond), r.SGMembership.Round(time.Millisecond))
}
