package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
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
)

// A network lab: KVM hosts that are network namespaces of this machine, as ENVIRONMENT.md
// describes, so that guest networking runs across hosts for real without leaving the machine.
//
//	root namespace ── veth ──┐            (10.251.0.1: the management server's agent
//	                         │             endpoint, NFS and the template's HTTP server)
//	lab namespace "<tag>-ul":  bridge ul0  (the underlay, 10.251.0.0/24)
//	                           bridge pub0 (the public segment, 10.252.0.0/24)
//	host i "<tag>-h<i>":  eth0 on ul0 (10.251.0.1<i>: its VXLAN tunnel source),
//	                      cloudbr2, a bridge whose uplink eth1 is on pub0 (routers' public side)
//	outside "<tag>-out":  eth0 on pub0, 10.252.0.1: the public gateway, standing for the Internet
//
// Each host runs its own libvirtd and `atoll agent` inside its namespace, so that taps,
// bridges, VXLAN links and router namespaces are the host's own. The zone's public range is
// 10.252.0.10-10.252.0.50, untagged.
type netLab struct {
	t       *testing.T
	ctx     context.Context
	tag     string
	ul, out string
	rootDev string
	c       *api.Client
	zoneID  string
	agentEP string
	dir     string
	hosts   []*labHost
	tmpl    string // the tiny template's id
	netRoot string // the hosts' network state directories' parent
}

// labHost is one host of a netLab.
type labHost struct {
	ns, addr, name string
	id             string // its host id
	consoleDir     string
	agent          *proc
	agentArgs      []string
	// holder is a process that keeps the host's mount namespace (made by ip netns exec, with
	// the host's /sys) for as long as the lab lives: the agent, restarted, enters the same one,
	// so the router namespaces it pinned there stay visible to it, as /run/netns does on a
	// real host across agent restarts.
	holder *exec.Cmd
}

const (
	labUnderlay = "10.251.0."
	labPublic   = "10.252.0."
)

// ip runs ip(8) with args and fails the test on error.
func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNS runs a command in a namespace and returns its combined output and error.
func inNS(ns string, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...).CombinedOutput()
	return string(out), err
}

// newNetLab builds the namespaces and links of a lab with n hosts (no daemons yet).
func newNetLab(t *testing.T, n int) *netLab {
	t.Helper()
	requireRoot(t, "the guest networking tier (network namespaces, libvirtd, nfs-ganesha)")
	b := make([]byte, 2)
	rand.Read(b)
	l := &netLab{t: t, ctx: context.Background(), tag: "atl" + hex.EncodeToString(b), dir: t.TempDir()}
	l.ul, l.out, l.rootDev = l.tag+"-ul", l.tag+"-out", l.tag+"r"
	t.Cleanup(l.teardown)
	ip(t, "netns", "add", l.ul)
	for _, a := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "ul0", "type", "bridge"}, {"link", "set", "ul0", "up"},
		{"link", "add", "pub0", "type", "bridge"}, {"link", "set", "pub0", "up"},
	} {
		ip(t, append([]string{"-n", l.ul}, a...)...)
	}
	// The root namespace's leg: the management server, NFS and HTTP listen on its address.
	ip(t, "link", "add", l.rootDev, "type", "veth", "peer", "name", "rootp", "netns", l.ul)
	ip(t, "addr", "add", labUnderlay+"1/24", "dev", l.rootDev)
	ip(t, "link", "set", l.rootDev, "up")
	ip(t, "-n", l.ul, "link", "set", "rootp", "master", "ul0", "up")
	// The outside: the public gateway.
	l.leg(l.out, "eth0", "outp", "pub0", labPublic+"1/24")
	for i := 1; i <= n; i++ {
		h := &labHost{ns: fmt.Sprintf("%s-h%d", l.tag, i), addr: fmt.Sprintf("%s1%d", labUnderlay, i), name: fmt.Sprintf("net-host-%d", i)}
		l.leg(h.ns, "eth0", fmt.Sprintf("h%du", i), "ul0", h.addr+"/24")
		h.holder = exec.Command("ip", "netns", "exec", h.ns, "sleep", "infinity")
		h.holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := h.holder.Start(); err != nil {
			t.Fatal(err)
		}
		// The public bridge and its uplink; routers' public veths join it.
		ip(t, "-n", h.ns, "link", "add", "cloudbr2", "type", "bridge")
		ip(t, "-n", h.ns, "link", "set", "cloudbr2", "up")
		ip(t, "link", "add", "eth1", "netns", h.ns, "type", "veth", "peer", "name", fmt.Sprintf("h%dp", i), "netns", l.ul)
		ip(t, "-n", h.ns, "link", "set", "eth1", "master", "cloudbr2", "up")
		ip(t, "-n", l.ul, "link", "set", fmt.Sprintf("h%dp", i), "master", "pub0", "up")
		l.hosts = append(l.hosts, h)
	}
	return l
}

