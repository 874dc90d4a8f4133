package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// readyTemplate registers a password-enabled template in the vmEnv's zone as c and waits
// until the Simulator's download has made it ready.
func (v *vmEnv) readyTemplate(t *testing.T, name string) string {
	t.Helper()
	tp := mgmttest.Do(t, v.tenant, "registerTemplate", map[string]string{"name": name, "displaytext": name, "format": "QCOW2",
		"hypervisor": "Simulator", "zoneid": v.zoneID, "url": "http://images.example.org/" + name + ".qcow2", "passwordenabled": "true",
		"ostypeid": osTypeID(t, v)})["template"].([]any)[0].(map[string]any)
	id := tp["id"].(string)
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := mgmttest.Do(t, v.tenant, "listTemplates", map[string]string{"templatefilter": "self", "id": id})["template"].([]any)
		if len(l) > 0 && l[0].(map[string]any)["isready"] == true {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("template %s not ready: %v", name, l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func osTypeID(t *testing.T, v *vmEnv) string {
	t.Helper()
	return mgmttest.Do(t, v.tenant, "listOsTypes", map[string]string{"description": "Other Linux (64-bit)"})["ostype"].([]any)[0].(map[string]any)["id"].(string)
}

// TestDeployPasswordAndRefusedParameters: a password-enabled template's VM gets the password
// the caller gave (else a generated one); an IPv6 address, which Atoll does not have, and
// security groups in an Advanced zone without them are refused and leave nothing behind.
func TestDeployPasswordAndRefusedParameters(t *testing.T) {
	v := newVMEnv(t, false)
	tpl := v.readyTemplate(t, "pw")
	vm := v.deploy(t, v.tenant, map[string]string{"networkids": v.network, "templateid": tpl, "password": "Chosen-Pass-1"})
	if vm["password"] != "Chosen-Pass-1" || vm["passwordenabled"] != true {
		t.Fatalf("deploy with a password: password %v, passwordenabled %v", vm["password"], vm["passwordenabled"])
	}
	other := v.deploy(t, v.tenant, map[string]string{"networkids": v.network, "templateid": tpl})
	if pw, _ := other["password"].(string); pw == "" || pw == "Chosen-Pass-1" {
		t.Fatalf("deploy without a password: %q, want a generated one", pw)
	}

	before := v.vmFingerprint(t)
	for _, tc := range []struct{ k, val, want string }{
		{"ip6address", "fd00::10", "ip6address"},
		{"securitygroupnames", "web", "security group"},
	} {
		text := mgmttest.Fail(t, v.tenant, "deployVirtualMachine", map[string]string{"serviceofferingid": v.offering, "templateid": tpl,
			"zoneid": v.zoneID, "networkids": v.network, tc.k: tc.val}, 431)
		if !strings.Contains(text, tc.want) {
			t.Fatalf("%s: %q, want it named", tc.k, text)
		}
	}
	if text := mgmttest.Fail(t, v.tenant, "updateVirtualMachine", map[string]string{"id": vm["id"].(string), "securitygroupnames": "web"}, 431); !strings.Contains(text, "security group feature is not enabled") {
		t.Fatalf("updateVirtualMachine with a security group: %q", text)
	}
	if after := v.vmFingerprint(t); after != before {
		t.Fatalf("a refused call changed VMs:\n%s\n%s", before, after)
	}
}

// TestForcedReboot: rebootVirtualMachine forced=true stops and starts the VM (no reboot is
// sent to its host: a host refusing reboots does not stop it); without forced it is a reboot.
func TestForcedReboot(t *testing.T) {
	v := newVMEnv(t, false)
	id := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})["id"].(string)
	mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": "RebootVM", "fail": "true", "message": "injected"})
	if _, text := jobFails(t, v.tenant, "rebootVirtualMachine", map[string]string{"id": id}); !strings.Contains(text, "injected") {
		t.Fatalf("reboot under the fault: %q, want the injected failure", text)
	}
	got := mgmttest.DoAsync(t, v.tenant, "rebootVirtualMachine", map[string]string{"id": id, "forced": "true"})["virtualmachine"].(map[string]any)
	if got["state"] != "Running" {
		t.Fatalf("after a forced reboot: %v, want Running", got["state"])
	}
	// The forced reboot starts the VM again (a host refusing starts fails it, and leaves the
	// VM Stopped with its host released); a soft reboot does not start it.
	mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": "RebootVM", "remove": "true"})
	mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": "StartVM", "fail": "true", "message": "no start"})
	mgmttest.DoAsync(t, v.tenant, "rebootVirtualMachine", map[string]string{"id": id})
	if _, text := jobFails(t, v.tenant, "rebootVirtualMachine", map[string]string{"id": id, "forced": "true"}); !strings.Contains(text, "no start") {
		t.Fatalf("forced reboot while starts fail: %q", text)
	}
	mgmttest.Do(t, v.Admin, "configureSimulatorFault", map[string]string{"zoneid": v.zoneID, "name": "StartVM", "remove": "true"})
	if st := mgmttest.Do(t, v.tenant, "listVirtualMachines", map[string]string{"id": id})["virtualmachine"].([]any)[0].(map[string]any)["state"]; st != "Stopped" {
		t.Fatalf("after a failed forced reboot: %v, want Stopped", st)
	}
	v.checkLedger(t)
	mgmttest.DoAsync(t, v.tenant, "startVirtualMachine", map[string]string{"id": id})
	mgmttest.DoAsync(t, v.tenant, "stopVirtualMachine", map[string]string{"id": id})
	if code, _ := jobFails(t, v.tenant, "rebootVirtualMachine", map[string]string{"id": id, "forced": "true"}); code != 431 {
		t.Fatalf("forced reboot of a stopped VM: %d, want 431", code)
	}
	v.checkLedger(t)
}

// TestRestoreParameters: restoreVirtualMachine takes a root disk size in details as in
// rootdisksize, and refuses what it would otherwise ignore (keeping the old ROOT volume,
// other details), changing nothing.
func TestRestoreParameters(t *testing.T) {
	v := newVMEnv(t, false)
	id := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})["id"].(string)
	before := v.vmFingerprint(t)
	for _, p := range []map[string]string{
		{"expunge": "false"},
		{"details[0].cpuNumber": "4"},
		{"details[0].rootdisksize": "x"},
	} {
		p["virtualmachineid"] = id
		mgmttest.Fail(t, v.tenant, "restoreVirtualMachine", p, 431)
	}
	if after := v.vmFingerprint(t); after != before {
		t.Fatalf("a refused restore changed VMs")
	}
	mgmttest.DoAsync(t, v.tenant, "restoreVirtualMachine", map[string]string{"virtualmachineid": id, "details[0].rootdisksize": "12", "expunge": "true"})
	root := mgmttest.Do(t, v.tenant, "listVolumes", map[string]string{"virtualmachineid": id, "type": "ROOT"})["volume"].([]any)[0].(map[string]any)
	if root["size"].(float64) != 12<<30 {
		t.Fatalf("restored ROOT size %v, want 12 GiB", root["size"])
	}
	v.checkLedger(t)
}

