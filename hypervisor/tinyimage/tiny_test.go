package tinyimage

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	bootTimeout  = 3 * time.Minute // QEMU start to READY under TCG on a busy 2-core machine
	eventTimeout = time.Minute     // one hot-plug or power event
)

// Keys as CloudStack writes them to cloudstack/metadata/public-keys.txt: one per line; the
// second has no comment, so the guest names it by its type.
const (
	keyAlice = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0aW55dGVzdGtleWFsaWNlYWxpY2VhbGljZWFsaWNl alice@example.org"
	keyBare  = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCxdGlueXRlc3RrZXlyc2FyYW5kb21ieXRlcw=="
)

// TestBootDisk boots the qcow2 template from a virtio disk on a pc machine with a second disk
// and a CloudStack config drive on IDE, then hot-plugs, resizes and unplugs a disk, changes and
// ejects the CD-ROM medium and presses the ACPI power button.
func TestBootDisk(t *testing.T) {
	requireRoot(t)
	LockBoots(t)
	f := template(t)
	const password = "Tiny-Secret-42"
	userdata := `#!/bin/sh
echo "UD host=$(hostname) keys=$(grep -c . /root/.ssh/authorized_keys) mode=$(stat -c %a /root/.ssh/authorized_keys) shadow=$(grep -c '^root:\$6\$' /etc/shadow) http=$(wget -q -O - http://127.0.0.1/)"
exit 3
`
	cd := configDrive(t, map[string]string{
		"cloudstack/userdata/user_data.txt":      userdata,
		"cloudstack/metadata/public-keys.txt":    keyAlice + "\n" + keyBare + "\n",
		"cloudstack/metadata/local-hostname.txt": "tiny-vm-1",
		"cloudstack/metadata/instance-id.txt":    "i-2-10-VM",
		"cloudstack/password/vm_password.txt":    password,
		"openstack/latest/user_data":             userdata,
		"openstack/latest/meta_data.json":        `{"hostname":"tiny-vm-1","uuid":"0d8b2e4c"}`,
		"openstack/latest/vendor_data.json":      "{}",
	})
	g := boot(t, "", "-machine", "pc",
		"-drive", "if=virtio,format=qcow2,file="+overlay(t, f.Disk),
		"-drive", "if=virtio,format=qcow2,file="+emptyDisk(t, 64<<20),
		"-drive", "if=ide,index=2,media=cdrom,readonly=on,format=raw,file="+cd,
		"-nic", "none")
	g.wait(MarkerBootOK, bootTimeout)
	bootOK := time.Since(g.start)
	g.wait(MarkerReady, bootTimeout)
	ready := time.Since(g.start)
	t.Logf("disk boot (pc, virtio, TCG): %s after %.1f s, %s after %.1f s (%s)", MarkerBootOK, bootOK.Seconds(), MarkerReady, ready.Seconds(), g.wait(MarkerUptime, time.Second))

	lines := g.console()
	if err := inOrder(lines, MarkerBootOK, MarkerDisks, MarkerConfigDrive+" /dev/sr0", MarkerHostname+" tiny-vm-1",
		MarkerSSHKey+" alice@example.org", MarkerSSHKey+" ssh-rsa", MarkerPasswordSet, MarkerHTTPUp,
		"UD host=tiny-vm-1 keys=2 mode=600 shadow=1 http=atoll-tiny tiny-vm-1", MarkerUserdataRan+" exit=3", MarkerReady); err != nil {
		t.Fatal(err)
	}
	disks := g.wait(MarkerDisks, time.Second)
	for _, want := range []string{fmt.Sprintf(" vda:%d", virtualSize(t, f.Disk)), " vdb:67108864", fmt.Sprintf(" sr0:%d", fileSize(t, cd))} {
		if !strings.Contains(disks+" ", want) {
			t.Errorf("%q lacks %q", disks, want)
		}
	}
	for _, l := range lines {
		if strings.Contains(l, password) {
			t.Errorf("password printed on the console: %q", l)
		}
		if strings.Contains(l, MarkerWarn) || strings.Contains(l, MarkerNoDHCP) {
			t.Errorf("unexpected line %q", l)
		}
	}

	hp := emptyDisk(t, 16<<20)
	start := time.Now()
	if err := g.execute("blockdev-add", map[string]any{"driver": "qcow2", "node-name": "hp0",
		"file": map[string]any{"driver": "file", "filename": hp}}); err != nil {
		t.Fatal(err)
	}
	if err := g.execute("device_add", map[string]any{"driver": "virtio-blk-pci", "id": "hpdisk", "drive": "hp0"}); err != nil {
		t.Fatal(err)
	}
	g.wait(MarkerDiskAdded+" vdc 16777216", eventTimeout)
	t.Logf("hot-plugged disk reported after %.1f s", time.Since(start).Seconds())
	if err := g.execute("block_resize", map[string]any{"node-name": "hp0", "size": 32 << 20}); err != nil {
		t.Fatal(err)
	}
	g.wait(MarkerDiskResized+" vdc 33554432", eventTimeout)
	start = time.Now()
	if err := g.execute("device_del", map[string]any{"id": "hpdisk"}); err != nil {
		t.Fatal(err)
	}
	g.wait(MarkerDiskRemoved+" vdc", eventTimeout)
	t.Logf("unplugged disk reported after %.1f s", time.Since(start).Seconds())

	// CD-ROM media change (CloudStack attachIso/detachIso on a running VM).
	media := configDrive(t, map[string]string{"README.TXT": "not a config drive\n"})
	if err := g.execute("blockdev-change-medium", map[string]any{"device": "ide1-cd0", "filename": media, "format": "raw", "read-only-mode": "read-only"}); err != nil {
		t.Fatal(err)
	}
	g.wait(fmt.Sprintf("%s sr0 %d", MarkerDiskResized, fileSize(t, media)), eventTimeout)
	if err := g.execute("eject", map[string]any{"device": "ide1-cd0", "force": true}); err != nil {
		t.Fatal(err)
	}
	g.wait(MarkerDiskResized+" sr0 0", eventTimeout)

	start = time.Now()
	if err := g.execute("system_powerdown", nil); err != nil {
		t.Fatal(err)
	}
	g.wait(MarkerPowerButton, eventTimeout)
	g.wait(MarkerShutdown, eventTimeout)
	if !g.waitExit(eventTimeout) {
		t.Fatal("the guest did not power off after the ACPI power button")
	}
	t.Logf("ACPI power button to QEMU exit: %.1f s", time.Since(start).Seconds())
}

