package api

// Response tables of the infrastructure commands: zones, pods, clusters, hosts, storage,
// physical networks and their providers, capacity, alerts, settings.

// zoneResponse is CloudStack's ZoneResponse (the fields Atoll renders).
var zoneResponse = join(jobFields, []Field{
	f("id", rString, "the zone's id"),
	f("name", rString, "the zone's name"),
	f("description", rString, "a free-text description of the zone"),
	f("networktype", rString, "the zone's network type: Basic or Advanced"),
	f("allocationstate", rString, "whether new resources may be placed in the zone: Enabled or Disabled"),
	f("zonetoken", rString, "the zone's token"),
	f("securitygroupsenabled", rBool, "whether the zone's guest networks use security groups"),
	f("localstorageenabled", rBool, "whether VMs of the zone may use their host's local disks"),
	f("type", rString, "the kind of zone: Core or Edge"),
	f("dhcpprovider", rString, "the service that answers DHCP in the zone"),
	f("domain", rString, "the DNS domain of the zone's guest networks"),
	f("domainid", rString, "the id of the domain the zone is dedicated to"),
	f("domainname", rString, "the name of the domain the zone is dedicated to"),
	f("dns1", rString, "the zone's first public DNS server"),
	f("dns2", rString, "the zone's second public DNS server"),
	f("internaldns1", rString, "the zone's first DNS server for system VMs"),
	f("internaldns2", rString, "the zone's second DNS server for system VMs"),
	f("ip6dns1", rString, "the zone's first IPv6 DNS server"),
	f("ip6dns2", rString, "the zone's second IPv6 DNS server"),
	f("guestcidraddress", rString, "the default CIDR of the zone's isolated guest networks"),
	hasAnnotations("zone"),
	tags(rSet, "zone"),
})

// ipRangeFields are IpRangeResponse's, one address range of a pod.
var ipRangeFields = []Field{
	f("startip", rString, "the range's first address"),
	f("endip", rString, "the range's last address"),
	f("gateway", rString, "the range's gateway"),
	f("cidr", rString, "the range's CIDR"),
	f("forsystemvms", rString, "whether the range is reserved for system VMs"),
	f("vlanid", rString, "the VLAN of the range"),
}

// capacityFields are CapacityResponse's, one kind of capacity of a zone, pod or cluster.
var capacityFields = []Field{
	f("type", rShort, "the capacity type: 0 memory, 1 CPU, 2 primary storage, 3 allocated primary storage, ..."),
	f("name", rString, "the capacity type's name"),
	f("zoneid", rString, "the id of the zone the capacity is counted in"),
	f("zonename", rString, "the name of that zone"),
	f("podid", rString, "the id of the pod the capacity is counted in"),
	f("podname", rString, "the name of that pod"),
	f("clusterid", rString, "the id of the cluster the capacity is counted in"),
	f("clustername", rString, "the name of that cluster"),
	f("capacityused", rLong, "the capacity in use"),
	f("capacityallocated", rLong, "the capacity allocated to resources"),
	f("capacitytotal", rLong, "the total capacity"),
	f("percentused", rString, "the share of the capacity in use, in percent"),
}

// capacityResponse answers listCapacity.
var capacityResponse = join(jobFields, capacityFields)

// podResponse is CloudStack's PodResponse.
var podResponse = join(jobFields, inZone("pod"), []Field{
	f("id", rString, "the pod's id"),
	f("name", rString, "the pod's name"),
	f("gateway", rString, "the gateway of the pod's management network"),
	f("netmask", rString, "the netmask of the pod's management network"),
	f("allocationstate", rString, "whether new resources may be placed in the pod: Enabled or Disabled"),
	f("startip", rList, "the first address of each of the pod's ranges (deprecated: see ipranges)"),
	f("endip", rList, "the last address of each of the pod's ranges (deprecated: see ipranges)"),
	f("forsystemvms", rList, "for each range, whether it is reserved for system VMs (deprecated: see ipranges)"),
	f("vlanid", rList, "the VLAN of each range (deprecated: see ipranges)"),
	nested("ipranges", rList, "the pod's address ranges for system VMs", ipRangeFields...),
	nested("capacity", rList, "the pod's capacities", capacityFields...),
	hasAnnotations("pod"),
})

