package test

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atollcloud/atoll/hypervisor/tinyimage"
	"github.com/atollcloud/atoll/mgmt/api"
)

// account makes a user account in ROOT and answers its name.
func (l *netLab) account(name string) string {
	l.do("createAccount", map[string]string{"username": name, "account": name, "password": "secret-" + name, "email": name + "@example.com",
		"firstname": name, "lastname": "tenant", "accounttype": "0"})
	return name
}

// isolatedNetwork creates an isolated network with source NAT for an account.
func (l *netLab) isolatedNetwork(name, account string) map[string]any {
	off := api.First(l.do("listNetworkOfferings", map[string]string{"name": "DefaultIsolatedNetworkOfferingWithSourceNatService"}), "networkoffering")
	dom := api.First(l.do("listDomains", map[string]string{"name": "ROOT"}), "domain")
	return api.First(l.do("createNetwork", map[string]string{"name": name, "displaytext": name, "zoneid": l.zoneID,
		"networkofferingid": off["id"].(string), "account": account, "domainid": dom["id"].(string)}), "network")
}

// deploy starts a tiny VM for account on network, on host h, with user data (a script, or
// ""), and waits until it is Running.
func (l *netLab) deploy(name, account, networkID string, h *labHost, userdata string) map[string]any {
	l.t.Helper()
	svc := api.First(l.do("listServiceOfferings", nil), "serviceoffering")
	dom := api.First(l.do("listDomains", map[string]string{"name": "ROOT"}), "domain")
	p := map[string]string{"name": name, "displayname": name, "zoneid": l.zoneID, "templateid": l.tmpl, "serviceofferingid": svc["id"].(string),
		"networkids": networkID, "account": account, "domainid": dom["id"].(string), "hostid": h.id}
	if userdata != "" {
		p["userdata"] = base64.StdEncoding.EncodeToString([]byte(userdata))
	}
	vm := api.First(l.do("deployVirtualMachine", p), "virtualmachine")
	if vm["state"] != "Running" {
		l.t.Fatalf("%s: %v", name, vm["state"])
	}
	return vm
}

// nicIP is a VM's address on its first NIC.
func nicIP(vm map[string]any) string {
	nics, _ := vm["nic"].([]any)
	if len(nics) == 0 {
		return ""
	}
	s, _ := nics[0].(map[string]any)["ipaddress"].(string)
	return s
}

// serveSource runs, in namespace ns, an HTTP server on addr answering "src=<client address>"
// (what the outside sees of a guest's connection: its source NAT address). It appends
// "<unix ms> <client address>" to the file it returns for every request.
func serveSource(t *testing.T, ns, addr string) (log string) {
	t.Helper()
	log = filepath.Join(t.TempDir(), "requests")
	prog := `import http.server,sys,time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b=("src=%s\n" % self.client_address[0]).encode()
        self.send_response(200); self.send_header("Content-Length",str(len(b))); self.end_headers(); self.wfile.write(b)
        with open(sys.argv[2],"a") as f: f.write("%d %s\n" % (time.time()*1000, self.client_address[0]))
    def log_message(self,*a): pass
h,p=sys.argv[1].rsplit(":",1)
http.server.ThreadingHTTPServer((h,int(p)),H).serve_forever()`
	cmd := exec.Command("ip", "netns", "exec", ns, "python3", "-c", prog, addr, log)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "source server in "+ns, 10*time.Second, func() (bool, string) {
		out, err := inNS(ns, 3*time.Second, "python3", "-c", "import urllib.request,sys;print(urllib.request.urlopen(sys.argv[1],timeout=2).read().decode())", "http://"+addr+"/")
		return err == nil && strings.HasPrefix(out, "src="), out
	})
	return log
}

// nsFetch GETs url from inside namespace ns (python3, 3 s timeout) and answers the body.
func nsFetch(ns, url string) (string, error) {
	out, err := inNS(ns, 6*time.Second, "python3", "-c",
		"import urllib.request,sys;sys.stdout.write(urllib.request.urlopen(sys.argv[1],timeout=3).read().decode())", url)
	return strings.TrimSpace(out), err
}

