package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/orchestrate/securitygroup"
)

// sgZone builds an enabled Basic zone of one Simulator host (security groups always on there):
// its physical network, a pod with a guest range, primary storage and an image store, the
// zone's guest network; it returns the zone's id and a service offering's.
func sgZone(t *testing.T, e *mgmttest.Env) (zone, offering string) {
	t.Helper()
	a := e.Admin
	zone = topoObj(t, mgmttest.Do(t, a, "createZone", map[string]string{"name": "sgz", "networktype": "Basic", "dns1": "192.0.2.53",
		"internaldns1": "192.0.2.53"}), "zone")["id"].(string)
	pn := topoObj(t, mgmttest.DoAsync(t, a, "createPhysicalNetwork", map[string]string{"zoneid": zone, "name": "p"}), "physicalnetwork")["id"].(string)
	for _, tt := range []string{"Guest", "Management"} {
		mgmttest.DoAsync(t, a, "addTrafficType", map[string]string{"physicalnetworkid": pn, "traffictype": tt, "kvmnetworklabel": "cloudbr0"})
	}
	mgmttest.DoAsync(t, a, "updatePhysicalNetwork", map[string]string{"id": pn, "state": "Enabled"})
	pod := topoObj(t, mgmttest.Do(t, a, "createPod", map[string]string{"zoneid": zone, "name": "pod1", "gateway": "10.10.0.1",
		"netmask": "255.255.255.0", "startip": "10.10.0.10", "endip": "10.10.0.50"}), "pod")["id"].(string)
	mgmttest.Do(t, a, "createVlanIpRange", map[string]string{"podid": pod, "gateway": "10.10.0.1", "netmask": "255.255.255.0",
		"startip": "10.10.0.100", "endip": "10.10.0.199", "forvirtualnetwork": "False"})
	cl := api.First(mgmttest.Do(t, a, "addCluster", map[string]string{"zoneid": zone, "podid": pod, "clustername": "c1",
		"hypervisor": "Simulator", "clustertype": "CloudManaged"}), "cluster")["id"].(string)
	mgmttest.Do(t, a, "addHost", map[string]string{"zoneid": zone, "podid": pod, "clusterid": cl, "hypervisor": "Simulator",
		"url": "http://sim/sgc/sgh1?cpunumber=8&cpuspeed=2000&memory=16384", "username": "root", "password": "password"})
	mgmttest.Do(t, a, "createStoragePool", map[string]string{"zoneid": zone, "podid": pod, "clusterid": cl, "name": "sgp",
		"url": "nfs://192.0.2.10/export/sgp", "scope": "cluster"})
	mgmttest.Do(t, a, "addImageStore", map[string]string{"zoneid": zone, "name": "sgs", "provider": "NFS", "url": "nfs://192.0.2.10/export/sgs"})
	mgmttest.Do(t, a, "createNetwork", map[string]string{"name": "guest", "zoneid": zone,
		"networkofferingid": netOffering(t, e, "DefaultSharedNetworkOfferingWithSGService")})
	mgmttest.Do(t, a, "updateZone", map[string]string{"id": zone, "allocationstate": "Enabled"})
	mgmttest.Do(t, a, "listTemplates", map[string]string{"templatefilter": "featured"}) // readies the built-in template
	offering = topoObj(t, mgmttest.Do(t, a, "createServiceOffering", map[string]string{"name": "sg-small", "displaytext": "small",
		"cpunumber": "1", "cpuspeed": "500", "memory": "256"}), "serviceoffering")["id"].(string)
	return zone, offering
}

// sgState fingerprints what security group commands change.
func sgState(t *testing.T, e *mgmttest.Env) string {
	t.Helper()
	return dbtest.Fingerprint(t, e.Server.DB.SQL, "security_groups", "security_group_rules", "security_group_vm_map", "vm_instances", "nics")
}

// sgRefuse runs a command that must fail with code, changing nothing, and returns its text.
func sgRefuse(t *testing.T, e *mgmttest.Env, c *api.Client, cmd string, p map[string]string, code int) string {
	t.Helper()
	before := sgState(t, e)
	text := mgmttest.Fail(t, c, cmd, p, code)
	if sgState(t, e) != before {
		t.Fatalf("%s %v was refused (%s) but changed the database", cmd, p, text)
	}
	return text
}

