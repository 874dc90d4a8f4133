package api

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

// userDataMax is CloudStack's vm.userdata.max.length default: the most bytes of decoded user
// data a VM may carry.
const userDataMax = 32768

// hostnameRE is CloudStack's host name rule (RFC 1123 labels, not starting with a digit).
var hostnameRE = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

func checkHostname(name string) error {
	if !hostnameRE.MatchString(name) {
		return ErrParam("Invalid name. Vm name can contain ASCII letters 'a' through 'z', the digits '0' through '9', and the hyphen ('-'), " +
			"must be between 1 and 63 characters long, and can't start or end with \"-\" and can't start with digit")
	}
	return nil
}

// checkUserData validates base64 user data within the size limit.
func checkUserData(s string) error {
	if s == "" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return ErrParam("User data is not base64 encoded")
		}
	}
	if len(b) > userDataMax {
		return ErrParam("User data is too long: %d bytes decoded, the limit is %d", len(b), userDataMax)
	}
	return nil
}

// randomPassword is what a password-enabled template's VM gets.
func randomPassword() string {
	const chars = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	out := make([]byte, 12)
	for i := range out {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		out[i] = chars[n.Int64()]
	}
	return string(out)
}

// computeOf resolves a VM's CPU number, speed (MHz) and memory (MiB) from an offering and, for
// a custom offering, the details map (cpuNumber, cpuSpeed, memory) within its limits.
func computeOf(so *db.ServiceOffering, details map[string]string) (int, int64, int64, error) {
	if !so.Customized {
		return so.CPUNumber, so.CPUSpeed, so.Memory, nil
	}
	num := func(k string, fallback int64) (int64, error) {
		for dk, v := range details {
			if strings.EqualFold(dk, k) {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil || n <= 0 {
					return 0, ErrParam("Invalid %s value %q in details: a positive integer is required", k, v)
				}
				return n, nil
			}
		}
		return fallback, nil
	}
	cpu, err := num("cpuNumber", int64(so.CPUNumber))
	if err != nil {
		return 0, 0, 0, err
	}
	speed, err := num("cpuSpeed", so.CPUSpeed)
	if err != nil {
		return 0, 0, 0, err
	}
	mem, err := num("memory", so.Memory)
	if err != nil {
		return 0, 0, 0, err
	}
	if cpu <= 0 || speed <= 0 || mem <= 0 {
		return 0, 0, 0, ErrParam("Need to specify custom parameter values cpu, cpu speed and memory when using custom offering")
	}
	bound := func(k string, v int64, lower bool) error {
		s, ok := so.Details[k]
		if !ok {
			return nil
		}
		b, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil
		}
		if lower && v < b || !lower && v > b {
			return ErrParam("Invalid %s value %d: the offering allows %s %d", strings.TrimPrefix(strings.TrimPrefix(k, "min"), "max"), v, k, b)
		}
		return nil
	}
	for _, chk := range []error{bound("mincpunumber", cpu, true), bound("maxcpunumber", cpu, false), bound("minmemory", mem, true), bound("maxmemory", mem, false)} {
		if chk != nil {
			return 0, 0, 0, chk
		}
	}
	return int(cpu), speed, mem, nil
}

// offeringFor loads an active, non-system service offering usable in the owner's domain and zone.
func (c *Call) offeringFor(q db.Querier, id string, owner *db.Account, zoneID string) (*db.ServiceOffering, error) {
	return c.offeringOf(q, nil, id, owner, zoneID)
}