// TestNetGuests runs two tenants' isolated networks over two KVM hosts (network namespaces
// on a shared underlay) with real QEMU guests: VMs of one network on different hosts reach
// each other over VXLAN; each gets by DHCP the address Atoll allocated and reads its meta and
// user data from 169.254.169.254; they reach the outside through their network's source NAT
// address; another tenant's guest cannot reach them; deleting the networks leaves no router
// namespace, daemon, bridge or VXLAN link behind.
func TestNetGuests(t *testing.T) {
	l := startNetLab(t, 2)
	l.dumpOnFailure()
	h1, h2 := l.hosts[0], l.hosts[1]
	reqs := serveSource(t, l.out, labPublic+"1:8000")
	l.account("tenant-a")
	l.account("tenant-b")
	netA := l.isolatedNetwork("net-a", "tenant-a")
	netB := l.isolatedNetwork("net-b", "tenant-b")
	netAID, netBID := netA["id"].(string), netB["id"].(string)

	start := time.Now()
	a2 := l.deploy("a2", "tenant-a", netAID, h2, "")
	a2IP := nicIP(a2)
	lease := h2.waitConsole(t, a2["instancename"].(string), tinyimage.MarkerIP, 2*time.Minute)
	if !strings.Contains(lease, " "+a2IP+"/") {
		t.Fatalf("a2 leased %q, Atoll allocated %s", lease, a2IP)
	}
	t.Logf("createNetwork + first deploy to DHCP lease: %.1f s (%s)", time.Since(start).Seconds(), lease)

	routers := l.do("listRouters", map[string]string{"networkid": netAID, "listall": "true"})
	r := api.First(routers, "router")
	if r["state"] != "Running" || r["publicip"] == nil {
		t.Fatalf("router of net-a: %v", r)
	}
	snatA := r["publicip"].(string)

	script := fmt.Sprintf(`#!/bin/sh
n=0
until p=$(timeout 5 wget -q -O - http://%[1]s/ 2>/dev/null) || [ $n -ge 40 ]; do n=$((n+1)); sleep 1; done
echo "NETT-PEER ${p:-none}"
echo "NETT-META $(timeout 5 wget -q -O - http://169.254.169.254/latest/meta-data/local-hostname 2>/dev/null)"
echo "NETT-UD $(timeout 5 wget -q -O - http://169.254.169.254/latest/user-data 2>/dev/null | grep -c NETT-PEER)"
echo "NETT-OUT $(timeout 5 wget -q -O - http://%[2]s1:8000/ 2>/dev/null)"
(while true; do timeout 2 wget -q -O /dev/null http://%[2]s1:8000/tick 2>/dev/null; sleep 0.5; done) </dev/null >/dev/null 2>&1 &
`, a2IP, labPublic)
	a1 := l.deploy("a1", "tenant-a", netAID, h1, script)
	a1Name := a1["instancename"].(string)
	h1.waitConsole(t, a1Name, tinyimage.MarkerUserdataRan, 3*time.Minute)
	udLines := fmt.Sprint(strings.Count(script, "NETT-PEER"))
	want := map[string]string{"NETT-PEER": "atoll-tiny a2", "NETT-META": "a1", "NETT-UD": udLines, "NETT-OUT": "src=" + snatA}
	for k, v := range want {
		if got := h1.waitConsole(t, a1Name, k, time.Second); !strings.HasSuffix(got, k+" "+v) {
			t.Errorf("a1 on host 1: %q, want %q (VXLAN to a2 on host 2, metadata, source NAT)", got, k+" "+v)
		}
	}

	// Tenant B's guest, on the same host as a1 and with the same guest CIDR, reaches neither
	// a2's address (its own network's, on another VNI) nor net-a's public address (no rule).
	bScript := fmt.Sprintf(`#!/bin/sh
echo "NETT-ISO $(timeout 5 wget -q -O - http://%s/ 2>/dev/null || echo none)"
echo "NETT-PUB $(timeout 5 wget -q -O - http://%s/ 2>/dev/null || echo none)"
echo "NETT-OUT $(timeout 5 wget -q -O - http://%s1:8000/ 2>/dev/null)"
`, a2IP, snatA, labPublic)
	b1 := l.deploy("b1", "tenant-b", netBID, h1, bScript)
	b1Name := b1["instancename"].(string)
	h1.waitConsole(t, b1Name, tinyimage.MarkerUserdataRan, 3*time.Minute)
	snatB := api.First(l.do("listRouters", map[string]string{"networkid": netBID, "listall": "true"}), "router")["publicip"]
	for k, v := range map[string]string{"NETT-ISO": "none", "NETT-PUB": "none", "NETT-OUT": fmt.Sprint("src=", snatB)} {
		if got := h1.waitConsole(t, b1Name, k, time.Second); !strings.HasSuffix(got, k+" "+v) {
			t.Errorf("b1 (tenant b): %q, want %q", got, k+" "+v)
		}
	}
	// From outside, nothing reaches the guests without rules.
	if out, err := nsFetch(l.out, "http://"+snatA+"/"); err == nil {
		t.Errorf("outside reached net-a's source NAT address without a rule: %q", out)
	}

	l.publicServices(t, reqs, netAID, snatA, a1, a2)
	l.routerOps(t, reqs, netAID, snatA)
	if t.Failed() {
		l.dump()
	}

	// Everything goes: VMs expunged, networks deleted; no namespace, daemon, bridge or tunnel
	// of theirs is left on any host.
	for _, vm := range []map[string]any{a1, a2, b1} {
		l.do("destroyVirtualMachine", map[string]string{"id": vm["id"].(string), "expunge": "true"})
	}
	for _, id := range []string{netAID, netBID} {
		l.do("deleteNetwork", map[string]string{"id": id})
	}
	waitFor(t, "routers and bridges gone", 30*time.Second, func() (bool, string) {
		var left []string
		for _, id := range []string{netAID, netBID} {
			if _, err := os.Stat(filepath.Join("/run/netns", "atr-"+id)); err == nil {
				left = append(left, "namespace atr-"+id)
			}
			if out, _ := exec.Command("pgrep", "-f", id).Output(); len(strings.TrimSpace(string(out))) > 0 {
				left = append(left, "process of "+id)
			}
		}
		for _, h := range l.hosts {
			out, _ := inNS(h.ns, 3*time.Second, "ip", "-br", "link")
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) > 0 && (strings.HasPrefix(f[0], "atbr-") || strings.HasPrefix(f[0], "vxlan") || strings.HasPrefix(f[0], "atr")) {
					left = append(left, h.name+": "+f[0])
				}
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	})
}

