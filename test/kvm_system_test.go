package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atollcloud/atoll/hypervisor/tinyimage"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/network/bridge"
	"github.com/vishvananda/netns"
)

// requireRoot skips a real-host tier without root, and fails it under CI=true.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s needs root (CI=true forbids skipping)", why)
	}
	t.Skipf("%s needs root", why)
}

// script runs one of the repository's scripts and returns its standard output.
func script(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join("..", "scripts", name), args...)
	cmd.Env = append(os.Environ(), "GANESHA_OWNER="+strconv.Itoa(os.Getpid()))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// kvmHost is the machine as a KVM host: a private libvirtd, NFS exports served by
// nfs-ganesha on loopback, a management server and an `atoll agent --hypervisor kvm`.
type kvmHost struct {
	c                    *api.Client
	ctx                  context.Context
	primary, secondary   string // export directories
	consoleDir           string
	zoneID, clusterID    string
	agentArgs            []string
	agent                *proc
	libvirtDir, lvSocket string
	lvTCPURI             string // its libvirtd's plain-TCP URI on loopback (live migration)
	ganeshaDir           string
	exports              []string // ganesha's export paths: primary, secondary, primary2, secondary2
}

func (h *kvmHost) do(t *testing.T, cmd string, p map[string]string) map[string]any {
	t.Helper()
	r, err := h.c.DoWait(h.ctx, cmd, p)
	if err != nil {
		t.Fatalf("%s %v: %v", cmd, p, err)
	}
	return r
}

func (h *kvmHost) console(name string) string { return filepath.Join(h.consoleDir, name+".log") }

func (h *kvmHost) waitConsole(t *testing.T, name, marker string, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(h.ctx, max)
	defer cancel()
	if err := tinyimage.WaitMarker(ctx, h.console(name), marker); err != nil {
		b, _ := os.ReadFile(h.console(name))
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		t.Fatalf("%s: %q not on the console within %s: %v\n%s", name, marker, max, err, b)
	}
	return time.Since(start)
}

func startKVMHost(t *testing.T) *kvmHost {
	t.Helper()
	requireRoot(t, "the KVM system tier (libvirtd, nfs-ganesha)")
	tinyimage.LockBoots(t)
	removeNewBridges(t)
	dir := t.TempDir()
	h := &kvmHost{ctx: context.Background(), consoleDir: filepath.Join(dir, "console")}

	h.libvirtDir = filepath.Join(dir, "libvirt")
	h.lvSocket, h.lvTCPURI = startLibvirtd(t, h.libvirtDir)

	nfsRoot, err := os.MkdirTemp("", "atoll-kvm-nfs-")
	if err != nil {
		t.Fatal(err)
	}
	h.primary, h.secondary = filepath.Join(nfsRoot, "primary"), filepath.Join(nfsRoot, "secondary")
	h.ganeshaDir = filepath.Join(nfsRoot, "ganesha")
	// Two more exports for a second zone's primary and secondary storage (TestKVMCopyTemplate).
	exports := strings.Fields(script(t, "ganesha.sh", "start", h.ganeshaDir, h.primary, h.secondary,
		filepath.Join(nfsRoot, "primary2"), filepath.Join(nfsRoot, "secondary2")))
	t.Cleanup(func() { script(t, "ganesha.sh", "stop", filepath.Join(nfsRoot, "ganesha")); os.RemoveAll(nfsRoot) })
	h.exports = exports
	if len(exports) != 4 {
		t.Fatalf("ganesha.sh printed %v", exports)
	}

	dataDir, stateDir := filepath.Join(dir, "data"), filepath.Join(dir, "agent")
	apiAddr, agentAddr := freePort(t), freePort(t)
	startProc(t, "up.log", "up", "--data-dir", dataDir, "--listen", apiAddr, "--agent-listen", agentAddr)
	waitFor(t, "atoll up answering", 30*time.Second, func() (bool, string) {
		h.c = adminClient("http://"+apiAddr+"/client/api", dataDir)
		if h.c.Key == "" {
			return false, "no admin keys yet"
		}
		_, err := h.c.Do(h.ctx, "listZones", nil)
		return err == nil, fmt.Sprint(err)
	})
	for _, kv := range [][2]string{{"ping.interval", "2"}, {"ping.timeout", "3"}, {"atoll.image.url.allow.loopback", "true"}} {
		h.do(t, "updateConfiguration", map[string]string{"name": kv[0], "value": kv[1]})
	}
	err = mgmt.DemoWith(h.ctx, h.c, mgmt.DemoOptions{Zone: "kvm", Clusters: 1, Hypervisor: "KVM",
		PrimaryURL: "nfs://127.0.0.1" + exports[0], SecondaryURL: "nfs://127.0.0.1" + exports[1]})
	if err != nil {
		t.Fatal(err)
	}
	h.zoneID = api.First(h.do(t, "listZones", map[string]string{"name": "kvm"}), "zone")["id"].(string)
	h.clusterID = api.First(h.do(t, "listClusters", map[string]string{"name": "cluster-1"}), "cluster")["id"].(string)
	tok := api.First(h.do(t, "createHostToken", map[string]string{"clusterid": h.clusterID}), "hosttoken")
	h.agentArgs = []string{"agent", "--hypervisor", "kvm", "--mgmt", agentAddr, "--state-dir", stateDir, "--name", "kvm-host-1",
		"--ca-fingerprint", tok["cafingerprint"].(string), "--libvirt-socket", h.lvSocket, "--domain-type", "qemu",
		"--console-log-dir", h.consoleDir, "--config-drive-dir", filepath.Join(dir, "configdrive"), "--nfs-mode", "userspace",
		"--migration-uri", h.lvTCPURI,
		"--guest-networking=false"} // routers and security groups on real hosts: the network lab (netlab_test.go)
	h.agent = startProc(t, "agent.log", append(h.agentArgs, "--token", tok["token"].(string))...)
	h.waitHost(t, "Up")
	return h
}

