package api

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/securitygroup"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// offeringFor loads an active, non-system service offering usable in the owner's domain and zone.
func (c *Call) offeringFor(q db.Querier, id string, owner *db.Account, zoneID string) (*db.ServiceOffering, error) {
	return c.offeringOf(q, nil, id, owner, zoneID)
}

// offeringOf is offeringFor for an offering read already (so; nil: read it now).
func (c *Call) offeringOf(q db.Querier, so *db.ServiceOffering, id string, owner *db.Account, zoneID string) (*db.ServiceOffering, error) {
	return vm.OfferingOf(c.Ctx, q, so, id, owner, zoneID)
}

// templateFor loads a template or ISO the owner may use, ready in the zone.
func (c *Call) templateFor(q db.Querier, id string, owner *db.Account, zoneID string) (*db.Template, error) {
	return vm.TemplateOf(c.Ctx, q, c.Caller, nil, false, id, owner, zoneID)
}

// keyPairsFor resolves keypair / keypairs names of the owner.
func (c *Call) keyPairsFor(q db.Querier, owner *db.Account) ([]string, error) {
	return vm.KeyPairs(c.Ctx, q, owner, c.P.String("keypair"), c.P.List("keypairs"))
}

// affinityGroupsFor resolves affinitygroupids / affinitygroupnames of the owner.
func (c *Call) affinityGroupsFor(q db.Querier, owner *db.Account) ([]*db.AffinityGroup, error) {
	return vm.AffinityGroups(c.Ctx, q, owner, c.P.List("affinitygroupids"), c.P.List("affinitygroupnames"))
}

// deployReads are the rows a deploy reads first, fetched together (one round trip on MySQL).
// Any left nil is read again, one by one, where it is needed (which also gives the errors).
type deployReads struct {
	account       *db.Account // the caller's own, when the deploy names no owner
	zone          *db.Zone
	offering      *db.ServiceOffering
	template      *db.Template
	templateReady bool
	networks      map[string]*db.Network
	candidates    []*planner.Candidate
	pools         []*planner.PoolCandidate
}

func (c *Call) prefetchDeploy(q db.Querier) *deployReads {
	r := &deployReads{networks: map[string]*db.Network{}}
	var reads []db.Read
	if c.P.String("account") == "" && c.P.String("domainid") == "" {
		reads = append(reads, db.ReadAccount(c.Caller.User.AccountID, &r.account))
	}
	zoneID := strings.ToLower(c.P.String("zoneid"))
	reads = append(reads, db.ReadZone(zoneID, &r.zone))
	start, ok := c.P.Bool("startvm")
	start = start || !ok
	if start {
		reads = append(reads, planner.CandidatesRead(zoneID, &r.candidates), planner.PoolsRead(zoneID, &r.pools))
	}
	reads = append(reads, db.ReadServiceOffering(strings.ToLower(c.P.String("serviceofferingid")), &r.offering),
		db.ReadTemplateInZone(strings.ToLower(c.P.String("templateid")), zoneID, &r.template, &r.templateReady))
	ids := c.P.List("networkids")
	nets := make([]*db.Network, len(ids))
	for i, id := range ids {
		reads = append(reads, db.ReadNetwork(strings.ToLower(id), &nets[i]))
	}
	if err := c.S.DB.ReadAll(c.Ctx, q, reads...); err != nil {
		c.S.Log.Warn("deploy: reading ahead failed; reading one by one", "err", err)
		return &deployReads{}
	}
	for _, n := range nets {
		if n != nil {
			r.networks[n.ID] = n
		}
	}
	if start && r.candidates == nil {
		r.candidates = []*planner.Candidate{} // read, none: not "read again"
	}
	if start && r.pools == nil {
		r.pools = []*planner.PoolCandidate{}
	}
	planner.SortPools(r.pools)
	return r
}