// requestsFrom answers the times (Unix ms) of the requests the source server saw from src.
func requestsFrom(log, src string) []int64 {
	var out []int64
	for _, line := range strings.Split(readFile(log), "\n") {
		var ms int64
		var from string
		if _, err := fmt.Sscanf(line, "%d %s", &ms, &from); err == nil && from == src {
			out = append(out, ms)
		}
	}
	return out
}

// TestNetRouterFailover kills the host that runs an isolated network's router (its agent
// SIGKILLed and its links cut, so that it neither pings nor forwards): the management server
// finds the host Down and moves the router to the other host, where the guest's traffic
// leaves by the same public address again. The time from the kill to the first request the
// outside sees again is logged (the bench quotes it).
func TestNetRouterFailover(t *testing.T) {
	l := startNetLab(t, 2)
	l.dumpOnFailure()
	reqs := serveSource(t, l.out, labPublic+"1:8000")
	l.account("tenant-f")
	net := l.isolatedNetwork("net-f", "tenant-f")
	netID := net["id"].(string)
	// The guest asks the outside for a page every half second, for ever.
	script := fmt.Sprintf(`#!/bin/sh
(while true; do timeout 2 wget -q -O /dev/null http://%s1:8000/ 2>/dev/null; sleep 0.5; done) </dev/null >/dev/null 2>&1 &
echo NETT-LOOP
`, labPublic)
	// The first VM places the router; put the guest on the other host.
	r0 := func() map[string]any {
		return api.First(l.do("listRouters", map[string]string{"networkid": netID, "listall": "true"}), "router")
	}
	var guestHost *labHost
	for _, h := range l.hosts {
		// Routers go to the host with the fewest, the first added among equals: host 1.
		if h != l.hosts[0] {
			guestHost = h
		}
	}
	vm := l.deploy("f1", "tenant-f", netID, guestHost, script)
	guestHost.waitConsole(t, vm["instancename"].(string), "NETT-LOOP", 3*time.Minute)
	r := r0()
	snat := r["publicip"].(string)
	var routerHost *labHost
	for _, h := range l.hosts {
		if h.id == r["hostid"] {
			routerHost = h
		}
	}
	if routerHost == nil || routerHost == guestHost {
		t.Fatalf("router on %v, guest on %s: want them apart", r["hostname"], guestHost.name)
	}
	waitFor(t, "the guest's requests through "+snat, time.Minute, func() (bool, string) {
		n := len(requestsFrom(reqs, snat))
		return n >= 2, fmt.Sprint(n, " requests")
	})

	// The router's host dies.
	killed := time.Now()
	routerHost.agent.stop(syscall.SIGKILL)
	for _, dev := range []string{"eth0", "eth1"} {
		ip(t, "-n", routerHost.ns, "link", "del", dev)
	}
	var back time.Duration
	waitFor(t, "the guest's traffic leaving by "+snat+" again", 2*time.Minute, func() (bool, string) {
		for _, ms := range requestsFrom(reqs, snat) {
			if at := time.UnixMilli(ms); at.After(killed.Add(500 * time.Millisecond)) {
				back = at.Sub(killed)
				return true, ""
			}
		}
		return false, fmt.Sprint(r0()["hostname"], " ", r0()["state"])
	})
	moved := r0()
	if moved["hostid"] != guestHost.id || moved["state"] != "Running" || moved["publicip"] != snat {
		t.Errorf("router after its host died: on %v, %v, public ip %v; want Running on %s with %s", moved["hostname"], moved["state"],
			moved["publicip"], guestHost.name, snat)
	}
	t.Logf("router failover (host killed to the public address answering again): %.1f s (ping.interval 2 s, ping.timeout 3)", back.Seconds())

	// Reconciliation: drift and leftovers on the router's new host are put right when its
	// agent restarts. The router's nftables table is deleted and its dnsmasq killed behind
	// Atoll's back, and a bridge Atoll would have made is left lying about.
	rh := guestHost
	ns := "atr-" + netID
	if out, err := l.inRouter(ns, 5*time.Second, "nft", "delete", "table", "inet", "atoll"); err != nil {
		t.Fatalf("delete the router's table: %v %s", err, out)
	}
	exec.Command("pkill", "-f", netID+"/dnsmasq.conf").Run()
	ip(t, "-n", rh.ns, "link", "add", "atbr-x4242", "type", "bridge")
	rh.agent.stop(syscall.SIGTERM)
	restarted := time.Now()
	rh.agent = rh.startAgent(t)
	waitFor(t, "drift fixed and leftovers gone after the agent's restart", time.Minute, func() (bool, string) {
		var wrong []string
		if out, err := l.inRouter(ns, 5*time.Second, "nft", "list", "table", "inet", "atoll"); err != nil {
			wrong = append(wrong, "no nftables table: "+strings.TrimSpace(out))
		}
		if out, _ := exec.Command("pgrep", "-f", netID+"/dnsmasq.conf").Output(); len(strings.TrimSpace(string(out))) == 0 {
			wrong = append(wrong, "no dnsmasq")
		}
		if out, _ := inNS(rh.ns, 3*time.Second, "ip", "link", "show", "atbr-x4242"); !strings.Contains(out, "does not exist") {
			wrong = append(wrong, "leftover bridge still there")
		}
		return len(wrong) == 0, strings.Join(wrong, "; ")
	})
	n := len(requestsFrom(reqs, snat))
	waitFor(t, "the guest's traffic after the restart", 30*time.Second, func() (bool, string) {
		return len(requestsFrom(reqs, snat)) > n+1, ""
	})
	t.Logf("agent restart to drift repaired: %.1f s", time.Since(restarted).Seconds())
}

