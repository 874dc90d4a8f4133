package api

import (
	"errors"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

// Event types for clusters. CloudStack records no event when a cluster is added, updated or
// deleted; Atoll records these so that every infrastructure change is in listEvents.
const (
	evClusterCreate = "CLUSTER.CREATE"
	evClusterUpdate = "CLUSTER.UPDATE"
	evClusterDelete = "CLUSTER.DELETE"
)

// cloudStackHypervisors are CloudStack's hypervisor type names (Hypervisor.HypervisorType), in
// their canonical spelling; supportedHypervisors are the ones Atoll runs, in listHypervisors order.
var (
	cloudStackHypervisors = []string{"XenServer", "KVM", "VMware", "Hyperv", "VirtualBox", "Parralels", "BareMetal",
		"Simulator", "Ovm", "Ovm3", "LXC", "Custom", "External", "Any", "None"}
	supportedHypervisors = []string{"KVM", "Simulator"}
)

// hypervisorName resolves a hypervisor name case-insensitively to the canonical spelling of
// one Atoll supports, with CloudStack's errors for unknown and unsupported ones.
func hypervisorName(name string) (string, error) {
	for _, h := range supportedHypervisors {
		if strings.EqualFold(h, name) {
			return h, nil
		}
	}
	for _, h := range cloudStackHypervisors {
		if strings.EqualFold(h, name) {
			return "", ErrParam("Could not find corresponding resource manager for %s", h)
		}
	}
	return "", ErrParam("Unable to resolve %s to a supported hypervisor type", name)
}

// enumValue resolves v case-insensitively among allowed and returns the canonical spelling.
func enumValue(v string, allowed ...string) (string, bool) {
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return a, true
		}
	}
	return "", false
}

func clusterType(v string) (string, error) {
	if t, ok := enumValue(v, "CloudManaged", "ExternalManaged"); ok {
		return t, nil
	}
	return "", ErrParam("Unable to resolve %s to a supported type", v)
}

func allocationState(v string) (string, error) {
	if s, ok := enumValue(v, "Enabled", "Disabled"); ok {
		return s, nil
	}
	return "", ErrParam("Unable to resolve Allocation State '%s' to a supported state", v)
}

func cpuArch(v string) (string, error) {
	if a, ok := enumValue(v, "x86_64", "aarch64"); ok {
		return a, nil
	}
	return "", ErrParam("Invalid arch %s; valid options are: x86_64, aarch64", v)
}