func (c *Call) prepareDeploy() (*vm.Deployment, error) {
	q := c.S.DB.Read()
	p := &vm.Deployment{IPs: map[string]string{}}
	pre := c.prefetchDeploy(q)
	p.Candidates, p.Pools = pre.candidates, pre.pools
	owner, err := pre.account, error(nil)
	if owner == nil {
		if owner, err = c.ownerForCreate(q); err != nil {
			return nil, err
		}
	}
	if !strings.EqualFold(owner.State, "enabled") {
		return nil, ErrDenied("The owner of vm %s is disabled: %s", c.P.String("name"), owner.Name)
	}
	p.Owner = owner
	zoneID := strings.ToLower(c.P.String("zoneid"))
	z := pre.zone
	if z == nil {
		z, err = db.GetZone(c.Ctx, q, zoneID)
	}
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find zone by id=%s", zoneID)
	}
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(z.AllocationState, "Enabled") && !c.Caller.IsRootAdmin() {
		return nil, ErrDenied("Cannot perform this operation, Zone is currently disabled: %s", z.ID)
	}
	p.Zone = z
	for _, k := range []string{"hostid", "clusterid", "podid", "deploymentplanner"} {
		if c.P.String(k) != "" && !c.Caller.IsRootAdmin() {
			return nil, ErrDenied("Parameter %s can only be specified by a Root Admin, permission denied", k)
		}
	}
	p.HostID, p.ClusterID, p.PodID = strings.ToLower(c.P.String("hostid")), strings.ToLower(c.P.String("clusterid")), strings.ToLower(c.P.String("podid"))
	if p.Offering, err = c.offeringOf(q, pre.offering, c.P.String("serviceofferingid"), owner, z.ID); err != nil {
		return nil, err
	}
	p.Details = c.vmDetailsParam()
	if p.CPU, p.Speed, p.Memory, err = vm.ComputeOf(p.Offering, p.Details); err != nil {
		return nil, err
	}
	p.Planner = p.Offering.DeploymentPlanner
	if v := c.P.String("deploymentplanner"); v != "" {
		p.Planner = v
	}
	if p.Template, err = vm.TemplateOf(c.Ctx, q, c.Caller, pre.template, pre.templateReady, c.P.String("templateid"), owner, z.ID); err != nil {
		return nil, err
	}
	// The VM runs on the template's hypervisor; an ISO has none, so the caller's (or any).
	if !p.Template.IsISO() && !strings.EqualFold(p.Template.HypervisorType, "None") {
		p.Hypervisor = p.Template.HypervisorType
	}
	if h := strings.TrimSpace(c.P.String("hypervisor")); h != "" {
		name, err := hypervisorName(h)
		if err != nil {
			return nil, err
		}
		if p.Hypervisor != "" && p.Hypervisor != name {
			return nil, ErrParam("Hypervisor passed to the deployVm call, is different from the hypervisor type of the template")
		}
		p.Hypervisor = name
	}
	var dataDO *db.DiskOffering
	if id := c.P.String("diskofferingid"); id != "" {
		if dataDO, err = db.GetDiskOffering(c.Ctx, q, strings.ToLower(id)); errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find disk offering %s", id)
		} else if err != nil {
			return nil, err
		}
		if dataDO.State != "" && !strings.EqualFold(dataDO.State, "Active") {
			return nil, ErrParam("Disk offering %s is not active", dataDO.Name)
		}
	}
	size, hasSize := int64(0), c.P.Has("size")
	if hasSize {
		n, _ := strconv.ParseInt(c.P.String("size"), 10, 64)
		if n <= 0 {
			return nil, ErrParam("Invalid size %d: a disk size in GiB must be positive", n)
		}
		size = n << 30
	}
	diskSize := func(do *db.DiskOffering) (int64, error) {
		if do.Customized || do.DiskSize == 0 {
			if !hasSize {
				return 0, ErrParam("Disk offering %s is customized: the size parameter is required", do.Name)
			}
			return size, nil
		}
		return do.DiskSize, nil
	}
	if p.Template.IsISO() {
		if dataDO == nil {
			return nil, ErrParam("Installing from ISO requires a disk offering to be specified for the root disk.")
		}
		if p.RootSize, err = diskSize(dataDO); err != nil {
			return nil, err
		}
		p.RootTags, p.RootDiskOffering = dataDO.Tags, dataDO.ID
	} else {
		p.RootSize = p.Template.Size
		if p.Offering.RootDiskSize > 0 {
			p.RootSize = max(p.RootSize, p.Offering.RootDiskSize<<30)
		}
		if c.P.Has("rootdisksize") {
			n, _ := strconv.ParseInt(c.P.String("rootdisksize"), 10, 64)
			if n<<30 < p.Template.Size {
				return nil, ErrParam("Root disk size %d GB is smaller than the template size %d GB", n, (p.Template.Size+(1<<30)-1)>>30)
			}
			p.RootSize = n << 30
		}
		if p.RootSize <= 0 {
			p.RootSize = 1 << 30
		}
		p.RootTags = p.Offering.StorageTags
		if dataDO != nil {
			p.DataOffering = dataDO
			if p.DataSize, err = diskSize(dataDO); err != nil {
				return nil, err
			}
		}
	}
	if err := vm.CheckUserData(c.P.String("userdata")); err != nil {
		return nil, err
	}
	if p.KeyPairs, err = c.keyPairsFor(q, owner); err != nil {
		return nil, err
	}
	if p.Groups, err = c.affinityGroupsFor(q, owner); err != nil {
		return nil, err
	}
	if p.SecurityGroups, p.DefaultSG, err = securitygroup.ForVM(c.Ctx, q, c.Caller, owner, z, c.P.List("securitygroupids"), c.P.List("securitygroupnames")); err != nil {
		return nil, err
	}
	if c.P.String("ip6address") != "" {
		return nil, ErrParam("ip6address: IPv6 addresses are not supported yet: the VM's networks have no IPv6 range")
	}
	if err := c.deployNetworks(q, p, pre.networks); err != nil {
		return nil, err
	}
	p.Start = true
	if v, ok := c.P.Bool("startvm"); ok {
		p.Start = v
	}
	if !p.Start && p.Hypervisor == "" {
		return nil, ErrParam("hypervisor parameter is needed to deploy VM or the hypervisor parameter value passed is invalid")
	}
	p.Dynamic = p.Template.IsDynamicallyScalable && p.Offering.DynamicScaling
	if v, ok := c.P.Bool("dynamicscalingenabled"); ok {
		p.Dynamic = p.Dynamic && v
	}
	p.Name = strings.TrimSpace(c.P.String("name"))
	if p.Name != "" {
		if err := vm.CheckHostname(p.Name); err != nil {
			return nil, err
		}
	}
	p.DisplayName = c.P.String("displayname")
	p.IPAddress, p.MACAddress = c.P.String("ipaddress"), c.P.String("macaddress")
	p.Group, p.UserData, p.Password = c.P.String("group"), c.P.String("userdata"), c.P.String("password")
	if d, ok := c.P.Bool("displayvm"); ok {
		p.DisplayVM = &d
	}
	return p, nil
}

