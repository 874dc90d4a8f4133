package local_test

import (
	"path/filepath"
	"testing"

	"github.com/atollcloud/atoll/storage"
	"github.com/atollcloud/atoll/storage/internal/pooltest"
	"github.com/atollcloud/atoll/storage/local"
)

func TestLocalPool(t *testing.T) {
	pooltest.NeedQemuImg(t)
	dir := t.TempDir()
	open := func() storage.Pool {
		p, err := local.NewPool("pool-local", filepath.Join(dir, "primary"), storage.PoolOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	store, err := local.NewStore(filepath.Join(dir, "secondary"), storage.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := open()
	if s := p.Source("v"); s.Kind != storage.SourceFile || s.Path != filepath.Join(dir, "primary", "v") {
		t.Fatalf("Source = %+v", s)
	}
	tm := pooltest.Run(t, pooltest.Env{Pool: p, Pool2: open(), Store: store})
	t.Logf("local: 30 MB template install %v, clone %v, snapshot backup %v, restore %v", tm.Install, tm.Clone, tm.Backup, tm.Restore)
}

func TestLocalDownload(t *testing.T) {
	pooltest.NeedQemuImg(t)
	store, err := local.NewStore(t.TempDir(), storage.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pooltest.RunDownload(t, store)
}