// startLibvirtd starts a private libvirtd in dir, also listening on a loopback TCP port for
// live migration, and stops it when the test ends; it returns its unix socket and TCP URI.
func startLibvirtd(t *testing.T, dir string) (socket, tcpURI string) {
	t.Helper()
	_, port, err := net.SplitHostPort(freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	out := script(t, "libvirtd.sh", "start", dir, port)
	t.Cleanup(func() { script(t, "libvirtd.sh", "stop", dir) })
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "LIBVIRT_SOCKET="); ok {
			socket = v
		}
		if v, ok := strings.CutPrefix(l, "LIBVIRT_TCP_URI="); ok {
			tcpURI = v
		}
	}
	if socket == "" || tcpURI == "" {
		t.Fatalf("libvirtd.sh printed no socket or TCP URI:\n%s", out)
	}
	return socket, tcpURI
}

// adminClient is an API client for endpoint with the admin keys `atoll up` wrote in dataDir
// (no keys while it has not written them yet).
func adminClient(endpoint, dataDir string) *api.Client {
	c := &api.Client{Endpoint: endpoint}
	for _, l := range strings.Split(readFile(filepath.Join(dataDir, "keys", "admin.env")), "\n") {
		if v, ok := strings.CutPrefix(l, "CLOUDSTACK_KEY="); ok {
			c.Key = v
		}
		if v, ok := strings.CutPrefix(l, "CLOUDSTACK_SECRET="); ok {
			c.Secret = v
		}
	}
	return c
}

func (h *kvmHost) waitHost(t *testing.T, state string) {
	t.Helper()
	waitFor(t, "KVM host "+state, 60*time.Second, func() (bool, string) {
		r, err := h.c.Do(h.ctx, "listHosts", map[string]string{"name": "kvm-host-1"})
		if err != nil || r["host"] == nil {
			return false, fmt.Sprint(r, err)
		}
		st := api.First(r, "host")["state"]
		return st == state, fmt.Sprint(st)
	})
}

// serveTemplate serves the tiny template over HTTP on loopback and returns its URL and
// sha256 checksum, and a URL that answers 404.
func serveTemplate(t *testing.T) (url, checksum, missing string) {
	t.Helper()
	url, checksum, _ = serveFile(t, tinyTemplate(t))
	return url, checksum, strings.TrimSuffix(url, "tiny.qcow2") + "missing.qcow2"
}

