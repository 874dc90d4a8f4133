package bridge

import (
	"context"
	"fmt"
	"net/netip"
)

// Uplinks says how this host joins guest networks to other hosts. Its zero value joins none:
// every guest network is then a bridge of its own on this host, which is enough while guest
// networking stays on one host.
type Uplinks struct {
	// VLAN is the device VLAN networks' sub-interfaces are made on ("eth1", "bond0");
	// empty: VLAN networks get a plain bridge.
	VLAN string
	// VXLANLocal is this host's tunnel source address and VXLANUnderlay the device tunnels
	// leave by; an invalid VXLANLocal: VXLAN networks get a plain bridge.
	VXLANLocal    netip.Addr
	VXLANUnderlay string
	// VXLANMulticast makes VXLAN networks use a multicast group per VNI (MulticastGroup)
	// instead of head-end replication (SetPeers). IPv4 underlays only.
	VXLANMulticast bool
	// MTU is set on every guest network's bridge and link; 0 leaves the kernel's choice.
	MTU int
}

// Plan returns the bridge name and Options of the guest network with this broadcast URI and
// network id on a host with these uplinks.
func (u Uplinks) Plan(broadcastURI, networkID string) (string, Options, error) {
	name, err := NameFor(broadcastURI, networkID)
	if err != nil {
		return "", Options{}, err
	}
	b, _ := ParseBroadcast(broadcastURI) // NameFor parsed it already
	opts := Options{MTU: u.MTU}
	switch {
	case b.Kind == VLAN && u.VLAN != "":
		opts.VLAN = &VLANLink{Uplink: u.VLAN, ID: b.ID}
	case b.Kind == VXLAN && u.VXLANLocal.IsValid():
		opts.VXLAN = &VXLANLink{VNI: b.ID, Local: u.VXLANLocal, Underlay: u.VXLANUnderlay}
		if u.VXLANMulticast {
			opts.VXLAN.Group = MulticastGroup(b.ID)
		}
	}
	if err := opts.check(); err != nil {
		return "", Options{}, fmt.Errorf("bridge %s: %w", name, err)
	}
	return name, opts, nil
}

// MulticastGroup is the group of a VNI in multicast mode, CloudStack's mapping
// (modifyvxlan.sh): 239.<VNI bits 16-23>.<bits 8-15>.<bits 0-7>, so hosts that agree on the
// VNI agree on the group without being told.
func MulticastGroup(vni int) netip.Addr {
	return netip.AddrFrom4([4]byte{239, byte(vni >> 16), byte(vni >> 8), byte(vni)})
}

// EnsureFor makes the bridge of a VM NIC's guest network ready on this host (Plan, then
// Ensure) and returns its name, for the hypervisor driver to plug the NIC's tap into.
func (m *Manager) EnsureFor(ctx context.Context, u Uplinks, broadcastURI, networkID string) (string, error) {
	name, opts, err := u.Plan(broadcastURI, networkID)
	if err != nil {
		return "", err
	}
	if err := m.Ensure(ctx, name, opts); err != nil {
		return "", err
	}
	return name, nil
}
