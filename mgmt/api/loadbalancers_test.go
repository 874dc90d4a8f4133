package api_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
)

// lbState fingerprints everything a load-balancer command may change.
func lbState(t *testing.T, e *mgmttest.Env) string {
	t.Helper()
	// A rule's version is bookkeeping: an undone change moves it on.
	rules := "SELECT id, name, description, public_ip_id, network_id, public_port, private_port, algorithm, protocol, cidr_list, state, " +
		"display, open_firewall, live_key, created FROM load_balancer_rules ORDER BY id"
	return dbtest.Fingerprint(t, e.Server.DB.SQL, rules, "lb_vm_map", "lb_stickiness_policies", "lb_healthcheck_policies",
		"public_ips", "resource_tags")
}

// lbRefuse sends a command that must be refused at once with code, changing nothing, and
// returns the error text.
func lbRefuse(t *testing.T, e *mgmttest.Env, c *api.Client, cmd string, p map[string]string, code int) string {
	t.Helper()
	before := lbState(t, e)
	text := mgmttest.Fail(t, c, cmd, p, code)
	if lbState(t, e) != before {
		t.Fatalf("%s %v was refused (%s) but changed the database", cmd, p, text)
	}
	return text
}

func TestLoadBalancerRules(t *testing.T) { testLoadBalancerRules(t, false) }

func TestLoadBalancerRulesMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	testLoadBalancerRules(t, true)
}

