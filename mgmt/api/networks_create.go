package api

import (
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/google/uuid"
)

// createNetwork and the rules of new Isolated and Shared networks.

// networkOwner resolves the owner of a new network: account/domainid (the caller must manage
// that account), domainid alone (a Domain-wide network of that domain), or the caller.
func (c *Call) networkOwner(q db.Querier) (acct *db.Account, dom *db.Domain, err error) {
	name := strings.TrimSpace(c.P.String("account"))
	domID := c.lowerID("domainid")
	if name == "" && domID == "" {
		if acct, err = db.GetAccount(c.Ctx, q, c.Caller.User.AccountID); err != nil {
			return nil, nil, err
		}
		dom, err = db.GetDomain(c.Ctx, q, acct.DomainID)
		return acct, dom, err
	}
	if name != "" && domID == "" && !c.Caller.IsAdmin() {
		domID = c.Caller.User.DomainID
	}
	if dom, err = c.DomainForScope(domID); err != nil {
		return nil, nil, err
	}
	if name == "" {
		if !c.Caller.IsAdmin() {
			return nil, nil, ErrDenied("Account %s does not have permission to create a network for domain %s", c.Caller.User.AccountName, dom.Path)
		}
		return nil, dom, nil
	}
	acct, err = db.GetAccountByName(c.Ctx, q, dom.ID, name)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil, ErrParam("Unable to find account %s in domain %s", name, dom.Path)
	}
	if err != nil {
		return nil, nil, err
	}
	if !c.Caller.CanManageAccount(acct.ID, dom.Path) {
		return nil, nil, ErrDenied("Account %s does not have permission to access account %s", c.Caller.User.AccountName, name)
	}
	return acct, dom, nil
}

// validNetworkDomainParam checks a network domain as CloudStack's NetUtils.verifyDomainName.
func (c *Call) networkDomainParam() (string, error) {
	nd := strings.TrimSpace(c.P.String("networkdomain"))
	if nd == "" {
		return "", nil
	}
	if err := validNetworkDomain(nd); err != nil {
		return "", err
	}
	return nd, nil
}

func createNetwork(c *Call) (any, error) {
	for _, p := range []string{"vpcid", "aclid", "isolatedpvlan", "startipv6", "endipv6", "ip6cidr", "ip6gateway"} {
		if strings.TrimSpace(c.P.String(p)) != "" {
			return nil, ErrParam("%s is not supported: Atoll's guest networks are IPv4 Isolated and Shared networks outside VPCs", p)
		}
	}
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(c.P.String("name"))
	if name == "" {
		return nil, ErrMissing(c.Cmd.Name, "name")
	}
	display := strings.TrimSpace(c.P.String("displaytext"))
	if display == "" {
		display = name
	}
	nd, err := c.networkDomainParam()
	if err != nil {
		return nil, err
	}
	read := c.S.DB.Read()
	o, err := db.GetNetworkOffering(c.Ctx, read, c.lowerID("networkofferingid"))
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find network offering by id %s", c.lowerID("networkofferingid"))
	}
	if err != nil {
		return nil, err
	}
	switch {
	case !strings.EqualFold(o.State, "Enabled"):
		return nil, ErrParam("Network offering %s is not in Enabled state, can't be used for network creation", o.Name)
	case o.IsSystem:
		return nil, ErrParam("Network offering %s is a system offering: it can't be used for network creation", o.Name)
	case !strings.EqualFold(o.TrafficType, "Guest"):
		return nil, ErrParam("Network offering %s is for %s traffic: only Guest networks can be created", o.Name, o.TrafficType)
	case o.ForVPC:
		return nil, ErrParam("Network offering %s is for VPC tiers: VPC networks are not supported", o.Name)
	case o.GuestIPType != db.GuestIsolated && o.GuestIPType != db.GuestShared:
		return nil, ErrParam("Network offering %s has guest type %s: only Isolated and Shared networks are supported", o.Name, o.GuestIPType)
	}
	z, err := c.zoneByID(read, c.lowerID("zoneid"))
	if err != nil {
		return nil, err
	}
	if z.AllocationState == allocDisabled && !c.Caller.IsRootAdmin() {
		return nil, ErrDenied("Cannot perform this operation, Zone %s is currently disabled", z.Name)
	}
	if len(o.ZoneIDs) > 0 && !containsFold(o.ZoneIDs, z.ID) {
		return nil, ErrParam("Network offering %s is not available in zone %s", o.Name, z.Name)
	}
	acct, dom, err := c.networkOwner(read)
	if err != nil {
		return nil, err
	}
	if len(o.DomainIDs) > 0 && !containsFold(o.DomainIDs, dom.ID) {
		return nil, ErrParam("Network offering %s is not available to domain %s", o.Name, dom.Path)
	}
	if o.GuestIPType == db.GuestShared && !c.Caller.IsAdmin() {
		return nil, ErrDenied("Only administrators can create Shared networks")
	}
	n := &db.Network{ID: uuid.NewString(), Name: name, DisplayText: display, ZoneID: z.ID, DomainID: dom.ID, NetworkOfferingID: o.ID,
		GuestType: o.GuestIPType, TrafficType: "Guest", NetworkDomain: nd, Services: network.OfferingServices(o), SpecifyIPRanges: o.SpecifyIPRanges,
		Created: db.Now()}
	// ACL type: CloudStack's defaults and rules.
	switch v := strings.ToLower(strings.TrimSpace(c.P.String("acltype"))); v {
	case "":
		n.ACLType = db.ACLAccount
		if o.GuestIPType == db.GuestShared && acct != nil && c.P.String("account") == "" {
			n.ACLType = db.ACLDomain
		}
		if acct == nil {
			n.ACLType = db.ACLDomain
		}
	case "account":
		n.ACLType = db.ACLAccount
	case "domain":
		n.ACLType = db.ACLDomain
	default:
		return nil, ErrParam("Invalid acltype %q: supported values are account and domain", c.P.String("acltype"))
	}
	if n.ACLType == db.ACLAccount {
		if acct == nil {
			return nil, ErrParam("acltype account needs the owning account: pass account with domainid")
		}
		n.AccountID = acct.ID
	} else {
		if !c.Caller.IsAdmin() {
			return nil, ErrDenied("Only administrators can create networks with acltype domain")
		}
		if o.GuestIPType == db.GuestIsolated {
			return nil, ErrParam("Isolated networks can only be created with acltype account")
		}
		n.SubdomainAccess = true
		if v, ok := c.P.Bool("subdomainaccess"); ok {
			n.SubdomainAccess = v
		}
	}
	if c.P.Has("subdomainaccess") && n.ACLType != db.ACLDomain {
		return nil, ErrParam("subdomainaccess can be given only with acltype domain")
	}
	if n.NetworkDomain == "" {
		n.NetworkDomain = network.DefaultDomain(z, acct, n.ID)
	}
	spec := network.CreateSpec{Network: n, Zone: z, Offering: o, PhysicalNetworkID: c.lowerID("physicalnetworkid"),
		Gateway: strings.TrimSpace(c.P.String("gateway")), Netmask: strings.TrimSpace(c.P.String("netmask")),
		StartIP: strings.TrimSpace(c.P.String("startip")), EndIP: strings.TrimSpace(c.P.String("endip")), Vlan: strings.TrimSpace(c.P.String("vlan"))}
	if _, err := network.Create(c.Ctx, c.deps(), c.actor(), spec); err != nil {
		return nil, err
	}
	return c.networkObject(n.ID)
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), v) {
			return true
		}
	}
	return false
}