// expectPage waits until GET url from the outside answers want (a guest's page), or, with
// want "", until it fails.
func (l *netLab) expectPage(t *testing.T, what, url, want string) {
	t.Helper()
	waitFor(t, what, 30*time.Second, func() (bool, string) {
		out, err := nsFetch(l.out, url)
		if want == "" {
			return err != nil, out
		}
		return err == nil && out == want, fmt.Sprint(out, err)
	})
}

// publicServices drives an isolated network's public side through the API and checks it from
// the outside: port forwarding (with the firewall rule it opens), static NAT with an ingress
// rule, a round-robin load balancer over two guests on two hosts, and an egress rule that
// stops the guest's own requests out until it is deleted.
func (l *netLab) publicServices(t *testing.T, reqs, netID, snat string, a1, a2 map[string]any) {
	page := func(vm map[string]any) string { return "atoll-tiny " + vm["name"].(string) }
	snatID := api.First(l.do("listPublicIpAddresses", map[string]string{"ipaddress": snat, "listall": "true"}), "publicipaddress")["id"].(string)

	// Port forwarding: snat:8080 -> a1:80, opened by the firewall rule openfirewall makes.
	start := time.Now()
	pf := api.First(l.do("createPortForwardingRule", map[string]string{"ipaddressid": snatID, "protocol": "tcp", "publicport": "8080",
		"privateport": "80", "virtualmachineid": a1["id"].(string)}), "portforwardingrule")
	l.expectPage(t, "port forwarding to a1", "http://"+snat+":8080/", page(a1))
	t.Logf("createPortForwardingRule to the outside reaching the guest: %.2f s", time.Since(start).Seconds())
	if _, err := l.c.DoWait(l.ctx, "createPortForwardingRule", map[string]string{"ipaddressid": snatID, "protocol": "tcp", "publicport": "8080",
		"privateport": "81", "virtualmachineid": a2["id"].(string)}); err == nil || !strings.Contains(err.Error(), "conflicts") {
		t.Errorf("a second rule on a forwarded public port: %v, want CloudStack's conflict", err)
	}

	// Static NAT of a second address to a2, open for tcp/80 only from the outside's subnet.
	ip2 := api.First(l.do("associateIpAddress", map[string]string{"networkid": netID}), "ipaddress")
	ip2Addr, ip2ID := ip2["ipaddress"].(string), ip2["id"].(string)
	l.do("enableStaticNat", map[string]string{"ipaddressid": ip2ID, "virtualmachineid": a2["id"].(string)})
	l.expectPage(t, "static NAT without a firewall rule", "http://"+ip2Addr+"/", "")
	fw := api.First(l.do("createFirewallRule", map[string]string{"ipaddressid": ip2ID, "protocol": "tcp", "startport": "80", "endport": "80",
		"cidrlist": labPublic + "0/24"}), "firewallrule")
	l.expectPage(t, "static NAT to a2", "http://"+ip2Addr+"/", page(a2))
	l.do("deleteFirewallRule", map[string]string{"id": fw["id"].(string)})
	l.expectPage(t, "static NAT after its firewall rule went", "http://"+ip2Addr+"/", "")

	// A load balancer on a third address over a1 (host 1) and a2 (host 2).
	ip3 := api.First(l.do("associateIpAddress", map[string]string{"networkid": netID}), "ipaddress")
	ip3Addr, ip3ID := ip3["ipaddress"].(string), ip3["id"].(string)
	lb := api.First(l.do("createLoadBalancerRule", map[string]string{"publicipid": ip3ID, "name": "web", "algorithm": "roundrobin",
		"publicport": "80", "privateport": "80", "openfirewall": "true"}), "loadbalancer")
	l.do("assignToLoadBalancerRule", map[string]string{"id": lb["id"].(string), "virtualmachineids": a1["id"].(string) + "," + a2["id"].(string)})
	if rules, _ := l.do("listFirewallRules", map[string]string{"ipaddressid": ip3ID, "listall": "true"})["firewallrule"].([]any); len(rules) == 0 {
		l.do("createFirewallRule", map[string]string{"ipaddressid": ip3ID, "protocol": "tcp", "startport": "80", "endport": "80"})
	}
	seen := map[string]int{}
	waitFor(t, "the load balancer answering from both guests", 30*time.Second, func() (bool, string) {
		if out, err := nsFetch(l.out, "http://"+ip3Addr+"/"); err == nil {
			seen[out]++
		}
		return seen[page(a1)] > 0 && seen[page(a2)] > 0, fmt.Sprint(seen)
	})

	// Egress: the default allows; a rule for the outside's port denies it, until deleted.
	n0 := len(requestsFrom(reqs, snat))
	waitFor(t, "a1's requests out", 20*time.Second, func() (bool, string) { return len(requestsFrom(reqs, snat)) > n0+1, "" })
	eg := api.First(l.do("createEgressFirewallRule", map[string]string{"networkid": netID, "protocol": "tcp", "startport": "8000", "endport": "8000",
		"destcidrlist": labPublic + "1/32"}), "firewallrule")
	time.Sleep(time.Second) // requests in flight when the rule landed
	n1 := len(requestsFrom(reqs, snat))
	time.Sleep(3 * time.Second)
	if n2 := len(requestsFrom(reqs, snat)); n2 != n1 {
		t.Errorf("egress rule denying tcp/8000 to %s1: %d requests got out in 3 s", labPublic, n2-n1)
	}
	l.do("deleteEgressFirewallRule", map[string]string{"id": eg["id"].(string)})
	waitFor(t, "a1's requests out again", 20*time.Second, func() (bool, string) { return len(requestsFrom(reqs, snat)) > n1+1, "" })

	// The port forwarding rule goes, and with it the port.
	l.do("deletePortForwardingRule", map[string]string{"id": pf["id"].(string)})
	l.expectPage(t, "port forwarding removed", "http://"+snat+":8080/", "")
}

