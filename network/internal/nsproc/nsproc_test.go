package nsproc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestPath(t *testing.T) {
	for in, want := range map[string]string{
		"atr-1234":           "/var/run/netns/atr-1234",
		"/proc/42/ns/net":    "/proc/42/ns/net",
		"/var/run/netns/x-1": "/var/run/netns/x-1",
	} {
		if got, err := Path(in); err != nil || got != want {
			t.Errorf("Path(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ".", ".."} {
		if _, err := Path(bad); err == nil {
			t.Errorf("Path(%q) accepted", bad)
		}
	}
}

func TestCheckID(t *testing.T) {
	for _, ok := range []string{"3f1b6c1e-8c4e-4a8e-9f6b-1c2d3e4f5a6b", "net-1", "a.b_c"} {
		if err := CheckID(ok); err != nil {
			t.Errorf("CheckID(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", "a..b", "a b", "x\n"} {
		if CheckID(bad) == nil {
			t.Errorf("CheckID(%q) accepted", bad)
		}
	}
}

func TestPIDFileAndCmdline(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "daemon.conf")
	// A shell whose command line carries --conf-file=<marker>, as a daemon's does.
	cmd := exec.Command("sh", "-c", "sleep 30", "sh", "--conf-file="+marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pidfile := filepath.Join(dir, "pid")
	if pid, err := ReadPID(pidfile); pid != 0 || err != nil {
		t.Fatalf("missing pidfile: %d, %v", pid, err)
	}
	os.WriteFile(pidfile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	pid, err := ReadPID(pidfile)
	if err != nil || pid != cmd.Process.Pid {
		t.Fatalf("ReadPID = %d, %v", pid, err)
	}
	if !Ours(pid, marker) {
		t.Fatalf("Ours(%d, %s) = false; cmdline %q", pid, marker, Cmdline(pid))
	}
	if Ours(pid, filepath.Join(dir, "other.conf")) {
		t.Fatal("a pid is ours for a file its command line does not name")
	}
	if got := FindByArg(marker); len(got) != 1 || got[0] != pid {
		t.Fatalf("FindByArg = %v, want [%d]", got, pid)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() // reap, as init would
	if err := Stop(context.Background(), pid, 2*time.Second, marker); err != nil {
		t.Fatal(err)
	}
	<-done
	if Ours(pid, marker) {
		t.Fatal("still ours after Stop")
	}
	os.WriteFile(pidfile, []byte("garbage"), 0o644)
	if _, err := ReadPID(pidfile); err == nil {
		t.Fatal("a garbage pidfile was read")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	for i, tc := range []struct {
		data    string
		changed bool
	}{{"a", true}, {"a", false}, {"b", true}} {
		changed, err := WriteFileAtomic(p, []byte(tc.data), 0o644)
		if err != nil || changed != tc.changed {
			t.Fatalf("write %d: changed %v, %v", i, changed, err)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", fi.Mode())
	}
	ids, err := IDs(filepath.Dir(p))
	if err != nil || len(ids) != 0 {
		t.Fatalf("IDs of a dir with a file only = %v, %v", ids, err)
	}
}
