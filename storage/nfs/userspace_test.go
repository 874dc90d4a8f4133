package nfs

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/storage"
	"github.com/atollcloud/atoll/storage/internal/ganeshatest"
	"github.com/atollcloud/atoll/storage/internal/pooltest"
)

// One ganesha serves this test binary (its port is fixed): export 0 is primary storage,
// export 1 secondary.
func TestMain(m *testing.M) { ganeshatest.Main(m, 2) }

func needServer(t *testing.T) *ganeshatest.Server { return ganeshatest.Need(t) }

const poolID = "3d1e5c0a-6b7f-4e2a-9c1d-0f2e3a4b5c6d"

// TestUserspaceNFS runs every operation over userspace NFS, then takes the server away: its
// subtests run in order and the last one stops the shared ganesha.
func TestUserspaceNFS(t *testing.T) {
	s := needServer(t)
	pooltest.NeedQemuImg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	proc, mods := fakeKernel(t, false, false)
	primary := Config{Host: ganeshatest.Host, Export: s.Exports[0], ProcFilesystems: proc, ModulesDir: mods}
	openPool := func(o storage.PoolOptions) storage.Pool {
		p, mode, err := OpenPool(ctx, poolID, primary, o)
		if err != nil {
			t.Fatal(err)
		}
		if mode != ModeUserspace {
			t.Fatalf("auto mode on a kernel without NFS picked %q", mode)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	p := openPool(storage.PoolOptions{HeartbeatTimeout: time.Second})
	store, _, err := OpenStore(ctx, Config{Host: ganeshatest.Host, Export: s.Exports[1], Mode: ModeUserspace}, storage.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	t.Run("source", func(t *testing.T) {
		src := p.Source("vol-1")
		want := storage.Source{Kind: storage.SourceNetwork, Protocol: "nfs", Host: "127.0.0.1", Name: path.Join(s.Exports[0], "vol-1")}
		if src != want {
			t.Fatalf("Source = %+v, want %+v", src, want)
		}
	})
	t.Run("pool", func(t *testing.T) {
		tm := pooltest.Run(t, pooltest.Env{Pool: p, Pool2: openPool(storage.PoolOptions{}), Store: store})
		t.Logf("userspace NFS: 30 MB template install %v, clone %v, snapshot backup %v, restore %v", tm.Install, tm.Clone, tm.Backup, tm.Restore)
	})
	t.Run("download", func(t *testing.T) { pooltest.RunDownload(t, store) })
	t.Run("unknown export", func(t *testing.T) {
		_, _, err := OpenPool(ctx, "p2", Config{Host: ganeshatest.Host, Export: "/no/such/export", Mode: ModeUserspace}, storage.PoolOptions{})
		if err == nil || !strings.Contains(err.Error(), "MNT3ERR") {
			t.Fatalf("open an unknown export: %v", err)
		}
	})

	// The server hangs (SIGSTOP): every operation ends at its deadline.
	t.Run("server hangs", func(t *testing.T) {
		if err := p.Heartbeat(ctx, "host-1"); err != nil {
			t.Fatal(err)
		}
		if err := s.Freeze(); err != nil {
			t.Fatal(err)
		}
		defer s.Thaw()
		within(t, "heartbeat", 1*time.Second, func(context.Context) error { return p.Heartbeat(ctx, "host-1") })
		within(t, "create", 2*time.Second, func(c context.Context) error {
			_, err := p.Create(c, "vol-hang", 1<<20)
			return err
		})
		within(t, "qemu-img create", 2*time.Second, func(c context.Context) error {
			return storage.QemuImg{}.Create(c, URL(ganeshatest.Host, s.Exports[0], "vol-hang"), 1<<20)
		})
		within(t, "capacity", 1*time.Second, func(c context.Context) error {
			_, err := p.Capacity(c)
			return err
		})
		if err := s.Thaw(); err != nil {
			t.Fatal(err)
		}
		if err := p.Heartbeat(ctx, "host-1"); err != nil {
			t.Fatalf("heartbeat after the server came back: %v", err)
		}
	})

	// The server goes away: operations fail at once with a clear error.
	t.Run("server gone", func(t *testing.T) {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		for _, op := range []struct {
			name string
			fn   func(context.Context) error
		}{
			{"heartbeat", func(context.Context) error { return p.Heartbeat(ctx, "host-1") }},
			{"create", func(c context.Context) error { _, err := p.Create(c, "vol-gone", 1<<20); return err }},
		} {
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			start := time.Now()
			err := op.fn(c)
			cancel()
			if err == nil {
				t.Fatalf("%s with the server gone succeeded", op.name)
			}
			t.Logf("%s with the server gone: %v after %v", op.name, err, time.Since(start).Round(time.Millisecond))
			if !strings.Contains(err.Error(), "connection refused") && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: error %q does not say the server is unreachable", op.name, err)
			}
		}
	})
}

// within runs fn with a deadline of d and checks it fails with DeadlineExceeded well within
// twice d.
func within(t *testing.T, what string, d time.Duration, fn func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s on a hung server: %v, want a deadline error", what, err)
	}
	if took > 2*d+time.Second {
		t.Fatalf("%s on a hung server took %v with a %v deadline", what, took, d)
	}
	t.Logf("%s on a hung server: failed after %v: %v", what, took.Round(time.Millisecond), err)
}
