package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// RouterTimeout bounds one router or bridge command on a host (a namespace, nftables, and
// dnsmasq started or signalled: seconds, not minutes).
const RouterTimeout = 60 * time.Second

// hasRouter reports whether a network gets a router: an Isolated network (CloudStack's
// virtual router serves its DHCP, DNS, source NAT and rules), and a Shared one whose offering
// has the Dhcp service (its router serves DHCP, DNS and metadata only, as CloudStack's does
// in Basic zones and on shared networks).
func hasRouter(n *db.Network) bool {
	if n.IsSystem {
		return false
	}
	return n.GuestType == db.GuestIsolated || n.GuestType == db.GuestShared && n.HasService("Dhcp") && n.Gateway != ""
}

// ensureRouter gives a network its router row, unplaced, in the caller's transaction
// (Implement, or a shared network's first VM). An isolated network's router takes the
// network's gateway as its guest address; a shared network's takes an address of the
// network's range, as a NIC would (released with the network).
func ensureRouter(ctx context.Context, d *orchestrate.Deps, tx db.Tx, n *db.Network) error {
	if !hasRouter(n) {
		return nil
	}
	if _, err := db.NetworkRouter(ctx, tx, n.ID); err == nil || !errors.Is(err, db.ErrNotFound) {
		return err
	}
	guestIP := n.Gateway
	if n.GuestType == db.GuestShared {
		ip, err := AllocateNicIP(ctx, d, tx, n, "")
		if err != nil {
			return err
		}
		guestIP = ip
	}
	id := uuid.NewString()
	return db.InsertRouter(ctx, tx, &db.Router{ID: id, Name: "r-" + id[:8] + "-VM", NetworkID: n.ID, ZoneID: n.ZoneID,
		AccountID: n.AccountID, DomainID: n.DomainID, State: db.RouterStarting, GuestIP: guestIP,
		GuestMAC: db.NewMAC(), PublicMAC: db.NewMAC(), Created: db.Now()})
}

// routerHeldIP answers the address a shared network's router holds in the network's range
// ("" for none): it is no VM's, and goes with the network.
func routerHeldIP(ctx context.Context, q db.Querier, n *db.Network) (string, error) {
	if n.GuestType != db.GuestShared {
		return "", nil
	}
	r, err := db.NetworkRouter(ctx, q, n.ID)
	if errors.Is(err, db.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return r.GuestIP, nil
}

// RealHost reports whether a host has guest networking (bridges, routers, security groups)
// and is sent its commands: a KVM host whose agent reported the capability. A Simulator host
// simulates its guests' networks along with the guests.
func RealHost(h *db.Host) bool {
	return strings.EqualFold(h.HypervisorType, "KVM") && slices.Contains(strings.Split(h.Capabilities, ","), protocol.CapGuestNetworking)
}

// routerHostUsable reports whether a router may stay on, or move to, h.
func routerHostUsable(h *db.Host) bool {
	return h.Removed == 0 && h.Status == db.HostStatusUp && h.ResourceState == db.HostResourceEnabled && h.Type == "Routing"
}

// placeRouter picks the host for a router: an Up, Enabled host of its zone, real hosts first,
// the one with the fewest routers, and moves the row there (conditional on its version).
func placeRouter(ctx context.Context, d *orchestrate.Deps, r *db.Router) (*db.Host, error) {
	q := d.DB.Read()
	hosts, _, err := db.ListHosts(ctx, q, db.HostFilter{ZoneID: r.ZoneID, Status: db.HostStatusUp, ResourceState: db.HostResourceEnabled})
	if err != nil {
		return nil, err
	}
	var cands []*db.Host
	for _, h := range hosts {
		if routerHostUsable(h) {
			cands = append(cands, h)
		}
	}
	if len(cands) == 0 {
		return nil, orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSInsufficientServerCapacity,
			"Unable to place the router of network %s: zone %s has no Up host", r.NetworkName, r.ZoneName)
	}
	load, err := db.RouterLoad(ctx, q, r.ZoneID)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(cands, func(i, j int) bool {
		ri, rj := RealHost(cands[i]), RealHost(cands[j])
		if ri != rj {
			return ri
		}
		return load[cands[i].ID] < load[cands[j].ID]
	})
	h := cands[0]
	if err := db.MoveRouter(ctx, d.DB.SQL, r.ID, r.Version, h.ID, db.RouterStarting); err != nil {
		return nil, err
	}
	r.HostID, r.State, r.Version = h.ID, db.RouterStarting, r.Version+1
	return h, nil
}

