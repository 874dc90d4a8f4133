package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/hypervisor/tinyimage"
	"github.com/atollcloud/atoll/mgmt/api"
)

// serveISO serves the tiny guest's bootable ISO over HTTP on loopback and returns its URL,
// sha256 checksum and size.
func serveISO(t *testing.T) (url, checksum string, size int) {
	t.Helper()
	return serveFile(t, filepath.Join(filepath.Dir(tinyTemplate(t)), "tiny.iso"))
}

// registerISO registers an ISO in the zone and waits for its download to the image store.
func (h *kvmHost) registerISO(t *testing.T, name, url, checksum string) (id string, iso map[string]any) {
	t.Helper()
	r := h.do(t, "registerIso", map[string]string{"name": name, "displaytext": name, "url": url, "zoneid": h.zoneID,
		"checksum": checksum, "ostypeid": h.osType(t), "bootable": "true"})
	id = api.First(r, "iso")["id"].(string)
	waitFor(t, "ISO "+name+" downloaded", 3*time.Minute, func() (bool, string) {
		l := h.do(t, "listIsos", map[string]string{"isofilter": "self", "id": id})
		iso = api.First(l, "iso")
		return iso["isready"] == true || strings.Contains(fmt.Sprint(iso["status"]), "rror"), fmt.Sprint(iso["status"])
	})
	return id, iso
}

