package tinyimage

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// TB is what LockBoots needs of a test (testing.TB), kept small so that this package does
// not import testing into the binaries that use its other functions.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// BootLockPath is the machine-wide lock that tests booting emulated guests take, so that
// test binaries running in parallel (go test ./... runs packages side by side) never boot
// guests at the same time: under TCG on two cores, parallel boots starve each other's timer
// calibration and a guest can hang before printing anything.
var BootLockPath = filepath.Join(os.TempDir(), "atoll-guest-boots.lock")

// LockBoots takes the boot lock for the rest of the test (released at its cleanup), waiting
// for another test binary that holds it.
func LockBoots(t TB) {
	t.Helper()
	f, err := os.OpenFile(BootLockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(fmt.Errorf("boot lock: %w", err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(fmt.Errorf("boot lock: %w", err))
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
