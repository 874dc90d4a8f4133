package kvm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atollcloud/atoll/hypervisor"
)

// requireRealTier skips (or, under CI=true, fails) a test that needs root for libvirtd.
func requireRealTier(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the libvirtd tier needs root (CI=true forbids skipping)")
	}
	t.Skip("the libvirtd tier needs root: it starts its own libvirtd in a mount namespace")
}

// daemon is a private libvirtd started by scripts/libvirtd.sh.
type daemon struct {
	dir    string
	socket string
	tcpURI string
	uuid   string
}

func scriptPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "scripts", "libvirtd.sh"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freePort returns a loopback TCP port the OS just handed out.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDaemon starts libvirtd in dir (listening on tcpPort when > 0); the test's cleanup stops
// it, by the PIDs the script recorded.
func startDaemon(t *testing.T, dir string, tcpPort int) *daemon {
	t.Helper()
	d := &daemon{dir: dir}
	args := []string{"start", dir}
	if tcpPort > 0 {
		args = append(args, strconv.Itoa(tcpPort))
	}
	start := time.Now()
	out, err := exec.Command(scriptPath(t), args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("libvirtd.sh start: %v\n%s%s", err, out, stderr)
	}
	t.Cleanup(func() { d.stop(t) })
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "LIBVIRT_SOCKET":
			d.socket = v
		case "LIBVIRT_TCP_URI":
			d.tcpURI = v
		case "LIBVIRT_HOST_UUID":
			d.uuid = v
		}
	}
	if d.socket == "" {
		t.Fatalf("libvirtd.sh printed no socket:\n%s", out)
	}
	t.Logf("libvirtd in %s up in %s (socket %s, tcp %q, host uuid %s)", dir, time.Since(start).Round(time.Millisecond), d.socket, d.tcpURI, d.uuid)
	return d
}

func (d *daemon) stop(t *testing.T) {
	if out, err := exec.Command(scriptPath(t), "stop", d.dir).CombinedOutput(); err != nil {
		t.Errorf("libvirtd.sh stop %s: %v\n%s", d.dir, err, out)
	}
}

func (d *daemon) restart(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(scriptPath(t), "restart", d.dir).CombinedOutput(); err != nil {
		t.Fatalf("libvirtd.sh restart: %v\n%s", err, out)
	}
}

func (d *daemon) libvirtdPID(t *testing.T) int {
	t.Helper()
	return readPID(t, filepath.Join(d.dir, "libvirtd.pid"))
}

// qemuPID is the PID libvirt recorded for a running domain of this daemon.
func (d *daemon) qemuPID(t *testing.T, name string) int {
	t.Helper()
	return readPID(t, filepath.Join(d.dir, "run", "qemu", name+".pid"))
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pid
}

// testLogger sends slog records to t.Log until the test ends (the driver's background probes
// may log later).
func testLogger(t *testing.T) *slog.Logger {
	w := &tlogWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// countIn counts the lines of a console log that contain s.
func countIn(path, s string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte(s))
}

// waitConsole waits until the console log holds s at least n times; it returns how long that
// took.
func waitConsole(t *testing.T, path, s string, n int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if countIn(path, s) >= n {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("%q not seen %d times in %s within %s; console:\n%s", s, n, path, timeout, tail(b, 2000))
	return 0
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// lastTick is the highest "ATOLL-TICK n" in a console log.
func lastTick(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	best := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if _, v, ok := strings.Cut(sc.Text(), "ATOLL-TICK "); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > best {
				best = n
			}
		}
	}
	return best
}

// listState returns the power state ListVMs reports for name ("" when it is not listed).
func listState(t *testing.T, drv hypervisor.Driver, name string) hypervisor.PowerState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	vms, err := drv.ListVMs(ctx)
	if err != nil {
		t.Fatalf("ListVMs: %v", err)
	}
	for _, v := range vms {
		if v.Name == name {
			return v.State
		}
	}
	return ""
}

// newOverlay makes a qcow2 linked clone of base (as CloudStack makes ROOT disks from a
// template).
func newOverlay(t *testing.T, base, path string) string {
	t.Helper()
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, path)
	return path
}

// measurements collects the figures a run reports.
type measurements struct {
	mu    sync.Mutex
	lines []string
}

func (m *measurements) add(format string, args ...any) {
	m.mu.Lock()
	m.lines = append(m.lines, fmt.Sprintf(format, args...))
	m.mu.Unlock()
}

func (m *measurements) report(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.lines {
		fmt.Fprintln(w, "  "+l)
	}
}
