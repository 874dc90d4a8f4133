package protocol

// VM commands beyond those of messages.go. All are part of protocol version 1: an older agent
// answers an unknown command with an error, and the fields added to VMSpec are optional.
const (
	CmdPrepareMigration = "PrepareForMigration" // to the target host; body VMSpec
	CmdMigrateVM        = "MigrateVM"           // to the source host; body MigrateVM
	CmdScaleVM          = "ScaleVM"             // body ScaleVM
)

// DiskSpec is one disk of a VMSpec.
type DiskSpec struct {
	VolumeID string `json:"volumeid"`
	Type     string `json:"type"` // ROOT or DATADISK
	DeviceID int    `json:"deviceid"`
	Path     string `json:"path,omitempty"`
	PoolID   string `json:"poolid,omitempty"`
	Size     int64  `json:"size"`
	Format   string `json:"format,omitempty"`
	Template string `json:"template,omitempty"` // path of the template a new ROOT disk is cloned from

	// For hosts whose disks are real files: the pool the disk lives on (its type and URL, so
	// that an agent opens a pool it has not seen), where the template's bytes are on
	// secondary storage (a new ROOT disk is cloned from it, installed in the pool once), and
	// the disk offering's I/O rates. All optional: a Simulator host ignores them.
	Pool           *PoolRef      `json:"pool,omitempty"`
	TemplateSource *ImageFileRef `json:"templatesource,omitempty"`
	Rates          *DiskRates    `json:"rates,omitempty"`
}

// ImageFileRef is a file on a secondary (image) store: a template's or a snapshot's.
type ImageFileRef struct {
	Store  ImageStoreRef `json:"store"`
	Path   string        `json:"path"`             // within the store
	Format string        `json:"format,omitempty"` // QCOW2, RAW, ISO
}

// DiskRates are a disk offering's I/O caps per second; zero is unlimited.
type DiskRates struct {
	BytesReadRate  int64 `json:"bytesreadrate,omitempty"`
	BytesWriteRate int64 `json:"byteswriterate,omitempty"`
	IOPSReadRate   int64 `json:"iopsreadrate,omitempty"`
	IOPSWriteRate  int64 `json:"iopswriterate,omitempty"`
}

// NicSpec is one network interface of a VMSpec.
type NicSpec struct {
	MAC          string `json:"mac"`
	IP           string `json:"ip,omitempty"`
	Netmask      string `json:"netmask,omitempty"`
	Gateway      string `json:"gateway,omitempty"`
	BroadcastURI string `json:"broadcasturi,omitempty"`
	DeviceID     int    `json:"deviceid"`
	IsDefault    bool   `json:"isdefault,omitempty"`
	NetworkID    string `json:"networkid,omitempty"`
}

// MigrateVM asks the source host to send a running VM to the target host, which answered
// PrepareForMigration with Target.
type MigrateVM struct {
	Name         string          `json:"name"`
	TargetHostID string          `json:"targethostid"`
	Target       MigrationTarget `json:"target"`
}

// MigrationTarget is the target host's answer to PrepareForMigration: how the source's
// hypervisor reaches it (a libvirt URI on KVM; empty on the Simulator) and the VM's paths
// there.
type MigrationTarget struct {
	URI         string `json:"uri,omitempty"`
	ConsoleLog  string `json:"consolelog,omitempty"`
	ConfigDrive string `json:"configdrive,omitempty"`
}

// ScaleVM changes a running VM's CPU and memory.
type ScaleVM struct {
	Name        string `json:"name"`
	CPUs        int    `json:"cpus"`
	SpeedMHz    int64  `json:"speed"`
	MemoryBytes int64  `json:"memory"`
}
