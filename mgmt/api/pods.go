package api

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/google/uuid"
)

func registerPods(s *Server) {
	s.Reg.Add(&Command{Name: "listPods", Response: podResponse, Roles: Admin, List: true, ResponseKey: "pod",
		Description: "Lists all Pods.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "list Pods by ID"},
			{Name: "name", Type: TString, Description: "list Pods by name"},
			{Name: "zoneid", Type: TUUID, Description: "list Pods by Zone ID"},
			{Name: "allocationstate", Type: TString, Description: "list pods by allocation state"},
			{Name: "showcapacities", Type: TBool, Description: "flag to display the capacity of the pods"},
			{Name: "storageaccessgroup", Type: TString, Description: "the name of the storage access group"},
		},
		Handler: listPods})
	s.Reg.Add(&Command{Name: "createPod", Response: podResponse, Roles: Admin, ResponseKey: "pod",
		Description: "Creates a new Pod.",
		Params: []Param{
			{Name: "zoneid", Type: TUUID, Required: true, Description: "the Zone ID in which the Pod will be created"},
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name of the Pod"},
			{Name: "gateway", Type: TString, Description: "the gateway for the Pod (with netmask and startip, when the Pod has a management IP range)"},
			{Name: "netmask", Type: TString, Description: "the netmask for the Pod (with gateway and startip)"},
			{Name: "startip", Type: TString, Description: "the starting IP address for the Pod (with gateway and netmask)"},
			{Name: "endip", Type: TString, Description: "the ending IP address for the Pod (default: the last usable address of the subnet)"},
			{Name: "allocationstate", Type: TString, Description: "Allocation state of this Pod for allocation of new resources (Enabled or Disabled)"},
			{Name: "storageaccessgroups", Type: TList, Description: "comma separated list of storage access groups for the hosts in the pod"},
		},
		Handler: createPod})
	s.Reg.Add(&Command{Name: "updatePod", Response: podResponse, Roles: Admin, ResponseKey: "pod",
		Description: "Updates a Pod.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the Pod"},
			{Name: "name", Type: TString, Length: 255, Description: "the name of the Pod"},
			{Name: "gateway", Type: TString, Description: "the gateway for the Pod"},
			{Name: "netmask", Type: TString, Description: "the netmask of the Pod"},
			{Name: "startip", Type: TString, Description: "the starting IP address for the Pod"},
			{Name: "endip", Type: TString, Description: "the ending IP address for the Pod"},
			{Name: "allocationstate", Type: TString, Description: "Allocation state of this cluster for allocation of new resources (Enabled or Disabled)"},
		},
		Handler: updatePod})
	s.Reg.Add(&Command{Name: "deletePod", Response: successResponse, Roles: Admin,
		Description: "Deletes a Pod.",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the ID of the Pod"}},
		Handler:     deletePod})
}

func renderPod(p *db.Pod) map[string]any {
	m := map[string]any{"id": p.ID, "name": p.Name, "zoneid": p.ZoneID, "zonename": p.ZoneName,
		"allocationstate": p.AllocationState, "hasannotations": false}
	set(m, "gateway", p.Gateway)
	set(m, "netmask", p.Netmask)
	// CloudStack (PodResponse) answers one entry per management IP range in each of the lists
	// startip, endip, forsystemvms and vlanid, and the ranges again in ipranges; a pod
	// without a range has empty lists.
	m["startip"], m["endip"], m["forsystemvms"], m["vlanid"] = []string{}, []string{}, []string{}, []string{}
	if p.StartIP != "" {
		m["startip"], m["endip"] = []string{p.StartIP}, []string{p.EndIP}
		m["forsystemvms"], m["vlanid"] = []string{"0"}, []string{"vlan://untagged"}
		r := map[string]any{"startip": p.StartIP, "endip": p.EndIP, "forsystemvms": "0", "vlanid": "vlan://untagged"}
		set(r, "gateway", p.Gateway)
		if n, err := network.ParseSubnet(p.Gateway, p.Netmask); err == nil {
			r["cidr"] = n.CIDR()
		}
		m["ipranges"] = []any{r}
	}
	return m
}

