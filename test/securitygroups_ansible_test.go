package test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/api"
)

// TestAnsibleSecurityGroups drives security groups with the real cs_securitygroup,
// cs_securitygroup_rule and cs_instance modules against `atoll up` with a Basic zone of one
// Simulator host: securitygroups.yml (groups, ingress, egress and group rules, instances in
// groups) twice, the second run changing nothing; securitygroups_absent.yml (rules and a group
// removed, an instance's groups changed) twice, the second run changing nothing.
func TestAnsibleSecurityGroups(t *testing.T) {
	requireTool(t, "/usr/bin/ansible-playbook", "ansible")
	requireTool(t, "/usr/lib/python3/dist-packages/cs/client.py", "python3-cs")
	endpoint, dataDir := startUp(t)
	basicSGZone(t, adminClient(endpoint, dataDir), "sg-basic")
	env := adminEnv(t, endpoint, dataDir)
	vars := []string{"-e", "template=" + db.SimulatorTemplateID}
	if _, changed, _, _ := runPlaybook(t, env, "ansible/securitygroups.yml", vars...); changed == "0" {
		t.Fatal("first run changed nothing: the playbook did not build anything")
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/securitygroups.yml", vars...); changed != "0" {
		t.Fatalf("second run changed %s task(s); not idempotent:\n%s", changed, netChangedLines(out))
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/securitygroups_absent.yml"); changed != "5" {
		t.Fatalf("removals changed %s task(s), want 5:\n%s", changed, netChangedLines(out))
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/securitygroups_absent.yml"); changed != "0" {
		t.Fatalf("second removal changed %s task(s):\n%s", changed, netChangedLines(out))
	}
}

// basicSGZone builds, through the API, an enabled Basic zone (security groups on) of one
// Simulator host with a pod guest range, primary storage, an image store and the zone's guest
// network, and a service offering sg-small.
func basicSGZone(t *testing.T, c *api.Client, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	do := func(cmd string, p map[string]string) map[string]any {
		t.Helper()
		r, err := c.DoWait(ctx, cmd, p)
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		return r
	}
	id := func(r map[string]any, key string) string { s, _ := api.First(r, key)["id"].(string); return s }
	zone := id(do("createZone", map[string]string{"name": name, "networktype": "Basic", "dns1": "192.0.2.53", "internaldns1": "192.0.2.53"}), "zone")
	pn := id(do("createPhysicalNetwork", map[string]string{"zoneid": zone, "name": name + "-phys"}), "physicalnetwork")
	for _, tt := range []string{"Guest", "Management"} {
		do("addTrafficType", map[string]string{"physicalnetworkid": pn, "traffictype": tt, "kvmnetworklabel": "cloudbr0"})
	}
	do("updatePhysicalNetwork", map[string]string{"id": pn, "state": "Enabled"})
	pod := id(do("createPod", map[string]string{"zoneid": zone, "name": name + "-pod", "gateway": "10.30.0.1", "netmask": "255.255.255.0",
		"startip": "10.30.0.10", "endip": "10.30.0.50"}), "pod")
	do("createVlanIpRange", map[string]string{"podid": pod, "gateway": "10.30.0.1", "netmask": "255.255.255.0",
		"startip": "10.30.0.100", "endip": "10.30.0.199", "forvirtualnetwork": "False"})
	cl := id(do("addCluster", map[string]string{"zoneid": zone, "podid": pod, "clustername": name + "-cluster", "hypervisor": "Simulator",
		"clustertype": "CloudManaged"}), "cluster")
	do("addHost", map[string]string{"zoneid": zone, "podid": pod, "clusterid": cl, "hypervisor": "Simulator", "username": "root",
		"password": "password", "url": fmt.Sprintf("http://sim/%s/%s-host-1?cpunumber=8&cpuspeed=2000&memory=16384", name, name)})
	do("createStoragePool", map[string]string{"zoneid": zone, "podid": pod, "clusterid": cl, "name": name + "-primary",
		"url": "nfs://192.0.2.10/export/" + name + "-primary", "scope": "cluster"})
	do("addImageStore", map[string]string{"zoneid": zone, "name": name + "-secondary", "provider": "NFS", "url": "nfs://192.0.2.10/export/" + name})
	var offering string
	for _, o := range do("listNetworkOfferings", map[string]string{"name": "DefaultSharedNetworkOfferingWithSGService"})["networkoffering"].([]any) {
		offering, _ = o.(map[string]any)["id"].(string)
	}
	do("createNetwork", map[string]string{"name": name + "-guest", "zoneid": zone, "networkofferingid": offering})
	do("updateZone", map[string]string{"id": zone, "allocationstate": "Enabled"})
	do("listTemplates", map[string]string{"templatefilter": "featured"}) // readies the built-in template
	do("createServiceOffering", map[string]string{"name": "sg-small", "displaytext": "small", "cpunumber": "1", "cpuspeed": "500", "memory": "256"})
}
