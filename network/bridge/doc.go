// Package bridge owns the plain Linux bridges that carry guest networks on a KVM host: one
// bridge per guest network, named atbr-*, with the VLAN sub-interface or VXLAN tunnel that
// joins it to other hosts, and the VXLAN tunnels' peer VTEPs (head-end replication FDB
// rows) or multicast group. It speaks netlink only (vishvananda/netlink), in the network
// namespace it is given, so tests run against the real kernel in a throwaway namespace.
package bridge
