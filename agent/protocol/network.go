package protocol

// Guest networking commands: a guest network's bridge and VXLAN peers on a host, the router
// (a network namespace with NAT, firewall, DHCP/DNS, metadata and load balancing) of an
// isolated network, and the security groups of a host's VM ports. Each carries the whole
// desired state of what it names, so that a command replayed or sent twice converges on the
// same result. Part of protocol version 1: an older agent answers them as unknown commands,
// and a host without host networking (a Simulator host) is never sent them.
const (
	CmdSetupNetwork        = "SetupNetwork"        // body NetworkSetup
	CmdApplyRouter         = "ApplyRouter"         // body RouterSpec
	CmdRemoveRouter        = "RemoveRouter"        // body NetworkRef
	CmdApplySecurityGroups = "ApplySecurityGroups" // body SecurityGroupState
	CmdSyncNetworks        = "SyncNetworks"        // body NetworkSync
)

// CapGuestNetworking is the host capability of an agent that carries out these commands
// (reported at registration, kept in hosts.capabilities).
const CapGuestNetworking = "guestnetworking"

// RouterApplied answers ApplyRouter. Degraded, when set, says what of the router could not be
// made on this host (its public side, when the public traffic's bridge or VLAN is missing):
// the rest (DHCP, DNS, metadata, the guest side) is serving.
type RouterApplied struct {
	Degraded string `json:"degraded,omitempty"`
}

// NetworkRef names a guest network; with its broadcast URI, the router's removal also
// removes the network's bridge when nothing else is left on it.
type NetworkRef struct {
	NetworkID    string `json:"networkid"`
	BroadcastURI string `json:"broadcasturi,omitempty"`
}

// NetworkSetup makes a guest network's bridge ready on a host (VLAN sub-interface or VXLAN
// link under it) and, for VXLAN, keeps its head-end replication entries at Peers: the tunnel
// addresses of the other hosts that have one of the network's VMs or its router. Remove takes
// the bridge away instead (refused while ports other than the network's own links remain).
type NetworkSetup struct {
	NetworkID    string   `json:"networkid"`
	BroadcastURI string   `json:"broadcasturi"`
	Peers        []string `json:"peers,omitempty"`
	Remove       bool     `json:"remove,omitempty"`
}

// RouterSpec is the whole desired state of an isolated network's router on the host that
// runs it. Addresses are in CIDR form where a prefix length matters ("10.1.1.1/24").
type RouterSpec struct {
	NetworkID    string   `json:"networkid"`
	BroadcastURI string   `json:"broadcasturi"` // the guest network's bridge
	Peers        []string `json:"peers,omitempty"`
	GuestGateway string   `json:"guestgateway"` // the router's guest address with the network's prefix
	GuestMAC     string   `json:"guestmac,omitempty"`
	// GuestRouter, when set, is the default route DHCP hands the guests instead of the
	// router's own address: a shared network's gateway (its router serves DHCP, DNS and
	// metadata only).
	GuestRouter string   `json:"guestrouter,omitempty"`
	Domain      string   `json:"domain,omitempty"` // network domain: DHCP option and DNS suffix
	DNS         []string `json:"dns,omitempty"`    // upstream resolvers (the zone's dns1, dns2)

	// The public side: the bridge of the public traffic (PublicLabel, else the agent's
	// default) carrying PublicVLAN ("untagged" or a VLAN id), every public address of the
	// network with its range's prefix, and the default route.
	PublicLabel   string   `json:"publiclabel,omitempty"`
	PublicVLAN    string   `json:"publicvlan,omitempty"`
	PublicAddrs   []string `json:"publicaddrs,omitempty"`
	PublicGateway string   `json:"publicgateway,omitempty"`
	PublicMAC     string   `json:"publicmac,omitempty"`
	SourceNAT     string   `json:"sourcenat,omitempty"`

	StaticNAT          []StaticNAT    `json:"staticnat,omitempty"`
	PortForwards       []PortForward  `json:"portforwards,omitempty"`
	Firewall           []FirewallRule `json:"firewall,omitempty"` // ingress to public addresses
	Egress             []FirewallRule `json:"egress,omitempty"`   // from the guest network
	EgressDefaultAllow bool           `json:"egressdefaultallow,omitempty"`
	LoadBalancers      []LBRule       `json:"loadbalancers,omitempty"`

	VMs []RouterVM `json:"vms,omitempty"` // DHCP leases, DNS names and metadata
}

// StaticNAT maps a public address one to one onto a guest address.
type StaticNAT struct {
	Public  string `json:"public"`
	Private string `json:"private"`
}