// clusterResponse is CloudStack's ClusterResponse.
var clusterResponse = join(jobFields, inZone("cluster"), []Field{
	f("id", rString, "the cluster's id"),
	f("name", rString, "the cluster's name"),
	f("podid", rString, "the id of the cluster's pod"),
	f("podname", rString, "the name of the cluster's pod"),
	f("hypervisortype", rString, "the hypervisor of the cluster's hosts"),
	f("clustertype", rString, "the cluster's type: CloudManaged or ExternalManaged"),
	f("allocationstate", rString, "whether new VMs may be placed in the cluster: Enabled or Disabled"),
	f("managedstate", rString, "whether the cluster is managed: Managed or Unmanaged"),
	f("arch", rString, "the CPU architecture of the cluster's hosts"),
	f("cpuovercommitratio", rString, "the factor the cluster's CPU is over-provisioned by"),
	f("memoryovercommitratio", rString, "the factor the cluster's memory is over-provisioned by"),
	nested("capacity", rList, "the cluster's capacities (with showcapacities)", capacityFields...),
	hasAnnotations("cluster"),
})

// hostFields are HostResponse's (the fields Atoll renders).
var hostFields = []Field{
	f("id", rString, "the host's id"),
	f("name", rString, "the host's name"),
	f("type", "type", "the host's type, Routing for a hypervisor host"),
	f("state", "status", "the state of the host's agent connection: Up, Down, Connecting, Disconnected, Alert, ..."),
	f("resourcestate", rString, "the host's resource state: Enabled, Disabled, PrepareForMaintenance, Maintenance, ..."),
	f("ipaddress", rString, "the host's IP address"),
	f("zoneid", rString, "the id of the host's zone"),
	f("zonename", rString, "the name of the host's zone"),
	f("podid", rString, "the id of the host's pod"),
	f("podname", rString, "the name of the host's pod"),
	f("clusterid", rString, "the id of the host's cluster"),
	f("clustername", rString, "the name of the host's cluster"),
	f("clustertype", rString, "the type of the host's cluster"),
	f("hypervisor", "hypervisortype", "the host's hypervisor"),
	f("hypervisorversion", rString, "the version of the host's hypervisor"),
	f("version", rString, "the version of the host's agent"),
	f("capabilities", rString, "the host's capabilities, comma-separated"),
	f("hosttags", rString, "the host's tags, comma-separated"),
	f("explicithosttags", rString, "the tags set on the host itself, comma-separated"),
	f("cpusockets", rInt, "the number of CPU sockets of the host"),
	f("cpunumber", rInt, "the number of CPU cores of the host"),
	f("cpuspeed", rLong, "the speed of each CPU core, in MHz"),
	f("cpuallocated", rString, "the share of the host's CPU allocated to VMs, in percent"),
	f("cpuallocatedvalue", rLong, "the CPU allocated to VMs, in MHz"),
	f("cpuallocatedpercentage", rString, "the share of the host's CPU allocated to VMs, in percent"),
	f("cpuallocatedwithoverprovisioning", rString, "the share of the over-provisioned CPU allocated to VMs, in percent"),
	f("cpuwithoverprovisioning", rString, "the host's CPU in MHz, times the CPU over-provisioning factor"),
	f("cpuused", rString, "the share of the host's CPU in use, in percent"),
	f("memorytotal", rLong, "the host's memory, in bytes"),
	f("memoryused", rLong, "the host's memory in use, in bytes"),
	f("memoryallocated", rLong, "the memory allocated to VMs, in bytes"),
	f("memoryallocatedbytes", rLong, "the memory allocated to VMs, in bytes"),
	f("memoryallocatedpercentage", rString, "the share of the host's memory allocated to VMs, in percent"),
	f("memorywithoverprovisioning", rString, "the host's memory in bytes, times the memory over-provisioning factor"),
	f("islocalstorageactive", rBool, "whether the host's local storage is in use"),
	f("hahost", rBool, "whether the host is reserved for VMs restarted by HA"),
	f("arch", rString, "the host's CPU architecture"),
	f("created", rDate, "when the host was added"),
	f("lastpinged", rDate, "when the host's agent was last heard from"),
	f("disconnected", rDate, "when the host's agent last disconnected"),
	f("managementserverid", rString, "the management server holding the host's agent connection"),
	f("events", rString, "the events the host's state machine accepts"),
	hasAnnotations("host"),
}

