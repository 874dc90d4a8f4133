package api_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
)

// Public IPs and the rules on them, as CloudStack answers them (requests in, responses out),
// on SQLite and on MariaDB.
func TestPublicIPRules(t *testing.T) { publicIPRules(t, false) }

func TestPublicIPRulesOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	publicIPRules(t, true)
}

func wantFail(t *testing.T, c *api.Client, cmd string, p map[string]string, code int, contains ...string) {
	t.Helper()
	text := mgmttest.Fail(t, c, cmd, p, code)
	for _, s := range contains {
		if !strings.Contains(text, s) {
			t.Errorf("%s %v: error %q lacks %q", cmd, p, text, s)
		}
	}
}

func publicIPRules(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	a, u := v.Admin, v.tenant
	vm1 := v.deploy(t, u, map[string]string{"name": "pf1", "networkids": v.network})
	vm1ID := vm1["id"].(string)
	vm1IP := vm1["nic"].([]any)[0].(map[string]any)["ipaddress"].(string)
	vm2 := v.deploy(t, u, map[string]string{"name": "pf2", "networkids": v.network})
	vm2ID := vm2["id"].(string)
	ips := func(p map[string]string) []map[string]any {
		return topoItems(t, mgmttest.Do(t, u, "listPublicIpAddresses", p), "publicipaddress")
	}
	allocated := func() int64 {
		return topoInt(t, v.Env, "SELECT COUNT(*) FROM public_ips WHERE account_id = ? AND state <> 'Free'", v.accountID)
	}
	counted := func() int64 {
		return topoInt(t, v.Env, "SELECT COALESCE(SUM(count_value),0) FROM resource_counts WHERE owner_id = ? AND resource_type = 'public_ip'", v.accountID)
	}
	rules := func() int64 { return topoInt(t, v.Env, "SELECT COUNT(*) FROM firewall_rules") }

	// The source NAT address of the implemented network.
	snat := ips(map[string]string{"associatednetworkid": v.network})
	if len(snat) != 1 {
		t.Fatalf("source NAT addresses: %v", snat)
	}
	topoWant(t, "source NAT", snat[0], "issourcenat", true, "isstaticnat", false, "state", "Allocated", "associatednetworkid", v.network,
		"forvirtualnetwork", true, "account", "vmuser")
	snatID := snat[0]["id"].(string)

	// associateIpAddress: Allocated through its job; counted; listed by the filters Ansible uses.
	ip := mgmttest.DoAsync(t, u, "associateIpAddress", map[string]string{"networkid": v.network})["ipaddress"].(map[string]any)
	ipID, addr := ip["id"].(string), ip["ipaddress"].(string)
	topoWant(t, "associated", ip, "state", "Allocated", "issourcenat", false, "isstaticnat", false, "associatednetworkid", v.network)
	if _, ok := ip["tags"].([]any); !ok {
		t.Errorf("associated address without tags: %v", ip)
	}
	if allocated() != 2 || counted() != 2 {
		t.Fatalf("after associate: %d allocated, %d counted", allocated(), counted())
	}
	if l := ips(map[string]string{"ipaddress": addr}); len(l) != 1 || l[0]["id"] != ipID {
		t.Fatalf("listPublicIpAddresses ipaddress=%s: %v", addr, l)
	}
	if l := ips(map[string]string{"issourcenat": "true"}); len(l) != 1 || l[0]["id"] != snatID {
		t.Fatalf("issourcenat=true: %v", l)
	}
	// zoneid alone takes the account's one Isolated network.
	ip2 := mgmttest.DoAsync(t, u, "associateIpAddress", map[string]string{"zoneid": v.zoneID})["ipaddress"].(map[string]any)
	ip2ID := ip2["id"].(string)
	topoWant(t, "associated by zone", ip2, "associatednetworkid", v.network)
	mgmttest.Do(t, u, "createTags", map[string]string{"resourcetype": "publicipaddress", "resourceids": ip2ID,
		"tags[0].key": "role", "tags[0].value": "web"})
	if l := ips(map[string]string{"tags[0].key": "role", "tags[0].value": "web"}); len(l) != 1 || l[0]["id"] != ip2ID {
		t.Fatalf("by tag: %v", l)
	}
	if l := ips(map[string]string{"allocatedonly": "false", "zoneid": v.zoneID}); len(l) < 200 {
		t.Fatalf("allocatedonly=false lists %d addresses, want the free ones too", len(l))
	}
	// Bad input changes nothing.
	wantFail(t, u, "associateIpAddress", map[string]string{"networkid": v.network, "ipaddress": addr}, 533, "Insufficient address capacity")
	wantFail(t, u, "associateIpAddress", map[string]string{}, 431, "zoneId")
	wantFail(t, u, "associateIpAddress", map[string]string{"networkid": "0b5d8d3c-0000-4000-8000-000000000000"}, 431)
	if allocated() != 3 || counted() != 3 {
		t.Fatalf("refused associates changed counts: %d allocated, %d counted", allocated(), counted())
	}
	// An exhausted public range: InsufficientAddressCapacityException, 533, nothing taken.
	free := topoInt(t, v.Env, "SELECT COUNT(*) FROM public_ips WHERE zone_id = ? AND state = 'Free'", v.zoneID)
	topoExec(t, v.Env, "UPDATE public_ips SET state = 'Reserved' WHERE zone_id = ? AND state = 'Free'", v.zoneID)
	wantFail(t, u, "associateIpAddress", map[string]string{"networkid": v.network}, 533, "Insufficient address capacity")
	topoExec(t, v.Env, "UPDATE public_ips SET state = 'Free' WHERE zone_id = ? AND state = 'Reserved'", v.zoneID)
	if allocated() != 3 || counted() != 3 || topoInt(t, v.Env, "SELECT COUNT(*) FROM public_ips WHERE zone_id = ? AND state = 'Free'", v.zoneID) != free {
		t.Fatalf("exhausted associate changed something")
	}

	// Port forwarding: Active through its job, ports as CloudStack renders them.
	pf := mgmttest.DoAsync(t, u, "createPortForwardingRule", map[string]string{"ipaddressid": ipID, "protocol": "tcp", "publicport": "22",
		"privateport": "22", "virtualmachineid": vm1ID, "openfirewall": "false"})["portforwardingrule"].(map[string]any)
	topoWant(t, "port forwarding", pf, "state", "Active", "publicport", "22", "publicendport", "22", "privateport", "22",
		"vmguestip", vm1IP, "virtualmachineid", vm1ID, "virtualmachinename", "pf1", "ipaddress", addr, "networkid", v.network)
	pfID := pf["id"].(string)
	before := rules()
	wantFail(t, u, "createPortForwardingRule", map[string]string{"ipaddressid": ipID, "protocol": "tcp", "publicport": "20",
		"publicendport": "30", "privateport": "20", "privateendport": "30", "virtualmachineid": vm2ID}, 537,
		"The range specified, 20-30, conflicts with rule")
	wantFail(t, u, "createPortForwardingRule", map[string]string{"ipaddressid": ipID, "protocol": "icmp", "publicport": "1",
		"privateport": "1", "virtualmachineid": vm2ID}, 431, "protocol")
	wantFail(t, u, "createPortForwardingRule", map[string]string{"ipaddressid": ipID, "protocol": "tcp", "publicport": "70000",
		"privateport": "1", "virtualmachineid": vm2ID}, 431, "publicPort is an invalid value")
	wantFail(t, u, "createPortForwardingRule", map[string]string{"ipaddressid": ipID, "protocol": "tcp", "publicport": "100",
		"publicendport": "110", "privateport": "100", "privateendport": "105", "virtualmachineid": vm2ID}, 431, "equal sizes")
	if rules() != before {
		t.Fatalf("refused rules left rows: %d, want %d", rules(), before)
	}
	// The same ports with another protocol are fine.
	mgmttest.DoAsync(t, u, "createPortForwardingRule", map[string]string{"ipaddressid": ipID, "protocol": "udp", "publicport": "22",
		"privateport": "22", "virtualmachineid": vm2ID, "openfirewall": "false"})
	if l := topoItems(t, mgmttest.Do(t, u, "listPortForwardingRules", map[string]string{"ipaddressid": ipID}), "portforwardingrule"); len(l) != 2 {
		t.Fatalf("listPortForwardingRules: %v", l)
	}
	// openfirewall (CloudStack's default) opens an ingress rule that goes with the rule.
	pf443 := mgmttest.DoAsync(t, u, "createPortForwardingRule", map[string]string{"ipaddressid": ipID, "protocol": "tcp",
		"publicport": "443", "privateport": "8443", "virtualmachineid": vm1ID})["portforwardingrule"].(map[string]any)
	fws := topoItems(t, mgmttest.Do(t, u, "listFirewallRules", map[string]string{"ipaddressid": ipID}), "firewallrule")
	if len(fws) != 1 {
		t.Fatalf("openfirewall: firewall rules %v", fws)
	}
	topoWant(t, "opened firewall rule", fws[0], "protocol", "tcp", "startport", 443, "endport", 443, "cidrlist", "0.0.0.0/0", "traffictype", "Ingress")
	mgmttest.DoAsync(t, u, "deletePortForwardingRule", map[string]string{"id": pf443["id"].(string)})
	if l := topoItems(t, mgmttest.Do(t, u, "listFirewallRules", map[string]string{"ipaddressid": ipID}), "firewallrule"); len(l) != 0 {
		t.Fatalf("the opened firewall rule outlived its port forwarding rule: %v", l)
	}

	// Static NAT: refused on an address with port forwarding, and on the source NAT address.
	wantFail(t, u, "enableStaticNat", map[string]string{"ipaddressid": ipID, "virtualmachineid": vm1ID}, 537,
		"as it already has PortForwarding rules assigned")
	wantFail(t, u, "enableStaticNat", map[string]string{"ipaddressid": snatID, "virtualmachineid": vm1ID}, 431, "sourceNat")
	mgmttest.Do(t, u, "enableStaticNat", map[string]string{"ipaddressid": ip2ID, "virtualmachineid": vm1ID})
	topoWant(t, "static NAT", ips(map[string]string{"id": ip2ID})[0], "isstaticnat", true, "virtualmachineid", vm1ID, "vmipaddress", vm1IP)
	if l := ips(map[string]string{"isstaticnat": "true"}); len(l) != 1 || l[0]["id"] != ip2ID {
		t.Fatalf("isstaticnat=true: %v", l)
	}
	wantFail(t, u, "createPortForwardingRule", map[string]string{"ipaddressid": ip2ID, "protocol": "tcp", "publicport": "80",
		"privateport": "80", "virtualmachineid": vm1ID}, 431, "has static nat enabled")
	// What ApplyRules will hand the router.
	nw, err := db.GetNetwork(context.Background(), v.Server.DB.SQL, v.network)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := network.Rules(context.Background(), v.Server.DB.SQL, nw)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.PortForwards) != 2 || len(rs.Ingress) != 0 || len(rs.Egress) != 0 || rs.SourceNAT != snat[0]["ipaddress"] ||
		len(rs.StaticNAT) != 1 || rs.StaticNAT[0].Guest != vm1IP || len(rs.PublicAddress) != 3 || rs.EgressAllow != topoItems(t, mgmttest.Do(t, u, "listNetworks", map[string]string{"id": v.network}), "network")[0]["egressdefaultpolicy"] {
		t.Fatalf("rule set: %+v", rs)
	}
	wantFail(t, u, "disableStaticNat", map[string]string{"ipaddressid": ipID}, 431, "not associated with any vm")
	mgmttest.DoAsync(t, u, "disableStaticNat", map[string]string{"ipaddressid": ip2ID})
	topoWant(t, "static NAT off", ips(map[string]string{"id": ip2ID})[0], "isstaticnat", false)

	// Ingress firewall rules: validation, then one rule.
	for _, bad := range []struct {
		p    map[string]string
		code int
		want string
	}{
		{map[string]string{"protocol": "gre"}, 431, "protocol"},
		{map[string]string{"protocol": "tcp", "cidrlist": "10.0.0.0/33"}, 431, "cidrlist"},
		{map[string]string{"protocol": "tcp", "startport": "90", "endport": "80"}, 431, "Start port can't be bigger than end port"},
		{map[string]string{"protocol": "icmp", "startport": "80"}, 431, "ICMP"},
		{map[string]string{"protocol": "tcp", "icmptype": "8"}, 431, "ICMP protocol only"},
	} {
		bad.p["ipaddressid"] = ipID
		wantFail(t, u, "createFirewallRule", bad.p, bad.code, bad.want)
	}
	fw := mgmttest.DoAsync(t, u, "createFirewallRule", map[string]string{"ipaddressid": ipID, "protocol": "tcp", "startport": "80",
		"endport": "81", "cidrlist": "10.0.0.0/8,192.0.2.0/24"})["firewallrule"].(map[string]any)
	topoWant(t, "firewall rule", fw, "state", "Active", "startport", 80, "endport", 81, "cidrlist", "10.0.0.0/8,192.0.2.0/24", "ipaddress", addr)
	upd := mgmttest.DoAsync(t, u, "updateFirewallRule", map[string]string{"id": fw["id"].(string), "fordisplay": "false"})["firewallrule"].(map[string]any)
	topoWant(t, "updated firewall rule", upd, "fordisplay", false, "startport", 80)
	if l := topoItems(t, mgmttest.Do(t, u, "listFirewallRules", map[string]string{"ipaddressid": ipID, "fordisplay": "true"}), "firewallrule"); len(l) != 0 {
		t.Fatalf("fordisplay=true lists a hidden rule: %v", l)
	}
	wantFail(t, u, "updateEgressFirewallRule", map[string]string{"id": fw["id"].(string)}, 431)
	icmp := mgmttest.DoAsync(t, u, "createFirewallRule", map[string]string{"ipaddressid": ipID, "protocol": "icmp"})["firewallrule"].(map[string]any)
	topoWant(t, "icmp rule", icmp, "icmptype", -1, "icmpcode", -1)
	wantFail(t, u, "createFirewallRule", map[string]string{"ipaddressid": ipID, "protocol": "icmp"}, 431, "conflicts with existing rule")
	// Another tenant's address: CloudStack's permission error.
	other, _ := tenant(t, v.Env, "stranger", "0", "")
	before = rules()
	wantFail(t, other, "createFirewallRule", map[string]string{"ipaddressid": ipID, "protocol": "tcp", "startport": "1"}, 531)
	wantFail(t, other, "createPortForwardingRule", map[string]string{"ipaddressid": ipID, "protocol": "tcp", "publicport": "5",
		"privateport": "5", "virtualmachineid": vm1ID}, 531)
	wantFail(t, other, "deleteFirewallRule", map[string]string{"id": fw["id"].(string)}, 531)
	wantFail(t, other, "disassociateIpAddress", map[string]string{"id": ipID}, 531)
	if rules() != before {
		t.Fatalf("refused rules left rows")
	}
	wantFail(t, u, "deleteFirewallRule", map[string]string{"id": pfID}, 431)

	// Unknown ids: 431, nothing made.
	before = rules()
	unknown := "0b5d8d3c-0000-4000-8000-00000000abcd"
	wantFail(t, u, "createFirewallRule", map[string]string{"ipaddressid": unknown, "protocol": "tcp", "startport": "1"}, 431, "IP address")
	wantFail(t, u, "createPortForwardingRule", map[string]string{"ipaddressid": unknown, "protocol": "tcp", "publicport": "5",
		"privateport": "5", "virtualmachineid": vm1ID}, 431, unknown)
	wantFail(t, u, "createPortForwardingRule", map[string]string{"ipaddressid": ipID, "protocol": "tcp", "publicport": "5",
		"privateport": "5", "virtualmachineid": unknown}, 431, "virtualmachineid")
	wantFail(t, u, "enableStaticNat", map[string]string{"ipaddressid": unknown, "virtualmachineid": vm1ID}, 431)
	wantFail(t, u, "deletePortForwardingRule", map[string]string{"id": unknown}, 431)
	wantFail(t, u, "createEgressFirewallRule", map[string]string{"networkid": unknown, "protocol": "tcp"}, 431)
	if rules() != before {
		t.Fatalf("refused rules left rows")
	}

	// Egress rules: per network, source CIDR defaulting to the network's.
	n := topoItems(t, mgmttest.Do(t, u, "listNetworks", map[string]string{"id": v.network}), "network")[0]
	eg := mgmttest.DoAsync(t, u, "createEgressFirewallRule", map[string]string{"networkid": v.network, "protocol": "tcp",
		"startport": "25", "destcidrlist": "198.51.100.0/24"})["firewallrule"].(map[string]any)
	topoWant(t, "egress rule", eg, "state", "Active", "traffictype", "Egress", "cidrlist", n["cidr"], "destcidrlist", "198.51.100.0/24",
		"startport", 25, "endport", 25, "networkid", v.network)
	wantFail(t, u, "createEgressFirewallRule", map[string]string{"networkid": v.network, "protocol": "tcp", "cidrlist": "192.0.2.0/24"},
		431, "is not within the guest cidr")
	if l := topoItems(t, mgmttest.Do(t, u, "listEgressFirewallRules", map[string]string{"networkid": v.network}), "firewallrule"); len(l) != 1 {
		t.Fatalf("listEgressFirewallRules: %v", l)
	}
	mgmttest.DoAsync(t, u, "deleteEgressFirewallRule", map[string]string{"id": eg["id"].(string)})
	if l := topoItems(t, mgmttest.Do(t, u, "listEgressFirewallRules", map[string]string{"networkid": v.network}), "firewallrule"); len(l) != 0 {
		t.Fatalf("deleted egress rule still listed: %v", l)
	}

	// updatePortForwardingRule moves the rule to another VM.
	upd = mgmttest.DoAsync(t, u, "updatePortForwardingRule", map[string]string{"id": pfID, "virtualmachineid": vm2ID})["portforwardingrule"].(map[string]any)
	topoWant(t, "updated rule", upd, "virtualmachineid", vm2ID, "state", "Active")
	upd = mgmttest.DoAsync(t, a, "updateIpAddress", map[string]string{"id": ipID, "fordisplay": "false"})["ipaddress"].(map[string]any)
	topoWant(t, "updated address", upd, "fordisplay", false)

	// disassociateIpAddress: never the source NAT address; an address's rules go with it.
	wantFail(t, u, "disassociateIpAddress", map[string]string{"id": snatID}, 431, "source nat")
	mgmttest.DoAsync(t, u, "disassociateIpAddress", map[string]string{"id": ipID})
	if k := topoInt(t, v.Env, "SELECT COUNT(*) FROM firewall_rules WHERE ip_id = ?", ipID); k != 0 {
		t.Fatalf("%d rules outlived their address", k)
	}
	mgmttest.DoAsync(t, u, "disassociateIpAddress", map[string]string{"id": ip2ID})
	if allocated() != 1 || counted() != 1 {
		t.Fatalf("after disassociate: %d allocated, %d counted", allocated(), counted())
	}
	if k := topoInt(t, v.Env, "SELECT COUNT(*) FROM resource_tags WHERE resource_id = ?", ip2ID); k != 0 {
		t.Fatalf("tags outlived their address")
	}
}