// offeringOf is offeringFor for an offering read already (so; nil: read it now).
func (c *Call) offeringOf(q db.Querier, so *db.ServiceOffering, id string, owner *db.Account, zoneID string) (*db.ServiceOffering, error) {
	var err error
	if so == nil {
		so, err = db.GetServiceOffering(c.Ctx, q, strings.ToLower(id))
	}
	if errors.Is(err, db.ErrNotFound) || err == nil && so.IsSystem {
		return nil, ErrParam("Unable to find service offering: %s", id)
	}
	if err != nil {
		return nil, err
	}
	if so.State != "" && !strings.EqualFold(so.State, "Active") {
		return nil, ErrParam("Service offering %s is not active", so.Name)
	}
	if len(so.DomainIDs) > 0 && owner != nil {
		paths, err := db.DomainPaths(c.Ctx, q, so.DomainIDs)
		if err != nil {
			return nil, err
		}
		if !db.OfferingVisibleTo(so.DomainIDs, paths, owner.DomainPath) {
			return nil, ErrDenied("Service offering %s is not available to account %s", so.ID, owner.Name)
		}
	}
	if len(so.ZoneIDs) > 0 && zoneID != "" && !slices.Contains(so.ZoneIDs, zoneID) {
		return nil, ErrParam("Service offering %s is not available in zone %s", so.Name, zoneID)
	}
	return so, nil
}

// templateFor loads a template or ISO the owner may use, ready in the zone.
func (c *Call) templateFor(q db.Querier, id string, owner *db.Account, zoneID string) (*db.Template, error) {
	return c.templateOf(q, nil, false, id, owner, zoneID)
}

// templateOf is templateFor for a template read already with whether it is ready in the zone
// (t; nil: read it now).
func (c *Call) templateOf(q db.Querier, t *db.Template, ready bool, id string, owner *db.Account, zoneID string) (*db.Template, error) {
	var err error
	if t == nil || !ready && t.ID == db.SimulatorTemplateID {
		t, ready, err = db.GetTemplateInZone(c.Ctx, q, strings.ToLower(id), zoneID)
	}
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to use template %s: it does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	if !t.IsPublic && t.AccountID != owner.ID && !c.Caller.IsRootAdmin() {
		perms, err := db.TemplatePermissions(c.Ctx, q, t.ID)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(perms, owner.ID) {
			return nil, ErrDenied("Account %s does not have permission to use template %s", owner.Name, t.ID)
		}
	}
	if !ready {
		return nil, ErrParam("Template %s has not been completely downloaded to zone %s", t.Name, zoneID)
	}
	return t, nil
}

// keyPairsFor resolves keypair / keypairs names of the owner.
func (c *Call) keyPairsFor(q db.Querier, owner *db.Account) ([]string, error) {
	names := c.P.List("keypairs")
	if k := strings.TrimSpace(c.P.String("keypair")); k != "" && !slices.Contains(names, k) {
		names = append([]string{k}, names...)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		k, err := db.GetSSHKeyPair(c.Ctx, q, owner.ID, n)
		if errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("A key pair with name '%s' was not found for account %s", n, owner.Name)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, k.Name)
	}
	return out, nil
}