// sgRefuseJob runs an async command whose job must fail with code, changing nothing.
func sgRefuseJob(t *testing.T, e *mgmttest.Env, c *api.Client, cmd string, p map[string]string, code int) string {
	t.Helper()
	before := sgState(t, e)
	res := mgmttest.Do(t, c, cmd, p)
	j, err := c.Wait(context.Background(), res["jobid"].(string))
	if err != nil {
		t.Fatalf("wait for %s: %v", cmd, err)
	}
	r, _ := j["jobresult"].(map[string]any)
	if j["jobstatus"].(float64) != 2 || fmt.Sprint(r["errorcode"]) != fmt.Sprint(code) {
		t.Fatalf("%s %v: want a failed job with code %d, got %v", cmd, p, code, j)
	}
	if sgState(t, e) != before {
		t.Fatalf("%s %v failed but changed the database", cmd, p)
	}
	return fmt.Sprint(r["errortext"])
}

func sgGroup(t *testing.T, c *api.Client, name string) map[string]any {
	t.Helper()
	l := topoItems(t, mgmttest.Do(t, c, "listSecurityGroups", map[string]string{"securitygroupname": name}), "securitygroup")
	if len(l) != 1 {
		t.Fatalf("listSecurityGroups %s: %v", name, l)
	}
	return l[0]
}

func sgRules(g map[string]any, key string) []map[string]any {
	l, _ := g[key].([]any)
	out := make([]map[string]any, len(l))
	for i, r := range l {
		out[i] = r.(map[string]any)
	}
	return out
}

func TestSecurityGroups(t *testing.T) { securityGroups(t, false) }

func TestSecurityGroupsMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	securityGroups(t, true)
}

