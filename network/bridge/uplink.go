package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrNoVLANSupport is wrapped when the kernel cannot make 802.1Q VLAN devices (no 8021q
// module): such a host cannot carry VLAN guest networks to other hosts.
var ErrNoVLANSupport = errors.New("kernel lacks 802.1Q VLAN support (load the 8021q module)")

// vxlanPort is IANA's VXLAN port, used when VXLANLink.Port is 0.
const vxlanPort = 4789

// check validates the options before anything touches the kernel.
func (o Options) check() error {
	if o.MTU < 0 || o.MTU > 65535 {
		return fmt.Errorf("mtu %d is outside 0-65535", o.MTU)
	}
	if o.VLAN != nil && o.VXLAN != nil {
		return errors.New("options give both a vlan and a vxlan link")
	}
	if v := o.VLAN; v != nil {
		if v.ID < 1 || v.ID > 4094 {
			return fmt.Errorf("vlan id %d is outside 1-4094", v.ID)
		}
		if err := checkIfName(v.Uplink); err != nil {
			return fmt.Errorf("vlan uplink: %w", err)
		}
		if err := checkIfName(v.name()); err != nil {
			return fmt.Errorf("vlan device on %s: %w", v.Uplink, err)
		}
	}
	if x := o.VXLAN; x != nil {
		if x.VNI < 1 || x.VNI > 1<<24-1 {
			return fmt.Errorf("vni %d is outside 1-16777215", x.VNI)
		}
		if !x.Local.IsValid() || x.Local.IsUnspecified() || x.Local.IsMulticast() {
			return fmt.Errorf("vxlan %d: local address %v is not a unicast address", x.VNI, x.Local)
		}
		if err := checkIfName(x.Underlay); err != nil {
			return fmt.Errorf("vxlan %d underlay: %w", x.VNI, err)
		}
		if x.Port < 0 || x.Port > 65535 {
			return fmt.Errorf("vxlan %d: port %d is outside 0-65535", x.VNI, x.Port)
		}
		if g := x.Group; g.IsValid() && (!g.Unmap().IsMulticast() || g.Unmap().Is4() != x.Local.Unmap().Is4()) {
			return fmt.Errorf("vxlan %d: group %v is not a multicast address of the local address's family", x.VNI, g)
		}
	}
	return nil
}

// name is the sub-interface's name, "<uplink>.<id>" as vconfig and ip(8) users expect.
func (v VLANLink) name() string { return v.Uplink + "." + strconv.Itoa(v.ID) }

// link is the netlink request for the sub-interface on the uplink with that index.
func (v VLANLink) link(uplinkIndex, mtu int) *netlink.Vlan {
	return &netlink.Vlan{
		LinkAttrs:    netlink.LinkAttrs{Name: v.name(), ParentIndex: uplinkIndex, MTU: mtu},
		VlanId:       v.ID,
		VlanProtocol: netlink.VLAN_PROTOCOL_8021Q,
	}
}

// name is the tunnel's name, "vxlan<vni>" (13 characters at most).
func (x VXLANLink) name() string { return "vxlan" + strconv.Itoa(x.VNI) }

// link is the netlink request for the tunnel over the underlay device with that index.
func (x VXLANLink) link(underlayIndex, mtu int) *netlink.Vxlan {
	port := x.Port
	if port == 0 {
		port = vxlanPort
	}
	l := &netlink.Vxlan{
		LinkAttrs:    netlink.LinkAttrs{Name: x.name(), MTU: mtu},
		VxlanId:      x.VNI,
		VtepDevIndex: underlayIndex,
		SrcAddr:      net.IP(x.Local.Unmap().AsSlice()),
		Learning:     false,
		Port:         port,
	}
	if x.Group.IsValid() {
		l.Group = net.IP(x.Group.Unmap().AsSlice())
	}
	return l
}

// ensureVLAN makes "<uplink>.<id>" exist, enslaved to the bridge and up.
func (m *Manager) ensureVLAN(ctx context.Context, br netlink.Link, v VLANLink, mtu int, undo *reverter) error {
	up, err := m.lower(ctx, "vlan uplink", v.Uplink)
	if err != nil {
		return err
	}
	name := v.name()
	l, err := m.byName(name)
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if l == nil {
		req := v.link(up.Attrs().Index, mtu)
		switch err := m.h.LinkAdd(req); {
		case errors.Is(err, unix.EOPNOTSUPP):
			return fmt.Errorf("create %s: %w (kernel said: %w)", name, ErrNoVLANSupport, err)
		case errors.Is(err, unix.EEXIST): // made meanwhile: checked below like any other
		case err != nil:
			return fmt.Errorf("create %s: %w", name, err)
		default:
			m.log.Info("vlan link created", "bridge", br.Attrs().Name, "link", name, "vlan", v.ID)
			undo.add("delete "+name, func() error { return m.h.LinkDel(req) })
		}
		if l, err = m.h.LinkByName(name); err != nil {
			return fmt.Errorf("look up %s after create: %w", name, err)
		}
	}
	vl, ok := l.(*netlink.Vlan)
	if !ok || vl.VlanId != v.ID || vl.ParentIndex != up.Attrs().Index {
		return fmt.Errorf("%s exists and is not vlan %d on %s (it is a %s)", name, v.ID, v.Uplink, l.Type())
	}
	return m.enslave(br, l, mtu)
}

// ensureVXLAN makes "vxlan<vni>" exist, enslaved to the bridge and up.
func (m *Manager) ensureVXLAN(ctx context.Context, br netlink.Link, x VXLANLink, mtu int, undo *reverter) error {
	under, err := m.lower(ctx, "vxlan underlay", x.Underlay)
	if err != nil {
		return err
	}
	name := x.name()
	l, err := m.byName(name)
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if l == nil {
		req := x.link(under.Attrs().Index, mtu)
		switch err := m.h.LinkAdd(req); {
		case errors.Is(err, unix.EEXIST): // made meanwhile: checked below like any other
		case err != nil:
			return fmt.Errorf("create %s: %w", name, err)
		default:
			m.log.Info("vxlan link created", "bridge", br.Attrs().Name, "link", name, "vni", x.VNI,
				"local", x.Local, "underlay", x.Underlay)
			undo.add("delete "+name, func() error { return m.h.LinkDel(req) })
		}
		if l, err = m.h.LinkByName(name); err != nil {
			return fmt.Errorf("look up %s after create: %w", name, err)
		}
	}
	vx, ok := l.(*netlink.Vxlan)
	if !ok {
		return fmt.Errorf("%s exists and is a %s, not a vxlan", name, l.Type())
	}
	want := x.link(under.Attrs().Index, mtu)
	if vx.VxlanId != want.VxlanId || vx.VtepDevIndex != want.VtepDevIndex || !vx.SrcAddr.Equal(want.SrcAddr) ||
		vx.Port != want.Port || vx.Learning || !sameGroup(vx.Group, want.Group) {
		return fmt.Errorf("%s exists with other settings (vni %d, local %v, underlay index %d, port %d, learning %v, group %v)",
			name, vx.VxlanId, vx.SrcAddr, vx.VtepDevIndex, vx.Port, vx.Learning, vx.Group)
	}
	return m.enslave(br, l, mtu)
}

// sameGroup compares a tunnel's multicast group as the kernel reports it (nil, or the
// unspecified address, when it has none) with the one asked for.
func sameGroup(have, want net.IP) bool {
	if len(have) == 0 || have.IsUnspecified() {
		return len(want) == 0
	}
	return have.Equal(want)
}

// lower finds the device a VLAN or VXLAN link rides on; it must exist already.
func (m *Manager) lower(ctx context.Context, role, name string) (netlink.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l, err := m.byName(name)
	if err != nil {
		return nil, fmt.Errorf("look up %s %s: %w", role, name, err)
	}
	if l == nil {
		return nil, fmt.Errorf("%s %s does not exist", role, name)
	}
	return l, nil
}

// enslave puts the bridge's own link under it (refusing to take it from another master),
// sets its MTU when one is given and brings it up.
func (m *Manager) enslave(br, l netlink.Link, mtu int) error {
	a := l.Attrs()
	switch a.MasterIndex {
	case br.Attrs().Index:
	case 0:
		if err := m.h.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("attach %s: %w", a.Name, err)
		}
	default:
		return fmt.Errorf("%s is attached to another device (index %d)", a.Name, a.MasterIndex)
	}
	if mtu > 0 && a.MTU != mtu {
		if err := m.h.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("set mtu %d on %s: %w", mtu, a.Name, err)
		}
	}
	if a.Flags&net.FlagUp == 0 {
		if err := m.h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", a.Name, err)
		}
	}
	return nil
}

// reverter holds the undo steps of a change that takes several; run undoes them newest
// first. Undo errors are logged: the first error is what the caller reports.
type reverter struct {
	steps []undoStep
}

type undoStep struct {
	what string
	fn   func() error
}

func (r *reverter) add(what string, fn func() error) { r.steps = append(r.steps, undoStep{what, fn}) }

func (r *reverter) run(log *slog.Logger) {
	for i := len(r.steps) - 1; i >= 0; i-- {
		if err := r.steps[i].fn(); err != nil && !isNotFound(err) {
			log.Warn("undo failed", "step", r.steps[i].what, "err", err)
		} else {
			log.Info("undone after a failed step", "step", r.steps[i].what)
		}
	}
	r.steps = nil
}
