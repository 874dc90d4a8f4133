package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/network/bridge"
	"github.com/atollcloud/atoll/network/dnsmasq"
	"github.com/atollcloud/atoll/network/haproxy"
	"github.com/atollcloud/atoll/network/metadata"
	"github.com/atollcloud/atoll/network/router"
	"github.com/atollcloud/atoll/network/secgroup"
)

// Bridges is a real host's NetworkDriver: each guest network gets a Linux bridge (over a
// VLAN sub-interface or a VXLAN link when the host has uplinks for them).
type Bridges struct {
	Manager *bridge.Manager
	Uplinks bridge.Uplinks
}

// BridgeFor makes sure the bridge of the NIC's guest network exists and names it.
func (b *Bridges) BridgeFor(ctx context.Context, nic protocol.NicSpec) (string, error) {
	return b.Manager.EnsureFor(ctx, b.Uplinks, nic.BroadcastURI, nic.NetworkID)
}

// HostNetwork is a real host's whole guest networking: the bridges (Bridges), the routers of
// the isolated networks placed on this host (a namespace with nftables, dnsmasq, the metadata
// and password servers and haproxy each) and the security groups of its VM ports. It is a
// NetworkDriver and GuestNetworking.
type HostNetwork struct {
	Bridges
	// PublicBridge is the bridge routers join for public traffic when the zone's public
	// traffic label names none.
	PublicBridge string
	Routers      *router.Manager
	DHCP         *dnsmasq.Manager
	Metadata     *metadata.Server
	LB           *haproxy.Manager
	Groups       *secgroup.Manager
	Log          *slog.Logger

	mu sync.Mutex // one change at a time: a router apply and a sync must not interleave
}

var _ GuestNetworking = (*HostNetwork)(nil)

// Close releases what the host network holds open (netlink and nftables handles, the
// metadata listeners); the kernel state and daemons stay for the next agent to find.
func (h *HostNetwork) Close() {
	if h.Metadata != nil {
		h.Metadata.Close()
	}
	if h.Routers != nil {
		h.Routers.Close()
	}
	if h.Groups != nil {
		h.Groups.Close()
	}
}

// vxlanID answers the VNI of a vxlan:// broadcast URI (0 for any other).
func vxlanID(uri string) int {
	b, err := bridge.ParseBroadcast(uri)
	if err != nil || b.Kind != bridge.VXLAN {
		return 0
	}
	return b.ID
}

// SetupNetwork readies a guest network's bridge and its VXLAN peers, or removes the bridge
// when nothing but its own links is left on it.
func (h *HostNetwork) SetupNetwork(ctx context.Context, s protocol.NetworkSetup) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.setupNetwork(ctx, s)
}

func (h *HostNetwork) setupNetwork(ctx context.Context, s protocol.NetworkSetup) error {
	if s.Remove {
		name, err := bridge.NameFor(s.BroadcastURI, s.NetworkID)
		if err != nil {
			return err
		}
		if err := h.Manager.Remove(ctx, name, false); err != nil && !errors.Is(err, bridge.ErrBusy) {
			return err
		}
		return nil // a bridge with guests or a router on it stays
	}
	if _, err := h.Manager.EnsureFor(ctx, h.Uplinks, s.BroadcastURI, s.NetworkID); err != nil {
		return err
	}
	return h.setPeers(ctx, s.BroadcastURI, s.Peers)
}

// setPeers keeps a VXLAN network's head-end replication entries at peers (nothing for other
// networks, or on a host without a tunnel source).
func (h *HostNetwork) setPeers(ctx context.Context, uri string, peers []string) error {
	vni := vxlanID(uri)
	if vni == 0 || !h.Uplinks.VXLANLocal.IsValid() || h.Uplinks.VXLANMulticast {
		return nil // not VXLAN, not joined to other hosts, or flooding to a multicast group
	}
	addrs := make([]netip.Addr, 0, len(peers))
	for _, p := range peers {
		a, err := netip.ParseAddr(p)
		if err != nil {
			return fmt.Errorf("vxlan %d: peer %q: %w", vni, p, err)
		}
		if a != h.Uplinks.VXLANLocal {
			addrs = append(addrs, a)
		}
	}
	return h.Manager.SetPeers(ctx, vni, addrs)
}

