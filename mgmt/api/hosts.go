package api

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/agents"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/google/uuid"
)

// hostAgents holds each API server's agents manager (set by the management server at start).
var hostAgents sync.Map // *Server -> *agents.Manager

// SetAgents gives the host commands the agents manager.
func (s *Server) SetAgents(m *agents.Manager) { hostAgents.Store(s, m); s.startCompute(m) }

func (c *Call) agents() (*agents.Manager, error) {
	if m, ok := hostAgents.Load(c.S); ok {
		return m.(*agents.Manager), nil
	}
	return nil, ErrInternal("the agents manager is not running on this management server")
}

// How long addHost waits: for a simulated host to come Up (it answers anyway, Connecting,
// after that), and for the agent of a real host to register from the URL's address. Both stay
// under the 10 s a CloudStack client waits for an answer.
var (
	addHostSimWait   = 5 * time.Second
	addHostAgentWait = 8 * time.Second
	reconnectWait    = 20 * time.Second
)

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

// hypervisorName returns the canonical spelling of a hypervisor hosts may run.
func hostHypervisorName(h string) (string, bool) {
	switch strings.ToLower(h) {
	case "kvm":
		return "KVM", true
	case "simulator":
		return "Simulator", true
	}
	return "", false
}

func hostTags(c *Call) string { return strings.Join(c.P.List("hosttags"), ",") }

// hostForCall loads a listed host by the id parameter.
func (c *Call) hostForCall(q db.Querier) (*db.Host, error) {
	id := strings.ToLower(c.P.String("id"))
	h, err := db.GetHost(c.Ctx, q, id)
	if errors.Is(err, db.ErrNotFound) || err == nil && h.Unbound() {
		return nil, ErrParam("Unable to find host by id %s", id)
	}
	return h, err
}

// placement checks zoneid, podid and clusterid (or clustername) of addHost.
func (c *Call) hostPlacement(hypervisor string) (*db.Placement, error) {
	zoneID, podID := strings.ToLower(c.P.String("zoneid")), strings.ToLower(c.P.String("podid"))
	if _, err := db.ZonePod(c.Ctx, c.S.DB.Read(), zoneID, ""); errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find zone by id %s", zoneID)
	} else if err != nil {
		return nil, err
	}
	if _, err := db.ZonePod(c.Ctx, c.S.DB.Read(), zoneID, podID); errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find pod by id %s in zone %s", podID, zoneID)
	} else if err != nil {
		return nil, err
	}
	cluster := strings.ToLower(c.P.String("clusterid"))
	what := "id"
	if cluster == "" {
		cluster, what = c.P.String("clustername"), "name"
	}
	if cluster == "" {
		return nil, ErrParam("clusterid or clustername is required to add a %s host", hypervisor)
	}
	p, err := db.ResolvePlacement(c.Ctx, c.S.DB.Read(), zoneID, podID, cluster)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find cluster by %s %s in pod %s", what, cluster, podID)
	}
	if err != nil {
		return nil, err // the database's: logged, and answered with CloudStack's generic words
	}
	if what == "id" && p.ClusterID != cluster {
		return nil, ErrParam("Unable to find cluster by id %s in pod %s", cluster, podID)
	}
	if !strings.EqualFold(p.ClusterHypervisor, hypervisor) {
		return nil, ErrParam("Can't add host whose hypervisor type is: %s into cluster: %s whose hypervisor type is: %s",
			hypervisor, p.ClusterName, p.ClusterHypervisor)
	}
	return p, nil
}

func hostAllocationState(v string) (string, error) {
	switch strings.ToLower(v) {
	case "", "enabled", "enable":
		return db.HostResourceEnabled, nil
	case "disabled", "disable":
		return db.HostResourceDisabled, nil
	}
	return "", ErrParam("Invalid allocation state %s: it must be Enabled or Disabled", v)
}

