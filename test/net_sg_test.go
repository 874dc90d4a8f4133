package test

import (
	"encoding/base64"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/mgmt/api"
)

// basicKVMZone builds a Basic zone "sgz" (security groups on) of one KVM cluster on the lab's
// NFS storage, with the pod guest range 10.30.0.100-199 and the zone's guest network.
func basicKVMZone(l *netLab, primary, secondary string) (zoneID, clusterID string) {
	id := func(r map[string]any, key string) string { s, _ := api.First(r, key)["id"].(string); return s }
	zone := id(l.do("createZone", map[string]string{"name": "sgz", "networktype": "Basic", "dns1": "192.0.2.53", "internaldns1": "192.0.2.53"}), "zone")
	pn := id(l.do("createPhysicalNetwork", map[string]string{"zoneid": zone, "name": "sgz-phys"}), "physicalnetwork")
	for _, tt := range []string{"Guest", "Management"} {
		l.do("addTrafficType", map[string]string{"physicalnetworkid": pn, "traffictype": tt, "kvmnetworklabel": "cloudbr0"})
	}
	l.do("updatePhysicalNetwork", map[string]string{"id": pn, "state": "Enabled"})
	pod := id(l.do("createPod", map[string]string{"zoneid": zone, "name": "sgz-pod", "gateway": "10.30.0.1", "netmask": "255.255.255.0",
		"startip": "10.30.0.10", "endip": "10.30.0.50"}), "pod")
	l.do("createVlanIpRange", map[string]string{"podid": pod, "gateway": "10.30.0.1", "netmask": "255.255.255.0",
		"startip": "10.30.0.100", "endip": "10.30.0.199", "forvirtualnetwork": "False"})
	cl := id(l.do("addCluster", map[string]string{"zoneid": zone, "podid": pod, "clustername": "sgz-cluster", "hypervisor": "KVM",
		"clustertype": "CloudManaged"}), "cluster")
	l.do("createStoragePool", map[string]string{"zoneid": zone, "name": "sgz-primary", "url": primary, "scope": "zone", "hypervisor": "KVM"})
	l.do("addImageStore", map[string]string{"zoneid": zone, "name": "sgz-secondary", "provider": "NFS", "url": secondary})
	off := api.First(l.do("listNetworkOfferings", map[string]string{"name": "DefaultSharedNetworkOfferingWithSGService"}), "networkoffering")
	l.do("createNetwork", map[string]string{"name": "sgz-guest", "zoneid": zone, "networkofferingid": off["id"].(string)})
	l.do("updateZone", map[string]string{"id": zone, "allocationstate": "Enabled"})
	return zone, cl
}

// reachTCP reports whether a TCP connection from ns to addr:port opens within 2 s.
func reachTCP(ns, addr string, port int) bool {
	_, err := inNS(ns, 5*time.Second, "python3", "-c",
		"import socket,sys;socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=2).close()", addr, fmt.Sprint(port))
	return err == nil
}