// routerOps stops and starts a network's router and restarts the network with cleanup,
// watching the guest's requests out stop and come back.
func (l *netLab) routerOps(t *testing.T, reqs, netID, snat string) {
	id := api.First(l.do("listRouters", map[string]string{"networkid": netID, "listall": "true"}), "router")["id"].(string)
	flowing := func(what string) {
		n := len(requestsFrom(reqs, snat))
		waitFor(t, what, 30*time.Second, func() (bool, string) { return len(requestsFrom(reqs, snat)) > n+1, "" })
	}
	if r := api.First(l.do("stopRouter", map[string]string{"id": id}), "router"); r["state"] != "Stopped" {
		t.Errorf("stopRouter answered %v", r["state"])
	}
	time.Sleep(time.Second)
	n := len(requestsFrom(reqs, snat))
	time.Sleep(3 * time.Second)
	if k := len(requestsFrom(reqs, snat)); k != n {
		t.Errorf("%d requests got out while the router was stopped", k-n)
	}
	if r := api.First(l.do("startRouter", map[string]string{"id": id}), "router"); r["state"] != "Running" {
		t.Errorf("startRouter answered %v", r["state"])
	}
	flowing("the guest's requests out after startRouter")
	l.do("restartNetwork", map[string]string{"id": netID, "cleanup": "true"})
	flowing("the guest's requests out after restartNetwork cleanup=true")
}
