package test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/mgmt/api"
)

// secondHost is another KVM host of the same cluster on this machine: its own libvirtd (own
// sockets, state and runtime directories, host UUID and TCP port) and its own agent.
type secondHost struct {
	id, name           string
	lvSocket, lvTCPURI string
	consoleDir         string
}

func (s *secondHost) console(vm string) string { return filepath.Join(s.consoleDir, vm+".log") }

// addKVMHost starts a second libvirtd and agent (named name) in h's cluster and waits for
// the host to be Up.
func (h *kvmHost) addKVMHost(t *testing.T, name string) *secondHost {
	t.Helper()
	return h.addKVMHostIn(t, name, h.clusterID)
}

// addKVMHostIn is addKVMHost in the cluster clusterID.
func (h *kvmHost) addKVMHostIn(t *testing.T, name, clusterID string) *secondHost {
	t.Helper()
	dir := t.TempDir()
	s := &secondHost{name: name, consoleDir: filepath.Join(dir, "console")}
	s.lvSocket, s.lvTCPURI = startLibvirtd(t, filepath.Join(dir, "libvirt"))
	repl := map[string]string{"--state-dir": filepath.Join(dir, "agent"), "--name": name, "--libvirt-socket": s.lvSocket,
		"--console-log-dir": s.consoleDir, "--config-drive-dir": filepath.Join(dir, "configdrive"), "--migration-uri": s.lvTCPURI}
	args := append([]string(nil), h.agentArgs...)
	for i := 0; i+1 < len(args); i++ {
		if v, ok := repl[args[i]]; ok {
			args[i+1] = v
		}
	}
	tok := api.First(h.do(t, "createHostToken", map[string]string{"clusterid": clusterID}), "hosttoken")
	args[indexOf(args, "--ca-fingerprint")+1] = tok["cafingerprint"].(string)
	startProc(t, name+".log", append(args, "--token", tok["token"].(string))...)
	waitFor(t, "KVM host "+name+" Up", 60*time.Second, func() (bool, string) {
		r, err := h.c.Do(h.ctx, "listHosts", map[string]string{"name": name})
		if err != nil || r["host"] == nil {
			return false, fmt.Sprint(r, err)
		}
		hst := api.First(r, "host")
		s.id, _ = hst["id"].(string)
		return hst["state"] == "Up", fmt.Sprint(hst["state"])
	})
	return s
}

func indexOf(args []string, a string) int {
	for i, v := range args {
		if v == a {
			return i
		}
	}
	panic("no " + a + " in the agent's arguments")
}

// jobFails runs an async command that must fail and returns its job's error code and text.
func jobFails(t *testing.T, h *kvmHost, cmd string, p map[string]string) (int, string) {
	t.Helper()
	_, err := h.c.DoWait(h.ctx, cmd, p)
	if err == nil {
		t.Fatalf("%s %v succeeded; want a failure", cmd, p)
	}
	m := regexp.MustCompile(`[ \[]errorcode:(\d+)`).FindStringSubmatch(err.Error())
	if m == nil {
		return 0, err.Error()
	}
	code, _ := strconv.Atoi(m[1])
	return code, err.Error()
}

