package api

import (
	"strconv"
	"strings"
	"sync"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate/host"
)

// hostAgents holds each API server's agents manager (set by the management server at start),
// as the host workflows see it (host.Agents): the API itself never names the manager.
var hostAgents sync.Map // *Server -> host.Agents

// SetAgents gives the workflows the agents manager (through the Deps of every call) and
// starts the compute work that runs with it (startCompute).
func (s *Server) SetAgents(m host.Agents) { hostAgents.Store(s, m); s.startCompute(m) }

func (c *Call) agents() (host.Agents, error) {
	if m, ok := hostAgents.Load(c.S); ok {
		return m.(host.Agents), nil
	}
	return nil, ErrInternal("the agents manager is not running on this management server")
}

func registerHosts(s *Server) {
	hostIDParam := Param{Name: "id", Type: TUUID, Required: true, Description: "the host ID"}
	s.Reg.Add(&Command{Name: "addHost", Response: hostResponse, Roles: Admin, ResponseKey: "host", Description: "Adds a new host.",
		Params: []Param{
			{Name: "zoneid", Type: TUUID, Required: true, Description: "the Zone ID for the host"},
			{Name: "podid", Type: TUUID, Required: true, Description: "the Pod ID for the host"},
			{Name: "clusterid", Type: TUUID, Description: "the cluster ID for the host"},
			{Name: "clustername", Type: TString, Length: 255, Description: "the cluster name for the host"},
			{Name: "url", Type: TString, Required: true, Length: 1024, Description: "the host URL: http://<address> of a host whose agent has registered, or http://sim/<cluster>/<host> for a simulated host"},
			{Name: "hypervisor", Type: TString, Required: true, Description: "hypervisor type of the host (KVM or Simulator)"},
			{Name: "username", Type: TString, Description: "the username for the host; unused: agents authenticate with certificates"},
			{Name: "password", Type: TString, Description: "the password for the host; unused: agents authenticate with certificates"},
			{Name: "hosttags", Type: TList, Description: "list of tags to be added to the host"},
			{Name: "allocationstate", Type: TString, Description: "Allocation state of this Host for allocation of new resources (Enabled or Disabled)"},
			{Name: "storageaccessgroups", Type: TList, Description: "comma separated list of storage access groups for the host"},
		},
		Handler: addHost})
	s.Reg.Add(&Command{Name: "updateHost", Response: hostResponse, Roles: Admin, ResponseKey: "host", Description: "Updates a host.",
		Params: []Param{hostIDParam,
			{Name: "hosttags", Type: TList, Description: "list of tags to be added to the host; an empty value removes them"},
			{Name: "allocationstate", Type: TString, Description: "Change resource state of host, valid values are [Enable, Disable]. Operation may failed if host in states not allowing Enable/Disable"},
			{Name: "name", Type: TString, Length: 255, Description: "the new name of the host"},
			{Name: "url", Type: TString, Length: 1024, Description: "the new uri for the secondary storage: nfs://host/path"},
			{Name: "annotation", Type: TString, Description: "Add an annotation to this host"},
			{Name: "oscategoryid", Type: TUUID, Description: "the id of Os category to update the host with"},
			{Name: "istagarule", Type: TBool, Description: "whether the host tags are a rule"},
		},
		Handler: updateHost})
	s.Reg.Add(&Command{Name: "deleteHost", Response: successResponse, Roles: Admin, Description: "Deletes a host.",
		Params: []Param{hostIDParam,
			{Name: "forced", Type: TBool, Description: "Force delete the host. All HA enabled vms running on the host will be put to HA; HA disabled ones will be stopped"},
			{Name: "forcedestroylocalstorage", Type: TBool, Description: "Force destroy local storage on this host. All VMs created on this local storage will be destroyed"},
		},
		Handler: deleteHost})
	s.Reg.Add(&Command{Name: "listHosts", Response: hostResponse, Roles: Admin, List: true, ResponseKey: "host", Description: "Lists hosts.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "the id of the host"},
			{Name: "name", Type: TString, Description: "the name of the host"},
			{Name: "zoneid", Type: TUUID, Description: "the Zone ID for the host"},
			{Name: "podid", Type: TUUID, Description: "the Pod ID for the host"},
			{Name: "clusterid", Type: TUUID, Description: "lists hosts existing in particular cluster"},
			{Name: "type", Type: TString, Description: "the host type"},
			{Name: "state", Type: TString, Description: "the state of the host"},
			{Name: "resourcestate", Type: TString, Description: "list hosts by resource state. Resource state represents current state determined by admin of host, value can be one of [Enabled, Disabled, Unmanaged, PrepareForMaintenance, ErrorInMaintenance, Maintenance, Error]"},
			{Name: "hypervisor", Type: TString, Description: "hypervisor type of host: KVM, Simulator"},
			{Name: "details", Type: TList, Description: "comma separated list of host details requested, value can be a list of [ min, all, capacity, events, stats]"},
			{Name: "hahost", Type: TBool, Description: "if true, list only hosts dedicated to HA"},
			{Name: "managementserverid", Type: TUUID, Description: "the id of the management server"},
			{Name: "virtualmachineid", Type: TUUID, Description: "lists hosts in the same cluster as this VM and flag hosts with enough CPU/RAm to host this VM"},
			{Name: "outofbandmanagementenabled", Type: TBool, Description: "list hosts for which out-of-band management is enabled"},
			{Name: "outofbandmanagementpowerstate", Type: TString, Description: "list hosts by its out-of-band management interface's power state"},
			{Name: "version", Type: TString, Description: "the host version"},
			{Name: "arch", Type: TString, Description: "CPU Arch of the host"},
		},
		Handler: listHosts})
	s.Reg.Add(&Command{Name: "reconnectHost", Response: hostResponse, Roles: Admin, Async: true, ResponseKey: "host", Description: "Reconnects a host.",
		Params: []Param{hostIDParam}, Handler: reconnectHostStart, Job: reconnectHostJob})
	s.Reg.Add(&Command{Name: "prepareHostForMaintenance", Response: hostResponse, Roles: Admin, Async: true, ResponseKey: "host",
		Description: "Prepares a host for maintenance.", Params: []Param{hostIDParam},
		Handler: prepareMaintenanceStart, Job: prepareMaintenanceJob})
	s.Reg.Add(&Command{Name: "cancelHostMaintenance", Response: hostResponse, Roles: Admin, Async: true, ResponseKey: "host",
		Description: "Cancels host maintenance.", Params: []Param{hostIDParam},
		Handler: cancelMaintenanceStart, Job: cancelMaintenanceJob})
	registerHostAgentCommands(s)
}

