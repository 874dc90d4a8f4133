package api

import (
	"sort"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
)

// Guest networks: createNetwork, listNetworks, updateNetwork, deleteNetwork, restartNetwork.
// This is the management-server layer only (addresses, VNIs, source NAT, ownership and
// limits); nothing is configured on hosts yet (bridges, VXLAN, DHCP: a later issue).

var networkIDParam = Param{Name: "id", Type: TUUID, Required: true, Description: "the ID of the network"}

func registerNetworks(s *Server) {
	s.Reg.Add(&Command{Name: "createNetwork", Response: networkResponse, Roles: AllRoles, ResponseKey: "network",
		Description: "Creates a network",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name of the network"},
			{Name: "displaytext", Type: TString, Length: 255, Description: "the display text of the network"},
			{Name: "networkofferingid", Type: TUUID, Required: true, Description: "the network offering ID"},
			{Name: "zoneid", Type: TUUID, Required: true, Description: "the zone ID for the network"},
			{Name: "physicalnetworkid", Type: TUUID, Description: "the physical network ID the network belongs to"},
			{Name: "gateway", Type: TString, Description: "the gateway of the network. Required for shared networks and isolated networks when it belongs to VPC"},
			{Name: "netmask", Type: TString, Description: "the netmask of the network. Required for shared networks and isolated networks when it belongs to VPC"},
			{Name: "startip", Type: TString, Description: "the beginning IP address in the network IP range"},
			{Name: "endip", Type: TString, Description: "the ending IP address in the network IP range. If not specified, will be defaulted to startIP"},
			{Name: "vlan", Type: TString, Description: "the ID or VID of the network"},
			{Name: "networkdomain", Type: TString, Description: "network domain"},
			{Name: "acltype", Type: TString, Description: "Access control type; supported values are account and domain. If not specified, Isolated networks are account-wide and Shared networks domain-wide (or account-wide when an account is given)."},
			{Name: "account", Type: TString, Description: "account that will own the network"},
			{Name: "domainid", Type: TUUID, Description: "domain ID of the account owning a network"},
			{Name: "projectid", Type: TUUID, Description: "an optional project for the network"},
			{Name: "subdomainaccess", Type: TBool, Description: "Defines whether to allow subdomains to use networks dedicated to their parent domain(s). Should be used with aclType=Domain, defaulted to allow.subdomain.network.access global config if not specified"},
			{Name: "displaynetwork", Type: TBool, Description: "an optional field, whether to the display the network to the end user or not."},
			{Name: "vpcid", Type: TUUID, Description: "the VPC network belongs to"},
			{Name: "aclid", Type: TUUID, Description: "Network ACL ID associated for the network"},
			{Name: "isolatedpvlan", Type: TString, Description: "the isolated private VLAN for this network"},
			{Name: "startipv6", Type: TString, Description: "the beginning IPv6 address in the IPv6 network range"},
			{Name: "endipv6", Type: TString, Description: "the ending IPv6 address in the IPv6 network range"},
			{Name: "ip6cidr", Type: TString, Description: "the CIDR of IPv6 network, must be at least /64"},
			{Name: "ip6gateway", Type: TString, Description: "the gateway of the IPv6 network. Required for Shared networks"},
		},
		Handler: createNetwork})
	s.Reg.Add(&Command{Name: "listNetworks", Response: networkResponse, Roles: AllRoles, List: true, ResponseKey: "network",
		Description: "Lists all available networks.",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "list networks by ID"},
			Param{Name: "name", Type: TString, Description: "list networks by name"},
			Param{Name: "zoneid", Type: TUUID, Description: "the zone ID of the network"},
			Param{Name: "type", Type: TString, Description: "the type of the network. Supported values are: isolated, l2, shared and all"},
			Param{Name: "traffictype", Type: TString, Description: "type of the traffic"},
			Param{Name: "issystem", Type: TBool, Description: "true if network is system, false otherwise"},
			Param{Name: "acltype", Type: TString, Description: "list networks by ACL (access control list) type. Supported values are account and domain"},
			Param{Name: "physicalnetworkid", Type: TUUID, Description: "list networks by physical network id"},
			Param{Name: "networkofferingid", Type: TUUID, Description: "list networks by network offering ID"},
			Param{Name: "canusefordeploy", Type: TBool, Description: "list networks available for VM deployment"},
			Param{Name: "supportedservices", Type: TList, Description: "list networks supporting certain services"},
			Param{Name: "specifyipranges", Type: TBool, Description: "true if need to list only networks which support specifying IP ranges"},
			Param{Name: "restartrequired", Type: TBool, Description: "list networks by restartRequired"},
			Param{Name: "forvpc", Type: TBool, Description: "the network belongs to VPC"},
			Param{Name: "vpcid", Type: TUUID, Description: "List networks by VPC"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project"},
			tagsListParam,
		),
		Handler: listNetworks})
	s.Reg.Add(&Command{Name: "updateNetwork", Response: networkResponse, Roles: AllRoles, Async: true, ResponseKey: "network",
		Description: "Updates a network",
		Params: []Param{networkIDParam,
			{Name: "name", Type: TString, Length: 255, Description: "the new name for the network"},
			{Name: "displaytext", Type: TString, Length: 255, Description: "the new display text for the network"},
			{Name: "networkdomain", Type: TString, Description: "network domain"},
			{Name: "networkofferingid", Type: TUUID, Description: "network offering ID"},
			{Name: "guestvmcidr", Type: TString, Description: "CIDR for guest VMs, CloudStack allocates IPs to guest VMs only from this CIDR"},
			{Name: "changecidr", Type: TBool, Description: "Force update even if CIDR type is different"},
			{Name: "displaynetwork", Type: TBool, Description: "an optional field, whether to the display the network to the end user or not."},
			{Name: "forced", Type: TBool, Description: "Setting this to true will cause a forced network update"},
		},
		Handler: updateNetworkStart, Job: updateNetworkJob})
	s.Reg.Add(&Command{Name: "deleteNetwork", Response: successResponse, Roles: AllRoles, Async: true,
		Description: "Deletes a network",
		Params: []Param{networkIDParam,
			{Name: "forced", Type: TBool, Description: "Force delete a network. Network will be marked as 'Destroy' even when commands to shutdown and cleanup to the backend fails."},
		},
		Handler: deleteNetworkStart, Job: deleteNetworkJob})
	s.Reg.Add(&Command{Name: "restartNetwork", Response: successResponse, Roles: AllRoles, Async: true, ResponseKey: "network",
		Description: "Restarts the network; includes 1) restarting network elements - virtual routers, DHCP servers 2) reapplying all public IPs 3) reapplying loadBalancing/portForwarding rules",
		Params: []Param{networkIDParam,
			{Name: "cleanup", Type: TBool, Description: "If cleanup old network elements"},
			{Name: "makeredundant", Type: TBool, Description: "Turn the network into a network with redundant routers."},
			{Name: "livepatch", Type: TBool, Description: "Live patches the router software before restarting it."},
		},
		Handler: restartNetworkStart, Job: restartNetworkJob})
	RegisterTaggable("Network", func(c *Call, q db.Querier, id string) (string, string, error) {
		n, err := db.GetNetwork(c.Ctx, q, id)
		if err != nil {
			return "", "", err
		}
		return n.AccountID, n.DomainID, nil
	})
}