func addHost(c *Call) (any, error) {
	m, err := c.agents()
	if err != nil {
		return nil, err
	}
	hv, ok := hostHypervisorName(c.P.String("hypervisor"))
	if !ok {
		return nil, ErrParam("Hypervisor type %s is not supported: use KVM or Simulator", c.P.String("hypervisor"))
	}
	resState, err := hostAllocationState(c.P.String("allocationstate"))
	if err != nil {
		return nil, err
	}
	rawURL := strings.TrimSpace(c.P.String("url"))
	if !strings.Contains(rawURL, "://") {
		rawURL = "http://" + rawURL
	}
	pu, err := url.Parse(rawURL)
	if err != nil || pu.Hostname() == "" {
		return nil, ErrParam("Invalid host url %s: want http://<address>", c.P.String("url"))
	}
	p, err := c.hostPlacement(hv)
	if err != nil {
		return nil, err
	}
	var h *db.Host
	if path, sim := agents.SimulatorPath(rawURL); sim {
		if hv != "Simulator" {
			return nil, ErrParam("url %s names a simulated host: use hypervisor Simulator", rawURL)
		}
		h, err = c.addSimulatorHost(m, p, rawURL, path, resState)
	} else {
		h, err = c.bindAgentHost(m, p, hv, rawURL, pu.Hostname(), resState)
	}
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

// fakeAddress gives a simulated host a stable address from TEST-NET-2 (198.51.100.0/24) and
// the 198.18.0.0/15 benchmarking range, derived from its guid.
func fakeAddress(guid string) string {
	f := fnv.New32a()
	f.Write([]byte(guid))
	n := f.Sum32()
	return fmt.Sprintf("198.%d.%d.%d", 18+(n>>16)&1, (n>>8)&0xff, 1+n%254)
}

func (c *Call) addSimulatorHost(m *agents.Manager, p *db.Placement, rawURL, path, resState string) (*db.Host, error) {
	if len(path) > 180 {
		return nil, ErrParam("simulator url path %s is too long", path)
	}
	guid := agents.SimulatorGUID(p.ClusterID, path)
	name := path[strings.LastIndexByte(path, '/')+1:]
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	now := db.Now()
	h := &db.Host{ID: uuid.NewString(), Name: name, GUID: guid, Type: db.HostTypeRouting, ZoneID: p.ZoneID, PodID: p.PodID,
		ClusterID: p.ClusterID, HypervisorType: "Simulator", URL: rawURL, IPAddress: fakeAddress(guid),
		Status: db.HostStatusConnecting, ResourceState: resState, HostTags: hostTags(c), Owner: m.ServerID(), LastPing: now, Created: now}
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if err := db.InsertHost(c.Ctx, tx, h); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("A host with url %s already exists in cluster %s", rawURL, p.ClusterName)
			}
			return err
		}
		return c.Event(tx, "HOST.ADD", "Adding simulated host "+name, "Host", h.ID)
	})
	if err != nil {
		return nil, err
	}
	if err := m.StartSimulator(c.Ctx, h.ID); err != nil {
		return nil, err
	}
	return c.waitHost(h.ID, addHostSimWait, func(h *db.Host) bool { return h.Status == db.HostStatusUp })
}

