package haproxy

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is one network's load-balancer rules.
type Config struct {
	// Namespace is the router namespace, by name (under /var/run/netns) or path.
	Namespace string
	Rules     []Rule
}

// Rule is one load-balancer rule: a public IP and port spread over members' private port.
type Rule struct {
	Name        string
	Public      netip.Addr
	PublicPort  uint16
	PrivatePort uint16
	// Algorithm is CloudStack's: roundrobin, leastconn or source.
	Algorithm string
	Members   []netip.Addr
	// Stickiness is CloudStack's createLBStickinessPolicy: nil for none.
	Stickiness *Stickiness
	// Health is createLBHealthCheckPolicy: nil for a plain TCP check.
	Health *Health
}

// Stickiness is a stickiness policy: Method LbCookie, AppCookie or SourceBased, with
// CloudStack's parameters (LbCookie: cookie-name, mode, domain, indirect, nocache, postonly;
// AppCookie: cookie-name, length, holdtime, mode, request-learn; SourceBased: tablesize,
// expire).
type Stickiness struct {
	Method string
	Params map[string]string
}

// Health is a health-check policy.
type Health struct {
	PingPath  string // HTTP path checked with GET; empty: TCP connect check
	Interval  time.Duration
	Timeout   time.Duration
	Healthy   int // consecutive successes to come back (rise)
	Unhealthy int // consecutive failures to be taken out (fall)
}

var (
	valueRE = regexp.MustCompile(`^[A-Za-z0-9._:/-]{1,255}$`)
	pathRE  = regexp.MustCompile(`^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,999}$`)
	nameRE  = regexp.MustCompile(`^[^\r\n]{0,255}$`)
	timeRE  = regexp.MustCompile(`^[0-9]+(us|ms|s|m|h|d)?$`)
	sizeRE  = regexp.MustCompile(`^[0-9]+[kmg]?$`)
)

var stickParams = map[string]map[string]bool{
	"lbcookie":    {"cookie-name": true, "mode": true, "domain": true, "indirect": true, "nocache": true, "postonly": true},
	"appcookie":   {"cookie-name": true, "length": true, "holdtime": true, "mode": true, "request-learn": true},
	"sourcebased": {"tablesize": true, "expire": true},
}