// networkForCall loads a live network the caller may use (read) or change (write) (network.ForCaller).
func (c *Call) networkForCall(q db.Querier, id string, write bool) (*db.Network, error) {
	return network.ForCaller(c.Ctx, q, c.Caller, id, write)
}

// Rendering.

type networkRenderer struct {
	c         *Call
	offerings map[string]*db.NetworkOffering
	zones     map[string]*db.Zone
}

func (c *Call) newNetworkRenderer() *networkRenderer {
	return &networkRenderer{c: c, offerings: map[string]*db.NetworkOffering{}, zones: map[string]*db.Zone{}}
}

func (r *networkRenderer) offering(id string) *db.NetworkOffering {
	if o, ok := r.offerings[id]; ok {
		return o
	}
	o, err := db.GetNetworkOffering(r.c.Ctx, r.c.S.DB.Read(), id)
	if err != nil {
		o = nil
	}
	r.offerings[id] = o
	return o
}

func (r *networkRenderer) zone(id string) *db.Zone {
	if z, ok := r.zones[id]; ok {
		return z
	}
	z, err := db.GetZone(r.c.Ctx, r.c.S.DB.Read(), id)
	if err != nil {
		z = nil
	}
	r.zones[id] = z
	return z
}

func (r *networkRenderer) render(n *db.Network, tags []db.Tag) map[string]any {
	c := r.c
	m := map[string]any{"id": n.ID, "name": n.Name, "displaytext": n.DisplayText, "zoneid": n.ZoneID, "zonename": n.ZoneName,
		"type": n.GuestType, "traffictype": n.TrafficType, "state": n.State, "acltype": n.ACLType, "issystem": n.IsSystem,
		"related": n.ID, "networkofferingid": n.NetworkOfferingID, "specifyipranges": n.SpecifyIPRanges, "restartrequired": n.RestartRequired,
		"canusefordeploy": n.State != db.NetworkDestroy, "ispersistent": false, "displaynetwork": true, "redundantrouter": false,
		"strechedl2subnet": false, "supportsvmautoscaling": false, "hasannotations": false, "isdefault": false,
		"domainid": n.DomainID, "domain": n.DomainName, "domainpath": n.DomainPath, "created": FormatTime(n.Created),
		"internetprotocol": "IPv4", "tags": renderTags(tags)}
	set(m, "account", n.AccountName)
	set(m, "networkdomain", n.NetworkDomain)
	set(m, "gateway", n.Gateway)
	set(m, "netmask", n.Netmask)
	set(m, "cidr", n.CIDR)
	set(m, "physicalnetworkid", n.PhysicalNetworkID)
	set(m, "broadcastdomaintype", n.BroadcastDomainType)
	if n.ACLType == db.ACLDomain {
		m["subdomainaccess"] = n.SubdomainAccess
	}
	if c.Caller.IsAdmin() && n.BroadcastURI != "" {
		m["broadcasturi"] = n.BroadcastURI
		if i := strings.Index(n.BroadcastURI, "://"); i >= 0 && n.BroadcastURI[i+3:] != "untagged" {
			m["vlan"] = n.BroadcastURI[i+3:]
		}
	}
	if z := r.zone(n.ZoneID); z != nil {
		set(m, "dns1", z.DNS1)
		set(m, "dns2", z.DNS2)
	}
	if o := r.offering(n.NetworkOfferingID); o != nil {
		m["networkofferingname"], m["networkofferingdisplaytext"] = o.Name, o.DisplayText
		m["networkofferingconservemode"], m["networkofferingavailability"] = o.ConserveMode, o.Availability
		m["egressdefaultpolicy"] = o.EgressDefaultPolicy
		names := make([]string, 0, len(o.Services))
		for s := range o.Services {
			names = append(names, s)
		}
		sort.Strings(names)
		svcs := make([]any, 0, len(names))
		for _, s := range names {
			svc := map[string]any{"name": s, "capability": []any{}}
			if p := o.Services[s]; p != "" {
				svc["provider"] = []any{map[string]any{"name": p}}
			}
			svcs = append(svcs, svc)
		}
		m["service"] = svcs
	}
	return m
}

