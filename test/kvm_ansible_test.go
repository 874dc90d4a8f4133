package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/hypervisor/tinyimage"
	"github.com/atollcloud/atoll/mgmt/allinone"
	"github.com/atollcloud/atoll/mgmt/api"
)

// TestAnsibleComputeKVM runs the same test/ansible/compute.yml as TestAnsibleCompute, twice,
// against a real KVM zone: `atoll up --hypervisor kvm` (a private libvirtd with QEMU
// emulation, NFS primary and secondary storage from nfs-ganesha on loopback, the in-process
// agent). Extra vars point the playbook at that zone, at the tiny guest image served over HTTP
// on loopback (with its checksum: the template is really downloaded and verified) and at
// offering sizes an emulated guest boots with. The first run must change things and fail
// nothing; the second must change nothing and fail nothing. Between them the test checks that
// what the playbook asked for is real on the host: web-1 booted with its hostname, SSH key,
// user data, 10 GiB root disk and 5 GiB data disk, and the primary export holds the files of
// the volumes that exist and none of those the lifecycle walk destroyed; after the second run
// web-1 is still the same QEMU process.
func TestAnsibleComputeKVM(t *testing.T) {
	requireRoot(t, "the Ansible compute playbook on a KVM zone (libvirtd, nfs-ganesha)")
	requireTool(t, "/usr/bin/ansible-playbook", "ansible")
	requireTool(t, "/usr/lib/python3/dist-packages/cs/client.py", "python3-cs")
	waited := time.Now()
	tinyimage.LockBoots(t)
	t.Logf("boot lock taken after %s", time.Since(waited).Round(time.Second))
	removeNewBridges(t)
	began := time.Now()

	dataDir := filepath.Join(t.TempDir(), "data")
	apiAddr, agentAddr := freePort(t), freePort(t)
	u := startUpKVM(t, dataDir, allinone.StorageNFS, apiAddr, agentAddr, "up.log")
	endpoint := "http://" + apiAddr + "/client/api"
	url, checksum, _ := serveTemplate(t)

	vars, err := json.Marshal(map[string]any{
		"zone":                allinone.Zone,
		"template_url":        url,
		"template_checksum":   checksum,
		"template_hypervisor": "KVM",
		// Small enough for two emulated guests side by side on this machine; bigger still
		// differs from tiny in CPUs and memory, so the offering change is a real one.
		"offering_tiny":   map[string]int{"cpu": 1, "speed": 500, "mem": 256},
		"offering_bigger": map[string]int{"cpu": 2, "speed": 1000, "mem": 512},
	})
	if err != nil {
		t.Fatal(err)
	}
	varsFile := filepath.Join(t.TempDir(), "kvm-vars.json")
	if err := os.WriteFile(varsFile, vars, 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(adminEnv(t, endpoint, dataDir), "ATOLL_TEST_DIR="+t.TempDir(),
		"ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT=8")

	run := func(n int) (changed string, out string) {
		t.Helper()
		start := time.Now()
		_, changed, failed, out := runPlaybook(t, env, "ansible/compute.yml", "-e", "@"+varsFile)
		t.Logf("run %d took %s; its slowest tasks:\n%s", n, time.Since(start).Round(time.Second), slowestTasks(out))
		if failed != "0" {
			t.Fatalf("run %d: failed=%s\n%s", n, failed, out)
		}
		return changed, out
	}

	if changed, _ := run(1); changed == "0" {
		t.Fatal("first run changed nothing: the playbook did not build anything")
	}

	c := adminClient(endpoint, dataDir)
	ctx := context.Background()
	do := func(cmd string, p map[string]string) map[string]any {
		t.Helper()
		r, err := c.DoWait(ctx, cmd, p)
		if err != nil {
			t.Fatalf("%s %v: %v", cmd, p, err)
		}
		return r
	}

	// web-1 runs on this host, and the guest saw what the playbook gave it.
	web := api.First(do("listVirtualMachines", map[string]string{"name": "web-1", "listall": "true"}), "virtualmachine")
	if web["state"] != "Running" || web["hypervisor"] != "KVM" {
		t.Fatalf("web-1: state %v, hypervisor %v", web["state"], web["hypervisor"])
	}
	name, _ := web["instancename"].(string)
	console := filepath.Join(dataDir, "console", name+".log")
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := tinyimage.WaitMarker(wctx, console, tinyimage.MarkerReady); err != nil {
		t.Fatalf("web-1 (%s): %v\n%s", name, err, readFile(console))
	}
	log := readFile(console)
	for _, want := range []string{tinyimage.MarkerHostname + " web-1", tinyimage.MarkerSSHKey + " ", tinyimage.MarkerUserdataSkip} {
		if !strings.Contains(log, want) {
			t.Errorf("web-1's console lacks %q (the config drive did not carry it):\n%s", want, log)
		}
	}
	// Root disk resized to 10 GiB at deploy; the data disk (5 GiB) either there at boot or
	// hot-plugged after it.
	if !consoleHasDisk(log, "vda", 10<<30) {
		t.Errorf("web-1's root disk is not 10 GiB in the guest:\n%s", log)
	}
	if !consoleHasDisk(log, "vdb", 5<<30) {
		t.Errorf("web-1's data disk (5 GiB) is not in the guest:\n%s", log)
	}
	webPID := readPID(t, filepath.Join(dataDir, "libvirt", "run", "qemu", name+".pid"))

	// The primary export holds the volumes that exist (web-1's root and data disk; spare-1 is
	// allocated only on its first attach) and the template's copy, and nothing of life-1.
	want := []string{}
	vols, _ := do("listVolumes", map[string]string{"listall": "true"})["volume"].([]any)
	for _, v := range vols {
		m, _ := v.(map[string]any)
		if m["state"] == "Ready" {
			want = append(want, m["id"].(string))
		}
	}
	tpl := api.First(do("listTemplates", map[string]string{"templatefilter": "all", "name": "debian-12"}), "template")
	want = append(want, "template-"+fmt.Sprint(tpl["id"]))
	sort.Strings(want)
	if got := exportFiles(t, filepath.Join(dataDir, "nfs", "primary")); got != strings.Join(want, " ") {
		t.Errorf("primary export holds %q, want %q (the Ready volumes and the template copy)", got, strings.Join(want, " "))
	}
	if len(want) != 3 {
		t.Errorf("Ready volumes and template copies: %v, want web-1's root and data disk and debian-12", want)
	}

	if changed, out := run(2); changed != "0" {
		t.Fatalf("second run changed %s task(s); not idempotent:\n%s", changed, changedTasks(out))
	}
	if pid := readPID(t, filepath.Join(dataDir, "libvirt", "run", "qemu", name+".pid")); pid != webPID {
		t.Errorf("web-1's QEMU changed across the second run (pid %d, was %d)", pid, webPID)
	}

	stopUp(t, u)
	t.Logf("TestAnsibleComputeKVM took %s (up, two playbook runs, checks, stop)", time.Since(began).Round(time.Second))
}

// consoleHasDisk: the tiny guest reported disk name with size bytes, at boot (DISKS) or on a
// hot-plug (DISK-ADDED).
func consoleHasDisk(log, name string, size int64) bool {
	for _, l := range strings.Split(log, "\n") {
		l = strings.TrimRight(l, "\r ")
		if rest, ok := strings.CutPrefix(l, tinyimage.MarkerDisks+" "); ok {
			for _, f := range strings.Fields(rest) {
				if f == fmt.Sprintf("%s:%d", name, size) {
					return true
				}
			}
		}
		if l == fmt.Sprintf("%s %s %d", tinyimage.MarkerDiskAdded, name, size) {
			return true
		}
	}
	return false
}

// slowestTasks returns profile_tasks' summary (the lines after the recap naming a task and its
// time), or nothing when the callback did not run.
func slowestTasks(out string) string {
	i := strings.Index(out, "PLAY RECAP")
	if i < 0 {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(out[i:], "\n") {
		if l = strings.TrimSpace(l); strings.Contains(l, " ---") && strings.HasSuffix(l, "s") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
