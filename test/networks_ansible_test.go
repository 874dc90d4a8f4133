package test

import (
	"strings"
	"testing"
)

// TestAnsibleNetworks drives guest networks with the real cs_network module against `atoll up
// --demo`: networks.yml (Isolated and Shared networks, tags) twice, the second run changing
// nothing; networks_ops.yml (update, restart) once; networks_absent.yml twice, the second run
// changing nothing.
func TestAnsibleNetworks(t *testing.T) {
	requireTool(t, "/usr/bin/ansible-playbook", "ansible")
	requireTool(t, "/usr/lib/python3/dist-packages/cs/client.py", "python3-cs")
	endpoint, dataDir := startUp(t, "--demo")
	env := adminEnv(t, endpoint, dataDir)
	if _, changed, _, _ := runPlaybook(t, env, "ansible/networks.yml"); changed == "0" {
		t.Fatal("first run changed nothing: the playbook did not build anything")
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/networks.yml"); changed != "0" {
		t.Fatalf("second run changed %s task(s); not idempotent:\n%s", changed, netChangedLines(out))
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/networks_ops.yml"); changed != "2" {
		t.Fatalf("update and restart changed %s task(s), want 2:\n%s", changed, netChangedLines(out))
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/networks_absent.yml"); changed != "1" {
		t.Fatalf("removing the networks changed %s task(s), want 1 (a loop):\n%s", changed, netChangedLines(out))
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/networks_absent.yml"); changed != "0" {
		t.Fatalf("second removal changed %s task(s):\n%s", changed, netChangedLines(out))
	}
}

// netChangedLines returns the TASK and changed lines of a playbook's output.
func netChangedLines(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "TASK") || strings.HasPrefix(l, "changed") || strings.HasPrefix(l, "fatal") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// TestAnsibleNetworkOfferings creates, enables and uses a network offering with the real
// cs_network_offering module, twice: the second run changes nothing.
func TestAnsibleNetworkOfferings(t *testing.T) {
	requireTool(t, "/usr/bin/ansible-playbook", "ansible")
	requireTool(t, "/usr/lib/python3/dist-packages/cs/client.py", "python3-cs")
	endpoint, dataDir := startUp(t, "--demo")
	env := adminEnv(t, endpoint, dataDir)
	if _, changed, _, out := runPlaybook(t, env, "ansible/network_offerings.yml"); changed == "0" {
		t.Fatalf("first run changed nothing:\n%s", netChangedLines(out))
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/network_offerings.yml"); changed != "0" {
		t.Fatalf("second run changed %s task(s); not idempotent:\n%s", changed, netChangedLines(out))
	}
}
