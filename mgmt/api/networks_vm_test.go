package api_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// netDeployFails deploys a VM that must be refused, at once or by its job, and returns the
// error code and text.
func netDeployFails(t *testing.T, c *api.Client, p map[string]string) (int, string) {
	t.Helper()
	res, err := c.Do(context.Background(), "deployVirtualMachine", p)
	var ce *api.ClientError
	if errors.As(err, &ce) {
		return ce.Status, fmt.Sprint(ce.Body["errortext"])
	}
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := c.Wait(ctx, res["jobid"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if j["jobstatus"].(float64) != 2 {
		t.Fatalf("deploy %v: job did not fail: %v", p, j)
	}
	r := j["jobresult"].(map[string]any)
	return int(r["errorcode"].(float64)), fmt.Sprint(r["errortext"])
}

// Networks under VMs, end to end through deployVirtualMachine (H4's deploy on this layer): the
// first VM implements the network (a VNI and a source NAT address), NICs get distinct
// addresses (a requested one, or a free one), a taken or foreign address is refused, the
// network can't be deleted while VMs are on it, and once they are expunged it is, giving back
// its VNI and address.
func TestNetworkUnderVMs(t *testing.T) {
	v := newVMEnv(t, false)
	a := v.Admin
	get := func() map[string]any {
		return topoItems(t, mgmttest.Do(t, a, "listNetworks", map[string]string{"id": v.network, "listall": "true"}), "network")[0]
	}
	topoWant(t, "before the first VM", get(), "state", "Allocated")
	vm1 := v.deploy(t, v.tenant, map[string]string{"name": "vm1", "networkids": v.network, "ipaddress": "10.1.0.50"})
	n := get()
	topoWant(t, "after the first VM", n, "state", "Implemented")
	if uri, _ := n["broadcasturi"].(string); !strings.HasPrefix(uri, "vxlan://") {
		t.Fatalf("implemented network's broadcast URI: %v", n)
	}
	nic1 := vm1["nic"].([]any)[0].(map[string]any)
	topoWant(t, "requested address", nic1, "ipaddress", "10.1.0.50", "networkid", v.network, "gateway", n["gateway"], "netmask", n["netmask"])
	// Without networkids the account's only network is used.
	vm2 := v.deploy(t, v.tenant, map[string]string{"name": "vm2"})
	nic2 := vm2["nic"].([]any)[0].(map[string]any)
	if nic2["networkid"] != v.network || nic2["ipaddress"] == nic1["ipaddress"] || nic2["ipaddress"] == n["gateway"] {
		t.Fatalf("second NIC: %v (first %v)", nic2, nic1)
	}
	srcnat := topoInt(t, v.Env, "SELECT COUNT(*) FROM public_ips WHERE network_id = ? AND source_nat = 1 AND state = 'Allocated'", v.network)
	if srcnat != 1 {
		t.Fatalf("source NAT addresses: %d", srcnat)
	}
	for _, ip := range []string{"10.1.0.50", "10.1.0.1", "192.168.1.5", "bad"} {
		code, text := netDeployFails(t, v.tenant, map[string]string{"serviceofferingid": v.offering,
			"templateid": db.SimulatorTemplateID, "zoneid": v.zoneID, "networkids": v.network, "ipaddress": ip})
		if code != 431 || !strings.Contains(text, "ipaddress") {
			t.Errorf("deploy with ipaddress %s: %d %s", ip, code, text)
		}
	}
	// Another tenant can't deploy into it.
	other, _ := tenant(t, v.Env, "intruder", "0", "")
	if code, _ := netDeployFails(t, other, map[string]string{"serviceofferingid": v.offering,
		"templateid": db.SimulatorTemplateID, "zoneid": v.zoneID, "networkids": v.network}); code != 531 && code != 431 {
		t.Errorf("another tenant's deploy into the network: %d", code)
	}
	if text := netRefuse(t, v.Env, v.tenant, "deleteNetwork", map[string]string{"id": v.network}, 536); !strings.Contains(text, "expunged") {
		t.Errorf("delete with VMs: %s", text)
	}
	for _, vm := range []map[string]any{vm1, vm2} {
		mgmttest.DoAsync(t, a, "destroyVirtualMachine", map[string]string{"id": vm["id"].(string), "expunge": "true"})
	}
	if n := topoInt(t, v.Env, "SELECT COUNT(*) FROM network_ips WHERE network_id = ?", v.network); n != 0 {
		t.Fatalf("%d addresses still held after the VMs were expunged", n)
	}
	vlanUsed := topoInt(t, v.Env, "SELECT COALESCE(SUM(used),0) FROM capacity WHERE capacity_type = ?", db.CapVLAN)
	mgmttest.DoAsync(t, v.tenant, "deleteNetwork", map[string]string{"id": v.network})
	if after := topoInt(t, v.Env, "SELECT COALESCE(SUM(used),0) FROM capacity WHERE capacity_type = ?", db.CapVLAN); after != vlanUsed-1 {
		t.Errorf("VLAN capacity used %d -> %d after delete", vlanUsed, after)
	}
	if n := topoInt(t, v.Env, "SELECT COUNT(*) FROM public_ips WHERE network_id = ?", v.network); n != 0 {
		t.Errorf("%d public addresses still on the deleted network", n)
	}
	v.checkLedger(t)
}

// TestVNIRangeExhausted: with one VNI in the guest physical network's range, a second
// network's first VM is refused with CloudStack's InsufficientVirtualNetworkCapacity (533)
// and changes nothing: the network stays Allocated without a VNI or a source NAT address,
// no VM, NIC or router of it is left, and the VLAN capacity is as before.
func TestVNIRangeExhausted(t *testing.T) {
	v := newVMEnv(t, false)
	a := v.Admin
	var guest string
	for _, p := range mgmttest.Do(t, a, "listPhysicalNetworks", map[string]string{"zoneid": v.zoneID})["physicalnetwork"].([]any) {
		if m := p.(map[string]any); m["name"] == "guest" {
			guest = m["id"].(string)
		}
	}
	mgmttest.DoAsync(t, a, "updatePhysicalNetwork", map[string]string{"id": guest, "vlan": "5000-5000"})
	v.deploy(t, v.tenant, map[string]string{"name": "first", "networkids": v.network})
	off := mgmttest.Do(t, a, "listNetworkOfferings", map[string]string{"name": "DefaultIsolatedNetworkOfferingWithSourceNatService"})["networkoffering"].([]any)[0].(map[string]any)
	n2 := mgmttest.Do(t, v.tenant, "createNetwork", map[string]string{"name": "net2", "displaytext": "net2",
		"networkofferingid": off["id"].(string), "zoneid": v.zoneID})["network"].(map[string]any)["id"].(string)
	vms := topoInt(t, v.Env, "SELECT COUNT(*) FROM vm_instances WHERE removed IS NULL AND state <> 'Error'")
	vlanUsed := topoInt(t, v.Env, "SELECT COALESCE(SUM(used),0) FROM capacity WHERE capacity_type = ?", db.CapVLAN)
	ips := topoInt(t, v.Env, "SELECT COUNT(*) FROM public_ips WHERE state <> 'Free'")
	code, text := netDeployFails(t, v.tenant, map[string]string{"serviceofferingid": v.offering, "templateid": db.SimulatorTemplateID,
		"zoneid": v.zoneID, "networkids": n2, "name": "second"})
	if code != 533 || !strings.Contains(text, "vnet") {
		t.Fatalf("deploy into a network with no VNI left: %d %s; want 533 naming the vnet range", code, text)
	}
	n := topoItems(t, mgmttest.Do(t, a, "listNetworks", map[string]string{"id": n2, "listall": "true"}), "network")[0]
	topoWant(t, "the refused network", n, "state", "Allocated")
	if n["broadcasturi"] != nil {
		t.Errorf("refused network got a broadcast URI: %v", n["broadcasturi"])
	}
	if got := topoInt(t, v.Env, "SELECT COUNT(*) FROM vm_instances WHERE removed IS NULL AND state <> 'Error'"); got != vms {
		t.Errorf("VMs not in Error: %d -> %d", vms, got)
	}
	for what, q := range map[string]string{
		"NICs": "SELECT COUNT(*) FROM nics WHERE network_id = ? AND removed IS NULL", "routers": "SELECT COUNT(*) FROM routers WHERE network_id = ?",
		"addresses": "SELECT COUNT(*) FROM network_ips WHERE network_id = ?",
	} {
		if k := topoInt(t, v.Env, q, n2); k != 0 {
			t.Errorf("%d %s of the refused network", k, what)
		}
	}
	if got := topoInt(t, v.Env, "SELECT COALESCE(SUM(used),0) FROM capacity WHERE capacity_type = ?", db.CapVLAN); got != vlanUsed {
		t.Errorf("VLAN capacity used %d -> %d", vlanUsed, got)
	}
	if got := topoInt(t, v.Env, "SELECT COUNT(*) FROM public_ips WHERE state <> 'Free'"); got != ips {
		t.Errorf("public addresses in use %d -> %d", ips, got)
	}
}