// testLoadBalancerRules drives CloudStack's load-balancer API over an isolated network's
// source NAT address: every refusal CloudStack pins changes nothing, a rule goes Add ->
// Active as VMs join and back as they leave, policies validate CloudStack's way, the router
// step (ApplyLB) sees the rows, and deleting the rule (or the network) leaves nothing behind.
func testLoadBalancerRules(t *testing.T, mysql bool) {
	ctx := context.Background()
	v := newVMEnv(t, mysql)
	e := v.Env
	var mu sync.Mutex
	var programmed []*network.LBConfig
	network.ProgramLB = func(_ context.Context, _ *orchestrate.Deps, cfg *network.LBConfig) error {
		mu.Lock()
		defer mu.Unlock()
		programmed = append(programmed, cfg)
		return nil
	}
	t.Cleanup(func() { network.ProgramLB = nil })
	lastProgram := func() *network.LBConfig {
		mu.Lock()
		defer mu.Unlock()
		if len(programmed) == 0 {
			t.Fatal("ApplyLB never ran")
		}
		return programmed[len(programmed)-1]
	}
	vm1 := v.deploy(t, v.tenant, map[string]string{"name": "web1", "networkids": v.network})
	vm2 := v.deploy(t, v.tenant, map[string]string{"name": "web2", "networkids": v.network})
	vm1ID, vm2ID := vm1["id"].(string), vm2["id"].(string)
	vm1IP := vm1["nic"].([]any)[0].(map[string]any)["ipaddress"].(string)
	var ipID, ipAddr string
	if err := e.Server.DB.SQL.QueryRowContext(ctx, "SELECT id, address FROM public_ips WHERE network_id = ? AND source_nat = 1", v.network).Scan(&ipID, &ipAddr); err != nil {
		t.Fatalf("source NAT address: %v", err)
	}
	other, _ := tenant(t, e, "lbintruder", "0", "")
	// vmIn deploys a VM of c in a new network of its own.
	vmIn := func(c *api.Client, name string) string {
		var off string
		for _, o := range mgmttest.Do(t, e.Admin, "listNetworkOfferings", nil)["networkoffering"].([]any) {
			if m := o.(map[string]any); m["name"] == "DefaultIsolatedNetworkOfferingWithSourceNatService" {
				off = m["id"].(string)
			}
		}
		n := mgmttest.Do(t, c, "createNetwork", map[string]string{"name": name, "displaytext": name, "networkofferingid": off,
			"zoneid": v.zoneID})["network"].(map[string]any)
		return v.deploy(t, c, map[string]string{"name": name, "networkids": n["id"].(string)})["id"].(string)
	}
	otherVM := vmIn(other, "x1")
	elsewhere := vmIn(v.tenant, "elsewhere")

	create := func(kv ...string) map[string]string {
		p := map[string]string{"publicipid": ipID, "name": "web", "algorithm": "roundrobin", "publicport": "80", "privateport": "8080"}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
			if kv[i+1] == "" {
				delete(p, kv[i])
			}
		}
		return p
	}
	for _, tc := range []struct {
		c    *api.Client
		p    map[string]string
		code int
		text string
	}{
		{v.tenant, create("algorithm", "random"), 431, "Invalid algorithm"},
		{v.tenant, create("publicport", "0"), 431, "publicPort"},
		{v.tenant, create("publicport", "65536"), 431, "publicPort"},
		{v.tenant, create("privateport", "-1"), 431, "privatePort"},
		{v.tenant, create("publicport", "x"), 431, "publicport"},
		{v.tenant, create("publicipid", "00000000-0000-4000-8000-000000000000"), 431, "invalid IP address"},
		{v.tenant, create("publicipid", ""), 431, "publicipid"},
		{v.tenant, create("protocol", "udp"), 431, "udp"},
		{v.tenant, create("protocol", "sctp"), 431, "valid protocols"},
		{v.tenant, create("cidrlist", "10.0.0.0/33"), 431, "CIDR"},
		{v.tenant, create("publicport", "8081"), 431, "8081"},
		{v.tenant, create("publicport", "53"), 431, "port 53"},
		{v.tenant, create("networkid", "00000000-0000-4000-8000-000000000000"), 431, "network"},
		{other, create(), 531, ""},
	} {
		text := lbRefuse(t, e, tc.c, "createLoadBalancerRule", tc.p, tc.code)
		if !strings.Contains(text, tc.text) {
			t.Errorf("create %v: %q does not mention %q", tc.p, text, tc.text)
		}
	}

	// A rule: Add until a VM is behind it.
	rule := mgmttest.DoAsync(t, v.tenant, "createLoadBalancerRule", create("cidrlist", "10.0.0.0/8,192.168.1.1",
		"protocol", "TCP", "description", "the web"))["loadbalancer"].(map[string]any)
	ruleID := rule["id"].(string)
	topoWant(t, "new rule", rule, "publicipid", ipID, "publicip", ipAddr, "publicport", "80", "privateport", "8080",
		"algorithm", "roundrobin", "state", "Add", "networkid", v.network, "cidrlist", "10.0.0.0/8,192.168.1.1", "protocol", "tcp",
		"description", "the web", "account", "vmuser", "zoneid", v.zoneID)
	if tags, ok := rule["tags"].([]any); !ok || len(tags) != 0 {
		t.Errorf("rule tags: %v", rule["tags"])
	}
	// The public port is taken now, by CloudStack's conflict rule.
	if text := lbRefuse(t, e, v.tenant, "createLoadBalancerRule", create("name", "web2", "privateport", "81"), 537); !strings.Contains(text, "conflicts with rule "+ruleID) {
		t.Errorf("port conflict: %s", text)
	}
	if ranges, err := network.LBPublicPortRanges(ctx, e.Server.DB.Read(), ipID); err != nil || fmt.Sprint(ranges) != "[[80 80]]" {
		t.Errorf("LBPublicPortRanges: %v %v", ranges, err)
	}
	second := mgmttest.DoAsync(t, v.tenant, "createLoadBalancerRule", create("name", "ssh", "publicport", "2222", "privateport", "22",
		"algorithm", "Source"))["loadbalancer"].(map[string]any)
	if second["algorithm"] != "source" {
		t.Errorf("algorithm is kept lower-case: %v", second["algorithm"])
	}

	// Lists: by name and address (as Ansible's modules look rules up), only the owner's.
	list := func(c *api.Client, p map[string]string) []map[string]any {
		res := mgmttest.Do(t, c, "listLoadBalancerRules", p)
		if len(res) == 0 {
			return nil
		}
		return topoItems(t, res, "loadbalancerrule")
	}
	if got := list(v.tenant, map[string]string{"name": "web", "publicipid": ipID}); len(got) != 1 || got[0]["id"] != ruleID {
		t.Errorf("list by name and address: %v", got)
	}
	if got := list(v.tenant, map[string]string{"zoneid": v.zoneID}); len(got) != 2 {
		t.Errorf("list by zone: %d rules", len(got))
	}
	if got := list(other, map[string]string{"publicipid": ipID}); len(got) != 0 {
		t.Errorf("another tenant sees %v", got)
	}
	if got := list(e.Admin, map[string]string{"listall": "true", "name": "ssh"}); len(got) != 1 {
		t.Errorf("admin list: %v", got)
	}

	// Members.
	assign := func(kv ...string) map[string]string {
		p := map[string]string{"id": ruleID}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	for _, tc := range []struct {
		c    *api.Client
		cmd  string
		p    map[string]string
		code int
		text string
	}{
		{v.tenant, "assignToLoadBalancerRule", assign(), 431, "can't be null"},
		{v.tenant, "assignToLoadBalancerRule", assign("virtualmachineids", "00000000-0000-4000-8000-000000000000"), 431, "Invalid instance id"},
		{v.tenant, "assignToLoadBalancerRule", assign("virtualmachineids", otherVM), 531, ""},
		{v.tenant, "assignToLoadBalancerRule", assign("virtualmachineids", vm1ID+","+elsewhere), 431, "same network"},
		{v.tenant, "assignToLoadBalancerRule", assign("vmidipmap[0].vmid", vm1ID, "vmidipmap[0].vmip", "10.9.9.9"), 431, "does not belong"},
		{v.tenant, "assignToLoadBalancerRule", assign("id", "00000000-0000-4000-8000-000000000000", "virtualmachineids", vm1ID), 431, "load balancer rule"},
		{other, "assignToLoadBalancerRule", assign("virtualmachineids", otherVM), 531, ""},
		{v.tenant, "removeFromLoadBalancerRule", assign("virtualmachineids", vm1ID), 431, "not configured"},
	} {
		text := lbRefuse(t, e, tc.c, tc.cmd, tc.p, tc.code)
		if !strings.Contains(text, tc.text) {
			t.Errorf("%s %v: %q does not mention %q", tc.cmd, tc.p, text, tc.text)
		}
	}
	mgmttest.DoAsync(t, v.tenant, "assignToLoadBalancerRule", assign("virtualmachineids", vm1ID))
	mgmttest.DoAsync(t, v.tenant, "assignToLoadBalancerRule", assign("vmidipmap[0].vmid", vm2ID,
		"vmidipmap[0].vmip", vm2["nic"].([]any)[0].(map[string]any)["ipaddress"].(string)))
	if text := lbRefuse(t, e, v.tenant, "assignToLoadBalancerRule", assign("virtualmachineids", vm1ID), 431); !strings.Contains(text, "already mapped") {
		t.Errorf("assign twice: %s", text)
	}
	if got := list(v.tenant, map[string]string{"id": ruleID}); got[0]["state"] != "Active" {
		t.Errorf("rule with VMs: %v", got[0]["state"])
	}
	cfg := lastProgram()
	if len(cfg.Rules) != 2 || cfg.NetworkID != v.network {
		t.Fatalf("ApplyLB programmed %+v", cfg)
	}
	for _, rc := range cfg.Rules {
		if rc.Rule.ID == ruleID && len(rc.VMs) != 2 {
			t.Errorf("ApplyLB's rule %s has %d destinations", ruleID, len(rc.VMs))
		}
	}
	inst := topoItems(t, mgmttest.Do(t, v.tenant, "listLoadBalancerRuleInstances", map[string]string{"id": ruleID}), "loadbalancerruleinstance")
	if len(inst) != 2 {
		t.Fatalf("instances: %v", inst)
	}
	withIPs := topoItems(t, mgmttest.Do(t, v.tenant, "listLoadBalancerRuleInstances", map[string]string{"id": ruleID, "lbvmips": "true"}), "lbrulevmidip")
	for _, it := range withIPs {
		vm := it["loadbalancerruleinstance"].(map[string]any)
		if vm["id"] == vm1ID && fmt.Sprint(it["lbvmipaddresses"]) != "["+vm1IP+"]" {
			t.Errorf("lbvmips of vm1: %v", it)
		}
	}
	if res := mgmttest.Do(t, v.tenant, "listLoadBalancerRuleInstances", map[string]string{"id": ruleID, "applied": "false"}); len(res) != 0 {
		t.Errorf("unassigned VMs of the network: %v", res)
	}
	lbRefuse(t, e, other, "listLoadBalancerRuleInstances", map[string]string{"id": ruleID}, 531)
	if got := list(v.tenant, map[string]string{"virtualmachineid": vm2ID}); len(got) != 1 || got[0]["id"] != ruleID {
		t.Errorf("rules of vm2: %v", got)
	}
	mgmttest.DoAsync(t, v.tenant, "removeFromLoadBalancerRule", assign("virtualmachineids", vm1ID+","+vm2ID))
	if got := list(v.tenant, map[string]string{"id": ruleID}); got[0]["state"] != "Add" {
		t.Errorf("rule without VMs: %v", got[0]["state"])
	}
	if n := topoInt(t, e, "SELECT COUNT(*) FROM lb_vm_map WHERE lb_id = ?", ruleID); n != 0 {
		t.Errorf("%d mappings left after removing both VMs", n)
	}
	mgmttest.DoAsync(t, v.tenant, "assignToLoadBalancerRule", assign("virtualmachineids", vm1ID))

	// Update.
	lbRefuse(t, e, v.tenant, "updateLoadBalancerRule", map[string]string{"id": ruleID, "algorithm": "fastest"}, 431)
	lbRefuse(t, e, other, "updateLoadBalancerRule", map[string]string{"id": ruleID, "algorithm": "source"}, 531)
	up := mgmttest.DoAsync(t, v.tenant, "updateLoadBalancerRule", map[string]string{"id": ruleID, "algorithm": "leastconn",
		"description": "updated"})["loadbalancer"].(map[string]any)
	topoWant(t, "updated rule", up, "algorithm", "leastconn", "description", "updated", "state", "Active", "publicport", "80")

	// Stickiness, validated as CloudStack's genericValidator and HAProxy validation do.
	stick := func(method string, kv ...string) map[string]string {
		p := map[string]string{"lbruleid": ruleID, "name": "sticky", "methodname": method}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	for _, tc := range []struct {
		p    map[string]string
		text string
	}{
		{stick("RoundTrip"), "Stickiness method"},
		{stick("LbCookie", "param[0].name", "expire", "param[0].value", "3h"), "does not support param"},
		{stick("LbCookie", "param[0].name", "cookie-name"), "Value expected"},
		{stick("SourceBased", "param[0].name", "expire", "param[0].value", "30x"), "expire is not in timeformat"},
		{stick("SourceBased", "param[0].name", "tablesize", "param[0].value", "200"), "tablesize"},
		{stick("AppCookie", "param[0].name", "length", "param[0].value", "ten"), "length is not a number"},
		{stick("AppCookie", "param[0].name", "holdtime", "param[0].value", "3y"), "holdtime"},
		{stick("LbCookie", "lbruleid", "00000000-0000-4000-8000-000000000000"), "not present"},
	} {
		if text := lbRefuse(t, e, v.tenant, "createLBStickinessPolicy", tc.p, 431); !strings.Contains(text, tc.text) {
			t.Errorf("stickiness %v: %q does not mention %q", tc.p, text, tc.text)
		}
	}
	lbRefuse(t, e, other, "createLBStickinessPolicy", stick("LbCookie"), 531)
	sp := mgmttest.DoAsync(t, v.tenant, "createLBStickinessPolicy", stick("lbcookie", "param[0].name", "cookie-name",
		"param[0].value", "SRV", "param[1].name", "nocache"))["stickinesspolicies"].(map[string]any)
	pol := sp["stickinesspolicy"].([]any)[0].(map[string]any)
	topoWant(t, "stickiness policy", pol, "methodname", "LbCookie", "name", "sticky")
	if ps := pol["params"].(map[string]any); ps["cookie-name"] != "SRV" || ps["nocache"] != "" {
		t.Errorf("stickiness params: %v", ps)
	}
	// A second policy replaces the first, as CloudStack's applyLBStickinessPolicy does.
	sp2 := mgmttest.DoAsync(t, v.tenant, "createLBStickinessPolicy", stick("SourceBased", "param[0].name", "expire",
		"param[0].value", "30m", "param[1].name", "tablesize", "param[1].value", "200k"))["stickinesspolicies"].(map[string]any)
	sp2ID := sp2["stickinesspolicy"].([]any)[0].(map[string]any)["id"].(string)
	ls := topoItems(t, mgmttest.Do(t, v.tenant, "listLBStickinessPolicies", map[string]string{"lbruleid": ruleID}), "stickinesspolicies")
	if pols := ls[0]["stickinesspolicy"].([]any); len(pols) != 1 || pols[0].(map[string]any)["id"] != sp2ID {
		t.Errorf("stickiness policies after a second one: %v", ls)
	}
	if n := topoInt(t, e, "SELECT COUNT(*) FROM lb_stickiness_policies WHERE lb_id = ?", ruleID); n != 1 {
		t.Errorf("%d stickiness rows", n)
	}

	// Health checks.
	hc := func(kv ...string) map[string]string {
		p := map[string]string{"lbruleid": ruleID}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	if text := lbRefuse(t, e, v.tenant, "createLBHealthCheckPolicy", hc("responsetimeout", "10", "intervaltime", "5"), 430); !strings.Contains(text, "interval") {
		t.Errorf("health check timeout > interval: %s", text)
	}
	lbRefuse(t, e, v.tenant, "createLBHealthCheckPolicy", hc("responsetimeout", "90"), 430)
	lbRefuse(t, e, v.tenant, "createLBHealthCheckPolicy", hc("lbruleid", "00000000-0000-4000-8000-000000000000"), 430)
	lbRefuse(t, e, other, "createLBHealthCheckPolicy", hc(), 531)
	h := mgmttest.DoAsync(t, v.tenant, "createLBHealthCheckPolicy", hc("pingpath", "/health", "intervaltime", "10"))["healthcheckpolicies"].(map[string]any)
	hp := h["healthcheckpolicy"].([]any)[0].(map[string]any)
	topoWant(t, "health check", hp, "pingpath", "/health", "healthcheckinterval", float64(10), "responsetime", float64(2),
		"healthcheckthresshold", float64(2), "unhealthcheckthresshold", float64(1))
	if text := lbRefuse(t, e, v.tenant, "createLBHealthCheckPolicy", hc(), 430); !strings.Contains(text, "Already policy attached") {
		t.Errorf("second health check: %s", text)
	}
	lh := topoItems(t, mgmttest.Do(t, v.tenant, "listLBHealthCheckPolicies", map[string]string{"id": hp["id"].(string)}), "healthcheckpolicies")
	if lh[0]["lbruleid"] != ruleID || len(lh[0]["healthcheckpolicy"].([]any)) != 1 {
		t.Errorf("health check list: %v", lh)
	}
	for _, rc := range lastProgram().Rules {
		if rc.Rule.ID == ruleID && (len(rc.HealthCheck) != 1 || len(rc.Stickiness) != 1 || rc.Rule.Algorithm != "leastconn") {
			t.Errorf("ApplyLB's rule: %d health checks, %d stickiness, %s", len(rc.HealthCheck), len(rc.Stickiness), rc.Rule.Algorithm)
		}
	}
	lbRefuse(t, e, other, "deleteLBHealthCheckPolicy", map[string]string{"id": hp["id"].(string)}, 531)
	mgmttest.DoAsync(t, v.tenant, "deleteLBHealthCheckPolicy", map[string]string{"id": hp["id"].(string)})
	mgmttest.DoAsync(t, v.tenant, "deleteLBStickinessPolicy", map[string]string{"id": sp2ID})
	if n := topoInt(t, e, "SELECT COUNT(*) FROM lb_stickiness_policies WHERE lb_id = ?", ruleID) +
		topoInt(t, e, "SELECT COUNT(*) FROM lb_healthcheck_policies WHERE lb_id = ?", ruleID); n != 0 {
		t.Errorf("%d policies left after deleting them", n)
	}

	// A router that can't be programmed: each job fails and its change is undone, as CloudStack
	// rolls back for the VirtualRouter provider.
	network.ProgramLB = func(context.Context, *orchestrate.Deps, *network.LBConfig) error {
		return orchestrate.ErrInternal("router unreachable")
	}
	before := lbState(t, e)
	for _, tc := range []struct {
		cmd string
		p   map[string]string
	}{
		{"removeFromLoadBalancerRule", assign("virtualmachineids", vm1ID)},
		{"assignToLoadBalancerRule", assign("virtualmachineids", vm2ID)},
		{"updateLoadBalancerRule", map[string]string{"id": ruleID, "algorithm": "source"}},
		{"deleteLoadBalancerRule", map[string]string{"id": ruleID}},
		{"createLoadBalancerRule", create("name", "web8", "publicport", "8080")},
		{"createLBStickinessPolicy", stick("SourceBased")},
		{"createLBHealthCheckPolicy", hc()},
	} {
		if code, text := jobFails(t, v.tenant, tc.cmd, tc.p); code != 530 || !strings.Contains(text, "router unreachable") {
			t.Errorf("%s with a failing router: %d %s", tc.cmd, code, text)
		}
		if lbState(t, e) != before {
			t.Errorf("%s failed at the router but changed the database", tc.cmd)
			before = lbState(t, e)
		}
	}
	network.ProgramLB = nil
	if err := network.ApplyLB(ctx, &orchestrate.Deps{DB: e.Server.DB}, v.network); err != nil {
		t.Fatal(err)
	}
	if got := list(v.tenant, map[string]string{"id": ruleID}); got[0]["state"] != "Active" || got[0]["algorithm"] != "leastconn" {
		t.Errorf("rule after the failed changes: %v", got[0])
	}
	mgmttest.DoAsync(t, v.tenant, "removeFromLoadBalancerRule", assign("virtualmachineids", vm1ID))

	// Tags, then delete: the rule, its tags and its rows go.
	mgmttest.DoAsync(t, v.tenant, "assignToLoadBalancerRule", assign("virtualmachineids", vm1ID))
	mgmttest.DoAsync(t, v.tenant, "createTags", map[string]string{"resourcetype": "LoadBalancer", "resourceids": ruleID,
		"tags[0].key": "tier", "tags[0].value": "web"})
	if got := list(v.tenant, map[string]string{"tags[0].key": "tier", "tags[0].value": "web"}); len(got) != 1 || len(got[0]["tags"].([]any)) != 1 {
		t.Errorf("list by tag: %v", got)
	}
	lbRefuse(t, e, other, "deleteLoadBalancerRule", map[string]string{"id": ruleID}, 531)
	lbRefuse(t, e, v.tenant, "deleteLoadBalancerRule", map[string]string{"id": "00000000-0000-4000-8000-000000000000"}, 431)
	mgmttest.DoAsync(t, v.tenant, "deleteLoadBalancerRule", map[string]string{"id": ruleID})
	if got := list(v.tenant, map[string]string{"id": ruleID}); len(got) != 0 {
		t.Errorf("deleted rule still listed: %v", got)
	}
	if n := topoInt(t, e, "SELECT COUNT(*) FROM lb_vm_map WHERE lb_id = ?", ruleID) +
		topoInt(t, e, "SELECT COUNT(*) FROM resource_tags WHERE resource_id = ?", ruleID); n != 0 {
		t.Errorf("%d rows of the deleted rule left", n)
	}
	// The port is free again.
	again := mgmttest.DoAsync(t, v.tenant, "createLoadBalancerRule", create())["loadbalancer"].(map[string]any)
	mgmttest.DoAsync(t, v.tenant, "assignToLoadBalancerRule", map[string]string{"id": again["id"].(string), "virtualmachineids": vm2ID})

	// Expunging a VM takes it out of its rules; deleting the network takes the rules.
	mgmttest.DoAsync(t, e.Admin, "destroyVirtualMachine", map[string]string{"id": vm2ID, "expunge": "true"})
	if got := list(v.tenant, map[string]string{"id": again["id"].(string)}); len(got) != 1 || got[0]["state"] != "Add" {
		t.Errorf("rule after its only VM was expunged: %v", got)
	}
	for _, id := range []string{vm1ID} {
		mgmttest.DoAsync(t, e.Admin, "destroyVirtualMachine", map[string]string{"id": id, "expunge": "true"})
	}
	mgmttest.DoAsync(t, v.tenant, "deleteNetwork", map[string]string{"id": v.network})
	if n := topoInt(t, e, "SELECT COUNT(*) FROM load_balancer_rules WHERE network_id = ?", v.network); n != 0 {
		t.Errorf("%d rules left on the deleted network", n)
	}
}
