package api

import (
	"errors"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// mgmtServerStale is how long a management server may go without a heartbeat (written every
// 10 s) before listManagementServers shows it Down.
const mgmtServerStale = 60 * time.Second

func registerCapacity(s *Server) {
	s.Reg.Add(&Command{Name: "listCapacity", Response: capacityResponse, Roles: Admin, List: true, ResponseKey: "capacity",
		Description: "Lists all the system wide capacities.",
		Params: []Param{
			{Name: "zoneid", Type: TUUID, Description: "lists capacity by the Zone ID"},
			{Name: "podid", Type: TUUID, Description: "lists capacity by the Pod ID"},
			{Name: "clusterid", Type: TUUID, Description: "lists capacity by the Cluster ID"},
			{Name: "type", Type: TInt, Description: "lists capacity by type* CAPACITY_TYPE_MEMORY = 0* CAPACITY_TYPE_CPU = 1* CAPACITY_TYPE_STORAGE = 2* CAPACITY_TYPE_STORAGE_ALLOCATED = 3* CAPACITY_TYPE_VIRTUAL_NETWORK_PUBLIC_IP = 4* CAPACITY_TYPE_PRIVATE_IP = 5* CAPACITY_TYPE_SECONDARY_STORAGE = 6* CAPACITY_TYPE_VLAN = 7* CAPACITY_TYPE_DIRECT_ATTACHED_PUBLIC_IP = 8* CAPACITY_TYPE_LOCAL_STORAGE = 9* CAPACITY_TYPE_CPU_CORE = 90."},
			{Name: "sortby", Type: TString, Description: "Sort the results. Available values: Usage"},
			{Name: "fetchlatest", Type: TBool, Description: "recalculate capacities and fetch the latest (Atoll's ledger is always current)"},
			{Name: "tag", Type: TString, Description: "Tag for the resource type (resource limit tags are not supported: lists nothing)"},
		},
		Handler: listCapacity})
	s.Reg.Add(&Command{Name: "listAlerts", Response: alertResponse, Roles: Admin, List: true, ResponseKey: "alert",
		Description: "Lists all alerts.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "the ID of the alert"},
			{Name: "type", Type: TString, Description: "list by alert type"},
			{Name: "name", Type: TString, Description: "list by alert name"},
		},
		Handler: listAlerts})
	s.Reg.Add(&Command{Name: "listHypervisors", Response: hypervisorResponse, Roles: AllRoles, List: true, ResponseKey: "hypervisor",
		Description: "List hypervisors",
		Params:      []Param{{Name: "zoneid", Type: TUUID, Description: "the zone id for listing hypervisors."}},
		Handler:     listHypervisors})
	s.Reg.Add(&Command{Name: "listManagementServers", Response: managementServerResponse, Roles: Admin, List: true, ResponseKey: "managementserver",
		Description: "Lists management servers.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "the id of the management server"},
			{Name: "name", Type: TString, Description: "the name of the management server"},
			{Name: "version", Type: TString, Description: "the version of the management server"},
			{Name: "peers", Type: TBool, Description: "include peers of the management server (not reported)"},
		},
		Handler: listManagementServers})
}

// percentString formats a percentage as CloudStack's DecimalFormat("##.##") does: at most two
// decimals, rounded half-even, no trailing zeros ("12.5", "0", "100").
func percentString(p float64) string {
	s := strconv.FormatFloat(math.RoundToEven(p*100)/100, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-0" {
		return "0"
	}
	return s
}

// names resolves zone, pod and cluster ids to names for capacity responses, once each.
type names struct {
	c              *Call
	zones          map[string]string
	pods, clusters map[string][2]string // id -> name and (for clusters) pod id
}

func (c *Call) names() (*names, error) {
	zones, err := db.ListZoneRefs(c.Ctx, c.S.DB.Read())
	if err != nil {
		return nil, err
	}
	n := &names{c: c, zones: map[string]string{}, pods: map[string][2]string{}, clusters: map[string][2]string{}}
	for _, z := range zones {
		n.zones[z.ID] = z.Name
	}
	return n, nil
}