func (c *Call) podByID(q db.Querier, id string) (*db.Pod, error) {
	p, err := db.GetPod(c.Ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find pod by id %s", id)
	}
	return p, err
}

func listPods(c *Call) (any, error) {
	f := db.PodFilter{ID: c.lowerID("id"), ZoneID: c.lowerID("zoneid"), Name: c.P.String("name"),
		AllocationState: c.P.String("allocationstate"), Keyword: c.P.String("keyword")}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListPods(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, p := range list {
		items = append(items, renderPod(p))
	}
	return ListResult{Key: "pod", Items: items, Count: total}, nil
}

// checkPodRange validates a pod's gateway, netmask and management range (filling a missing
// end with the subnet's last usable address, as CloudStack does) and, as CloudStack's
// checkPodCidrSubnets does, refuses a subnet that overlaps the zone's guest CIDR or another
// pod's subnet, and a range that overlaps the zone's IP ranges.
func (c *Call) checkPodRange(tx db.Tx, z *db.Zone, p *db.Pod) error {
	n, err := network.ParseSubnet(p.Gateway, p.Netmask)
	if err != nil {
		return err
	}
	if p.EndIP == "" {
		p.EndIP = n.LastUsable().String()
	}
	r, err := n.CheckRange(p.StartIP, p.EndIP, "startip", "endip")
	if err != nil {
		return err
	}
	p.Gateway, p.Netmask, p.StartIP, p.EndIP = n.GW.String(), n.Mask(), r.Lo.String(), r.Hi.String()
	if g, err := netip.ParsePrefix(z.GuestCIDR); err == nil && g.Addr().Is4() {
		if gn := network.SubnetOf(g); gn.Overlaps(n) {
			return ErrParam("The subnet %s of the pod (gateway, netmask) conflicts with the guest CIDR %s of zone %s. Please specify a different CIDR.", n.CIDR(), z.GuestCIDR, z.Name)
		}
	}
	pods, _, err := db.ListPods(c.Ctx, tx, db.PodFilter{ZoneID: p.ZoneID})
	if err != nil {
		return err
	}
	for _, o := range pods {
		if o.ID == p.ID {
			continue
		}
		if on, err := network.ParseSubnet(o.Gateway, o.Netmask); err == nil && on.Overlaps(n) {
			return ErrParam("The subnet %s of the pod (gateway, netmask) conflicts with the subnet %s of pod %s in zone %s. Please specify a different CIDR.", n.CIDR(), on.CIDR(), o.Name, z.Name)
		}
	}
	ranges, _, err := db.ListVlanRanges(c.Ctx, tx, db.VlanRangeFilter{ZoneID: p.ZoneID})
	if err != nil {
		return err
	}
	for _, v := range ranges {
		if vr, ok := network.ParseIPRange(v.StartIP, v.EndIP); ok && vr.Overlaps(r) {
			return ErrParam("The start IP and end IP address range %s-%s overlaps with the IP range %s-%s (%s) of the zone", p.StartIP, p.EndIP, v.StartIP, v.EndIP, v.VlanTag)
		}
	}
	return nil
}

func createPod(c *Call) (any, error) {
	p := &db.Pod{ID: uuid.NewString(), ZoneID: c.lowerID("zoneid"), Name: strings.TrimSpace(c.P.String("name")),
		Gateway: c.P.String("gateway"), Netmask: c.P.String("netmask"), StartIP: c.P.String("startip"),
		EndIP: strings.TrimSpace(c.P.String("endip")), AllocationState: allocEnabled, Created: db.Now()}
	if v := c.P.String("allocationstate"); v != "" {
		st, err := parseChoice("allocationstate", v, allocEnabled, allocDisabled)
		if err != nil {
			return nil, err
		}
		p.AllocationState = st
	}
	// CloudStack 4.20 needs only a name and a zone: a pod may have no management IP range.
	// A range needs all of gateway, netmask and startip.
	withRange := p.Gateway != "" || p.Netmask != "" || p.StartIP != "" || p.EndIP != ""
	if withRange {
		for _, f := range []struct{ name, v string }{{"gateway", p.Gateway}, {"netmask", p.Netmask}, {"startip", p.StartIP}} {
			if strings.TrimSpace(f.v) == "" {
				return nil, ErrParam("A pod IP range needs gateway, netmask and startip: %s is missing", f.name)
			}
		}
		if _, err := network.ParseSubnet(p.Gateway, p.Netmask); err != nil {
			return nil, err
		}
	}
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		z, err := c.zoneForChange(tx, p.ZoneID)
		if err != nil {
			return err
		}
		if withRange {
			if err := c.checkPodRange(tx, z, p); err != nil {
				return err
			}
		}
		if err := db.InsertPod(c.Ctx, tx, p); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("A pod with name %s already exists in zone %s. Please specify a different pod name.", p.Name, z.Name)
			}
			return err
		}
		return c.Event(tx, "POD.CREATE", "Creating pod "+p.Name+" in zone "+z.Name, "Pod", p.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.podObject(p.ID)
}