// ApplyRouter makes a network's router on this host what s says: its bridges, namespace and
// nftables, then DHCP/DNS, the metadata and password servers and load balancing.
// When the public side cannot be made on this host (no bridge for the public traffic, or a
// tagged public VLAN on a kernel without 802.1Q), the router is applied without it, so that
// its guests still get DHCP, DNS and metadata, and the answer says what is missing.
func (h *HostNetwork) ApplyRouter(ctx context.Context, s protocol.RouterSpec) (*protocol.RouterApplied, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	degraded, err := h.applyRouter(ctx, s)
	if err != nil {
		return nil, err
	}
	return &protocol.RouterApplied{Degraded: degraded}, nil
}

func (h *HostNetwork) applyRouter(ctx context.Context, s protocol.RouterSpec) (degraded string, err error) {
	if h.Routers == nil {
		return "", errUnsupported(protocol.CmdApplyRouter)
	}
	guestBr, err := h.Manager.EnsureFor(ctx, h.Uplinks, s.BroadcastURI, s.NetworkID)
	if err != nil {
		return "", fmt.Errorf("router of %s: guest bridge: %w", s.NetworkID, err)
	}
	if err := h.setPeers(ctx, s.BroadcastURI, s.Peers); err != nil {
		return "", fmt.Errorf("router of %s: %w", s.NetworkID, err)
	}
	spec, err := routerSpec(s, guestBr)
	if err != nil {
		return "", fmt.Errorf("router of %s: %w", s.NetworkID, err)
	}
	if spec.Public != nil {
		if spec.Public.Bridge, err = h.publicBridge(ctx, s); err != nil {
			degraded = fmt.Sprintf("no public side on this host: %v", err)
			if h.Log != nil {
				h.Log.Warn("router without its public side", "network", s.NetworkID, "err", err)
			}
			spec.Public, spec.SourceNAT, spec.StaticNAT, spec.PortForward, spec.Ingress = nil, netip.Addr{}, nil, nil, nil
			s.LoadBalancers = nil
		}
	}
	if err := h.Routers.Apply(ctx, spec); err != nil {
		return "", err
	}
	ns := h.Routers.Path(s.NetworkID)
	gw := spec.Guest.Addrs[0]
	dc := dnsmasq.Config{Namespace: ns, Interface: "guest0", Gateway: gw, Domain: s.Domain}
	if s.GuestRouter != "" {
		if dc.Router, err = netip.ParseAddr(s.GuestRouter); err != nil {
			return "", fmt.Errorf("router of %s: guest router %q: %w", s.NetworkID, s.GuestRouter, err)
		}
	}
	for _, d := range s.DNS {
		if a, err := netip.ParseAddr(d); err == nil {
			dc.DNS = append(dc.DNS, a)
		}
	}
	data := map[netip.Addr]metadata.VMData{}
	for _, v := range s.VMs {
		a, err := netip.ParseAddr(v.IP)
		if err != nil {
			return "", fmt.Errorf("router of %s: vm address %q: %w", s.NetworkID, v.IP, err)
		}
		dc.Leases = append(dc.Leases, dnsmasq.Lease{MAC: v.MAC, IP: a, Hostname: v.Hostname})
		ud, err := base64.StdEncoding.DecodeString(v.UserData)
		if err != nil {
			ud = []byte(v.UserData) // CloudStack accepts unpadded or plain user data
		}
		meta := map[string]string{}
		for k, val := range v.Meta {
			meta[k] = val
		}
		if spec.SourceNAT.IsValid() && meta["public-ipv4"] == "" {
			meta["public-ipv4"], meta["public-hostname"] = spec.SourceNAT.String(), spec.SourceNAT.String()
		}
		data[a] = metadata.VMData{UserData: ud, Meta: meta, PublicKeys: v.PublicKeys, Password: v.Password}
	}
	if err := h.DHCP.Ensure(ctx, s.NetworkID, dc); err != nil {
		return "", fmt.Errorf("router of %s: dhcp: %w", s.NetworkID, err)
	}
	if err := h.Metadata.Set(s.NetworkID, ns, []netip.Addr{gw.Addr(), netip.MustParseAddr("169.254.169.254")}, data); err != nil {
		return "", fmt.Errorf("router of %s: metadata: %w", s.NetworkID, err)
	}
	lc, err := lbConfig(ns, s.LoadBalancers)
	if err != nil {
		return "", fmt.Errorf("router of %s: %w", s.NetworkID, err)
	}
	if err := h.LB.Ensure(ctx, s.NetworkID, lc); err != nil {
		return "", fmt.Errorf("router of %s: load balancing: %w", s.NetworkID, err)
	}
	return degraded, nil
}

