package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atollcloud/atoll/hypervisor/tinyimage"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/network/bridge"
)

// upProc is `atoll up` run as a process, its output kept in a file the test reads.
type upProc struct {
	cmd     *exec.Cmd
	out     string
	exited  chan error
	stopped bool
}

func (u *upProc) output() string { return readFile(u.out) }

// startUpKVM runs `atoll up --hypervisor kvm` on dataDir and waits until it prints that it is
// up. At cleanup, unless stopUp ran, it is stopped and what it may have left (a private
// libvirtd, ganesha) is stopped by the PIDs in dataDir.
func startUpKVM(t *testing.T, dataDir, storage, apiAddr, agentAddr, logName string) *upProc {
	t.Helper()
	u := &upProc{out: filepath.Join(filepath.Dir(dataDir), logName), exited: make(chan error, 1)}
	logf, err := os.Create(u.out)
	if err != nil {
		t.Fatal(err)
	}
	u.cmd = exec.Command(atollBinary(t), "up", "--hypervisor", "kvm", "--domain-type", "qemu", "--storage", storage, "--data-dir", dataDir,
		"--listen", apiAddr, "--agent-listen", agentAddr)
	u.cmd.Stdout, u.cmd.Stderr = logf, logf
	u.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { u.exited <- u.cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		if !u.stopped {
			u.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-u.exited:
			case <-time.After(2 * time.Minute):
				u.cmd.Process.Kill()
			}
			exec.Command(filepath.Join("..", "scripts", "libvirtd.sh"), "stop", filepath.Join(dataDir, "libvirt")).Run()
			exec.Command(filepath.Join("..", "scripts", "ganesha.sh"), "stop", filepath.Join(dataDir, "nfs", "ganesha")).Run()
		}
		if t.Failed() {
			out := u.output()
			if len(out) > 8000 {
				out = out[len(out)-8000:]
			}
			t.Logf("atoll up output (%s):\n%s", logName, out)
		}
	})
	// Ready: up prints "Atoll is up." last. ganesha's wait for another test's server (its
	// port is machine-wide) can take minutes.
	deadline := time.Now().Add(10 * time.Minute)
	for !strings.Contains(u.output(), "Atoll is up.") {
		select {
		case err := <-u.exited:
			u.stopped = true
			t.Fatalf("atoll up exited before it was ready: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("atoll up not ready within 10 min")
		}
	}
	t.Logf("atoll up --hypervisor kvm --storage %s ready in %s", storage, time.Since(start).Round(time.Millisecond))
	return u
}