func (c *Call) networkObject(id string) (any, error) {
	n, err := db.GetNetwork(c.Ctx, c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	tags, err := db.TagsFor(c.Ctx, c.S.DB.Read(), "Network", []string{n.ID})
	if err != nil {
		return nil, err
	}
	return Object{Key: "network", Value: c.newNetworkRenderer().render(n, tags[n.ID])}, nil
}

func listNetworks(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	f := db.NetworkFilter{ID: c.lowerID("id"), ZoneID: c.lowerID("zoneid"), Name: strings.TrimSpace(c.P.String("name")),
		Keyword: c.P.String("keyword"), TrafficType: c.P.String("traffictype"), PhysicalNetworkID: c.lowerID("physicalnetworkid"),
		NetworkOfferingID: c.lowerID("networkofferingid"), Services: c.P.List("supportedservices")}
	empty := ListResult{Key: "network", Items: []any{}}
	if b, ok := c.P.Bool("forvpc"); ok && b || c.lowerID("vpcid") != "" {
		return empty, nil // no VPC networks
	}
	if b, ok := c.P.Bool("issystem"); ok {
		f.IsSystem = &b
	} else {
		no := false
		f.IsSystem = &no
	}
	switch t := strings.ToLower(strings.TrimSpace(c.P.String("type"))); t {
	case "", "all":
	case "isolated":
		f.GuestType = db.GuestIsolated
	case "shared":
		f.GuestType = db.GuestShared
	case "l2":
		return empty, nil
	default:
		return nil, ErrParam("Invalid type %q: supported values are isolated, l2, shared and all", c.P.String("type"))
	}
	if v := strings.TrimSpace(c.P.String("acltype")); v != "" {
		a, err := parseChoice("acltype", v, db.ACLAccount, db.ACLDomain)
		if err != nil {
			return nil, err
		}
		f.ACLType = a
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	f.Scope = scope
	if scope.AccountID != "" {
		// An account's list also shows the Domain-wide networks it may use.
		a, err := db.GetAccount(c.Ctx, c.S.DB.Read(), scope.AccountID)
		if err != nil {
			return nil, err
		}
		f.AccessibleAccountID, f.AccessibleDomainPath = a.ID, a.DomainPath
	}
	f.TagClause, f.TagArgs = db.TagFilterClause("Network", "n.id", c.tagsParam())
	post := func(n *db.Network) bool { return true }
	postFilter := false
	if b, ok := c.P.Bool("canusefordeploy"); ok {
		postFilter = true
		prev := post
		post = func(n *db.Network) bool { return prev(n) && c.canDeployInto(n) == b }
	}
	if b, ok := c.P.Bool("specifyipranges"); ok {
		postFilter = true
		prev := post
		post = func(n *db.Network) bool { return prev(n) && n.SpecifyIPRanges == b }
	}
	if b, ok := c.P.Bool("restartrequired"); ok {
		postFilter = true
		prev := post
		post = func(n *db.Network) bool { return prev(n) && n.RestartRequired == b }
	}
	limit, offset := c.P.Paging()
	if !postFilter {
		f.Limit, f.Offset = limit, offset
	}
	list, total, err := db.ListNetworks(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	if postFilter {
		kept := list[:0]
		for _, n := range list {
			if post(n) {
				kept = append(kept, n)
			}
		}
		total = len(kept)
		if limit > 0 {
			kept = kept[min(offset, len(kept)):min(offset+limit, len(kept))]
		}
		list = kept
	}
	ids := make([]string, len(list))
	for i, n := range list {
		ids[i] = n.ID
	}
	tags, err := db.TagsFor(c.Ctx, c.S.DB.Read(), "Network", ids)
	if err != nil {
		return nil, err
	}
	r := c.newNetworkRenderer()
	items := make([]any, 0, len(list))
	for _, n := range list {
		items = append(items, r.render(n, tags[n.ID]))
	}
	return ListResult{Key: "network", Items: items, Count: total}, nil
}

// canDeployInto is CloudStack's canUseForDeploy: a live network, and for a Shared network one
// with a free address left.
func (c *Call) canDeployInto(n *db.Network) bool {
	if n.State == db.NetworkDestroy {
		return false
	}
	if n.GuestType != db.GuestShared {
		return true
	}
	q := c.S.DB.Read()
	ranges, skip, err := c.guestRanges(q, n)
	if err != nil {
		return false
	}
	var size int64
	for _, r := range ranges {
		size += r[1] - r[0] + 1
		for g := range skip {
			if g >= r[0] && g <= r[1] {
				size--
			}
		}
	}
	used, err := db.CountNetworkIPs(c.Ctx, q, n.ID)
	return err == nil && int64(used) < size
}

// updateNetwork.

func updateNetworkStart(c *Call) (any, error) {
	n, err := c.networkForCall(c.S.DB.Read(), c.lowerID("id"), true)
	if err != nil {
		return nil, err
	}
	spec, err := c.networkUpdateSpec()
	if err != nil {
		return nil, err
	}
	if err := network.CheckUpdate(c.Ctx, c.S.DB.Read(), n, spec); err != nil {
		return nil, err
	}
	return c.StartJob("Network", n.ID)
}

// networkUpdateSpec reads updateNetwork's parameters.
func (c *Call) networkUpdateSpec() (network.UpdateSpec, error) {
	if c.P.Has("name") && strings.TrimSpace(c.P.String("name")) == "" {
		return network.UpdateSpec{}, ErrParam("Invalid name: a network's name can't be empty")
	}
	nd, err := c.networkDomainParam()
	if err != nil {
		return network.UpdateSpec{}, err
	}
	spec := network.UpdateSpec{Name: strings.TrimSpace(c.P.String("name")), NetworkDomain: nd, OfferingID: c.lowerID("networkofferingid"),
		GuestVMCIDR: strings.TrimSpace(c.P.String("guestvmcidr"))}
	if c.P.Has("displaytext") {
		dt := strings.TrimSpace(c.P.String("displaytext"))
		spec.DisplayText = &dt
	}
	return spec, nil
}

func updateNetworkJob(c *Call, j *db.Job) (any, error) {
	spec, err := c.networkUpdateSpec()
	if err != nil {
		return nil, err
	}
	if err := network.Update(c.Ctx, c.deps(), c.actor(), j.InstanceID, spec); err != nil {
		return nil, err
	}
	return c.networkObject(j.InstanceID)
}

// deleteNetwork.

func deleteNetworkStart(c *Call) (any, error) {
	n, err := c.networkForCall(c.S.DB.Read(), c.lowerID("id"), true)
	if err != nil {
		return nil, err
	}
	if b, _ := c.P.Bool("forced"); b && !c.Caller.IsRootAdmin() {
		return nil, ErrDenied("Only the root admin can force-delete network %s (forced)", n.Name)
	}
	if err := network.CheckUnused(c.Ctx, c.S.DB.Read(), n); err != nil {
		return nil, err
	}
	return c.StartJob("Network", n.ID)
}

func deleteNetworkJob(c *Call, j *db.Job) (any, error) {
	if err := network.Delete(c.Ctx, c.deps(), c.actor(), j.InstanceID); err != nil {
		return nil, err
	}
	return Success(), nil
}

// destroyNetwork removes a network no NIC uses, in the caller's transaction (network.Destroy).
func (c *Call) destroyNetwork(tx db.Tx, n *db.Network) error {
	return network.Destroy(c.Ctx, c.deps(), c.actor(), tx, n)
}

// removeAccountNetworks destroys every network an account owns (network.RemoveAccountNetworks).
func (c *Call) removeAccountNetworks(tx db.Tx, accountID string) error {
	return network.RemoveAccountNetworks(c.Ctx, c.deps(), c.actor(), tx, accountID)
}

// restartNetwork re-implements the network and applies its router again (network.Restart);
// cleanup=true rebuilds the router from nothing.

func restartNetworkStart(c *Call) (any, error) {
	n, err := c.networkForCall(c.S.DB.Read(), c.lowerID("id"), true)
	if err != nil {
		return nil, err
	}
	if err := network.CheckRestart(n); err != nil {
		return nil, err
	}
	if b, _ := c.P.Bool("makeredundant"); b {
		return nil, ErrParam("makeredundant is not supported: Atoll's routers are host namespaces, moved to another host when theirs fails")
	}
	return c.StartJob("Network", n.ID)
}

func restartNetworkJob(c *Call, j *db.Job) (any, error) {
	cleanup, _ := c.P.Bool("cleanup")
	if err := network.Restart(c.Ctx, c.deps(), c.actor(), j.InstanceID, cleanup); err != nil {
		return nil, err
	}
	return Success(), nil // RestartNetworkCmd answers a SuccessResponse
}
