package kvm

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The throwaway test guest: the host's Debian kernel and an initramfs of busybox-static whose
// init prints markers on the serial console, on a FAT disk booted by syslinux (so the VM
// boots from its virtio disk like a real template). Its init:
//   - prints guestBootMarker once userspace runs;
//   - mounts the config drive (a CD-ROM labelled config-2) and prints its local-hostname;
//   - powers off on the ACPI power button, unless the user data says "ignore-acpi";
//   - prints "ATOLL-TICK n" every 2 s, so a live guest can be told from a frozen one.
const (
	guestBootMarker  = "ATOLL-KVM-TEST-BOOT-OK"
	guestPowerMarker = "ATOLL-KVM-TEST-POWERDOWN"
)

var guestModules = []string{
	"button", "evdev", "scsi_common", "scsi_mod", "libata", "ata_piix", "cdrom", "sr_mod", "isofs",
	"virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_balloon",
}

const guestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ` + "MODULES" + `; do insmod /lib/modules/$m.ko 2>/dev/null; done
echo ` + guestBootMarker + `
ud=""
found=""
for i in 1 2 3 4 5 6 7 8 9 10; do
  for d in /dev/sr0 /dev/sr1; do
    [ -b $d ] || continue
    mount -t iso9660 -o ro $d /mnt 2>/dev/null || continue
    if [ -f /mnt/cloudstack/metadata/local-hostname.txt ]; then
      found=1
      echo "ATOLL-CONFIGDRIVE hostname=$(cat /mnt/cloudstack/metadata/local-hostname.txt)"
      ud=$(cat /mnt/cloudstack/userdata/user_data.txt 2>/dev/null)
      break 2
    fi
    umount /mnt
  done
  sleep 0.5
done
[ -n "$found" ] || echo "ATOLL-CONFIGDRIVE none"
case "$ud" in
*ignore-acpi*) echo ATOLL-IGNORING-ACPI ;;
*)
  pb=""
  for e in /sys/class/input/event*; do
    grep -q "Power Button" $e/device/name 2>/dev/null && pb=/dev/input/${e##*/}
  done
  if [ -n "$pb" ]; then
    (head -c 1 $pb >/dev/null; echo ` + guestPowerMarker + `; poweroff -f) &
    echo "ATOLL-ACPI-WATCH $pb"
  fi
  ;;
esac
n=0
while true; do sleep 2; n=$((n+1)); echo "ATOLL-TICK $n"; done
`

// testGuest is the guest twice over: a bootable qcow2 disk and a bootable ISO (isolinux) of
// the same kernel and initramfs, for ISO deploys and diskless VMs.
type testGuest struct {
	disk, iso string
}

// buildTestGuest writes the guest's disk and ISO into dir.
func buildTestGuest(t *testing.T, dir string) testGuest {
	t.Helper()
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		t.Fatal("no /boot/vmlinuz-*: install linux-image-amd64")
	}
	sort.Strings(kernels)
	kernel := kernels[len(kernels)-1]
	release := strings.TrimPrefix(filepath.Base(kernel), "vmlinuz-")
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static: %v", err)
	}
	var c cpioWriter
	for _, d := range []string{"bin", "dev", "lib", "lib/modules", "mnt", "proc", "sys"} {
		c.dir(d)
	}
	c.node("dev/console", 0o20600, 5, 1)
	c.file("bin/busybox", 0o755, busybox)
	c.file("init", 0o755, []byte(strings.Replace(guestInit, "MODULES", strings.Join(guestModules, " "), 1)))
	modules := map[string]string{}
	_ = filepath.WalkDir(filepath.Join("/lib/modules", release, "kernel"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".ko") {
			modules[strings.TrimSuffix(e.Name(), ".ko")] = p
		}
		return nil
	})
	for _, m := range guestModules {
		if modules[m] == "" {
			t.Fatalf("module %s.ko not found for kernel %s", m, release)
		}
		b, err := os.ReadFile(modules[m])
		if err != nil {
			t.Fatal(err)
		}
		c.file("lib/modules/"+m+".ko", 0o644, b)
	}
	initrd := filepath.Join(dir, "initrd.gz")
	if err := os.WriteFile(initrd, c.gzip(t), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "syslinux.cfg")
	if err := os.WriteFile(cfg, []byte("DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  APPEND initrd=initrd.gz console=ttyS0 loglevel=3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(dir, "guest.img")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(40 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run(t, "mkfs.vfat", "-n", "ATOLLTEST", raw)
	run(t, "syslinux", "--install", raw)
	run(t, "mcopy", "-i", raw, kernel, "::vmlinuz")
	run(t, "mcopy", "-i", raw, initrd, "::initrd.gz")
	run(t, "mcopy", "-i", raw, cfg, "::syslinux.cfg")
	disk := filepath.Join(dir, "guest.qcow2")
	run(t, "qemu-img", "convert", "-O", "qcow2", raw, disk)
	_ = os.Remove(raw)

	isoRoot := filepath.Join(dir, "isoroot")
	if err := os.MkdirAll(filepath.Join(isoRoot, "isolinux"), 0o755); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{
		"/usr/lib/ISOLINUX/isolinux.bin":             "isolinux/isolinux.bin",
		"/usr/lib/syslinux/modules/bios/ldlinux.c32": "isolinux/ldlinux.c32",
		kernel: "vmlinuz", initrd: "initrd.gz", cfg: "isolinux/isolinux.cfg",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("iso: %v (packages isolinux, syslinux-common)", err)
		}
		if err := os.WriteFile(filepath.Join(isoRoot, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfgISO := strings.ReplaceAll(strings.ReplaceAll(mustRead(t, cfg), "KERNEL vmlinuz", "KERNEL /vmlinuz"), "initrd=initrd.gz", "initrd=/initrd.gz")
	if err := os.WriteFile(filepath.Join(isoRoot, "isolinux", "isolinux.cfg"), []byte(cfgISO), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(dir, "guest.iso")
	run(t, "genisoimage", "-quiet", "-o", iso, "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
		"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", "-J", "-r", "-V", "ATOLLTEST", isoRoot)
	return testGuest{disk: disk, iso: iso}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// cpioWriter writes a "newc" cpio archive, the initramfs format.
type cpioWriter struct {
	buf bytes.Buffer
	ino int
}

func (c *cpioWriter) entry(name string, mode, rmajor, rminor int, data []byte) {
	c.ino++
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	fmt.Fprintf(&c.buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rmajor, rminor, len(name)+1, 0)
	c.buf.WriteString(name)
	c.buf.WriteByte(0)
	c.pad()
	c.buf.Write(data)
	c.pad()
}

func (c *cpioWriter) pad() {
	for c.buf.Len()%4 != 0 {
		c.buf.WriteByte(0)
	}
}

func (c *cpioWriter) dir(name string)                      { c.entry(name, 0o040755, 0, 0, nil) }
func (c *cpioWriter) file(name string, perm int, b []byte) { c.entry(name, 0o100000|perm, 0, 0, b) }
func (c *cpioWriter) node(name string, mode, maj, min int) { c.entry(name, mode, maj, min, nil) }

func (c *cpioWriter) gzip(t *testing.T) []byte {
	c.entry("TRAILER!!!", 0, 0, 0, nil)
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	if _, err := zw.Write(c.buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