// domainISO returns the source of the domain's ISO drive (hdc) as `virsh domblklist` shows
// it: the ISO's path, or "-" for an empty drive.
func (h *kvmHost) domainISO(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("virsh", "-c", "qemu:///system?socket="+h.lvSocket, "domblklist", name).CombinedOutput()
	if err != nil {
		t.Fatalf("virsh domblklist %s: %v\n%s", name, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "hdc" {
			return f[1]
		}
	}
	t.Fatalf("domain %s has no hdc drive:\n%s", name, out)
	return ""
}

// TestKVMISO deploys from an ISO through the API onto a real libvirt host (QEMU emulation),
// as CloudStack does: the ISO is registered from a local HTTP server and downloaded to the
// NFS image store by the agent; the VM gets a blank qcow2 ROOT disk on the NFS primary pool
// (the disk offering's size) and boots from the ISO in its CD-ROM drive, which QEMU reads
// over NFS. attachIso and detachIso then change the running guest's media (the domain's drive
// and the guest both see it), and on the stopped VM change only its record, which its next
// start follows.
func TestKVMISO(t *testing.T) {
	h := startKVMHost(t)
	url, sum, size := serveISO(t)
	isoID, iso := h.registerISO(t, "tiny-iso", url, sum)
	if iso["isready"] != true {
		t.Fatalf("ISO not ready: %v", iso["status"])
	}
	offering := api.First(h.do(t, "createServiceOffering", map[string]string{"name": "tiny", "displaytext": "tiny", "cpunumber": "1",
		"cpuspeed": "500", "memory": "192"}), "serviceoffering")["id"].(string)
	disk := api.First(h.do(t, "listDiskOfferings", map[string]string{"name": "Small"}), "diskoffering")
	if _, err := h.c.DoWait(h.ctx, "deployVirtualMachine", map[string]string{"zoneid": h.zoneID, "templateid": isoID,
		"serviceofferingid": offering, "hypervisor": "KVM"}); err == nil || !strings.Contains(err.Error(), "431") ||
		!strings.Contains(err.Error(), "disk offering") {
		t.Errorf("deploy from an ISO without a disk offering: %v", err)
	}

	start := time.Now()
	vm := api.First(h.do(t, "deployVirtualMachine", map[string]string{"zoneid": h.zoneID, "templateid": isoID, "serviceofferingid": offering,
		"diskofferingid": disk["id"].(string), "hypervisor": "KVM", "name": "iso-1"}), "virtualmachine")
	if vm["state"] != "Running" || vm["isoid"] != isoID {
		t.Fatalf("deployed VM: %v", vm)
	}
	name, vmID := vm["instancename"].(string), vm["id"].(string)
	h.waitConsole(t, name, tinyimage.MarkerBootOK, 3*time.Minute)
	t.Logf("deployVirtualMachine from an ISO to boot marker: %s", time.Since(start).Round(time.Millisecond))

	// The ISO is read from the image store over NFS, not copied to the host.
	src := h.domainISO(t, name)
	if !strings.HasPrefix(src, h.secondaryExport()) || !strings.HasSuffix(src, ".iso") {
		t.Errorf("hdc source %q: want the ISO on the secondary export %s", src, h.secondaryExport())
	}
	if _, err := os.Stat(filepath.Join(h.secondary, strings.TrimPrefix(src, h.secondaryExport()))); err != nil {
		t.Errorf("the ISO is not in the image store: %v", err)
	}
	// The ROOT disk is a blank qcow2 of the disk offering's size on the primary export.
	root := api.First(h.do(t, "listVolumes", map[string]string{"virtualmachineid": vmID, "type": "ROOT"}), "volume")
	wantSize := int64(disk["disksize"].(float64)) << 30
	if root["size"] != float64(wantSize) {
		t.Errorf("ROOT volume size %v, want the disk offering's %d", root["size"], wantSize)
	}
	out, err := exec.Command("qemu-img", "info", "--output=json", filepath.Join(h.primary, root["id"].(string))).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"format": "qcow2"`) || !strings.Contains(string(out), fmt.Sprintf(`"virtual-size": %d`, wantSize)) ||
		strings.Contains(string(out), "backing-filename") {
		t.Errorf("ROOT disk on the export: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(h.ctx, time.Minute)
	disks, err := tinyimage.WaitLine(ctx, h.console(name), tinyimage.MarkerDisks)
	cancel()
	if err != nil || !strings.Contains(disks+" ", fmt.Sprintf(" vda:%d ", wantSize)) {
		t.Errorf("the guest's disks: %q, %v; want vda:%d", disks, err, wantSize)
	}

	// One ISO at a time: a second attach is refused while one is in.
	if _, err := h.c.DoWait(h.ctx, "attachIso", map[string]string{"id": isoID, "virtualmachineid": vmID}); err == nil ||
		!strings.Contains(err.Error(), "431") {
		t.Errorf("attachIso with an ISO attached: %v", err)
	}

	// detachIso on the running guest ejects the media: the drive is empty, the guest sees it.
	start = time.Now()
	got := api.First(h.do(t, "detachIso", map[string]string{"virtualmachineid": vmID}), "virtualmachine")
	if got["isoid"] != nil {
		t.Errorf("after detachIso the VM still has ISO %v", got["isoid"])
	}
	if src := h.domainISO(t, name); src != "-" {
		t.Errorf("after detachIso hdc holds %q", src)
	}
	h.waitConsole(t, name, tinyimage.MarkerDiskResized+" sr0 0", time.Minute)
	t.Logf("detachIso on a running guest, to the guest seeing the empty drive: %s", time.Since(start).Round(time.Millisecond))

	// attachIso on the running guest puts it back.
	start = time.Now()
	got = api.First(h.do(t, "attachIso", map[string]string{"id": isoID, "virtualmachineid": vmID}), "virtualmachine")
	if got["isoid"] != isoID {
		t.Errorf("after attachIso the VM has ISO %v", got["isoid"])
	}
	if got := h.domainISO(t, name); got != src {
		t.Errorf("after attachIso hdc holds %q, want %q", got, src)
	}
	h.waitConsole(t, name, fmt.Sprintf("%s sr0 %d", tinyimage.MarkerDiskResized, size), time.Minute)
	t.Logf("attachIso on a running guest, to the guest seeing the ISO: %s", time.Since(start).Round(time.Millisecond))

	// On the stopped VM, detach and attach change its record; its next start boots the ISO.
	if s := api.First(h.do(t, "stopVirtualMachine", map[string]string{"id": vmID}), "virtualmachine")["state"]; s != "Stopped" {
		t.Fatalf("after stop: %v", s)
	}
	if got := api.First(h.do(t, "detachIso", map[string]string{"virtualmachineid": vmID}), "virtualmachine"); got["isoid"] != nil {
		t.Errorf("detachIso on the stopped VM: %v", got["isoid"])
	}
	if got := api.First(h.do(t, "attachIso", map[string]string{"id": isoID, "virtualmachineid": vmID}), "virtualmachine"); got["isoid"] != isoID {
		t.Errorf("attachIso on the stopped VM: %v", got["isoid"])
	}
	before := strings.Count(readFile(h.console(name)), tinyimage.MarkerBootOK)
	if s := api.First(h.do(t, "startVirtualMachine", map[string]string{"id": vmID}), "virtualmachine")["state"]; s != "Running" {
		t.Fatalf("after start: %v", s)
	}
	waitFor(t, "boot from the ISO after start", 3*time.Minute, func() (bool, string) {
		n := strings.Count(readFile(h.console(name)), tinyimage.MarkerBootOK)
		return n > before, strconv.Itoa(n)
	})
	if got := h.domainISO(t, name); got != src {
		t.Errorf("after start hdc holds %q, want %q", got, src)
	}
	h.do(t, "destroyVirtualMachine", map[string]string{"id": vmID, "expunge": "true"})
}

// secondaryExport is the secondary storage export's path as the NFS server serves it.
func (h *kvmHost) secondaryExport() string { return h.secondary }
