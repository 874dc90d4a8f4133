package test

import (
	"context"
	"testing"

	"github.com/atollcloud/atoll/mgmt/api"
)

// TestAnsibleLoadBalancers drives load-balancer rules with the real cs_loadbalancer_rule and
// cs_loadbalancer_rule_member modules against `atoll up --demo`: lb_setup.yml (a network and
// two instances) twice, loadbalancers.yml (two rules on the network's source NAT address, with
// tags and members) twice, each second run changing nothing, then loadbalancers_change.yml
// (a new algorithm, a member leaving, a rule removed), whose three tasks each change something.
func TestAnsibleLoadBalancers(t *testing.T) {
	requireTool(t, "/usr/bin/ansible-playbook", "ansible")
	requireTool(t, "/usr/lib/python3/dist-packages/cs/client.py", "python3-cs")
	endpoint, dataDir := startUp(t, "--demo")
	env := adminEnv(t, endpoint, dataDir)
	for i := 0; i < 2; i++ {
		if _, changed, _, out := runPlaybook(t, env, "ansible/lb_setup.yml"); (i == 0) == (changed == "0") {
			t.Fatalf("lb_setup.yml run %d changed %s task(s):\n%s", i+1, changed, netChangedLines(out))
		}
	}
	ctx := context.Background()
	c := adminClient(endpoint, dataDir)
	nets, err := c.Do(ctx, "listNetworks", map[string]string{"name": "net-lb"})
	if err != nil {
		t.Fatal(err)
	}
	ips, err := c.Do(ctx, "listPublicIpAddresses", map[string]string{"associatednetworkid": api.First(nets, "network")["id"].(string),
		"issourcenat": "true"})
	if err != nil {
		t.Fatal(err)
	}
	ip, _ := api.First(ips, "publicipaddress")["ipaddress"].(string)
	if ip == "" {
		t.Fatalf("net-lb has no source NAT address: %v", ips)
	}
	for i := 0; i < 2; i++ {
		if _, changed, _, out := runPlaybook(t, env, "ansible/loadbalancers.yml", "-e", "lb_ip="+ip); (i == 0) == (changed == "0") {
			t.Fatalf("loadbalancers.yml run %d changed %s task(s):\n%s", i+1, changed, netChangedLines(out))
		}
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/loadbalancers_change.yml", "-e", "lb_ip="+ip); changed != "3" {
		t.Fatalf("loadbalancers_change.yml changed %s task(s), want 3:\n%s", changed, netChangedLines(out))
	}
	rules, err := c.Do(ctx, "listLoadBalancerRules", map[string]string{"listall": "true"})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := rules["loadbalancerrule"].([]any)
	if len(list) != 1 {
		t.Fatalf("rules left: %v", rules)
	}
	if r := list[0].(map[string]any); r["name"] != "web-http" || r["algorithm"] != "roundrobin" || r["state"] != "Active" {
		t.Fatalf("the HTTP rule: %v", r)
	}
}
