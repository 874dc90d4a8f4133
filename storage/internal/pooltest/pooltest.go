package pooltest

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atollcloud/atoll/storage"
)

const mib = 1 << 20

// Env is what the suite runs on.
type Env struct {
	Pool storage.Pool
	// Pool2 is another host's view of the same pool (another connection or FS), for races
	// between hosts.
	Pool2 storage.Pool
	Store *storage.ImageStore
}

// NeedQemuImg skips (or fails under CI=true) when qemu-img or qemu-io is missing.
func NeedQemuImg(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"qemu-img", "qemu-io"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true: %s is needed (apt-get install qemu-utils)", bin)
			}
			t.Skipf("%s not installed (apt-get install qemu-utils)", bin)
		}
	}
}

// MakeTemplate writes a qcow2 of virtual size vsize holding data bytes of random (so
// incompressible) data into a local file and returns its path.
func MakeTemplate(t *testing.T, data, vsize int64) string {
	t.Helper()
	dir := t.TempDir()
	raw := filepath.Join(dir, "t.raw")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, data); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(vsize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := filepath.Join(dir, "t.qcow2")
	run(t, "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, out)
	os.Remove(raw)
	return out
}

// Upload copies a local file into fs at path (through fs, never behind its back).
func Upload(t *testing.T, fs storage.FS, local, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := fs.MkdirAll(ctx, filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	w, err := fs.Create(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, in); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// noLeftovers fails when fs's directory dir holds temporary (.part) files.
func noLeftovers(t *testing.T, fs storage.FS, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ents, err := fs.ReadDir(ctx, dir)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name, ".part") {
			t.Errorf("leftover temporary file %s/%s", dir, e.Name)
		}
	}
}

// Timings are the figures the suite measured.
type Timings struct {
	Install, Clone, Backup, Restore time.Duration
}

// Run exercises every Pool operation in order and returns its timings. The template is a
// 30 MB (random data) qcow2 of 64 MiB virtual size on the store.
func Run(t *testing.T, e Env) Timings {
	NeedQemuImg(t)
	var tm Timings
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, sfs := e.Pool, e.Store.FS()
	const tmplID = "7f0c5d2e-0001-4c1b-9d7a-1a2b3c4d5e6f"
	tmplPath := storage.TemplatePath("2", tmplID, tmplID+".qcow2")
	Upload(t, sfs, MakeTemplate(t, 30*1000*1000, 64*mib), tmplPath)

	t.Run("check and capacity", func(t *testing.T) {
		if err := p.Check(ctx); err != nil {
			t.Fatal(err)
		}
		c, err := p.Capacity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Total <= 0 || c.Available > c.Total || c.Used > c.Total || c.Used < 0 {
			t.Fatalf("capacity %+v", c)
		}
	})

	var tmpl storage.VolumeInfo
	t.Run("install template", func(t *testing.T) {
		start := time.Now()
		v, err := p.InstallTemplate(ctx, tmplID, sfs, tmplPath, "qcow2")
		tm.Install = time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if v.Name != storage.TemplateName(tmplID) || v.Format != "qcow2" || v.VirtualSize != 64*mib || v.BackingFile != "" {
			t.Fatalf("installed %+v", v)
		}
		tmpl = v
		again, err := p.InstallTemplate(ctx, tmplID, sfs, tmplPath, "qcow2")
		if err != nil || again.Name != v.Name {
			t.Fatalf("second install: %+v, %v", again, err)
		}
	})

	t.Run("concurrent installs on two hosts", func(t *testing.T) {
		const id2 = "7f0c5d2e-0002-4c1b-9d7a-1a2b3c4d5e6f"
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := range 6 {
			pool := p
			if i%2 == 1 {
				pool = e.Pool2
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := pool.InstallTemplate(ctx, id2, sfs, tmplPath, "qcow2")
				if err == nil && v.VirtualSize != 64*mib {
					err = errors.New("wrong size " + v.Name)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		noLeftovers(t, sfs, ".")
		noLeftovers(t, sfs, filepath.Dir(tmplPath))
		if err := p.Delete(ctx, storage.TemplateName(id2)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("create empty", func(t *testing.T) {
		v, err := p.Create(ctx, "vol-empty", 100*mib)
		if err != nil {
			t.Fatal(err)
		}
		if v.Format != "qcow2" || v.VirtualSize != 100*mib || v.BackingFile != "" {
			t.Fatalf("created %+v", v)
		}
		if _, err := p.Create(ctx, "vol-empty", 100*mib); err != nil {
			t.Fatalf("replayed create: %v", err)
		}
		if _, err := p.Create(ctx, "vol-empty", 50*mib); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("create over a different volume: %v, want ErrExists", err)
		}
	})

	var clone storage.VolumeInfo
	t.Run("clone from template", func(t *testing.T) {
		start := time.Now()
		v, err := p.CreateFromTemplate(ctx, "vol-root", tmpl.Name, 128*mib)
		tm.Clone = time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if v.BackingFile != loc(p, tmpl.Name) {
			t.Fatalf("clone %+v: want backing file %s", v, loc(p, tmpl.Name))
		}
		if v.VirtualSize != 128*mib || v.ActualSize > 10*mib {
			t.Fatalf("clone %+v: want 128 MiB virtual and a small file", v)
		}
		if _, err := p.CreateFromTemplate(ctx, "vol-root", tmpl.Name, 128*mib); err != nil {
			t.Fatalf("replayed clone: %v", err)
		}
		// Guest data in the overlay, on top of the template's.
		run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0xab 1M 1M", loc(p, "vol-root"))
		clone = v
	})

	t.Run("resize", func(t *testing.T) {
		v, err := p.Resize(ctx, "vol-root", 256*mib, false)
		if err != nil || v.VirtualSize != 256*mib {
			t.Fatalf("grow: %+v, %v", v, err)
		}
		if _, err := p.Resize(ctx, "vol-root", 200*mib, false); err == nil {
			t.Fatal("shrink without shrink=true succeeded")
		}
		v, err = p.Resize(ctx, "vol-root", 200*mib, true)
		if err != nil || v.VirtualSize != 200*mib {
			t.Fatalf("shrink: %+v, %v", v, err)
		}
	})

	t.Run("info and exists", func(t *testing.T) {
		v, err := p.Info(ctx, "vol-root")
		if err != nil || v.BackingFile != clone.BackingFile {
			t.Fatalf("info %+v, %v", v, err)
		}
		if ok, err := p.Exists(ctx, "vol-root"); !ok || err != nil {
			t.Fatalf("exists: %v, %v", ok, err)
		}
		if ok, err := p.Exists(ctx, "vol-nope"); ok || err != nil {
			t.Fatalf("exists (missing): %v, %v", ok, err)
		}
		if _, err := p.Info(ctx, "vol-nope"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("info of a missing volume: %v, want ErrNotFound", err)
		}
	})

	snap := storage.SnapshotPath("vol-root", "snap-1")
	t.Run("backup snapshot", func(t *testing.T) {
		start := time.Now()
		b, err := p.BackupSnapshot(ctx, "vol-root", sfs, snap)
		tm.Backup = time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if b.Path != snap || b.VirtualSize != 200*mib || b.PhysicalSize < 30*1000*1000 {
			t.Fatalf("backup %+v: want 200 MiB virtual, at least the template's 30 MB of data", b)
		}
		ii, err := storage.QemuImg{}.Info(ctx, sfs.Locate(snap), "qcow2")
		if err != nil || ii.BackingFile != "" {
			t.Fatalf("backup is not standalone: %+v, %v", ii, err)
		}
		if _, err := p.BackupSnapshot(ctx, "vol-root", sfs, snap); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("second backup to the same path: %v, want ErrExists", err)
		}
		noLeftovers(t, sfs, filepath.Dir(snap))
	})

	t.Run("create from snapshot", func(t *testing.T) {
		start := time.Now()
		v, err := p.CreateFromSnapshot(ctx, "vol-restored", sfs, snap, 300*mib)
		tm.Restore = time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if v.BackingFile != "" || v.VirtualSize != 300*mib {
			t.Fatalf("restored %+v", v)
		}
		// The restored volume holds the template's data and the guest's write.
		run(t, "qemu-img", "compare", "-q", "-f", "qcow2", "-F", "qcow2",
			loc(p, "vol-root"), loc(p, "vol-restored"))
		run(t, "qemu-io", "-f", "qcow2", "-c", "read -P 0xab 1M 1M", loc(p, "vol-restored"))
	})

	t.Run("delete", func(t *testing.T) {
		for _, name := range []string{"vol-root", "vol-restored", "vol-empty"} {
			if err := p.Delete(ctx, name); err != nil {
				t.Fatal(err)
			}
			if err := p.Delete(ctx, name); err != nil {
				t.Fatalf("second delete: %v", err)
			}
			if ok, _ := p.Exists(ctx, name); ok {
				t.Fatalf("%s still exists", name)
			}
		}
		if err := e.Store.Delete(ctx, snap); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Store.Stat(ctx, snap); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("backup still there: %v", err)
		}
	})

	t.Run("heartbeat", func(t *testing.T) {
		for range 2 {
			if err := p.Heartbeat(ctx, "host-1"); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Pool2.Heartbeat(ctx, "host-2"); err != nil {
			t.Fatal(err)
		}
		// Each host sees the others' heartbeats.
		for _, h := range []struct {
			pool storage.Pool
			host string
		}{{p, "host-2"}, {e.Pool2, "host-1"}} {
			at, err := h.pool.LastHeartbeat(ctx, h.host)
			if err != nil || time.Since(at) > time.Minute || time.Since(at) < 0 {
				t.Fatalf("LastHeartbeat(%s) = %v, %v", h.host, at, err)
			}
		}
		if _, err := p.LastHeartbeat(ctx, "host-never"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("LastHeartbeat of a host that never wrote: %v, want ErrNotFound", err)
		}
	})

	t.Run("bad names", func(t *testing.T) {
		for _, name := range []string{"", "../etc/passwd", ".hidden", "a/b", "-rf"} {
			if _, err := p.Create(ctx, name, mib); !errors.Is(err, storage.ErrBadName) {
				t.Errorf("Create(%q): %v, want ErrBadName", name, err)
			}
		}
		if _, err := p.BackupSnapshot(ctx, tmpl.Name, sfs, "../x"); !errors.Is(err, storage.ErrBadName) {
			t.Errorf("backup to ../x: %v, want ErrBadName", err)
		}
	})

	noLeftovers(t, sfs, ".")
	t.Logf("timings: install %v, clone %v, backup %v, restore %v", tm.Install, tm.Clone, tm.Backup, tm.Restore)
	return tm
}

// loc is what qemu-img and qemu-io are given for a volume: a file path or an nfs:// URL.
func loc(p storage.Pool, name string) string {
	s := p.Source(name)
	if s.Kind == storage.SourceFile {
		return s.Path
	}
	return "nfs://" + s.Host + s.Name
}
