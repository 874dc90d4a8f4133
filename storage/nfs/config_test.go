package nfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/storage"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, host, export string
		bad              bool
	}{
		{in: "nfs://10.0.0.5/export/primary", host: "10.0.0.5", export: "/export/primary"},
		{in: "nfs://nfs.example/export/primary/", host: "nfs.example", export: "/export/primary"},
		{in: "nfs://[fd00::5]/srv/sec", host: "fd00::5", export: "/srv/sec"},
		{in: "nfs://10.0.0.5/", bad: true},
		{in: "nfs://10.0.0.5:2049/export", bad: true},
		{in: "http://10.0.0.5/export", bad: true},
		{in: "nfs:///export", bad: true},
		{in: "nfs://10.0.0.5/export/../etc", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			host, export, err := ParseURL(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("ParseURL(%q) = %q %q, want an error", tc.in, host, export)
				}
				return
			}
			if err != nil || host != tc.host || export != tc.export {
				t.Fatalf("ParseURL(%q) = %q, %q, %v", tc.in, host, export, err)
			}
		})
	}
}

func TestURL(t *testing.T) {
	for _, tc := range []struct{ host, export, file, want string }{
		{"127.0.0.1", "/tmp/exp", "vol-1", "nfs://127.0.0.1/tmp/exp/vol-1"},
		{"127.0.0.1", "/tmp/exp/", "snapshots/v/s", "nfs://127.0.0.1/tmp/exp/snapshots/v/s"},
		{"fd00::5", "/e", "a b", "nfs://[fd00::5]/e/a%20b"},
	} {
		if got := URL(tc.host, tc.export, tc.file); got != tc.want {
			t.Errorf("URL(%q, %q, %q) = %q, want %q", tc.host, tc.export, tc.file, got, tc.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeAuto, "auto": ModeAuto, "Kernel": ModeKernel, "userspace": ModeUserspace} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMode("fuse"); err == nil {
		t.Error("ParseMode(fuse) accepted")
	}
}

// fakeKernel writes a /proc/filesystems and a modules directory, with or without NFS.
func fakeKernel(t *testing.T, procNFS, module bool) (proc, mods string) {
	t.Helper()
	dir := t.TempDir()
	proc = filepath.Join(dir, "filesystems")
	body := "nodev\tsysfs\nnodev\tproc\n\text4\n"
	if procNFS {
		body += "nodev\tnfs\nnodev\tnfs4\n"
	}
	if err := os.WriteFile(proc, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	mods = filepath.Join(dir, "modules")
	if module {
		if err := os.MkdirAll(filepath.Join(mods, "kernel", "fs", "nfs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mods, "kernel", "fs", "nfs", "nfs.ko.xz"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return proc, mods
}

func TestKernelProbeAndModePick(t *testing.T) {
	for _, tc := range []struct {
		name          string
		procNFS, mod  bool
		mode, want    Mode
		wantKernelNFS bool
	}{
		{"registered", true, false, ModeAuto, ModeKernel, true},
		{"module only", false, true, ModeAuto, ModeKernel, true},
		{"none: userspace", false, false, ModeAuto, ModeUserspace, false},
		{"forced userspace", true, true, ModeUserspace, ModeUserspace, true},
		{"forced kernel", false, false, ModeKernel, ModeKernel, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc, mods := fakeKernel(t, tc.procNFS, tc.mod)
			ok, why := KernelHasNFS(proc, mods)
			if ok != tc.wantKernelNFS {
				t.Fatalf("KernelHasNFS = %v (%s)", ok, why)
			}
			c := Config{Mode: tc.mode, ProcFilesystems: proc, ModulesDir: mods}
			if got, _ := c.pick(); got != tc.want {
				t.Fatalf("pick = %q, want %q", got, tc.want)
			}
		})
	}
}

// Where the kernel has no NFS client, kernel mode fails at once with a clear error.
func TestKernelModeWithoutNFSClient(t *testing.T) {
	proc, mods := fakeKernel(t, false, false)
	_, mode, err := Open(context.Background(), Config{
		Host: "127.0.0.1", Export: "/export", ID: "5b1c9a6e-pool", Mode: ModeKernel,
		MountRoot: t.TempDir(), ProcFilesystems: proc, ModulesDir: mods,
	})
	if mode != ModeKernel || !errors.Is(err, storage.ErrNoKernelNFS) {
		t.Fatalf("Open in kernel mode: %q, %v; want ErrNoKernelNFS", mode, err)
	}
	if !strings.Contains(err.Error(), "this kernel has no NFS client") || !strings.Contains(err.Error(), "userspace") {
		t.Fatalf("error %q does not say what is wrong and what to do", err)
	}
}

func TestIsMountPoint(t *testing.T) {
	if ok, err := isMountPoint("/"); !ok || err != nil {
		t.Fatalf("isMountPoint(/) = %v, %v", ok, err)
	}
	if ok, err := isMountPoint(t.TempDir()); ok || err != nil {
		t.Fatalf("isMountPoint(tempdir) = %v, %v", ok, err)
	}
	if got := unescapeMount(`/mnt/a\040b`); got != "/mnt/a b" {
		t.Fatalf("unescapeMount = %q", got)
	}
}
