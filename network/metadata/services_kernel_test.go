package metadata

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/network/dnsmasq"
	"github.com/atollcloud/atoll/network/internal/nsproc"
	"github.com/atollcloud/atoll/network/internal/nstest"
)

// TestKernelDHCPThenUserData is a VM's boot as cloud-init's CloudStack data source does it:
// an address by DHCP (the one Atoll allocated), data-server resolved through the router's
// dnsmasq, then user data, meta data and the password from the router. The namespace is
// given by path this time.
func TestKernelDHCPThenUserData(t *testing.T) {
	nstest.NeedRoot(t)
	nstest.NeedBinaries(t, "dnsmasq", "busybox")
	gw := netip.MustParsePrefix("10.75.0.1/24")
	lab := nstest.NewLab(t, gw)
	g := lab.AddGuest(t, "02:00:0a:4b:00:21")
	nsPath := filepath.Join(nsproc.NetnsDir, lab.Router.Name)
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	ctx := context.Background()

	state := t.TempDir()
	os.Chmod(state, 0o755)
	os.Chmod(filepath.Dir(state), 0o755)
	dm := dnsmasq.New(state, log)
	t.Cleanup(func() { dm.Stop(ctx, "net-e2e") })
	ip := netip.MustParseAddr("10.75.0.33")
	if err := dm.Ensure(ctx, "net-e2e", dnsmasq.Config{Namespace: nsPath, Interface: "guest0", Gateway: gw, Domain: "e2e.internal",
		Leases: []dnsmasq.Lease{{MAC: "02:00:0a:4b:00:21", IP: ip, Hostname: "web-1"}}}); err != nil {
		t.Fatalf("dnsmasq Ensure: %v", err)
	}
	s := New(log)
	t.Cleanup(func() { s.Close() })
	if err := s.Set("net-e2e", nsPath, []netip.Addr{gw.Addr(), Addr}, map[netip.Addr]VMData{
		ip: {UserData: []byte("#cloud-config\n"), Password: "Pa55", Meta: map[string]string{"instance-id": "i-web-1", "local-hostname": "web-1"}},
	}); err != nil {
		t.Fatalf("metadata Set: %v", err)
	}

	start := time.Now()
	d, out := g.DHCPClient(t, true)
	if d.IP.Addr() != ip || d.Router != gw.Addr() {
		t.Fatalf("DHCP gave %+v, want %v via %v; udhcpc said:\n%s", d, ip, gw.Addr(), out)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, _ := nsproc.Run(cctx, g.Name, "busybox", "nslookup", "-type=a", "data-server", d.DNS)
	_, ans, _ := strings.Cut(string(res), "Name:")
	if !strings.Contains(ans, "Address: "+gw.Addr().String()) {
		t.Fatalf("data-server does not resolve to the gateway:\n%s", res)
	}
	c := guestClient(g)
	if code, body := fetch(t, c, "http://"+gw.Addr().String()+"/latest/user-data"); code != 200 || body != "#cloud-config\n" {
		t.Errorf("user-data from data-server = %d %q", code, body)
	}
	if _, body := fetch(t, c, "http://169.254.169.254/latest/meta-data/instance-id"); body != "i-web-1" {
		t.Errorf("instance-id = %q", body)
	}
	if _, body := fetch(t, c, "http://"+gw.Addr().String()+":8080/", "DomU_Request", "send_my_password"); body != "Pa55" {
		t.Errorf("password = %q", body)
	}
	t.Logf("timing: DHCP, DNS, user data, meta data and password took %v", time.Since(start).Round(time.Millisecond))
}
