package metadata

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/atollcloud/atoll/network/internal/nstest"
)

// client returns an HTTP client whose connections are opened inside the guest namespace.
func guestClient(g *nstest.NS) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext:       func(ctx context.Context, _, addr string) (net.Conn, error) { return g.Dial(ctx, addr) },
	}}
}

func fetch(t *testing.T, c *http.Client, url string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestKernelMetadata: guests on the bridge read their own user data and meta data from
// 169.254.169.254 and from the gateway, an unknown address gets 404, the password is served
// until acknowledged; Set swaps data in place; Remove closes the sockets.
func TestKernelMetadata(t *testing.T) {
	nstest.NeedRoot(t)
	gw := netip.MustParsePrefix("10.73.0.1/24")
	lab := nstest.NewLab(t, gw)
	guests := map[string]*nstest.NS{}
	for i, ip := range []string{"10.73.0.11", "10.73.0.12", "10.73.0.99"} {
		g := lab.AddGuest(t, "02:00:0a:49:00:0"+string(rune('1'+i)))
		g.AddAddr(t, "eth0", netip.PrefixFrom(netip.MustParseAddr(ip), 24))
		g.DefaultRoute(t, gw.Addr())
		guests[ip] = g
	}
	s := New(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { s.Close() })
	data := map[netip.Addr]VMData{
		netip.MustParseAddr("10.73.0.11"): {UserData: []byte("#!/bin/sh\necho a\n"), Password: "pw-a",
			Meta: map[string]string{"instance-id": "vm-a-uuid", "local-ipv4": "10.73.0.11", "local-hostname": "vm-a"}},
		netip.MustParseAddr("10.73.0.12"): {UserData: []byte("user data of b"),
			Meta: map[string]string{"instance-id": "vm-b-uuid", "local-ipv4": "10.73.0.12"}, PublicKeys: []string{"ssh-ed25519 KEY b@x"}},
	}
	start := time.Now()
	if err := s.Set("net-1", lab.Router.Name, []netip.Addr{gw.Addr(), Addr}, data); err != nil {
		t.Fatalf("Set: %v", err)
	}
	t.Logf("timing: first Set (listen in the namespace) took %v", time.Since(start).Round(time.Microsecond))

	a, b, x := guestClient(guests["10.73.0.11"]), guestClient(guests["10.73.0.12"]), guestClient(guests["10.73.0.99"])
	for _, server := range []string{"http://169.254.169.254", "http://10.73.0.1"} {
		for _, tc := range []struct {
			c    *http.Client
			who  string
			path string
			code int
			body string
		}{
			{a, "a", "/latest/user-data", 200, "#!/bin/sh\necho a\n"},
			{a, "a", "/latest/meta-data/instance-id", 200, "vm-a-uuid"},
			{a, "a", "/latest/meta-data/", 200, "local-ipv4\nlocal-hostname\ninstance-id\n"},
			{a, "a", "/latest/local-hostname", 200, "vm-a"},
			{b, "b", "/latest/userdata", 200, "user data of b"},
			{b, "b", "/latest/meta-data/instance-id", 200, "vm-b-uuid"},
			{b, "b", "/latest/meta-data/public-keys", 200, "ssh-ed25519 KEY b@x"},
			{x, "unknown", "/latest/user-data", 404, ""},
			{x, "unknown", "/latest/meta-data/instance-id", 404, ""},
		} {
			code, body := fetch(t, tc.c, server+tc.path)
			if code != tc.code || (code == 200 && body != tc.body) {
				t.Errorf("guest %s GET %s%s = %d %q, want %d %q", tc.who, server, tc.path, code, body, tc.code, tc.body)
			}
		}
	}
	pw := "http://10.73.0.1:8080/"
	if _, body := fetch(t, a, pw, "DomU_Request", "send_my_password"); body != "pw-a" {
		t.Errorf("a's password = %q", body)
	}
	if _, body := fetch(t, b, pw, "DomU_Request", "send_my_password"); body != "saved_password" {
		t.Errorf("b (no password) got %q", body)
	}
	if _, body := fetch(t, a, "http://169.254.169.254:8080/", "DomU_Request", "saved_password"); body != "saved_password" {
		t.Errorf("ack = %q", body)
	}
	if _, body := fetch(t, a, pw, "DomU_Request", "send_my_password"); body != "saved_password" {
		t.Errorf("a's password after the ack = %q, want saved_password", body)
	}
	if code, body := fetch(t, a, pw); code != 400 || body != "bad_request" {
		t.Errorf("no DomU_Request = %d %q", code, body)
	}

	// New data replaces the old at once, on the open sockets.
	data[netip.MustParseAddr("10.73.0.99")] = VMData{Meta: map[string]string{"instance-id": "vm-x-uuid"}}
	delete(data, netip.MustParseAddr("10.73.0.12"))
	if err := s.Set("net-1", lab.Router.Name, []netip.Addr{gw.Addr(), Addr}, data); err != nil {
		t.Fatalf("Set again: %v", err)
	}
	if _, body := fetch(t, x, "http://169.254.169.254/latest/instance-id"); body != "vm-x-uuid" {
		t.Errorf("new VM x reads %q", body)
	}
	if code, _ := fetch(t, b, "http://169.254.169.254/latest/instance-id"); code != 404 {
		t.Errorf("removed VM b reads %d, want 404", code)
	}
	// One namespace, one network.
	if err := s.Set("net-2", lab.Router.Name, []netip.Addr{gw.Addr()}, nil); err == nil {
		t.Error("a second network in the same namespace was accepted")
	}

	// Remove closes the sockets and takes 169.254.169.254 off lo again.
	if err := s.Remove("net-1"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c, err := guests["10.73.0.11"].Dial(ctx, "10.73.0.1:80"); err == nil {
		c.Close()
		t.Error("port 80 still open after Remove")
	}
	lo := lab.Router.Link(t, "lo")
	addrs, _ := lab.Router.NL.AddrList(lo, netlink.FAMILY_V4)
	for _, ad := range addrs {
		if ad.IP.Equal(Addr.AsSlice()) {
			t.Error("169.254.169.254 still on lo after Remove")
		}
	}
	if got := s.Networks(); len(got) != 0 {
		t.Errorf("Networks after Remove = %v", got)
	}
}
