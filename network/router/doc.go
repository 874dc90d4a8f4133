// Package router gives an isolated guest network its router without a router VM: a network
// namespace "atr-<network id>" on the host, joined by veth pairs to the guest network's bridge
// and to the public bridge, whose nftables table "inet atoll" does what CloudStack's virtual
// router does with iptables (source NAT, static NAT, port forwarding, the ingress firewall of
// the public IPs and the egress rules of the guests). It speaks netlink and nftables only, in
// the host namespace it is given, so tests run against the real kernel in throwaway namespaces.
//
// Apply is desired state: it creates or converges everything and changes nothing when nothing
// changed. The table's six base chains each hold one jump into the live generation of regular
// chains (slot "a" or "b"); a new generation is built beside the live one in batches small
// enough for netlink, then one small batch points the base chains at it, so a re-Apply never
// opens a window. The daemons of the router (dnsmasq, the metadata and password servers,
// HAProxy) run inside the namespace: Manager.Do runs code there, Manager.Path names the
// namespace file for setns(2) or nsenter. The guest side answers DHCP (udp 67), DNS (53) and
// HTTP on 80 and 8080 to the guest CIDR; the public IPs answer what the ingress firewall lets
// through.
package router