// TestListVMFilters: listVirtualMachines filters by hypervisor and by network type
// (forvirtualnetwork) as CloudStack does, and refuses a vpcid (Atoll has no VPCs).
func TestListVMFilters(t *testing.T) {
	v := newVMEnv(t, false)
	id := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})["id"].(string)
	count := func(p map[string]string) int {
		l, _ := mgmttest.Do(t, v.tenant, "listVirtualMachines", p)["virtualmachine"].([]any)
		for _, x := range l {
			if x.(map[string]any)["id"] != id {
				t.Fatalf("%v listed another VM: %v", p, x)
			}
		}
		return len(l)
	}
	for _, tc := range []struct {
		p    map[string]string
		want int
	}{
		{map[string]string{"hypervisor": "Simulator"}, 1},
		{map[string]string{"hypervisor": "KVM"}, 0},
		{map[string]string{"forvirtualnetwork": "true"}, 1},
		{map[string]string{"forvirtualnetwork": "false"}, 0},
	} {
		if got := count(tc.p); got != tc.want {
			t.Fatalf("%v: %d VMs, want %d", tc.p, got, tc.want)
		}
	}
	mgmttest.Fail(t, v.tenant, "listVirtualMachines", map[string]string{"vpcid": "0d7c1f64-8a4e-4b1e-9a43-2b9a3f6c1d00"}, 431)
}

