package mgmt_test

// Tests that run the real `atoll` binary as separate processes. The binary is $ATOLL_BIN when
// set (scripts/test.sh sets it after `make build`), otherwise built once for this package.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/api"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// atollBin returns the atoll binary to run.
func atollBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("ATOLL_BIN"); p != "" {
			if _, err := os.Stat(p); err != nil {
				binErr = fmt.Errorf("ATOLL_BIN=%s: %w (run make build)", p, err)
			}
			binPath = p
			return
		}
		if binDir, binErr = os.MkdirTemp("", "atoll-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "atoll")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/atollcloud/atoll/cmd/atoll").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ./cmd/atoll: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// lockedBuffer collects a process's output for the test to read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is one running atoll process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

// startAtoll starts `atoll args...` with extra environment; it is killed (by its pid) at
// cleanup if still running, and its output is logged if the test failed.
func startAtoll(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, exited: make(chan struct{})}
	p.cmd = exec.Command(atollBin(t), args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s (pid %d) stdout:\n%s\nstderr:\n%s", name, p.cmd.Process.Pid, p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

// waitOutput waits until the process's stdout matches re and returns the submatches.
func (p *proc) waitOutput(t *testing.T, re *regexp.Regexp, max time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(max)
	for {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
			return m
		}
		select {
		case <-p.exited:
			if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
				return m
			}
			t.Fatalf("%s exited (%v) before printing %q:\n%s", p.name, p.err, re, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %v", p.name, re, max)
		}
	}
}

// stop sends SIGTERM and returns the exit error (nil for status 0).
func (p *proc) stop(t *testing.T, max time.Duration) error {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(max):
		t.Fatalf("%s did not exit within %v of SIGTERM", p.name, max)
		return nil
	}
}

var mgmtListening = regexp.MustCompile(`atoll mgmt (\S+) listening on (http://\S+/client/api)`)

// mgmtServer is a running `atoll mgmt` process.
type mgmtServer struct {
	*proc
	ID, URL string
}

// startMgmt starts `atoll mgmt` on the database and key file; it listens on a port from the OS.
func startMgmt(t *testing.T, name, dbURL, keyFile string, env []string, extra ...string) *mgmtServer {
	t.Helper()
	args := append([]string{"mgmt", "--db", dbURL, "--key-file", keyFile, "--listen", "127.0.0.1:0", "--name", name}, extra...)
	return &mgmtServer{proc: startAtoll(t, name, env, args...)}
}

func (s *mgmtServer) ready(t *testing.T) *mgmtServer {
	t.Helper()
	m := s.waitOutput(t, mgmtListening, 60*time.Second)
	s.ID, s.URL = m[1], m[2]
	return s
}

// writeKeyFile writes a fresh secret-key file, as an operator distributes one to every server.
func writeKeyFile(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	path := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// session is a logged-in admin: the JSESSIONID cookie (sent to any server on 127.0.0.1,
// since sessions live in the database) plus the sessionkey parameter.
type session struct {
	jar http.CookieJar
	key string
}

func login(t *testing.T, url string) *session {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &api.Client{Endpoint: url, Post: true, HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	res, err := c.Do(t.Context(), "login", map[string]string{"username": "admin", "password": "password"})
	if err != nil {
		t.Fatalf("login at %s: %v", url, err)
	}
	key, _ := res["sessionkey"].(string)
	if key == "" {
		t.Fatalf("login answered no sessionkey: %v", res)
	}
	return &session{jar: jar, key: key}
}

// do runs a command on the server at url in this session.
func (s *session) do(t *testing.T, url, cmd string, params map[string]string) map[string]any {
	t.Helper()
	res, err := s.try(t.Context(), url, cmd, params)
	if err != nil {
		t.Fatalf("%s at %s: %v", cmd, url, err)
	}
	return res
}

func (s *session) try(ctx context.Context, url, cmd string, params map[string]string) (map[string]any, error) {
	p := map[string]string{"sessionkey": s.key}
	for k, v := range params {
		p[k] = v
	}
	c := &api.Client{Endpoint: url, HTTP: &http.Client{Jar: s.jar, Timeout: 30 * time.Second}}
	return c.Do(ctx, cmd, p)
}

// domainNames lists the live domains' paths through the API at url.
func (s *session) domainPaths(t *testing.T, url string) []string {
	t.Helper()
	res := s.do(t, url, "listDomains", map[string]string{"listall": "true"})
	var out []string
	list, _ := res["domain"].([]any)
	for _, d := range list {
		out = append(out, d.(map[string]any)["path"].(string))
	}
	return out
}

func openDB(t *testing.T, url string) *db.DB {
	t.Helper()
	return dbtest.Open(t, url, false)
}