func registerClusters(s *Server) {
	s.Reg.Add(&Command{Name: "addCluster", Response: clusterResponse, Roles: Admin, ResponseKey: "cluster",
		Description: "Adds a new cluster",
		Params: []Param{
			{Name: "zoneid", Type: TUUID, Required: true, Description: "the Zone ID for the cluster"},
			{Name: "podid", Type: TUUID, Required: true, Description: "the Pod ID for the host"},
			{Name: "clustername", Type: TString, Required: true, Length: 255, Description: "the cluster name"},
			{Name: "clustertype", Type: TString, Required: true, Description: "type of the cluster: CloudManaged, ExternalManaged"},
			{Name: "hypervisor", Type: TString, Required: true, Description: "hypervisor type of the cluster: XenServer,KVM,VMware,Hyperv,BareMetal,Simulator,Ovm3,External"},
			{Name: "allocationstate", Type: TString, Description: "Allocation state of this cluster for allocation of new resources"},
			{Name: "arch", Type: TString, Description: "the CPU arch of the cluster. Valid options are: x86_64, aarch64"},
			{Name: "url", Type: TString, Description: "the URL (ignored for KVM and Simulator clusters)"},
			{Name: "username", Type: TString, Description: "the username for the cluster (ignored for KVM and Simulator clusters)"},
			{Name: "password", Type: TString, Description: "the password for the host (ignored for KVM and Simulator clusters)"},
			{Name: "guestvswitchname", Type: TString, Description: "Name of virtual switch used for guest traffic in the cluster (VMware only)"},
			{Name: "guestvswitchtype", Type: TString, Description: "Type of virtual switch used for guest traffic in the cluster (VMware only)"},
			{Name: "publicvswitchname", Type: TString, Description: "Name of virtual switch used for public traffic in the cluster (VMware only)"},
			{Name: "publicvswitchtype", Type: TString, Description: "Type of virtual switch used for public traffic in the cluster (VMware only)"},
			{Name: "vsmipaddress", Type: TString, Description: "the ipaddress of the VSM associated with this cluster (VMware only)"},
			{Name: "vsmusername", Type: TString, Description: "the username for the VSM associated with this cluster (VMware only)"},
			{Name: "vsmpassword", Type: TString, Description: "the password for the VSM associated with this cluster (VMware only)"},
			{Name: "ovm3pool", Type: TString, Description: "Ovm3 native pooling enabled for cluster (Ovm3 only)"},
			{Name: "ovm3cluster", Type: TString, Description: "Ovm3 native OCFS2 clustering enabled for cluster (Ovm3 only)"},
			{Name: "ovm3vip", Type: TString, Description: "Ovm3 vip to use for pool (and cluster) (Ovm3 only)"},
			{Name: "storageaccessgroups", Type: TList, Description: "comma separated list of storage access groups for the hosts in the cluster (not supported)"},
			{Name: "extensionid", Type: TUUID, Description: "UUID of the extension (External hypervisor only; not supported)"},
			{Name: "externaldetails", Type: TMap, Description: "Details in key/value pairs for the extension (not supported)"},
		},
		Handler: addCluster})
	s.Reg.Add(&Command{Name: "updateCluster", Response: clusterResponse, Roles: Admin, ResponseKey: "cluster",
		Description: "Updates an existing cluster",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the Cluster"},
			{Name: "clustername", Type: TString, Length: 255, Description: "the cluster name"},
			{Name: "allocationstate", Type: TString, Description: "Allocation state of this cluster for allocation of new resources"},
			{Name: "managedstate", Type: TString, Description: "whether this cluster is managed by cloudstack"},
			{Name: "hypervisor", Type: TString, Description: "hypervisor type of the cluster"},
			{Name: "clustertype", Type: TString, Description: "hypervisor type of the cluster"},
			{Name: "arch", Type: TString, Description: "the CPU arch of the cluster. Valid options are: x86_64, aarch64"},
			{Name: "externaldetails", Type: TMap, Description: "Details in key/value pairs for the extension (not supported)"},
		},
		Handler: updateCluster})
	s.Reg.Add(&Command{Name: "deleteCluster", Response: successResponse, Roles: Admin,
		Description: "Deletes a cluster.",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the cluster ID"}},
		Handler:     deleteCluster})
	s.Reg.Add(&Command{Name: "listClusters", Response: clusterResponse, Roles: Admin, List: true, ResponseKey: "cluster",
		Description: "Lists clusters.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "lists clusters by the cluster ID"},
			{Name: "name", Type: TString, Description: "lists clusters by the cluster name"},
			{Name: "zoneid", Type: TUUID, Description: "lists clusters by Zone ID"},
			{Name: "podid", Type: TUUID, Description: "lists clusters by Pod ID"},
			{Name: "hypervisor", Type: TString, Description: "lists clusters by hypervisor type"},
			{Name: "clustertype", Type: TString, Description: "lists clusters by cluster type"},
			{Name: "allocationstate", Type: TString, Description: "lists clusters by allocation state"},
			{Name: "managedstate", Type: TString, Description: "whether this cluster is managed by cloudstack"},
			{Name: "arch", Type: TString, Description: "CPU arch of the clusters"},
			{Name: "showcapacities", Type: TBool, Description: "flag to display the capacity of the clusters"},
			{Name: "storageaccessgroup", Type: TString, Description: "the name of the storage access group (not supported: lists nothing)"},
		},
		Handler: listClusters})
}

// javaFloat renders a numeric setting as Java's Float.toString does for ordinary values
// ("1.0", "2.5"), which is how CloudStack shows over-commit ratios.
func javaFloat(v string) string {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return v
	}
	s := strconv.FormatFloat(float64(float32(f)), 'f', -1, 32)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// renderCluster renders a cluster; capacities are added by the caller when asked for.