func (n *names) pod(id string) string {
	if v, ok := n.pods[id]; ok {
		return v[0]
	}
	name := ""
	if p, err := db.LookupPodRef(n.c.Ctx, n.c.S.DB.Read(), id); err == nil {
		name = p.Name
	}
	n.pods[id] = [2]string{name}
	return name
}

func (n *names) cluster(id string) (name, podID string) {
	if v, ok := n.clusters[id]; ok {
		return v[0], v[1]
	}
	if cl, err := db.GetCluster(n.c.Ctx, n.c.S.DB.Read(), id); err == nil {
		name, podID = cl.Name, cl.PodID
	}
	n.clusters[id] = [2]string{name, podID}
	return name, podID
}

// capacityItems sums the ledger per level and renders CloudStack's CapacityResponse objects,
// sorted by zone name and then by type (or, by usage, by percentage used, highest first).
func (c *Call) capacityItems(f db.CapacityFilter, level planner.Level, byUsage bool) ([]any, error) {
	sums, err := c.ledger().Summarize(c.Ctx, c.S.DB.Read(), f, level)
	if err != nil {
		return nil, err
	}
	n, err := c.names()
	if err != nil {
		return nil, err
	}
	if byUsage {
		sort.SliceStable(sums, func(i, j int) bool { return sums[i].Percent() > sums[j].Percent() })
	}
	sort.SliceStable(sums, func(i, j int) bool { return n.zones[sums[i].ZoneID] < n.zones[sums[j].ZoneID] })
	items := make([]any, 0, len(sums))
	for _, s := range sums {
		m := map[string]any{"type": s.Type, "name": planner.TypeName(s.Type), "zoneid": s.ZoneID, "capacityused": s.Used,
			"capacitytotal": s.Total, "capacityallocated": s.Allocated, "percentused": percentString(s.Percent())}
		set(m, "zonename", n.zones[s.ZoneID])
		podID := s.PodID
		if s.ClusterID != "" {
			name, clusterPod := n.cluster(s.ClusterID)
			m["clusterid"] = s.ClusterID
			set(m, "clustername", name)
			if podID == "" {
				podID = clusterPod
			}
		}
		if podID != "" {
			m["podid"] = podID
			set(m, "podname", n.pod(podID))
		}
		items = append(items, m)
	}
	return items, nil
}

func listCapacity(c *Call) (any, error) {
	zoneID, podID, clusterID := strings.ToLower(c.P.String("zoneid")), strings.ToLower(c.P.String("podid")), strings.ToLower(c.P.String("clusterid"))
	q := c.S.DB.Read()
	if zoneID != "" {
		if _, err := db.LookupZoneRef(c.Ctx, q, zoneID); errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find zone by id %s", zoneID)
		} else if err != nil {
			return nil, err
		}
	}
	if podID != "" {
		if _, err := db.LookupPodRef(c.Ctx, q, podID); errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find pod by id %s", podID)
		} else if err != nil {
			return nil, err
		}
	}
	if clusterID != "" {
		if _, err := c.clusterByID(q, clusterID); err != nil {
			return nil, err
		}
	}
	byUsage := false
	if v := c.P.String("sortby"); v != "" {
		if !strings.EqualFold(v, "usage") {
			return nil, ErrParam("Only value supported for sortBy parameter is : usage")
		}
		if clusterID != "" {
			return nil, ErrParam("Currently clusterId param is not supported")
		}
		byUsage = true
	}
	if c.P.String("tag") != "" {
		return ListResult{Key: "capacity"}, nil // no resource limit tags: nothing is tagged
	}
	f := db.CapacityFilter{ZoneID: zoneID, PodID: podID, ClusterID: clusterID}
	if t, ok := c.P.Int("type"); ok {
		f.Types = []int{t}
	}
	// fetchlatest needs no work: reservations change the ledger in the transactions that make
	// them, so it is always current.
	level := planner.ByZone
	switch {
	case byUsage && podID != "":
		level = planner.ByCluster // CloudStack's listTopConsumedResources groups one level down
	case byUsage && zoneID != "":
		level = planner.ByPod
	case clusterID != "":
		level = planner.ByCluster
	case podID != "":
		level = planner.ByPod
	}
	items, err := c.capacityItems(f, level, byUsage)
	if err != nil {
		return nil, err
	}
	total := len(items)
	if limit, offset := c.P.Paging(); limit > 0 {
		items = items[min(offset, total):min(offset+limit, total)]
	}
	return ListResult{Key: "capacity", Items: items, Count: total}, nil
}

