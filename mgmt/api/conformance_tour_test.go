package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// TestResponseConformance drives every registered command against a real server on SQLite
// and checks every answer against CloudStack's response types (see conformance_test.go).
func TestResponseConformance(t *testing.T) { responseConformance(t, false) }

// TestResponseConformanceOnMariaDB is the same tour on MariaDB, whose driver hands back
// other Go types than SQLite's: a number read as bytes would render as a string there.
func TestResponseConformanceOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	responseConformance(t, true)
}

func responseConformance(t *testing.T, mysql bool) {
	simulatorDownloads(t, 100*time.Millisecond)
	e := mgmttest.Start(t, mgmttest.Options{MySQL: mysql})
	conf := newConformance(t, e.Server.API.Reg)
	e.Admin.Observe = conf.observe
	tr := &tour{t: t, e: e, conf: conf}
	tr.run()
	conf.report(t)
}

// tour drives the API through every command, as an operator and tenants would.
type tour struct {
	t    *testing.T
	e    *mgmttest.Env
	conf *conformance
}

// do runs a command (waiting for its job when async) and returns its result; a failure is
// reported and an empty map returned, so one broken step does not hide the rest.
func (tr *tour) do(c *api.Client, cmd string, p map[string]string) map[string]any {
	tr.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := c.DoWait(ctx, cmd, p)
	if err != nil {
		tr.t.Errorf("tour: %s %v: %v", cmd, p, err)
		return map[string]any{}
	}
	return r
}

// id is the id of the object (or first list item) under key in r.
func id(r map[string]any, key string) string {
	s, _ := api.First(r, key)["id"].(string)
	return s
}

// client makes an observed client for an account of the given type, returning its ids.
func (tr *tour) client(name, accountType, domainID string) (*api.Client, string, string) {
	tr.t.Helper()
	p := map[string]string{"account": name, "username": name, "password": "pw-" + name, "firstname": "F", "lastname": "L",
		"email": name + "@example.org", "accounttype": accountType}
	if domainID != "" {
		p["domainid"] = domainID
	}
	acct := api.First(tr.do(tr.e.Admin, "createAccount", p), "account")
	users, _ := acct["user"].([]any)
	if len(users) == 0 {
		tr.t.Fatalf("createAccount %s: no user in %v", name, acct)
	}
	userID := users[0].(map[string]any)["id"].(string)
	keys := api.First(tr.do(tr.e.Admin, "registerUserKeys", map[string]string{"id": userID}), "userkeys")
	c := &api.Client{Endpoint: tr.e.URL, Key: fmt.Sprint(keys["apikey"]), Secret: fmt.Sprint(keys["secretkey"]), Observe: tr.conf.observe}
	return c, acct["id"].(string), userID
}