// SyncRouter makes a network's router what its rows say on its host: placed first when it
// has no usable host, then sent the whole RouterSpec (a real host), and Running. A network
// without a router needs nothing.
func SyncRouter(ctx context.Context, d *orchestrate.Deps, networkID string) error {
	for attempt := 0; ; attempt++ {
		err := syncRouter(ctx, d, networkID)
		if !errors.Is(err, db.ErrConflict) || attempt == 4 {
			return err
		}
	}
}

func syncRouter(ctx context.Context, d *orchestrate.Deps, networkID string) error {
	q := d.DB.Read()
	r, err := db.NetworkRouter(ctx, q, networkID)
	if errors.Is(err, db.ErrNotFound) {
		// A network implemented before routers existed gets its router now.
		n, err := db.GetNetwork(ctx, q, networkID)
		if err != nil || !hasRouter(n) || n.State != db.NetworkImplemented && n.State != db.NetworkSetup {
			return err
		}
		if err := d.DB.Transaction(ctx, func(tx db.Tx) error { return ensureRouter(ctx, d, tx, n) }); err != nil {
			return err
		}
		return db.ErrConflict // read it again
	}
	if err != nil {
		return err
	}
	var h *db.Host
	if r.HostID != "" {
		if h, err = db.GetHost(ctx, q, r.HostID); err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
	}
	if h == nil || !routerHostUsable(h) {
		old := h
		if h, err = placeRouter(ctx, d, r); err != nil {
			return err
		}
		if old != nil && d.Log != nil {
			d.Log.Warn("router moved", "router", r.Name, "network", networkID, "from", old.Name, "to", h.Name)
		}
	}
	if RealHost(h) {
		n, err := db.GetNetwork(ctx, q, networkID)
		if err != nil {
			return err
		}
		spec, err := RouterSpecOf(ctx, q, r, n)
		if err != nil {
			return err
		}
		if spec.Peers, err = vxlanPeers(ctx, q, n, h.ID); err != nil {
			return err
		}
		var ans protocol.RouterApplied
		if err := d.SendFor(ctx, h.ID, protocol.CmdApplyRouter, spec, &ans, RouterTimeout); err != nil {
			return orchestrate.ErrInternal("Unable to apply the router of network %s on host %s: %s", n.Name, h.Name, d.Cause(err))
		}
		if ans.Degraded != "" {
			// Serving its guests (DHCP, DNS, metadata) but not the public side: Alert, with
			// an alert when it becomes so.
			if r.State != db.RouterAlert {
				if d.Log != nil {
					d.Log.Warn("router degraded", "router", r.Name, "network", n.Name, "host", h.Name, "reason", ans.Degraded)
				}
				if err := db.InsertAlert(ctx, d.DB.SQL, &db.Alert{Type: db.AlertDomainRouter, ZoneID: r.ZoneID, PodID: h.PodID,
					ClusterID: h.ClusterID, Subject: fmt.Sprintf("Router %s of network %s on host %s: %s", r.Name, n.Name, h.Name, ans.Degraded)}); err != nil {
					return err
				}
			}
			return db.SetRouterState(ctx, d.DB.SQL, r.ID, h.ID, db.RouterAlert)
		}
	}
	if r.State != db.RouterRunning {
		return db.SetRouterState(ctx, d.DB.SQL, r.ID, h.ID, db.RouterRunning)
	}
	return nil
}

// syncPlacedRouter applies a network's router on its host when it has been placed (and is
// not waiting for a move: the watcher moves it); a network without one needs nothing.
func syncPlacedRouter(ctx context.Context, d *orchestrate.Deps, networkID string) error {
	r, err := db.NetworkRouter(ctx, d.DB.Read(), networkID)
	if errors.Is(err, db.ErrNotFound) || (err == nil && r.HostID == "") {
		return nil
	}
	if err != nil {
		return err
	}
	return SyncRouter(ctx, d, networkID)
}

// ports converts a rule's port range (-1: none) for the router.
func ports(start, end int) [2]uint16 {
	if start < 0 {
		return [2]uint16{}
	}
	if end < start {
		end = start
	}
	return [2]uint16{uint16(start), uint16(end)}
}