func (c *Call) renderCluster(cl *db.Cluster) (map[string]any, error) {
	l := c.ledger()
	m := map[string]any{"id": cl.ID, "name": cl.Name, "zoneid": cl.ZoneID, "podid": cl.PodID, "hypervisortype": cl.HypervisorType,
		"clustertype": cl.ClusterType, "allocationstate": cl.AllocationState, "managedstate": cl.ManagedState, "arch": cl.Arch,
		"hasannotations": false}
	set(m, "zonename", cl.ZoneName)
	set(m, "podname", cl.PodName)
	cpu, err := l.CPUFactor(c.Ctx, c.S.DB.Read(), cl.ID)
	if err != nil {
		return nil, err
	}
	mem, err := l.MemFactor(c.Ctx, c.S.DB.Read(), cl.ID)
	if err != nil {
		return nil, err
	}
	m["cpuovercommitratio"] = javaFloat(strconv.FormatFloat(cpu, 'g', -1, 64))
	m["memoryovercommitratio"] = javaFloat(strconv.FormatFloat(mem, 'g', -1, 64))
	return m, nil
}

// ledger returns the capacity rules over this server's settings.
func (c *Call) ledger() *planner.Ledger { return planner.New(c.S.Config) }

// zoneAndPod loads a zone and a pod of it, with CloudStack's errors.
func (c *Call) zoneAndPod(q db.Querier, zoneID, podID string) (*db.ZoneRef, *db.PodRef, error) {
	zone, err := db.LookupZoneRef(c.Ctx, q, zoneID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil, ErrParam("Unable to find zone by id %s", zoneID)
	}
	if err != nil {
		return nil, nil, err
	}
	pod, err := db.LookupPodRef(c.Ctx, q, podID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil, ErrParam("Unable to find pod by id %s", podID)
	}
	if err != nil {
		return nil, nil, err
	}
	if pod.ZoneID != zone.ID {
		return nil, nil, ErrParam("Pod with specified id doesn't belong to the zone %s", zone.ID)
	}
	return zone, pod, nil
}

// clusterByID loads a live cluster with CloudStack's error for an unknown id.
func (c *Call) clusterByID(q db.Querier, id string) (*db.Cluster, error) {
	cl, err := db.GetCluster(c.Ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find cluster by id %s", id)
	}
	return cl, err
}

func addCluster(c *Call) (any, error) {
	name := strings.TrimSpace(c.P.String("clustername"))
	if name == "" {
		return nil, ErrParam("Please specify cluster name")
	}
	hv, err := hypervisorName(c.P.String("hypervisor"))
	if err != nil {
		return nil, err
	}
	ctype, err := clusterType(c.P.String("clustertype"))
	if err != nil {
		return nil, err
	}
	alloc := "Enabled"
	if v := c.P.String("allocationstate"); v != "" {
		if alloc, err = allocationState(v); err != nil {
			return nil, err
		}
	}
	arch := "x86_64"
	if v := c.P.String("arch"); v != "" {
		if arch, err = cpuArch(v); err != nil {
			return nil, err
		}
	}
	if c.P.String("extensionid") != "" || c.P.hasMap("externaldetails") {
		return nil, ErrParam("Extensions are not supported: hypervisor %s clusters take no extension", hv)
	}
	cl := &db.Cluster{ID: uuid.NewString(), Name: name, HypervisorType: hv, ClusterType: ctype, AllocationState: alloc,
		ManagedState: "Managed", Arch: arch, Created: db.Now()}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		zone, pod, err := c.zoneAndPod(tx, strings.ToLower(c.P.String("zoneid")), strings.ToLower(c.P.String("podid")))
		if err != nil {
			return err
		}
		cl.ZoneID, cl.PodID, cl.ZoneName, cl.PodName = zone.ID, pod.ID, zone.Name, pod.Name
		if err := db.InsertCluster(c.Ctx, tx, cl); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("Unable to create cluster %s in pod %s: a cluster of that name already exists there", name, pod.Name)
			}
			return err
		}
		return c.Event(tx, evClusterCreate, "Adding cluster "+name+" ("+hv+") to pod "+pod.Name, "Cluster", cl.ID)
	})
	if err != nil {
		return nil, err
	}
	m, err := c.renderCluster(cl)
	if err != nil {
		return nil, err
	}
	// CloudStack's AddClusterCmd answers a list response: {"count":1,"cluster":[{...}]}.
	return ListResult{Key: "cluster", Items: []any{m}, Count: 1}, nil
}