// hostResponse is CloudStack's HostResponse.
var hostResponse = join(jobFields, hostFields)

// hostForMigrationResponse is CloudStack's HostForMigrationResponse: a host, and whether a
// VM could move to it.
var hostForMigrationResponse = join(jobFields, hostFields, []Field{
	f("suitableformigration", rBool, "whether the VM could be migrated to the host"),
	f("requiresStorageMotion", rBool, "whether moving the VM to the host also moves its volumes"),
})

// hostTokenResponse answers createHostToken (Atoll's own): what an agent needs to enroll.
var hostTokenResponse = join(jobFields, []Field{
	f("token", rString, "the enrollment token to give `atoll agent`"),
	f("hosts", rInt, "how many hosts may enroll with the token"),
	f("cafingerprint", rString, "the fingerprint of the CA certificate the agent should trust"),
	f("expires", rDate, "when the token stops being accepted"),
	f("agentendpoints", rList, "the addresses agents connect to"),
	f("zoneid", rString, "the zone hosts enrolled with the token join"),
	f("podid", rString, "the pod hosts enrolled with the token join"),
	f("clusterid", rString, "the cluster hosts enrolled with the token join"),
})

// simulatorFaultResponse answers configureSimulatorFault (Atoll's own).
var simulatorFaultResponse = join(jobFields, []Field{
	f("scope", rString, "what the fault applies to: zone, cluster or host"),
	f("scopeid", rString, "the id of that zone, cluster or host"),
	f("command", rString, "the agent command the fault applies to (all when empty)"),
	f("removed", rBool, "true when the fault was removed"),
	f("latency", rInt, "how long the simulated agent waits before answering, in milliseconds"),
	f("fail", rBool, "whether the simulated agent answers the command with a failure"),
	f("message", rString, "the failure message the simulated agent answers"),
})

// storagePoolResponse is CloudStack's StoragePoolResponse.
var storagePoolResponse = join(jobFields, inZone("pool"), []Field{
	f("id", rString, "the storage pool's id"),
	f("name", rString, "the storage pool's name"),
	f("podid", rString, "the id of the pool's pod (cluster-wide pools)"),
	f("podname", rString, "the name of the pool's pod"),
	f("clusterid", rString, "the id of the pool's cluster (cluster-wide pools)"),
	f("clustername", rString, "the name of the pool's cluster"),
	f("type", rString, "the kind of storage: NetworkFilesystem, Filesystem, ..."),
	f("scope", rString, "the pool's scope: CLUSTER or ZONE"),
	f("state", rString, "the pool's state: Up, Maintenance, ..."),
	f("ipaddress", rString, "the address of the pool's server"),
	f("path", rString, "the pool's path on its server"),
	f("created", rDate, "when the pool was added"),
	f("provider", rString, "the pool's storage provider"),
	f("hypervisor", rString, "the hypervisor of a zone-wide pool"),
	f("tags", rString, "the pool's storage tags, comma-separated"),
	f("istagarule", rBool, "whether the tags are a rule rather than a list"),
	f("disksizetotal", rLong, "the pool's size, in bytes"),
	f("capacitybytes", rLong, "the pool's size, in bytes"),
	f("disksizeallocated", rLong, "the space allocated to volumes, in bytes"),
	f("disksizeused", rLong, "the space in use, in bytes"),
	f("capacityiops", rLong, "the pool's IOPS"),
	f("overprovisionfactor", rString, "the factor the pool's space is over-provisioned by"),
	f("managed", rBool, "whether the pool is managed storage"),
	hasAnnotations("storage pool"),
})