// publicBridge answers the bridge a router's public side joins: the public traffic label's
// (or this host's default) for an untagged range, else a VLAN bridge over it, which needs the
// kernel's 802.1Q support.
func (h *HostNetwork) publicBridge(ctx context.Context, s protocol.RouterSpec) (string, error) {
	base := s.PublicLabel
	if base == "" {
		base = h.PublicBridge
	}
	v := strings.TrimPrefix(strings.ToLower(s.PublicVLAN), "vlan://")
	if v == "" || v == "untagged" {
		if _, err := net.InterfaceByName(base); err != nil {
			return "", fmt.Errorf("the public traffic bridge %q: %w", base, err)
		}
		return base, nil
	}
	id, err := strconv.Atoi(v)
	if err != nil {
		return "", fmt.Errorf("public VLAN %q is not a VLAN id", s.PublicVLAN)
	}
	uplink := h.Uplinks.VLAN
	if uplink == "" {
		uplink = base
	}
	uri := "vlan://" + strconv.Itoa(id)
	name, err := bridge.NameFor(uri, "public")
	if err != nil {
		return "", err
	}
	return name, h.Manager.Ensure(ctx, name, bridge.Options{MTU: h.Uplinks.MTU, VLAN: &bridge.VLANLink{Uplink: uplink, ID: id}})
}

// routerSpec converts the wire spec into network/router's.
func routerSpec(s protocol.RouterSpec, guestBridge string) (router.Spec, error) {
	out := router.Spec{ID: s.NetworkID, EgressDefaultAllow: s.EgressDefaultAllow}
	gw, err := netip.ParsePrefix(s.GuestGateway)
	if err != nil {
		return out, fmt.Errorf("guest gateway %q: %w", s.GuestGateway, err)
	}
	out.Guest = router.Side{Bridge: guestBridge, Addrs: []netip.Prefix{gw}}
	if s.GuestMAC != "" {
		if out.Guest.MAC, err = net.ParseMAC(s.GuestMAC); err != nil {
			return out, fmt.Errorf("guest mac: %w", err)
		}
	}
	if len(s.PublicAddrs) > 0 {
		pub := &router.Side{}
		for _, p := range s.PublicAddrs {
			pfx, err := netip.ParsePrefix(p)
			if err != nil {
				return out, fmt.Errorf("public address %q: %w", p, err)
			}
			pub.Addrs = append(pub.Addrs, pfx)
		}
		if s.PublicGateway != "" {
			if pub.Gateway, err = netip.ParseAddr(s.PublicGateway); err != nil {
				return out, fmt.Errorf("public gateway: %w", err)
			}
		}
		if s.PublicMAC != "" {
			if pub.MAC, err = net.ParseMAC(s.PublicMAC); err != nil {
				return out, fmt.Errorf("public mac: %w", err)
			}
		}
		out.Public = pub
	}
	addr := func(what, a string) (netip.Addr, error) {
		x, err := netip.ParseAddr(a)
		if err != nil {
			return x, fmt.Errorf("%s %q: %w", what, a, err)
		}
		return x, nil
	}
	if s.SourceNAT != "" {
		if out.SourceNAT, err = addr("source nat", s.SourceNAT); err != nil {
			return out, err
		}
	}
	for _, n := range s.StaticNAT {
		pub, err := addr("static nat", n.Public)
		if err != nil {
			return out, err
		}
		priv, err := addr("static nat", n.Private)
		if err != nil {
			return out, err
		}
		out.StaticNAT = append(out.StaticNAT, router.StaticNAT{Public: pub, Private: priv})
	}
	for _, p := range s.PortForwards {
		pub, err := addr("port forwarding", p.Public)
		if err != nil {
			return out, err
		}
		priv, err := addr("port forwarding", p.Private)
		if err != nil {
			return out, err
		}
		out.PortForward = append(out.PortForward, router.PortForward{Public: pub, Proto: p.Protocol, PublicPorts: p.PublicPorts,
			PrivatePorts: p.PrivatePorts, Private: priv})
	}
	for _, r := range s.Firewall {
		pub, err := addr("firewall rule", r.Public)
		if err != nil {
			return out, err
		}
		src, err := prefixes(r.CIDRs)
		if err != nil {
			return out, err
		}
		out.Ingress = append(out.Ingress, router.FirewallRule{Public: pub, Proto: r.Protocol, Ports: r.Ports, ICMPType: r.ICMPType,
			ICMPCode: r.ICMPCode, Sources: src})
	}
	for _, r := range s.Egress {
		src, err := prefixes(r.CIDRs)
		if err != nil {
			return out, err
		}
		dst, err := prefixes(r.Dests)
		if err != nil {
			return out, err
		}
		out.Egress = append(out.Egress, router.EgressRule{Proto: r.Protocol, Ports: r.Ports, ICMPType: r.ICMPType, ICMPCode: r.ICMPCode,
			Sources: src, Dests: dst})
	}
	return out, nil
}