// check validates c; it also refuses anything that could break out of its line in the file.
func (c Config) check() error {
	if c.Namespace == "" {
		return fmt.Errorf("haproxy: no namespace")
	}
	seen := map[netip.AddrPort]string{}
	for i, r := range c.Rules {
		what := fmt.Sprintf("haproxy: rule %d (%s)", i, r.Name)
		if !nameRE.MatchString(r.Name) {
			return fmt.Errorf("haproxy: rule %d: bad name %q", i, r.Name)
		}
		if !r.Public.Is4() {
			return fmt.Errorf("%s: public address %v is not IPv4", what, r.Public)
		}
		if r.PublicPort == 0 || r.PrivatePort == 0 {
			return fmt.Errorf("%s: ports must be 1-65535", what)
		}
		ap := netip.AddrPortFrom(r.Public, r.PublicPort)
		if o, dup := seen[ap]; dup {
			return fmt.Errorf("%s: %v is already rule %s", what, ap, o)
		}
		seen[ap] = r.Name
		switch r.Algorithm {
		case "roundrobin", "leastconn", "source":
		default:
			return fmt.Errorf("%s: algorithm %q is not roundrobin, leastconn or source", what, r.Algorithm)
		}
		for _, m := range r.Members {
			if !m.Is4() {
				return fmt.Errorf("%s: member %v is not IPv4", what, m)
			}
		}
		if s := r.Stickiness; s != nil {
			allowed, ok := stickParams[strings.ToLower(s.Method)]
			if !ok {
				return fmt.Errorf("%s: stickiness method %q is not LbCookie, AppCookie or SourceBased", what, s.Method)
			}
			for k, v := range s.Params {
				if !allowed[strings.ToLower(k)] {
					return fmt.Errorf("%s: %s stickiness has no parameter %q", what, s.Method, k)
				}
				if v != "" && !valueRE.MatchString(v) {
					return fmt.Errorf("%s: stickiness parameter %s: bad value %q", what, k, v)
				}
			}
			if err := checkStickValues(strings.ToLower(s.Method), s.Params); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		if h := r.Health; h != nil {
			if h.PingPath != "" && !pathRE.MatchString(h.PingPath) {
				return fmt.Errorf("%s: health check path %q must be an absolute URL path", what, h.PingPath)
			}
			if h.Interval < 0 || h.Timeout < 0 || h.Healthy < 0 || h.Unhealthy < 0 {
				return fmt.Errorf("%s: negative health check setting", what)
			}
		}
	}
	return nil
}

func checkStickValues(method string, p map[string]string) error {
	get := func(k string) string { return param(p, k) }
	switch method {
	case "lbcookie":
		if m := get("mode"); m != "" && m != "insert" && m != "rewrite" && m != "prefix" {
			return fmt.Errorf("cookie mode %q is not insert, rewrite or prefix", m)
		}
	case "appcookie":
		if l := get("length"); l != "" {
			if n, err := strconv.Atoi(l); err != nil || n < 1 {
				return fmt.Errorf("cookie length %q is not a positive number", l)
			}
		}
		if h := get("holdtime"); h != "" && !timeRE.MatchString(h) {
			return fmt.Errorf("holdtime %q is not a time", h)
		}
		if m := get("mode"); m != "" && m != "path-parameters" && m != "query-string" {
			return fmt.Errorf("mode %q is not path-parameters or query-string", m)
		}
	case "sourcebased":
		if s := get("tablesize"); s != "" && !sizeRE.MatchString(s) {
			return fmt.Errorf("tablesize %q is not a size", s)
		}
		if e := get("expire"); e != "" && !timeRE.MatchString(e) {
			return fmt.Errorf("expire %q is not a time", e)
		}
	}
	return nil
}

// param looks a parameter up without regard to case, as CloudStack does.
func param(p map[string]string, k string) string {
	for pk, v := range p {
		if strings.EqualFold(pk, k) {
			return v
		}
	}
	return ""
}

func hasParam(p map[string]string, k string) bool {
	for pk := range p {
		if strings.EqualFold(pk, k) {
			return true
		}
	}
	return false
}

// javaHash is Java's String.hashCode, which CloudStack uses to name a default cookie.
func javaHash(s string) int32 {
	var h int32
	for _, r := range s {
		h = 31*h + int32(r)
	}
	return h
}

func poolName(r Rule) string {
	return strings.ReplaceAll(r.Public.String(), ".", "_") + "-" + strconv.Itoa(int(r.PublicPort))
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// render is haproxy.cfg. Sections and lines follow CloudStack's HAProxyConfigurator; where
// it emits what current HAProxy refuses (appsession, removed in 1.6) the equivalent stick
// table is written instead, and health-check policies (which the VR ignores) become checks.
func render(id string, c Config, socket, runAs string) []byte {
	var b strings.Builder
	w := func(s string, a ...any) { fmt.Fprintf(&b, s+"\n", a...) }
	w("# Atoll: load balancing for network %s. Written by the agent; edits are lost.", id)
	w("# namespace %s", c.Namespace) // a router moved to another namespace is a change
	w("global")
	w("\tmaxconn 4096")
	w("\tmaxpipes 1024")
	if runAs != "" {
		w("\tuser %s", runAs)
		w("\tgroup %s", runAs)
	}
	w("\tstats socket %s mode 600 level admin", socket)
	w("\tdaemon")
	w("\t ")
	w("defaults")
	w("\tlog     global")
	w("\tmode    tcp")
	w("\toption  dontlognull")
	w("\tretries 3")
	w("\toption redispatch")
	w("\ttimeout connect    5000")
	w("\ttimeout client     50000")
	w("\ttimeout server     50000")
	w("\t ")
	rules := slices.Clone(c.Rules)
	slices.SortStableFunc(rules, func(a, b Rule) int {
		if d := a.Public.Compare(b.Public); d != 0 {
			return d
		}
		return int(a.PublicPort) - int(b.PublicPort)
	})
	for _, r := range rules {
		pool := poolName(r)
		w("listen %s", pool)
		if r.Name != "" {
			w("\t# rule %s", r.Name)
		}
		w("\tbind %s:%d", r.Public, r.PublicPort)
		w("\tbalance %s", r.Algorithm)

		stick, httpStick := stickLines(r)
		if len(r.Members) == 0 {
			stick, httpStick = nil, false // CloudStack attaches stickiness only with members
		}
		if r.PublicPort == 80 || httpStick {
			w("\tmode http")
			w("\toption httpclose")
			w("\toption forwardfor")
		}
		serverOpts := " check"
		if h := r.Health; h != nil {
			if h.PingPath != "" {
				w("\toption httpchk GET %s", h.PingPath)
			}
			if h.Timeout > 0 {
				w("\ttimeout check %s", ms(h.Timeout))
			}
			if h.Interval > 0 {
				serverOpts += " inter " + ms(h.Interval)
			}
			if h.Healthy > 0 {
				serverOpts += " rise " + strconv.Itoa(h.Healthy)
			}
			if h.Unhealthy > 0 {
				serverOpts += " fall " + strconv.Itoa(h.Unhealthy)
			}
		}
		cookies := r.Stickiness != nil && strings.EqualFold(r.Stickiness.Method, "LbCookie")
		for i, m := range r.Members {
			line := fmt.Sprintf("\tserver %s_%d %s:%d%s", pool, i, m, r.PrivatePort, serverOpts)
			if cookies && len(stick) > 0 {
				line += fmt.Sprintf(" cookie %s-%d", strings.ReplaceAll(m.String(), ".", "_"), r.PrivatePort)
			}
			w("%s", line)
		}
		for _, l := range stick {
			w("\t%s", l)
		}
		w("\t ")
	}
	if len(rules) == 0 {
		// HAProxy needs a proxy to start: CloudStack's placeholder (never rendered by the
		// Manager, which stops HAProxy when no rule is left).
		w("listen  vmops")
		w("\tbind 0.0.0.0:9")
		w("\toption transparent")
	}
	return []byte(b.String())
}

// stickLines renders a stickiness policy; httpMode when it works on HTTP cookies.
func stickLines(r Rule) (lines []string, httpMode bool) {
	s := r.Stickiness
	if s == nil {
		return nil, false
	}
	p := s.Params
	or := func(k, def string) string {
		if v := param(p, k); v != "" {
			return v
		}
		return def
	}
	switch strings.ToLower(s.Method) {
	case "lbcookie":
		name := or("cookie-name", fmt.Sprintf("lbcooki_%d_%d", javaHash(r.Public.String()), r.PublicPort))
		l := "cookie " + name + " " + or("mode", "insert")
		for _, f := range []string{"indirect", "nocache", "postonly"} {
			if hasParam(p, f) {
				l += " " + f
			}
		}
		if d := param(p, "domain"); d != "" {
			l += " domain " + d
		}
		return []string{l}, true
	case "appcookie":
		name := or("cookie-name", fmt.Sprintf("appcookie_%d_%d", javaHash(r.Public.String()), r.PublicPort))
		lines = []string{
			fmt.Sprintf("stick-table type string len %s size 200k expire %s", or("length", "52"), or("holdtime", "3h")),
			fmt.Sprintf("stick store-response res.cook(%s)", name),
			fmt.Sprintf("stick match req.cook(%s)", name),
		}
		if hasParam(p, "request-learn") {
			lines = append(lines, fmt.Sprintf("stick store-request req.cook(%s)", name))
		}
		switch param(p, "mode") {
		case "query-string":
			lines = append(lines, fmt.Sprintf("stick match url_param(%s)", name))
		case "path-parameters":
			lines = append(lines, fmt.Sprintf("stick match url_param(%s,;)", name))
		}
		return lines, true
	case "sourcebased":
		return []string{
			fmt.Sprintf("stick-table type ip size %s expire %s", or("tablesize", "200k"), or("expire", "30m")),
			"stick on src",
		}, false
	}
	return nil, false
}
