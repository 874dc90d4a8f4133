package dnsmasq

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Config is what one network's dnsmasq serves.
type Config struct {
	// Namespace is the router namespace, by name (under /var/run/netns) or path.
	Namespace string
	// Interface is the router's guest-side link in the namespace (guest0).
	Interface string
	// Gateway is the router's address on the guest network with the network's prefix length
	// (10.1.1.1/24): dnsmasq listens there and hands it out as router and DNS server.
	Gateway netip.Prefix
	// Router, when valid, is the default route handed out instead of Gateway: a shared
	// network's own gateway, when the router only serves DHCP, DNS and metadata.
	Router netip.Addr
	// Domain is the network domain (CloudStack's networkdomain): VM names resolve in it.
	Domain string
	// DNS are the upstream servers for every other name.
	DNS []netip.Addr
	// Leases are the static leases, one per VM NIC on the network.
	Leases []Lease
}

// Lease is one VM NIC's static lease.
type Lease struct {
	MAC      string
	IP       netip.Addr
	Hostname string
}

var (
	hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	domainRE   = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	ifnameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
)

// normalize checks c and returns a copy with MACs in canonical form and leases sorted by
// address, so equal configurations render to equal files.
func (c Config) normalize() (Config, error) {
	if c.Namespace == "" {
		return c, fmt.Errorf("dnsmasq: no namespace")
	}
	if !ifnameRE.MatchString(c.Interface) {
		return c, fmt.Errorf("dnsmasq: bad interface name %q", c.Interface)
	}
	if !c.Gateway.IsValid() || !c.Gateway.Addr().Is4() || c.Gateway.Bits() < 1 || c.Gateway.Bits() > 30 {
		return c, fmt.Errorf("dnsmasq: gateway %v is not an IPv4 address with a /1-/30 prefix", c.Gateway)
	}
	if c.Gateway.Addr() == c.Gateway.Masked().Addr() {
		return c, fmt.Errorf("dnsmasq: gateway %v is the network address", c.Gateway)
	}
	if c.Domain != "" && !domainRE.MatchString(c.Domain) {
		return c, fmt.Errorf("dnsmasq: bad network domain %q", c.Domain)
	}
	for _, d := range c.DNS {
		if !d.IsValid() {
			return c, fmt.Errorf("dnsmasq: invalid upstream DNS address")
		}
	}
	out := c
	out.DNS = slices.Clone(c.DNS)
	out.Leases = make([]Lease, 0, len(c.Leases))
	seenIP := map[netip.Addr]bool{}
	seenMAC := map[string]bool{}
	seenName := map[string]bool{}
	for _, l := range c.Leases {
		hw, err := net.ParseMAC(l.MAC)
		if err != nil || len(hw) != 6 {
			return c, fmt.Errorf("dnsmasq: lease %v: bad MAC %q", l.IP, l.MAC)
		}
		l.MAC = hw.String()
		if !l.IP.Is4() || !c.Gateway.Contains(l.IP) || l.IP == c.Gateway.Addr() || l.IP == c.Gateway.Masked().Addr() {
			return c, fmt.Errorf("dnsmasq: lease %s: address %v is not a host address of %v", l.MAC, l.IP, c.Gateway.Masked())
		}
		if l.Hostname != "" && !hostnameRE.MatchString(l.Hostname) {
			return c, fmt.Errorf("dnsmasq: lease %v: bad hostname %q", l.IP, l.Hostname)
		}
		lname := strings.ToLower(l.Hostname)
		switch {
		case seenIP[l.IP]:
			return c, fmt.Errorf("dnsmasq: two leases for %v", l.IP)
		case seenMAC[l.MAC]:
			return c, fmt.Errorf("dnsmasq: two leases for MAC %s", l.MAC)
		case lname != "" && seenName[lname]:
			return c, fmt.Errorf("dnsmasq: two leases named %q", l.Hostname)
		}
		seenIP[l.IP], seenMAC[l.MAC] = true, true
		if lname != "" {
			seenName[lname] = true
		}
		out.Leases = append(out.Leases, l)
	}
	slices.SortFunc(out.Leases, func(a, b Lease) int { return a.IP.Compare(b.IP) })
	return out, nil
}

// files are the paths of one network's state directory.
type files struct {
	dir, conf, hosts, addnHosts, leases, pid, log string
}

func filesIn(dir string) files {
	return files{
		dir:       dir,
		conf:      dir + "/dnsmasq.conf",
		hosts:     dir + "/dhcp-hosts",
		addnHosts: dir + "/hosts",
		leases:    dir + "/leases",
		pid:       dir + "/dnsmasq.pid",
		log:       dir + "/dnsmasq.log",
	}
}

