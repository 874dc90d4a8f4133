package protocol

// Storage commands: volumes on primary storage and their snapshots on secondary storage.
// The management server sends them to the host that runs the volume's VM, or to a host that
// can reach the volume's pool when it is detached.
const (
	CmdAttachVolume             = "AttachVolume"             // body VolumeCommand (VM, Volume, DeviceID)
	CmdDetachVolume             = "DetachVolume"             // body VolumeCommand (VM, Volume)
	CmdResizeVolume             = "ResizeVolume"             // body VolumeCommand (Volume, NewSize, ShrinkOK; VM when attached)
	CmdDeleteVolume             = "DeleteVolume"             // body VolumeCommand (Volume)
	CmdMigrateVolume            = "MigrateVolume"            // body VolumeCommand (Volume, Target; VM when live)
	CmdCreateSnapshot           = "CreateSnapshot"           // body SnapshotCommand; answer SnapshotAnswer
	CmdDeleteSnapshot           = "DeleteSnapshot"           // body SnapshotCommand
	CmdRevertSnapshot           = "RevertSnapshot"           // body SnapshotCommand
	CmdCreateVolumeFromSnapshot = "CreateVolumeFromSnapshot" // body SnapshotCommand (Volume is the new one); answer VolumeAnswer
)

// PoolRef names a primary storage pool.
type PoolRef struct {
	ID   string `json:"id"`
	Type string `json:"type,omitempty"` // NetworkFilesystem, Filesystem ...
	URL  string `json:"url,omitempty"`
}

// VolumeRef names a volume on its pool.
type VolumeRef struct {
	ID     string  `json:"id"`
	Name   string  `json:"name,omitempty"`
	Path   string  `json:"path,omitempty"` // on the pool; the volume id when not yet created
	Size   int64   `json:"size"`
	Format string  `json:"format,omitempty"`
	Pool   PoolRef `json:"pool"`
}

// VolumeCommand is the body of the volume commands.
type VolumeCommand struct {
	VM       string    `json:"vm,omitempty"` // instance name, when the volume is (to be) attached to a VM
	Volume   VolumeRef `json:"volume"`
	DeviceID int       `json:"deviceid,omitempty"`
	NewSize  int64     `json:"newsize,omitempty"`
	ShrinkOK bool      `json:"shrinkok,omitempty"`
	Target   *PoolRef  `json:"target,omitempty"`
}

// VolumeAnswer is what a host reports about a volume it created or changed.
type VolumeAnswer struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// ImageStoreRef names a secondary (image) store.
type ImageStoreRef struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// SnapshotCommand is the body of the snapshot commands: take Volume's snapshot and back it
// up to Store (CreateSnapshot); delete it (DeleteSnapshot); write it back over Volume
// (RevertSnapshot); or create Volume from it (CreateVolumeFromSnapshot).
type SnapshotCommand struct {
	VM         string        `json:"vm,omitempty"`
	SnapshotID string        `json:"snapshotid"`
	Name       string        `json:"name,omitempty"`
	Path       string        `json:"path,omitempty"` // the backup's path on the store, once taken
	Volume     VolumeRef     `json:"volume"`
	Store      ImageStoreRef `json:"store"`
}

// SnapshotAnswer reports a backed-up snapshot: its path on the store and the bytes it takes.
type SnapshotAnswer struct {
	Path         string `json:"path"`
	PhysicalSize int64  `json:"physicalsize"`
}

// CmdDownloadTemplate asks a host to fetch a template or ISO into an image store (CloudStack's
// DownloadCommand, which its secondary storage VM runs). The first command starts the
// download and answers its status; the same command again (same ID) answers where it stands,
// so the management server polls with it. Body DownloadTemplate; answer DownloadStatus.
const CmdDownloadTemplate = "DownloadTemplate"

// DownloadTemplate is one copy's download: URL into Path on Store, checked against Checksum
// (CloudStack's {ALG}hex or bare hex) and Format, at most MaxBytes.
type DownloadTemplate struct {
	ID       string        `json:"id"` // the copy's id: one download per id on a host
	URL      string        `json:"url"`
	Checksum string        `json:"checksum,omitempty"`
	Format   string        `json:"format,omitempty"`
	Store    ImageStoreRef `json:"store"`
	Path     string        `json:"path"`
	MaxBytes int64         `json:"maxbytes,omitempty"`
}

// Download states, as CloudStack names a template copy's download states.
const (
	DownloadInProgress = "DOWNLOAD_IN_PROGRESS"
	DownloadDone       = "DOWNLOADED"
	DownloadError      = "DOWNLOAD_ERROR"
)

// DownloadStatus is where a download stands.
type DownloadStatus struct {
	State        string `json:"state"`
	Pct          int    `json:"pct"`
	Status       string `json:"status,omitempty"` // "45% Downloaded"
	Size         int64  `json:"size,omitempty"`   // when done: the image's virtual size
	PhysicalSize int64  `json:"physicalsize,omitempty"`
	Path         string `json:"path,omitempty"`
	Error        string `json:"error,omitempty"`
}

// CmdModifyStoragePool asks a host to connect a primary storage pool (open it: mount it or
// reach it in userspace) and report its capacity (CloudStack's ModifyStoragePoolCommand and
// GetStorageStatsCommand). Body PoolRef; answer PoolStats.
const CmdModifyStoragePool = "ModifyStoragePool"

// PoolStats is a pool's space as a host sees it.
type PoolStats struct {
	CapacityBytes  int64 `json:"capacitybytes"`
	UsedBytes      int64 `json:"usedbytes"`
	AvailableBytes int64 `json:"availablebytes"`
}