// An admin associating an address to a tenant's network without account and domainid gives
// it to the network's owner, as CloudStack does (AssociateIPAddrCmd.getEntityOwnerId).
func TestAssociateIPOwnerIsTheNetworks(t *testing.T) {
	v := newVMEnv(t, false)
	ip := mgmttest.DoAsync(t, v.Admin, "associateIpAddress", map[string]string{"networkid": v.network})["ipaddress"].(map[string]any)
	topoWant(t, "admin's association", ip, "account", "vmuser", "associatednetworkid", v.network)
	// The network was Allocated (no VM yet): its first address becomes its source NAT address.
	topoWant(t, "first address", ip, "issourcenat", true)
	wantFail(t, v.tenant, "disassociateIpAddress", map[string]string{"id": ip["id"].(string)}, 431, "source nat")
	other, _ := tenant(t, v.Env, "outsider", "0", "")
	wantFail(t, other, "associateIpAddress", map[string]string{"networkid": v.network}, 531)
	// The first VM implements the network without taking a second source NAT address.
	v.deploy(t, v.tenant, map[string]string{"name": "after", "networkids": v.network})
	if k := topoInt(t, v.Env, "SELECT COUNT(*) FROM public_ips WHERE network_id = ? AND source_nat = 1", v.network); k != 1 {
		t.Fatalf("%d source NAT addresses", k)
	}
}

