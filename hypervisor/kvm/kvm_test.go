package kvm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/hypervisor/tinyimage"
)

// kvmEnv is what the real-daemon subtests share: one libvirtd, the guest image, a bridge.
type kvmEnv struct {
	dir     string
	d       *daemon
	guest   testGuest // the guest disk every VM clones, and its ISO
	bridge  string
	console string
	isoDir  string
	m       *measurements
}

func (e *kvmEnv) driver(t *testing.T, socket string, mod func(*Config)) *Driver {
	t.Helper()
	cfg := Config{Socket: socket, DomainType: "qemu", ConsoleLogDir: e.console, ConfigDriveDir: e.isoDir,
		ConnectTimeout: 3 * time.Second, CallTimeout: 20 * time.Second, StopTimeout: 30 * time.Second, Logger: testLogger(t)}
	if mod != nil {
		mod(&cfg)
	}
	drv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	return drv
}

func (e *kvmEnv) spec(t *testing.T, name, mac, userData string, configDrive bool) hypervisor.VMSpec {
	t.Helper()
	s := hypervisor.VMSpec{
		Name: name, Hostname: "host-" + name, CPUs: 1, MaxCPUs: 2, SpeedMHz: 500,
		MemoryBytes: 192 << 20, MaxMemoryBytes: 256 << 20,
		Disks: []hypervisor.DiskSpec{{VolumeID: "vol-" + name, Type: "ROOT", DeviceID: 0, Format: "QCOW2",
			Source: hypervisor.DiskSource{File: newOverlay(t, e.guest.disk, filepath.Join(e.dir, name+".qcow2"))},
			Limits: hypervisor.DiskLimits{TotalIOPS: 5000}}},
		Nics: []hypervisor.NicSpec{{MAC: mac, DeviceID: 0, IsDefault: true, Bridge: e.bridge, IP: "10.99.0.5", Netmask: "255.255.255.0"}},
	}
	if configDrive {
		s.UserData = base64.StdEncoding.EncodeToString([]byte(userData))
		s.SSHKeys = []string{"ssh-ed25519 AAAAC3NzaTEST test@atoll"}
		s.ConfigDrive = &hypervisor.ConfigDrive{Password: "pw-" + name}
	}
	return s
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestKVMDriver runs the driver against a real libvirtd (started here, in a private mount
// namespace) and real TCG guests, one at a time: start, idempotent start, stats, scale,
// reboot, a libvirtd that dies, hangs and restarts, graceful stop, stop by timeout, a guest
// killed behind libvirt's back, a missing disk, and live migration between two libvirtds.
func TestKVMDriver(t *testing.T) {
	requireRealTier(t)
	tinyimage.LockBoots(t)
	dir := t.TempDir()
	e := &kvmEnv{dir: dir, console: filepath.Join(dir, "console"), isoDir: filepath.Join(dir, "configdrive"), m: &measurements{}}
	e.d = startDaemon(t, filepath.Join(dir, "lv-a"), freePort(t))
	start := time.Now()
	e.guest = buildTestGuest(t, dir)
	e.m.add("test guest image built in %s", time.Since(start).Round(time.Millisecond))
	e.bridge = fmt.Sprintf("atkt%d", os.Getpid()%100000)
	run(t, "ip", "link", "add", e.bridge, "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", e.bridge).Run() })
	defer func() {
		var b strings.Builder
		e.m.report(&b)
		t.Logf("measurements:\n%s", b.String())
	}()

	t.Run("host info and domain type", func(t *testing.T) { testHostInfo(t, e) })
	t.Run("lifecycle", func(t *testing.T) { testLifecycle(t, e) })
	t.Run("stop by timeout, kill behind libvirt's back", func(t *testing.T) { testTimeoutAndKill(t, e) })
	t.Run("missing disk is undone", func(t *testing.T) { testMissingDisk(t, e) })
	t.Run("tiny template reads the config drive", func(t *testing.T) { testTinyTemplate(t, e) })
	t.Run("live migration", func(t *testing.T) { testMigration(t, e) })
}