func hostTags(c *Call) string { return strings.Join(c.P.List("hosttags"), ",") }

// hostForCall loads a listed host by the id parameter (host.Load).
func (c *Call) hostForCall(q db.Querier) (*db.Host, error) {
	return host.Load(c.Ctx, q, c.P.String("id"))
}

func addHost(c *Call) (any, error) {
	h, err := host.Add(c.Ctx, c.deps(), c.actor(), host.AddSpec{ZoneID: c.P.String("zoneid"), PodID: c.P.String("podid"),
		ClusterID: c.P.String("clusterid"), ClusterName: c.P.String("clustername"), URL: c.P.String("url"),
		Hypervisor: c.P.String("hypervisor"), AllocationState: c.P.String("allocationstate"), HostTags: hostTags(c)})
	if err != nil {
		return nil, err
	}
	items, err := c.renderHosts([]*db.Host{h})
	if err != nil {
		return nil, err
	}
	// CloudStack's AddHostCmd answers a list of hosts (a ListResponse, with its count).
	return ListResult{Key: "host", Items: items, Count: len(items)}, nil
}

func updateHost(c *Call) (any, error) {
	var s host.UpdateSpec
	if c.P.Has("allocationstate") {
		v := c.P.String("allocationstate")
		s.AllocationState = &v
	}
	if c.P.Has("hosttags") {
		v := hostTags(c)
		s.HostTags = &v
	}
	if c.P.Has("name") {
		v := c.P.String("name")
		s.Name = &v
	}
	if c.P.Has("url") {
		v := c.P.String("url")
		s.URL = &v
	}
	h, err := host.Update(c.Ctx, c.deps(), c.actor(), c.P.String("id"), s)
	if err != nil {
		return nil, err
	}
	return c.hostObject(h.ID)
}

