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

// MigrateVM asks the source host to send a running VM to the target host.
type MigrateVM struct {
	Name          string `json:"name"`
	TargetHostID  string `json:"targethostid"`
	TargetAddress string `json:"targetaddress,omitempty"`
}

// ScaleVM changes a running VM's CPU and memory.
type ScaleVM struct {
	Name        string `json:"name"`
	CPUs        int    `json:"cpus"`
	SpeedMHz    int64  `json:"speed"`
	MemoryBytes int64  `json:"memory"`
}