// TestNetSecurityGroups runs CloudStack's security groups on a real KVM host of a Basic zone,
// whose guest network's router leases the guests their addresses: a QEMU guest in group web, whose rules admit tcp/22 from one address and tcp/80 from the
// members of group clients. Namespace stand-ins plugged into the guest network's bridge (as a
// tap is) probe it: tcp/22 passes from the admitted address only, tcp/80 is dropped for
// non-members; a second guest that joins clients reaches tcp/80, and once it is expunged its
// address is out of the group's set again; a revoked rule stops admitting within seconds.
func TestNetSecurityGroups(t *testing.T) {
	l := startNetLabWith(t, 1, basicKVMZone)
	l.dumpOnFailure()
	h := l.hosts[0]
	for _, g := range []string{"web", "clients"} {
		l.do("createSecurityGroup", map[string]string{"name": g})
	}
	ssh := api.First(l.do("authorizeSecurityGroupIngress", map[string]string{"securitygroupname": "web", "protocol": "tcp",
		"startport": "22", "endport": "22", "cidrlist": "10.30.0.230/32"}), "securitygroup")
	l.do("authorizeSecurityGroupIngress", map[string]string{"securitygroupname": "web", "protocol": "tcp", "startport": "80", "endport": "80",
		"usersecuritygrouplist[0].account": "admin", "usersecuritygrouplist[0].group": "clients"})
	svc := api.First(l.do("listServiceOfferings", nil), "serviceoffering")["id"].(string)
	deploy := func(name, ip, group, script string) map[string]any {
		p := map[string]string{"name": name, "zoneid": l.zoneID, "templateid": l.tmpl, "serviceofferingid": svc, "securitygroupnames": group,
			"userdata": base64.StdEncoding.EncodeToString([]byte(script))}
		if ip != "" {
			p["ipaddress"] = ip
		}
		vm := api.First(l.do("deployVirtualMachine", p), "virtualmachine")
		h.waitConsole(t, vm["instancename"].(string), "NETT-UP", 3*time.Minute)
		return vm
	}
	// The zone's guest network's router (DHCP, DNS and metadata only) leases each guest the
	// address Atoll gave it.
	srv := deploy("srv", "10.30.0.110", "web", `#!/bin/sh
httpd -p 22 -h /var/www
echo NETT-UP
`)
	if lease := h.waitConsole(t, srv["instancename"].(string), "ATOLL-TINY-IP", time.Second); !strings.Contains(lease, " 10.30.0.110/24") {
		t.Fatalf("srv leased %q, Atoll gave it 10.30.0.110", lease)
	}
	r := api.First(l.do("listRouters", map[string]string{"zoneid": l.zoneID, "listall": "true"}), "router")
	if r["state"] != "Running" || r["guestipaddress"] == nil || r["guestipaddress"] == "10.30.0.1" {
		t.Errorf("the shared network's router: %v", r)
	}

	// Stand-ins on the guest network's bridge.
	out, _ := inNS(h.ns, 3*time.Second, "ip", "-br", "link", "show", "type", "bridge")
	var br string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "atbr-") {
			br = f[0]
		}
	}
	if br == "" {
		t.Fatalf("no guest bridge on the host:\n%s", out)
	}
	probe := func(name, addr string) string {
		ns := l.tag + "-" + name
		ip(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		ip(t, "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", name, "netns", h.ns)
		ip(t, "-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
		ip(t, "-n", ns, "link", "set", "eth0", "up")
		ip(t, "-n", ns, "link", "set", "lo", "up")
		ip(t, "-n", h.ns, "link", "set", name, "master", br, "up")
		return ns
	}
	pA, pB := probe("pa", "10.30.0.230"), probe("pb", "10.30.0.231")
	waitFor(t, "tcp/22 admitted from 10.30.0.230", 20*time.Second, func() (bool, string) { return reachTCP(pA, "10.30.0.110", 22), "" })
	for _, c := range []struct {
		ns, what string
		port     int
	}{{pB, "tcp/22 from another address", 22}, {pA, "tcp/80 from a non-member", 80}, {pB, "tcp/80 from another non-member", 80}} {
		if reachTCP(c.ns, "10.30.0.110", c.port) {
			t.Errorf("%s reached srv", c.what)
		}
	}

	// A guest joins clients: it reaches tcp/80.
	cli := deploy("cli", "", "clients", `#!/bin/sh
(while true; do echo "NETT-80 $(timeout 2 wget -q -O - http://10.30.0.110/ 2>/dev/null || echo none)"; sleep 1; done) </dev/null >/dev/console 2>&1 &
echo NETT-UP
`)
	h.waitConsole(t, cli["instancename"].(string), "NETT-80 atoll-tiny srv", time.Minute)
	cliIP := nicIP(cli)

	// It leaves (expunged): its address is out of the set; a stand-in taking it is dropped.
	l.do("destroyVirtualMachine", map[string]string{"id": cli["id"].(string), "expunge": "true"})
	pC := probe("pc", cliIP)
	waitFor(t, cliIP+" refused once its VM left clients", 20*time.Second, func() (bool, string) {
		return !reachTCP(pC, "10.30.0.110", 80), ""
	})

	// A revoked rule stops admitting within seconds.
	var ruleID string
	for _, r := range ssh["ingressrule"].([]any) {
		if m := r.(map[string]any); m["startport"] == float64(22) {
			ruleID = m["ruleid"].(string)
		}
	}
	start := time.Now()
	l.do("revokeSecurityGroupIngress", map[string]string{"id": ruleID})
	waitFor(t, "tcp/22 refused after its rule was revoked", 20*time.Second, func() (bool, string) {
		return !reachTCP(pA, "10.30.0.110", 22), ""
	})
	t.Logf("revokeSecurityGroupIngress to the port refusing: %.2f s", time.Since(start).Seconds())
	l.do("destroyVirtualMachine", map[string]string{"id": srv["id"].(string), "expunge": "true"})
}
