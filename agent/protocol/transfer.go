package protocol

// Transfer commands: the management server moves a file's bytes between an HTTP client and
// an image store (or, for a volume copied out, a store path) through a host that reaches it,
// one chunk per command (CloudStack's secondary storage VM serves these bytes itself).
const (
	// CmdReadFile reads a chunk of a file on an image store. Body ReadFile; answer FileChunk.
	CmdReadFile = "ReadFile"
	// CmdWriteFile writes a chunk of a file on an image store. Body WriteFile; answer
	// FileWritten.
	CmdWriteFile = "WriteFile"
	// CmdDeleteStoreFile removes a file from an image store (a missing one is not an error).
	// Body StoreFile.
	CmdDeleteStoreFile = "DeleteStoreFile"
	// CmdCopyVolumeToStore copies a volume, its backing chain flattened, as a standalone
	// qcow2 to a path on an image store (CloudStack's CopyVolumeCommand to secondary storage,
	// which extractVolume runs). Body CopyVolumeToStore; answer SnapshotAnswer (path, bytes).
	CmdCopyVolumeToStore = "CopyVolumeToStore"
)

// MaxChunk is the most bytes one ReadFile answers or one WriteFile carries.
const MaxChunk = 4 << 20

// StoreFile names a file on an image store.
type StoreFile struct {
	Store ImageStoreRef `json:"store"`
	Path  string        `json:"path"`
}

// ReadFile asks for Length bytes (at most MaxChunk) of a file from Offset.
type ReadFile struct {
	StoreFile
	Offset int64 `json:"offset"`
	Length int   `json:"length"`
}

// FileChunk answers ReadFile: the bytes read (fewer than asked at the end of the file) and
// the file's size.
type FileChunk struct {
	Data []byte `json:"data"`
	Size int64  `json:"size"`
}

// WriteFile writes Data at Offset of a file. Offset 0 creates (or truncates) the file; the
// chunks of one file are written in order. Sync on the last chunk makes the host check the
// file's size (Size) before answering.
type WriteFile struct {
	StoreFile
	Offset int64  `json:"offset"`
	Data   []byte `json:"data"`
	Last   bool   `json:"last,omitempty"`
	Size   int64  `json:"size,omitempty"` // with Last: the whole file's size
}

// FileWritten answers WriteFile: the file's size so far; with Last, what qemu-img says the
// file is (Format, VirtualSize).
type FileWritten struct {
	Size        int64  `json:"size"`
	Format      string `json:"format,omitempty"`
	VirtualSize int64  `json:"virtualsize,omitempty"`
}

// CopyVolumeToStore copies Volume to Path on Store.
type CopyVolumeToStore struct {
	Volume VolumeRef     `json:"volume"`
	Store  ImageStoreRef `json:"store"`
	Path   string        `json:"path"`
}
