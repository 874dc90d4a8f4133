package dnsmasq

import (
	"net/netip"
	"strings"
	"testing"
)

func testConfig() Config {
	return Config{
		Namespace: "atr-x", Interface: "guest0", Gateway: netip.MustParsePrefix("10.1.1.1/24"), Domain: "cs2cloud.internal",
		DNS: []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("192.0.2.54")},
		Leases: []Lease{
			{MAC: "02:00:00:00:00:0C", IP: netip.MustParseAddr("10.1.1.12"), Hostname: "web-2"},
			{MAC: "02-00-00-00-00-0b", IP: netip.MustParseAddr("10.1.1.11"), Hostname: "web-1"},
			{MAC: "02:00:00:00:00:0d", IP: netip.MustParseAddr("10.1.1.13")},
		},
	}
}

func TestRender(t *testing.T) {
	c, err := testConfig().normalize()
	if err != nil {
		t.Fatal(err)
	}
	f := filesIn("/var/lib/atoll/dnsmasq/n1")
	conf := string(renderConf("n1", c, f))
	for _, want := range []string{
		"\nno-resolv\n", "\nno-hosts\n", "\ninterface=guest0\n", "\nbind-interfaces\n", "\nlisten-address=10.1.1.1\n",
		"\npid-file=/var/lib/atoll/dnsmasq/n1/dnsmasq.pid\n",
		"\ndhcp-hostsfile=/var/lib/atoll/dnsmasq/n1/dhcp-hosts\n", "\naddn-hosts=/var/lib/atoll/dnsmasq/n1/hosts\n",
		"\ndhcp-leasefile=/var/lib/atoll/dnsmasq/n1/leases\n",
		"\ndhcp-range=set:net,10.1.1.0,static,255.255.255.0,infinite\n",
		"\ndhcp-option=tag:net,option:router,10.1.1.1\n", "\ndhcp-option=tag:net,option:dns-server,10.1.1.1\n",
		"\ndhcp-option=tag:net,option:domain-name,cs2cloud.internal\n", "\ndomain=cs2cloud.internal\n",
		"\nlocal=/cs2cloud.internal/\n", "\nexpand-hosts\n", "\nserver=192.0.2.53\nserver=192.0.2.54\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("dnsmasq.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "02:00") {
		t.Errorf("leases in dnsmasq.conf (a lease change would need a restart):\n%s", conf)
	}
	if got, want := string(renderHosts(c)), "02:00:00:00:00:0b,10.1.1.11,web-1,infinite\n"+
		"02:00:00:00:00:0c,10.1.1.12,web-2,infinite\n02:00:00:00:00:0d,10.1.1.13,infinite\n"; got != want {
		t.Errorf("dhcp-hosts =\n%s\nwant\n%s", got, want)
	}
	if got, want := string(renderAddnHosts(c)), "10.1.1.1 data-server.cs2cloud.internal data-server\n"+
		"10.1.1.11 web-1.cs2cloud.internal web-1\n10.1.1.12 web-2.cs2cloud.internal web-2\n"; got != want {
		t.Errorf("hosts =\n%s\nwant\n%s", got, want)
	}
	if got, want := string(renderLeases(c)), "0 02:00:00:00:00:0b 10.1.1.11 web-1 *\n0 02:00:00:00:00:0c 10.1.1.12 web-2 *\n"+
		"0 02:00:00:00:00:0d 10.1.1.13 * *\n"; got != want {
		t.Errorf("seeded leases =\n%s\nwant\n%s", got, want)
	}

	// No domain: no domain lines, bare names only.
	c.Domain = ""
	conf = string(renderConf("n1", c, f))
	for _, bad := range []string{"domain", "local=", "expand-hosts"} {
		if strings.Contains(conf, bad) {
			t.Errorf("dnsmasq.conf without a domain has %q:\n%s", bad, conf)
		}
	}
	if got := string(renderAddnHosts(c)); !strings.HasPrefix(got, "10.1.1.1 data-server\n10.1.1.11 web-1\n") {
		t.Errorf("hosts without a domain:\n%s", got)
	}
}

func TestNormalizeRejects(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"no namespace":       func(c *Config) { c.Namespace = "" },
		"bad interface":      func(c *Config) { c.Interface = "guest0\nserver=1.1.1.1" },
		"long interface":     func(c *Config) { c.Interface = "abcdefghijklmnop" },
		"no gateway":         func(c *Config) { c.Gateway = netip.Prefix{} },
		"ipv6 gateway":       func(c *Config) { c.Gateway = netip.MustParsePrefix("fd00::1/64") },
		"network as gateway": func(c *Config) { c.Gateway = netip.MustParsePrefix("10.1.1.0/24") },
		"bad domain":         func(c *Config) { c.Domain = "a b" },
		"domain injection":   func(c *Config) { c.Domain = "x\nserver=9.9.9.9" },
		"bad mac":            func(c *Config) { c.Leases[0].MAC = "zz" },
		"ip outside":         func(c *Config) { c.Leases[0].IP = netip.MustParseAddr("10.1.2.5") },
		"gateway as lease":   func(c *Config) { c.Leases[0].IP = netip.MustParseAddr("10.1.1.1") },
		"duplicate ip":       func(c *Config) { c.Leases[1].IP = c.Leases[0].IP },
		"duplicate mac":      func(c *Config) { c.Leases[1].MAC = c.Leases[0].MAC },
		"duplicate name":     func(c *Config) { c.Leases[1].Hostname = "WEB-2" },
		"hostname injection": func(c *Config) { c.Leases[0].Hostname = "a,set:x" },
		"invalid upstream":   func(c *Config) { c.DNS = append(c.DNS, netip.Addr{}) },
		"broadcast-less /31": func(c *Config) { c.Gateway = netip.MustParsePrefix("10.1.1.1/31") },
	} {
		c := testConfig()
		mut(&c)
		if _, err := c.normalize(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := testConfig().normalize(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

func TestStale(t *testing.T) {
	held := parseLeases([]byte("0 02:00:00:00:00:0b 10.1.1.11 web-1 *\n" +
		"1765000000 02:00:00:00:00:0c 10.1.1.12 web-2 01:02:00:00:00:00:0c\n" +
		"0 02:00:00:00:00:0e 10.1.1.14 gone *\n" +
		"duid 00:01:00:01\n"))
	if len(held) != 3 {
		t.Fatalf("parsed %d leases, want 3: %+v", len(held), held)
	}
	c, _ := testConfig().normalize()
	c.Leases[1].IP = netip.MustParseAddr("10.1.1.22") // web-2 moved
	got := stale(held, c)
	var s []string
	for _, h := range got {
		s = append(s, h.IP.String()+"/"+h.MAC)
	}
	if strings.Join(s, " ") != "10.1.1.12/02:00:00:00:00:0c 10.1.1.14/02:00:00:00:00:0e" {
		t.Errorf("stale = %v", s)
	}
}
