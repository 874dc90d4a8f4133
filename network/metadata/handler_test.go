package metadata

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func testNetwork(t *testing.T, data map[netip.Addr]VMData) *network {
	t.Helper()
	n := &network{id: "n1", given: map[netip.Addr]string{}, pending: map[netip.Addr]string{}}
	vms := map[netip.Addr]*vm{}
	for ip, d := range data {
		v, err := prepare(ip, d)
		if err != nil {
			t.Fatal(err)
		}
		vms[ip] = v
	}
	n.vms.Store(&vms)
	n.setPasswords(data)
	return n
}

func get(h http.HandlerFunc, from, path string, hdr ...string) (int, string) {
	r := httptest.NewRequest(http.MethodGet, "http://10.1.1.1"+path, nil)
	r.RemoteAddr = from + ":40000"
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h(w, r)
	return w.Code, w.Body.String()
}

var vmA = VMData{
	UserData: []byte("#cloud-config\nhostname: web-1\n"),
	Meta: map[string]string{
		"instance-id": "3f1b", "vm-id": "3f1b", "local-ipv4": "10.1.1.11", "local-hostname": "web-1",
		"availability-zone": "zone1", "service-offering": "Small Instance", "public-ipv4": "198.51.100.7",
		"public-hostname": "198.51.100.7", "cloud-identifier": "CloudStack-{abc}", "hypervisor-host-name": "kvm1",
		"custom": "x", "empty": "",
	},
	PublicKeys: []string{"ssh-ed25519 AAAA a@b", "ssh-rsa BBBB c@d"},
}

func TestServeData(t *testing.T) {
	n := testNetwork(t, map[netip.Addr]VMData{
		netip.MustParseAddr("10.1.1.11"): vmA,
		netip.MustParseAddr("10.1.1.12"): {Meta: map[string]string{"instance-id": "77aa", "local-ipv4": "10.1.1.12"}},
	})
	index := "service-offering\navailability-zone\nlocal-ipv4\nlocal-hostname\npublic-ipv4\npublic-hostname\n" +
		"instance-id\nvm-id\npublic-keys\ncloud-identifier\nhypervisor-host-name\ncustom\n"
	for _, tc := range []struct {
		from, path string
		code       int
		body       string
	}{
		{"10.1.1.11", "/latest/user-data", 200, "#cloud-config\nhostname: web-1\n"},
		{"10.1.1.11", "/latest/userdata", 200, "#cloud-config\nhostname: web-1\n"},
		{"10.1.1.11", "/latest/meta-data/", 200, index},
		{"10.1.1.11", "/latest/meta-data", 200, index},
		{"10.1.1.11", "/latest/meta-data/instance-id", 200, "3f1b"},
		{"10.1.1.11", "/latest/meta-data/Instance-ID", 200, "3f1b"},
		{"10.1.1.11", "/latest/instance-id", 200, "3f1b"},
		{"10.1.1.11", "/latest/local-ipv4", 200, "10.1.1.11"},
		{"10.1.1.11", "/latest/meta-data/service-offering", 200, "Small Instance"},
		{"10.1.1.11", "/latest/meta-data/public-keys", 200, "ssh-ed25519 AAAA a@b\nssh-rsa BBBB c@d"},
		{"10.1.1.11", "/latest/meta-data/custom", 200, "x"},
		{"10.1.1.11", "/latest/meta-data/empty", 404, ""},
		{"10.1.1.11", "/latest/meta-data/nothing", 404, ""},
		{"10.1.1.11", "/latest/meta-data/instance-id/x", 404, ""},
		{"10.1.1.11", "/latest/", 200, "meta-data/\nuser-data\n"},
		{"10.1.1.11", "/2009-04-04/meta-data/", 404, ""},
		{"10.1.1.12", "/latest/meta-data/instance-id", 200, "77aa"},
		{"10.1.1.12", "/latest/user-data", 404, ""},
		{"10.1.1.12", "/latest/meta-data/", 200, "local-ipv4\ninstance-id\n"},
		{"10.1.1.99", "/latest/meta-data/instance-id", 404, ""},
		{"10.1.1.99", "/latest/user-data", 404, ""},
	} {
		code, body := get(n.serveData, tc.from, tc.path)
		if code != tc.code || (tc.code == 200 && body != tc.body) {
			t.Errorf("%s GET %s = %d %q, want %d %q", tc.from, tc.path, code, body, tc.code, tc.body)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "http://10.1.1.1/latest/user-data", strings.NewReader("x"))
	r.RemoteAddr = "10.1.1.11:1"
	w := httptest.NewRecorder()
	n.serveData(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", w.Code)
	}
}

func TestPasswordServer(t *testing.T) {
	a, b := netip.MustParseAddr("10.1.1.11"), netip.MustParseAddr("10.1.1.12")
	data := map[netip.Addr]VMData{a: {Password: "s3cret"}, b: {}}
	n := testNetwork(t, data)
	pw := func(from, req string) (int, string) { return get(n.servePassword, from, "/", "DomU_Request", req) }
	check := func(what string, code int, body string, wantCode int, wantBody string) {
		t.Helper()
		if code != wantCode || body != wantBody {
			t.Errorf("%s = %d %q, want %d %q", what, code, body, wantCode, wantBody)
		}
	}
	c, s := pw("10.1.1.12", "send_my_password")
	check("b send_my_password", c, s, 200, "saved_password")
	c, s = pw("10.1.1.11", "send_my_password")
	check("a send_my_password", c, s, 200, "s3cret")
	// Until acknowledged, a retry gets it again (the VM may have failed to set it).
	c, s = pw("10.1.1.11", "send_my_password")
	check("a send_my_password again", c, s, 200, "s3cret")
	c, s = pw("10.1.1.11", "saved_password")
	check("a saved_password", c, s, 200, "saved_password")
	c, s = pw("10.1.1.11", "send_my_password")
	check("a after ack", c, s, 200, "saved_password")
	c, s = pw("10.1.1.11", "gimme")
	check("bad request", c, s, 400, "bad_request")
	c, s = get(n.servePassword, "10.1.1.11", "/")
	check("no header", c, s, 400, "bad_request")

	// The same password Set again stays acknowledged; a new one is armed; none disarms.
	n.setPasswords(data)
	c, s = pw("10.1.1.11", "send_my_password")
	check("same password set again", c, s, 200, "saved_password")
	n.setPasswords(map[netip.Addr]VMData{a: {Password: "n3w"}, b: {Password: "bb"}})
	c, s = pw("10.1.1.11", "send_my_password")
	check("new password", c, s, 200, "n3w")
	n.setPasswords(map[netip.Addr]VMData{a: {}, b: {Password: "bb"}})
	c, s = pw("10.1.1.11", "send_my_password")
	check("password withdrawn", c, s, 200, "saved_password")
	c, s = pw("10.1.1.12", "send_my_password")
	check("b's password", c, s, 200, "bb")
}

func TestPrepareRejects(t *testing.T) {
	ip := netip.MustParseAddr("10.1.1.11")
	for _, k := range []string{"a/b", "", "../x", "user-data", "Meta-Data", "a b"} {
		if _, err := prepare(ip, VMData{Meta: map[string]string{k: "v"}}); err == nil {
			t.Errorf("meta-data name %q accepted", k)
		}
	}
}
