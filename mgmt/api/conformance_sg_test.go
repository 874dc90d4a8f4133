package api_test

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/api"
)

// authorizeSecurityGroupIngress/Egress declare SecurityGroupRuleResponse as their response
// class, but answer the group with the rules they added.
func init() {
	for _, cmd := range []string{"authorizeSecurityGroupIngress", "authorizeSecurityGroupEgress"} {
		refCorrections[cmd] = refCorrection{FieldsOf: "createSecurityGroup", ObjectKey: "securitygroup",
			Proof: strings.ToUpper(cmd[:1]) + cmd[1:] + "Cmd.execute answers createSecurityGroupResponseFromSecurityGroupRule(rules): a SecurityGroupResponse named securitygroup"}
	}
}

// securityGroups is the tour's security group part: a Basic zone of one Simulator host, the
// tenant's groups and rules, a VM in them (its securitygroup[] rendered), its groups changed
// while stopped. It returns the teardown, run with the rest of the tenant's things.
func (tr *tour) securityGroups(c *api.Client, offering string) func() {
	a := tr.e.Admin
	zone := id(tr.do(a, "createZone", map[string]string{"name": "csg", "networktype": "Basic", "dns1": "192.0.2.53",
		"internaldns1": "192.0.2.53"}), "zone")
	pn := id(tr.do(a, "createPhysicalNetwork", map[string]string{"zoneid": zone, "name": "csg-p"}), "physicalnetwork")
	for _, tt := range []string{"Guest", "Management"} {
		tr.do(a, "addTrafficType", map[string]string{"physicalnetworkid": pn, "traffictype": tt})
	}
	tr.do(a, "updatePhysicalNetwork", map[string]string{"id": pn, "state": "Enabled"})
	pod := id(tr.do(a, "createPod", map[string]string{"zoneid": zone, "name": "csg-pod", "gateway": "10.20.0.1",
		"netmask": "255.255.255.0", "startip": "10.20.0.10", "endip": "10.20.0.50"}), "pod")
	tr.do(a, "createVlanIpRange", map[string]string{"podid": pod, "gateway": "10.20.0.1", "netmask": "255.255.255.0",
		"startip": "10.20.0.100", "endip": "10.20.0.199", "forvirtualnetwork": "False"})
	cl := id(tr.do(a, "addCluster", map[string]string{"zoneid": zone, "podid": pod, "clustername": "csg-c",
		"hypervisor": "Simulator", "clustertype": "CloudManaged"}), "cluster")
	tr.do(a, "addHost", map[string]string{"zoneid": zone, "podid": pod, "clusterid": cl, "hypervisor": "Simulator",
		"url": "http://sim/csg/csg-h1?cpunumber=8&cpuspeed=2000&memory=16384", "username": "root", "password": "password"})
	tr.do(a, "createStoragePool", map[string]string{"zoneid": zone, "podid": pod, "clusterid": cl, "name": "csg-primary",
		"url": "nfs://192.0.2.10/export/csg-primary", "scope": "cluster"})
	tr.do(a, "addImageStore", map[string]string{"zoneid": zone, "name": "csg-secondary", "provider": "NFS", "url": "nfs://192.0.2.10/export/csg"})
	var sgOffering string
	for _, o := range items(tr.do(a, "listNetworkOfferings", nil), "networkoffering") {
		if o["name"] == "DefaultSharedNetworkOfferingWithSGService" {
			sgOffering = o["id"].(string)
		}
	}
	tr.do(a, "createNetwork", map[string]string{"name": "csg-guest", "zoneid": zone, "networkofferingid": sgOffering})
	tr.do(a, "updateZone", map[string]string{"id": zone, "allocationstate": "Enabled"})

	web := id(tr.do(c, "createSecurityGroup", map[string]string{"name": "c-web", "description": "web"}), "securitygroup")
	gone := id(tr.do(c, "createSecurityGroup", map[string]string{"name": "c-gone"}), "securitygroup")
	tr.do(c, "updateSecurityGroup", map[string]string{"id": gone, "name": "c-going"})
	tr.do(c, "deleteSecurityGroup", map[string]string{"name": "c-going"})
	tr.do(c, "authorizeSecurityGroupIngress", map[string]string{"securitygroupid": web, "protocol": "tcp", "startport": "80",
		"endport": "80", "cidrlist": "0.0.0.0/0"})
	tr.do(c, "authorizeSecurityGroupIngress", map[string]string{"securitygroupname": "default", "protocol": "icmp", "icmptype": "-1",
		"icmpcode": "-1", "usersecuritygrouplist[0].account": "calice", "usersecuritygrouplist[0].group": "c-web"})
	eg := tr.do(c, "authorizeSecurityGroupEgress", map[string]string{"securitygroupid": web, "protocol": "udp", "startport": "53",
		"endport": "53", "cidrlist": "192.0.2.53/32"})
	var egID string
	if rules, _ := api.First(eg, "securitygroup")["egressrule"].([]any); len(rules) > 0 {
		egID, _ = rules[0].(map[string]any)["ruleid"].(string)
	}
	tr.do(c, "revokeSecurityGroupEgress", map[string]string{"id": egID})
	tr.do(c, "createTags", map[string]string{"resourcetype": "SecurityGroup", "resourceids": web, "tags[0].key": "tier", "tags[0].value": "web"})
	vm := id(tr.do(c, "deployVirtualMachine", map[string]string{"serviceofferingid": offering, "templateid": db.SimulatorTemplateID,
		"zoneid": zone, "name": "c-sgvm", "securitygroupnames": "c-web,default"}), "virtualmachine")
	tr.do(c, "listSecurityGroups", map[string]string{"virtualmachineid": vm})
	tr.do(c, "stopVirtualMachine", map[string]string{"id": vm})
	tr.do(c, "updateVirtualMachine", map[string]string{"id": vm, "securitygroupids": web})
	tr.do(c, "startVirtualMachine", map[string]string{"id": vm})
	return func() {
		tr.do(c, "destroyVirtualMachine", map[string]string{"id": vm, "expunge": "true"})
		for _, g := range items(tr.do(c, "listSecurityGroups", map[string]string{"securitygroupname": "default"}), "securitygroup") {
			rules, _ := g["ingressrule"].([]any)
			for _, r := range rules {
				tr.do(c, "revokeSecurityGroupIngress", map[string]string{"id": r.(map[string]any)["ruleid"].(string)})
			}
		}
		tr.do(c, "deleteSecurityGroup", map[string]string{"id": web})
	}
}
