// Package dnsmasq runs one dnsmasq per guest network inside that network's router namespace:
// DHCP with a static lease per VM (the address Atoll allocated, nothing from a pool), DNS for
// the VMs' names in the network domain (and data-server, which cloud-init looks up), default
// route and DNS pointing at the gateway. Lease changes are a file rewrite and a SIGHUP, with
// dhcp_release for leases that went away; only a configuration change restarts dnsmasq.
package dnsmasq