// tinyTemplate is the tiny template's path (built when missing).
func tinyTemplate(t *testing.T) string {
	t.Helper()
	root, err := tinyimage.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	img, err := tinyimage.Path(root) // builds build/tiny when missing
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// serveFile serves one file over HTTP on loopback, under its base name (anything else is
// 404), until the test ends; it returns its URL, CloudStack's sha256 checksum and its size.
func serveFile(t *testing.T, path string) (url, checksum string, size int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(path)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+name {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String() + "/" + name, "{SHA-256}" + hex.EncodeToString(sum[:]), len(data)
}

// registerTiny registers the tiny template in the zone and waits for its download.
func (h *kvmHost) registerTiny(t *testing.T, name, url, checksum string) (id string, template map[string]any) {
	t.Helper()
	r := h.do(t, "registerTemplate", map[string]string{"name": name, "displaytext": name, "format": "QCOW2", "hypervisor": "KVM",
		"zoneid": h.zoneID, "url": url, "checksum": checksum, "ostypeid": h.osType(t), "passwordenabled": "true", "sshkeyenabled": "true"})
	id = r["template"].([]any)[0].(map[string]any)["id"].(string)
	waitFor(t, "template "+name+" downloaded", 3*time.Minute, func() (bool, string) {
		l := h.do(t, "listTemplates", map[string]string{"templatefilter": "self", "id": id})
		template = api.First(l, "template")
		return template["isready"] == true || strings.Contains(fmt.Sprint(template["downloaddetails"]), "DOWNLOAD_ERROR"), fmt.Sprint(template["status"])
	})
	return id, template
}

func (h *kvmHost) osType(t *testing.T) string {
	t.Helper()
	return api.First(h.do(t, "listOsTypes", map[string]string{"keyword": "Other"}), "ostype")["id"].(string)
}

// TestKVMSystem deploys through the API onto a real libvirt host (QEMU emulation) whose
// primary storage is an NFS export: the template is downloaded from a local HTTP server with
// its checksum verified; the guest boots, runs its userdata and installs its SSH key (seen on
// its console); its root volume is a file on the export; a data volume attached through the
// API appears in the guest and grows there when resized; stop, start, reboot, a snapshot and
// a volume from it, destroy and expunge work.
func TestKVMSystem(t *testing.T) {
	h := startKVMHost(t)
	url, sum, missing := serveTemplate(t)

	// Bad input fails clearly and leaves nothing: a URL that answers 404, a checksum that
	// does not match.
	_, bad := h.registerTiny(t, "tiny-404", missing, sum)
	if bad["isready"] == true || !strings.Contains(fmt.Sprint(bad["status"]), "404") {
		t.Errorf("a template URL answering 404: %v", bad["status"])
	}
	_, bad = h.registerTiny(t, "tiny-badsum", url, "{SHA-256}"+strings.Repeat("0", 64))
	if bad["isready"] == true || !strings.Contains(strings.ToLower(fmt.Sprint(bad["status"])), "checksum") {
		t.Errorf("a template with a wrong checksum: %v", bad["status"])
	}

	tid, tmpl := h.registerTiny(t, "tiny", url, sum)
	if tmpl["isready"] != true {
		t.Fatalf("template not ready: %v", tmpl["status"])
	}
	offering := api.First(h.do(t, "createServiceOffering", map[string]string{"name": "tiny", "displaytext": "tiny", "cpunumber": "1",
		"cpuspeed": "500", "memory": "192"}), "serviceoffering")["id"].(string)
	pub := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBtbdhX6Z2P2qgZC0JkAp8xkq9zGw5zq1u1S0bq4gqyF system@atoll"
	h.do(t, "registerSSHKeyPair", map[string]string{"name": "system-key", "publickey": pub})
	// The userdata runs after the config drive's keys are installed: it says whether ours is.
	userdata := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho ATOLL-SYSTEM-USERDATA-OK\n" +
		"grep -q AAAAIBtbdhX6Z2P2qgZC0JkAp8xkq9zGw5zq1u1S0bq4gqyF /root/.ssh/authorized_keys && echo ATOLL-SYSTEM-KEY-INSTALLED\n"))

	start := time.Now()
	vm := api.First(h.do(t, "deployVirtualMachine", map[string]string{"zoneid": h.zoneID, "templateid": tid, "serviceofferingid": offering,
		"name": "sys-1", "userdata": userdata, "keypair": "system-key"}), "virtualmachine")
	if vm["state"] != "Running" {
		t.Fatalf("deployed VM: %v", vm)
	}
	name, vmID := vm["instancename"].(string), vm["id"].(string)
	t.Logf("deploy answered Running in %s", time.Since(start).Round(time.Millisecond))
	h.waitConsole(t, name, "ATOLL-TINY-BOOT-OK", 3*time.Minute)
	t.Logf("deployVirtualMachine call to boot marker: %s", time.Since(start).Round(time.Millisecond))
	h.waitConsole(t, name, "ATOLL-TINY-READY", 3*time.Minute)
	for _, m := range []string{"ATOLL-SYSTEM-USERDATA-OK", "ATOLL-TINY-USERDATA-RAN exit=0", "ATOLL-TINY-SSHKEY ssh-ed25519", "ATOLL-SYSTEM-KEY-INSTALLED", "ATOLL-TINY-PASSWORD-SET"} {
		h.waitConsole(t, name, m, 10*time.Second)
	}
	h.checkVMStats(t, vmID) // its usage statistics (kvm_stats_test.go)

	// Its root volume is a file on the export.
	root := api.First(h.do(t, "listVolumes", map[string]string{"virtualmachineid": vmID, "type": "ROOT"}), "volume")
	rootPath := filepath.Join(h.primary, root["id"].(string))
	if _, err := os.Stat(rootPath); err != nil {
		t.Errorf("root volume not on the NFS export: %v", err)
	}

	// A data volume attached through the API shows up in the guest.
	do := api.First(h.do(t, "listDiskOfferings", map[string]string{"name": "Small"}), "diskoffering")["id"].(string)
	vol := api.First(h.do(t, "createVolume", map[string]string{"name": "data-1", "zoneid": h.zoneID, "diskofferingid": do}), "volume")
	h.do(t, "attachVolume", map[string]string{"id": vol["id"].(string), "virtualmachineid": vmID})
	h.waitConsole(t, name, "ATOLL-TINY-DISK-ADDED vdb", time.Minute)
	if _, err := os.Stat(filepath.Join(h.primary, vol["id"].(string))); err != nil {
		t.Errorf("data volume not on the NFS export: %v", err)
	}
	// Grown while the guest runs (libvirt's block resize): the guest sees the new size.
	medium := api.First(h.do(t, "listDiskOfferings", map[string]string{"name": "Medium"}), "diskoffering")["id"].(string)
	grown := api.First(h.do(t, "resizeVolume", map[string]string{"id": vol["id"].(string), "diskofferingid": medium}), "volume")
	if sz, _ := grown["size"].(float64); int64(sz) != 20<<30 {
		t.Errorf("live-resized volume: size %v, want %d", grown["size"], int64(20<<30))
	}
	h.waitConsole(t, name, fmt.Sprintf("ATOLL-TINY-DISK-RESIZED vdb %d", int64(20<<30)), time.Minute)
	// A snapshot of a running KVM VM's volume is refused as CloudStack does by default
	// (kvm.snapshot.enabled=false), and none is left behind.
	if _, text := jobFails(t, h, "createSnapshot", map[string]string{"volumeid": vol["id"].(string)}); !strings.Contains(text, "KVM Snapshot is not supported for Running VMs") {
		t.Errorf("snapshot of a running VM's volume: %s", text)
	}
	if l := h.do(t, "listSnapshots", map[string]string{"volumeid": vol["id"].(string)}); l["snapshot"] != nil {
		t.Errorf("a refused snapshot left %v", l["snapshot"])
	}

	// Reboot, stop, start.
	before := strings.Count(readFile(h.console(name)), "ATOLL-TINY-BOOT-OK")
	h.do(t, "rebootVirtualMachine", map[string]string{"id": vmID})
	waitFor(t, "second boot after reboot", 3*time.Minute, func() (bool, string) {
		n := strings.Count(readFile(h.console(name)), "ATOLL-TINY-BOOT-OK")
		return n > before, strconv.Itoa(n)
	})
	start = time.Now()
	if s := api.First(h.do(t, "stopVirtualMachine", map[string]string{"id": vmID}), "virtualmachine")["state"]; s != "Stopped" {
		t.Fatalf("after stop: %v", s)
	}
	t.Logf("stopVirtualMachine: %s", time.Since(start).Round(time.Millisecond))
	if out, _ := exec.Command("virsh", "-c", "qemu:///system?socket="+h.lvSocket, "list", "--all", "--name").Output(); strings.Contains(string(out), name) {
		t.Errorf("domain %s still defined after stop: %s", name, out)
	}

	// A snapshot of the stopped VM's root volume, and a volume made from it.
	snap := api.First(h.do(t, "createSnapshot", map[string]string{"volumeid": root["id"].(string)}), "snapshot")
	if snap["state"] != "BackedUp" {
		t.Fatalf("snapshot: %v", snap)
	}
	fromSnap := api.First(h.do(t, "createVolume", map[string]string{"name": "from-snap", "snapshotid": snap["id"].(string)}), "volume")
	if _, err := os.Stat(filepath.Join(h.primary, fromSnap["id"].(string))); err != nil {
		t.Errorf("volume from snapshot not on the export: %v", err)
	}

	// Scale the stopped VM: its next start runs with the new offering's memory.
	bigger := api.First(h.do(t, "createServiceOffering", map[string]string{"name": "tiny-256", "displaytext": "tiny-256", "cpunumber": "1",
		"cpuspeed": "500", "memory": "256"}), "serviceoffering")["id"].(string)
	h.do(t, "scaleVirtualMachine", map[string]string{"id": vmID, "serviceofferingid": bigger})

	before = strings.Count(readFile(h.console(name)), "ATOLL-TINY-BOOT-OK")
	if s := api.First(h.do(t, "startVirtualMachine", map[string]string{"id": vmID}), "virtualmachine")["state"]; s != "Running" {
		t.Fatalf("after start: %v", s)
	}
	waitFor(t, "boot after start", 3*time.Minute, func() (bool, string) {
		n := strings.Count(readFile(h.console(name)), "ATOLL-TINY-BOOT-OK")
		return n > before, strconv.Itoa(n)
	})
	h.waitConsole(t, name, "ATOLL-TINY-DISKS", time.Minute)
	if out, err := exec.Command("virsh", "-c", "qemu:///system?socket="+h.lvSocket, "dominfo", name).Output(); err != nil ||
		!strings.Contains(string(out), "262144 KiB") {
		t.Errorf("after scaling to 256 MiB and starting: %v\n%s", err, out)
	}

	// Destroy and expunge: the domain goes, and the root volume's file with it.
	h.do(t, "detachVolume", map[string]string{"id": vol["id"].(string)})
	h.do(t, "destroyVirtualMachine", map[string]string{"id": vmID, "expunge": "true"})
	if out, _ := exec.Command("virsh", "-c", "qemu:///system?socket="+h.lvSocket, "list", "--all", "--name").Output(); strings.Contains(string(out), name) {
		t.Errorf("domain %s still defined after expunge: %s", name, out)
	}
	waitFor(t, "root volume file removed", time.Minute, func() (bool, string) {
		_, err := os.Stat(rootPath)
		return os.IsNotExist(err), fmt.Sprint(err)
	})
}