func testHostInfo(t *testing.T, e *kvmEnv) {
	drv := e.driver(t, e.d.socket, func(c *Config) { c.DomainType = "auto" })
	info, err := drv.HostInfo(ctxT(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if info.HypervisorType != "KVM" || info.CPUCores < 1 || info.MemoryBytes < 1<<30 || info.CPUSockets < 1 || info.HypervisorVersion == "" {
		t.Fatalf("HostInfo = %+v", info)
	}
	h, err := drv.hostFacts(ctxT(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host: %+v; auto chose %s: %s", info, h.domainType, h.reason)
	if !cpuHasVirt("/proc/cpuinfo") && h.domainType != "qemu" {
		t.Errorf("auto chose %s on a CPU without vmx/svm", h.domainType)
	}
	e.m.add("auto domain type on this host: %s (%s)", h.domainType, h.reason)
}

func testLifecycle(t *testing.T, e *kvmEnv) {
	drv := e.driver(t, e.d.socket, nil)
	spec := e.spec(t, "i-2-101-VM", "02:00:4c:6e:01:01", "#!/bin/sh\necho hello\n", true)
	log := drv.ConsoleLogPath(spec.Name)

	start := time.Now()
	if err := drv.StartVM(ctxT(t, time.Minute), spec); err != nil {
		t.Fatal(err)
	}
	e.m.add("StartVM (config drive + define + start): %s", time.Since(start).Round(time.Millisecond))
	waitConsole(t, log, guestBootMarker, 1, 90*time.Second)
	e.m.add("StartVM to boot marker: %s", time.Since(start).Round(time.Millisecond))
	waitConsole(t, log, "ATOLL-CONFIGDRIVE hostname=host-i-2-101-VM", 1, 30*time.Second)
	if got := listState(t, drv, spec.Name); got != hypervisor.PowerOn {
		t.Fatalf("ListVMs state = %q, want PowerOn", got)
	}
	tap := hypervisor.TapName(spec.Nics[0].MAC)
	if master, err := os.Readlink("/sys/class/net/" + tap + "/master"); err != nil || filepath.Base(master) != e.bridge {
		t.Errorf("tap %s master = %q, %v; want bridge %s", tap, master, err, e.bridge)
	}

	// Idempotent: starting a running VM changes nothing.
	if err := drv.StartVM(ctxT(t, time.Minute), spec); err != nil {
		t.Fatalf("second StartVM: %v", err)
	}
	time.Sleep(time.Second)
	if n := countIn(log, guestBootMarker); n != 1 {
		t.Fatalf("second StartVM rebooted the guest: %d boot markers", n)
	}

	stats, err := drv.VMStats(ctxT(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var st hypervisor.VMStats
	for _, s := range stats {
		if s.Name == spec.Name {
			st = s
		}
	}
	// The balloon reaches its target slowly under TCG: memory is checked within the maximum.
	if st.State != hypervisor.PowerOn || st.CPUTimeNs == 0 || st.CPUs != 1 || st.MemoryBytes <= 0 || st.MaxMemory != 256<<20 ||
		st.MemoryBytes > st.MaxMemory || len(st.Disks) != 2 ||
		st.Disks[0].Device != "vda" || st.Disks[0].ReadBytes == 0 || st.Disks[0].ReadOps == 0 || len(st.Nics) != 1 || st.Nics[0].Device != tap {
		t.Errorf("VMStats = %+v", st)
	}

	// Scale within the maxima, and refuse beyond them.
	if err := drv.ScaleVM(ctxT(t, time.Minute), spec.Name, 2, 600, 256<<20); err != nil {
		t.Fatalf("ScaleVM: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		stats, err = drv.VMStats(ctxT(t, 30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(stats) == 1 && stats[0].CPUs == 2 && stats[0].MemoryBytes == 256<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after ScaleVM: %+v", stats)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, bad := range []struct {
		cpus int
		mem  int64
		want string
	}{{3, 256 << 20, "exceed the maximum of 2"}, {2, 512 << 20, "exceed the maximum of 256 MiB"}, {1, 256 << 20, "cannot remove cpus"}} {
		err := drv.ScaleVM(ctxT(t, time.Minute), spec.Name, bad.cpus, 500, bad.mem)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ScaleVM(%d, %d) = %v, want %q", bad.cpus, bad.mem, err, bad.want)
		}
	}
	if err := drv.ScaleVM(ctxT(t, time.Minute), "i-9-999-VM", 1, 500, 128<<20); !errors.Is(err, hypervisor.ErrNoVM) {
		t.Errorf("ScaleVM of a missing vm = %v, want ErrNoVM", err)
	}

	// Reboot: graceful stop (the guest powers off on ACPI), then start of the same domain.
	start = time.Now()
	if err := drv.RebootVM(ctxT(t, 2*time.Minute), spec.Name); err != nil {
		t.Fatal(err)
	}
	e.m.add("RebootVM call (ACPI stop + start): %s", time.Since(start).Round(time.Millisecond))
	waitConsole(t, log, guestBootMarker, 2, 90*time.Second)
	e.m.add("RebootVM to second boot marker: %s", time.Since(start).Round(time.Millisecond))
	if countIn(log, guestPowerMarker) != 1 {
		t.Errorf("reboot was not graceful: %d power-down markers", countIn(log, guestPowerMarker))
	}
	waitConsole(t, log, "ATOLL-ACPI-WATCH", 2, 60*time.Second)

	testDaemonFailures(t, e, drv, spec.Name, log)

	// Graceful stop: the guest sees the power button and powers off; the domain is undefined.
	start = time.Now()
	if err := drv.StopVM(ctxT(t, time.Minute), spec.Name, false); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	e.m.add("StopVM graceful (ACPI): %s", took.Round(time.Millisecond))
	if countIn(log, guestPowerMarker) != 2 || took >= drv.cfg.StopTimeout {
		t.Errorf("stop not graceful: %d power-down markers, took %s", countIn(log, guestPowerMarker), took)
	}
	if got := listState(t, drv, spec.Name); got != "" {
		t.Errorf("after StopVM ListVMs says %q; want it undefined", got)
	}
	if err := drv.StopVM(ctxT(t, time.Minute), spec.Name, false); err != nil {
		t.Errorf("StopVM of a stopped vm: %v", err)
	}
	if err := drv.RebootVM(ctxT(t, time.Minute), spec.Name); !errors.Is(err, hypervisor.ErrNoVM) {
		t.Errorf("RebootVM of a stopped vm = %v, want ErrNoVM", err)
	}
	if err := drv.DestroyVM(ctxT(t, time.Minute), spec.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(drv.ConfigDrivePath(spec.Name)); !os.IsNotExist(err) {
		t.Errorf("config drive left after DestroyVM: %v", err)
	}
}

// testDaemonFailures: libvirtd killed (a quick, clear error), restarted (the driver
// reconnects, the guest kept running) and frozen (calls give up at the call timeout).
func testDaemonFailures(t *testing.T, e *kvmEnv, drv *Driver, name, log string) {
	qpid := e.d.qemuPID(t, name)
	if err := syscall.Kill(e.d.libvirtdPID(t), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	_, err := drv.ListVMs(ctxT(t, time.Minute))
	took := time.Since(start)
	if !errors.Is(err, ErrUnavailable) || took > 2*time.Second {
		t.Fatalf("ListVMs with libvirtd down = %v after %s; want ErrUnavailable at once", err, took)
	}
	e.m.add("ListVMs error with libvirtd down: %s (%v)", took.Round(time.Microsecond), err)

	start = time.Now()
	e.d.restart(t)
	e.m.add("libvirtd restart (script): %s", time.Since(start).Round(time.Millisecond))
	ticks := lastTick(log)
	if got := listState(t, drv, name); got != hypervisor.PowerOn {
		t.Fatalf("after libvirtd restart ListVMs says %q", got)
	}
	if p := e.d.qemuPID(t, name); p != qpid {
		t.Errorf("qemu pid %d became %d across the libvirtd restart", qpid, p)
	}
	time.Sleep(5 * time.Second)
	if lastTick(log) <= ticks {
		t.Errorf("guest stopped ticking after the libvirtd restart (tick %d)", ticks)
	}

	// Frozen libvirtd: calls end at the call timeout with ErrUnavailable, not a hang.
	frozen := e.driver(t, e.d.socket, func(c *Config) { c.CallTimeout = 2 * time.Second })
	if _, err := frozen.ListVMs(ctxT(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	pid := e.d.libvirtdPID(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	_, err = frozen.ListVMs(ctxT(t, time.Minute))
	took = time.Since(start)
	_ = syscall.Kill(pid, syscall.SIGCONT)
	if !errors.Is(err, ErrUnavailable) || took > 4*time.Second {
		t.Fatalf("ListVMs with libvirtd frozen = %v after %s; want ErrUnavailable at the 2 s call timeout", err, took)
	}
	e.m.add("ListVMs error with libvirtd frozen (SIGSTOP, call timeout 2 s): %s", took.Round(time.Millisecond))
	if got := listState(t, frozen, name); got != hypervisor.PowerOn {
		t.Errorf("after SIGCONT ListVMs says %q", got)
	}
}

func testTimeoutAndKill(t *testing.T, e *kvmEnv) {
	drv := e.driver(t, e.d.socket, func(c *Config) { c.StopTimeout = 3 * time.Second })
	spec := e.spec(t, "i-2-102-VM", "02:00:4c:6e:01:02", "ignore-acpi", true)
	log := drv.ConsoleLogPath(spec.Name)
	if err := drv.StartVM(ctxT(t, time.Minute), spec); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, log, "ATOLL-IGNORING-ACPI", 1, 90*time.Second)
	start := time.Now()
	if err := drv.StopVM(ctxT(t, time.Minute), spec.Name, false); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	e.m.add("StopVM of a guest ignoring ACPI (stop timeout 3 s, then destroy): %s", took.Round(time.Millisecond))
	if took < 3*time.Second || took > 10*time.Second || countIn(log, guestPowerMarker) != 0 {
		t.Errorf("stop by timeout took %s with %d power-down markers", took, countIn(log, guestPowerMarker))
	}
	if got := listState(t, drv, spec.Name); got != "" {
		t.Errorf("after StopVM ListVMs says %q", got)
	}

	// Killed behind libvirt's back: listed PowerOff, then StartVM redefines and starts it.
	if err := drv.StartVM(ctxT(t, time.Minute), spec); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, log, guestBootMarker, 2, 90*time.Second)
	if err := syscall.Kill(e.d.qemuPID(t, spec.Name), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	for listState(t, drv, spec.Name) != hypervisor.PowerOff {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("killed vm still listed %q", listState(t, drv, spec.Name))
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.m.add("qemu SIGKILL to ListVMs PowerOff: %s", time.Since(start).Round(time.Millisecond))
	if err := drv.StartVM(ctxT(t, time.Minute), spec); err != nil {
		t.Fatalf("StartVM of a crashed vm: %v", err)
	}
	if got := listState(t, drv, spec.Name); got != hypervisor.PowerOn {
		t.Fatalf("restarted vm listed %q", got)
	}
	start = time.Now()
	if err := drv.DestroyVM(ctxT(t, time.Minute), spec.Name); err != nil {
		t.Fatal(err)
	}
	e.m.add("DestroyVM of a running vm: %s", time.Since(start).Round(time.Millisecond))
	if got := listState(t, drv, spec.Name); got != "" {
		t.Errorf("after DestroyVM ListVMs says %q", got)
	}
	if _, err := os.Stat(drv.ConfigDrivePath(spec.Name)); !os.IsNotExist(err) {
		t.Errorf("config drive left after DestroyVM: %v", err)
	}
	if err := drv.DestroyVM(ctxT(t, time.Minute), spec.Name); err != nil {
		t.Errorf("second DestroyVM: %v", err)
	}
}

func testMissingDisk(t *testing.T, e *kvmEnv) {
	drv := e.driver(t, e.d.socket, nil)
	spec := e.spec(t, "i-2-103-VM", "02:00:4c:6e:01:03", "x", true)
	spec.Disks[0].Source.File = filepath.Join(e.dir, "no-such-volume.qcow2")
	err := drv.StartVM(ctxT(t, time.Minute), spec)
	if err == nil || !strings.Contains(err.Error(), "no-such-volume.qcow2") || !strings.Contains(err.Error(), "No such file") {
		t.Fatalf("StartVM with a missing disk = %v; want libvirt's error naming the file", err)
	}
	t.Logf("missing disk: %v", err)
	if got := listState(t, drv, spec.Name); got != "" {
		t.Errorf("failed StartVM left the domain defined (%q)", got)
	}
	if _, err := os.Stat(drv.ConfigDrivePath(spec.Name)); !os.IsNotExist(err) {
		t.Errorf("failed StartVM left the config drive: %v", err)
	}
}

// tinyImage returns the tiny template disk (scripts/tiny-template.sh): build/tiny/tiny.qcow2
// when present, else one built into the test's directory.
func tinyImage(t *testing.T, e *kvmEnv) string {
	t.Helper()
	root, err := tinyimage.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	// Path runs scripts/tiny-template.sh, which rebuilds only when its inputs changed.
	img, err := tinyimage.Path(root)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// testTinyTemplate boots the project's tiny template with a config drive: its init reads the
// CloudStack layout (hostname, keys, password, user data) and reports each item, and it
// powers off on the ACPI button.
func testTinyTemplate(t *testing.T, e *kvmEnv) {
	img := tinyImage(t, e)
	drv := e.driver(t, e.d.socket, nil)
	spec := e.spec(t, "i-2-106-VM", "02:00:4c:6e:01:06", "#!/bin/sh\necho ATOLL-KVM-USERDATA-OK\n", true)
	spec.Nics = nil
	spec.SSHKeys = []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKVM kvmtest@atoll"}
	spec.Disks[0].Source.File = newOverlay(t, img, filepath.Join(e.dir, "tiny-"+spec.Name+".qcow2"))
	log := drv.ConsoleLogPath(spec.Name)
	start := time.Now()
	if err := drv.StartVM(ctxT(t, time.Minute), spec); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, log, "ATOLL-TINY-BOOT-OK", 1, 120*time.Second)
	e.m.add("tiny template: StartVM to ATOLL-TINY-BOOT-OK: %s", time.Since(start).Round(time.Millisecond))
	waitConsole(t, log, "ATOLL-TINY-READY", 1, 120*time.Second)
	e.m.add("tiny template: StartVM to ATOLL-TINY-READY: %s", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"ATOLL-TINY-CONFIGDRIVE /dev/", "ATOLL-TINY-HOSTNAME host-i-2-106-VM", "ATOLL-TINY-SSHKEY kvmtest@atoll",
		"ATOLL-TINY-PASSWORD-SET", "ATOLL-TINY-USERDATA-RAN exit=0", "ATOLL-KVM-USERDATA-OK"} {
		if countIn(log, want) == 0 {
			b, _ := os.ReadFile(log)
			t.Errorf("console lacks %q:\n%s", want, tail(b, 3000))
		}
	}
	// A data disk plugged in while it runs shows up in the guest, and goes when pulled out;
	// plugging it twice, or pulling it twice, changes nothing.
	data := hypervisor.DiskSpec{VolumeID: "data-" + spec.Name, Type: "DATADISK", DeviceID: 1, Format: "QCOW2",
		Source: hypervisor.DiskSource{File: filepath.Join(e.dir, "data-"+spec.Name+".qcow2")}}
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", data.Source.File, "48M")
	start = time.Now()
	for range 2 {
		if err := drv.AttachDisk(ctxT(t, time.Minute), spec.Name, data); err != nil {
			t.Fatal(err)
		}
	}
	waitConsole(t, log, "ATOLL-TINY-DISK-ADDED vdb 50331648", 1, 60*time.Second)
	e.m.add("tiny template: AttachDisk to ATOLL-TINY-DISK-ADDED: %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	byVolume := hypervisor.DiskSpec{VolumeID: data.VolumeID} // a detach names the volume only
	for range 2 {
		if err := drv.DetachDisk(ctxT(t, time.Minute), spec.Name, byVolume); err != nil {
			t.Fatal(err)
		}
	}
	waitConsole(t, log, "ATOLL-TINY-DISK-REMOVED vdb", 1, 60*time.Second)
	e.m.add("tiny template: DetachDisk to ATOLL-TINY-DISK-REMOVED: %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := drv.StopVM(ctxT(t, time.Minute), spec.Name, false); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	e.m.add("tiny template: graceful StopVM: %s", took.Round(time.Millisecond))
	if countIn(log, "ATOLL-TINY-SHUTDOWN") == 0 || took >= drv.cfg.StopTimeout {
		t.Errorf("tiny template did not shut down on ACPI (took %s)", took)
	}
	if err := drv.DestroyVM(ctxT(t, time.Minute), spec.Name); err != nil {
		t.Fatal(err)
	}
}