func (c *Call) podObject(id string) (any, error) {
	p, err := c.podByID(c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	return Object{Key: "pod", Value: renderPod(p)}, nil
}

func updatePod(c *Call) (any, error) {
	id := c.lowerID("id")
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		p, err := c.podByID(tx, id)
		if err != nil {
			return err
		}
		z, err := c.zoneForChange(tx, p.ZoneID)
		if err != nil {
			return err
		}
		if c.P.Has("name") {
			if p.Name = strings.TrimSpace(c.P.String("name")); p.Name == "" {
				return ErrParam("Invalid name: a pod name must not be empty")
			}
		}
		rangeChanged := false
		for _, f := range []struct {
			param string
			dst   *string
		}{{"gateway", &p.Gateway}, {"netmask", &p.Netmask}, {"startip", &p.StartIP}, {"endip", &p.EndIP}} {
			if v := strings.TrimSpace(c.P.String(f.param)); v != "" && v != *f.dst {
				*f.dst, rangeChanged = v, true
			}
		}
		if rangeChanged {
			if err := c.checkPodRange(tx, z, p); err != nil {
				return err
			}
		}
		if v := c.P.String("allocationstate"); v != "" {
			if p.AllocationState, err = parseChoice("allocationstate", v, allocEnabled, allocDisabled); err != nil {
				return err
			}
		}
		if err := db.UpdatePod(c.Ctx, tx, p); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("A pod with name %s already exists in zone %s. Please specify a different pod name.", p.Name, p.ZoneName)
			}
			return err
		}
		return c.Event(tx, "POD.EDIT", "Editing pod "+p.Name, "Pod", p.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.podObject(id)
}

func deletePod(c *Call) (any, error) {
	id := c.lowerID("id")
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		p, err := c.podByID(tx, id)
		if err != nil {
			return err
		}
		if _, err := c.zoneForChange(tx, p.ZoneID); err != nil {
			return err
		}
		u, err := db.CountPodUsage(c.Ctx, tx, p.ID)
		if err != nil {
			return err
		}
		var held []string
		for _, h := range []struct {
			n    int
			what string
		}{{u.Hosts, "hosts"}, {u.Clusters, "clusters"}, {u.StoragePools, "primary storage pools"}, {u.VMs, "virtual machines"}} {
			if h.n > 0 {
				held = append(held, fmt.Sprintf("%d %s", h.n, h.what))
			}
		}
		if len(held) > 0 {
			return ErrInUse("The pod %s cannot be deleted because there are %s in this pod; remove them first", p.Name, strings.Join(held, ", "))
		}
		// As in CloudStack, the pod's own IP ranges (a Basic zone's guest ranges) go with it,
		// unless one of their addresses is in use.
		ranges, _, err := db.ListVlanRanges(c.Ctx, tx, db.VlanRangeFilter{PodID: p.ID})
		if err != nil {
			return err
		}
		for _, v := range ranges {
			if err := network.RemoveRange(c.Ctx, c.actor(), tx, v); err != nil {
				return err
			}
		}
		if err := db.RemovePod(c.Ctx, tx, p.ID); err != nil {
			return err
		}
		return c.Event(tx, "POD.DELETE", "Deleting pod "+p.Name, "Pod", p.ID)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}