// removeNewBridges removes, when the test ends, the guest bridges its agent made (those not
// there when it began, once no port is left on them).
func removeNewBridges(t *testing.T) {
	t.Helper()
	m, err := bridge.New(netns.None(), nil)
	if err != nil {
		t.Fatal(err)
	}
	had := map[string]bool{}
	list, err := m.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range list {
		had[b.Name] = true
	}
	t.Cleanup(func() {
		defer m.Close()
		list, err := m.List(context.Background())
		if err != nil {
			t.Errorf("list bridges: %v", err)
			return
		}
		for _, b := range list {
			if !had[b.Name] {
				if err := m.Remove(context.Background(), b.Name, false); err != nil {
					t.Errorf("remove the test's bridge: %v", err)
				}
			}
		}
	})
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

var _ = bufio.NewScanner
var _ = syscall.SIGTERM

// qemuPID finds the QEMU process of a domain by its name on the command line.
func qemuPID(t *testing.T, name string) int {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", "guest="+name+",").Output()
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.Fields(string(out))[0])
	return pid
}

func (h *kvmHost) vmState(t *testing.T, id string) string {
	t.Helper()
	r, err := h.c.Do(h.ctx, "listVirtualMachines", map[string]string{"id": id})
	if err != nil || r["virtualmachine"] == nil {
		return fmt.Sprint(err)
	}
	return fmt.Sprint(api.First(r, "virtualmachine")["state"])
}

