package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseImageInfo(t *testing.T) {
	out := []byte(`{
    "virtual-size": 134217728,
    "filename": "nfs://127.0.0.1/export/vol-root",
    "cluster-size": 65536,
    "format": "qcow2",
    "actual-size": 200704,
    "full-backing-filename": "nfs://127.0.0.1/export/template-7",
    "backing-filename": "nfs://127.0.0.1/export/template-7",
    "backing-filename-format": "qcow2",
    "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "corrupt": true}},
    "dirty-flag": false
}`)
	ii, err := parseImageInfo(out)
	if err != nil {
		t.Fatal(err)
	}
	if ii.Format != "qcow2" || ii.VirtualSize != 128<<20 || ii.ActualSize != 200704 ||
		ii.BackingFile != "nfs://127.0.0.1/export/template-7" || ii.BackingFormat != "qcow2" || !ii.Specific.Data.Corrupt {
		t.Fatalf("parsed %+v", ii)
	}
	for _, bad := range []string{`not json`, `{"virtual-size": 1}`} {
		if _, err := parseImageInfo([]byte(bad)); err == nil {
			t.Errorf("parseImageInfo(%q) accepted", bad)
		}
	}
}

// A qemu-img that hangs (an NFS server that stopped answering) is killed at the deadline.
func TestQemuImgKilledAtDeadline(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "qemu-img")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := QemuImg{Path: bin}.Create(ctx, "nfs://127.0.0.1/x/vol", 1<<20)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want deadline exceeded", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("took %v with a 300ms deadline", took)
	}
}

func TestQemuImgErrorCarriesStderr(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "qemu-img")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"Could not open 'x': No such file\" >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := QemuImg{Path: bin}.Info(context.Background(), "x", "qcow2")
	if err == nil || !strings.Contains(err.Error(), "Could not open 'x'") {
		t.Fatalf("error %v does not carry qemu-img's message", err)
	}
}
