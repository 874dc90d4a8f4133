package protocol

import "encoding/json"

// Version is the wire protocol version. Every frame carries it; a peer speaking another
// version is answered with an error and disconnected.
const Version = 1

// Message types. A request names its type; its reply carries Reply and the request's id.
const (
	TypeEnroll   = "enroll"   // agent -> mgmt: one-time token + CSR, before it has a certificate
	TypeRegister = "register" // agent -> mgmt: who I am and what I have
	TypePing     = "ping"     // agent -> mgmt: heartbeat, optionally with a VM power-state report
	TypeCommand  = "command"  // mgmt -> agent: run a command; the reply body is an Answer
)

// Envelope is one frame.
type Envelope struct {
	V     int    `json:"v"`
	Type  string `json:"type"`
	ID    string `json:"id"`
	Reply bool   `json:"reply,omitempty"`
	Error string `json:"error,omitempty"`
	// RetryAfterMs, on an error reply, says the request was not processed because the peer
	// is busy and may be sent again after that many milliseconds (a Busy error). Optional
	// within version 1: a peer that does not know it sees an ordinary error.
	RetryAfterMs int64           `json:"retryafterms,omitempty"`
	Body         json.RawMessage `json:"body,omitempty"`
}

// Enroll asks for a certificate. The agent has verified the server against the pinned CA
// fingerprint it was given with the token.
type Enroll struct {
	Token string `json:"token"`
	GUID  string `json:"guid"`
	CSR   string `json:"csr"` // PEM "CERTIFICATE REQUEST"
}

// Enrolled answers Enroll: the agent's signed certificate (CN = its guid), the CA, and the
// placement the token was issued for (the agent keeps it as its zone/pod/cluster hints).
type Enrolled struct {
	CertPEM string `json:"cert"`
	CAPEM   string `json:"ca"`
	Zone    string `json:"zone,omitempty"`
	Pod     string `json:"pod,omitempty"`
	Cluster string `json:"cluster,omitempty"`
}

// Register introduces an agent and its host.
type Register struct {
	ProtocolVersion   int       `json:"protocolversion"`
	GUID              string    `json:"guid"`
	Name              string    `json:"name"`
	Address           string    `json:"address,omitempty"`
	HypervisorType    string    `json:"hypervisortype"`
	HypervisorVersion string    `json:"hypervisorversion,omitempty"`
	CPUSockets        int       `json:"cpusockets"`
	CPUCores          int       `json:"cpucores"`
	CPUSpeedMHz       int64     `json:"cpuspeed"`
	MemoryBytes       int64     `json:"memory"`
	LocalStorageBytes int64     `json:"localstorage"`
	Capabilities      []string  `json:"capabilities,omitempty"`
	AgentVersion      string    `json:"agentversion"`
	Zone              string    `json:"zone,omitempty"` // optional placement hints (ids or names)
	Pod               string    `json:"pod,omitempty"`
	Cluster           string    `json:"cluster,omitempty"`
	VMs               []VMState `json:"vms"` // the full power-state report at connect
}

// Registered answers Register.
type Registered struct {
	HostID         string `json:"hostid"`
	ServerID       string `json:"serverid"`
	PingIntervalMs int64  `json:"pingintervalms"`
	// Servers and LB, when set, are the management server list and selection algorithm the
	// cloud wants agents to use (CloudStack's "host" and indirect.agent.lb.algorithm).
	Servers []string `json:"servers,omitempty"`
	LB      string   `json:"lb,omitempty"`
}

// Power states, CloudStack's VirtualMachine.PowerState names.
const (
	PowerOn      = "PowerOn"
	PowerOff     = "PowerOff"
	PowerUnknown = "PowerUnknown"
)

// VMState is one VM in a power-state report.
type VMState struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// Ping is the agent's heartbeat. With Full set, VMs is the complete set of VMs on the host.
type Ping struct {
	HostID string    `json:"hostid,omitempty"`
	Full   bool      `json:"full,omitempty"`
	VMs    []VMState `json:"vms,omitempty"`
}

// Pong answers Ping; the interval may change while the agent runs.
type Pong struct {
	PingIntervalMs int64 `json:"pingintervalms"`
}

// Command asks the agent to do something. ID identifies it across retries: an agent that
// sees an ID again answers with the answer it already gave (or waits for the run in progress).
type Command struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Body      json.RawMessage `json:"body,omitempty"`
	TimeoutMs int64           `json:"timeoutms,omitempty"`
}

// Answer is a command's result.
type Answer struct {
	ID    string          `json:"id"`
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Body  json.RawMessage `json:"body,omitempty"`
}

// Command names the agent answers. Drivers see the same names for fault injection.
const (
	CmdEcho       = "Echo"        // answers its body: a liveness check through the whole path
	CmdReady      = "Ready"       // CloudStack's ReadyCommand: the host is ready for work
	CmdHostInfo   = "GetHostInfo" // the host's hardware, as in Register
	CmdVMStates   = "GetVmStates" // the full VM power-state report
	CmdStartVM    = "StartVM"     // body hypervisor-neutral VMSpec
	CmdStopVM     = "StopVM"      // body VMRef
	CmdRebootVM   = "RebootVM"    // body VMRef
	CmdDestroyVM  = "DestroyVM"   // body VMRef
	CmdReconnect  = "Reconnect"   // drop the connection and connect again (reconnectHost)
	CmdPingFaults = "Ping"        // not a command: the name under which pings consult faults
)

// VMSpec describes a VM to start. The fields after Details were added within version 1 and
// are optional: an agent that does not know them starts the VM without them.
type VMSpec struct {
	Name        string            `json:"name"`
	CPUs        int               `json:"cpus"`
	SpeedMHz    int64             `json:"speed"`
	MemoryBytes int64             `json:"memory"`
	Details     map[string]string `json:"details,omitempty"`
	UUID        string            `json:"uuid,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Disks       []DiskSpec        `json:"disks,omitempty"`
	Nics        []NicSpec         `json:"nics,omitempty"`
	UserData    string            `json:"userdata,omitempty"` // base64
	SSHKeys     []string          `json:"sshkeys,omitempty"`
	BootISO     string            `json:"bootiso,omitempty"`
	OSType      string            `json:"ostype,omitempty"`
	// BootISOSource is where the boot ISO's bytes are on secondary storage (real hosts).
	BootISOSource *ImageFileRef `json:"bootisosource,omitempty"`
	// Password, when set, goes on the config drive (a password-enabled template's new
	// password); ConfigDrive asks for one even without userdata or keys.
	Password    string `json:"password,omitempty"`
	ConfigDrive bool   `json:"configdrive,omitempty"`
}

// VMRef names a VM.
type VMRef struct {
	Name  string `json:"name"`
	Force bool   `json:"force,omitempty"`
}
