package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/hypervisor/kvm"
	"github.com/atollcloud/atoll/hypervisor/tinyimage"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/network/bridge"
	"github.com/vishvananda/netns"
)

// KVMOptions shape the KVM benchmark: the orchestrator's overhead over driving libvirt
// directly, on this machine as a KVM host (a private libvirtd, NFS storage from nfs-ganesha,
// `atoll up` and `atoll agent --hypervisor kvm` processes), with the tiny template.
type KVMOptions struct {
	Bin    string // the atoll binary
	Dir    string // scratch
	Rounds int    // single-VM rounds (median reported)
	Log    io.Writer
}

// KVMResult is what the KVM benchmark measured.
type KVMResult struct {
	APIBoot, DirectBoot   []time.Duration // deployVirtualMachine call (or StartVM) to the boot marker
	API4, Direct4         time.Duration   // four at once: the call to the last boot marker
	StopToGone            time.Duration   // stopVirtualMachine call to the domain gone
	DomainType, DiskKinds string
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// RunKVM runs the KVM benchmark. It needs root (libvirtd, ganesha).
func RunKVM(ctx context.Context, o KVMOptions) (*KVMResult, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the KVM benchmark needs root (it starts libvirtd and nfs-ganesha)")
	}
	if o.Rounds < 1 {
		o.Rounds = 3
	}
	defer removeNewBridges()()
	logf := func(f string, a ...any) { fmt.Fprintf(o.Log, f+"\n", a...) }
	root, err := tinyimage.RepoRoot(".")
	if err != nil {
		return nil, err
	}
	img, err := tinyimage.Path(root)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.Dir, "kvm")
	script := func(name string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", name), args...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("GANESHA_OWNER=%d", os.Getpid()))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("scripts/%s: %w: %s", name, err, stderr.String())
		}
		return string(out), nil
	}
	lvDir := filepath.Join(dir, "libvirt")
	out, err := script("libvirtd.sh", "start", lvDir)
	if err != nil {
		return nil, err
	}
	defer script("libvirtd.sh", "stop", lvDir)
	socket := ""
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "LIBVIRT_SOCKET="); ok {
			socket = v
		}
	}
	primary, secondary := filepath.Join(dir, "nfs", "primary"), filepath.Join(dir, "nfs", "secondary")
	out, err = script("ganesha.sh", "start", filepath.Join(dir, "ganesha"), primary, secondary)
	if err != nil {
		return nil, err
	}
	defer script("ganesha.sh", "stop", filepath.Join(dir, "ganesha"))
	exports := strings.Fields(out)
	if len(exports) != 2 || socket == "" {
		return nil, fmt.Errorf("bench: daemons printed %q / socket %q", exports, socket)
	}

	apiAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	agentAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	up, err := StartProc(ctx, o.Bin, []string{"up", "--data-dir", data, "--listen", apiAddr, "--agent-listen", agentAddr}, apiAddr, filepath.Join(dir, "up.log"))
	if err != nil {
		return nil, err
	}
	defer up.Stop()
	key, secret, err := waitKeys(ctx, filepath.Join(data, "keys", "admin.env"))
	if err != nil {
		return nil, err
	}
	c := &api.Client{Endpoint: "http://" + apiAddr + "/client/api", Key: key, Secret: secret}
	do := func(cmd string, p map[string]string) (map[string]any, error) { return c.DoWait(ctx, cmd, p) }
	for _, kv := range [][2]string{{"ping.interval", "2"}, {"atoll.image.url.allow.loopback", "true"}} {
		if _, err := do("updateConfiguration", map[string]string{"name": kv[0], "value": kv[1]}); err != nil {
			return nil, err
		}
	}
	if err := mgmt.DemoWith(ctx, c, mgmt.DemoOptions{Zone: "kvm", Clusters: 1, Hypervisor: "KVM",
		PrimaryURL: "nfs://127.0.0.1" + exports[0], SecondaryURL: "nfs://127.0.0.1" + exports[1]}); err != nil {
		return nil, err
	}
	r, err := do("listZones", map[string]string{"name": "kvm"})
	if err != nil {
		return nil, err
	}
	zoneID := objID(r, "zone")
	r, err = do("listClusters", map[string]string{"name": "cluster-1"})
	if err != nil {
		return nil, err
	}
	r, err = do("createHostToken", map[string]string{"clusterid": objID(r, "cluster")})
	if err != nil {
		return nil, err
	}
	tok := api.First(r, "hosttoken")
	consoleDir := filepath.Join(dir, "console")
	agent, err := StartCmd(o.Bin, []string{"agent", "--hypervisor", "kvm", "--mgmt", agentAddr, "--state-dir", filepath.Join(dir, "agent"),
		"--name", "bench-kvm", "--ca-fingerprint", fmt.Sprint(tok["cafingerprint"]), "--token", fmt.Sprint(tok["token"]),
		"--libvirt-socket", socket, "--domain-type", "qemu", "--console-log-dir", consoleDir,
		"--config-drive-dir", filepath.Join(dir, "configdrive"), "--nfs-mode", "userspace", "--guest-networking=false"}, filepath.Join(dir, "agent.log"))
	if err != nil {
		return nil, err
	}
	defer agent.Stop()
	if err := waitUntil(ctx, time.Minute, func() bool {
		r, err := c.Do(ctx, "listHosts", map[string]string{"name": "bench-kvm"})
		return err == nil && api.First(r, "host")["state"] == "Up"
	}); err != nil {
		return nil, fmt.Errorf("bench: the KVM host did not come Up: %w\n%s", err, agent.Tail(20))
	}

	// The template, served from loopback with its checksum.
	tmpl, err := os.ReadFile(img)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(tmpl)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "tiny.qcow2", time.Time{}, bytes.NewReader(tmpl))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	r, err = do("listOsTypes", map[string]string{"keyword": "Other"})
	if err != nil {
		return nil, err
	}
	r, err = do("registerTemplate", map[string]string{"name": "tiny", "displaytext": "tiny", "format": "QCOW2", "hypervisor": "KVM",
		"zoneid": zoneID, "url": "http://" + ln.Addr().String() + "/tiny.qcow2", "checksum": "{SHA-256}" + hex.EncodeToString(sum[:]),
		"ostypeid": objID(r, "ostype")})
	if err != nil {
		return nil, err
	}
	tid := objID(r, "template")
	if err := waitUntil(ctx, 3*time.Minute, func() bool {
		r, err := c.Do(ctx, "listTemplates", map[string]string{"templatefilter": "self", "id": tid})
		return err == nil && api.First(r, "template")["isready"] == true
	}); err != nil {
		return nil, fmt.Errorf("bench: the tiny template did not download: %w", err)
	}
	r, err = do("createServiceOffering", map[string]string{"name": "tiny", "displaytext": "tiny", "cpunumber": "1", "cpuspeed": "500", "memory": "160"})
	if err != nil {
		return nil, err
	}
	offering := objID(r, "serviceoffering")

	drv, err := kvm.New(kvm.Config{Socket: socket, DomainType: "qemu", ConsoleLogDir: filepath.Join(dir, "direct-console"),
		ConfigDriveDir: filepath.Join(dir, "direct-configdrive"), StopTimeout: 20 * time.Second})
	if err != nil {
		return nil, err
	}
	defer drv.Close()
	res := &KVMResult{DomainType: "qemu (TCG)", DiskKinds: "qcow2 linked clone of the template on the NFS export, config drive"}
	marker := func(log string) error {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		return tinyimage.WaitMarker(wctx, log, "ATOLL-TINY-BOOT-OK")
	}
	n := 0
	viaAPI := func() (string, string, error) {
		n++
		r, err := do("deployVirtualMachine", map[string]string{"zoneid": zoneID, "templateid": tid, "serviceofferingid": offering,
			"name": fmt.Sprintf("bench-%d", n)})
		if err != nil {
			return "", "", err
		}
		vm := api.First(r, "virtualmachine")
		name := fmt.Sprint(vm["instancename"])
		return fmt.Sprint(vm["id"]), name, marker(filepath.Join(consoleDir, name+".log"))
	}
	// The direct path: the same kind of domain through the libvirt driver alone (go-libvirt):
	// a qcow2 clone of the template installed in the same pool, made with qemu-img over NFS,
	// and a config drive; no API, job, planner, agent or storage preparation.
	installed := "nfs://127.0.0.1" + exports[0] + "/template-" + tid
	direct := func() (string, error) {
		n++
		name := fmt.Sprintf("direct-%d", n)
		vol := exports[0] + "/direct-" + name
		if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", installed,
			"nfs://127.0.0.1"+vol).CombinedOutput(); err != nil {
			return "", fmt.Errorf("qemu-img: %w: %s", err, out)
		}
		spec := hypervisor.VMSpec{Name: name, Hostname: name, CPUs: 1, SpeedMHz: 500, MemoryBytes: 160 << 20,
			Disks:       []hypervisor.DiskSpec{{VolumeID: name, Type: "ROOT", Format: "QCOW2", Source: hypervisor.DiskSource{NFSHost: "127.0.0.1", NFSPath: vol}}},
			ConfigDrive: &hypervisor.ConfigDrive{}}
		if err := drv.StartVM(ctx, spec); err != nil {
			return name, err
		}
		return name, marker(drv.ConsoleLogPath(name))
	}
	cleanupAPI := func(id string) { _, _ = do("destroyVirtualMachine", map[string]string{"id": id, "expunge": "true"}) }
	cleanupDirect := func(name string) { _ = drv.DestroyVM(ctx, name) }

	// A first deploy installs the template in the pool; it is not measured.
	logf("kvm: warm-up deploy (installs the template in the pool)")
	id, _, err := viaAPI()
	if err != nil {
		return nil, fmt.Errorf("bench: warm-up deploy: %w", err)
	}
	cleanupAPI(id)
	for i := 0; i < o.Rounds; i++ {
		start := time.Now()
		id, _, err := viaAPI()
		if err != nil {
			return nil, fmt.Errorf("bench: deploy: %w", err)
		}
		res.APIBoot = append(res.APIBoot, time.Since(start))
		cleanupAPI(id)
		start = time.Now()
		name, err := direct()
		if err != nil {
			return nil, fmt.Errorf("bench: direct start: %w", err)
		}
		res.DirectBoot = append(res.DirectBoot, time.Since(start))
		cleanupDirect(name)
		logf("kvm: round %d: API %s, direct %s", i+1, res.APIBoot[i].Round(time.Millisecond), res.DirectBoot[i].Round(time.Millisecond))
	}

	// Four at once, each way.
	var mu sync.Mutex
	var firstErr error
	var ids, names []string
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, _, err := viaAPI()
			mu.Lock()
			defer mu.Unlock()
			ids = append(ids, id)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	res.API4 = time.Since(start)
	// Stop one (the call to the domain gone), then clean up.
	if len(ids) > 0 && firstErr == nil {
		r, _ := c.Do(ctx, "listVirtualMachines", map[string]string{"id": ids[0]})
		name := fmt.Sprint(api.First(r, "virtualmachine")["instancename"])
		start := time.Now()
		if _, err := do("stopVirtualMachine", map[string]string{"id": ids[0]}); err != nil {
			return nil, fmt.Errorf("bench: stop: %w", err)
		}
		_ = waitUntil(ctx, time.Minute, func() bool {
			vms, err := drv.ListVMs(ctx)
			if err != nil {
				return false
			}
			for _, v := range vms {
				if v.Name == name {
					return false
				}
			}
			return true
		})
		res.StopToGone = time.Since(start)
	}
	for _, id := range ids {
		cleanupAPI(id)
	}
	if firstErr != nil {
		return nil, fmt.Errorf("bench: four deploys at once: %w", firstErr)
	}
	start = time.Now()
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, err := direct()
			mu.Lock()
			defer mu.Unlock()
			names = append(names, name)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	res.Direct4 = time.Since(start)
	for _, name := range names {
		cleanupDirect(name)
	}
	if firstErr != nil {
		return nil, fmt.Errorf("bench: four direct starts at once: %w", firstErr)
	}
	return res, nil
}

