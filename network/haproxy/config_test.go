package haproxy

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	pub  = netip.MustParseAddr("198.51.100.7")
	m1   = netip.MustParseAddr("10.1.1.11")
	m2   = netip.MustParseAddr("10.1.1.12")
	rule = Rule{Name: "web", Public: pub, PublicPort: 80, PrivatePort: 8080, Algorithm: "roundrobin", Members: []netip.Addr{m1, m2}}
)

func TestRenderCloudStackShape(t *testing.T) {
	ssh := Rule{Name: "ssh", Public: pub, PublicPort: 2222, PrivatePort: 22, Algorithm: "source", Members: []netip.Addr{m1}}
	got := string(render("n1", Config{Namespace: "x", Rules: []Rule{ssh, rule}}, "/s/admin.sock", "haproxy"))
	want := `# Atoll: load balancing for network n1. Written by the agent; edits are lost.
# namespace x
global
	maxconn 4096
	maxpipes 1024
	user haproxy
	group haproxy
	stats socket /s/admin.sock mode 600 level admin
	daemon
	 
defaults
	log     global
	mode    tcp
	option  dontlognull
	retries 3
	option redispatch
	timeout connect    5000
	timeout client     50000
	timeout server     50000
	 
listen 198_51_100_7-80
	# rule web
	bind 198.51.100.7:80
	balance roundrobin
	mode http
	option httpclose
	option forwardfor
	server 198_51_100_7-80_0 10.1.1.11:8080 check
	server 198_51_100_7-80_1 10.1.1.12:8080 check
	 
listen 198_51_100_7-2222
	# rule ssh
	bind 198.51.100.7:2222
	balance source
	server 198_51_100_7-2222_0 10.1.1.11:22 check
	 
`
	if got != want {
		t.Errorf("rendered:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderStickinessAndHealth(t *testing.T) {
	for _, tc := range []struct {
		name  string
		r     Rule
		want  []string
		avoid []string
	}{
		{"source", withStick(rule, "SourceBased", nil), []string{"\tstick-table type ip size 200k expire 30m\n\tstick on src\n"}, []string{"cookie "}},
		{"source params", withStick(rule, "SourceBased", map[string]string{"tablesize": "10k", "Expire": "5m"}),
			[]string{"stick-table type ip size 10k expire 5m\n"}, nil},
		{"lbcookie default name", withStick(rule, "LbCookie", nil), []string{
			"\tcookie lbcooki_-1488929082_80 insert\n", // Java's "198.51.100.7".hashCode(), as CloudStack names it
			"server 198_51_100_7-80_0 10.1.1.11:8080 check cookie 10_1_1_11-8080\n", "\tmode http\n"}, nil},
		{"lbcookie params", withStick(withPort(rule, 8000), "LbCookie", map[string]string{"cookie-name": "SRV", "mode": "rewrite", "nocache": "", "domain": ".example.com"}),
			[]string{"\tcookie SRV rewrite nocache domain .example.com\n", "\tmode http\n"}, nil},
		{"appcookie", withStick(withPort(rule, 8000), "AppCookie", map[string]string{"cookie-name": "JSESSIONID", "request-learn": ""}), []string{
			"\tstick-table type string len 52 size 200k expire 3h\n", "\tstick store-response res.cook(JSESSIONID)\n",
			"\tstick match req.cook(JSESSIONID)\n", "\tstick store-request req.cook(JSESSIONID)\n", "\tmode http\n"}, []string{"appsession"}},
		{"appcookie query-string", withStick(withPort(rule, 8000), "AppCookie", map[string]string{"cookie-name": "sid", "mode": "query-string", "length": "20", "holdtime": "1h"}),
			[]string{"\tstick-table type string len 20 size 200k expire 1h\n", "\tstick match url_param(sid)\n"}, nil},
		{"appcookie path-parameters", withStick(withPort(rule, 8000), "AppCookie", map[string]string{"mode": "path-parameters"}),
			[]string{"\tstick match url_param(appcookie_-1488929082_8000,;)\n"}, nil},
		{"no members, no stickiness", withStick(Rule{Public: pub, PublicPort: 9000, PrivatePort: 9000, Algorithm: "leastconn"}, "SourceBased", nil),
			[]string{"\tbalance leastconn\n"}, []string{"stick", "\tserver "}},
		{"health", withHealth(withPort(rule, 8000), &Health{PingPath: "/healthz", Interval: 5 * time.Second, Timeout: 2 * time.Second, Healthy: 2, Unhealthy: 3}),
			[]string{"\toption httpchk GET /healthz\n", "\ttimeout check 2000\n", "10.1.1.12:8080 check inter 5000 rise 2 fall 3\n"}, []string{"mode http"}},
	} {
		got := string(render("n1", Config{Namespace: "x", Rules: []Rule{tc.r}}, "/s", ""))
		if err := (Config{Namespace: "x", Rules: []Rule{tc.r}}).check(); err != nil {
			t.Errorf("%s: check: %v", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: no %q in\n%s", tc.name, w, got)
			}
		}
		for _, a := range tc.avoid {
			if strings.Contains(got, a) {
				t.Errorf("%s: %q in\n%s", tc.name, a, got)
			}
		}
		if strings.Contains(got, "user ") {
			t.Errorf("%s: user line without RunAs", tc.name)
		}
		validate(t, tc.name, got)
	}
}

// validate has HAProxy itself check a rendered configuration, when it is installed.
func validate(t *testing.T, name, cfg string) {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("haproxy is not installed (make deps installs it)")
		}
		return
	}
	p := filepath.Join(t.TempDir(), "haproxy.cfg")
	os.WriteFile(p, []byte(strings.ReplaceAll(cfg, "stats socket /s ", "stats socket "+filepath.Dir(p)+"/sock ")), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "haproxy", "-c", "-f", p).CombinedOutput(); err != nil {
		t.Errorf("%s: haproxy -c refuses the configuration: %v\n%s\n%s", name, err, out, cfg)
	}
}

