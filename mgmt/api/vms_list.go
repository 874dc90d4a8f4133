package api

import (
	"database/sql"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
)

func registerVMLists(s *Server) {
	s.Reg.Add(&Command{Name: "listVirtualMachines", Response: vmResponseFields, Roles: AllRoles, List: true, ResponseKey: "virtualmachine",
		Description: "List the virtual machines owned by the account.",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "the ID of the virtual machine"},
			Param{Name: "ids", Type: TList, Elem: "uuid", Description: "the IDs of the virtual machines, mutually exclusive with id"},
			Param{Name: "name", Type: TString, Description: "name of the virtual machine (a case-insensitive match)"},
			Param{Name: "state", Type: TString, Description: "state of the virtual machine. Possible values are: Running, Stopped, Present, Destroyed, Expunged."},
			Param{Name: "zoneid", Type: TUUID, Description: "the availability zone ID"},
			Param{Name: "podid", Type: TUUID, Description: "the pod ID"},
			Param{Name: "clusterid", Type: TUUID, Description: "the cluster ID"},
			Param{Name: "hostid", Type: TUUID, Description: "the host ID"},
			Param{Name: "templateid", Type: TUUID, Description: "list vms by template"},
			Param{Name: "isoid", Type: TUUID, Description: "list vms by iso"},
			Param{Name: "serviceofferingid", Type: TUUID, Description: "list by the service offering"},
			Param{Name: "networkid", Type: TUUID, Description: "list by network id"},
			Param{Name: "affinitygroupid", Type: TUUID, Description: "list vms by affinity group"},
			Param{Name: "keypair", Type: TString, Description: "list vms by ssh keypair name"},
			Param{Name: "groupid", Type: TString, Description: "the group of the virtual machine"},
			Param{Name: "details", Type: TList, Description: "comma separated list of vm details requested, value can be a list of [all, group, nics, stats, secgrp, tmpl, servoff, diskoff, backoff, iso, volume, min, affgrp]. If no parameter is passed in, the details will be defaulted to all"},
			Param{Name: "displayvm", Type: TBool, Description: "list resources by display flag; only ROOT admin is eligible to pass this parameter"},
			Param{Name: "userdata", Type: TBool, Description: "Whether to return the VMs' user data or not. By default, user data will not be returned."},
			Param{Name: "hypervisor", Type: TString, Description: "the target hypervisor for the VMs"},
			Param{Name: "haenable", Type: TBool, Description: "list by the High Availability offering; true if filtering VMs with HA enabled; false for VMs with HA disabled"},
			Param{Name: "forvirtualnetwork", Type: TBool, Description: "list by network type; true if need to list vms using Virtual Network, false otherwise"},
			Param{Name: "vpcid", Type: TUUID, Description: "list vms by vpc"},
			Param{Name: "storageid", Type: TUUID, Description: "the storage ID where vm's volumes belong to"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (Atoll has no projects: refused)"},
			Param{Name: "accumulate", Type: TBool, Description: "Accumulates the VM metrics data instead of returning only the most recent data collected. The default behavior is set by the global configuration vm.stats.increment.metrics."},
			Param{Name: "showicon", Type: TBool, Description: "flag to display the resource icon for VMs (ignored)"},
			Param{Name: "retrieveonlyresourcecount", Type: TBool, Description: "Whether to retrieve only the count of VMs"},
			tagsListParam,
		),
		Handler: listVMs})
	s.Reg.Add(&Command{Name: "listNics", Response: nicResponseFields, Roles: AllRoles, List: true, ResponseKey: "nic", Description: "list the vm nics IP to NIC",
		Params: []Param{
			{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "the ID of the vm"},
			{Name: "nicid", Type: TUUID, Description: "the ID of the nic to to list IPs"},
			{Name: "networkid", Type: TUUID, Description: "list nic of the specific vm's network"},
			{Name: "fordisplay", Type: TBool, Description: "list resources by display flag"},
		},
		Handler: listNics})
	registerVMMetrics(s)
}