// PortForward sends a public port range to a guest's port range.
type PortForward struct {
	Public       string    `json:"public"`
	Protocol     string    `json:"protocol"` // tcp or udp
	PublicPorts  [2]uint16 `json:"publicports"`
	Private      string    `json:"private"`
	PrivatePorts [2]uint16 `json:"privateports"`
}

// FirewallRule is an ingress rule on a public address (Public set) or an egress rule of the
// guest network (Dests set or empty).
type FirewallRule struct {
	Public   string    `json:"public,omitempty"`
	Protocol string    `json:"protocol"` // tcp, udp, icmp or all
	Ports    [2]uint16 `json:"ports,omitempty"`
	ICMPType int       `json:"icmptype"` // -1: any
	ICMPCode int       `json:"icmpcode"` // -1: any
	CIDRs    []string  `json:"cidrs,omitempty"`
	Dests    []string  `json:"dests,omitempty"`
}

// LBRule is a load-balancer rule: connections to Public:PublicPort spread over the members'
// PrivatePort.
type LBRule struct {
	Name        string            `json:"name"`
	Public      string            `json:"public"`
	PublicPort  uint16            `json:"publicport"`
	PrivatePort uint16            `json:"privateport"`
	Protocol    string            `json:"protocol,omitempty"`
	Algorithm   string            `json:"algorithm"` // roundrobin, leastconn, source
	Members     []string          `json:"members,omitempty"`
	CIDRs       []string          `json:"cidrs,omitempty"`
	Stickiness  *LBStickiness     `json:"stickiness,omitempty"`
	HealthCheck *LBHealthCheck    `json:"healthcheck,omitempty"`
	Params      map[string]string `json:"params,omitempty"`
}

// LBStickiness is a rule's stickiness policy (CloudStack's LbCookie, AppCookie, SourceBased).
type LBStickiness struct {
	Method string            `json:"method"`
	Params map[string]string `json:"params,omitempty"`
}

// LBHealthCheck is a rule's health check policy.
type LBHealthCheck struct {
	PingPath  string `json:"pingpath,omitempty"`
	IntervalS int    `json:"intervals"`
	TimeoutS  int    `json:"timeouts"`
	Healthy   int    `json:"healthy"`
	Unhealthy int    `json:"unhealthy"`
}

// RouterVM is one VM NIC of the router's network: its static DHCP lease and DNS name, and
// what the metadata and password servers answer it.
type RouterVM struct {
	MAC        string            `json:"mac"`
	IP         string            `json:"ip"`
	Hostname   string            `json:"hostname"`
	UserData   string            `json:"userdata,omitempty"` // base64, as CloudStack stores it
	Meta       map[string]string `json:"meta,omitempty"`
	PublicKeys []string          `json:"publickeys,omitempty"`
	Password   string            `json:"password,omitempty"`
}

// SecurityGroupState is the whole desired state of security groups on one host: every VM
// port it filters (its rules are its groups' rules) and the member addresses of every group
// a rule names.
type SecurityGroupState struct {
	Ports  []SecurityGroupPort `json:"ports,omitempty"`
	Groups map[string][]string `json:"groups,omitempty"`
}

// SecurityGroupPort is one VM NIC under security groups.
type SecurityGroupPort struct {
	VM      string              `json:"vm"` // instance name
	MAC     string              `json:"mac"`
	IPs     []string            `json:"ips,omitempty"`
	Ingress []SecurityGroupRule `json:"ingress,omitempty"`
	Egress  []SecurityGroupRule `json:"egress,omitempty"`
}

// SecurityGroupRule admits traffic by protocol, ports (or ICMP type and code) and either
// source (destination, for egress) CIDRs or another group's members.
type SecurityGroupRule struct {
	Protocol string    `json:"protocol"` // tcp, udp, icmp, all
	Ports    [2]uint16 `json:"ports,omitempty"`
	ICMPType int       `json:"icmptype"`
	ICMPCode int       `json:"icmpcode"`
	CIDRs    []string  `json:"cidrs,omitempty"`
	Group    string    `json:"group,omitempty"`
}

// NetworkSync is everything guest networking the management server wants on a host, sent
// when the agent connects: the agent converges on it and removes what it made that is not
// listed (bridges, routers and their daemons, security group filters).
type NetworkSync struct {
	Networks       []NetworkSetup     `json:"networks,omitempty"`
	Routers        []RouterSpec       `json:"routers,omitempty"`
	SecurityGroups SecurityGroupState `json:"securitygroups"`
}