// virsh runs virsh against one private libvirtd.
func virsh(socket string, args ...string) (string, error) {
	out, err := exec.Command("virsh", append([]string{"-c", "qemu:///system?socket=" + socket}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestKVMLiveMigration live-migrates a guest through the API (migrateVirtualMachine) between
// two libvirtds on this machine, each the hypervisor of one host of the cluster, with the
// guest's disks on the NFS primary storage and its NIC on the guest network's bridge: the VM
// is Running on the other host afterwards, its domain runs there and is gone here, its tap
// took the other name of the pair, its ISO is still in its drive, and the guest still runs (a volume attached after the
// move appears on its console, which the target host now logs). It then goes back with
// migrateVirtualMachineWithVolume and is destroyed.
func TestKVMLiveMigration(t *testing.T) {
	h := startKVMHost(t)
	b := h.addKVMHost(t, "kvm-host-2")
	a := api.First(h.do(t, "listHosts", map[string]string{"name": "kvm-host-1"}), "host")["id"].(string)

	url, sum, _ := serveTemplate(t)
	tid, tmpl := h.registerTiny(t, "tiny", url, sum)
	if tmpl["isready"] != true {
		t.Fatalf("template not ready: %v", tmpl["status"])
	}
	offering := api.First(h.do(t, "createServiceOffering", map[string]string{"name": "tiny", "displaytext": "tiny", "cpunumber": "1",
		"cpuspeed": "500", "memory": "192"}), "serviceoffering")["id"].(string)
	vm := api.First(h.do(t, "deployVirtualMachine", map[string]string{"zoneid": h.zoneID, "templateid": tid, "serviceofferingid": offering,
		"name": "mig-1", "hostid": a}), "virtualmachine")
	name, vmID := vm["instancename"].(string), vm["id"].(string)
	if vm["hostid"] != a {
		t.Fatalf("deployed on %v, want %s", vm["hostid"], a)
	}
	h.waitConsole(t, name, "ATOLL-TINY-READY", 3*time.Minute)
	// An ISO in its drive goes with it (QEMU reads it from the image store over NFS).
	isoURL, isoSum, _ := serveISO(t)
	isoID, iso := h.registerISO(t, "tiny-iso", isoURL, isoSum)
	if iso["isready"] != true {
		t.Fatalf("ISO not ready: %v", iso["status"])
	}
	h.do(t, "attachIso", map[string]string{"id": isoID, "virtualmachineid": vmID})
	nics, err := virsh(h.lvSocket, "domiflist", name)
	if err != nil || !strings.Contains(nics, " at") {
		t.Fatalf("source NICs: %v\n%s", err, nics)
	}

	// Bad input first: the host the VM is on, a host that does not exist. Nothing moves.
	if code, text := jobFails(t, h, "migrateVirtualMachine", map[string]string{"virtualmachineid": vmID, "hostid": a}); code != 431 {
		t.Errorf("migrate to its own host: %d %s", code, text)
	}
	if code, text := jobFails(t, h, "migrateVirtualMachine", map[string]string{"virtualmachineid": vmID, "hostid": "5a8f4a49-6f2c-4c0b-9d54-0d4b2a6c7e10"}); code != 431 {
		t.Errorf("migrate to no host: %d %s", code, text)
	}

	start := time.Now()
	moved := api.First(h.do(t, "migrateVirtualMachine", map[string]string{"virtualmachineid": vmID, "hostid": b.id}), "virtualmachine")
	took := time.Since(start)
	if moved["hostid"] != b.id || moved["state"] != "Running" {
		t.Fatalf("after migrateVirtualMachine: host %v state %v, want %s Running", moved["hostid"], moved["state"], b.id)
	}
	t.Logf("migrateVirtualMachine (192 MiB TCG guest, NFS disk, one NIC): %s", took.Round(time.Millisecond))
	if st, err := virsh(b.lvSocket, "domstate", name); err != nil || st != "running" {
		t.Fatalf("on the target libvirtd: %q %v", st, err)
	}
	if out, _ := virsh(h.lvSocket, "list", "--all", "--name"); strings.Contains(out, name) {
		t.Errorf("the source libvirtd still has %s: %s", name, out)
	}
	if nics, _ := virsh(b.lvSocket, "domiflist", name); !strings.Contains(nics, " au") || !strings.Contains(nics, "atbr-") {
		t.Errorf("target NIC: want an au<mac> tap on the guest bridge:\n%s", nics)
	}
	if blk, _ := virsh(b.lvSocket, "domblklist", name); !strings.Contains(blk, isoID) {
		t.Errorf("target drives: want the ISO %s in hdc:\n%s", isoID, blk)
	}

	// The guest runs on the target: a volume attached now appears on its console there.
	do := api.First(h.do(t, "listDiskOfferings", map[string]string{"name": "Small"}), "diskoffering")["id"].(string)
	vol := api.First(h.do(t, "createVolume", map[string]string{"name": "mig-data", "zoneid": h.zoneID, "diskofferingid": do}), "volume")
	h.do(t, "attachVolume", map[string]string{"id": vol["id"].(string), "virtualmachineid": vmID})
	waitFor(t, "hot-plugged disk on the migrated guest's console", time.Minute, func() (bool, string) {
		return strings.Contains(readFile(b.console(name)), "ATOLL-TINY-DISK-ADDED vdb"), "not yet"
	})
	if st := h.vmState(t, vmID); st != "Running" {
		t.Fatalf("after the move the VM is %s", st)
	}

	// And back, with its volumes staying on their pool: the tap takes the first name again.
	root := api.First(h.do(t, "listVolumes", map[string]string{"virtualmachineid": vmID, "type": "ROOT"}), "volume")
	back := api.First(h.do(t, "migrateVirtualMachineWithVolume", map[string]string{"virtualmachineid": vmID, "hostid": a,
		"migrateto[0].volume": root["id"].(string), "migrateto[0].pool": root["storageid"].(string)}), "virtualmachine")
	if back["hostid"] != a || back["state"] != "Running" {
		t.Fatalf("after migrating back: host %v state %v", back["hostid"], back["state"])
	}
	if nics, _ := virsh(h.lvSocket, "domiflist", name); !strings.Contains(nics, " at") {
		t.Errorf("back on the source, NIC:\n%s", nics)
	}
	h.do(t, "detachVolume", map[string]string{"id": vol["id"].(string)})
	h.waitConsole(t, name, "ATOLL-TINY-DISK-REMOVED vdb", time.Minute)

	h.do(t, "destroyVirtualMachine", map[string]string{"id": vmID, "expunge": "true"})
	for _, sock := range []string{h.lvSocket, b.lvSocket} {
		if out, _ := virsh(sock, "list", "--all", "--name"); strings.Contains(out, name) {
			t.Errorf("domain %s still defined after expunge: %s", name, out)
		}
	}
}
