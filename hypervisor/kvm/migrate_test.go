package kvm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/hypervisor"
)

func TestMigrationTarget(t *testing.T) {
	cases := []struct {
		target, dconn, mig, listen, err string
	}{
		{"qemu+tcp://127.0.0.1:16510/system", "qemu+tcp://127.0.0.1:16510/system", "tcp://127.0.0.1", "127.0.0.1", ""},
		{"10.0.0.5", "qemu+tcp://10.0.0.5/system", "tcp://10.0.0.5", "10.0.0.5", ""},
		{"kvm2.example:16509", "qemu+tcp://kvm2.example:16509/system", "tcp://kvm2.example", "", ""},
		{"qemu+tcp://[fd00::5]:16509/system", "qemu+tcp://[fd00::5]:16509/system", "tcp://[fd00::5]", "fd00::5", ""},
		{"", "", "", "", "empty"},
		{"qemu+tcp:///system", "", "", "", "names no host"},
	}
	for _, tc := range cases {
		t.Run(tc.target, func(t *testing.T) {
			d, m, l, err := migrationTarget(tc.target)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || d != tc.dconn || m != tc.mig || l != tc.listen {
				t.Fatalf("= %q %q %q %v; want %q %q %q", d, m, l, err, tc.dconn, tc.mig, tc.listen)
			}
		})
	}
}

// testMigration live-migrates a guest between two libvirtds on this host. It first proves
// that libvirt refuses when both report the same host UUID, then gives the target its own.
// The guest boots from an ISO and has no disk and no NIC: libvirt 9.0 refuses to migrate a
// disk on a local file system ("Migration without shared storage is unsafe"; real hosts use
// NFS, which it accepts), and on one host the source's and target's taps would both need the
// same pinned name at once (on two hosts they do not meet).
func testMigration(t *testing.T, e *kvmEnv) {
	dirB := filepath.Join(e.dir, "lv-b")
	if err := os.MkdirAll(dirB, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, "host_uuid"), []byte(e.d.uuid+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	same := startDaemon(t, dirB, freePort(t))
	drvA := e.driver(t, e.d.socket, nil)
	spec := e.spec(t, "i-2-104-VM", "02:00:4c:6e:01:04", "", false)
	spec.Nics, spec.Disks, spec.BootISO = nil, nil, e.guest.iso
	log := drvA.ConsoleLogPath(spec.Name)
	if err := drvA.StartVM(ctxT(t, time.Minute), spec); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, log, "ATOLL-TICK 1", 1, 120*time.Second)

	err := drvA.MigrateVM(ctxT(t, 2*time.Minute), spec.Name, hypervisor.MigrationTarget{URI: same.tcpURI})
	if err == nil || !strings.Contains(err.Error(), "same host") {
		t.Fatalf("migration between libvirtds with one host uuid = %v; want libvirt's same-host refusal", err)
	}
	e.m.add("migration with equal host UUIDs refused: %v", err)
	if got := listState(t, drvA, spec.Name); got != hypervisor.PowerOn {
		t.Fatalf("after the refused migration the source lists %q", got)
	}
	same.stop(t)

	if err := os.WriteFile(filepath.Join(dirB, "host_uuid"), []byte("3b5e3f52-8c6f-4d4e-9a51-7c2a5b0e9d11\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startDaemon(t, dirB, freePort(t))
	drvB := e.driver(t, b.socket, nil)

	// A disk on this host's ext4 cannot go: libvirt wants shared storage.
	local := e.spec(t, "i-2-105-VM", "02:00:4c:6e:01:05", "", false)
	local.Nics = nil
	if err := drvA.StartVM(ctxT(t, time.Minute), local); err != nil {
		t.Fatal(err)
	}
	err = drvA.MigrateVM(ctxT(t, 2*time.Minute), local.Name, hypervisor.MigrationTarget{URI: b.tcpURI})
	if err == nil || !strings.Contains(err.Error(), "without shared storage is unsafe") {
		t.Errorf("migrating a local-disk vm = %v; want libvirt's unsafe-migration refusal", err)
	}
	e.m.add("migration of a VM whose disk is a local ext4 file refused: %v", err)
	if err := drvA.DestroyVM(ctxT(t, time.Minute), local.Name); err != nil {
		t.Fatal(err)
	}

	to, err := drvB.PrepareMigration(ctxT(t, time.Minute), spec)
	if err != nil {
		t.Fatal(err)
	}
	to.URI = b.tcpURI
	srcPID := e.d.qemuPID(t, spec.Name)
	ticks := lastTick(log)
	start := time.Now()
	if err := drvA.MigrateVM(ctxT(t, 5*time.Minute), spec.Name, to); err != nil {
		t.Fatal(err)
	}
	e.m.add("live migration (192 MiB guest, TCG, loopback): %s", time.Since(start).Round(time.Millisecond))
	if got := listState(t, drvA, spec.Name); got != "" {
		t.Errorf("source still lists the migrated vm (%q)", got)
	}
	if got := listState(t, drvB, spec.Name); got != hypervisor.PowerOn {
		t.Fatalf("target lists the migrated vm as %q", got)
	}
	if p := b.qemuPID(t, spec.Name); p == srcPID {
		t.Errorf("the target's qemu is the source's (pid %d)", p)
	}
	if _, err := os.Stat(filepath.Join(e.d.dir, "run", "qemu", spec.Name+".pid")); !os.IsNotExist(err) {
		t.Errorf("source qemu pid file still there: %v", err)
	}
	time.Sleep(5 * time.Second)
	if lastTick(log) <= ticks {
		t.Errorf("guest not ticking on the target (last tick %d, %d before)", lastTick(log), ticks)
	}
	start = time.Now()
	if err := drvB.StopVM(ctxT(t, time.Minute), spec.Name, false); err != nil {
		t.Fatal(err)
	}
	e.m.add("StopVM on the target after migration: %s", time.Since(start).Round(time.Millisecond))
	if got := listState(t, drvB, spec.Name); got != "" {
		t.Errorf("after StopVM the target lists %q", got)
	}
	// A replay of the migration finds nothing to move.
	if err := drvA.MigrateVM(ctxT(t, time.Minute), spec.Name, to); err != nil {
		t.Errorf("replayed MigrateVM: %v", err)
	}
}