func securityGroups(t *testing.T, mysql bool) {
	e := mgmttest.Start(t, mgmttest.Options{MySQL: mysql})
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "ping.interval", "value": "1"})
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "allow.user.expunge.recover.vm", "value": "true"})
	zone, offering := sgZone(t, e)
	alice, aliceIDs := tenant(t, e, "sgalice", "0", "")
	bob, _ := tenant(t, e, "sgbob", "0", "")

	// Every account has its default group, which cannot be deleted.
	def := sgGroup(t, alice, "default")
	if def["description"] != "Default Security Group" || def["account"] != "sgalice" || len(sgRules(def, "ingressrule")) != 0 ||
		def["egressrule"] == nil || def["virtualmachinecount"] != float64(0) {
		t.Fatalf("alice's default group: %v", def)
	}
	if text := sgRefuse(t, e, alice, "deleteSecurityGroup", map[string]string{"name": "default"}, 431); !strings.Contains(text, "reserved") {
		t.Fatalf("delete default: %s", text)
	}
	if text := sgRefuse(t, e, alice, "deleteSecurityGroup", map[string]string{"id": def["id"].(string)}, 431); !strings.Contains(text, "reserved") {
		t.Fatalf("delete default by id: %s", text)
	}

	// createSecurityGroup; names are unique per account, case aside.
	web := topoObj(t, mgmttest.Do(t, alice, "createSecurityGroup", map[string]string{"name": "web", "description": "web servers"}), "securitygroup")
	topoWant(t, "web", web, "name", "web", "description", "web servers", "account", "sgalice", "virtualmachinecount", float64(0))
	webID := web["id"].(string)
	if text := sgRefuse(t, e, alice, "createSecurityGroup", map[string]string{"name": "WEB"}, 431); !strings.Contains(text, "already exists") {
		t.Fatalf("duplicate name: %s", text)
	}
	sgRefuse(t, e, alice, "createSecurityGroup", map[string]string{"name": "  "}, 431)
	topoObj(t, mgmttest.Do(t, bob, "createSecurityGroup", map[string]string{"name": "web"}), "securitygroup") // bob's own web

	// updateSecurityGroup renames; default is neither renamed nor taken.
	tmp := topoObj(t, mgmttest.Do(t, alice, "createSecurityGroup", map[string]string{"name": "tmp"}), "securitygroup")["id"].(string)
	topoWant(t, "renamed", topoObj(t, mgmttest.Do(t, alice, "updateSecurityGroup", map[string]string{"id": tmp, "name": "tmp2"}), "securitygroup"),
		"name", "tmp2", "id", tmp)
	for _, tc := range []struct {
		c        *api.Client
		id, name string
		code     int
		want     string
	}{
		{alice, tmp, "Default", 431, "reserved"},
		{alice, def["id"].(string), "other", 431, "cannot be renamed"},
		{alice, tmp, "WEB", 431, "already exists"},
		{bob, tmp, "mine", 531, ""},
	} {
		if text := sgRefuse(t, e, tc.c, "updateSecurityGroup", map[string]string{"id": tc.id, "name": tc.name}, tc.code); !strings.Contains(text, tc.want) {
			t.Errorf("rename %s to %s: %q, want %q", tc.id, tc.name, text, tc.want)
		}
	}
	mgmttest.Do(t, alice, "deleteSecurityGroup", map[string]string{"id": tmp})

	// authorizeSecurityGroupIngress: one rule per CIDR; the answer holds the new rules only.
	res := topoObj(t, mgmttest.DoAsync(t, alice, "authorizeSecurityGroupIngress", map[string]string{"securitygroupid": webID,
		"protocol": "TCP", "startport": "80", "endport": "80", "cidrlist": "0.0.0.0/0,10.0.0.0/8"}), "securitygroup")
	in := sgRules(res, "ingressrule")
	if res["id"] != webID || len(in) != 2 || len(sgRules(res, "egressrule")) != 0 || in[0]["protocol"] != "tcp" ||
		in[0]["startport"] != float64(80) || in[0]["endport"] != float64(80) || in[0]["cidr"] != "0.0.0.0/0" || in[1]["cidr"] != "10.0.0.0/8" {
		t.Fatalf("authorize ingress: %v", res)
	}
	// The same rules again: CloudStack adds nothing and fails the job.
	if text := sgRefuseJob(t, e, alice, "authorizeSecurityGroupIngress", map[string]string{"securitygroupname": "web",
		"protocol": "tcp", "startport": "80", "endport": "80", "cidrlist": "0.0.0.0/0"}, 530); !strings.Contains(text, "Failed to authorize") {
		t.Fatalf("duplicate rule: %s", text)
	}
	// One old, one new: only the new one is added and answered.
	res = topoObj(t, mgmttest.DoAsync(t, alice, "authorizeSecurityGroupIngress", map[string]string{"securitygroupname": "web",
		"protocol": "tcp", "startport": "80", "endport": "80", "cidrlist": "10.0.0.0/8,192.168.0.0/16"}), "securitygroup")
	if in := sgRules(res, "ingressrule"); len(in) != 1 || in[0]["cidr"] != "192.168.0.0/16" {
		t.Fatalf("partly duplicate: %v", res)
	}
	// ICMP keeps its type and code; protocol number 1 is ICMP any; all has no ports.
	res = topoObj(t, mgmttest.DoAsync(t, alice, "authorizeSecurityGroupIngress", map[string]string{"securitygroupid": webID,
		"protocol": "icmp", "icmptype": "8", "icmpcode": "0", "cidrlist": "0.0.0.0/0"}), "securitygroup")
	if r := sgRules(res, "ingressrule")[0]; r["icmptype"] != float64(8) || r["icmpcode"] != float64(0) || r["startport"] != nil {
		t.Fatalf("icmp rule: %v", r)
	}
	res = topoObj(t, mgmttest.DoAsync(t, alice, "authorizeSecurityGroupIngress", map[string]string{"securitygroupid": webID,
		"protocol": "1", "cidrlist": "172.16.0.0/12"}), "securitygroup")
	if r := sgRules(res, "ingressrule")[0]; r["protocol"] != "icmp" || r["icmptype"] != float64(-1) || r["icmpcode"] != float64(-1) {
		t.Fatalf("protocol 1: %v", r)
	}
	for _, tc := range []struct {
		p    map[string]string
		want string
	}{
		{map[string]string{"protocol": "tcp", "cidrlist": "0.0.0.0/0"}, "Invalid port range"},
		{map[string]string{"protocol": "tcp", "startport": "90", "endport": "80", "cidrlist": "0.0.0.0/0"}, "Invalid port range"},
		{map[string]string{"protocol": "tcp", "startport": "1", "endport": "70000", "cidrlist": "0.0.0.0/0"}, "Invalid port numbers"},
		{map[string]string{"protocol": "icmp", "icmptype": "8", "cidrlist": "0.0.0.0/0"}, "Invalid ICMP type/code"},
		{map[string]string{"protocol": "icmp", "icmptype": "-1", "icmpcode": "3", "cidrlist": "0.0.0.0/0"}, "Invalid icmp code"},
		{map[string]string{"protocol": "all", "startport": "1", "endport": "2", "cidrlist": "0.0.0.0/0"}, "without specifying protocol"},
		{map[string]string{"protocol": "gre", "cidrlist": "0.0.0.0/0"}, "Invalid protocol"},
		{map[string]string{"protocol": "300", "cidrlist": "0.0.0.0/0"}, "Invalid protocol number"},
		{map[string]string{"protocol": "tcp", "startport": "22", "endport": "22", "cidrlist": "10.0.0.300/8"}, "Invalid cidr"},
		{map[string]string{"protocol": "tcp", "startport": "22", "endport": "22"}, "At least one cidr"},
		{map[string]string{"protocol": "tcp", "startport": "22", "endport": "22", "usersecuritygrouplist[0].group": "web"}, "cannot be null"},
	} {
		tc.p["securitygroupid"] = webID
		if text := sgRefuse(t, e, alice, "authorizeSecurityGroupIngress", tc.p, 431); !strings.Contains(text, tc.want) {
			t.Errorf("%v: %q, want %q", tc.p, text, tc.want)
		}
	}
	sgRefuse(t, e, alice, "authorizeSecurityGroupIngress", map[string]string{"securitygroupname": "nope", "cidrlist": "0.0.0.0/0"}, 431)
	sgRefuse(t, e, alice, "authorizeSecurityGroupIngress", map[string]string{"cidrlist": "0.0.0.0/0"}, 431)
	sgRefuse(t, e, bob, "authorizeSecurityGroupIngress", map[string]string{"securitygroupid": webID, "cidrlist": "0.0.0.0/0"}, 531)

	// A rule naming another group by account and name; a group that does not exist changes nothing.
	res = topoObj(t, mgmttest.DoAsync(t, alice, "authorizeSecurityGroupIngress", map[string]string{"securitygroupname": "default",
		"protocol": "tcp", "startport": "22", "endport": "22", "usersecuritygrouplist[0].account": "sgalice",
		"usersecuritygrouplist[0].group": "web"}), "securitygroup")
	if r := sgRules(res, "ingressrule")[0]; r["securitygroupname"] != "web" || r["account"] != "sgalice" || r["cidr"] != nil {
		t.Fatalf("group rule: %v", r)
	}
	if text := sgRefuseJob(t, e, alice, "authorizeSecurityGroupIngress", map[string]string{"securitygroupname": "default",
		"protocol": "tcp", "startport": "23", "endport": "23", "cidrlist": "192.0.2.0/24", "usersecuritygrouplist[0].account": "sgalice",
		"usersecuritygrouplist[0].group": "nope"}, 431); !strings.Contains(text, "Nonexistent group nope") {
		t.Fatalf("missing peer group: %s", text)
	}
	sgRefuseJob(t, e, alice, "authorizeSecurityGroupIngress", map[string]string{"securitygroupname": "default",
		"protocol": "tcp", "startport": "23", "endport": "23", "usersecuritygrouplist[0].account": "nobody",
		"usersecuritygrouplist[0].group": "web"}, 431)
	// A group other rules name cannot go.
	if text := sgRefuse(t, e, alice, "deleteSecurityGroup", map[string]string{"name": "web"}, 536); !strings.Contains(text, "security rules that allow this group") {
		t.Fatalf("delete a named group: %s", text)
	}

	// Egress rules live beside ingress ones.
	eg := topoObj(t, mgmttest.DoAsync(t, alice, "authorizeSecurityGroupEgress", map[string]string{"securitygroupid": webID,
		"protocol": "udp", "startport": "53", "endport": "53", "cidrlist": "192.0.2.53/32"}), "securitygroup")
	egRule := sgRules(eg, "egressrule")
	if len(egRule) != 1 || len(sgRules(eg, "ingressrule")) != 0 || egRule[0]["protocol"] != "udp" {
		t.Fatalf("egress: %v", eg)
	}
	web = sgGroup(t, alice, "web")
	if len(sgRules(web, "ingressrule")) != 5 || len(sgRules(web, "egressrule")) != 1 {
		t.Fatalf("web's rules: %v", web)
	}

	// Deploy: no group named gives the default group; named ones are checked and mapped.
	deploy := func(c *api.Client, p map[string]string) map[string]any {
		t.Helper()
		q := map[string]string{"serviceofferingid": offering, "templateid": db.SimulatorTemplateID, "zoneid": zone}
		for k, v := range p {
			q[k] = v
		}
		return topoObj(t, mgmttest.DoAsync(t, c, "deployVirtualMachine", q), "virtualmachine")
	}
	vm1 := deploy(alice, map[string]string{"name": "sg-one"})
	if sgs, _ := vm1["securitygroup"].([]any); len(sgs) != 1 || sgs[0].(map[string]any)["name"] != "default" ||
		len(sgRules(sgs[0].(map[string]any), "ingressrule")) != 1 {
		t.Fatalf("vm without groups: %v", vm1["securitygroup"])
	}
	vm2 := deploy(alice, map[string]string{"name": "sg-two", "securitygroupnames": "web,default"})
	if sgs, _ := vm2["securitygroup"].([]any); len(sgs) != 2 {
		t.Fatalf("vm with two groups: %v", vm2["securitygroup"])
	}
	for _, tc := range []struct {
		c    *api.Client
		p    map[string]string
		want string
	}{
		{alice, map[string]string{"securitygroupnames": "nope"}, "Unable to find group by name nope"},
		{alice, map[string]string{"securitygroupids": "7c0b9ef2-5b3e-4c1a-9a43-7e0d2f4b5a11"}, "Unable to find security group"},
		{alice, map[string]string{"securitygroupids": webID, "securitygroupnames": "web"}, "mutually exclusive"},
	} {
		q := map[string]string{"serviceofferingid": offering, "templateid": db.SimulatorTemplateID, "zoneid": zone, "name": "sg-bad"}
		for k, v := range tc.p {
			q[k] = v
		}
		if text := sgRefuse(t, e, tc.c, "deployVirtualMachine", q, 431); !strings.Contains(text, tc.want) {
			t.Errorf("deploy %v: %q, want %q", tc.p, text, tc.want)
		}
	}
	sgRefuse(t, e, bob, "deployVirtualMachine", map[string]string{"serviceofferingid": offering, "templateid": db.SimulatorTemplateID,
		"zoneid": zone, "name": "sg-bob", "securitygroupids": webID}, 531)

	// listSecurityGroups by VM, and the groups' members.
	l := topoItems(t, mgmttest.Do(t, alice, "listSecurityGroups", map[string]string{"virtualmachineid": vm2["id"].(string)}), "securitygroup")
	if len(l) != 2 {
		t.Fatalf("groups of vm2: %v", l)
	}
	web = sgGroup(t, alice, "web")
	if web["virtualmachinecount"] != float64(1) || fmt.Sprint(web["virtualmachineids"]) != fmt.Sprint([]any{vm2["id"]}) {
		t.Fatalf("web's members: %v", web)
	}
	if text := sgRefuse(t, e, alice, "deleteSecurityGroup", map[string]string{"name": "web"}, 536); !strings.Contains(text, "rules that allow") {
		t.Fatalf("delete web: %s", text)
	}

	// What the VMs' host must enforce.
	host := ""
	for _, h := range topoItems(t, mgmttest.Do(t, e.Admin, "listHosts", map[string]string{"zoneid": zone, "type": "Routing"}), "host") {
		host = h["id"].(string)
	}
	st, err := securitygroup.ComputeHostState(context.Background(), e.Server.DB.Read(), host)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nics) != 2 || st.Seq == 0 {
		t.Fatalf("host state: %+v", st)
	}
	for _, n := range st.Nics {
		vm := vm1
		if n.VMID == vm2["id"] {
			vm = vm2
		}
		nic := vm["nic"].([]any)[0].(map[string]any)
		if n.MAC != nic["macaddress"] || n.IP != nic["ipaddress"] {
			t.Errorf("host state nic %+v, vm nic %v", n, nic)
		}
		wantIn, wantOut := 1, 0 // default: the ssh rule from web's members
		if n.VMID == vm2["id"] {
			wantIn, wantOut = 6, 1
		}
		if len(n.Ingress) != wantIn || len(n.Egress) != wantOut {
			t.Errorf("nic of %s: %d ingress, %d egress rules, want %d, %d", n.VMID, len(n.Ingress), len(n.Egress), wantIn, wantOut)
		}
	}
	vm2IP := vm2["nic"].([]any)[0].(map[string]any)["ipaddress"]
	if m := st.Members[webID]; len(m) != 1 || m[0] != vm2IP {
		t.Fatalf("web's member addresses: %v (vm2 %v)", st.Members, vm2IP)
	}

	// updateVirtualMachine: groups change only while the VM is stopped.
	vm2ID := vm2["id"].(string)
	if text := sgRefuse(t, e, alice, "updateVirtualMachine", map[string]string{"id": vm2ID, "securitygroupnames": "default"}, 431); !strings.Contains(text, "must be stopped") {
		t.Fatalf("update running vm's groups: %s", text)
	}
	mgmttest.DoAsync(t, alice, "stopVirtualMachine", map[string]string{"id": vm2ID})
	up := topoObj(t, mgmttest.Do(t, alice, "updateVirtualMachine", map[string]string{"id": vm2ID, "securitygroupids": webID}), "virtualmachine")
	if sgs, _ := up["securitygroup"].([]any); len(sgs) != 1 || sgs[0].(map[string]any)["id"] != webID {
		t.Fatalf("updated groups: %v", up["securitygroup"])
	}

	// Revoke: by rule id, of the command's type.
	egID := egRule[0]["ruleid"].(string)
	if text := sgRefuse(t, e, alice, "revokeSecurityGroupIngress", map[string]string{"id": egID}, 431); !strings.Contains(text, "Mismatch") {
		t.Fatalf("revoke egress as ingress: %s", text)
	}
	sgRefuse(t, e, bob, "revokeSecurityGroupEgress", map[string]string{"id": egID}, 531)
	mgmttest.DoAsync(t, alice, "revokeSecurityGroupEgress", map[string]string{"id": egID})
	if web = sgGroup(t, alice, "web"); len(sgRules(web, "egressrule")) != 0 {
		t.Fatalf("egress rule revoked but listed: %v", web)
	}
	sgRefuse(t, e, alice, "revokeSecurityGroupEgress", map[string]string{"id": egID}, 431)

	// Expunge drops the memberships; then the rule naming web goes and web can be deleted.
	mgmttest.DoAsync(t, alice, "destroyVirtualMachine", map[string]string{"id": vm2ID, "expunge": "true"})
	def = sgGroup(t, alice, "default")
	for _, r := range sgRules(def, "ingressrule") {
		mgmttest.DoAsync(t, alice, "revokeSecurityGroupIngress", map[string]string{"id": r["ruleid"].(string)})
	}
	mgmttest.Do(t, alice, "deleteSecurityGroup", map[string]string{"name": "web"})
	if l := mgmttest.Do(t, alice, "listSecurityGroups", map[string]string{"securitygroupname": "web"}); len(l) != 0 {
		t.Fatalf("web deleted but listed: %v", l)
	}
	if n, _ := e.Server.DB.SQL.QueryContext(context.Background(), "SELECT 1 FROM security_group_rules WHERE group_id = ?", webID); n != nil {
		defer n.Close()
		if n.Next() {
			t.Fatal("web's rules outlived it")
		}
	}
	_ = aliceIDs
}