// splitCIDRs splits a comma-separated CIDR list.
func splitCIDRs(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// addRules puts a network's firewall, egress, port forwarding and static NAT rules (those
// not being revoked) into its router's spec.
func addRules(ctx context.Context, q db.Querier, n *db.Network, s *protocol.RouterSpec) error {
	rs, err := Rules(ctx, q, n)
	if err != nil {
		return err
	}
	s.EgressDefaultAllow = rs.EgressAllow
	for _, r := range rs.Ingress {
		s.Firewall = append(s.Firewall, protocol.FirewallRule{Public: r.Address, Protocol: r.Protocol, Ports: ports(r.StartPort, r.EndPort),
			ICMPType: r.IcmpType, ICMPCode: r.IcmpCode, CIDRs: splitCIDRs(r.CIDRs)})
	}
	for _, r := range rs.Egress {
		s.Egress = append(s.Egress, protocol.FirewallRule{Protocol: r.Protocol, Ports: ports(r.StartPort, r.EndPort),
			ICMPType: r.IcmpType, ICMPCode: r.IcmpCode, CIDRs: splitCIDRs(r.CIDRs), Dests: splitCIDRs(r.DestCIDRs)})
	}
	for _, r := range rs.PortForwards {
		s.PortForwards = append(s.PortForwards, protocol.PortForward{Public: r.Address, Protocol: r.Protocol,
			PublicPorts: ports(r.StartPort, r.EndPort), Private: r.VMIP, PrivatePorts: ports(r.DestStartPort, r.DestEndPort)})
	}
	for _, m := range rs.StaticNAT {
		s.StaticNAT = append(s.StaticNAT, protocol.StaticNAT{Public: m.Public, Private: m.Guest})
	}
	return nil
}

// addLB puts a network's load-balancer rules (those not revoked, with at least one VM) into
// its router's spec.
func addLB(ctx context.Context, q db.Querier, n *db.Network, s *protocol.RouterSpec) error {
	cfg, err := LoadLBConfig(ctx, q, n.ID)
	if err != nil {
		return err
	}
	for _, rc := range cfg.Rules {
		r := rc.Rule
		if r.State == db.LBRevoke {
			continue
		}
		lr := protocol.LBRule{Name: r.Name, Public: r.PublicIP, PublicPort: uint16(r.PublicPort), PrivatePort: uint16(r.PrivatePort),
			Protocol: r.Protocol, Algorithm: r.Algorithm, CIDRs: splitCIDRs(r.CIDRList)}
		for _, m := range rc.VMs {
			if !m.Revoked && m.VMIP != "" {
				lr.Members = append(lr.Members, m.VMIP)
			}
		}
		if len(lr.Members) == 0 {
			continue
		}
		for _, p := range rc.Stickiness {
			if !p.Revoked {
				lr.Stickiness = &protocol.LBStickiness{Method: p.Method, Params: p.Params}
				break
			}
		}
		for _, h := range rc.HealthCheck {
			if !h.Revoked {
				lr.HealthCheck = &protocol.LBHealthCheck{PingPath: h.PingPath, IntervalS: h.Interval, TimeoutS: h.ResponseTime,
					Healthy: h.HealthyThreshold, Unhealthy: h.UnhealthyThresh}
				break
			}
		}
		s.LoadBalancers = append(s.LoadBalancers, lr)
	}
	return nil
}

func init() {
	// Load-balancer jobs apply the network's router like every other rule job.
	ProgramLB = func(ctx context.Context, d *orchestrate.Deps, cfg *LBConfig) error {
		return syncPlacedRouter(ctx, d, cfg.NetworkID)
	}
}

// RouterSpecOf builds the whole desired state of a network's router from its rows.
func RouterSpecOf(ctx context.Context, q db.Querier, r *db.Router, n *db.Network) (protocol.RouterSpec, error) {
	s := protocol.RouterSpec{NetworkID: n.ID, BroadcastURI: n.BroadcastURI, GuestMAC: r.GuestMAC, PublicMAC: r.PublicMAC,
		Domain: n.NetworkDomain}
	sn, err := parseSubnet(n.Gateway, n.Netmask)
	if err != nil {
		return s, fmt.Errorf("router of %s: %w", n.Name, err)
	}
	s.GuestGateway = netip.PrefixFrom(sn.GW, sn.Bits).String()
	if n.GuestType == db.GuestShared && r.GuestIP != "" {
		a, err := netip.ParseAddr(r.GuestIP)
		if err != nil {
			return s, fmt.Errorf("router of %s: address %q: %w", n.Name, r.GuestIP, err)
		}
		s.GuestGateway, s.GuestRouter = netip.PrefixFrom(a, sn.Bits).String(), n.Gateway
	}
	if o, err := db.GetNetworkOffering(ctx, q, n.NetworkOfferingID); err == nil {
		s.EgressDefaultAllow = o.EgressDefaultPolicy
	} else if !errors.Is(err, db.ErrNotFound) {
		return s, err
	}
	if z, err := db.GetZone(ctx, q, n.ZoneID); err == nil {
		for _, a := range []string{z.DNS1, z.DNS2} {
			if a != "" {
				s.DNS = append(s.DNS, a)
			}
		}
	}
	var ips []*db.PublicIP
	if n.GuestType == db.GuestIsolated { // a shared network's rows there are its guests' addresses
		if ips, err = db.ListNetworkPublicIPs(ctx, q, n.ID); err != nil {
			return s, err
		}
	}
	for _, p := range ips {
		psn, err := parseSubnet(p.Gateway, p.Netmask)
		if err != nil {
			return s, fmt.Errorf("router of %s: public range of %s: %w", n.Name, p.Address, err)
		}
		a, err := netip.ParseAddr(p.Address)
		if err != nil {
			return s, fmt.Errorf("router of %s: public address %q: %w", n.Name, p.Address, err)
		}
		pfx := netip.PrefixFrom(a, psn.Bits).String()
		if p.SourceNAT {
			s.SourceNAT = p.Address
			s.PublicAddrs = append([]string{pfx}, s.PublicAddrs...)
			s.PublicGateway, s.PublicVLAN = p.Gateway, p.VlanTag
		} else {
			s.PublicAddrs = append(s.PublicAddrs, pfx)
			if s.PublicGateway == "" {
				s.PublicGateway, s.PublicVLAN = p.Gateway, p.VlanTag
			}
		}
	}
	if len(s.PublicAddrs) > 0 && n.PhysicalNetworkID != "" {
		if tts, _, err := db.ListTrafficTypes(ctx, q, db.TrafficTypeFilter{PhysicalNetworkID: n.PhysicalNetworkID}); err == nil {
			for _, tt := range tts {
				if tt.TrafficType == "Public" {
					s.PublicLabel = tt.KVMLabel
				}
			}
		}
	}
	if n.GuestType == db.GuestIsolated { // a shared network's router serves DHCP, DNS and metadata only
		if err := addRules(ctx, q, n, &s); err != nil {
			return s, err
		}
		if err := addLB(ctx, q, n, &s); err != nil {
			return s, err
		}
	}
	vms, err := routerVMs(ctx, q, n)
	if err != nil {
		return s, err
	}
	s.VMs = vms
	return s, nil
}

// routerVMs lists the DHCP lease, DNS name and metadata of every live VM NIC of a network.
func routerVMs(ctx context.Context, q db.Querier, n *db.Network) ([]protocol.RouterVM, error) {
	vms, _, err := db.ListVMs(ctx, q, db.VMFilter{NetworkID: n.ID, ExcludeStates: []string{db.VMExpunging, db.VMError}})
	if err != nil {
		return nil, err
	}
	if len(vms) == 0 {
		return nil, nil
	}
	ids := make([]string, len(vms))
	for i, v := range vms {
		ids[i] = v.ID
	}
	nics, err := db.ListNicsToRender(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	byVM := db.NicsByVM(nics)
	zone := n.ZoneName
	offerings := map[string]string{}
	offering := func(id string) string {
		if name, ok := offerings[id]; ok {
			return name
		}
		if o, err := db.GetServiceOffering(ctx, q, id); err == nil {
			offerings[id] = o.Name
		} else {
			offerings[id] = ""
		}
		return offerings[id]
	}
	var out []protocol.RouterVM
	for _, v := range vms {
		for _, nic := range byVM[v.ID] {
			if nic.NetworkID != n.ID || nic.IPAddress == "" {
				continue
			}
			rv := protocol.RouterVM{MAC: nic.MACAddress, IP: nic.IPAddress, Hostname: v.Name, UserData: v.UserData,
				Password: v.Password, Meta: map[string]string{
					"availability-zone": zone, "local-ipv4": nic.IPAddress, "local-hostname": v.Name,
					"instance-id": v.InstanceName(), "vm-id": v.ID, "service-offering": offering(v.ServiceOfferingID),
					"cloud-identifier": "CloudStack-{" + v.ZoneID + "}",
				}}
			if v.KeyPairs != "" {
				for _, name := range strings.Split(v.KeyPairs, ",") {
					if k, err := db.GetSSHKeyPair(ctx, q, v.AccountID, strings.TrimSpace(name)); err == nil {
						rv.PublicKeys = append(rv.PublicKeys, k.PublicKey)
					}
				}
			}
			out = append(out, rv)
		}
	}
	return out, nil
}

// netHosts answers the real hosts a network spans: those running (or starting, stopping or
// migrating) one of its VMs and its router's host, with their tunnel addresses.
func netHosts(ctx context.Context, q db.Querier, networkID string) (map[string]*db.Host, error) {
	out := map[string]*db.Host{}
	add := func(id string) error {
		if id == "" || out[id] != nil {
			return nil
		}
		h, err := db.GetHost(ctx, q, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if RealHost(h) {
			out[id] = h
		}
		return nil
	}
	vms, _, err := db.ListVMs(ctx, q, db.VMFilter{NetworkID: networkID,
		States: []string{db.VMStarting, db.VMRunning, db.VMStopping, db.VMMigrating}})
	if err != nil {
		return nil, err
	}
	for _, v := range vms {
		if err := add(v.HostID); err != nil {
			return nil, err
		}
		if v.State == db.VMMigrating {
			if err := add(v.MigrateHostID); err != nil {
				return nil, err
			}
		}
	}
	if r, err := db.NetworkRouter(ctx, q, networkID); err == nil {
		if err := add(r.HostID); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, db.ErrNotFound) {
		return nil, err
	}
	return out, nil
}

// vxlanPeers answers the tunnel addresses of the other real hosts a VXLAN network spans, as
// seen from hostID (nil for a network that is not VXLAN).
func vxlanPeers(ctx context.Context, q db.Querier, n *db.Network, hostID string) ([]string, error) {
	if !strings.HasPrefix(n.BroadcastURI, "vxlan://") {
		return nil, nil
	}
	hosts, err := netHosts(ctx, q, n.ID)
	if err != nil {
		return nil, err
	}
	var peers []string
	for id, h := range hosts {
		if id != hostID && h.IPAddress != "" {
			peers = append(peers, h.IPAddress)
		}
	}
	sort.Strings(peers)
	return peers, nil
}

// PrepareHost readies the guest networks of a VM about to start (or arrive) on hostID: each
// network's router has the VM's lease before the guest asks for it, and every real host of a
// VXLAN network (hostID among them) knows every other as a peer. Simulator hosts need none of
// it.
func PrepareHost(ctx context.Context, d *orchestrate.Deps, hostID string, networkIDs []string) error {
	q := d.DB.Read()
	h, err := db.GetHost(ctx, q, hostID)
	if err != nil {
		return err
	}
	if !RealHost(h) {
		// A Simulator host's networks are simulated: their routers are only placed.
		for _, id := range networkIDs {
			if r, err := db.NetworkRouter(ctx, q, id); err == nil && r.State != db.RouterRunning {
				if err := SyncRouter(ctx, d, id); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, id := range networkIDs {
		n, err := db.GetNetwork(ctx, q, id)
		if errors.Is(err, db.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := SyncRouter(ctx, d, id); err != nil {
			return err
		}
		if err := syncPeers(ctx, d, n, hostID, false); err != nil {
			return err
		}
	}
	return nil
}

// LeaveHost is PrepareHost's counterpart once a VM has stopped on, or left, hostID: the other
// hosts of each VXLAN network drop hostID as a peer when it has nothing of the network left,
// and hostID drops the network's bridge.
func LeaveHost(ctx context.Context, d *orchestrate.Deps, hostID string, networkIDs []string) error {
	q := d.DB.Read()
	h, err := db.GetHost(ctx, q, hostID)
	if err != nil || !RealHost(h) {
		return err
	}
	var errs []error
	for _, id := range networkIDs {
		n, err := db.GetNetwork(ctx, q, id)
		if errors.Is(err, db.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		errs = append(errs, syncPeers(ctx, d, n, hostID, true))
	}
	return errors.Join(errs...)
}

// syncPeers sends each real host of a network its peers. With leaving, hostID is told to drop
// the network's bridge when the network has nothing left there.
func syncPeers(ctx context.Context, d *orchestrate.Deps, n *db.Network, hostID string, leaving bool) error {
	q := d.DB.Read()
	hosts, err := netHosts(ctx, q, n.ID)
	if err != nil {
		return err
	}
	if !leaving {
		if h, err := db.GetHost(ctx, q, hostID); err == nil && RealHost(h) {
			hosts[hostID] = h
		}
	}
	var errs []error
	if _, still := hosts[hostID]; leaving && !still {
		if err := d.Send(ctx, hostID, protocol.CmdSetupNetwork, protocol.NetworkSetup{NetworkID: n.ID,
			BroadcastURI: n.BroadcastURI, Remove: true}, RouterTimeout); err != nil {
			errs = append(errs, fmt.Errorf("remove the bridge of network %s from host %s: %s", n.Name, hostID, d.Cause(err)))
		}
	}
	if !strings.HasPrefix(n.BroadcastURI, "vxlan://") {
		return errors.Join(errs...)
	}
	for id, h := range hosts {
		if leaving && id == hostID {
			continue
		}
		var peers []string
		for oid, o := range hosts {
			if oid != id && o.IPAddress != "" {
				peers = append(peers, o.IPAddress)
			}
		}
		sort.Strings(peers)
		if err := d.Send(ctx, id, protocol.CmdSetupNetwork, protocol.NetworkSetup{NetworkID: n.ID,
			BroadcastURI: n.BroadcastURI, Peers: peers}, RouterTimeout); err != nil {
			errs = append(errs, fmt.Errorf("peers of network %s on host %s: %s", n.Name, h.Name, d.Cause(err)))
		}
	}
	return errors.Join(errs...)
}

// RemoveRouter takes a network's router off its host, with the network's bridge there when
// broadcastURI is given and nothing else uses it; a host that cannot be reached drops it
// when it next syncs (HostSync).
func RemoveRouter(ctx context.Context, d *orchestrate.Deps, r *db.Router, broadcastURI string) error {
	if r == nil || r.HostID == "" {
		return nil
	}
	h, err := db.GetHost(ctx, d.DB.Read(), r.HostID)
	if err != nil || !RealHost(h) {
		return nil
	}
	return d.Send(ctx, h.ID, protocol.CmdRemoveRouter, protocol.NetworkRef{NetworkID: r.NetworkID, BroadcastURI: broadcastURI}, RouterTimeout)
}

// WatchRouters moves the routers of hosts that went Down (or were removed, or put in
// maintenance) to other hosts, every interval until ctx ends. Every management server runs
// it; a move is a conditional update, so one server makes each.
func WatchRouters(ctx context.Context, d *orchestrate.Deps, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		moveOrphanRouters(ctx, d)
	}
}

// moveOrphanRouters re-places every router whose host is gone, Down or not Enabled.
func moveOrphanRouters(ctx context.Context, d *orchestrate.Deps) {
	routers, err := db.OrphanRouters(ctx, d.DB.Read())
	if err != nil {
		return
	}
	for _, r := range routers {
		// (A host silent but not yet Down keeps its routers: it may still be serving.)
		if err := SyncRouter(ctx, d, r.NetworkID); err != nil {
			if d.Log != nil {
				d.Log.Warn("move router", "router", r.Name, "network", r.NetworkID, "err", err)
			}
			_ = db.SetRouterState(ctx, d.DB.SQL, r.ID, r.HostID, db.RouterAlert)
		}
	}
}

// HostSync sends a host that has just connected everything guest networking should have on
// it (its networks' bridges and peers, the routers placed there); the agent removes what it
// has beyond that.
func HostSync(ctx context.Context, d *orchestrate.Deps, hostID string) error {
	q := d.DB.Read()
	h, err := db.GetHost(ctx, q, hostID)
	if err != nil || !RealHost(h) {
		return err
	}
	var sync protocol.NetworkSync
	vms, _, err := db.ListVMs(ctx, q, db.VMFilter{HostID: hostID, States: []string{db.VMStarting, db.VMRunning, db.VMStopping, db.VMMigrating}})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	ids := make([]string, len(vms))
	for i, v := range vms {
		ids[i] = v.ID
	}
	var nics []*db.Nic
	if len(ids) > 0 {
		if nics, err = db.ListNicsToRender(ctx, q, ids); err != nil {
			return err
		}
	}
	addNet := func(n *db.Network) error {
		if seen[n.ID] || n.BroadcastURI == "" {
			return nil
		}
		seen[n.ID] = true
		peers, err := vxlanPeers(ctx, q, n, hostID)
		if err != nil {
			return err
		}
		sync.Networks = append(sync.Networks, protocol.NetworkSetup{NetworkID: n.ID, BroadcastURI: n.BroadcastURI, Peers: peers})
		return nil
	}
	// network loads a live network and adds its bridge (nil, nil: gone).
	network := func(id string) (*db.Network, error) {
		n, err := db.GetNetwork(ctx, q, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return n, addNet(n)
	}
	for _, nic := range nics {
		if _, err := network(nic.NetworkID); err != nil {
			return err
		}
	}
	routers, _, err := db.ListRouters(ctx, q, db.RouterFilter{HostID: hostID})
	if err != nil {
		return err
	}
	for _, r := range routers {
		n, err := network(r.NetworkID)
		if err != nil {
			return err
		}
		if n == nil {
			continue
		}
		spec, err := RouterSpecOf(ctx, q, r, n)
		if err != nil {
			return err
		}
		if spec.Peers, err = vxlanPeers(ctx, q, n, hostID); err != nil {
			return err
		}
		sync.Routers = append(sync.Routers, spec)
	}
	if HostSecurityGroups != nil {
		if sync.SecurityGroups, err = HostSecurityGroups(ctx, q, hostID); err != nil {
			return err
		}
	}
	return d.Send(ctx, hostID, protocol.CmdSyncNetworks, sync, RouterTimeout)
}

// HostSecurityGroups answers what a host's VM ports must enforce (set by the security group
// package, which depends on this one: securitygroup.WireState of ComputeHostState).
var HostSecurityGroups func(ctx context.Context, q db.Querier, hostID string) (protocol.SecurityGroupState, error)

// RouterOp runs startRouter, stopRouter, rebootRouter or destroyRouter on a router and answers
// it as it is then (Removed set after destroyRouter).
//   - start: placed if it has no usable host, and applied (SyncRouter);
//   - stop: removed from its host and left unplaced, Stopped; its network's next VM start or
//     rule change places it again;
//   - reboot: removed from its host, then applied anew;
//   - destroy: removed from its host and its row removed; the network gets a new router when
//     it next needs one.
func RouterOp(ctx context.Context, d *orchestrate.Deps, cmd, id string) (*db.Router, error) {
	r, err := db.GetRouter(ctx, d.DB.Read(), id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find router by id %s", id)
	}
	if err != nil {
		return nil, err
	}
	remove := func() error {
		if err := RemoveRouter(ctx, d, r, ""); err != nil {
			return orchestrate.ErrInternal("Unable to remove router %s from its host: %s", r.Name, d.Cause(err))
		}
		return nil
	}
	switch cmd {
	case "startRouter":
		if err := SyncRouter(ctx, d, r.NetworkID); err != nil {
			return nil, err
		}
	case "stopRouter":
		if err := remove(); err != nil {
			return nil, err
		}
		if err := db.MoveRouter(ctx, d.DB.SQL, r.ID, r.Version, "", db.RouterStopped); err != nil {
			return nil, err
		}
	case "rebootRouter":
		if r.State != db.RouterRunning {
			return nil, orchestrate.ErrParam("Unable to reboot router %s: it is %s, not Running", r.Name, r.State)
		}
		if err := remove(); err != nil {
			return nil, err
		}
		if err := SyncRouter(ctx, d, r.NetworkID); err != nil {
			return nil, err
		}
	case "destroyRouter":
		if err := remove(); err != nil {
			return nil, err
		}
		gone, err := db.RemoveNetworkRouter(ctx, d.DB.SQL, r.NetworkID)
		if err != nil {
			return nil, err
		}
		if gone != nil {
			gone.Removed = db.Now()
			return gone, nil
		}
		r.Removed = db.Now()
		return r, nil
	default:
		return nil, orchestrate.ErrInternal("unknown router operation %s", cmd)
	}
	return db.GetRouter(ctx, d.DB.Read(), id)
}
