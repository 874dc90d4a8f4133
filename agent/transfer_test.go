package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/hypervisor/simulator"
)

// TestTransferCommandsOnLocalStore: ReadFile answers a store file's chunks and size; WriteFile
// writes an upload chunk by chunk to <path>.upload and publishes it only when whole and an
// image qemu-img reads; anything refused leaves no file; DeleteStoreFile drops an upload in
// progress; CopyVolumeToStore copies a volume out, flattened.
func TestTransferCommandsOnLocalStore(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	storeDir, poolDir := filepath.Join(dir, "secondary"), filepath.Join(dir, "primary")
	hs := &HostStorage{}
	t.Cleanup(func() { hs.Close() })
	a, err := New(Config{Servers: []string{"s"}, GUID: "g", Driver: simulator.New(hypervisor.HostInfo{}), Storage: hs})
	if err != nil {
		t.Fatal(err)
	}
	store := protocol.ImageStoreRef{ID: "s1", URL: "file://" + storeDir}
	run := func(name string, body any, out any) protocol.Answer {
		t.Helper()
		raw, _ := json.Marshal(body)
		ans := a.run(protocol.Command{ID: name + "-" + t.Name(), Name: name, Body: raw})
		if ans.OK && out != nil {
			if err := json.Unmarshal(ans.Body, out); err != nil {
				t.Fatal(err)
			}
		}
		return ans
	}
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(storeDir, p)); return err == nil }

	// An image to upload, in two chunks.
	img := filepath.Join(dir, "img.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", img, "32M").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	data, _ := os.ReadFile(img)
	half := len(data) / 2
	f := protocol.StoreFile{Store: store, Path: "volumes/a/v1/v1.qcow2"}
	var w protocol.FileWritten
	if ans := run(protocol.CmdWriteFile, protocol.WriteFile{StoreFile: f, Data: data[:half]}, &w); !ans.OK || w.Size != int64(half) {
		t.Fatalf("first chunk: %+v %+v", ans, w)
	}
	if exists(f.Path) || !exists(f.Path+".upload") {
		t.Fatalf("an upload in progress must be %s.upload only", f.Path)
	}
	if ans := run(protocol.CmdWriteFile, protocol.WriteFile{StoreFile: f, Offset: 7, Data: data[half:]}, nil); ans.OK || !strings.Contains(ans.Error, "is at") {
		t.Errorf("a chunk at the wrong offset: %+v", ans)
	}
	if ans := run(protocol.CmdWriteFile, protocol.WriteFile{StoreFile: f, Offset: int64(half), Data: data[half:], Last: true, Size: int64(len(data))}, &w); !ans.OK ||
		w.Format != "qcow2" || w.VirtualSize != 32<<20 || w.Size != int64(len(data)) {
		t.Fatalf("last chunk: %+v %+v", ans, w)
	}
	if !exists(f.Path) || exists(f.Path+".upload") {
		t.Fatalf("a finished upload must be at %s only", f.Path)
	}

	// ReadFile gives it back, chunk by chunk.
	var c protocol.FileChunk
	if ans := run(protocol.CmdReadFile, protocol.ReadFile{StoreFile: f, Offset: 10, Length: 100}, &c); !ans.OK || c.Size != int64(len(data)) ||
		!bytes.Equal(c.Data, data[10:110]) {
		t.Errorf("ReadFile: %+v, %d bytes", ans, len(c.Data))
	}
	if ans := run(protocol.CmdReadFile, protocol.ReadFile{StoreFile: f, Offset: int64(len(data)) - 5, Length: 100}, &c); !ans.OK || len(c.Data) != 5 {
		t.Errorf("ReadFile at the end: %+v, %d bytes", ans, len(c.Data))
	}
	for _, bad := range []protocol.ReadFile{
		{StoreFile: protocol.StoreFile{Store: store, Path: "../etc/passwd"}, Length: 10},
		{StoreFile: f, Length: protocol.MaxChunk + 1},
		{StoreFile: f, Length: 0},
		{StoreFile: protocol.StoreFile{Store: store, Path: "missing"}, Length: 10},
	} {
		if ans := run(protocol.CmdReadFile, bad, nil); ans.OK {
			t.Errorf("ReadFile %+v answered OK", bad)
		}
	}

	// Any bytes are a raw image to qemu-img: the host says so (the management server then
	// holds it against the declared format).
	r := protocol.StoreFile{Store: store, Path: "volumes/a/v3/v3.raw"}
	if ans := run(protocol.CmdWriteFile, protocol.WriteFile{StoreFile: r, Data: []byte("not an image at all"), Last: true, Size: 19}, &w); !ans.OK || w.Format != "raw" {
		t.Errorf("arbitrary bytes: %+v %+v", ans, w)
	}
	// Refused uploads leave nothing: a qcow2 with a backing file; fewer bytes than announced.
	g := protocol.StoreFile{Store: store, Path: "volumes/a/v2/v2.qcow2"}
	backed := filepath.Join(dir, "backed.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", img, "-F", "qcow2", backed).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	bdata, _ := os.ReadFile(backed)
	if ans := run(protocol.CmdWriteFile, protocol.WriteFile{StoreFile: g, Data: bdata, Last: true, Size: int64(len(bdata))}, nil); ans.OK ||
		!strings.Contains(ans.Error, "backing file") {
		t.Errorf("a qcow2 with a backing file: %+v", ans)
	}
	if ans := run(protocol.CmdWriteFile, protocol.WriteFile{StoreFile: g, Data: data, Last: true, Size: int64(len(data)) + 1}, nil); ans.OK ||
		!strings.Contains(ans.Error, "expected") {
		t.Errorf("a short upload: %+v", ans)
	}
	if exists(g.Path) || exists(g.Path+".upload") {
		t.Error("a refused upload left a file")
	}
	// DeleteStoreFile drops an upload in progress.
	run(protocol.CmdWriteFile, protocol.WriteFile{StoreFile: g, Data: data[:half]}, nil)
	if ans := run(protocol.CmdDeleteStoreFile, g, nil); !ans.OK || exists(g.Path+".upload") {
		t.Errorf("DeleteStoreFile of an upload in progress: %+v", ans)
	}
	if ans := run(protocol.CmdWriteFile, protocol.WriteFile{StoreFile: g, Offset: int64(half), Data: data[half:]}, nil); ans.OK {
		t.Error("a dropped upload took its next chunk")
	}

	// CopyVolumeToStore: a linked clone comes out as a standalone qcow2.
	if err := os.MkdirAll(poolDir, 0o755); err != nil {
		t.Fatal(err)
	}
	base, clone := filepath.Join(poolDir, "base"), filepath.Join(poolDir, "vol-1")
	for _, args := range [][]string{{"create", "-q", "-f", "qcow2", base, "16M"}, {"create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", clone}} {
		if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	pool := protocol.PoolRef{ID: "p1", Type: "Filesystem", URL: "file://" + poolDir}
	var sa protocol.SnapshotAnswer
	if ans := run(protocol.CmdCopyVolumeToStore, protocol.CopyVolumeToStore{Volume: protocol.VolumeRef{ID: "vol-1", Pool: pool}, Store: store,
		Path: "volumes/extract/vol-1/vol-1.qcow2"}, &sa); !ans.OK || sa.PhysicalSize == 0 {
		t.Fatalf("CopyVolumeToStore: %+v %+v", ans, sa)
	}
	if info := qemuInfo(t, filepath.Join(storeDir, sa.Path)); info.BackingFilename != "" || info.VirtualSize != 16<<20 {
		t.Errorf("the copy out: %+v", info)
	}
}