func listVMs(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	f := db.VMFilter{ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), Keyword: c.P.String("keyword"),
		ZoneID: strings.ToLower(c.P.String("zoneid")), TemplateID: strings.ToLower(c.P.String("templateid")),
		ISOID: strings.ToLower(c.P.String("isoid")), ServiceOfferingID: strings.ToLower(c.P.String("serviceofferingid")),
		NetworkID: strings.ToLower(c.P.String("networkid")), AffinityGroupID: strings.ToLower(c.P.String("affinitygroupid")),
		KeyPair: c.P.String("keypair"), Group: c.P.String("groupid"), Scope: scope}
	for _, id := range c.P.List("ids") {
		f.IDs = append(f.IDs, strings.ToLower(id))
	}
	if c.Caller.IsRootAdmin() {
		f.HostID, f.PodID, f.ClusterID = strings.ToLower(c.P.String("hostid")), strings.ToLower(c.P.String("podid")), strings.ToLower(c.P.String("clusterid"))
		if b, ok := c.P.Bool("displayvm"); ok && b {
			f.DisplayOnly = true
		}
	} else {
		f.DisplayOnly = true
	}
	switch st := c.P.String("state"); {
	case strings.EqualFold(st, "present"):
		f.ExcludeStates = []string{db.VMDestroyed, db.VMExpunging}
	case st != "":
		f.States = []string{st}
	}
	if !c.userMay("allow.user.view.destroyed.vm") {
		f.ExcludeStates = append(f.ExcludeStates, db.VMDestroyed, db.VMExpunging)
	}
	if tags := c.tagsParam(); len(tags) > 0 {
		f.Extra, f.ExtraArgs = db.TagFilterClause("UserVm", "v.id", tags)
	}
	if sid := c.P.String("storageid"); sid != "" {
		f.And("v.id IN (SELECT vm_id FROM volumes WHERE pool_id = ? AND removed IS NULL AND vm_id IS NOT NULL)", strings.ToLower(sid))
	}
	if b, ok := c.P.Bool("haenable"); ok {
		f.And("v.ha_enabled = ?", boolToInt(b))
	}
	if h := c.P.String("hypervisor"); h != "" {
		f.And("LOWER(v.hypervisor_type) = ?", strings.ToLower(h))
	}
	if b, ok := c.P.Bool("forvirtualnetwork"); ok {
		// CloudStack's virtual networks are the Isolated ones; false lists VMs on Shared ones.
		guest := db.GuestShared
		if b {
			guest = db.GuestIsolated
		}
		f.And("v.id IN (SELECT n.vm_id FROM nics n JOIN networks w ON w.id = n.network_id WHERE n.removed IS NULL AND w.guest_type = ?)", guest)
	}
	if id := c.P.String("vpcid"); id != "" {
		// Atoll has no VPCs yet: no id names one.
		return nil, ErrParam("Invalid parameter vpcid value=%s due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.", id)
	}
	if only, _ := c.P.Bool("retrieveonlyresourcecount"); only {
		f.Limit, f.Offset = 1, 1<<30
		_, n, err := db.ListVMs(c.Ctx, c.S.DB.Read(), f)
		if err != nil {
			return nil, err
		}
		return ListResult{Key: "virtualmachine", Count: n}, nil
	}
	f.Limit, f.Offset = c.P.Paging()
	q := c.S.DB.Read()
	userData, _ := c.P.Bool("userdata")
	list, total, pre, err := listVMsAndNics(c, q, f, userData)
	if err != nil {
		return nil, err
	}
	items, err := c.renderVMsOf(q, list, c.P.String("details") == "" || strings.Contains(strings.ToLower(c.P.String("details")), "all"), pre)
	if err != nil {
		return nil, err
	}
	if userData {
		for i, v := range list {
			items[i].(*vmResponse).UserData = v.UserData
		}
	}
	if err := c.addVMStats(q, items); err != nil {
		return nil, err
	}
	return ListResult{Key: "virtualmachine", Items: items, Count: total}, nil
}

// vmPreload is what the render of a whole list reads beforehand over the list's filter: the
// NICs of every VM (by VM id, in device order), their tags and affinity groups.
type vmPreload struct {
	nics    map[string][]*db.Nic
	tags    map[string][]db.Tag
	members map[string][]*db.AffinityMember
}

