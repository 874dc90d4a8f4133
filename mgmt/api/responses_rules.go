package api

// Response tables of public IPs and network rules.

// ipAddressResponse is CloudStack's IPAddressResponse.
var ipAddressResponse = join(jobFields, inZone("IP address"), owner("IP address"), []Field{
	f("id", rString, "the public IP address's id"),
	f("ipaddress", rString, "the public IP address"),
	f("allocated", rDate, "when the address was allocated"),
	f("state", rString, "the address's state: Allocating, Allocated, Releasing, Free"),
	f("issourcenat", rBool, "whether the address is its network's source NAT address"),
	f("isstaticnat", rBool, "whether static NAT is enabled on the address"),
	f("issystem", rBool, "whether the address is a system VM's"),
	f("isportable", rBool, "whether the address is portable across zones"),
	f("forvirtualnetwork", rBool, "whether the address is of a public (virtual network) range"),
	f("forsystemvms", rBool, "whether the address is of a range reserved for system VMs"),
	f("forprovider", rBool, "whether the address is a network service provider's"),
	f("fordisplay", rBool, "whether the address is shown to its owner"),
	f("hasrules", rBool, "whether rules are on the address"),
	f("vlanid", rString, "the id of the address's IP range"),
	f("vlanname", rString, "the VLAN of the address's IP range"),
	f("physicalnetworkid", rString, "the physical network of the address's range"),
	f("associatednetworkid", rString, "the id of the guest network the address is associated with"),
	f("associatednetworkname", rString, "the name of the guest network the address is associated with"),
	f("virtualmachineid", rString, "the static NAT VM's id"),
	f("virtualmachinename", rString, "the static NAT VM's name"),
	f("virtualmachinedisplayname", rString, "the static NAT VM's display name"),
	f("virtualmachinetype", rString, "the static NAT VM's type"),
	f("vmipaddress", rString, "the static NAT VM's guest address"),
	f("purpose", rString, "what the address is used for"),
	hasAnnotations("IP address"),
	tags(rSet, "IP address"),
})

// firewallResponse is CloudStack's FirewallResponse (ingress and egress firewall rules).
var firewallResponse = join(jobFields, []Field{
	f("id", rString, "the rule's id"),
	f("protocol", rString, "the rule's protocol: tcp, udp, icmp or all"),
	f("startport", rInt, "the rule's first port"),
	f("endport", rInt, "the rule's last port"),
	f("ipaddressid", rString, "the id of the rule's public IP address (ingress)"),
	f("ipaddress", rString, "the rule's public IP address (ingress)"),
	f("networkid", rString, "the id of the rule's network"),
	f("state", rString, "the rule's state: Add, Active or Revoke"),
	f("cidrlist", rString, "the source CIDRs the rule matches, comma-separated"),
	f("destcidrlist", rString, "the destination CIDRs the rule matches, comma-separated (egress)"),
	f("icmptype", rInt, "the ICMP type the rule matches"),
	f("icmpcode", rInt, "the ICMP code the rule matches"),
	f("traffictype", rString, "the rule's direction: Ingress or Egress"),
	f("fordisplay", rBool, "whether the rule is shown to its owner"),
	tags(rList, "rule"),
})

// portForwardingResponse is CloudStack's FirewallRuleResponse (port forwarding rules).
var portForwardingResponse = join(jobFields, []Field{
	f("id", rString, "the rule's id"),
	f("protocol", rString, "the rule's protocol: tcp or udp"),
	f("publicport", rString, "the rule's first public port"),
	f("publicendport", rString, "the rule's last public port"),
	f("privateport", rString, "the rule's first private port"),
	f("privateendport", rString, "the rule's last private port"),
	f("virtualmachineid", rString, "the id of the VM the rule forwards to"),
	f("virtualmachinename", rString, "the name of the VM the rule forwards to"),
	f("virtualmachinedisplayname", rString, "the display name of the VM the rule forwards to"),
	f("vmguestip", rString, "the VM's guest address the rule forwards to"),
	f("ipaddressid", rString, "the id of the rule's public IP address"),
	f("ipaddress", rString, "the rule's public IP address"),
	f("networkid", rString, "the id of the rule's network"),
	f("state", rString, "the rule's state: Add, Active or Revoke"),
	f("cidrlist", rString, "the source CIDRs the rule matches, comma-separated"),
	f("fordisplay", rBool, "whether the rule is shown to its owner"),
	tags(rList, "rule"),
})