// TestBootDHCP direct-boots the kernel and initramfs with two virtio NICs in a throwaway network
// namespace: one on a bridge where dnsmasq serves DHCP, one on a tap with no server. It checks
// the lease, the no-lease report, the web page from outside, non-script user data, and a
// hot-plugged NIC.
func TestBootDHCP(t *testing.T) {
	requireRoot(t)
	LockBoots(t)
	f := template(t)
	ctx := context.Background()
	ns := netns(t)
	for _, args := range [][]string{
		{"link", "add", "br0", "type", "bridge"},
		{"addr", "add", "10.213.7.1/24", "dev", "br0"},
		{"link", "set", "br0", "up"},
		{"tuntap", "add", "dev", "tap0", "mode", "tap"},
		{"link", "set", "tap0", "master", "br0", "up"},
		{"tuntap", "add", "dev", "tap1", "mode", "tap"},
		{"link", "set", "tap1", "up"},
		{"tuntap", "add", "dev", "tap2", "mode", "tap"},
		{"link", "set", "tap2", "master", "br0", "up"},
	} {
		run(ctx, t, "", "ip", append([]string{"-n", ns}, args...)...)
	}
	dir := t.TempDir()
	leases := filepath.Join(dir, "leases")
	dnsmasq := exec.Command("ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
		"--port=0", "--interface=br0", "--bind-interfaces", "--user=root", "--group=root",
		"--dhcp-range=10.213.7.50,10.213.7.99,255.255.255.0,1h", "--dhcp-option=option:router,10.213.7.1",
		"--dhcp-leasefile="+leases, "--pid-file="+filepath.Join(dir, "dnsmasq.pid"), "--log-dhcp",
		"--log-facility="+filepath.Join(dir, "dnsmasq.log"))
	if out, err := os.Create(filepath.Join(dir, "dnsmasq.out")); err == nil {
		dnsmasq.Stdout, dnsmasq.Stderr = out, out
		defer out.Close()
	}
	if err := dnsmasq.Start(); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		dnsmasq.Process.Kill()
		dnsmasq.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "dnsmasq.log"))
			out, _ := os.ReadFile(filepath.Join(dir, "dnsmasq.out"))
			t.Logf("dnsmasq:\n%s%s", out, log)
		}
	})

	cd := configDrive(t, map[string]string{
		"cloudstack/userdata/user_data.txt":      "#cloud-config\nhostname: ignored\n",
		"cloudstack/metadata/local-hostname.txt": "dhcp-vm",
	})
	g := boot(t, ns, "-machine", "pc", "-kernel", f.Kernel, "-initrd", f.Initrd, "-append", f.Cmdline,
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:a7:00:01",
		"-netdev", "tap,id=n1,ifname=tap1,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n1,mac=52:54:00:a7:00:02",
		"-drive", "if=ide,index=2,media=cdrom,readonly=on,format=raw,file="+cd)
	g.wait(MarkerBootOK, bootTimeout)
	bootOK := time.Since(g.start)
	ipLine := g.wait(MarkerIP, bootTimeout)
	leased := time.Since(g.start)
	g.wait(MarkerReady, bootTimeout)
	t.Logf("direct kernel boot with DHCP (pc, TCG): %s after %.1f s, lease after %.1f s, %s after %.1f s (%s)",
		MarkerBootOK, bootOK.Seconds(), leased.Seconds(), MarkerReady, time.Since(g.start).Seconds(), g.wait(MarkerUptime, time.Second))

	var ifname, cidr string
	if _, err := fmt.Sscanf(ipLine, MarkerIP+" %s %s", &ifname, &cidr); err != nil {
		t.Fatalf("parse %q: %v", ipLine, err)
	}
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil || pfx.Bits() != 24 || !netip.MustParsePrefix("10.213.7.0/24").Contains(pfx.Addr()) {
		t.Fatalf("lease %q: want an address of 10.213.7.0/24 with prefix 24 (%v)", ipLine, err)
	}
	other := map[string]string{"eth0": "eth1", "eth1": "eth0"}[ifname]
	if other == "" {
		t.Fatalf("lease on unexpected interface %q", ifname)
	}
	lines := g.console()
	if err := inOrder(lines, MarkerBootOK, MarkerNIC+" "+ifname, MarkerConfigDrive, MarkerHostname+" dhcp-vm", MarkerUserdataSkip,
		MarkerHTTPUp, MarkerNoDHCP+" "+other, MarkerReady); err != nil {
		t.Fatal(err)
	}
	if l, err := os.ReadFile(leases); err != nil || !strings.Contains(string(l), "52:54:00:a7:00:01 "+pfx.Addr().String()) {
		t.Errorf("dnsmasq leases %q (%v): want 52:54:00:a7:00:01 with %s", l, err, pfx.Addr())
	}
	page := run(ctx, t, ns, "curl", "-sS", "--max-time", "10", "http://"+pfx.Addr().String()+"/")
	if page != "atoll-tiny dhcp-vm\n" {
		t.Fatalf("web page from the namespace: %q", page)
	}
	if nic := g.wait(MarkerNIC+" "+ifname, time.Second); nic != MarkerNIC+" "+ifname+" 52:54:00:a7:00:01" {
		t.Errorf("%q: want the MAC of the NIC on the bridge", nic)
	}

	// A hot-plugged NIC on the bridge gets DHCP too; unplugging it is reported.
	start := time.Now()
	if err := g.execute("netdev_add", map[string]any{"type": "tap", "id": "n2", "ifname": "tap2", "script": "no", "downscript": "no"}); err != nil {
		t.Fatal(err)
	}
	if err := g.execute("device_add", map[string]any{"driver": "virtio-net-pci", "id": "hpnic", "netdev": "n2", "mac": "52:54:00:a7:00:03"}); err != nil {
		t.Fatal(err)
	}
	g.wait(MarkerNIC+" eth2 52:54:00:a7:00:03", eventTimeout)
	hpLine := g.wait(MarkerIP+" eth2", eventTimeout)
	t.Logf("hot-plugged NIC leased %q after %.1f s", hpLine, time.Since(start).Seconds())
	if err := g.execute("device_del", map[string]any{"id": "hpnic"}); err != nil {
		t.Fatal(err)
	}
	g.wait(MarkerNICRemoved+" eth2", eventTimeout)
}

