package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// zeroMAC is the all-zero FDB key: a row with it on a VXLAN device says "send broadcast,
// unknown unicast and multicast frames to this VTEP too" (head-end replication).
var zeroMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}

// SetPeers makes the all-zero FDB rows of vxlan<vni> be exactly one per peer VTEP in
// peers: missing rows are appended, rows of VTEPs no longer listed are deleted, the rest
// are left alone (so an unchanged list changes nothing). This host's own address (the
// tunnel's local address) is never listed even when peers holds it, nor is the tunnel's
// multicast group, whose row the kernel keeps itself. The tunnel must exist (Ensure).
func (m *Manager) SetPeers(ctx context.Context, vni int, peers []netip.Addr) error {
	if err := m.setPeers(ctx, vni, peers); err != nil {
		return fmt.Errorf("vxlan%d peers: %w", vni, err)
	}
	return nil
}

func (m *Manager) setPeers(ctx context.Context, vni int, peers []netip.Addr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	vx, err := m.vxlan(vni)
	if err != nil {
		return err
	}
	local, _ := netip.AddrFromSlice(vx.SrcAddr)
	group, _ := netip.AddrFromSlice(vx.Group)
	want := map[netip.Addr]bool{}
	for _, p := range peers {
		p = p.Unmap()
		if !p.IsValid() || p.IsUnspecified() || p.IsMulticast() {
			return fmt.Errorf("peer %v is not a unicast address", p)
		}
		if local.IsValid() && p.Is4() != local.Unmap().Is4() {
			return fmt.Errorf("peer %v is not of the tunnel's address family (local %v)", p, local)
		}
		if p != local.Unmap() {
			want[p] = true
		}
	}
	have, err := m.peerRows(ctx, vx.Attrs().Index, group)
	if err != nil {
		return err
	}
	for _, p := range sortedAddrs(want) {
		if have[p] {
			continue
		}
		if err := m.h.NeighAppend(fdbRow(vx.Attrs().Index, p)); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add peer %v: %w", p, err)
		}
		m.log.Info("vxlan peer added", "link", vx.Attrs().Name, "peer", p)
	}
	for _, p := range sortedAddrs(have) {
		if want[p] {
			continue
		}
		if err := m.h.NeighDel(fdbRow(vx.Attrs().Index, p)); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete peer %v: %w", p, err)
		}
		m.log.Info("vxlan peer deleted", "link", vx.Attrs().Name, "peer", p)
	}
	return nil
}

// Peers returns the peer VTEPs of vxlan<vni>'s all-zero FDB rows as the kernel has them,
// sorted: what SetPeers last made, unless someone else changed it (for reconciliation).
// The tunnel's multicast group is not a peer.
func (m *Manager) Peers(ctx context.Context, vni int) ([]netip.Addr, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vx, err := m.vxlan(vni)
	if err != nil {
		return nil, fmt.Errorf("vxlan%d peers: %w", vni, err)
	}
	group, _ := netip.AddrFromSlice(vx.Group)
	have, err := m.peerRows(ctx, vx.Attrs().Index, group)
	if err != nil {
		return nil, fmt.Errorf("vxlan%d peers: %w", vni, err)
	}
	return sortedAddrs(have), nil
}

// vxlan finds the tunnel of a VNI.
func (m *Manager) vxlan(vni int) (*netlink.Vxlan, error) {
	if vni < 1 || vni > 1<<24-1 {
		return nil, fmt.Errorf("vni %d is outside 1-16777215", vni)
	}
	name := "vxlan" + strconv.Itoa(vni)
	l, err := m.byName(name)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	if l == nil {
		return nil, fmt.Errorf("%s does not exist", name)
	}
	vx, ok := l.(*netlink.Vxlan)
	if !ok {
		return nil, fmt.Errorf("%s is a %s, not a vxlan", name, l.Type())
	}
	return vx, nil
}

// peerRows lists the permanent all-zero-MAC rows of the VXLAN device with that index (its
// own, NTF_SELF, rows: not the bridge's) and returns their remote addresses, the group's
// excepted. A dump the kernel interrupted is retried.
func (m *Manager) peerRows(ctx context.Context, index int, group netip.Addr) (map[netip.Addr]bool, error) {
	var rows []netlink.Neigh
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var err error
		rows, err = m.h.NeighList(index, unix.AF_BRIDGE)
		if err == nil {
			break
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) || i+1 >= dumpRetries {
			return nil, fmt.Errorf("list fdb: %w", err)
		}
		m.log.Debug("fdb dump interrupted, retrying", "try", i+1)
	}
	out := map[netip.Addr]bool{}
	for _, r := range rows {
		if r.LinkIndex != index || r.State&netlink.NUD_PERMANENT == 0 || r.Flags&netlink.NTF_SELF == 0 ||
			r.HardwareAddr.String() != zeroMAC.String() {
			continue
		}
		a, ok := netip.AddrFromSlice(r.IP)
		if !ok || a.Unmap() == group.Unmap() {
			continue
		}
		out[a.Unmap()] = true
	}
	return out, nil
}

// fdbRow is the netlink request for one peer's all-zero row on a VXLAN device: "bridge fdb
// append 00:00:00:00:00:00 dev vxlanN dst PEER self permanent".
func fdbRow(index int, peer netip.Addr) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex:    index,
		Family:       unix.AF_BRIDGE,
		Flags:        netlink.NTF_SELF,
		State:        netlink.NUD_PERMANENT,
		IP:           net.IP(peer.Unmap().AsSlice()),
		HardwareAddr: zeroMAC,
	}
}

func sortedAddrs(set map[netip.Addr]bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}