func listAlerts(c *Call) (any, error) {
	f := db.AlertFilter{ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), Keyword: c.P.String("keyword")}
	if v := c.P.String("type"); v != "" {
		t, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return nil, ErrInvalid(c.Cmd.Name, "type", v, "it not being an alert type number")
		}
		f.Type = &t
	}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListAlerts(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, a := range list {
		m := map[string]any{"id": a.ID, "type": a.Type, "description": a.Subject, "sent": FormatTime(a.Created)}
		set(m, "name", a.Name)
		items = append(items, m)
	}
	return ListResult{Key: "alert", Items: items, Count: total}, nil
}

// listHypervisors answers the hypervisors of a zone's clusters, or, without a zone, every
// hypervisor Atoll supports (CloudStack's hypervisor.list), KVM first.
func listHypervisors(c *Call) (any, error) {
	list := supportedHypervisors
	if id := strings.ToLower(c.P.String("zoneid")); id != "" {
		if _, err := db.LookupZoneRef(c.Ctx, c.S.DB.Read(), id); errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find zone by id %s", id)
		} else if err != nil {
			return nil, err
		}
		var err error
		if list, err = db.ClusterHypervisors(c.Ctx, c.S.DB.Read(), id); err != nil {
			return nil, err
		}
	}
	items := make([]any, 0, len(list))
	for _, h := range list {
		items = append(items, map[string]any{"name": h})
	}
	total := len(items)
	if limit, offset := c.P.Paging(); limit > 0 {
		items = items[min(offset, total):min(offset+limit, total)]
	}
	return ListResult{Key: "hypervisor", Items: items, Count: total}, nil
}

func listManagementServers(c *Call) (any, error) {
	all, err := db.ListMgmtServers(c.Ctx, c.S.DB.Read())
	if err != nil {
		return nil, err
	}
	id, name, version := strings.ToLower(c.P.String("id")), c.P.String("name"), c.P.String("version")
	kw := strings.ToLower(c.P.String("keyword"))
	var items []any
	for _, m := range all {
		if id != "" && m.ID != id || name != "" && !strings.EqualFold(m.Name, name) || version != "" && m.Version != version ||
			kw != "" && !strings.Contains(strings.ToLower(m.Name), kw) {
			continue
		}
		state := m.State
		if state == "Up" && time.Since(time.UnixMilli(m.LastSeen)) > mgmtServerStale {
			state = "Down" // it stopped heartbeating without saying so: it died
		}
		ip := m.Address
		if host, _, err := net.SplitHostPort(m.Address); err == nil {
			ip = host
		}
		r := map[string]any{"id": m.ID, "name": m.Name, "state": state, "version": m.Version, "serviceip": ip, "ipaddress": ip,
			"lastserverstart": FormatTime(m.Started)}
		if state == "Down" {
			r["lastserverstop"] = FormatTime(m.LastSeen)
		}
		items = append(items, r)
	}
	total := len(items)
	if limit, offset := c.P.Paging(); limit > 0 {
		items = items[min(offset, total):min(offset+limit, total)]
	}
	return ListResult{Key: "managementserver", Items: items, Count: total}, nil
}
