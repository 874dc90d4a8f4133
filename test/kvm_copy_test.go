package test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/hypervisor/tinyimage"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
)

// TestKVMCopyTemplate copies a template between two real zones, each with its own KVM host
// and its own NFS primary and secondary storage: copyTemplate makes the destination zone's
// host fetch it into that zone's image store (checksum verified), the copy is ready there,
// byte for byte the source's, and a VM of the second zone boots from it. Bad input (the
// zone it is already in, a zone that does not exist) changes nothing.
func TestKVMCopyTemplate(t *testing.T) {
	h := startKVMHost(t)
	err := mgmt.DemoWith(h.ctx, h.c, mgmt.DemoOptions{Zone: "kvm2", Clusters: 1, Hypervisor: "KVM", GuestCIDR: "10.2.0.0/16", VNIs: "7000-7999",
		PrimaryURL: "nfs://127.0.0.1" + h.exports[2], SecondaryURL: "nfs://127.0.0.1" + h.exports[3]})
	if err != nil {
		t.Fatal(err)
	}
	zone2 := api.First(h.do(t, "listZones", map[string]string{"name": "kvm2"}), "zone")["id"].(string)
	cluster2 := api.First(h.do(t, "listClusters", map[string]string{"zoneid": zone2}), "cluster")["id"].(string)
	b := h.addKVMHostIn(t, "kvm-host-z2", cluster2)

	url, sum, _ := serveTemplate(t)
	tid, tmpl := h.registerTiny(t, "tiny", url, sum)
	if tmpl["isready"] != true {
		t.Fatalf("template not ready in the first zone: %v", tmpl["status"])
	}
	if l := h.do(t, "listTemplates", map[string]string{"templatefilter": "self", "id": tid, "zoneid": zone2}); l["template"] != nil {
		t.Fatalf("the template is in the second zone before the copy: %v", l["template"])
	}

	if _, text := jobFails(t, h, "copyTemplate", map[string]string{"id": tid, "sourcezoneid": h.zoneID, "destzoneids": h.zoneID}); text == "" {
		t.Error("a copy into the zone it is in did not fail")
	}
	if _, text := jobFails(t, h, "copyTemplate", map[string]string{"id": tid, "sourcezoneid": h.zoneID, "destzoneids": "3f1f4a49-6f2c-4c0b-9d54-0d4b2a6c7e11"}); text == "" {
		t.Error("a copy into no zone did not fail")
	}

	start := time.Now()
	h.do(t, "copyTemplate", map[string]string{"id": tid, "sourcezoneid": h.zoneID, "destzoneids": zone2})
	var copied map[string]any
	waitFor(t, "template ready in the second zone", 3*time.Minute, func() (bool, string) {
		l := h.do(t, "listTemplates", map[string]string{"templatefilter": "self", "id": tid, "zoneid": zone2})
		if l["template"] == nil {
			return false, "not listed"
		}
		copied = api.First(l, "template")
		return copied["isready"] == true, fmt.Sprint(copied["status"])
	})
	t.Logf("copyTemplate to the second zone ready in %s", time.Since(start).Round(time.Millisecond))

	// The copy is a file on the second zone's secondary export, the source's bytes.
	want, err := os.ReadFile(tinyTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	var found string
	filepath.Walk(filepath.Join(filepath.Dir(h.primary), "secondary2"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.Contains(p, tid) {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no file of template %s on the second zone's secondary export", tid)
	}
	got, err := os.ReadFile(found)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := sha256.Sum256(got), sha256.Sum256(want); g != w {
		t.Fatalf("copied file %s: sha256 %s, want %s", found, hex.EncodeToString(g[:]), hex.EncodeToString(w[:]))
	}

	// A VM of the second zone boots from it, on the second zone's host.
	offering := api.First(h.do(t, "createServiceOffering", map[string]string{"name": "tiny", "displaytext": "tiny", "cpunumber": "1",
		"cpuspeed": "500", "memory": "160"}), "serviceoffering")["id"].(string)
	vm := api.First(h.do(t, "deployVirtualMachine", map[string]string{"zoneid": zone2, "templateid": tid, "serviceofferingid": offering,
		"name": "z2-1"}), "virtualmachine")
	if vm["hostid"] != b.id {
		t.Fatalf("deployed on %v, want the second zone's host %s", vm["hostid"], b.id)
	}
	name := vm["instancename"].(string)
	waitFor(t, "boot marker of the VM in the second zone", 3*time.Minute, func() (bool, string) {
		return strings.Contains(readFile(b.console(name)), tinyimage.MarkerBootOK), "not yet"
	})
	h.do(t, "destroyVirtualMachine", map[string]string{"id": vm["id"].(string), "expunge": "true"})
}