// TestBootISO boots tiny.iso from a SATA CD-ROM on a q35 machine with a virtio data disk and a
// config drive that has only the OpenStack copies (meta_data.json keys and hostname,
// base64-encoded user data).
func TestBootISO(t *testing.T) {
	requireRoot(t)
	LockBoots(t)
	f := template(t)
	cd := configDrive(t, map[string]string{
		"openstack/latest/meta_data.json": `{"hostname":"iso-vm","uuid":"8c1f","public_keys":{"bob":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJvYmJvYmJvYmJvYmJvYmJvYmJvYmJvYmJvYmJvYmJvYmJvYmJv bob@laptop\n"},` +
			`"keys":[{"type":"ssh","data":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJvYmJvYmJvYmJvYmJvYmJvYmJvYmJvYmJvYmJvYmJvYmJvYmJv bob@laptop\n","name":"bob"}]}`,
		"openstack/latest/user_data": "IyEvYmluL3NoCmVjaG8gaXNvLXVzZXJkYXRhLW9rCg==\n", // "#!/bin/sh\necho iso-userdata-ok\n"
	})
	g := boot(t, "", "-machine", "q35",
		"-drive", "if=none,id=cd0,media=cdrom,readonly=on,format=raw,file="+f.ISO, "-device", "ide-cd,drive=cd0,bus=ide.0,bootindex=0",
		"-drive", "if=none,id=cd1,media=cdrom,readonly=on,format=raw,file="+cd, "-device", "ide-cd,drive=cd1,bus=ide.1",
		"-drive", "if=none,id=d0,format=qcow2,file="+emptyDisk(t, 16<<20), "-device", "virtio-blk-pci,drive=d0",
		"-nic", "none")
	g.wait(MarkerBootOK, bootTimeout)
	bootOK := time.Since(g.start)
	g.wait(MarkerReady, bootTimeout)
	t.Logf("ISO boot (q35, SATA CD-ROM, TCG): %s after %.1f s, %s after %.1f s (%s)", MarkerBootOK, bootOK.Seconds(), MarkerReady, time.Since(g.start).Seconds(), g.wait(MarkerUptime, time.Second))
	lines := g.console()
	if err := inOrder(lines, MarkerBootOK, MarkerConfigDrive+" /dev/sr1", MarkerHostname+" iso-vm", MarkerSSHKey+" bob@laptop",
		MarkerHTTPUp, "iso-userdata-ok", MarkerUserdataRan+" exit=0", MarkerReady); err != nil {
		t.Fatal(err)
	}
	disks := g.wait(MarkerDisks, time.Second)
	for _, want := range []string{" sr0:", " sr1:", " vda:16777216"} {
		if !strings.Contains(disks+" ", want) {
			t.Errorf("%q lacks %q", disks, want)
		}
	}
	keys := 0
	for _, l := range lines {
		if _, ok := matchLine(l, MarkerSSHKey); ok {
			keys++
		}
	}
	if keys != 1 {
		t.Errorf("%d %s lines; the key is in meta_data.json twice but is one key", keys, MarkerSSHKey)
	}
}

// TestReproducible builds the template twice more from scratch (scripts/tiny-template.sh
// --check) and compares both builds with build/tiny byte for byte.
func TestReproducible(t *testing.T) {
	requireRoot(t)
	f := template(t)
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "tiny-template.sh"), "--check")
	cmd.Env = append(os.Environ(), "ATOLL_TINY_OUT="+out)
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("--check: %v\n%s", err, b)
	}
	t.Logf("two builds from scratch in %.1f s", time.Since(start).Seconds())
	want, err := os.ReadFile(filepath.Join(f.Dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("a fresh build differs from build/tiny:\n%s\nvs\n%s", got, want)
	}
}