// hostObject reads a host back and renders it as {"host": {...}}.
func (c *Call) hostObject(id string) (any, error) {
	h, err := db.GetHost(c.Ctx, c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	items, err := c.renderHosts([]*db.Host{h})
	if err != nil {
		return nil, err
	}
	return Object{Key: "host", Value: items[0]}, nil
}

func deleteHost(c *Call) (any, error) {
	forced, _ := c.P.Bool("forced")
	if err := host.Delete(c.Ctx, c.deps(), c.actor(), c.P.String("id"), forced); err != nil {
		return nil, err
	}
	return Success(), nil
}

func listHosts(c *Call) (any, error) {
	if t := c.P.String("type"); t != "" && !strings.EqualFold(t, db.HostTypeRouting) {
		return ListResult{Key: "host"}, nil
	}
	if c.P.Has("virtualmachineid") {
		return c.hostsForMigration(c.P.String("virtualmachineid"))
	}
	if ha, _ := c.P.Bool("hahost"); ha {
		return ListResult{Key: "host"}, nil
	}
	if oob, _ := c.P.Bool("outofbandmanagementenabled"); oob || c.P.String("outofbandmanagementpowerstate") != "" {
		return ListResult{Key: "host"}, nil
	}
	if a := c.P.String("arch"); a != "" && !strings.EqualFold(a, "x86_64") {
		return ListResult{Key: "host"}, nil
	}
	f := db.HostFilter{ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), ZoneID: strings.ToLower(c.P.String("zoneid")),
		PodID: strings.ToLower(c.P.String("podid")), ClusterID: strings.ToLower(c.P.String("clusterid")), Status: c.P.String("state"),
		ResourceState: c.P.String("resourcestate"), Hypervisor: c.P.String("hypervisor"), Keyword: c.P.String("keyword"),
		Owner: strings.ToLower(c.P.String("managementserverid"))}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListHosts(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	if v := c.P.String("version"); v != "" {
		kept := list[:0]
		for _, h := range list {
			if h.AgentVersion == v {
				kept = append(kept, h)
			}
		}
		list, total = kept, len(kept)
	}
	items, err := c.renderHosts(list)
	if err != nil {
		return nil, err
	}
	return ListResult{Key: "host", Items: items, Count: total}, nil
}

func percent(part, whole float64) string {
	if whole <= 0 {
		return "0%"
	}
	return strconv.FormatFloat(part*100/whole, 'f', 2, 64) + "%"
}

// renderHosts renders hosts with their allocated capacity (one query for all) and their
// clusters' over-provisioning factors.
func (c *Call) renderHosts(list []*db.Host) ([]any, error) {
	ids := make([]string, len(list))
	for i, h := range list {
		ids[i] = h.ID
	}
	caps, err := db.HostCapacityRows(c.Ctx, c.S.DB.Read(), ids)
	if err != nil {
		return nil, err
	}
	factors := map[string][2]float64{}
	items := make([]any, 0, len(list))
	for _, h := range list {
		f, ok := factors[h.ClusterID]
		if !ok {
			f = [2]float64{c.factor(h.ClusterID, "cpu.overprovisioning.factor"), c.factor(h.ClusterID, "mem.overprovisioning.factor")}
			factors[h.ClusterID] = f
		}
		items = append(items, renderHost(h, caps[h.ID], f[0], f[1]))
	}
	return items, nil
}

func (c *Call) factor(clusterID, name string) float64 {
	scope := config.Cluster
	if clusterID == "" {
		scope = config.Global
	}
	v, err := c.S.Config.Get(c.Ctx, scope, clusterID, name)
	if err != nil {
		return 1
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		return 1
	}
	return f
}

func renderHost(h *db.Host, caps map[int]*db.Capacity, cpuFactor, memFactor float64) map[string]any {
	cpuTotal := float64(int64(h.CPUs) * h.CPUSpeed)
	var cpuAlloc, memAlloc int64
	if cp := caps[db.CapCPU]; cp != nil {
		cpuAlloc = cp.Used + cp.Reserved
	}
	if mc := caps[db.CapMemory]; mc != nil {
		memAlloc = mc.Used + mc.Reserved
	}
	m := map[string]any{"id": h.ID, "name": h.Name, "type": h.Type, "state": h.Status, "resourcestate": h.ResourceState,
		"zoneid": h.ZoneID, "hypervisor": h.HypervisorType, "cpusockets": h.CPUSockets, "cpunumber": h.CPUs, "cpuspeed": h.CPUSpeed,
		"memorytotal": h.Memory, "memoryused": 0, "memoryallocated": memAlloc, "memoryallocatedbytes": memAlloc,
		"memoryallocatedpercentage":  percent(float64(memAlloc), float64(h.Memory)),
		"memorywithoverprovisioning": strconv.FormatFloat(float64(h.Memory)*memFactor, 'f', 1, 64),
		"cpuallocated":               percent(float64(cpuAlloc), cpuTotal), "cpuallocatedvalue": cpuAlloc,
		"cpuallocatedpercentage":           percent(float64(cpuAlloc), cpuTotal),
		"cpuallocatedwithoverprovisioning": percent(float64(cpuAlloc), cpuTotal*cpuFactor),
		"cpuwithoverprovisioning":          strconv.FormatFloat(cpuTotal*cpuFactor, 'f', 1, 64), "cpuused": "0%",
		"islocalstorageactive": false, "hahost": false, "arch": "x86_64", "created": FormatTime(h.Created),
		"events": "AgentDisconnected; AgentConnected; Ping; PingTimeout; HostDown; ManagementServerDown; Remove; StartAgentRebalance; ShutdownRequested; UpdatePassword; Ping; AgentConnected",
	}
	set(m, "ipaddress", h.IPAddress)
	set(m, "zonename", h.ZoneName)
	set(m, "podid", h.PodID)
	set(m, "podname", h.PodName)
	set(m, "clusterid", h.ClusterID)
	set(m, "clustername", h.ClusterName)
	set(m, "clustertype", h.ClusterType)
	set(m, "hypervisorversion", h.HypervisorVersion)
	set(m, "hosttags", h.HostTags)
	set(m, "explicithosttags", h.HostTags)
	set(m, "version", h.AgentVersion)
	set(m, "capabilities", h.Capabilities)
	set(m, "managementserverid", h.Owner)
	if h.LastPing > 0 {
		m["lastpinged"] = FormatTime(h.LastPing)
	}
	if h.Disconnected > 0 {
		m["disconnected"] = FormatTime(h.Disconnected)
	}
	return m
}