// TestKVMAgentRestartAndDeadGuest: restarting the agent with two guests running disturbs
// neither (same QEMU processes, both still Running); a guest whose QEMU is killed behind
// Atoll's back is Stopped in the API within one ping interval, and the other runs on.
func TestKVMAgentRestartAndDeadGuest(t *testing.T) {
	h := startKVMHost(t)
	url, sum, _ := serveTemplate(t)
	tid, tmpl := h.registerTiny(t, "tiny", url, sum)
	if tmpl["isready"] != true {
		t.Fatalf("template not ready: %v", tmpl["status"])
	}
	offering := api.First(h.do(t, "createServiceOffering", map[string]string{"name": "tiny", "displaytext": "tiny", "cpunumber": "1",
		"cpuspeed": "500", "memory": "160"}), "serviceoffering")["id"].(string)
	var ids, names []string
	for i := 1; i <= 2; i++ {
		vm := api.First(h.do(t, "deployVirtualMachine", map[string]string{"zoneid": h.zoneID, "templateid": tid, "serviceofferingid": offering,
			"name": fmt.Sprintf("keep-%d", i)}), "virtualmachine")
		ids, names = append(ids, vm["id"].(string)), append(names, vm["instancename"].(string))
	}
	pids := map[string]int{}
	for _, n := range names {
		h.waitConsole(t, n, "ATOLL-TINY-BOOT-OK", 3*time.Minute)
		if pids[n] = qemuPID(t, n); pids[n] == 0 {
			t.Fatalf("no QEMU process for %s", n)
		}
	}

	// Restart the agent: the guests are untouched and stay Running.
	if err := h.agent.stop(syscall.SIGTERM); err != nil {
		t.Logf("agent exit on SIGTERM: %v", err)
	}
	h.agent = startProc(t, "agent2.log", h.agentArgs...)
	h.waitHost(t, "Up")
	time.Sleep(5 * time.Second) // a few pings' worth of power reports after the restart
	for i, n := range names {
		if got := qemuPID(t, n); got != pids[n] {
			t.Errorf("%s: QEMU pid %d before the agent restart, %d after", n, pids[n], got)
		}
		if st := h.vmState(t, ids[i]); st != "Running" {
			t.Errorf("%s is %s after the agent restart", n, st)
		}
	}

	// Kill the first guest's QEMU behind Atoll's back: with 10 s between pings it is Stopped
	// in the API within one ping interval (libvirt's lifecycle event makes the agent report
	// at once).
	h.do(t, "updateConfiguration", map[string]string{"name": "ping.interval", "value": "10"})
	time.Sleep(3 * time.Second) // the agent's next pong carries the new interval
	start := time.Now()
	if err := syscall.Kill(pids[names[0]], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "killed guest Stopped in the API within one ping interval", 10*time.Second, func() (bool, string) {
		st := h.vmState(t, ids[0])
		return st == "Stopped", st
	})
	t.Logf("QEMU killed to VM Stopped in the API: %s (ping.interval 10 s)", time.Since(start).Round(time.Millisecond))
	h.do(t, "updateConfiguration", map[string]string{"name": "ping.interval", "value": "2"})
	if st := h.vmState(t, ids[1]); st != "Running" || qemuPID(t, names[1]) != pids[names[1]] {
		t.Errorf("the other guest: %s, pid %d (was %d)", st, qemuPID(t, names[1]), pids[names[1]])
	}
	for _, id := range ids {
		h.do(t, "destroyVirtualMachine", map[string]string{"id": id, "expunge": "true"})
	}

	// libvirtd stopped: a deploy fails with CloudStack's error and leaves nothing half-made:
	// no volume file on the export, no CPU or memory held on the host.
	hostBefore := api.First(h.do(t, "listHosts", map[string]string{"name": "kvm-host-1"}), "host")
	pid, _ := strconv.Atoi(strings.TrimSpace(readFile(filepath.Join(h.libvirtDir, "libvirtd.pid"))))
	if pid == 0 {
		t.Fatal("no libvirtd pid")
	}
	syscall.Kill(pid, syscall.SIGTERM)
	waitFor(t, "libvirtd gone", 20*time.Second, func() (bool, string) { return syscall.Kill(pid, 0) != nil, "" })
	filesBefore := exportFiles(t, h.primary)
	_, err := h.c.DoWait(h.ctx, "deployVirtualMachine", map[string]string{"zoneid": h.zoneID, "templateid": tid,
		"serviceofferingid": offering, "name": "no-libvirt"})
	if err == nil || !strings.Contains(err.Error(), "errorcode:530") || !strings.Contains(err.Error(), "Unable to start") {
		t.Fatalf("deploy with libvirtd stopped: %v", err)
	}
	t.Logf("deploy with libvirtd stopped: %v", err)
	if after := exportFiles(t, h.primary); after != filesBefore {
		t.Errorf("files on the export changed by the failed deploy:\nbefore %s\nafter  %s", filesBefore, after)
	}
	hostAfter := api.First(h.do(t, "listHosts", map[string]string{"name": "kvm-host-1"}), "host")
	for _, k := range []string{"cpuallocated", "memoryallocated"} {
		if fmt.Sprint(hostAfter[k]) != fmt.Sprint(hostBefore[k]) {
			t.Errorf("%s: %v before the failed deploy, %v after", k, hostBefore[k], hostAfter[k])
		}
	}
	script(t, "libvirtd.sh", "restart", h.libvirtDir)

	// A root disk larger than the pool: refused with CloudStack's 533 before anything is made.
	_, err = h.c.DoWait(h.ctx, "deployVirtualMachine", map[string]string{"zoneid": h.zoneID, "templateid": tid,
		"serviceofferingid": offering, "name": "too-big", "rootdisksize": "1000000"})
	if err == nil || !strings.Contains(err.Error(), "533") {
		t.Errorf("deploy with a root disk larger than the pool: %v", err)
	}
	if after := exportFiles(t, h.primary); after != filesBefore {
		t.Errorf("files on the export changed by the refused deploy:\nbefore %s\nafter  %s", filesBefore, after)
	}

	// The NFS export gone (its server killed): a deploy fails with CloudStack's error, quickly,
	// and leaves no host allocation.
	gpid, _ := strconv.Atoi(strings.TrimSpace(readFile(filepath.Join(h.ganeshaDir, "ganesha.pid"))))
	if gpid == 0 {
		t.Fatal("no ganesha pid")
	}
	syscall.Kill(gpid, syscall.SIGKILL)
	start = time.Now()
	_, err = h.c.DoWait(h.ctx, "deployVirtualMachine", map[string]string{"zoneid": h.zoneID, "templateid": tid,
		"serviceofferingid": offering, "name": "no-nfs"})
	// 530 when the host finds the export gone while starting the VM; 533 when a pool check
	// found it first and marked the pool Down (the planner then has no pool for the volume).
	if err == nil || !strings.Contains(err.Error(), "errorcode:530") && !strings.Contains(err.Error(), "errorcode:533") {
		t.Errorf("deploy with the NFS server gone: %v", err)
	}
	t.Logf("deploy with the NFS server gone failed in %s: %v", time.Since(start).Round(time.Millisecond), err)
	hostAfter = api.First(h.do(t, "listHosts", map[string]string{"name": "kvm-host-1"}), "host")
	for _, k := range []string{"cpuallocated", "memoryallocated"} {
		if fmt.Sprint(hostAfter[k]) != fmt.Sprint(hostBefore[k]) {
			t.Errorf("%s: %v before, %v after the deploy without NFS", k, hostBefore[k], hostAfter[k])
		}
	}
}

// exportFiles lists the volume files at the top of an export (names, sorted), ignoring the
// pool's own hidden files.
func exportFiles(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return strings.Join(names, " ")
}