func withStick(r Rule, method string, p map[string]string) Rule {
	r.Stickiness = &Stickiness{Method: method, Params: p}
	return r
}
func withHealth(r Rule, h *Health) Rule { r.Health = h; return r }
func withPort(r Rule, p uint16) Rule    { r.PublicPort = p; return r }

func TestCheckRejects(t *testing.T) {
	for name, r := range map[string]Rule{
		"algorithm":        {Public: pub, PublicPort: 80, PrivatePort: 80, Algorithm: "random"},
		"no public":        {PublicPort: 80, PrivatePort: 80, Algorithm: "source"},
		"port 0":           {Public: pub, PrivatePort: 80, Algorithm: "source"},
		"ipv6 member":      {Public: pub, PublicPort: 80, PrivatePort: 80, Algorithm: "source", Members: []netip.Addr{netip.MustParseAddr("fd00::1")}},
		"method":           withStick(rule, "Magic", nil),
		"unknown param":    withStick(rule, "SourceBased", map[string]string{"cookie-name": "x"}),
		"param injection":  withStick(rule, "LbCookie", map[string]string{"cookie-name": "x\n\tbind 0.0.0.0:1"}),
		"bad cookie mode":  withStick(rule, "LbCookie", map[string]string{"mode": "eat"}),
		"bad length":       withStick(rule, "AppCookie", map[string]string{"length": "-1"}),
		"bad expire":       withStick(rule, "SourceBased", map[string]string{"expire": "soon"}),
		"path injection":   withHealth(rule, &Health{PingPath: "/x\n\tbind 0.0.0.0:1"}),
		"relative path":    withHealth(rule, &Health{PingPath: "healthz"}),
		"negative":         withHealth(rule, &Health{Healthy: -1}),
		"name with a line": {Name: "a\nb", Public: pub, PublicPort: 80, PrivatePort: 80, Algorithm: "source"},
	} {
		if err := (Config{Namespace: "x", Rules: []Rule{r}}).check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := (Config{Namespace: "x", Rules: []Rule{rule, rule}}).check(); err == nil {
		t.Error("two rules on one public IP and port accepted")
	}
	if err := (Config{Rules: []Rule{rule}}).check(); err == nil {
		t.Error("no namespace accepted")
	}
}