func waitUntil(ctx context.Context, max time.Duration, cond func() bool) error {
	deadline := time.Now().Add(max)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", max)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// reportKVM prints the KVM figures.
func (o Options) reportKVM(r *KVMResult) {
	ratio := func(a, b time.Duration) string {
		if b <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", a.Seconds()/b.Seconds())
	}
	api1, direct1 := median(r.APIBoot), median(r.DirectBoot)
	fmt.Fprintf(o.Out, "\n== KVM host (this machine; domain type %s; %s)\n", r.DomainType, r.DiskKinds)
	fmt.Fprintf(o.Out, "  one VM: deployVirtualMachine call to boot marker  %8s (median of %d: %v)\n", api1.Round(time.Millisecond), len(r.APIBoot), rounded(r.APIBoot))
	fmt.Fprintf(o.Out, "          StartVM through the driver to boot marker %8s (median of %d: %v)\n", direct1.Round(time.Millisecond), len(r.DirectBoot), rounded(r.DirectBoot))
	fmt.Fprintf(o.Out, "          orchestrator overhead (ratio; target <= 1.15) %s\n", ratio(api1, direct1))
	fmt.Fprintf(o.Out, "  four at once: API %s, driver %s, ratio %s\n", r.API4.Round(time.Millisecond), r.Direct4.Round(time.Millisecond), ratio(r.API4, r.Direct4))
	fmt.Fprintf(o.Out, "  stopVirtualMachine call to domain gone: %s\n", r.StopToGone.Round(time.Millisecond))
}

func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// removeNewBridges notes the guest bridges there are now; the function it returns removes
// those made since (the benchmark's guest network), when no guest uses them any more.
func removeNewBridges() func() {
	m, err := bridge.New(netns.None(), nil)
	if err != nil {
		return func() {}
	}
	had := map[string]bool{}
	if list, err := m.List(context.Background()); err == nil {
		for _, b := range list {
			had[b.Name] = true
		}
	}
	return func() {
		defer m.Close()
		list, err := m.List(context.Background())
		if err != nil {
			return
		}
		for _, b := range list {
			if !had[b.Name] {
				_ = m.Remove(context.Background(), b.Name, false)
			}
		}
	}
}
