package storage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"
)

// Errors callers tell apart with errors.Is.
var (
	ErrNotFound    = fs.ErrNotExist
	ErrExists      = fs.ErrExist
	ErrNoKernelNFS = errors.New("this kernel has no NFS client")
	ErrBadName     = errors.New("invalid name")
)

// Pool is one primary storage pool as a host sees it. Volume names are file names in the
// pool's root (CloudStack uses the volume's uuid). Every method that does I/O takes a
// context and returns when it expires.
type Pool interface {
	ID() string
	// Check verifies that the pool's root answers (its attributes and space).
	Check(ctx context.Context) error
	Capacity(ctx context.Context) (Capacity, error)

	// Create makes an empty qcow2 volume of size bytes. A replay (same name, same size,
	// no backing file) returns the existing volume.
	Create(ctx context.Context, name string, size int64) (VolumeInfo, error)
	// CreateFromTemplate makes a linked clone (qcow2 overlay) of an installed template,
	// grown to size when size is larger than the template.
	CreateFromTemplate(ctx context.Context, name, template string, size int64) (VolumeInfo, error)
	// Resize grows a volume; it shrinks only when shrink is true.
	Resize(ctx context.Context, name string, size int64, shrink bool) (VolumeInfo, error)
	// Delete removes a volume; deleting one that does not exist succeeds.
	Delete(ctx context.Context, name string) error
	// Replace puts volume from in to's place (atomically, to is replaced): a reverted
	// snapshot written beside its volume takes the volume's name.
	Replace(ctx context.Context, from, to string) error
	Exists(ctx context.Context, name string) (bool, error)
	Info(ctx context.Context, name string) (VolumeInfo, error)

	// InstallTemplate copies a template from secondary storage into the pool once, as
	// qcow2, under TemplateName(templateID); concurrent installs of the same template (on
	// this host or others sharing the pool) never expose a partial copy.
	InstallTemplate(ctx context.Context, templateID string, from FS, path, format string) (VolumeInfo, error)
	// BackupSnapshot copies a volume, its backing chain flattened, as a standalone qcow2 to
	// path on a secondary store.
	BackupSnapshot(ctx context.Context, name string, to FS, path string) (Backup, error)
	// CreateFromSnapshot copies a backup from a secondary store into the pool as a new
	// volume, grown to size when size is larger.
	CreateFromSnapshot(ctx context.Context, name string, from FS, path string, size int64) (VolumeInfo, error)

	// Source tells the hypervisor where a volume is.
	Source(name string) Source
	// Heartbeat writes and reads back .atoll-heartbeat/<hostID> within its deadline.
	Heartbeat(ctx context.Context, hostID string) error
	// LastHeartbeat reads when host hostID last wrote its heartbeat on this pool (HA asks
	// whether a host that stopped answering still writes to storage); ErrNotFound if never.
	LastHeartbeat(ctx context.Context, hostID string) (time.Time, error)
	Close() error
}

// Capacity is a pool's or store's space in bytes.
type Capacity struct {
	Total     int64 `json:"total"`
	Used      int64 `json:"used"`
	Available int64 `json:"available"`
}

// VolumeInfo is what qemu-img reports about a volume.
type VolumeInfo struct {
	Name        string `json:"name"`
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtualsize"`
	ActualSize  int64  `json:"actualsize"`
	BackingFile string `json:"backingfile,omitempty"`
	Source      Source `json:"source"`
}

// Backup is a snapshot copied to secondary storage.
type Backup struct {
	Path         string `json:"path"`
	PhysicalSize int64  `json:"physicalsize"`
	VirtualSize  int64  `json:"virtualsize"`
}

// Source kinds.
const (
	SourceFile    = "file"    // a file on the host: <disk type='file'><source file=Path>
	SourceNetwork = "network" // <disk type='network'><source protocol=Protocol name=Name><host name=Host>
)

// Source is where the hypervisor finds a disk.
type Source struct {
	Kind     string `json:"kind"`
	Path     string `json:"path,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Name     string `json:"name,omitempty"` // the file's path on the server: /export/dir/vol
}

// FileInfo describes one file of an FS.
type FileInfo struct {
	Name    string
	Size    int64 // bytes
	Used    int64 // bytes allocated
	Dir     bool
	ModTime time.Time
}

// FS is the file side of a pool or store: a host directory (local pool, kernel-mounted NFS)
// or an NFS export reached in userspace. Paths are slash-separated and relative to its root.
type FS interface {
	// Locate is what qemu-img is given for path: an absolute file name or an nfs:// URL.
	Locate(path string) string
	// Source is what the hypervisor is given for path.
	Source(path string) Source
	Stat(ctx context.Context, path string) (FileInfo, error)
	ReadDir(ctx context.Context, path string) ([]FileInfo, error)
	MkdirAll(ctx context.Context, path string) error
	// Remove removes a file or an empty directory; a missing one is not an error.
	Remove(ctx context.Context, path string) error
	// Rename replaces to atomically.
	Rename(ctx context.Context, from, to string) error
	// Link makes to a hard link of from, failing with ErrExists when to exists.
	Link(ctx context.Context, from, to string) error
	// Create creates or truncates a file for sequential writing; ctx bounds every write.
	Create(ctx context.Context, path string) (io.WriteCloser, error)
	WriteFile(ctx context.Context, path string, data []byte) error
	ReadAt(ctx context.Context, path string, off int64, n int) ([]byte, error)
	StatFS(ctx context.Context) (Capacity, error)
	Close() error
}
