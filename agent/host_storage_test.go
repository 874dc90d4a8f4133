package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/hypervisor/simulator"
)

func needQemuImg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("qemu-img is not installed (make deps installs qemu-utils)")
		}
		t.Skip("qemu-img is not installed")
	}
}

// recordingDriver remembers the spec it was last asked to start, and fails when told to.
type recordingDriver struct {
	*simulator.Driver
	last hypervisor.VMSpec
	fail bool
}

func (d *recordingDriver) StartVM(ctx context.Context, s hypervisor.VMSpec) error {
	d.last = s
	if d.fail {
		return errors.New("injected start failure")
	}
	return d.Driver.StartVM(ctx, s)
}

type fixedBridge string

func (b fixedBridge) BridgeFor(context.Context, protocol.NicSpec) (string, error) {
	return string(b), nil
}

func startCommand(t *testing.T, s protocol.VMSpec) protocol.Command {
	t.Helper()
	body, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return protocol.Command{ID: s.Name, Name: protocol.CmdStartVM, Body: body}
}

// A real host's StartVM makes the ROOT disk a linked clone of its template (installed in the
// pool from the image store once), creates an empty data disk, names the files to the driver
// and the NICs' bridge; a start that fails removes the disks it made and only those.
func TestStartVMPreparesDisksOnLocalPool(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	poolDir, storeDir := filepath.Join(dir, "primary"), filepath.Join(dir, "secondary")
	tmplPath := "template/tmpl/2/tiny.qcow2"
	if err := os.MkdirAll(filepath.Join(storeDir, filepath.Dir(tmplPath)), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", filepath.Join(storeDir, tmplPath), "64M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
	drv := &recordingDriver{Driver: simulator.New(hypervisor.HostInfo{})}
	hs := &HostStorage{}
	t.Cleanup(func() { hs.Close() })
	a, err := New(Config{Servers: []string{"s"}, GUID: "g", Driver: drv, Storage: hs, Network: fixedBridge("atbr-test")})
	if err != nil {
		t.Fatal(err)
	}
	pool := &protocol.PoolRef{ID: "11111111-2222-3333-4444-555555555555", Type: "Filesystem", URL: "file://" + poolDir}
	src := &protocol.ImageFileRef{Store: protocol.ImageStoreRef{ID: "store-1", URL: "file://" + storeDir}, Path: tmplPath, Format: "QCOW2"}
	spec := func(name, root, data string) protocol.VMSpec {
		return protocol.VMSpec{Name: name, CPUs: 1, MemoryBytes: 256 << 20,
			Disks: []protocol.DiskSpec{
				{VolumeID: root, Type: "ROOT", Size: 128 << 20, Pool: pool, Template: "tmpl-1", TemplateSource: src},
				{VolumeID: data, Type: "DATADISK", DeviceID: 1, Size: 32 << 20, Pool: pool},
			},
			Nics: []protocol.NicSpec{{MAC: "02:00:00:00:00:01"}}}
	}

	if ans := a.run(startCommand(t, spec("i-2-1-VM", "root-1", "data-1"))); !ans.OK {
		t.Fatalf("start: %s", ans.Error)
	}
	if got := drv.last.Nics[0].Bridge; got != "atbr-test" {
		t.Errorf("nic bridge = %q, want atbr-test", got)
	}
	if len(drv.last.Disks) != 2 || drv.last.Disks[0].Source.File != filepath.Join(poolDir, "root-1") || drv.last.Disks[1].Source.File != filepath.Join(poolDir, "data-1") {
		t.Fatalf("disks given to the driver: %+v", drv.last.Disks)
	}
	info := qemuInfo(t, filepath.Join(poolDir, "root-1"))
	if info.VirtualSize != 128<<20 || !strings.HasSuffix(info.BackingFilename, "template-tmpl-1") {
		t.Errorf("root disk: virtual size %d, backing %q; want a 128 MiB clone of template-tmpl-1", info.VirtualSize, info.BackingFilename)
	}
	if info := qemuInfo(t, filepath.Join(poolDir, "data-1")); info.VirtualSize != 32<<20 || info.BackingFilename != "" {
		t.Errorf("data disk: %+v", info)
	}

	// Starting it again (a stopped VM's start) reuses its disks as they are.
	before, _ := os.Stat(filepath.Join(poolDir, "root-1"))
	if ans := a.run(protocol.Command{Name: protocol.CmdStartVM, Body: mustJSON(t, spec("i-2-1-VM", "root-1", "data-1"))}); !ans.OK {
		t.Fatalf("second start: %s", ans.Error)
	}
	if after, _ := os.Stat(filepath.Join(poolDir, "root-1")); !after.ModTime().Equal(before.ModTime()) {
		t.Error("the second start rewrote the existing root disk")
	}

	// A VM whose start fails leaves no disk of its own behind; the template and the other
	// VM's disks stay.
	drv.fail = true
	if ans := a.run(startCommand(t, spec("i-2-2-VM", "root-2", "data-2"))); ans.OK || !strings.Contains(ans.Error, "injected") {
		t.Fatalf("failing start answered %+v", ans)
	}
	for _, f := range []string{"root-2", "data-2"} {
		if _, err := os.Stat(filepath.Join(poolDir, f)); !os.IsNotExist(err) {
			t.Errorf("%s left behind after a failed start (stat: %v)", f, err)
		}
	}
	for _, f := range []string{"root-1", "data-1", "template-tmpl-1"} {
		if _, err := os.Stat(filepath.Join(poolDir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}

	// A disk whose pool cannot be opened fails the start with the pool named.
	drv.fail = false
	bad := spec("i-2-3-VM", "root-3", "data-3")
	bad.Disks[1].Pool = &protocol.PoolRef{ID: "p-bad", URL: "iscsi://x/y"}
	if ans := a.run(startCommand(t, bad)); ans.OK || !strings.Contains(ans.Error, "p-bad") {
		t.Fatalf("start on an unsupported pool answered %+v", ans)
	}
	if _, err := os.Stat(filepath.Join(poolDir, "root-3")); !os.IsNotExist(err) {
		t.Errorf("root-3 left behind after its data disk's pool failed (stat: %v)", err)
	}
}

type imageInfo struct {
	VirtualSize     int64  `json:"virtual-size"`
	BackingFilename string `json:"backing-filename"`
}

func qemuInfo(t *testing.T, path string) imageInfo {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "--output=json", "-U", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var i imageInfo
	if err := json.Unmarshal(out, &i); err != nil {
		t.Fatal(err)
	}
	return i
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attachRecorder is recordingDriver with disk hot-plug, which it records.
type attachRecorder struct {
	*recordingDriver
	plugged map[string]hypervisor.DiskSpec // by volume id
}

func (d *attachRecorder) AttachDisk(_ context.Context, vm string, disk hypervisor.DiskSpec) error {
	d.plugged[disk.VolumeID] = disk
	return nil
}

func (d *attachRecorder) DetachDisk(_ context.Context, vm string, disk hypervisor.DiskSpec) error {
	delete(d.plugged, disk.VolumeID)
	return nil
}

func volumeCommand(t *testing.T, name string, body any) protocol.Command {
	t.Helper()
	return protocol.Command{Name: name, Body: mustJSON(t, body)}
}

// A real host's volume and snapshot commands act on the pool's and image store's files: a
// data volume made on its first attach and plugged into the VM, resized, backed up to the
// store, restored into a new volume, reverted, deleted; a running VM's volume is neither
// resized nor snapshotted (not supported live yet), with a clear error.
func TestHostVolumeCommandsOnLocalPool(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	poolDir, storeDir := filepath.Join(dir, "primary"), filepath.Join(dir, "secondary")
	drv := &attachRecorder{recordingDriver: &recordingDriver{Driver: simulator.New(hypervisor.HostInfo{})}, plugged: map[string]hypervisor.DiskSpec{}}
	hs := &HostStorage{}
	t.Cleanup(func() { hs.Close() })
	a, err := New(Config{Servers: []string{"s"}, GUID: "g", Driver: drv, Storage: hs})
	if err != nil {
		t.Fatal(err)
	}
	pool := protocol.PoolRef{ID: "p1", Type: "Filesystem", URL: "file://" + poolDir}
	store := protocol.ImageStoreRef{ID: "s1", URL: "file://" + storeDir}
	run := func(c protocol.Command) protocol.Answer {
		t.Helper()
		return a.run(c)
	}
	mustOK := func(ans protocol.Answer) protocol.Answer {
		t.Helper()
		if !ans.OK {
			t.Fatalf("command failed: %s", ans.Error)
		}
		return ans
	}
	// A running VM to attach to (the simulator runs it).
	mustOK(run(startCommand(t, protocol.VMSpec{Name: "i-2-9-VM", CPUs: 1, MemoryBytes: 1 << 28,
		Disks: []protocol.DiskSpec{{VolumeID: "root-9", Type: "ROOT", Size: 64 << 20, Pool: &pool}}})))

	vol := protocol.VolumeRef{ID: "data-9", Size: 16 << 20, Pool: pool}
	mustOK(run(volumeCommand(t, protocol.CmdAttachVolume, protocol.VolumeCommand{VM: "i-2-9-VM", Volume: vol, DeviceID: 1})))
	if d, ok := drv.plugged["data-9"]; !ok || d.DeviceID != 1 || d.Source.File != filepath.Join(poolDir, "data-9") {
		t.Fatalf("attach plugged %+v", drv.plugged)
	}
	if info := qemuInfo(t, filepath.Join(poolDir, "data-9")); info.VirtualSize != 16<<20 {
		t.Errorf("attached volume: %+v", info)
	}
	ans := run(volumeCommand(t, protocol.CmdResizeVolume, protocol.VolumeCommand{VM: "i-2-9-VM", Volume: vol, NewSize: 32 << 20}))
	if ans.OK || !strings.Contains(ans.Error, "running VM i-2-9-VM") {
		t.Errorf("live resize answered %+v", ans)
	}
	ans = run(volumeCommand(t, protocol.CmdCreateSnapshot, protocol.SnapshotCommand{VM: "i-2-9-VM", SnapshotID: "snap-1", Volume: vol, Store: store}))
	if ans.OK || !strings.Contains(ans.Error, "is running") {
		t.Errorf("live snapshot answered %+v", ans)
	}
	mustOK(run(volumeCommand(t, protocol.CmdDetachVolume, protocol.VolumeCommand{VM: "i-2-9-VM", Volume: vol})))
	if len(drv.plugged) != 0 {
		t.Errorf("still plugged after detach: %+v", drv.plugged)
	}

	// Detached: resize, snapshot, restore, revert, delete.
	mustOK(run(volumeCommand(t, protocol.CmdResizeVolume, protocol.VolumeCommand{Volume: vol, NewSize: 32 << 20})))
	if info := qemuInfo(t, filepath.Join(poolDir, "data-9")); info.VirtualSize != 32<<20 {
		t.Errorf("resized volume: %+v", info)
	}
	vol.Size = 32 << 20
	var snap protocol.SnapshotAnswer
	ans = mustOK(run(volumeCommand(t, protocol.CmdCreateSnapshot, protocol.SnapshotCommand{SnapshotID: "snap-1", Volume: vol, Store: store})))
	if err := json.Unmarshal(ans.Body, &snap); err != nil || snap.Path != "snapshots/data-9/snap-1" || snap.PhysicalSize <= 0 {
		t.Fatalf("snapshot answer %s (%v)", ans.Body, err)
	}
	if info := qemuInfo(t, filepath.Join(storeDir, snap.Path)); info.VirtualSize != 32<<20 || info.BackingFilename != "" {
		t.Errorf("backup on the store: %+v", info)
	}
	restored := protocol.VolumeRef{ID: "data-10", Size: 64 << 20, Pool: pool}
	mustOK(run(volumeCommand(t, protocol.CmdCreateVolumeFromSnapshot, protocol.SnapshotCommand{SnapshotID: "snap-1", Path: snap.Path, Volume: restored, Store: store})))
	if info := qemuInfo(t, filepath.Join(poolDir, "data-10")); info.VirtualSize != 64<<20 {
		t.Errorf("volume from snapshot: %+v", info)
	}
	mustOK(run(volumeCommand(t, protocol.CmdResizeVolume, protocol.VolumeCommand{Volume: vol, NewSize: 48 << 20})))
	mustOK(run(volumeCommand(t, protocol.CmdRevertSnapshot, protocol.SnapshotCommand{SnapshotID: "snap-1", Path: snap.Path, Volume: vol, Store: store})))
	if info := qemuInfo(t, filepath.Join(poolDir, "data-9")); info.VirtualSize != 32<<20 {
		t.Errorf("reverted volume is %d bytes, want the snapshot's 32 MiB", info.VirtualSize)
	}
	if _, err := os.Stat(filepath.Join(poolDir, "data-9.revert")); !os.IsNotExist(err) {
		t.Errorf("revert left its temporary file (stat: %v)", err)
	}
	mustOK(run(volumeCommand(t, protocol.CmdDeleteSnapshot, protocol.SnapshotCommand{SnapshotID: "snap-1", Path: snap.Path, Store: store})))
	mustOK(run(volumeCommand(t, protocol.CmdDeleteVolume, protocol.VolumeCommand{Volume: vol})))
	for _, f := range []string{filepath.Join(storeDir, snap.Path), filepath.Join(poolDir, "data-9")} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s still there after its delete (stat: %v)", f, err)
		}
	}
}
