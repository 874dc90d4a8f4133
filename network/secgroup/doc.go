// Package secgroup owns the security groups of a KVM host's guest NICs: CloudStack's ingress
// and egress rules, anti-spoofing and DHCP/ARP allowances on each NIC's bridge port, kept
// in one nftables table, "bridge atoll", that Apply replaces with the desired state. The
// connection state the rules need comes from the IP layer's conntrack through br_netfilter
// (see conntrack.go): this kernel has no nf_conntrack_bridge.
package secgroup