// stopUp sends SIGTERM and waits for up to exit.
func stopUp(t *testing.T, u *upProc) {
	t.Helper()
	began := time.Now()
	u.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-u.exited:
		u.stopped = true
		if err != nil {
			t.Errorf("atoll up after SIGTERM: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("atoll up did not exit within 2 min of SIGTERM")
	}
	t.Logf("atoll up stopped in %s", time.Since(began).Round(time.Millisecond))
}

// TestUpKVM: `atoll up --hypervisor kvm` makes this machine a KVM host of a ready zone
// (a private libvirtd, NFS storage from nfs-ganesha on loopback, the in-process agent, the tiny
// template registered from a loopback server); a VM deployed through the API boots with its
// root disk on the primary storage asked for (the NFS export, or with --storage local a local
// directory); SIGTERM stops up and leaves none of the libvirtd, virtlogd, QEMU and ganesha
// processes it started, nor the guest's bridge. Started again on its data dir, up reuses the
// zone, the host's identity and the template.
func TestUpKVM(t *testing.T) {
	requireRoot(t, "atoll up --hypervisor kvm (libvirtd, nfs-ganesha)")
	tinyimage.LockBoots(t)
	for _, tc := range []struct{ storage, primary string }{
		{"nfs", filepath.Join("nfs", "primary")},
		{"local", filepath.Join("storage", "primary")},
	} {
		t.Run(tc.storage, func(t *testing.T) { testUpKVM(t, tc.storage, tc.primary) })
	}
}

func testUpKVM(t *testing.T, storage, primary string) {
	dataDir := filepath.Join(t.TempDir(), "data")
	apiAddr, agentAddr := freePort(t), freePort(t)
	u := startUpKVM(t, dataDir, storage, apiAddr, agentAddr, "up.log")
	out := u.output()
	for _, want := range []string{`Zone "kvm" is ready`, "Template     : tiny", "atoll api deployVirtualMachine zoneid=", "Console logs : " + filepath.Join(dataDir, "console")} {
		if !strings.Contains(out, want) {
			t.Errorf("up's output lacks %q", want)
		}
	}

	c := adminClient("http://"+apiAddr+"/client/api", dataDir)
	ctx := context.Background()
	do := func(cmd string, p map[string]string) map[string]any {
		t.Helper()
		r, err := c.DoWait(ctx, cmd, p)
		if err != nil {
			t.Fatalf("%s %v: %v", cmd, p, err)
		}
		return r
	}
	zone := api.First(do("listZones", map[string]string{"name": "kvm"}), "zone")
	tmpl := api.First(do("listTemplates", map[string]string{"templatefilter": "featured", "name": "tiny", "zoneid": zone["id"].(string)}), "template")
	if tmpl["isready"] != true {
		t.Fatalf("template tiny not ready: %v", tmpl)
	}
	host := api.First(do("listHosts", map[string]string{"zoneid": zone["id"].(string), "type": "Routing"}), "host")
	if host["state"] != "Up" || host["hypervisor"] != "KVM" {
		t.Fatalf("the local host: %v %v", host["state"], host["hypervisor"])
	}
	// The deploy line up prints is usable as is: check its ids name what they should.
	if !strings.Contains(out, "zoneid="+zone["id"].(string)+" templateid="+tmpl["id"].(string)) {
		t.Errorf("the deploy hint names other ids than zone %s and template %s", zone["id"], tmpl["id"])
	}

	offering := api.First(do("createServiceOffering", map[string]string{"name": "tiny-up", "displaytext": "tiny-up", "cpunumber": "1",
		"cpuspeed": "500", "memory": "192"}), "serviceoffering")["id"].(string)
	began := time.Now()
	vm := api.First(do("deployVirtualMachine", map[string]string{"zoneid": zone["id"].(string), "templateid": tmpl["id"].(string),
		"serviceofferingid": offering, "name": "up-1"}), "virtualmachine")
	if vm["state"] != "Running" {
		t.Fatalf("deployed VM: %v", vm)
	}
	t.Logf("deploy answered Running in %s", time.Since(began).Round(time.Millisecond))
	console := filepath.Join(dataDir, "console", vm["instancename"].(string)+".log")
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := tinyimage.WaitMarker(wctx, console, tinyimage.MarkerBootOK); err != nil {
		t.Fatalf("%s not on %s: %v\n%s", tinyimage.MarkerBootOK, console, err, readFile(console))
	}
	t.Logf("deployVirtualMachine call to boot marker: %s", time.Since(began).Round(time.Millisecond))
	root := api.First(do("listVolumes", map[string]string{"virtualmachineid": vm["id"].(string), "type": "ROOT"}), "volume")
	if _, err := os.Stat(filepath.Join(dataDir, primary, root["id"].(string))); err != nil {
		t.Errorf("root volume not in %s: %v", primary, err)
	}
	pool := api.First(do("listStoragePools", map[string]string{"zoneid": zone["id"].(string)}), "storagepool")
	if want := map[string]string{"nfs": "NetworkFilesystem", "local": "Filesystem"}[storage]; pool["type"] != want {
		t.Errorf("primary storage type %v, want %s", pool["type"], want)
	}

	// The guest network's bridge, which up removes once its guest is gone.
	nic, _ := vm["nic"].([]any)
	if len(nic) == 0 {
		t.Fatalf("deployed VM without a NIC: %v", vm)
	}
	netID, _ := nic[0].(map[string]any)["networkid"].(string)
	network := api.First(do("listNetworks", map[string]string{"id": netID}), "network")
	brName, err := bridge.NameFor(fmt.Sprint(network["broadcasturi"]), netID)
	if err != nil {
		t.Fatalf("the guest network's bridge: %v", err)
	}
	if _, err := os.Stat("/sys/class/net/" + brName); err != nil {
		t.Errorf("guest bridge %s while the VM runs: %v", brName, err)
	}

	// The processes up started, by the PIDs in its data dir (the scripts' stop removes the
	// files, so they are read now).
	pids := map[string]int{}
	for name, f := range map[string]string{"libvirtd": "libvirt/libvirtd.pid", "virtlogd": "libvirt/virtlogd.pid", "ganesha": "nfs/ganesha/ganesha.pid"} {
		pids[name] = readPID(t, filepath.Join(dataDir, f))
	}
	qemus, _ := filepath.Glob(filepath.Join(dataDir, "libvirt", "run", "qemu", "*.pid"))
	if len(qemus) == 0 {
		t.Error("no QEMU pid file in the private libvirtd's run dir")
	}
	for _, f := range qemus {
		pids["qemu "+filepath.Base(f)] = readPID(t, f)
	}
	for name, pid := range pids {
		if !pidAlive(pid) {
			t.Errorf("%s (pid %d) is not running while up runs", name, pid)
		}
	}

	stopUp(t, u)
	for name, pid := range pids {
		if pidAlive(pid) {
			t.Errorf("%s (pid %d) still runs after up stopped", name, pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if _, err := os.Stat("/sys/class/net/" + brName); err == nil {
		t.Errorf("guest bridge %s left after up stopped", brName)
	}

	// Again on the same data dir: the same zone, host (no second enrollment) and template.
	u = startUpKVM(t, dataDir, storage, apiAddr, agentAddr, "up-again.log")
	hosts, _ := do("listHosts", map[string]string{"type": "Routing"})["host"].([]any)
	if len(hosts) != 1 || hosts[0].(map[string]any)["id"] != host["id"] || hosts[0].(map[string]any)["state"] != "Up" {
		t.Errorf("hosts after a restart: %v (want %v Up)", hosts, host["id"])
	}
	tmpls, _ := do("listTemplates", map[string]string{"templatefilter": "self", "name": "tiny"})["template"].([]any)
	if len(tmpls) != 1 || tmpls[0].(map[string]any)["id"] != tmpl["id"] {
		t.Errorf("templates named tiny after a restart: %v (want %v alone)", tmpls, tmpl["id"])
	}
	zones, _ := do("listZones", nil)["zone"].([]any)
	if len(zones) != 1 {
		t.Errorf("zones after a restart: %d", len(zones))
	}
	stopUp(t, u)
}

func readPID(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %s: %v", file, err)
	}
	return pid
}

// pidAlive: the process exists and is not a zombie (some containers' PID 1 never reaps).
func pidAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}
