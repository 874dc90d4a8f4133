package api_test

import (
	"github.com/atollcloud/atoll/mgmt/api"
)

// publicIPs drives the public IP, static NAT, port forwarding and firewall commands on the
// tenant's implemented network and its two VMs, and takes it all apart again.
func (tr *tour) publicIPs(c *api.Client, net, zone, vmID, vm2ID string) {
	ip := id(tr.do(c, "associateIpAddress", map[string]string{"networkid": net}), "ipaddress")
	ip2 := id(tr.do(c, "associateIpAddress", map[string]string{"zoneid": zone}), "ipaddress")
	tr.do(c, "updateIpAddress", map[string]string{"id": ip2, "fordisplay": "true"})
	tr.do(c, "createTags", map[string]string{"resourcetype": "PublicIpAddress", "resourceids": ip, "tags[0].key": "tier", "tags[0].value": "web"})
	tr.do(c, "listPublicIpAddresses", map[string]string{"associatednetworkid": net, "tags[0].key": "tier", "tags[0].value": "web"})
	pf := id(tr.do(c, "createPortForwardingRule", map[string]string{"ipaddressid": ip, "protocol": "tcp", "publicport": "22",
		"privateport": "22", "virtualmachineid": vmID}), "portforwardingrule")
	tr.do(c, "createTags", map[string]string{"resourcetype": "PortForwardingRule", "resourceids": pf, "tags[0].key": "svc", "tags[0].value": "ssh"})
	tr.do(c, "updatePortForwardingRule", map[string]string{"id": pf, "virtualmachineid": vm2ID})
	tr.do(c, "listPortForwardingRules", map[string]string{"ipaddressid": ip})
	fw := id(tr.do(c, "createFirewallRule", map[string]string{"ipaddressid": ip, "protocol": "icmp", "icmptype": "8", "icmpcode": "0"}), "firewallrule")
	tr.do(c, "createTags", map[string]string{"resourcetype": "FirewallRule", "resourceids": fw, "tags[0].key": "svc", "tags[0].value": "ping"})
	tr.do(c, "updateFirewallRule", map[string]string{"id": fw, "fordisplay": "false"})
	tr.do(c, "listFirewallRules", map[string]string{"ipaddressid": ip})
	eg := id(tr.do(c, "createEgressFirewallRule", map[string]string{"networkid": net, "protocol": "udp", "startport": "53",
		"destcidrlist": "192.0.2.53/32"}), "firewallrule")
	tr.do(c, "updateEgressFirewallRule", map[string]string{"id": eg, "fordisplay": "true"})
	tr.do(c, "listEgressFirewallRules", map[string]string{"networkid": net})
	tr.do(c, "enableStaticNat", map[string]string{"ipaddressid": ip2, "virtualmachineid": vmID})
	tr.do(c, "listPublicIpAddresses", map[string]string{"isstaticnat": "true"})
	tr.do(c, "disableStaticNat", map[string]string{"ipaddressid": ip2})
	tr.do(c, "deleteEgressFirewallRule", map[string]string{"id": eg})
	tr.do(c, "deleteFirewallRule", map[string]string{"id": fw})
	tr.do(c, "deletePortForwardingRule", map[string]string{"id": pf})
	tr.do(c, "disassociateIpAddress", map[string]string{"id": ip2})
	// ip stays, with a rule, for the list commands called later; the network's deletion
	// releases it.
	tr.do(c, "createPortForwardingRule", map[string]string{"ipaddressid": ip, "protocol": "udp", "publicport": "53",
		"privateport": "53", "virtualmachineid": vmID, "openfirewall": "true"})
	tr.do(c, "createEgressFirewallRule", map[string]string{"networkid": net, "protocol": "all"})
}