func updateCluster(c *Call) (any, error) {
	var out *db.Cluster
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		cl, err := c.clusterByID(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		before := *cl
		if name := strings.TrimSpace(c.P.String("clustername")); name != "" {
			cl.Name = name
		}
		if v := c.P.String("hypervisor"); v != "" {
			hv, err := hypervisorName(v)
			if err != nil {
				return err
			}
			if hv != cl.HypervisorType {
				n, err := db.CountClusterHosts(c.Ctx, tx, cl.ID)
				if err != nil {
					return err
				}
				if n > 0 {
					return ErrParam("Cannot change the hypervisor of cluster %s from %s to %s: it has %d host(s)", cl.Name, cl.HypervisorType, hv, n)
				}
				cl.HypervisorType = hv
			}
		}
		if v := c.P.String("clustertype"); v != "" {
			if cl.ClusterType, err = clusterType(v); err != nil {
				return err
			}
		}
		if v := c.P.String("allocationstate"); v != "" {
			if cl.AllocationState, err = allocationState(v); err != nil {
				return err
			}
		}
		if v := c.P.String("managedstate"); v != "" {
			ms, ok := enumValue(v, "Managed", "Unmanaged")
			if !ok {
				return ErrParam("Unable to resolve Managed State '%s' to a supported state", v)
			}
			cl.ManagedState = ms
		}
		if v := c.P.String("arch"); v != "" {
			if cl.Arch, err = cpuArch(v); err != nil {
				return err
			}
		}
		out = cl
		if *cl == before {
			return nil // nothing to change, nothing to record
		}
		if err := db.UpdateCluster(c.Ctx, tx, cl); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("A cluster named %s already exists in pod %s", cl.Name, cl.PodName)
			}
			return err
		}
		cl.Version++
		return c.Event(tx, evClusterUpdate, "Updating cluster "+cl.Name, "Cluster", cl.ID)
	})
	if err != nil {
		return nil, err
	}
	m, err := c.renderCluster(out)
	if err != nil {
		return nil, err
	}
	return Object{Key: "cluster", Value: m}, nil
}

func deleteCluster(c *Call) (any, error) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		cl, err := c.clusterByID(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		hosts, err := db.CountClusterHosts(c.Ctx, tx, cl.ID)
		if err != nil {
			return err
		}
		if hosts > 0 {
			return ErrInUse("Cluster: %s cannot be removed. Cluster still has hosts", cl.ID)
		}
		pools, err := db.CountClusterPools(c.Ctx, tx, cl.ID)
		if err != nil {
			return err
		}
		if pools > 0 {
			return ErrInUse("Cluster: %s cannot be removed. Cluster still has storage pools", cl.ID)
		}
		// The conditional removal conflicts with any concurrent change that touched the
		// cluster (db.TouchCluster when a host or pool joins it), so none can slip in.
		if err := db.RemoveCluster(c.Ctx, tx, cl.ID, cl.Version); err != nil {
			return err
		}
		return c.Event(tx, evClusterDelete, "Deleting cluster "+cl.Name, "Cluster", cl.ID)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}

func listClusters(c *Call) (any, error) {
	if c.P.String("storageaccessgroup") != "" {
		return ListResult{Key: "cluster"}, nil // storage access groups do not exist in Atoll
	}
	f := db.ClusterFilter{ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), ZoneID: strings.ToLower(c.P.String("zoneid")),
		PodID: strings.ToLower(c.P.String("podid")), Hypervisor: c.P.String("hypervisor"), ClusterType: c.P.String("clustertype"),
		AllocationState: c.P.String("allocationstate"), ManagedState: c.P.String("managedstate"), Arch: c.P.String("arch"),
		Keyword: c.P.String("keyword")}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListClusters(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	show, _ := c.P.Bool("showcapacities")
	items := make([]any, 0, len(list))
	for _, cl := range list {
		m, err := c.renderCluster(cl)
		if err != nil {
			return nil, err
		}
		if show {
			caps, err := c.capacityItems(db.CapacityFilter{ClusterID: cl.ID}, planner.ByCluster, false)
			if err != nil {
				return nil, err
			}
			m["capacity"] = caps
		}
		items = append(items, m)
	}
	return ListResult{Key: "cluster", Items: items, Count: total}, nil
}
