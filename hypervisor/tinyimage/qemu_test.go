package tinyimage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireRoot skips a test that boots guests unless it runs as root; under CI=true it fails.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("boot tests need root (QEMU, taps, network namespaces) and CI runs as root")
	}
	t.Skip("boot tests need root: they run QEMU and create network namespaces")
}

// template installs what the boot tests use, builds the template when needed and returns it.
func template(t *testing.T) Files {
	t.Helper()
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	run(ctx, t, "", filepath.Join(root, "scripts", "tiny-template.sh"), "--test-deps")
	start := time.Now()
	f, err := Build(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("template ready in %v: %s", time.Since(start).Round(time.Millisecond), f.Disk)
	return f
}

// run runs a command (in network namespace ns unless ns is "") and returns its stdout.
func run(ctx context.Context, t *testing.T, ns string, name string, args ...string) string {
	t.Helper()
	if ns != "" {
		args = append([]string{"netns", "exec", ns, name}, args...)
		name = "ip"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String()
}

// guest is one QEMU process under TCG with its serial console in a file and a QMP socket.
type guest struct {
	t      *testing.T
	log    string
	qmp    string
	start  time.Time
	cmd    *exec.Cmd
	exited chan struct{}
}

// boot starts qemu-system-x86_64 (inside network namespace ns unless ns is "") with args added
// to a bare machine: TCG, 256 MiB, no default devices, serial console to a file, QMP socket.
func boot(t *testing.T, ns string, args ...string) *guest {
	t.Helper()
	dir := t.TempDir()
	g := &guest{t: t, log: filepath.Join(dir, "console.log"), qmp: filepath.Join(dir, "qmp.sock"), exited: make(chan struct{})}
	argv := append([]string{
		"qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nodefaults", "-no-user-config",
		"-display", "none", "-monitor", "none", "-serial", "file:" + g.log,
		"-qmp", "unix:" + g.qmp + ",server=on,wait=off",
	}, args...)
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	out, err := os.Create(filepath.Join(dir, "qemu.out"))
	if err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(argv[0], argv[1:]...)
	g.cmd.Stdout, g.cmd.Stderr = out, out
	g.start = time.Now()
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	go func() {
		g.cmd.Wait()
		out.Close()
		close(g.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-g.exited:
		default:
			g.cmd.Process.Kill()
			<-g.exited
		}
		if t.Failed() {
			con, _ := os.ReadFile(g.log)
			qo, _ := os.ReadFile(filepath.Join(dir, "qemu.out"))
			t.Logf("qemu: %s\nqemu output:\n%s\nconsole:\n%s", strings.Join(argv, " "), qo, con)
		}
	})
	return g
}

// wait returns the console line carrying marker, failing the test after timeout.
func (g *guest) wait(marker string, timeout time.Duration) string {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	line, err := WaitLine(ctx, g.log, marker)
	if err != nil {
		g.t.Fatal(err)
	}
	return line
}

// console returns the lines printed so far, without carriage returns.
func (g *guest) console() []string {
	b, _ := os.ReadFile(g.log)
	return strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n")
}

// waitExit waits for QEMU to exit by itself.
func (g *guest) waitExit(timeout time.Duration) bool {
	select {
	case <-g.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// execute runs one QMP command on the guest's monitor socket.
func (g *guest) execute(cmd string, args any) error {
	var c net.Conn
	var err error
	for i := 0; i < 100; i++ {
		if c, err = net.Dial("unix", g.qmp); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("qmp dial: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	dec, enc := json.NewDecoder(c), json.NewEncoder(c)
	var greeting map[string]json.RawMessage
	if err := dec.Decode(&greeting); err != nil {
		return fmt.Errorf("qmp greeting: %w", err)
	}
	for _, req := range []map[string]any{{"execute": "qmp_capabilities"}, {"execute": cmd, "arguments": args}} {
		if args == nil {
			delete(req, "arguments")
		}
		if err := enc.Encode(req); err != nil {
			return fmt.Errorf("qmp %s: %w", req["execute"], err)
		}
		for {
			var resp map[string]json.RawMessage
			if err := dec.Decode(&resp); err != nil {
				return fmt.Errorf("qmp %s: %w", req["execute"], err)
			}
			if e, ok := resp["error"]; ok {
				return fmt.Errorf("qmp %s: %s", req["execute"], e)
			}
			if _, ok := resp["return"]; ok {
				break
			}
		}
	}
	return nil
}

// configDrive writes files (path -> content) under a fresh directory and makes an ISO of it
// the way CloudStack's ConfigDriveBuilder does (genisoimage, Joliet and Rock Ridge, label config-2).
func configDrive(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, "drive", p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	iso := filepath.Join(dir, "configdrive.iso")
	run(context.Background(), t, "", "genisoimage", "-o", iso, "-ldots", "-allow-lowercase", "-allow-multidot",
		"-cache-inodes", "-l", "-quiet", "-J", "-r", "-V", "config-2", filepath.Join(dir, "drive"))
	return iso
}

// overlay creates a qcow2 overlay on base (so the template is never written) in a temp dir.
func overlay(t *testing.T, base string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "root.qcow2")
	run(context.Background(), t, "", "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", p)
	return p
}

// emptyDisk creates an empty qcow2 image of size bytes in a temp dir.
func emptyDisk(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.qcow2")
	run(context.Background(), t, "", "qemu-img", "create", "-q", "-f", "qcow2", p, fmt.Sprint(size))
	return p
}

// virtualSize returns the virtual size of a disk image in bytes.
func virtualSize(t *testing.T, image string) int64 {
	t.Helper()
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	out := run(context.Background(), t, "", "qemu-img", "info", "--output=json", image)
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.VirtualSize <= 0 {
		t.Fatalf("qemu-img info %s: %v (%q)", image, err, out)
	}
	return info.VirtualSize
}

// fileSize returns the size of a file in bytes.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// netns creates a throwaway network namespace, deleted at cleanup.
func netns(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	ns := "attiny-" + hex.EncodeToString(b)
	run(context.Background(), t, "", "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run(context.Background(), t, "", "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// inOrder checks that every marker appears in lines, each after the previous one.
func inOrder(lines []string, markers ...string) error {
	i := 0
	for _, m := range markers {
		for ; i < len(lines); i++ {
			if _, ok := matchLine(lines[i], m); ok {
				break
			}
		}
		if i == len(lines) {
			return fmt.Errorf("%s missing or out of order (want order %s)", m, strings.Join(markers, ", "))
		}
		i++
	}
	return nil
}