// renderConf is dnsmasq.conf: what only a restart changes. The leases live in dhcp-hosts and
// hosts, which a SIGHUP re-reads.
func renderConf(id string, c Config, f files) []byte {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	tag := "net"
	netw := c.Gateway.Masked()
	w("# Atoll: DHCP and DNS for network %s. Written by the agent; edits are lost.", id)
	// The namespace is part of the file so that a router moved to another namespace is a
	// configuration change: dnsmasq restarts there.
	w("# namespace %s", c.Namespace)
	w("no-resolv")
	w("no-hosts")
	w("no-poll")
	w("interface=%s", c.Interface)
	w("except-interface=lo")
	w("bind-interfaces")
	w("listen-address=%s", c.Gateway.Addr())
	w("pid-file=%s", f.pid)
	w("log-facility=%s", f.log)
	w("dhcp-leasefile=%s", f.leases)
	w("dhcp-hostsfile=%s", f.hosts)
	w("addn-hosts=%s", f.addnHosts)
	w("dhcp-authoritative")
	// Static only: an address is handed out to a MAC listed in dhcp-hosts, never from a pool.
	w("dhcp-range=set:%s,%s,static,%s,infinite", tag, netw.Addr(), net.IP(net.CIDRMask(netw.Bits(), 32)))
	router := c.Gateway.Addr()
	if c.Router.IsValid() {
		router = c.Router
	}
	w("dhcp-option=tag:%s,option:router,%s", tag, router)
	w("dhcp-option=tag:%s,option:dns-server,%s", tag, c.Gateway.Addr())
	if c.Domain != "" {
		w("domain=%s", c.Domain)
		w("dhcp-option=tag:%s,option:domain-name,%s", tag, c.Domain)
		// Names in the network domain are answered here only, never forwarded.
		w("local=/%s/", c.Domain)
		w("expand-hosts")
	}
	for _, d := range c.DNS {
		w("server=%s", d)
	}
	return []byte(b.String())
}

// renderHosts is the dhcp-hostsfile: one static lease a line, infinite as CloudStack's VR.
func renderHosts(c Config) []byte {
	var b strings.Builder
	for _, l := range c.Leases {
		if l.Hostname != "" {
			fmt.Fprintf(&b, "%s,%s,%s,infinite\n", l.MAC, l.IP, l.Hostname)
		} else {
			fmt.Fprintf(&b, "%s,%s,infinite\n", l.MAC, l.IP)
		}
	}
	return []byte(b.String())
}

// renderAddnHosts is the DNS side: every VM's name (bare and in the domain) whether or not it
// holds a lease yet, and data-server for the gateway (cloud-init's CloudStack data source
// looks it up first).
func renderAddnHosts(c Config) []byte {
	var b strings.Builder
	names := func(n string) string {
		if c.Domain == "" {
			return n
		}
		return n + "." + c.Domain + " " + n
	}
	fmt.Fprintf(&b, "%s %s\n", c.Gateway.Addr(), names("data-server"))
	for _, l := range c.Leases {
		if l.Hostname != "" {
			fmt.Fprintf(&b, "%s %s\n", l.IP, names(l.Hostname))
		}
	}
	return []byte(b.String())
}

// renderLeases seeds dnsmasq's lease database before it starts (neutron and CloudStack do
// the same) so a dnsmasq started on a new host knows the leases the VMs already hold.
func renderLeases(c Config) []byte {
	var b strings.Builder
	for _, l := range c.Leases {
		name := l.Hostname
		if name == "" {
			name = "*"
		}
		fmt.Fprintf(&b, "0 %s %s %s *\n", l.MAC, l.IP, name)
	}
	return []byte(b.String())
}

// heldLease is one line of dnsmasq's lease file.
type heldLease struct {
	MAC string
	IP  netip.Addr
}

func parseLeases(data []byte) []heldLease {
	var out []heldLease
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue // includes the "duid" line of DHCPv6
		}
		hw, err := net.ParseMAC(f[1])
		if err != nil {
			continue
		}
		ip, err := netip.ParseAddr(f[2])
		if err != nil || !ip.Is4() {
			continue
		}
		out = append(out, heldLease{MAC: hw.String(), IP: ip})
	}
	return out
}

// stale are the held leases the configuration no longer grants: a removed VM, a VM whose
// address changed, an address that moved to another MAC.
func stale(held []heldLease, c Config) []heldLease {
	want := map[heldLease]bool{}
	for _, l := range c.Leases {
		want[heldLease{MAC: l.MAC, IP: l.IP}] = true
	}
	var out []heldLease
	for _, h := range held {
		if !want[h] {
			out = append(out, h)
		}
	}
	return out
}
