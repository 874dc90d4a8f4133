package test

import "testing"

// TestAnsiblePublicIPs drives public IPs and their rules with the real cs_ip_address,
// cs_portforward, cs_firewall and cs_staticnat modules against `atoll up --demo`:
// publicips.yml (addresses found by their tags, port forwarding, ingress and egress firewall
// rules, static NAT) twice, the second run changing nothing; publicips_absent.yml twice, the
// first taking it all away, the second changing nothing.
func TestAnsiblePublicIPs(t *testing.T) {
	requireTool(t, "/usr/bin/ansible-playbook", "ansible")
	requireTool(t, "/usr/lib/python3/dist-packages/cs/client.py", "python3-cs")
	endpoint, dataDir := startUp(t, "--demo")
	env := adminEnv(t, endpoint, dataDir)
	if _, changed, _, _ := runPlaybook(t, env, "ansible/publicips.yml"); changed == "0" {
		t.Fatal("first run changed nothing: the playbook did not build anything")
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/publicips.yml"); changed != "0" {
		t.Fatalf("second run changed %s task(s); not idempotent:\n%s", changed, netChangedLines(out))
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/publicips_absent.yml"); changed == "0" {
		t.Fatalf("removal changed nothing:\n%s", netChangedLines(out))
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/publicips_absent.yml"); changed != "0" {
		t.Fatalf("second removal changed %s task(s):\n%s", changed, netChangedLines(out))
	}
}
