package tinyimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Marker lines the guest prints on its serial console, one per line. Lines with a value carry
// it after one space: "ATOLL-TINY-IP eth0 10.0.0.5/24", "ATOLL-TINY-DISKS vda:33554432 ...".
const (
	MarkerBootOK         = "ATOLL-TINY-BOOT-OK"           // userspace started
	MarkerNIC            = "ATOLL-TINY-NIC"               // <ifname> <mac>, per NIC at boot or hot-plug
	MarkerNICRemoved     = "ATOLL-TINY-NIC-REMOVED"       // <ifname>
	MarkerIP             = "ATOLL-TINY-IP"                // <ifname> <address/prefix>, per DHCP lease
	MarkerNoDHCP         = "ATOLL-TINY-NO-DHCP"           // <ifname>, no lease within 10 s
	MarkerDisks          = "ATOLL-TINY-DISKS"             // <name:bytes ...> at boot
	MarkerDiskAdded      = "ATOLL-TINY-DISK-ADDED"        // <name> <bytes>
	MarkerDiskRemoved    = "ATOLL-TINY-DISK-REMOVED"      // <name>
	MarkerDiskResized    = "ATOLL-TINY-DISK-RESIZED"      // <name> <bytes>
	MarkerConfigDrive    = "ATOLL-TINY-CONFIGDRIVE"       // </dev/name> of the config-2 drive
	MarkerNoConfigDrive  = "ATOLL-TINY-NO-CONFIGDRIVE"    // no config-2 drive found
	MarkerConfigDriveErr = "ATOLL-TINY-CONFIGDRIVE-ERROR" // </dev/name>: found but not mountable
	MarkerHostname       = "ATOLL-TINY-HOSTNAME"          // <name> from the config drive
	MarkerSSHKey         = "ATOLL-TINY-SSHKEY"            // <comment, or key type>, per key
	MarkerPasswordSet    = "ATOLL-TINY-PASSWORD-SET"      // root password set (never printed)
	MarkerUserdataRan    = "ATOLL-TINY-USERDATA-RAN"      // exit=<code> of a #! user-data script
	MarkerUserdataSkip   = "ATOLL-TINY-USERDATA-SKIPPED"  // user data that is not a script
	MarkerUserdataNone   = "ATOLL-TINY-USERDATA-NONE"     // config drive without user data
	MarkerHTTPUp         = "ATOLL-TINY-HTTP-UP"           // httpd answers on port 80
	MarkerUptime         = "ATOLL-TINY-UPTIME"            // init=<s> ready=<s>: guest seconds since kernel start, just before READY
	MarkerReady          = "ATOLL-TINY-READY"             // every step above is done
	MarkerPowerButton    = "ATOLL-TINY-POWER-BUTTON"      // ACPI power button pressed
	MarkerShutdown       = "ATOLL-TINY-SHUTDOWN"          // init is powering off or rebooting
	MarkerWarn           = "ATOLL-TINY-WARN"              // a step failed; the text says which
)

// Files are the outputs of scripts/tiny-template.sh.
type Files struct {
	Dir     string // build/tiny
	Disk    string // tiny.qcow2: boots with SeaBIOS from a virtio, SATA or IDE disk
	ISO     string // tiny.iso: boots the same system from a CD-ROM
	Kernel  string // vmlinuz, for direct kernel boot
	Initrd  string // initrd.gz
	Cmdline string // the kernel command line the boot loaders use
}

// Build runs scripts/tiny-template.sh under repoRoot, which installs missing Debian packages
// and rebuilds only when an input changed, and returns the outputs.
func Build(ctx context.Context, repoRoot string) (Files, error) {
	script := filepath.Join(repoRoot, "scripts", "tiny-template.sh")
	cmd := exec.CommandContext(ctx, script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return Files{}, fmt.Errorf("run %s: %w\n%s", script, err, out.Bytes())
	}
	dir := filepath.Join(repoRoot, "build", "tiny")
	f := Files{
		Dir:    dir,
		Disk:   filepath.Join(dir, "tiny.qcow2"),
		ISO:    filepath.Join(dir, "tiny.iso"),
		Kernel: filepath.Join(dir, "vmlinuz"),
		Initrd: filepath.Join(dir, "initrd.gz"),
	}
	for _, p := range []string{f.Disk, f.ISO, f.Kernel, f.Initrd} {
		if _, err := os.Stat(p); err != nil {
			return Files{}, fmt.Errorf("tiny template output: %w", err)
		}
	}
	cl, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return Files{}, fmt.Errorf("tiny template cmdline: %w", err)
	}
	f.Cmdline = strings.TrimSpace(string(cl))
	return f, nil
}

// Path returns the path of the tiny qcow2 template under repoRoot, building it first when it
// is missing or older than its inputs.
func Path(repoRoot string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	f, err := Build(ctx, repoRoot)
	if err != nil {
		return "", err
	}
	return f.Disk, nil
}

// RepoRoot walks up from dir to the directory holding go.mod.
func RepoRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("repo root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("repo root: no go.mod above %s", dir)
		}
		d = parent
	}
}

// WaitMarker polls the console log at logPath until a line carries marker (see WaitLine).
func WaitMarker(ctx context.Context, logPath, marker string) error {
	_, err := WaitLine(ctx, logPath, marker)
	return err
}

// WaitLine polls the console log at logPath every 100 ms until a complete line contains marker
// followed by a space or the end of the line, and returns that line from the marker on. So
// "ATOLL-TINY-IP eth0" finds "ATOLL-TINY-IP eth0 10.0.0.5/24", and "ATOLL-TINY-DISK" finds
// neither ATOLL-TINY-DISKS nor ATOLL-TINY-DISK-ADDED. The log may not exist yet.
func WaitLine(ctx context.Context, logPath, marker string) (string, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var (
		off     int64
		partial []byte
		tail    []string
	)
	for {
		chunk, err := readFrom(logPath, off)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("wait for %s: %w", marker, err)
		}
		off += int64(len(chunk))
		partial = append(partial, chunk...)
		for {
			i := bytes.IndexByte(partial, '\n')
			if i < 0 {
				break
			}
			line := strings.TrimRight(string(partial[:i]), "\r ")
			partial = partial[i+1:]
			if rest, ok := matchLine(line, marker); ok {
				return rest, nil
			}
			tail = append(tail, line)
			if len(tail) > 15 {
				tail = tail[1:]
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s not seen in %s: %w; last lines:\n%s", marker, logPath, ctx.Err(), strings.Join(tail, "\n"))
		case <-tick.C:
		}
	}
}

func matchLine(line, marker string) (string, bool) {
	for from := 0; ; {
		i := strings.Index(line[from:], marker)
		if i < 0 {
			return "", false
		}
		rest := line[from+i:]
		if len(rest) == len(marker) || rest[len(marker)] == ' ' {
			return rest, true
		}
		from += i + 1
	}
}

func readFrom(path string, off int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}
