// Package nsproc runs code and daemons inside a network namespace given by name or path, and
// keeps track of daemons by pidfile, trusting a pid only when the process's command line still
// names the file the caller gave it (neutron's external_process rule: a pid can be reused).
package nsproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// NetnsDir is where `ip netns` (and netns.NewNamed) bind-mount named namespaces.
const NetnsDir = "/var/run/netns"

// Path turns a namespace reference into a path: a reference with a slash is a path already
// (/proc/<pid>/ns/net, a bind mount elsewhere), anything else is a name under NetnsDir.
func Path(ns string) (string, error) {
	switch {
	case ns == "":
		return "", errors.New("no network namespace given")
	case strings.ContainsRune(ns, '/'):
		return ns, nil
	case ns == "." || ns == "..":
		return "", fmt.Errorf("bad network namespace name %q", ns)
	}
	return filepath.Join(NetnsDir, ns), nil
}

// Open returns a handle on the namespace; the caller closes it.
func Open(ns string) (netns.NsHandle, error) {
	p, err := Path(ns)
	if err != nil {
		return netns.None(), err
	}
	h, err := netns.GetFromPath(p)
	if err != nil {
		return netns.None(), fmt.Errorf("open network namespace %s: %w", p, err)
	}
	return h, nil
}

// Do runs fn on a thread that is inside the namespace. Sockets fn opens stay in that
// namespace whatever thread later uses them; processes fn starts (fork happens on the calling
// thread) are born in it. fn must not rely on other goroutines, which run elsewhere. A thread
// that cannot be put back stays locked, so Go ends it with the goroutine instead of reusing it.
func Do(ns string, fn func() error) error {
	target, err := Open(ns)
	if err != nil {
		return err
	}
	defer target.Close()
	return DoHandle(target, fn)
}

// DoHandle is Do with an open namespace handle.
func DoHandle(target netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current network namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it dies with this goroutine.
		return errors.Join(ferr, fmt.Errorf("back to the original network namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Run runs a program inside the namespace and waits for it, returning what it printed
// (stdout and stderr together). A daemon that forks and exits when ready (dnsmasq, haproxy
// -D) is started with Run: its exit status says whether its configuration was accepted.
func Run(ctx context.Context, ns, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.Stdin = nil
	// A new session: the daemon it leaves behind is not in the agent's process group, so a
	// signal to the agent's group (a terminal's ^C) does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := Do(ns, cmd.Start); err != nil {
		return nil, fmt.Errorf("start %s: %w", prog, err)
	}
	err := cmd.Wait()
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

// ReadPID reads a pidfile: 0 and no error when the file does not exist.
func ReadPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, nil
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pidfile %s: bad pid %q", path, f[0])
	}
	return pid, nil
}

// Cmdline returns a process's arguments; none for a process that is gone or a zombie.
func Cmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// Ours reports whether pid is a live process whose command line has every one of want as an
// argument (or as the value of an --opt=value argument). A stale pidfile whose pid was reused
// by another program, and a zombie, are not ours.
func Ours(pid int, want ...string) bool {
	if pid <= 0 {
		return false
	}
	args := Cmdline(pid)
	if len(args) == 0 {
		return false
	}
	for _, w := range want {
		found := false
		for _, a := range args {
			if a == w || strings.HasSuffix(a, "="+w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Stop sends SIGTERM to pid if it is ours and waits until it is gone, then SIGKILL after grace.
func Stop(ctx context.Context, pid int, grace time.Duration, want ...string) error {
	if !Ours(pid, want...) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %d: %w", pid, err)
	}
	if waitGone(ctx, pid, grace, want) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	if waitGone(ctx, pid, 5*time.Second, want) {
		return nil
	}
	return fmt.Errorf("process %d did not exit", pid)
}

// WaitGone waits up to d for pid to stop being ours; true when it has.
func WaitGone(ctx context.Context, pid int, d time.Duration, want ...string) bool {
	return waitGone(ctx, pid, d, want)
}

func waitGone(ctx context.Context, pid int, d time.Duration, want []string) bool {
	deadline := time.Now().Add(d)
	for {
		if !Ours(pid, want...) {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckID rejects ids that cannot name a state directory safely.
func CheckID(id string) error {
	if !idRE.MatchString(id) || strings.Contains(id, "..") {
		return fmt.Errorf("bad id %q: letters, digits, '.', '_' and '-' only", id)
	}
	return nil
}

// WriteFileAtomic writes data to path through a temporary file and a rename, so a daemon
// re-reading the file never sees half of it. It reports whether the content changed.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (bool, error) {
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return false, err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		os.Remove(tmp)
		return false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, nil
}

// IDs lists the ids that have a state directory under dir (missing dir: none).
func IDs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && CheckID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// FindByArg lists the live processes that have arg among their arguments (a daemon that
// forks workers, or an old haproxy still draining after a reload, shares its command line).
func FindByArg(arg string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if Ours(pid, arg) {
			pids = append(pids, pid)
		}
	}
	return pids
}
