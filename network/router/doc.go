// Package router gives an isolated guest network its router without a router VM: a network
// namespace "atr-<network id>" on the host, joined by veth pairs to the guest network's bridge
// and to the public bridge, whose nftables table "inet atoll" does what CloudStack's virtual
// router does with iptables (source NAT, static NAT, port forwarding, the ingress firewall of
// the public IPs and the egress rules of the guests). It speaks netlink and nftables only, in
// the host namespace it is given, so tests run against the real kernel in throwaway namespaces.
package router
