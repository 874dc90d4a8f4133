package ganeshatest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a running ganesha.
type Server struct {
	Dir     string   // the script's state directory
	Root    string   // a temporary directory holding the exports
	Exports []string // absolute export paths, as in nfs://127.0.0.1/<export>
	script  string
}

// Host is the address the server listens on.
const Host = "127.0.0.1"

// Skip returns why the real tier cannot run here ("" when it can): it needs root. Under
// CI=true it never skips: the caller must fail instead.
func Skip() string {
	if os.Geteuid() != 0 {
		return "needs root to run nfs-ganesha (set CI=true to make this a failure)"
	}
	return ""
}

// InCI reports whether CI=true: tiers must not skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Start runs scripts/ganesha.sh with n fresh export directories.
func Start(n int) (*Server, error) {
	script, err := findScript()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "atoll-nfs-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: filepath.Join(root, "ganesha"), Root: root, script: script}
	args := []string{"start", s.Dir}
	for i := range n {
		args = append(args, filepath.Join(root, "export"+strconv.Itoa(i)))
	}
	var stderr bytes.Buffer
	cmd := exec.Command(script, args...)
	cmd.Env = append(os.Environ(), "GANESHA_OWNER="+strconv.Itoa(os.Getpid()))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		os.RemoveAll(root)
		return nil, fmt.Errorf("ganesha.sh start: %w: %s", err, stderr.String())
	}
	s.Exports = strings.Fields(string(out))
	if len(s.Exports) != n {
		s.Stop()
		return nil, fmt.Errorf("ganesha.sh start printed %q, want %d export paths", out, n)
	}
	return s, nil
}

// Pid is the ganesha process id.
func (s *Server) Pid() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, "ganesha.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// Freeze stops (SIGSTOP) the server: it accepts connections and never answers, like an
// NFS server that hangs. It returns once every thread is stopped. Thaw resumes it.
func (s *Server) Freeze() error {
	if err := s.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	pid, err := s.Pid()
	if err != nil {
		return err
	}
	for range 200 {
		if allStopped(pid) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("ganesha %d did not stop after SIGSTOP", pid)
}

// allStopped reports whether every thread of pid is in state T (stopped).
func allStopped(pid int) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			return false
		}
		// the state follows the parenthesised command name
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}

// Thaw resumes a frozen server.
func (s *Server) Thaw() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	pid, err := s.Pid()
	if err != nil {
		return err
	}
	return syscall.Kill(pid, sig)
}

// Stop stops the server (the script kills exactly the pids it started) and removes the
// exports. Calling it twice is harmless.
func (s *Server) Stop() error {
	s.Thaw()
	var err error
	if _, statErr := os.Stat(s.Dir); statErr == nil {
		if out, e := exec.Command(s.script, "stop", s.Dir).CombinedOutput(); e != nil {
			err = fmt.Errorf("ganesha.sh stop: %w: %s", e, out)
		}
	}
	return errors.Join(err, os.RemoveAll(s.Root))
}

func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "ganesha.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/ganesha.sh not found above the working directory")
		}
		dir = parent
	}
}

// shared is the server Main started for this test binary (nil when the tier cannot run).
var shared *Server

// Main is a test binary's TestMain: it starts one server with n exports (unless Skip says the
// tier cannot run here), runs the tests, and stops it.
func Main(m *testing.M, n int) {
	if Skip() == "" {
		s, err := Start(n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "start ganesha:", err)
			os.Exit(1)
		}
		shared = s
	}
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// Need returns the server Main started, or skips the test (fails it under CI=true).
func Need(t *testing.T) *Server {
	t.Helper()
	if shared == nil {
		if InCI() {
			t.Fatal("CI=true: the nfs-ganesha tier must run, but " + Skip())
		}
		t.Skip(Skip())
	}
	return shared
}