// prefixes parses CIDRs; a plain address is its /32 (or /128).
func prefixes(cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range cidrs {
		if c == "" {
			continue
		}
		if !strings.Contains(c, "/") {
			a, err := netip.ParseAddr(c)
			if err != nil {
				return nil, fmt.Errorf("cidr %q: %w", c, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("cidr %q: %w", c, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// lbConfig converts load-balancer rules into haproxy's configuration.
func lbConfig(ns string, rules []protocol.LBRule) (haproxy.Config, error) {
	c := haproxy.Config{Namespace: ns}
	for _, r := range rules {
		pub, err := netip.ParseAddr(r.Public)
		if err != nil {
			return c, fmt.Errorf("load balancer %s: public address %q: %w", r.Name, r.Public, err)
		}
		hr := haproxy.Rule{Name: r.Name, Public: pub, PublicPort: r.PublicPort, PrivatePort: r.PrivatePort, Algorithm: r.Algorithm}
		for _, m := range r.Members {
			a, err := netip.ParseAddr(m)
			if err != nil {
				return c, fmt.Errorf("load balancer %s: member %q: %w", r.Name, m, err)
			}
			hr.Members = append(hr.Members, a)
		}
		if r.Stickiness != nil {
			hr.Stickiness = &haproxy.Stickiness{Method: r.Stickiness.Method, Params: r.Stickiness.Params}
		}
		if hc := r.HealthCheck; hc != nil {
			hr.Health = &haproxy.Health{PingPath: hc.PingPath, Interval: time.Duration(hc.IntervalS) * time.Second,
				Timeout: time.Duration(hc.TimeoutS) * time.Second, Healthy: hc.Healthy, Unhealthy: hc.Unhealthy}
		}
		c.Rules = append(c.Rules, hr)
	}
	return c, nil
}

// RemoveRouter takes a network's router off this host: its daemons, then its namespace, then
// the network's bridge unless guests are still plugged into it.
func (h *HostNetwork) RemoveRouter(ctx context.Context, r protocol.NetworkRef) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.removeRouter(ctx, r.NetworkID); err != nil {
		return err
	}
	if r.BroadcastURI == "" {
		return nil
	}
	return h.setupNetwork(ctx, protocol.NetworkSetup{NetworkID: r.NetworkID, BroadcastURI: r.BroadcastURI, Remove: true})
}

func (h *HostNetwork) removeRouter(ctx context.Context, networkID string) error {
	if h.Routers == nil {
		return errUnsupported(protocol.CmdRemoveRouter)
	}
	return errors.Join(h.LB.Stop(ctx, networkID), h.Metadata.Remove(networkID), h.DHCP.Stop(ctx, networkID),
		h.Routers.Remove(ctx, networkID))
}

// ApplySecurityGroups filters this host's VM ports as s says. A VM's port is its tap on this
// host: at<mac>, or au<mac> when it arrived by live migration.
func (h *HostNetwork) ApplySecurityGroups(ctx context.Context, s protocol.SecurityGroupState) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.applySecurityGroups(ctx, s)
}

func (h *HostNetwork) applySecurityGroups(ctx context.Context, s protocol.SecurityGroupState) error {
	if h.Groups == nil {
		return errUnsupported(protocol.CmdApplySecurityGroups)
	}
	st := secgroup.State{Groups: map[string][]netip.Addr{}}
	for id, members := range s.Groups {
		for _, m := range members {
			a, err := netip.ParseAddr(m)
			if err != nil {
				return fmt.Errorf("security group %s: member %q: %w", id, m, err)
			}
			st.Groups[id] = append(st.Groups[id], a)
		}
		if st.Groups[id] == nil {
			st.Groups[id] = []netip.Addr{}
		}
	}
	for _, p := range s.Ports {
		mac, err := net.ParseMAC(p.MAC)
		if err != nil {
			return fmt.Errorf("security groups of %s: mac: %w", p.VM, err)
		}
		tap := hypervisor.TapName(p.MAC)
		if _, err := net.InterfaceByName(tap); err != nil {
			if alt := hypervisor.MigratedTapName(tap); alt != tap {
				if _, err := net.InterfaceByName(alt); err == nil {
					tap = alt
				}
			}
		}
		port := secgroup.Port{Tap: tap, MAC: mac}
		for _, a := range p.IPs {
			x, err := netip.ParseAddr(a)
			if err != nil {
				return fmt.Errorf("security groups of %s: address %q: %w", p.VM, a, err)
			}
			port.IPs = append(port.IPs, x)
		}
		if port.Ingress, err = sgRules(p.Ingress); err != nil {
			return fmt.Errorf("security groups of %s: %w", p.VM, err)
		}
		if port.Egress, err = sgRules(p.Egress); err != nil {
			return fmt.Errorf("security groups of %s: %w", p.VM, err)
		}
		st.Ports = append(st.Ports, port)
	}
	if len(st.Ports) == 0 {
		return h.Groups.Remove(ctx)
	}
	return h.Groups.Apply(ctx, st)
}

func sgRules(rules []protocol.SecurityGroupRule) ([]secgroup.Rule, error) {
	var out []secgroup.Rule
	for _, r := range rules {
		cidrs, err := prefixes(r.CIDRs)
		if err != nil {
			return nil, err
		}
		out = append(out, secgroup.Rule{Proto: r.Protocol, Ports: r.Ports, ICMPType: r.ICMPType, ICMPCode: r.ICMPCode, CIDRs: cidrs,
			Group: r.Group})
	}
	return out, nil
}

// Sync converges this host on everything the management server wants (a host that has just
// connected): the listed networks' bridges and peers, the listed routers, the security
// groups; and removes the routers, daemons and bridges of networks no longer listed.
func (h *HostNetwork) Sync(ctx context.Context, s protocol.NetworkSync) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	keepBridges := map[string]bool{}
	for _, n := range s.Networks {
		if err := h.setupNetwork(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", n.NetworkID, err))
		}
		if name, err := bridge.NameFor(n.BroadcastURI, n.NetworkID); err == nil {
			keepBridges[name] = true
		}
	}
	var keep []string
	for _, r := range s.Routers {
		keep = append(keep, r.NetworkID)
		if name, err := bridge.NameFor(r.BroadcastURI, r.NetworkID); err == nil {
			keepBridges[name] = true
		}
		if _, err := h.applyRouter(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	if h.Routers != nil {
		errs = append(errs, h.LB.Sweep(ctx, keep), h.DHCP.Sweep(ctx, keep))
		h.Metadata.Sweep(keep)
		errs = append(errs, h.Routers.Sweep(ctx, keep))
	}
	if h.Groups != nil {
		errs = append(errs, h.applySecurityGroups(ctx, s.SecurityGroups))
	}
	// Bridges of networks no longer here go unless guests are still plugged in (a VM the
	// management server does not know of yet is not cut off).
	if list, err := h.Manager.List(ctx); err == nil {
		for _, b := range list {
			if !keepBridges[b.Name] {
				if err := h.Manager.Remove(ctx, b.Name, false); err != nil && !errors.Is(err, bridge.ErrBusy) {
					errs = append(errs, err)
				}
			}
		}
	} else {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