// imageStoreResponse is CloudStack's ImageStoreResponse.
var imageStoreResponse = join(jobFields, inZone("image store"), []Field{
	f("id", rString, "the image store's id"),
	f("name", rString, "the image store's name"),
	f("url", rString, "the image store's URL"),
	f("protocol", rString, "the protocol of the image store's URL"),
	f("providername", rString, "the image store's provider"),
	f("scope", rString, "the image store's scope: ZONE or REGION"),
	f("readonly", rBool, "whether new templates, ISOs and snapshots are kept off the store"),
	f("disksizetotal", rLong, "the store's size, in bytes"),
	f("disksizeused", rLong, "the store's space in use, in bytes"),
	hasAnnotations("image store"),
})

// storageProviderResponse is CloudStack's StorageProviderResponse.
var storageProviderResponse = join(jobFields, []Field{
	f("name", rString, "the provider's name"),
	f("type", rString, "the kind of storage the provider serves: PRIMARY or IMAGE"),
})

// alertResponse is CloudStack's AlertResponse.
var alertResponse = join(jobFields, []Field{
	f("id", rString, "the alert's id"),
	f("type", rShort, "the alert's type number"),
	f("name", rString, "the alert's type name"),
	f("description", rString, "what the alert is about"),
	f("sent", rDate, "when the alert was raised"),
})

// hypervisorResponse is CloudStack's HypervisorResponse.
var hypervisorResponse = join(jobFields, []Field{
	f("name", rString, "the hypervisor's name"),
})

// managementServerResponse is CloudStack's ManagementServerResponse.
var managementServerResponse = join(jobFields, []Field{
	f("id", rString, "the management server's id"),
	f("name", rString, "the management server's name"),
	f("state", rString, "whether the management server is Up or Down"),
	f("version", rString, "the management server's version"),
	f("serviceip", rString, "the address the management server serves on"),
	f("ipaddress", rString, "the management server's IP address"),
	f("lastserverstart", rDate, "when the management server last started"),
	f("lastserverstop", rDate, "when the management server was last seen, once it is down"),
})

// configurationResponse is CloudStack's ConfigurationResponse.
var configurationResponse = join(jobFields, []Field{
	f("name", rString, "the setting's name"),
	f("value", rString, "the setting's value in the scope asked for"),
	f("defaultvalue", rString, "the setting's default value"),
	f("category", rString, "the setting's category"),
	f("description", rString, "what the setting does"),
	f("scope", rString, "the scope the value was read in: zone, cluster, account, domain, ..."),
	f("id", rString, "the id of the scope's object"),
	f("isdynamic", rBool, "whether a change takes effect without restarting the management servers"),
	f("type", rString, "the kind of value: String, Boolean, Integer, Long, Float, ..."),
	f("component", rString, "the component the setting belongs to"),
})

// physicalNetworkResponse is CloudStack's PhysicalNetworkResponse.
var physicalNetworkResponse = join(jobFields, inZone("physical network"), []Field{
	f("id", rString, "the physical network's id"),
	f("name", rString, "the physical network's name"),
	f("state", rString, "the physical network's state: Enabled or Disabled"),
	f("broadcastdomainrange", rString, "the range of the physical network's broadcast domains: ZONE or POD"),
	f("isolationmethods", rString, "how guest networks are isolated on the physical network: VLAN, VXLAN, ..."),
	f("vlan", rString, "the VLAN ranges available to guest networks"),
	f("networkspeed", rString, "the physical network's speed"),
	f("tags", rString, "the physical network's tags, comma-separated"),
	f("domainid", rString, "the id of the domain the physical network is dedicated to"),
})

