package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// adminEnv reads the admin key pair `atoll up` wrote and returns the CloudStack environment.
func adminEnv(t *testing.T, endpoint, dataDir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "keys", "admin.env"))
	if err != nil {
		t.Fatalf("read admin keys: %v", err)
	}
	env := append(os.Environ(), "CLOUDSTACK_ENDPOINT="+endpoint, "ANSIBLE_NOCOLOR=1", "ANSIBLE_STDOUT_CALLBACK=default",
		"ANSIBLE_LOCALHOST_WARNING=False", "ANSIBLE_INVENTORY_UNPARSED_WARNING=False")
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		env = append(env, l)
	}
	return env
}

var recapRE = regexp.MustCompile(`localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// runPlaybook runs a playbook (with ansible-playbook's extra arguments, e.g. -e @vars.json)
// and returns its recap counts (ok, changed, failed) and output.
func runPlaybook(t *testing.T, env []string, playbook string, extra ...string) (ok, changed, failed, output string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/ansible-playbook", append([]string{"-i", "localhost,", playbook}, extra...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	m := recapRE.FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Fatalf("ansible-playbook %s failed: %v\n%s", playbook, err, out)
	}
	t.Logf("%s: ok=%s changed=%s failed=%s", playbook, m[1], m[2], m[4])
	return m[1], m[2], m[4], string(out)
}

// TestAnsibleInfrastructure builds an Advanced zone of Simulator hosts and a Basic SG zone with
// the real ngine_io.cloudstack modules, twice: the second run must change nothing.
func TestAnsibleInfrastructure(t *testing.T) {
	requireTool(t, "/usr/bin/ansible-playbook", "ansible")
	requireTool(t, "/usr/lib/python3/dist-packages/cs/client.py", "python3-cs")
	endpoint, dataDir := startUp(t)
	env := adminEnv(t, endpoint, dataDir)
	if _, changed, _, _ := runPlaybook(t, env, "ansible/infra.yml"); changed == "0" {
		t.Fatal("first run changed nothing: the playbook did not build anything")
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/infra.yml"); changed != "0" {
		t.Fatalf("second run changed %s task(s); not idempotent:\n%s", changed, changedTasks(out))
	}
}

// TestAnsibleCompute runs test/ansible/compute.yml against `atoll up --demo`: an admin builds a
// tenant, offerings and limits, and the tenant (own keys) registers a template and SSH keys,
// runs instances, volumes and a snapshot policy, and walks an instance through its lifecycle.
// The second run must change nothing.
func TestAnsibleCompute(t *testing.T) {
	requireTool(t, "/usr/bin/ansible-playbook", "ansible")
	requireTool(t, "/usr/lib/python3/dist-packages/cs/client.py", "python3-cs")
	endpoint, dataDir := startUp(t, "--demo")
	env := append(adminEnv(t, endpoint, dataDir), "ATOLL_TEST_DIR="+t.TempDir())
	if _, changed, _, _ := runPlaybook(t, env, "ansible/compute.yml"); changed == "0" {
		t.Fatal("first run changed nothing: the playbook did not build anything")
	}
	if _, changed, _, out := runPlaybook(t, env, "ansible/compute.yml"); changed != "0" {
		t.Fatalf("second run changed %s task(s); not idempotent:\n%s", changed, changedTasks(out))
	}
}

// changedTasks returns the TASK and changed lines of a playbook's output.
func changedTasks(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "TASK") || strings.HasPrefix(l, "changed") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