// listVMsAndNics reads the VMs a list answers and, unpaged, the NICs, tags and affinity groups
// of all of them: one query each over the same filter, run at the same time as the VMs' on
// another connection (nil when paged: renderVMsOf reads the page's by id).
func listVMsAndNics(c *Call, q db.Querier, f db.VMFilter, userData bool) ([]*db.VM, int, *vmPreload, error) {
	if _, pool := q.(*sql.DB); !pool || f.Limit > 0 {
		// A page's NICs: by id once its VMs are known (a few ms; another OFFSET scan costs more).
		list, total, err := db.ListVMsToRender(c.Ctx, q, f, userData)
		return list, total, nil, err
	}
	var ns []*db.Nic
	var nerr error
	pre := &vmPreload{tags: map[string][]db.Tag{}, members: map[string][]*db.AffinityMember{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if ns, nerr = db.ListNicsOfVMs(c.Ctx, q, f); nerr != nil {
			return
		}
		var some bool
		if some, nerr = db.AnyRows(c.Ctx, q, "resource_tags", "resource_type = ?", "UserVm"); nerr != nil {
			return
		} else if some {
			if pre.tags, nerr = db.VMTagsOf(c.Ctx, q, f); nerr != nil {
				return
			}
		}
		if some, nerr = db.AnyRows(c.Ctx, q, "affinity_group_vm_map", "1 = 1"); nerr != nil || !some {
			return
		}
		ms, err := db.VMAffinityMembersOf(c.Ctx, q, f)
		if nerr = err; err != nil {
			return
		}
		for _, m := range ms {
			pre.members[m.VMID] = append(pre.members[m.VMID], m)
		}
	}()
	list, total, err := db.ListVMsToRender(c.Ctx, q, f, userData)
	<-done
	if err == nil {
		err = nerr
	}
	if err != nil {
		return nil, 0, nil, err
	}
	nics := db.NicsByVM(ns)
	pre.nics = nics
	// A VM committed after the NIC query read has no NICs there yet: read those VMs' by id
	// (and those of VMs that have none, a few at most), with their tags and affinity groups.
	var missing []string
	for _, v := range list {
		if _, ok := nics[v.ID]; !ok {
			missing = append(missing, v.ID)
		}
	}
	if len(missing) > 0 {
		more, err := db.ListNicsToRender(c.Ctx, q, missing)
		if err != nil {
			return nil, 0, nil, err
		}
		for id, l := range db.NicsByVM(more) {
			nics[id] = l
		}
		tags, err := db.TagsFor(c.Ctx, q, "UserVm", missing)
		if err != nil {
			return nil, 0, nil, err
		}
		for id, l := range tags {
			pre.tags[id] = l
		}
		for _, ch := range chunks(missing, 1000) {
			ms, err := db.ListAffinityMembers(c.Ctx, q, ch)
			if err != nil {
				return nil, 0, nil, err
			}
			for _, id := range ch {
				delete(pre.members, id)
			}
			for _, m := range ms {
				pre.members[m.VMID] = append(pre.members[m.VMID], m)
			}
		}
	}
	return list, total, pre, nil
}

// chunks splits ids for IN lists.
func chunks(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > n {
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// vmResponse is CloudStack's UserVmResponse (the fields Atoll has). A struct rather than a map:
// a list of tens of thousands of VMs encodes several times faster.
type vmResponse struct {
	ID                    string            `json:"id"`
	Name                  string            `json:"name"`
	DisplayName           string            `json:"displayname"`
	Account               string            `json:"account,omitempty"`
	DomainID              string            `json:"domainid"`
	Domain                string            `json:"domain,omitempty"`
	DomainPath            string            `json:"domainpath,omitempty"`
	Created               string            `json:"created"`
	State                 string            `json:"state"`
	HAEnable              bool              `json:"haenable"`
	DeleteProtection      bool              `json:"deleteprotection"`
	ZoneID                string            `json:"zoneid"`
	ZoneName              string            `json:"zonename,omitempty"`
	HostID                string            `json:"hostid,omitempty"`
	HostName              string            `json:"hostname,omitempty"`
	InstanceName          string            `json:"instancename,omitempty"`
	CPUNumber             int               `json:"cpunumber"`
	CPUSpeed              int64             `json:"cpuspeed"`
	Memory                int64             `json:"memory"`
	ServiceOfferingID     string            `json:"serviceofferingid"`
	ServiceOfferingName   string            `json:"serviceofferingname,omitempty"`
	DiskOfferingID        string            `json:"diskofferingid,omitempty"`
	DiskOfferingName      string            `json:"diskofferingname,omitempty"`
	TemplateID            string            `json:"templateid,omitempty"`
	TemplateName          string            `json:"templatename,omitempty"`
	TemplateDisplayText   string            `json:"templatedisplaytext,omitempty"`
	TemplateType          string            `json:"templatetype,omitempty"`
	TemplateFormat        string            `json:"templateformat,omitempty"`
	ISOID                 string            `json:"isoid,omitempty"`
	ISOName               string            `json:"isoname,omitempty"`
	ISODisplayText        string            `json:"isodisplaytext,omitempty"`
	PasswordEnabled       bool              `json:"passwordenabled"`
	Password              string            `json:"password,omitempty"`
	IsDynamicallyScalable bool              `json:"isdynamicallyscalable"`
	DisplayVM             bool              `json:"displayvm"`
	RootDeviceID          int               `json:"rootdeviceid"`
	RootDeviceType        string            `json:"rootdevicetype"`
	Hypervisor            string            `json:"hypervisor,omitempty"`
	GuestOSID             string            `json:"guestosid,omitempty"`
	OSTypeID              string            `json:"ostypeid,omitempty"`
	OSDisplayName         string            `json:"osdisplayname,omitempty"`
	VMType                string            `json:"vmtype"`
	LastUpdated           string            `json:"lastupdated,omitempty"`
	Group                 string            `json:"group,omitempty"`
	KeyPair               string            `json:"keypair,omitempty"`
	KeyPairs              string            `json:"keypairs,omitempty"`
	IPAddress             string            `json:"ipaddress,omitempty"`
	UserData              string            `json:"userdata,omitempty"`
	Details               map[string]string `json:"details,omitempty"`
	SecurityGroup         []map[string]any  `json:"securitygroup"`
	AffinityGroup         []map[string]any  `json:"affinitygroup"`
	Nic                   []*nicResponse    `json:"nic"`
	Tags                  []any             `json:"tags"`
	vmStatsResponse
}

// nicResponse is CloudStack's NicResponse.
type nicResponse struct {
	ID               string `json:"id"`
	NetworkID        string `json:"networkid"`
	NetworkName      string `json:"networkname,omitempty"`
	Type             string `json:"type,omitempty"`
	IsDefault        bool   `json:"isdefault"`
	MACAddress       string `json:"macaddress"`
	DeviceID         string `json:"deviceid"`
	VirtualMachineID string `json:"virtualmachineid"`
	TrafficType      string `json:"traffictype"`
	IPAddress        string `json:"ipaddress,omitempty"`
	Netmask          string `json:"netmask,omitempty"`
	Gateway          string `json:"gateway,omitempty"`
	IP6Address       string `json:"ip6address,omitempty"`
	BroadcastURI     string `json:"broadcasturi,omitempty"`
	IsolationURI     string `json:"isolationuri,omitempty"`
	SecondaryIP      []any  `json:"secondaryip"`
	ExtraDHCPOption  []any  `json:"extradhcpoption"`
}

var noItems = []any{}

func renderNic(n *db.Nic, net *db.Network) *nicResponse {
	r := &nicResponse{ID: n.ID, NetworkID: n.NetworkID, IsDefault: n.IsDefault, MACAddress: n.MACAddress, DeviceID: strconv.Itoa(n.DeviceID),
		VirtualMachineID: n.VMID, TrafficType: n.TrafficType, IPAddress: n.IPAddress, Netmask: n.Netmask, Gateway: n.Gateway,
		IP6Address: n.IP6Address, BroadcastURI: n.BroadcastURI, IsolationURI: n.IsolationURI, SecondaryIP: noItems, ExtraDHCPOption: noItems}
	if net != nil {
		r.NetworkName, r.Type = net.Name, net.GuestType
	}
	return r
}

// renderVMs renders VMs with their NICs, tags, affinity groups and the names of their
// template, offerings and networks, loading each of those for the whole list at once.
func (c *Call) renderVMs(q db.Querier, vms []*db.VM, full bool) ([]any, error) {
	return c.renderVMsOf(q, vms, full, nil)
}

// renderVMsOf is renderVMs; when pre is set it holds the NICs, tags and affinity groups of
// every VM of vms, read beforehand.
func (c *Call) renderVMsOf(q db.Querier, vms []*db.VM, full bool, pre *vmPreload) ([]any, error) {
	ids := make([]string, len(vms))
	for i, v := range vms {
		ids[i] = v.ID
	}
	nics := map[string][]*db.Nic{}
	seed := c.seedFor(vms)
	if seed != nil {
		nics[seed.VMID] = seed.Nics
	} else if pre != nil {
		nics = pre.nics
	} else {
		ns, err := db.ListNicsToRender(c.Ctx, q, ids)
		if err != nil {
			return nil, err
		}
		nics = db.NicsByVM(ns)
	}
	members := map[string][]*db.AffinityMember{}
	if seed != nil && seed.NoAffinity {
		// the seeded VM is in no affinity group
	} else if pre != nil {
		members = pre.members
	} else if some, err := db.AnyRows(c.Ctx, q, "affinity_group_vm_map", "1 = 1"); err != nil {
		return nil, err
	} else if some {
		for _, ch := range chunks(ids, 1000) {
			ms, err := db.ListAffinityMembers(c.Ctx, q, ch)
			if err != nil {
				return nil, err
			}
			for _, m := range ms {
				members[m.VMID] = append(members[m.VMID], m)
			}
		}
	}
	tags := map[string][]db.Tag{}
	if seed != nil && seed.NoTags {
		// the seeded VM had no tags when its job began
	} else if pre != nil {
		tags = pre.tags
	} else if some, err := db.AnyRows(c.Ctx, q, "resource_tags", "resource_type = ?", "UserVm"); err != nil {
		return nil, err
	} else if some {
		if tags, err = db.TagsFor(c.Ctx, q, "UserVm", ids); err != nil {
			return nil, err
		}
	}
	sgs, err := c.vmSecurityGroups(q, ids)
	if err != nil {
		return nil, err
	}
	names := newNameCache(c, q)
	fillSeed(seed, names)
	admin := c.Caller != nil && c.Caller.IsAdmin()
	root := c.Caller != nil && c.Caller.IsRootAdmin()
	out := make([]any, 0, len(vms))
	for _, v := range vms {
		r := &vmResponse{ID: v.ID, Name: v.Name, DisplayName: v.DisplayName, Account: v.AccountName, DomainID: v.DomainID,
			Domain: v.DomainName, DomainPath: v.DomainPath, Created: FormatTime(v.Created), State: v.State, HAEnable: v.HAEnabled, DeleteProtection: v.DeleteProtection,
			ZoneID: v.ZoneID, ZoneName: v.ZoneName, CPUNumber: v.CPUNumber, CPUSpeed: v.CPUSpeed, Memory: v.Memory,
			ServiceOfferingID: v.ServiceOfferingID, IsDynamicallyScalable: v.DynamicallyScalable, DisplayVM: v.DisplayVM,
			RootDeviceType: "ROOT", Hypervisor: v.HypervisorType, GuestOSID: v.OSTypeID, OSTypeID: v.OSTypeID, VMType: "User",
			Group: v.Group, KeyPair: v.KeyPairs, KeyPairs: v.KeyPairs, Tags: renderTags(tags[v.ID]),
			SecurityGroup: []map[string]any{}, AffinityGroup: []map[string]any{}, Nic: []*nicResponse{}}
		if v.PowerStateUpdated > 0 {
			r.LastUpdated = FormatTime(v.PowerStateUpdated)
		}
		if so := names.offering(v.ServiceOfferingID); so != nil {
			r.ServiceOfferingName = so.Name
		}
		if v.DiskOfferingID != "" {
			if do := names.diskOffering(v.DiskOfferingID); do != nil {
				r.DiskOfferingID, r.DiskOfferingName = do.ID, do.Name
			}
		}
		if v.TemplateID != "" {
			r.TemplateID = v.TemplateID
			if t := names.template(v.TemplateID); t != nil {
				r.TemplateName, r.TemplateDisplayText, r.PasswordEnabled = t.Name, t.DisplayText, t.PasswordEnabled
				r.TemplateType, r.TemplateFormat = t.TemplateType, t.Format
			}
		}
		if v.ISOID != "" {
			r.ISOID = v.ISOID
			if t := names.template(v.ISOID); t != nil {
				r.ISOName, r.ISODisplayText = t.Name, t.DisplayText
			}
		}
		if os := names.osType(v.OSTypeID); os != nil {
			r.OSDisplayName = os.Description
		}
		if admin {
			r.InstanceName = v.InstanceName()
		}
		if root && v.HostID != "" {
			r.HostID, r.HostName = v.HostID, v.HostName
		}
		if full && len(v.Details) > 0 {
			r.Details = v.Details
		}
		if gs := sgs[v.ID]; len(gs) > 0 {
			r.SecurityGroup = gs
		}
		for _, a := range members[v.ID] {
			r.AffinityGroup = append(r.AffinityGroup, map[string]any{"id": a.GroupID, "name": a.Name, "type": a.Type, "description": a.Description})
		}
		for _, n := range nics[v.ID] {
			if n.IsDefault {
				r.IPAddress = n.IPAddress
			}
			r.Nic = append(r.Nic, renderNic(n, names.network(n.NetworkID)))
		}
		out = append(out, r)
	}
	return out, nil
}

// nameCache loads each referenced offering, template, OS type and network once per list.
type nameCache struct {
	c        *Call
	q        db.Querier
	offers   map[string]*db.ServiceOffering
	disks    map[string]*db.DiskOffering
	tmpls    map[string]*db.Template
	oses     map[string]*db.OSType
	networks map[string]*db.Network
}

func newNameCache(c *Call, q db.Querier) *nameCache {
	return &nameCache{c: c, q: q, offers: map[string]*db.ServiceOffering{}, disks: map[string]*db.DiskOffering{},
		tmpls: map[string]*db.Template{}, oses: map[string]*db.OSType{}, networks: map[string]*db.Network{}}
}

func cached[T any](m map[string]*T, id string, load func() (*T, error)) *T {
	if id == "" {
		return nil
	}
	if v, ok := m[id]; ok {
		return v
	}
	v, err := load()
	if err != nil {
		v = nil
	}
	m[id] = v
	return v
}

func (n *nameCache) offering(id string) *db.ServiceOffering {
	return cached(n.offers, id, func() (*db.ServiceOffering, error) {
		o, _, err := db.GetServiceOfferingAny(n.c.Ctx, n.q, id)
		return o, err
	})
}

func (n *nameCache) diskOffering(id string) *db.DiskOffering {
	return cached(n.disks, id, func() (*db.DiskOffering, error) { return db.GetDiskOffering(n.c.Ctx, n.q, id) })
}

func (n *nameCache) template(id string) *db.Template {
	return cached(n.tmpls, id, func() (*db.Template, error) { return db.GetTemplate(n.c.Ctx, n.q, id) })
}

func (n *nameCache) osType(id string) *db.OSType {
	return cached(n.oses, id, func() (*db.OSType, error) { return n.c.S.DB.CachedOSType(n.c.Ctx, n.q, id) })
}

func (n *nameCache) network(id string) *db.Network {
	return cached(n.networks, id, func() (*db.Network, error) { return db.GetNetwork(n.c.Ctx, n.q, id) })
}

func listNics(c *Call) (any, error) {
	q := c.S.DB.Read()
	v, err := c.vmOf(q, c.P.String("virtualmachineid"))
	if err != nil {
		return nil, err
	}
	list, err := db.ListNics(c.Ctx, q, db.NicFilter{VMID: v.ID, ID: strings.ToLower(c.P.String("nicid")), NetworkID: strings.ToLower(c.P.String("networkid"))})
	if err != nil {
		return nil, err
	}
	names := newNameCache(c, q)
	items := make([]any, 0, len(list))
	for _, n := range list {
		items = append(items, renderNic(n, names.network(n.NetworkID)))
	}
	total := len(items)
	if limit, offset := c.P.Paging(); limit > 0 {
		items = items[min(offset, len(items)):min(offset+limit, len(items))]
	}
	return ListResult{Key: "nic", Items: items, Count: total}, nil
}