// affinityGroupsFor resolves affinitygroupids / affinitygroupnames of the owner.
func (c *Call) affinityGroupsFor(q db.Querier, owner *db.Account) ([]*db.AffinityGroup, error) {
	ids, names := c.P.List("affinitygroupids"), c.P.List("affinitygroupnames")
	if len(ids) > 0 && len(names) > 0 {
		return nil, ErrParam("affinitygroupids parameter is mutually exclusive with affinitygroupnames parameter")
	}
	var out []*db.AffinityGroup
	for _, id := range ids {
		g, err := db.GetAffinityGroup(c.Ctx, q, strings.ToLower(id))
		if errors.Is(err, db.ErrNotFound) || err == nil && g.AccountID != owner.ID {
			return nil, ErrParam("Unable to find affinity group by id %s", id)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	for _, n := range names {
		g, err := db.GetAffinityGroupByName(c.Ctx, q, owner.ID, n)
		if errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find affinity group by name %s", n)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// affinityRule turns a VM's groups into the planner's Avoid and Require sets.
func affinityRule(c *Call, q db.Querier, groups []*db.AffinityGroup, vmID string) (avoid, require map[string]bool, err error) {
	if len(groups) == 0 {
		return nil, nil, nil
	}
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	hosts, err := db.AffinityGroupHosts(c.Ctx, q, ids, vmID)
	if err != nil {
		return nil, nil, err
	}
	avoid, require = map[string]bool{}, map[string]bool{}
	for _, g := range groups {
		for _, h := range hosts[g.ID] {
			if g.Type == db.AffinityHost {
				require[h] = true
			} else {
				avoid[h] = true
			}
		}
	}
	return avoid, require, nil
}

// deployment is a validated deployVirtualMachine request.
type deployment struct {
	owner       *db.Account
	zone        *db.Zone
	so          *db.ServiceOffering
	tmpl        *db.Template
	cpu         int
	speed, mem  int64
	rootSize    int64
	rootTags    string
	rootDO      string // disk offering of the ROOT disk (ISO deployments)
	dataDO      *db.DiskOffering
	dataSize    int64
	networks    []*db.Network
	ips         map[string]string // network id -> requested address
	keyPairs    []string
	groups      []*db.AffinityGroup
	details     map[string]string
	start       bool
	dynamic     bool
	name, disp  string
	hypervisor  string // the template's, or the caller's for an ISO; "" any (then the host's)
	hostID      string
	clusterID   string
	podID       string
	plannerName string
	candidates  []*planner.Candidate     // the zone's hosts as read before the transaction
	pools       []*planner.PoolCandidate // and its primary storage pools
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

func (c *Call) prepareDeploy() (*deployment, error) {
	q := c.S.DB.Read()
	p := &deployment{ips: map[string]string{}}
	pre := c.prefetchDeploy(q)
	p.candidates, p.pools = pre.candidates, pre.pools
	owner, err := pre.account, error(nil)
	if owner == nil {
		if owner, err = c.ownerForCreate(q); err != nil {
			return nil, err
		}
	}
	if !strings.EqualFold(owner.State, "enabled") {
		return nil, ErrDenied("The owner of vm %s is disabled: %s", c.P.String("name"), owner.Name)
	}
	p.owner = owner
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
	p.zone = z
	for _, k := range []string{"hostid", "clusterid", "podid", "deploymentplanner"} {
		if c.P.String(k) != "" && !c.Caller.IsRootAdmin() {
			return nil, ErrDenied("Parameter %s can only be specified by a Root Admin, permission denied", k)
		}
	}
	p.hostID, p.clusterID, p.podID = strings.ToLower(c.P.String("hostid")), strings.ToLower(c.P.String("clusterid")), strings.ToLower(c.P.String("podid"))
	if p.so, err = c.offeringOf(q, pre.offering, c.P.String("serviceofferingid"), owner, z.ID); err != nil {
		return nil, err
	}
	p.details = c.vmDetailsParam()
	if p.cpu, p.speed, p.mem, err = computeOf(p.so, p.details); err != nil {
		return nil, err
	}
	p.plannerName = p.so.DeploymentPlanner
	if v := c.P.String("deploymentplanner"); v != "" {
		p.plannerName = v
	}
	if p.tmpl, err = c.templateOf(q, pre.template, pre.templateReady, c.P.String("templateid"), owner, z.ID); err != nil {
		return nil, err
	}
	// The VM runs on the template's hypervisor; an ISO has none, so the caller's (or any).
	if !p.tmpl.IsISO() && !strings.EqualFold(p.tmpl.HypervisorType, "None") {
		p.hypervisor = p.tmpl.HypervisorType
	}
	if h := strings.TrimSpace(c.P.String("hypervisor")); h != "" {
		name, err := hypervisorName(h)
		if err != nil {
			return nil, err
		}
		if p.hypervisor != "" && p.hypervisor != name {
			return nil, ErrParam("Hypervisor passed to the deployVm call, is different from the hypervisor type of the template")
		}
		p.hypervisor = name
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
	if p.tmpl.IsISO() {
		if dataDO == nil {
			return nil, ErrParam("Installing from ISO requires a disk offering to be specified for the root disk.")
		}
		if p.rootSize, err = diskSize(dataDO); err != nil {
			return nil, err
		}
		p.rootTags, p.rootDO = dataDO.Tags, dataDO.ID
	} else {
		p.rootSize = p.tmpl.Size
		if p.so.RootDiskSize > 0 {
			p.rootSize = max(p.rootSize, p.so.RootDiskSize<<30)
		}
		if c.P.Has("rootdisksize") {
			n, _ := strconv.ParseInt(c.P.String("rootdisksize"), 10, 64)
			if n<<30 < p.tmpl.Size {
				return nil, ErrParam("Root disk size %d GB is smaller than the template size %d GB", n, (p.tmpl.Size+(1<<30)-1)>>30)
			}
			p.rootSize = n << 30
		}
		if p.rootSize <= 0 {
			p.rootSize = 1 << 30
		}
		p.rootTags = p.so.StorageTags
		if dataDO != nil {
			p.dataDO = dataDO
			if p.dataSize, err = diskSize(dataDO); err != nil {
				return nil, err
			}
		}
	}
	if err := checkUserData(c.P.String("userdata")); err != nil {
		return nil, err
	}
	if p.keyPairs, err = c.keyPairsFor(q, owner); err != nil {
		return nil, err
	}
	if p.groups, err = c.affinityGroupsFor(q, owner); err != nil {
		return nil, err
	}
	sgIDs, sgNames := c.P.List("securitygroupids"), c.P.List("securitygroupnames")
	if len(sgIDs) > 0 && len(sgNames) > 0 {
		return nil, ErrParam("securitygroupids parameter is mutually exclusive with securitygroupnames parameter")
	}
	if len(sgIDs)+len(sgNames) > 0 && !z.SecurityGroupsEnabled && z.NetworkType != zoneBasic {
		return nil, ErrParam("Can't create vm with security groups; security group feature is not enabled on zone %s", z.Name)
	}
	if err := refuseSecurityGroups(sgIDs, sgNames); err != nil {
		return nil, err
	}
	if c.P.String("ip6address") != "" {
		return nil, ErrParam("ip6address: IPv6 addresses are not supported yet: the VM's networks have no IPv6 range")
	}
	if err := c.deployNetworks(q, p, pre.networks); err != nil {
		return nil, err
	}
	p.start = true
	if v, ok := c.P.Bool("startvm"); ok {
		p.start = v
	}
	if !p.start && p.hypervisor == "" {
		return nil, ErrParam("hypervisor parameter is needed to deploy VM or the hypervisor parameter value passed is invalid")
	}
	p.dynamic = p.tmpl.IsDynamicallyScalable && p.so.DynamicScaling
	if v, ok := c.P.Bool("dynamicscalingenabled"); ok {
		p.dynamic = p.dynamic && v
	}
	p.name = strings.TrimSpace(c.P.String("name"))
	if p.name != "" {
		if err := checkHostname(p.name); err != nil {
			return nil, err
		}
	}
	p.disp = c.P.String("displayname")
	return p, nil
}

// deployNetworks resolves networkids, iptonetworklist and ipaddress, or the default network.
func (c *Call) deployNetworks(q db.Querier, p *deployment, read map[string]*db.Network) error {
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
			p.ips[id] = ip
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
		if n.ZoneID != p.zone.ID {
			return ErrParam("Network %s does not belong to zone %s", n.ID, p.zone.Name)
		}
		if err := c.networkUsableBy(n, p.owner); err != nil {
			return err
		}
		p.networks = append(p.networks, n)
	}
	if ip := c.P.String("ipaddress"); ip != "" {
		p.ips[p.networks[0].ID] = ip
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
	l := c.ledger().Snapshot()
	var job *db.Job
	var hint *deployHint
	select {
	case c.S.deploySlots <- struct{}{}:
	case <-c.Ctx.Done():
		return nil, c.Ctx.Err()
	}
	defer func() { <-c.S.deploySlots }()
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		// Writes whose outcome is not looked at (the job, the event, the volumes) are held
		// back and sent with the next write that is (the VM's insert, the host's take): fewer
		// round trips on MySQL.
		w := c.S.DB.Defer(tx)
		now := db.Now()
		v := &db.VM{ID: uuid.NewString(), Name: p.name, DisplayName: p.disp, AccountID: p.owner.ID, DomainID: p.owner.DomainID,
			ZoneID: p.zone.ID, ServiceOfferingID: p.so.ID, TemplateID: p.tmpl.ID, OSTypeID: p.tmpl.OSTypeID, HypervisorType: p.hypervisor,
			CPUNumber: p.cpu, CPUSpeed: p.speed, Memory: p.mem, State: db.VMStopped, PowerState: db.PowerOff, HAEnabled: p.so.OfferHA,
			DynamicallyScalable: p.dynamic, DisplayVM: true, UserData: c.P.String("userdata"), KeyPairs: strings.Join(p.keyPairs, ","),
			Group: c.P.String("group"), Created: now}
		if p.tmpl.IsISO() {
			v.TemplateID, v.ISOID = "", p.tmpl.ID
		}
		if p.dataDO != nil {
			v.DiskOfferingID = p.dataDO.ID
		}
		if d, ok := c.P.Bool("displayvm"); ok {
			v.DisplayVM = d
		}
		if p.so.Customized {
			v.Details = map[string]string{"cpuNumber": strconv.Itoa(p.cpu), "cpuSpeed": strconv.FormatInt(p.speed, 10), "memory": strconv.FormatInt(p.mem, 10)}
		}
		if v.Name == "" {
			v.Name = "VM-" + v.ID
		}
		if v.DisplayName == "" {
			v.DisplayName = v.Name
		}
		if p.tmpl.PasswordEnabled {
			// The caller's password if given, as CloudStack's; else a generated one.
			if v.Password = c.P.String("password"); v.Password == "" {
				v.Password = randomPassword()
			}
		}
		// Hot rows last: the host's ledger rows, the account's resource counts and the pool's
		// ledger row are updated at the end of the transaction, one after the other, so that
		// concurrent deploys hold their locks briefly. Everything else (NICs, the job, the
		// event, the limits read, the host and pools chosen from unlocked reads, the VM row and
		// its volumes) comes first. A host whose room went meanwhile makes the transaction run
		// again (TakePlaced); with local storage the host is taken as the disks are placed.
		disks := []planner.DiskRequest{{Size: p.rootSize, Tags: p.rootTags, Local: strings.EqualFold(p.so.StorageType, "local")}}
		if p.dataDO != nil {
			disks = append(disks, planner.DiskRequest{Size: p.dataSize, Tags: p.dataDO.Tags, Local: strings.EqualFold(p.dataDO.StorageType, "local")})
		}
		storage := p.rootSize
		if p.dataDO != nil {
			storage += p.dataSize
		}
		v.AccountName, v.DomainName, v.DomainPath, v.ZoneName = p.owner.Name, p.owner.DomainName, p.owner.DomainPath, p.zone.Name
		hint = &deployHint{vm: v, seed: &renderSeed{vmID: v.ID, noAffinity: len(p.groups) == 0, noTags: true, offering: p.so, template: p.tmpl}}
		if err := c.createNics(tx, w, p, v, hint); err != nil {
			return err
		}
		if len(p.groups) > 0 {
			ids := make([]string, len(p.groups))
			for i, g := range p.groups {
				ids[i] = g.ID
			}
			if err := db.SetVMAffinityGroups(c.Ctx, tx, v.ID, ids); err != nil {
				return err
			}
		}
		var err error
		if job, err = c.EnqueueLocalJob(w.Later(), vmJobType, v.ID); err != nil {
			return err
		}
		if err := c.Event(w.Later(), "VM.CREATE", "Deploying VM "+v.Name, "VirtualMachine", v.ID); err != nil {
			return err
		}
		limits, err := c.chargeLimitsOf(tx, p.owner, true)
		if err != nil {
			return err
		}
		var avoid, require map[string]bool
		if p.start {
			if avoid, require, err = affinityRule(c, tx, p.groups, v.ID); err != nil {
				return err
			}
		}
		local := false
		for _, d := range disks {
			local = local || d.Local
		}
		var pools []string
		var shared []planner.PoolChoice // chosen, reserved last (ReservePools)
		var placed *planner.Placement   // its host's CPU and memory are taken last of all (TakePlaced)
		if p.start {
			// With local storage the pools decide the host, so the planner places the disks
			// with it; shared pools are chosen for the host's cluster afterwards and reserved
			// as the transaction's last ledger update (every deploy of a cluster updates them).
			var hostDisks []planner.DiskRequest
			if local {
				hostDisks = disks
			}
			pl, err := l.Deploy(c.Ctx, tx, planner.Request{ZoneID: p.zone.ID, PodID: p.podID, ClusterID: p.clusterID, HostID: p.hostID,
				Need: planner.Compute{CPUMHz: int64(p.cpu) * p.speed, Cores: int64(p.cpu), Memory: p.mem << 20}, HostTag: p.so.HostTag,
				AccountID: p.owner.ID, Planner: p.plannerName, Avoid: avoid, Require: require, IgnoreThreshold: p.hostID != "", Exclude: v.ID,
				DeferTake: true, Candidates: p.candidates, Hypervisor: p.hypervisor}, hostDisks)
			p.candidates = nil // a transaction run again (a lost race) reads them afresh
			if err != nil {
				return vmDeployErr(v, err)
			}
			v.State, v.HostID, v.PodID, v.ClusterID, v.HostName, v.HypervisorType = db.VMStarting, pl.HostID, pl.PodID, pl.ClusterID, pl.HostName, pl.Hypervisor
			placed = pl
			pools = pl.Pools
			if !local {
				shared, err = l.ChoosePoolsOf(c.Ctx, tx, p.pools, v.ZoneID, v.HostID, v.ClusterID, disks)
				p.pools = nil // a transaction run again reads them afresh
				if err != nil {
					return vmDeployErr(v, err)
				}
				pools = make([]string, len(shared))
				for i, ch := range shared {
					pools[i] = ch.PoolID
				}
			}
		}
		if err := db.InsertVM(c.Ctx, w, v); err != nil {
			if k := db.DuplicateKey(err); k != "" && k != "vm_instances_live" {
				return db.ErrConflict // a held-back NIC or address insert lost a race
			}
			if db.IsDuplicate(err) {
				return ErrParam("The vm with hostName %s already exists in zone %s for account %s", v.Name, p.zone.Name, p.owner.Name)
			}
			return err
		}
		if pools == nil {
			pools = make([]string, len(disks))
		}
		root := &db.Volume{ID: uuid.NewString(), Name: fmt.Sprintf("ROOT-%d", v.Seq), AccountID: v.AccountID, DomainID: v.DomainID,
			ZoneID: v.ZoneID, PodID: v.PodID, PoolID: pools[0], VMID: v.ID, Type: db.VolumeRoot, DeviceID: 0, Size: p.rootSize,
			TemplateID: v.TemplateID, DiskOfferingID: p.rootDO, State: db.VolumeAllocated, Format: "QCOW2", HypervisorType: v.HypervisorType,
			DisplayVolume: true, Attached: now, Created: now}
		if err := db.InsertVolume(c.Ctx, w.Later(), root); err != nil {
			return err
		}
		hint.vols = append(hint.vols, root)
		if p.dataDO != nil {
			data := &db.Volume{ID: uuid.NewString(), Name: fmt.Sprintf("DATA-%d", v.Seq), AccountID: v.AccountID, DomainID: v.DomainID,
				ZoneID: v.ZoneID, PodID: v.PodID, PoolID: pools[1], VMID: v.ID, Type: db.VolumeDataDisk, DeviceID: 1, Size: p.dataSize,
				DiskOfferingID: p.dataDO.ID, State: db.VolumeAllocated, Format: "QCOW2", HypervisorType: v.HypervisorType,
				DisplayVolume: true, Attached: now, Created: now}
			if err := db.InsertVolume(c.Ctx, w.Later(), data); err != nil {
				return err
			}
			hint.vols = append(hint.vols, data)
		}
		// The most contended row last: a host is shared by the deploys that chose it, an
		// account's counts by its deploys, a cluster's pool by every deploy to the cluster.
		if err := l.TakePlaced(c.Ctx, w, placed); err != nil {
			return err
		}
		if err := w.Flush(c.Ctx); err != nil { // the volumes, when no host was taken
			return err
		}
		if err := c.applyCharge(tx, limits, map[string]int64{db.ResUserVM: 1, db.ResCPU: int64(p.cpu), db.ResMemory: p.mem,
			db.ResVolume: int64(len(disks)), db.ResPrimaryStorage: storage}); err != nil {
			return err
		}
		return l.ReservePools(c.Ctx, tx, shared)
	})
	if err != nil {
		return nil, err
	}
	c.RunLocal(job, hint)
	return JobStarted{JobID: job.ID, ID: hint.vm.ID}, nil
}

// createNics gives the VM one NIC per network (the default network when none was named),
// implementing each network on its first VM and allocating the NIC's address.
// Their inserts (and their addresses' claims) are held back in w and sent with the VM's: a
// duplicate key there, other than the VM's name, is a lost race, and the transaction runs again.
func (c *Call) createNics(tx db.Tx, w *db.Deferred, p *deployment, v *db.VM, h *deployHint) error {
	nets := p.networks
	if len(nets) == 0 {
		n, err := c.defaultNetworkFor(tx, p.zone, p.owner.ID)
		if err != nil {
			return err
		}
		nets = []*db.Network{n}
		if ip := c.P.String("ipaddress"); ip != "" {
			p.ips[n.ID] = ip
		}
	}
	for i, n0 := range nets {
		n, err := c.lockedNetwork(tx, n0)
		if err != nil {
			return err
		}
		if err := c.implementNetwork(tx, n); err != nil {
			return err
		}
		ip, err := c.allocateLockedNicIP(tx, w.Later(), n, p.ips[n.ID])
		if err != nil {
			return err
		}
		mac := db.NewMAC()
		if i == 0 && c.P.String("macaddress") != "" {
			mac = strings.ToLower(c.P.String("macaddress"))
		}
		nic := &db.Nic{ID: uuid.NewString(), VMID: v.ID, NetworkID: n.ID, AccountID: v.AccountID, IPAddress: ip, Netmask: n.Netmask,
			Gateway: n.Gateway, MACAddress: mac, IsDefault: i == 0, DeviceID: i, BroadcastURI: n.BroadcastURI, IsolationURI: n.BroadcastURI,
			Created: v.Created}
		ins := w.Later()
		if i == 0 && c.P.String("macaddress") != "" {
			ins = tx // a MAC the caller chose: its duplicate is the caller's error, told at once
		}
		if err := db.InsertNic(c.Ctx, ins, nic); err != nil {
			if db.IsDuplicate(err) {
				if c.P.String("macaddress") != "" && i == 0 {
					return ErrParam("The mac address %s is already in use in network %s", mac, n.Name)
				}
				return db.ErrConflict // a MAC collision: run the transaction again with new ones
			}
			return err
		}
		h.nics, h.seed.networks = append(h.nics, nic), append(h.seed.networks, n)
		h.seed.nics = h.nics
	}
	return nil
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
