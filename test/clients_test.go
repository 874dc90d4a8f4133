package test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// atollBinary returns $ATOLL_BIN or builds the binary into a temporary directory.
func atollBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("ATOLL_BIN"); b != "" {
		return b
	}
	out := filepath.Join(t.TempDir(), "atoll")
	cmd := exec.Command("go", "build", "-o", out, "../cmd/atoll")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build atoll: %v\n%s", err, b)
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startUp runs `atoll up` on a fresh data dir and returns its API endpoint and data dir; it is
// stopped (by pid, SIGTERM then SIGKILL) at cleanup.
func startUp(t *testing.T, extra ...string) (endpoint, dataDir string) {
	t.Helper()
	addr := freePort(t)
	dataDir = t.TempDir()
	args := append([]string{"up", "--data-dir", dataDir, "--listen", addr, "--agent-listen", freePort(t)}, extra...)
	cmd := exec.Command(atollBinary(t), args...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("atoll up exited with %v after SIGTERM", err)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Error("atoll up did not stop within 15 s of SIGTERM")
		}
	})
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	endpoint = "http://" + addr + "/client/api"
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("atoll up exited before printing its endpoint")
			}
			if strings.Contains(l, "API endpoint") && strings.Contains(l, endpoint) {
				go func() {
					for range lines {
					}
				}()
				resp, err := http.Get(endpoint + "?command=listCapabilities&response=json")
				if err != nil {
					t.Fatalf("endpoint printed but not answering: %v", err)
				}
				resp.Body.Close()
				return endpoint, dataDir
			}
		case <-deadline:
			t.Fatal("atoll up printed no endpoint within 20 s")
		}
	}
}

// requireTool finds a client program; missing ones fail under CI (make test installs them).
func requireTool(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: CI must have %s installed (make deps)", path, pkg)
		}
		t.Skipf("%s not installed (make deps installs %s)", path, pkg)
	}
}

// TestPythonCS drives `atoll up` with Debian's real python3-cs: session login, key
// registration, signed GET and POST calls, async job results, CloudStack errors, scoping.
func TestPythonCS(t *testing.T) {
	requireTool(t, "/usr/lib/python3/dist-packages/cs/client.py", "python3-cs")
	endpoint, _ := startUp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "python/cs_client.py", endpoint)
	out, err := cmd.CombinedOutput()
	t.Logf("python3-cs:\n%s", out)
	if err != nil {
		t.Fatalf("python3-cs checks failed: %v", err)
	}
	if !strings.Contains(string(out), "all python3-cs checks passed") {
		t.Fatal(fmt.Sprintf("unexpected output: %s", out))
	}
}