// Port forwarding rules created at once for one public port range: exactly one is made, the
// others are refused with CloudStack's conflict (the address's row serialises them), on SQLite
// and on MariaDB.
func TestPortForwardingRace(t *testing.T) { portForwardingRace(t, false) }

func TestPortForwardingRaceOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	portForwardingRace(t, true)
}

func portForwardingRace(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	vm := v.deploy(t, v.tenant, map[string]string{"name": "race", "networkids": v.network})
	ip := mgmttest.DoAsync(t, v.tenant, "associateIpAddress", map[string]string{"networkid": v.network})["ipaddress"].(map[string]any)
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			_, err := v.tenant.Do(context.Background(), "createPortForwardingRule", map[string]string{"ipaddressid": ip["id"].(string),
				"protocol": "tcp", "publicport": fmt.Sprint(1000 + i), "publicendport": fmt.Sprint(1100 + i), "privateport": fmt.Sprint(1000 + i),
				"privateendport": fmt.Sprint(1100 + i), "virtualmachineid": vm["id"].(string), "openfirewall": "false"})
			errs <- err
		}(i)
	}
	made := 0
	for i := 0; i < n; i++ {
		err := <-errs
		var ce *api.ClientError
		switch {
		case err == nil:
			made++
		case errors.As(err, &ce) && ce.Status == 537:
		default:
			t.Errorf("createPortForwardingRule: %v", err)
		}
	}
	if k := topoInt(t, v.Env, "SELECT COUNT(*) FROM firewall_rules WHERE ip_id = ?", ip["id"]); made != 1 || k != 1 {
		t.Fatalf("%d rules made (%d rows) from %d overlapping requests, want 1", made, k, n)
	}
}