// waitHost polls a host until ok or the wait is over, and returns it as last read.
func (c *Call) waitHost(id string, wait time.Duration, ok func(*db.Host) bool) (*db.Host, error) {
	deadline := time.Now().Add(wait)
	for {
		h, err := db.GetHost(c.Ctx, c.S.DB.Read(), id)
		if err != nil {
			return nil, err
		}
		if ok(h) || time.Now().After(deadline) {
			return h, nil
		}
		select {
		case <-c.Ctx.Done():
			return nil, c.Ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// bindAgentHost adds the host whose agent registered from address (waiting a bounded time
// for it): the agent's unbound host gets its zone, pod and cluster and comes Up.
func (c *Call) bindAgentHost(m *agents.Manager, p *db.Placement, hv, rawURL, address, resState string) (*db.Host, error) {
	if bound, _, err := db.ListHosts(c.Ctx, c.S.DB.Read(), db.HostFilter{Address: address}); err != nil {
		return nil, err
	} else if len(bound) > 0 {
		return nil, ErrParam("A host with address %s already exists (id %s)", address, bound[0].ID)
	}
	deadline := time.Now().Add(addHostAgentWait)
	for {
		cands, _, err := db.ListHosts(c.Ctx, c.S.DB.Read(), db.HostFilter{Unbound: true, Address: address})
		if err != nil {
			return nil, err
		}
		for _, cand := range cands {
			if !strings.EqualFold(cand.HypervisorType, hv) {
				return nil, ErrParam("The agent at %s runs hypervisor %s, not %s", address, cand.HypervisorType, hv)
			}
			var out *db.Host
			err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
				h, err := db.GetHost(c.Ctx, tx, cand.ID)
				if err != nil || !h.Unbound() {
					return errAlreadyBound
				}
				h.ZoneID, h.PodID, h.ClusterID, h.Type = p.ZoneID, p.PodID, p.ClusterID, db.HostTypeRouting
				h.URL, h.HostTags, h.ResourceState, h.Status = rawURL, hostTags(c), resState, db.HostStatusUp
				if err := db.UpdateHost(c.Ctx, tx, h); err != nil {
					return err
				}
				if err := agents.SetHostCapacity(c.Ctx, tx, h); err != nil {
					return err
				}
				out = h
				return c.Event(tx, "HOST.ADD", "Adding host "+h.Name+" at "+address, "Host", h.ID)
			})
			if errors.Is(err, errAlreadyBound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			return db.GetHost(c.Ctx, c.S.DB.Read(), out.ID)
		}
		if time.Now().After(deadline) {
			return nil, ErrInternal("Cannot find the server resources at %s: no agent has registered from %s. Install and start `atoll agent` there (with a host token from createHostToken) and try again", rawURL, address)
		}
		select {
		case <-c.Ctx.Done():
			return nil, c.Ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var errAlreadyBound = errors.New("host bound meanwhile")

func updateHost(c *Call) (any, error) {
	var out *db.Host
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		h, err := c.hostForCall(tx)
		if err != nil {
			return err
		}
		if c.P.Has("allocationstate") {
			switch v := c.P.String("allocationstate"); strings.ToLower(v) {
			case "enable", "enabled":
				if h.ResourceState != db.HostResourceEnabled && h.ResourceState != db.HostResourceDisabled {
					return ErrParam("Unable to enable host %s in resource state %s; cancel its maintenance first", h.Name, h.ResourceState)
				}
				h.ResourceState = db.HostResourceEnabled
			case "disable", "disabled":
				if h.ResourceState != db.HostResourceEnabled && h.ResourceState != db.HostResourceDisabled {
					return ErrParam("Unable to disable host %s in resource state %s", h.Name, h.ResourceState)
				}
				h.ResourceState = db.HostResourceDisabled
			default:
				return ErrParam("Invalid allocation state %s: valid values are Enable and Disable", v)
			}
		}
		if c.P.Has("hosttags") {
			h.HostTags = hostTags(c)
		}
		if c.P.Has("name") {
			name := strings.TrimSpace(c.P.String("name"))
			if name == "" {
				return ErrParam("Host name can not be empty")
			}
			h.Name = name
		}
		if c.P.Has("url") {
			h.URL = c.P.String("url")
		}
		if err := db.UpdateHost(c.Ctx, tx, h); err != nil {
			return err
		}
		out = h
		return c.Event(tx, "HOST.UPDATE", "Updating host "+h.Name, "Host", h.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.hostObject(out.ID)
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
	m, err := c.agents()
	if err != nil {
		return nil, err
	}
	forced, _ := c.P.Bool("forced")
	if forced {
		if err := c.emptyHost(); err != nil {
			return nil, err
		}
	}
	var removed *db.Host
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		h, err := c.hostForCall(tx)
		if err != nil {
			return err
		}
		deletable := h.ResourceState == db.HostResourceMaintenance || h.Status == db.HostStatusDisconnected || h.Status == db.HostStatusDown
		if !deletable && !forced {
			return Errorf(CodeInternal, CSCloudRuntime, "Host %s cannot be deleted as it is not in maintenance mode (resource state %s, state %s). Either put the host into maintenance or perform a forced deletion.",
				h.ID, h.ResourceState, h.Status)
		}
		// CloudStack refuses while VMs use the host; forced, emptyHost has stopped them, and
		// one still here was placed on it since.
		if states, err := db.HostVMStates(c.Ctx, tx, h.ID); err != nil {
			return err
		} else if len(states) > 0 && forced {
			return Errorf(CodeInternal, CSCloudRuntime, "Unable to delete the host: %d VM(s) were placed on it while its VMs were being stopped; delete it again", len(states))
		} else if len(states) > 0 {
			return Errorf(CodeInternal, CSCloudRuntime, "Unable to delete the host as there are vms in %s state using this host and isForced=false specified",
				states[0])
		}
		if err := db.RemoveHost(c.Ctx, tx, h.ID, h.Version); err != nil {
			return err
		}
		if err := db.DeleteCapacity(c.Ctx, tx, h.ID); err != nil {
			return err
		}
		removed = h
		return c.Event(tx, "HOST.DELETE", "Deleting host "+h.Name, "Host", h.ID)
	})
	if err != nil {
		return nil, err
	}
	// A connection held here closes now; one held elsewhere closes at its next ping, which
	// finds the host gone.
	m.Disconnect(removed.ID)
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

// emptyHostWait bounds how long a forced deleteHost waits for the host's answer to each stop.
var emptyHostWait = 10 * time.Second

// emptyHost is deleteHost's forced path, as CloudStack's: the host is disabled (nothing more is
// placed on it), every VM on it is stopped, forced (the host's answer is not needed, its CPU
// and memory are released either way), and those that offer HA get a start job, which places
// them on another host. A VM starting, or migrating from or to the host, belongs to a job
// still running: the call is refused before anything changes.
func (c *Call) emptyHost() error {
	var stopping []*db.VM
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		stopping = nil
		h, err := c.hostForCall(tx)
		if err != nil {
			return err
		}
		vms, _, err := db.ListVMs(c.Ctx, tx, db.VMFilter{HostID: h.ID})
		if err != nil {
			return err
		}
		if states, err := db.HostVMStates(c.Ctx, tx, h.ID); err != nil {
			return err
		} else if len(states) > len(vms) {
			return Errorf(CodeInternal, CSCloudRuntime, "Unable to delete the host: a VM is migrating to it; delete it once the migration has ended")
		}
		for _, v := range vms {
			switch v.State {
			case db.VMRunning, db.VMStopping:
			default:
				return Errorf(CodeInternal, CSCloudRuntime, "Unable to delete the host: VM %s is %s; delete it once that has ended", vmString(v), v.State)
			}
		}
		if len(vms) == 0 {
			return nil
		}
		// Nothing is placed on the host from here on (its VMs' HA restarts included), so that
		// once they are stopped it stays empty until it is removed.
		if h.ResourceState == db.HostResourceEnabled {
			h.ResourceState = db.HostResourceDisabled
			if err := db.UpdateHost(c.Ctx, tx, h); err != nil {
				return err
			}
		}
		for _, v := range vms {
			if v.State == db.VMRunning {
				v.State = db.VMStopping
				if err := db.UpdateVM(c.Ctx, tx, v); err != nil {
					return err
				}
			}
			stopping = append(stopping, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// At most 8 at once, each waiting at most emptyHostWait for the host: forced, the stop
	// does not need its answer, and a host being deleted is often one that no longer answers.
	errs := make([]error, len(stopping))
	slots := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, v := range stopping {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			errs[i] = c.stopOnHostWithin(v, true, emptyHostWait)
		}()
	}
	wg.Wait()
	var restart []*db.VM
	for i, v := range stopping {
		if errs[i] != nil {
			return errs[i]
		}
		if v.HAEnabled {
			restart = append(restart, v)
		}
	}
	if len(restart) == 0 {
		return nil
	}
	// The VMs that offer HA start again elsewhere (CloudStack's HA restart) as soon as they are
	// stopped, whatever becomes of the deletion: the host takes nothing now.
	start := &Call{Ctx: c.Ctx, S: c.S, Cmd: c.S.Reg.Get("startVirtualMachine"), Caller: c.Caller}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		for _, v := range restart {
			start.P = Params{"id": v.ID}
			if _, err := start.EnqueueJob(tx, vmJobType, v.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		c.S.Jobs.Wake()
	}
	return err
}