// trafficTypeResponse is CloudStack's TrafficTypeResponse.
var trafficTypeResponse = join(jobFields, []Field{
	f("id", rString, "the traffic type's id"),
	f("traffictype", rString, "the kind of traffic: Guest, Public, Management or Storage"),
	f("physicalnetworkid", rString, "the id of the physical network carrying the traffic"),
	f("kvmnetworklabel", rString, "the bridge that carries the traffic on KVM hosts"),
	f("xennetworklabel", rString, "the network label of the traffic on XenServer hosts"),
	f("vmwarenetworklabel", rString, "the network label of the traffic on VMware hosts"),
	f("hypervnetworklabel", rString, "the network label of the traffic on Hyper-V hosts"),
	f("ovm3networklabel", rString, "the network label of the traffic on OVM3 hosts"),
	f("vlan", rString, "the VLAN of the traffic"),
	f("isolationmethods", rString, "how the traffic is isolated"),
})

// providerFields are ProviderResponse's, a network service provider of a physical network.
var providerFields = []Field{
	f("id", rString, "the provider's id"),
	f("name", rString, "the provider's name"),
	f("physicalnetworkid", rString, "the id of the provider's physical network"),
	f("destinationphysicalnetworkid", rString, "the id of the physical network the provider bridges to"),
	f("state", rString, "the provider's state: Enabled, Disabled or Shutdown"),
	f("servicelist", rList, "the network services the provider offers"),
	f("canenableindividualservice", rBool, "whether the provider's services can be enabled one by one"),
}

// networkServiceProviderResponse is CloudStack's ProviderResponse.
var networkServiceProviderResponse = join(jobFields, providerFields)

// routerElementResponse is CloudStack's VirtualRouterProviderResponse (and
// InternalLoadBalancerElementResponse, which has the same fields Atoll renders).
var routerElementResponse = join(jobFields, []Field{
	f("id", rString, "the element's id"),
	f("nspid", rString, "the id of the element's network service provider"),
	f("enabled", rBool, "whether the element is enabled"),
})

// vlanIPRangeResponse is CloudStack's VlanIpRangeResponse.
var vlanIPRangeResponse = join(jobFields, []Field{
	f("id", rString, "the range's id"),
	f("zoneid", rString, "the id of the range's zone"),
	f("vlan", rString, "the range's VLAN"),
	f("forvirtualnetwork", rBool, "whether the range is public (for isolated networks) rather than for a shared network"),
	f("forsystemvms", rBool, "whether the range is reserved for system VMs"),
	f("gateway", rString, "the range's gateway"),
	f("netmask", rString, "the range's netmask"),
	f("cidr", rString, "the range's CIDR"),
	f("startip", rString, "the range's first IPv4 address"),
	f("endip", rString, "the range's last IPv4 address"),
	f("ip6gateway", rString, "the range's IPv6 gateway"),
	f("ip6cidr", rString, "the range's IPv6 CIDR"),
	f("startipv6", rString, "the range's first IPv6 address"),
	f("endipv6", rString, "the range's last IPv6 address"),
	f("physicalnetworkid", rString, "the id of the range's physical network"),
	f("networkid", rString, "the id of the shared network the range belongs to"),
	f("podid", rString, "the id of the pod the range belongs to"),
	f("podname", rString, "the name of that pod"),
	f("account", rString, "the account the range is dedicated to"),
	f("domainid", rString, "the id of the domain the range is dedicated to"),
	f("domain", rString, "the name of that domain"),
	f("domainpath", rString, "the path of that domain"),
})