// leg makes namespace ns (created here) with a veth dev whose peer joins bridge br of the lab
// namespace, with address addr.
func (l *netLab) leg(ns, dev, peer, br, addr string) {
	t := l.t
	ip(t, "netns", "add", ns)
	ip(t, "-n", ns, "link", "set", "lo", "up")
	ip(t, "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", peer, "netns", l.ul)
	ip(t, "-n", ns, "addr", "add", addr, "dev", dev)
	ip(t, "-n", ns, "link", "set", dev, "up")
	ip(t, "-n", l.ul, "link", "set", peer, "master", br, "up")
}

// teardown removes the lab's namespaces and its root leg (daemons are stopped by their own
// cleanups, which run first: they were registered later).
func (l *netLab) teardown() {
	exec.Command("ip", "link", "del", l.rootDev).Run()
	for _, h := range l.hosts {
		if h.holder != nil && h.holder.Process != nil {
			h.holder.Process.Kill()
			h.holder.Wait()
		}
	}
	for _, h := range l.hosts {
		exec.Command("ip", "netns", "del", h.ns).Run()
	}
	exec.Command("ip", "netns", "del", l.out).Run()
	exec.Command("ip", "netns", "del", l.ul).Run()
}

// scriptEnv is script with extra environment variables.
func scriptEnv(t *testing.T, env []string, prefix []string, name string, args ...string) string {
	t.Helper()
	argv := append(append([]string{}, prefix...), append([]string{filepath.Join("..", "scripts", name)}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), "GANESHA_OWNER="+strconv.Itoa(os.Getpid())), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// startNetLab builds a lab of n KVM hosts with a management server, NFS storage on the
// underlay and the tiny template registered: a zone "net" ready for guests.
func startNetLab(t *testing.T, n int) *netLab {
	t.Helper()
	return startNetLabWith(t, n, func(l *netLab, primary, secondary string) (zoneID, clusterID string) {
		err := mgmt.DemoWith(l.ctx, l.c, mgmt.DemoOptions{Zone: "net", Clusters: 1, Hypervisor: "KVM", PrimaryURL: primary, SecondaryURL: secondary,
			Public:      &mgmt.PublicRange{VLAN: "untagged", Gateway: labPublic + "1", Netmask: "255.255.255.0", Start: labPublic + "10", End: labPublic + "50"},
			PublicLabel: "cloudbr2"})
		if err != nil {
			t.Fatal(err)
		}
		zoneID = api.First(l.do("listZones", map[string]string{"name": "net"}), "zone")["id"].(string)
		return zoneID, api.First(l.do("listClusters", map[string]string{"zoneid": zoneID}), "cluster")["id"].(string)
	})
}

// startNetLabWith is startNetLab with the zone built by zone (given the NFS primary and
// secondary storage URLs), which answers the zone and the cluster the hosts join.
func startNetLabWith(t *testing.T, n int, zone func(l *netLab, primary, secondary string) (zoneID, clusterID string)) *netLab {
	t.Helper()
	l := newNetLab(t, n)
	tinyimage.LockBoots(t)
	nfsRoot := filepath.Join(l.dir, "nfs")
	primary, secondary := filepath.Join(nfsRoot, "primary"), filepath.Join(nfsRoot, "secondary")
	exports := strings.Fields(scriptEnv(t, []string{"GANESHA_BIND=" + labUnderlay + "1", "GANESHA_CLIENTS=" + labUnderlay + "0/24"}, nil,
		"ganesha.sh", "start", filepath.Join(nfsRoot, "ganesha"), primary, secondary))
	t.Cleanup(func() { script(t, "ganesha.sh", "stop", filepath.Join(nfsRoot, "ganesha")) })
	if len(exports) != 2 {
		t.Fatalf("ganesha.sh printed %v", exports)
	}

	dataDir := filepath.Join(l.dir, "data")
	apiAddr := freePort(t)
	_, port, _ := net.SplitHostPort(freePort(t))
	l.agentEP = labUnderlay + "1:" + port
	startProc(t, "up.log", "up", "--data-dir", dataDir, "--listen", apiAddr, "--agent-listen", l.agentEP)
	waitFor(t, "atoll up answering", 30*time.Second, func() (bool, string) {
		l.c = adminClient("http://"+apiAddr+"/client/api", dataDir)
		if l.c.Key == "" {
			return false, "no admin keys yet"
		}
		_, err := l.c.Do(l.ctx, "listZones", nil)
		return err == nil, fmt.Sprint(err)
	})
	for _, kv := range [][2]string{{"ping.interval", "2"}, {"ping.timeout", "3"}, {"atoll.image.url.allow.loopback", "true"}} {
		l.do("updateConfiguration", map[string]string{"name": kv[0], "value": kv[1]})
	}
	var clusterID string
	l.zoneID, clusterID = zone(l, "nfs://"+labUnderlay+"1"+exports[0], "nfs://"+labUnderlay+"1"+exports[1])
	for _, h := range l.hosts {
		l.startHost(h, clusterID)
	}
	url, sum := l.serveTemplate()
	osType := api.First(l.do("listOsTypes", map[string]string{"keyword": "Other"}), "ostype")["id"].(string)
	r := l.do("registerTemplate", map[string]string{"name": "tiny", "displaytext": "tiny", "format": "QCOW2", "hypervisor": "KVM",
		"zoneid": l.zoneID, "url": url, "checksum": sum, "ostypeid": osType, "ispublic": "true", "passwordenabled": "true"})
	l.tmpl = api.First(r, "template")["id"].(string)
	waitFor(t, "template downloaded", 3*time.Minute, func() (bool, string) {
		tm := api.First(l.do("listTemplates", map[string]string{"templatefilter": "all", "id": l.tmpl}), "template")
		return tm["isready"] == true, fmt.Sprint(tm["status"])
	})
	return l
}

// startHost starts a host's libvirtd and agent inside its namespace and waits for it to be Up.
func (l *netLab) startHost(h *labHost, clusterID string) {
	t := l.t
	dir := filepath.Join(l.dir, h.name)
	lvDir := filepath.Join(dir, "libvirt")
	out := scriptEnv(t, nil, []string{"ip", "netns", "exec", h.ns}, "libvirtd.sh", "start", lvDir)
	t.Cleanup(func() { script(t, "libvirtd.sh", "stop", lvDir) })
	var socket string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "LIBVIRT_SOCKET="); ok {
			socket = v
		}
	}
	if socket == "" {
		t.Fatalf("libvirtd.sh printed no socket:\n%s", out)
	}
	tok := api.First(l.do("createHostToken", map[string]string{"clusterid": clusterID}), "hosttoken")
	h.consoleDir = filepath.Join(dir, "console")
	h.agentArgs = []string{"agent", "--hypervisor", "kvm", "--mgmt", l.agentEP, "--state-dir", filepath.Join(dir, "agent"), "--name", h.name,
		"--ca-fingerprint", tok["cafingerprint"].(string), "--libvirt-socket", socket, "--domain-type", "qemu",
		"--console-log-dir", h.consoleDir, "--config-drive-dir", filepath.Join(dir, "configdrive"), "--nfs-mode", "userspace",
		"--vxlan-local", h.addr, "--vxlan-dev", "eth0", "--public-bridge", "cloudbr2", "--network-state-dir", l.netState(h)}
	h.agent = h.startAgent(t, "--token", tok["token"].(string))
	waitFor(t, h.name+" Up", 60*time.Second, func() (bool, string) {
		r, err := l.c.Do(l.ctx, "listHosts", map[string]string{"name": h.name})
		if err != nil {
			return false, err.Error()
		}
		hh := api.First(r, "host")
		h.id, _ = hh["id"].(string)
		return hh["state"] == "Up", fmt.Sprint(hh["state"])
	})
}