func (tr *tour) waitReady(c *api.Client, cmd, filterKey, filter, key, objID string) {
	tr.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, it := range items(tr.do(c, cmd, map[string]string{filterKey: filter, "id": objID}), key) {
			if it["isready"] == true {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tr.t.Errorf("tour: %s %s never became ready", key, objID)
}

func (tr *tour) run() {
	t, a := tr.t, tr.e.Admin
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	// Infrastructure: the demo zone is built through the API (createZone ... updateZone), a
	// second zone to copy templates into and to take apart at the end.
	tr.do(a, "updateConfiguration", map[string]string{"name": "ping.interval", "value": "1"})
	tr.do(a, "updateConfiguration", map[string]string{"name": "allow.user.expunge.recover.vm", "value": "true"})
	for _, z := range []mgmt.DemoOptions{{Zone: "cz1", HostQuery: "cpunumber=8&cpuspeed=2000&memory=16384"},
		{Zone: "cz2", Clusters: 1, HostsPerCluster: 1, VNIs: "6000-6099", GuestCIDR: "10.2.0.0/16"}} {
		if err := mgmt.DemoWith(ctx, a, z); err != nil {
			t.Fatal(err)
		}
	}
	tr.zoneLifecycle(ctx)
	zone := id(tr.do(a, "listZones", map[string]string{"name": "cz1"}), "zone")
	zone2 := id(tr.do(a, "listZones", map[string]string{"name": "cz2"}), "zone")
	pod := id(tr.do(a, "listPods", map[string]string{"zoneid": zone}), "pod")
	clusters := items(tr.do(a, "listClusters", map[string]string{"zoneid": zone}), "cluster")
	cluster2 := id(tr.do(a, "listClusters", map[string]string{"zoneid": zone2}), "cluster")
	hosts := items(tr.do(a, "listHosts", map[string]string{"zoneid": zone, "type": "Routing"}), "host")
	host2 := id(tr.do(a, "listHosts", map[string]string{"zoneid": zone2, "type": "Routing"}), "host")
	pools := items(tr.do(a, "listStoragePools", map[string]string{"zoneid": zone}), "storagepool")
	pool2 := id(tr.do(a, "listStoragePools", map[string]string{"zoneid": zone2}), "storagepool")
	pns := items(tr.do(a, "listPhysicalNetworks", map[string]string{"zoneid": zone}), "physicalnetwork")
	pns2 := items(tr.do(a, "listPhysicalNetworks", map[string]string{"zoneid": zone2}), "physicalnetwork")
	if len(clusters) < 2 || len(hosts) < 4 || len(pools) < 2 || len(pns) < 2 || len(pns2) < 2 {
		t.Fatalf("tour: demo zone incomplete: %d clusters, %d hosts, %d pools, %d physical networks", len(clusters), len(hosts), len(pools), len(pns))
	}
	tr.do(a, "updateZone", map[string]string{"id": zone, "dns2": "192.0.2.54"})
	tr.do(a, "updatePod", map[string]string{"id": pod, "name": "pod-one"})
	tr.do(a, "updateCluster", map[string]string{"id": clusters[0]["id"].(string), "managedstate": "Managed"})
	tr.do(a, "updateHost", map[string]string{"id": hosts[3]["id"].(string), "hosttags": "fast"})
	tr.do(a, "updateStoragePool", map[string]string{"id": pools[1]["id"].(string), "tags": "ssd"})
	tr.do(a, "updatePhysicalNetwork", map[string]string{"id": pns[0]["id"].(string), "networkspeed": "10G"})
	var publicPN string
	for _, pn := range pns {
		if pn["name"] == "public" {
			publicPN = pn["id"].(string)
		}
	}
	tts := items(tr.do(a, "listTrafficTypes", map[string]string{"physicalnetworkid": publicPN}), "traffictype")
	if len(tts) > 0 {
		tr.do(a, "updateTrafficType", map[string]string{"id": tts[0]["id"].(string), "kvmnetworklabel": "cloudbr9"})
	}
	for _, p := range items(tr.do(a, "listNetworkServiceProviders", map[string]string{"physicalnetworkid": publicPN}), "networkserviceprovider") {
		if p["name"] == "VpcVirtualRouter" {
			tr.do(a, "deleteNetworkServiceProvider", map[string]string{"id": p["id"].(string)})
		}
	}
	for _, el := range items(tr.do(a, "listInternalLoadBalancerElements", nil), "internalloadbalancerelement") {
		tr.do(a, "configureInternalLoadBalancerElement", map[string]string{"id": el["id"].(string), "enabled": "true"})
		break
	}
	nsp := api.First(tr.do(a, "addNetworkServiceProvider", map[string]string{"physicalnetworkid": publicPN,
		"name": "VpcVirtualRouter", "servicelist": "Dhcp,Dns"}), "networkserviceprovider")
	if nspID, _ := nsp["id"].(string); nspID != "" {
		el := api.First(tr.do(a, "createVirtualRouterElement", map[string]string{"nspid": nspID, "providertype": "VPCVirtualRouter"}), "virtualrouterelement")
		if elID, _ := el["id"].(string); elID != "" {
			tr.do(a, "configureVirtualRouterElement", map[string]string{"id": elID, "enabled": "true"})
		}
		tr.do(a, "updateNetworkServiceProvider", map[string]string{"id": nspID, "state": "Enabled"})
	}
	tr.do(a, "createHostToken", map[string]string{"clusterid": cluster2})
	tr.do(a, "configureSimulatorFault", map[string]string{"clusterid": cluster2, "name": "Echo", "fail": "true", "message": "tour"})
	tr.do(a, "configureSimulatorFault", map[string]string{"clusterid": cluster2, "name": "Echo", "remove": "true"})
	tr.do(a, "reconnectHost", map[string]string{"id": host2})
	tr.do(a, "prepareHostForMaintenance", map[string]string{"id": host2})
	tr.do(a, "cancelHostMaintenance", map[string]string{"id": host2})
	tr.do(a, "enableStorageMaintenance", map[string]string{"id": pool2})
	tr.do(a, "cancelStorageMaintenance", map[string]string{"id": pool2})
	tr.do(a, "listStorageProviders", map[string]string{"type": "primary"})
	tr.do(a, "listStorageProviders", map[string]string{"type": "image"})
	tr.do(a, "listCapacity", map[string]string{"zoneid": zone})
	tr.do(a, "updateConfiguration", map[string]string{"name": "cpu.overprovisioning.factor", "value": "2", "clusterid": clusters[0]["id"].(string)})
	tr.do(a, "listConfigurations", map[string]string{"clusterid": clusters[0]["id"].(string), "name": "cpu.overprovisioning.factor"})

	// Identity: domains, accounts, users, roles.
	sub := id(tr.do(a, "createDomain", map[string]string{"name": "csub"}), "domain")
	tr.do(a, "updateDomain", map[string]string{"id": sub, "networkdomain": "csub.example"})
	tr.do(a, "listDomainChildren", map[string]string{"listall": "true"})
	alice, aliceAcct, aliceUser := tr.client("calice", "0", sub)
	_, _, _ = tr.client("cdadmin", "2", sub)
	tr.do(a, "updateAccount", map[string]string{"id": aliceAcct, "networkdomain": "alice.example"})
	tr.do(a, "lockAccount", map[string]string{"account": "calice", "domainid": sub})
	tr.do(a, "enableAccount", map[string]string{"account": "calice", "domainid": sub})
	tr.do(a, "disableAccount", map[string]string{"id": aliceAcct, "lock": "false"})
	tr.do(a, "enableAccount", map[string]string{"id": aliceAcct})
	u2 := api.First(tr.do(a, "createUser", map[string]string{"account": "calice", "domainid": sub, "username": "calice2",
		"password": "pw2", "firstname": "A", "lastname": "Two", "email": "a2@example.org"}), "user")
	u2ID, _ := u2["id"].(string)
	tr.do(a, "updateUser", map[string]string{"id": u2ID, "firstname": "Alicia"})
	tr.do(a, "disableUser", map[string]string{"id": u2ID})
	tr.do(a, "enableUser", map[string]string{"id": u2ID})
	tr.do(a, "lockUser", map[string]string{"id": u2ID})
	tr.do(a, "enableUser", map[string]string{"id": u2ID})
	tr.do(a, "getUserKeys", map[string]string{"id": aliceUser})
	role := id(tr.do(a, "createRole", map[string]string{"name": "crole", "type": "User", "description": "tour role"}), "role")
	tr.do(a, "updateRole", map[string]string{"id": role, "description": "the tour's role"})
	perm := id(tr.do(a, "createRolePermission", map[string]string{"roleid": role, "rule": "listZones", "permission": "allow"}), "rolepermission")
	tr.do(a, "listRolePermissions", map[string]string{"roleid": role})
	tr.do(a, "updateRolePermission", map[string]string{"roleid": role, "ruleid": perm, "permission": "deny"})
	tr.do(a, "deleteRolePermission", map[string]string{"id": perm})
	tr.do(a, "deleteRole", map[string]string{"id": role})
	tr.session("calice2", "pw2", sub)

	// Offerings.
	so := id(tr.do(a, "createServiceOffering", map[string]string{"name": "c-small", "displaytext": "small",
		"cpunumber": "1", "cpuspeed": "1000", "memory": "512"}), "serviceoffering")
	so2 := id(tr.do(a, "createServiceOffering", map[string]string{"name": "c-big", "displaytext": "big",
		"cpunumber": "2", "cpuspeed": "1000", "memory": "1024"}), "serviceoffering")
	tr.do(a, "updateServiceOffering", map[string]string{"id": so2, "displaytext": "bigger"})
	do := id(tr.do(a, "createDiskOffering", map[string]string{"name": "c-disk", "displaytext": "disk", "disksize": "1"}), "diskoffering")
	docust := id(tr.do(a, "createDiskOffering", map[string]string{"name": "c-any", "displaytext": "any", "customized": "true"}), "diskoffering")
	tr.do(a, "updateDiskOffering", map[string]string{"id": do, "displaytext": "one GB"})
	no := id(tr.do(a, "createNetworkOffering", map[string]string{"name": "c-l2", "displaytext": "l2", "guestiptype": "L2", "traffictype": "Guest"}), "networkoffering")
	tr.do(a, "updateNetworkOffering", map[string]string{"id": no, "state": "Enabled"})
	vpco := id(tr.do(a, "createVPCOffering", map[string]string{"name": "c-vpc", "displaytext": "vpc",
		"supportedservices": "Dhcp,Dns,SourceNat", "serviceproviderlist[0].service": "Dhcp", "serviceproviderlist[0].provider": "VpcVirtualRouter",
		"serviceproviderlist[1].service": "Dns", "serviceproviderlist[1].provider": "VpcVirtualRouter",
		"serviceproviderlist[2].service": "SourceNat", "serviceproviderlist[2].provider": "VpcVirtualRouter"}), "vpcoffering")
	tr.do(a, "updateVPCOffering", map[string]string{"id": vpco, "displaytext": "the vpc"})

	// Templates, ISOs, keys, affinity groups.
	tr.do(a, "listTemplates", map[string]string{"templatefilter": "featured"})
	ostype := id(tr.do(a, "listOsTypes", map[string]string{"description": "CentOS 5.3 (64-bit)"}), "ostype")
	tpl := id(tr.do(alice, "registerTemplate", map[string]string{"name": "c-tpl", "displaytext": "tpl", "format": "QCOW2",
		"hypervisor": "Simulator", "zoneid": zone, "url": "http://images.example.org/c.qcow2", "ostypeid": ostype,
		"passwordenabled": "true", "isextractable": "true"}), "template")
	tr.waitReady(alice, "listTemplates", "templatefilter", "self", "template", tpl)
	tr.do(alice, "updateTemplate", map[string]string{"id": tpl, "displaytext": "the tpl"})
	tr.do(alice, "updateTemplatePermissions", map[string]string{"id": tpl, "op": "add", "accounts": "cdadmin"})
	tr.do(alice, "listTemplatePermissions", map[string]string{"id": tpl})
	tr.do(alice, "extractTemplate", map[string]string{"id": tpl, "mode": "HTTP_DOWNLOAD", "zoneid": zone})
	tr.do(alice, "getUploadParamsForTemplate", map[string]string{"name": "c-uptpl", "displaytext": "up", "format": "QCOW2",
		"hypervisor": "Simulator", "zoneid": zone, "ostypeid": ostype})
	tr.do(alice, "getUploadParamsForIso", map[string]string{"name": "c-upiso", "displaytext": "up", "format": "ISO", "zoneid": zone,
		"bootable": "false"})
	tr.do(alice, "copyTemplate", map[string]string{"id": tpl, "sourcezoneid": zone, "destzoneid": zone2})
	iso := id(tr.do(alice, "registerIso", map[string]string{"name": "c-iso", "displaytext": "iso", "zoneid": zone,
		"url": "http://images.example.org/c.iso", "bootable": "false", "isextractable": "true"}), "iso")
	tr.waitReady(alice, "listIsos", "isofilter", "self", "iso", iso)
	tr.do(alice, "updateIso", map[string]string{"id": iso, "displaytext": "the iso"})
	tr.do(alice, "updateIsoPermissions", map[string]string{"id": iso, "op": "add", "accounts": "cdadmin"})
	tr.do(alice, "listIsoPermissions", map[string]string{"id": iso})
	tr.do(alice, "extractIso", map[string]string{"id": iso, "mode": "HTTP_DOWNLOAD", "zoneid": zone})
	tr.do(alice, "copyIso", map[string]string{"id": iso, "sourcezoneid": zone, "destzoneid": zone2})
	tr.do(alice, "createSSHKeyPair", map[string]string{"name": "c-gen"})
	tr.do(alice, "registerSSHKeyPair", map[string]string{"name": "c-key", "publickey": tr.publicKey()})
	ag := id(tr.do(alice, "createAffinityGroup", map[string]string{"name": "c-ag", "type": "host anti-affinity"}), "affinitygroup")
	ag2 := id(tr.do(alice, "createAffinityGroup", map[string]string{"name": "c-ag2", "type": "host affinity"}), "affinitygroup")

	// Networks and VMs.
	var isolated string
	for _, o := range items(tr.do(alice, "listNetworkOfferings", nil), "networkoffering") {
		if o["name"] == "DefaultIsolatedNetworkOfferingWithSourceNatService" {
			isolated = o["id"].(string)
		}
	}
	net := id(tr.do(alice, "createNetwork", map[string]string{"name": "c-net", "displaytext": "net", "networkofferingid": isolated, "zoneid": zone}), "network")
	tr.do(alice, "updateNetwork", map[string]string{"id": net, "displaytext": "the net"})
	vm := api.First(tr.do(alice, "deployVirtualMachine", map[string]string{"serviceofferingid": so, "templateid": tpl, "zoneid": zone,
		"networkids": net, "name": "c-vm", "keypair": "c-key", "affinitygroupids": ag, "userdata": "aGVsbG8=", "diskofferingid": do}), "virtualmachine")
	vmID, _ := vm["id"].(string)
	vm2ID := id(tr.do(alice, "deployVirtualMachine", map[string]string{"serviceofferingid": so, "templateid": db.SimulatorTemplateID,
		"zoneid": zone, "networkids": net, "name": "c-vm2"}), "virtualmachine")
	tr.do(alice, "restartNetwork", map[string]string{"id": net})
	tr.publicIPs(alice, net, zone, vmID, vm2ID)
	tr.loadBalancers(alice, net, vmID)
	tr.routers(a, net)
	tr.do(alice, "listNics", map[string]string{"virtualmachineid": vmID})
	tr.do(alice, "getVirtualMachineUserData", map[string]string{"virtualmachineid": vmID})
	tr.do(alice, "updateVirtualMachine", map[string]string{"id": vmID, "displayname": "the vm"})
	tr.do(alice, "rebootVirtualMachine", map[string]string{"id": vmID})
	tr.do(a, "findHostsForMigration", map[string]string{"virtualmachineid": vmID})
	if to := tr.otherHost(vmID, hosts); to != "" {
		tr.do(a, "migrateVirtualMachine", map[string]string{"virtualmachineid": vmID, "hostid": to})
	}
	if to := tr.otherHost(vmID, hosts); to != "" {
		tr.do(a, "migrateVirtualMachineWithVolume", map[string]string{"virtualmachineid": vmID, "hostid": to})
	}
	tr.do(alice, "attachIso", map[string]string{"id": iso, "virtualmachineid": vmID})
	tr.do(alice, "detachIso", map[string]string{"virtualmachineid": vmID})
	tr.do(alice, "stopVirtualMachine", map[string]string{"id": vmID})
	tr.do(alice, "changeServiceForVirtualMachine", map[string]string{"id": vmID, "serviceofferingid": so2})
	tr.do(alice, "scaleVirtualMachine", map[string]string{"id": vmID, "serviceofferingid": so})
	tr.do(alice, "resetPasswordForVirtualMachine", map[string]string{"id": vmID})
	tr.do(alice, "resetSSHKeyForVirtualMachine", map[string]string{"id": vmID, "keypair": "c-gen"})
	tr.do(alice, "updateVMAffinityGroup", map[string]string{"id": vmID, "affinitygroupids": ag2})
	tr.do(alice, "restoreVirtualMachine", map[string]string{"virtualmachineid": vmID})
	tr.do(alice, "startVirtualMachine", map[string]string{"id": vmID})
	sgDone := tr.securityGroups(alice, so)

	// Volumes and snapshots.
	root := id(tr.do(alice, "listVolumes", map[string]string{"virtualmachineid": vmID, "type": "ROOT"}), "volume")
	vol := id(tr.do(alice, "createVolume", map[string]string{"name": "c-vol", "zoneid": zone, "diskofferingid": docust, "size": "2"}), "volume")
	tr.do(alice, "attachVolume", map[string]string{"id": vol, "virtualmachineid": vmID})
	tr.do(alice, "resizeVolume", map[string]string{"id": vol, "size": "3"})
	tr.do(alice, "updateVolume", map[string]string{"id": vol, "deleteprotection": "false"})
	tr.do(alice, "detachVolume", map[string]string{"id": vol})
	tr.do(alice, "getUploadParamsForVolume", map[string]string{"name": "c-up", "zoneid": zone, "format": "QCOW2"})
	uploaded := id(tr.do(alice, "uploadVolume", map[string]string{"name": "c-upurl", "zoneid": zone, "format": "QCOW2",
		"url": "http://images.example.org/c-up.qcow2"}), "volume")
	tr.do(alice, "deleteVolume", map[string]string{"id": uploaded})
	volPool := api.First(tr.do(a, "listVolumes", map[string]string{"id": vol, "listall": "true"}), "volume")["storageid"]
	for _, p := range pools {
		if p["id"] != volPool && volPool != nil {
			tr.do(a, "migrateVolume", map[string]string{"volumeid": vol, "storageid": p["id"].(string)})
			break
		}
	}
	tr.do(alice, "stopVirtualMachine", map[string]string{"id": vmID})
	tr.do(alice, "extractVolume", map[string]string{"id": root, "mode": "HTTP_DOWNLOAD", "zoneid": zone})
	snap := id(tr.do(alice, "createSnapshot", map[string]string{"volumeid": root}), "snapshot")
	tr.do(alice, "revertSnapshot", map[string]string{"id": snap})
	fromSnap := id(tr.do(alice, "createVolume", map[string]string{"name": "c-fromsnap", "snapshotid": snap}), "volume")
	tplSnap := id(tr.do(alice, "createTemplate", map[string]string{"name": "c-snaptpl", "displaytext": "from snapshot",
		"ostypeid": ostype, "snapshotid": snap}), "template")
	pol := id(tr.do(alice, "createSnapshotPolicy", map[string]string{"volumeid": root, "intervaltype": "daily", "schedule": "30:02",
		"timezone": "UTC", "maxsnaps": "2"}), "snapshotpolicy")
	tr.do(alice, "updateSnapshotPolicy", map[string]string{"id": pol, "fordisplay": "true"})
	tr.do(alice, "listSnapshotPolicies", map[string]string{"volumeid": root})
	tr.do(alice, "createTags", map[string]string{"resourcetype": "UserVm", "resourceids": vmID, "tags[0].key": "env", "tags[0].value": "tour"})
	tr.do(alice, "createTags", map[string]string{"resourcetype": "Volume", "resourceids": root, "tags[0].key": "disk", "tags[0].value": "root"})
	tr.do(a, "updateResourceLimit", map[string]string{"domainid": sub, "account": "calice", "resourcetype": "0", "max": "40"})
	tr.do(a, "updateResourceCount", map[string]string{"domainid": sub})
	tr.do(a, "listApis", map[string]string{"name": "listZones"})

	// Every list command, as the admin (everything) and as the tenant (its own): the ones
	// that need a parameter were called above.
	tr.listAll(a)
	tr.listAll(alice)
	tr.do(a, "listAsyncJobs", map[string]string{"listall": "true"})

	// Take it apart again: what the tenant made, then the second zone.
	tr.do(alice, "deleteTags", map[string]string{"resourcetype": "UserVm", "resourceids": vmID, "tags[0].key": "env"})
	tr.do(alice, "deleteSnapshotPolicies", map[string]string{"id": pol})
	tr.do(alice, "deleteSnapshot", map[string]string{"id": snap})
	tr.do(alice, "deleteVolume", map[string]string{"id": fromSnap})
	tr.do(alice, "deleteVolume", map[string]string{"id": vol})
	tr.do(alice, "deleteTemplate", map[string]string{"id": tplSnap})
	tr.do(alice, "destroyVirtualMachine", map[string]string{"id": vm2ID})
	tr.do(alice, "recoverVirtualMachine", map[string]string{"id": vm2ID})
	tr.do(alice, "destroyVirtualMachine", map[string]string{"id": vm2ID})
	tr.do(alice, "expungeVirtualMachine", map[string]string{"id": vm2ID})
	tr.do(alice, "destroyVirtualMachine", map[string]string{"id": vmID, "expunge": "true"})
	sgDone()
	tr.do(alice, "deleteAffinityGroup", map[string]string{"id": ag})
	tr.do(alice, "deleteAffinityGroup", map[string]string{"id": ag2})
	tr.do(alice, "deleteSSHKeyPair", map[string]string{"name": "c-gen"})
	tr.do(alice, "deleteIso", map[string]string{"id": iso})
	tr.do(alice, "deleteTemplate", map[string]string{"id": tpl})
	tr.waitExpunged(alice, vmID)
	tr.do(alice, "deleteNetwork", map[string]string{"id": net})
	tr.do(a, "deleteVPCOffering", map[string]string{"id": vpco})
	tr.do(a, "deleteNetworkOffering", map[string]string{"id": no})
	tr.do(a, "deleteDiskOffering", map[string]string{"id": docust})
	tr.do(a, "deleteServiceOffering", map[string]string{"id": so2})
	tr.do(a, "deleteUser", map[string]string{"id": u2ID})
	tr.do(a, "deleteAccount", map[string]string{"id": aliceAcct})
	tr.do(a, "deleteDomain", map[string]string{"id": sub, "cleanup": "true"})

}

// zoneLifecycle builds a zone through the API and takes it apart again with every delete
// command of the infrastructure.
func (tr *tour) zoneLifecycle(ctx context.Context) {
	a := tr.e.Admin
	if err := mgmt.DemoWith(ctx, a, mgmt.DemoOptions{Zone: "cz3", Clusters: 1, HostsPerCluster: 1, VNIs: "6100-6199", GuestCIDR: "10.3.0.0/16"}); err != nil {
		tr.t.Fatal(err)
	}
	zone := id(tr.do(a, "listZones", map[string]string{"name": "cz3"}), "zone")
	pns := items(tr.do(a, "listPhysicalNetworks", map[string]string{"zoneid": zone}), "physicalnetwork")
	tr.do(a, "updateZone", map[string]string{"id": zone, "allocationstate": "Disabled"})
	tr.do(a, "deleteVlanIpRange", map[string]string{"id": id(tr.do(a, "listVlanIpRanges", map[string]string{"zoneid": zone}), "vlaniprange")})
	tr.do(a, "deleteImageStore", map[string]string{"id": id(tr.do(a, "listImageStores", map[string]string{"zoneid": zone}), "imagestore")})
	host := id(tr.do(a, "listHosts", map[string]string{"zoneid": zone, "type": "Routing"}), "host")
	tr.do(a, "prepareHostForMaintenance", map[string]string{"id": host})
	tr.do(a, "deleteHost", map[string]string{"id": host})
	pool := id(tr.do(a, "listStoragePools", map[string]string{"zoneid": zone}), "storagepool")
	tr.do(a, "enableStorageMaintenance", map[string]string{"id": pool})
	tr.do(a, "deleteStoragePool", map[string]string{"id": pool})
	tr.do(a, "deleteCluster", map[string]string{"id": id(tr.do(a, "listClusters", map[string]string{"zoneid": zone}), "cluster")})
	tr.do(a, "deletePod", map[string]string{"id": id(tr.do(a, "listPods", map[string]string{"zoneid": zone}), "pod")})
	for _, pn := range pns {
		for _, tt := range items(tr.do(a, "listTrafficTypes", map[string]string{"physicalnetworkid": pn["id"].(string)}), "traffictype") {
			tr.do(a, "deleteTrafficType", map[string]string{"id": tt["id"].(string)})
		}
		tr.do(a, "deletePhysicalNetwork", map[string]string{"id": pn["id"].(string)})
	}
	tr.do(a, "deleteZone", map[string]string{"id": zone})
	// A pod without a management IP range (CloudStack 4.20 needs only name and zone).
	z := id(tr.do(a, "createZone", map[string]string{"name": "cz4", "networktype": "Advanced", "dns1": "192.0.2.53", "internaldns1": "192.0.2.53"}), "zone")
	tr.do(a, "deletePod", map[string]string{"id": id(tr.do(a, "createPod", map[string]string{"zoneid": z, "name": "bare"}), "pod")})
	tr.do(a, "deleteZone", map[string]string{"id": z})
}

// listAll calls every list command that needs no parameter.
func (tr *tour) listAll(c *api.Client) {
	for _, cmd := range tr.e.Server.API.Reg.All() {
		if !cmd.List {
			continue
		}
		needs := false
		for _, p := range cmd.Params {
			needs = needs || p.Required
		}
		if needs {
			continue
		}
		p := map[string]string{}
		for _, q := range cmd.Params {
			if q.Name == "listall" {
				p["listall"] = "true"
			}
		}
		// The observer checks the answer; a command the caller may not run answers 432.
		if _, err := c.Do(context.Background(), cmd.Name, p); err != nil {
			var ce *api.ClientError
			if !errors.As(err, &ce) || ce.Status != 432 {
				tr.t.Errorf("tour: %s: %v", cmd.Name, err)
			}
		}
	}
}

// session logs in with a password, calls a command on the session and logs out.
func (tr *tour) session(user, password, domainID string) {
	jar, _ := cookiejar.New(nil)
	c := &api.Client{Endpoint: tr.e.URL, HTTP: &http.Client{Jar: jar}, Observe: tr.conf.observe, Post: true}
	path := ""
	for _, d := range items(tr.do(tr.e.Admin, "listDomains", map[string]string{"id": domainID}), "domain") {
		path, _ = d["path"].(string)
	}
	r := tr.do(c, "login", map[string]string{"username": user, "password": password, "domain": path})
	key, _ := r["sessionkey"].(string)
	tr.do(c, "listCapabilities", map[string]string{"sessionkey": key})
	tr.do(c, "logout", map[string]string{"sessionkey": key})
}

// publicKey makes an SSH public key with ssh-keygen.
func (tr *tour) publicKey() string {
	f := filepath.Join(tr.t.TempDir(), "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f).CombinedOutput(); err != nil {
		tr.t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	b, err := os.ReadFile(f + ".pub")
	if err != nil {
		tr.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// otherHost is a zone host the VM is not on.
func (tr *tour) otherHost(vmID string, hosts []map[string]any) string {
	cur := api.First(tr.do(tr.e.Admin, "listVirtualMachines", map[string]string{"id": vmID, "listall": "true"}), "virtualmachine")["hostid"]
	for _, h := range hosts {
		if h["id"] != cur && h["clusterid"] == hostCluster(hosts, cur) {
			return h["id"].(string)
		}
	}
	return ""
}

func hostCluster(hosts []map[string]any, id any) any {
	for _, h := range hosts {
		if h["id"] == id {
			return h["clusterid"]
		}
	}
	return nil
}

func (tr *tour) waitExpunged(c *api.Client, vmID string) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if len(items(tr.do(c, "listVirtualMachines", map[string]string{"id": vmID}), "virtualmachine")) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// routers drives the router commands on the router of net (its first VM placed it): reboot,
// stop, start, and destroy (a network gets a new router when it next needs one).
func (tr *tour) routers(admin *api.Client, net string) {
	l := tr.do(admin, "listRouters", map[string]string{"networkid": net, "listall": "true"})
	items, _ := l["router"].([]any)
	if len(items) != 1 {
		tr.t.Errorf("tour: routers of the network: %v", l)
		return
	}
	id := items[0].(map[string]any)["id"].(string)
	for _, cmd := range []string{"rebootRouter", "stopRouter", "startRouter", "destroyRouter"} {
		tr.do(admin, cmd, map[string]string{"id": id})
	}
}
