package protocol

// CmdGetVMStats asks a host for its VMs' usage counters (CloudStack's GetVmStatsCommand). The
// body is GetVMStats; the answer VMStatsAnswer. Part of protocol version 1: an older agent
// answers it as an unknown command, and the management server then has no stats for the host.
const CmdGetVMStats = "GetVmStats"

// GetVMStats names the VMs whose counters are wanted (instance names); empty: every VM that
// runs on the host.
type GetVMStats struct {
	Names []string `json:"names,omitempty"`
}

// VMStatsAnswer is one sample of counters taken at Time (Unix ms, the host's clock): rates are
// differences between two samples of the same host, so both ends use one clock.
type VMStatsAnswer struct {
	Time int64     `json:"time"`
	VMs  []VMStats `json:"vms"`
}

// VMStats are one running VM's raw counters, each counted since the VM started on the host.
type VMStats struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	CPUs      int    `json:"cpus"`
	CPUTimeNs uint64 `json:"cputimens"`
	// MemoryBytes is the memory the guest has now (its balloon), MaxMemory the most it may
	// have, RSSBytes what its process uses on the host, FreeMemory what the guest reports
	// unused (0: it reports nothing).
	MemoryBytes int64       `json:"memory"`
	MaxMemory   int64       `json:"maxmemory"`
	RSSBytes    int64       `json:"rss,omitempty"`
	FreeMemory  int64       `json:"freememory,omitempty"`
	Disks       []DiskStats `json:"disks,omitempty"`
	Nics        []NicStats  `json:"nics,omitempty"`
}

// DiskStats are one disk's I/O counters.
type DiskStats struct {
	Device     string `json:"device"`
	Path       string `json:"path,omitempty"`
	ReadBytes  int64  `json:"readbytes"`
	WriteBytes int64  `json:"writebytes"`
	ReadOps    int64  `json:"readops"`
	WriteOps   int64  `json:"writeops"`
}

// NicStats are one NIC's traffic counters, from the guest's side: Rx is what it received.
type NicStats struct {
	Device    string `json:"device"`
	RxBytes   int64  `json:"rxbytes"`
	TxBytes   int64  `json:"txbytes"`
	RxPackets int64  `json:"rxpackets"`
	TxPackets int64  `json:"txpackets"`
}