// startAgent starts the host's agent inside its namespaces (network and mount: the holder's)
// with its arguments and extra ones.
func (h *labHost) startAgent(t *testing.T, extra ...string) *proc {
	t.Helper()
	return startProcIn(t, h.holder.Process.Pid, h.name+".log", append(append([]string{}, h.agentArgs...), extra...)...)
}

// startProcIn is startProc with the process run inside the network and mount namespaces of
// process pid.
func startProcIn(t *testing.T, pid int, logName string, args ...string) *proc {
	t.Helper()
	p, logf := startLogged(t, exec.Command("nsenter", append([]string{"-t", strconv.Itoa(pid), "-m", "-n", "--", atollBinary(t)}, args...)...), logName)
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("%s:\n%s", logName, lastLines(string(b), 60))
			}
		}
	})
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// serveTemplate serves the tiny template on the underlay address until the test ends.
func (l *netLab) serveTemplate() (url, checksum string) {
	t := l.t
	data, err := os.ReadFile(tinyTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	ln, err := net.Listen("tcp", labUnderlay+"1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/tiny.qcow2" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "tiny.qcow2", time.Time{}, bytes.NewReader(data))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/tiny.qcow2", "{SHA-256}" + hex.EncodeToString(sum[:])
}

// do runs an API command (waiting for its job) as the admin and fails the test on error.
func (l *netLab) do(cmd string, p map[string]string) map[string]any {
	l.t.Helper()
	return doAs(l.t, l.ctx, l.c, cmd, p)
}

func doAs(t *testing.T, ctx context.Context, c *api.Client, cmd string, p map[string]string) map[string]any {
	t.Helper()
	r, err := c.DoWait(ctx, cmd, p)
	if err != nil {
		t.Fatalf("%s %v: %v", cmd, p, err)
	}
	return r
}

// console is a VM's serial console log on host h.
func (h *labHost) console(instance string) string {
	return readFile(filepath.Join(h.consoleDir, instance+".log"))
}

// waitConsole waits for marker on a VM's console.
func (h *labHost) waitConsole(t *testing.T, instance, marker string, max time.Duration) string {
	t.Helper()
	var line string
	waitFor(t, instance+" console shows "+marker, max, func() (bool, string) {
		for _, l := range strings.Split(h.console(instance), "\n") {
			if strings.Contains(l, marker) {
				line = strings.TrimSpace(l)
				return true, ""
			}
		}
		return false, lastLines(h.console(instance), 3)
	})
	return line
}

// netState is a host's --network-state-dir: outside the test's private temporary directory,
// because dnsmasq drops to nobody and must traverse every parent of its files. The daemons
// of a host killed by a test (its dnsmasq and haproxy outlive its agent) are stopped at the
// end by their command lines, which name this directory.
func (l *netLab) netState(h *labHost) string {
	t := l.t
	if l.netRoot == "" {
		d, err := os.MkdirTemp("", "atoll-netlab-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
		l.netRoot = d
		t.Cleanup(func() {
			exec.Command("pkill", "-KILL", "-f", d).Run()
			os.RemoveAll(d)
			// The agents pinned their router namespaces in their own mount namespaces (they
			// run under ip netns exec), gone with them: what is left under /run/netns is
			// a plain file, not a namespace.
			entries, _ := os.ReadDir("/run/netns")
			for _, e := range entries {
				p := filepath.Join("/run/netns", e.Name())
				var st syscall.Statfs_t
				if strings.HasPrefix(e.Name(), "atr-") && syscall.Statfs(p, &st) == nil && st.Type != 0x6e736673 {
					os.Remove(p)
				}
			}
		})
	}
	return filepath.Join(l.netRoot, h.name)
}

// dumpOnFailure logs, when the test has failed, what a person would look at first: each
// host's links, bridges and VXLAN forwarding entries, each router namespace's addresses,
// routes and nftables ruleset, and every VM console.
func (l *netLab) dumpOnFailure() {
	t := l.t
	t.Cleanup(func() {
		if t.Failed() {
			l.dump()
		}
	})
}

// dump logs the lab's kernel state (dumpOnFailure).
func (l *netLab) dump() {
	t := l.t
	{
		for _, h := range l.hosts {
			for _, c := range [][]string{{"ip", "-br", "addr"}, {"ip", "-d", "link"}, {"bridge", "link"}, {"bridge", "fdb", "show"}} {
				out, _ := inNS(h.ns, 5*time.Second, c[0], c[1:]...)
				t.Logf("%s: %s\n%s", h.name, strings.Join(c, " "), out)
			}
			entries, _ := os.ReadDir(h.consoleDir)
			for _, e := range entries {
				t.Logf("%s console %s:\n%s", h.name, e.Name(), lastLines(readFile(filepath.Join(h.consoleDir, e.Name())), 40))
			}
		}
		entries, _ := os.ReadDir("/run/netns")
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), "atr-") {
				continue
			}
			for _, c := range [][]string{{"ip", "-s", "addr"}, {"ip", "route"}, {"ip", "neigh"}, {"nft", "list", "ruleset"}} {
				out, _ := l.inRouter(e.Name(), 5*time.Second, c[0], c[1:]...)
				t.Logf("%s: %s\n%s", e.Name(), strings.Join(c, " "), out)
			}
		}
		out, _ := inNS(l.out, 5*time.Second, "ip", "neigh")
		t.Logf("outside: ip neigh\n%s", out)
	}
}

// inRouter runs a command in a router namespace. Each lab host's agent runs in its host's
// mount namespace (made by ip netns exec), so the namespace's bind mount under /run/netns is
// only seen from there: the command enters the mount namespace of a host that sees it.
func (l *netLab) inRouter(ns string, timeout time.Duration, name string, args ...string) (string, error) {
	var out string
	err := fmt.Errorf("no agent sees %s", ns)
	for _, h := range l.hosts {
		if h.holder == nil || h.holder.Process == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		b, e := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(h.holder.Process.Pid), "-m", "ip", "netns", "exec", ns, name}, args...)...).CombinedOutput()
		cancel()
		if e == nil {
			return string(b), nil
		}
		out, err = string(b), e
	}
	return out, err
}