// TestDeployHypervisor: a VM runs on its template's hypervisor; a hypervisor named on the
// call must agree with the template's, and must be one CloudStack knows.
func TestDeployHypervisor(t *testing.T) {
	v := newVMEnv(t, false)
	vm := v.deploy(t, v.tenant, map[string]string{"networkids": v.network, "hypervisor": "simulator"})
	if vm["hypervisor"] != "Simulator" {
		t.Fatalf("hypervisor %v, want Simulator", vm["hypervisor"])
	}
	before := v.vmFingerprint(t)
	base := map[string]string{"serviceofferingid": v.offering, "templateid": db.SimulatorTemplateID, "zoneid": v.zoneID, "networkids": v.network}
	for h, want := range map[string]string{"KVM": "different from the hypervisor type of the template", "Hyper": "Unable to resolve Hyper"} {
		p := map[string]string{"hypervisor": h}
		for k, val := range base {
			p[k] = val
		}
		if text := mgmttest.Fail(t, v.tenant, "deployVirtualMachine", p, 431); !strings.Contains(text, want) {
			t.Fatalf("hypervisor %s: %q, want %q", h, text, want)
		}
	}
	if after := v.vmFingerprint(t); after != before {
		t.Fatal("a refused deploy changed VMs")
	}
}

// TestOfferingChangeRefusesIOPS: changing a VM's offering with miniops/maxiops is refused (the
// root volume keeps its IOPS) and changes nothing.
func TestOfferingChangeRefusesIOPS(t *testing.T) {
	v := newVMEnv(t, false)
	id := v.deploy(t, v.tenant, map[string]string{"networkids": v.network, "startvm": "false", "hypervisor": "Simulator"})["id"].(string)
	before := v.vmFingerprint(t)
	for _, cmd := range []string{"changeServiceForVirtualMachine", "scaleVirtualMachine"} {
		if text := mgmttest.Fail(t, v.tenant, cmd, map[string]string{"id": id, "serviceofferingid": v.offering, "miniops": "100"}, 431); !strings.Contains(text, "miniops") {
			t.Fatalf("%s: %q, want miniops named", cmd, text)
		}
	}
	if after := v.vmFingerprint(t); after != before {
		t.Fatal("a refused offering change changed VMs")
	}
}

// TestDeployFromISOHypervisor: an ISO names no hypervisor, so a VM deployed from one and not
// started needs the caller's (CloudStack's error otherwise); started, it takes its host's.
func TestDeployFromISOHypervisor(t *testing.T) {
	simulatorDownloads(t, 100*time.Millisecond)
	v := newVMEnv(t, false)
	iso := items(mgmttest.Do(t, v.tenant, "registerIso", map[string]string{"name": "inst", "displaytext": "installer",
		"url": "http://images.example.org/inst.iso", "zoneid": v.zoneID, "bootable": "true", "ostypeid": osTypeID(t, v)}), "iso")[0]["id"].(string)
	waitIso(t, v.tenant, iso)
	do := items(mgmttest.Do(t, v.tenant, "listDiskOfferings", map[string]string{"name": "Small"}), "diskoffering")[0]["id"].(string)
	p := map[string]string{"networkids": v.network, "templateid": iso, "diskofferingid": do, "startvm": "false"}
	before := v.vmFingerprint(t)
	base := map[string]string{"serviceofferingid": v.offering, "zoneid": v.zoneID}
	for k, val := range p {
		base[k] = val
	}
	if text := mgmttest.Fail(t, v.tenant, "deployVirtualMachine", base, 431); !strings.Contains(text, "hypervisor parameter is needed") {
		t.Fatalf("ISO, not started, no hypervisor: %q", text)
	}
	if after := v.vmFingerprint(t); after != before {
		t.Fatal("a refused deploy changed VMs")
	}
	p["hypervisor"] = "Simulator"
	if vm := v.deploy(t, v.tenant, p); vm["hypervisor"] != "Simulator" || vm["state"] != "Stopped" {
		t.Fatalf("ISO with hypervisor, not started: %v %v", vm["hypervisor"], vm["state"])
	}
	delete(p, "hypervisor")
	p["startvm"] = "true"
	if vm := v.deploy(t, v.tenant, p); vm["hypervisor"] != "Simulator" || vm["state"] != "Running" {
		t.Fatalf("ISO, started: %v %v", vm["hypervisor"], vm["state"])
	}
	v.checkLedger(t)
}
