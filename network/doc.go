// Package network drives host networking: bridges, VLAN and VXLAN links, security groups and
// NAT (nftables), and router namespaces with dnsmasq. It never imports db or mgmt.
package network