// deployNetworks resolves networkids, iptonetworklist and ipaddress, or the default network.
func (c *Call) deployNetworks(q db.Querier, p *vm.Deployment, read map[string]*db.Network) error {
	ids := c.P.List("networkids")
	for _, m := range c.P.Map("iptonetworklist") {
		id := strings.ToLower(m["networkid"])
		if id == "" {
			return ErrParam("iptonetworklist entries need a networkid")
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
		if ip := m["ip"]; ip != "" {
			p.IPs[id] = ip
		}
	}
	if len(ids) == 0 {
		return nil // the default network is chosen in the transaction
	}
	seen := map[string]bool{}
	for _, id := range ids {
		id = strings.ToLower(id)
		if seen[id] {
			return ErrParam("Network %s is given twice", id)
		}
		seen[id] = true
		n, err := read[id], error(nil)
		if n == nil {
			n, err = db.GetNetwork(c.Ctx, q, id)
		}
		if errors.Is(err, db.ErrNotFound) {
			return ErrParam("Unable to find network by id %s", id)
		}
		if err != nil {
			return err
		}
		if n.ZoneID != p.Zone.ID {
			return ErrParam("Network %s does not belong to zone %s", n.ID, p.Zone.Name)
		}
		if err := c.networkUsableBy(n, p.Owner); err != nil {
			return err
		}
		p.Networks = append(p.Networks, n)
	}
	if ip := c.P.String("ipaddress"); ip != "" {
		p.IPs[p.Networks[0].ID] = ip
	}
	return nil
}

func deployVM(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	p, err := c.prepareDeploy()
	if err != nil {
		return nil, err
	}
	job, hint, err := vm.Deploy(c.Ctx, c.deps(), c.actor(), p, c.S.deploySlots)
	if err != nil {
		return nil, err
	}
	c.RunLocal(job, hint)
	return JobStarted{JobID: job.ID, ID: hint.VM.ID}, nil
}

// vmDetailsParam reads the details map in both of CloudStack's forms: details[0].cpuNumber=2
// (what deployVirtualMachine documents) and details[0].key=k&details[0].value=v.
func (c *Call) vmDetailsParam() map[string]string {
	out := map[string]string{}
	for _, m := range c.P.Map("details") {
		if k, ok := m["key"]; ok {
			out[k] = m["value"]
			continue
		}
		for k, v := range m {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
