package vm

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
	"github.com/atollcloud/atoll/mgmt/orchestrate/securitygroup"
	"github.com/atollcloud/atoll/mgmt/planner"
	"github.com/google/uuid"
)

// Deployment is a validated deployVirtualMachine request: what the VM is made of, resolved
// and checked against what its owner may use, and the zone's hosts and pools as read before
// the transaction.
type Deployment struct {
	Owner            *db.Account
	Zone             *db.Zone
	Offering         *db.ServiceOffering
	Template         *db.Template
	CPU              int
	Speed, Memory    int64
	RootSize         int64
	RootTags         string
	RootDiskOffering string // disk offering of the ROOT disk (ISO deployments)
	DataOffering     *db.DiskOffering
	DataSize         int64
	Networks         []*db.Network     // none: the owner's default network
	IPs              map[string]string // network id -> requested address
	IPAddress        string            // the default network's requested address (ipaddress)
	MACAddress       string            // the first NIC's (macaddress), as given
	KeyPairs         []string
	Groups           []*db.AffinityGroup
	SecurityGroups   []*db.SecurityGroup // securitygroupids/names, checked (securitygroup.ForVM)
	DefaultSG        bool                // none named in a zone with security groups: the owner's default
	Details          map[string]string
	Start            bool
	Dynamic          bool
	DisplayVM        *bool // nil: displayed
	Name             string
	DisplayName      string
	Group            string
	UserData         string
	Password         string // a password-enabled template's; "" a generated one
	Hypervisor       string // the template's, or the caller's for an ISO; "" any (then the host's)
	HostID           string
	ClusterID        string
	PodID            string
	Planner          string
	Candidates       []*planner.Candidate     // the zone's hosts as read before the transaction
	Pools            []*planner.PoolCandidate // and its primary storage pools
}

// Hint is what a deploy hands its job (jobs.RunLocal): the VM as committed, its volumes and
// NICs (the agent's spec), and the render seed.
type Hint struct {
	VM   *db.VM
	Vols []*db.Volume
	Nics []*db.Nic
	Seed *RenderSeed
}

// RenderSeed is what a deploy's job already holds for rendering its VM as the job's result:
// its NICs, that it is in no affinity group, and the offering, template and networks it names.
type RenderSeed struct {
	VMID       string
	Nics       []*db.Nic
	NoAffinity bool
	NoTags     bool
	Offering   *db.ServiceOffering
	Template   *db.Template
	Networks   []*db.Network
}

// Deploy creates the VM of a validated deployment in one transaction (its NICs, volumes, job
// and event; with Start its host and pools reserved and the VM Starting), taking one of slots
// (the deploy transactions a server runs at once) while it runs. It returns the VM's first job,
// written for this server's runner to run (RunLocal), and the hint to hand it.
func Deploy(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, p *Deployment, slots chan struct{}) (*db.Job, *Hint, error) {
	l := d.Ledger.Snapshot()
	var job *db.Job
	var hint *Hint
	var sgIDs []string
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	defer func() { <-slots }()
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		// Writes whose outcome is not looked at (the job, the event, the volumes) are held
		// back and sent with the next write that is (the VM's insert, the host's take): fewer
		// round trips on MySQL.
		w := d.DB.Defer(tx)
		now := db.Now()
		v := &db.VM{ID: uuid.NewString(), Name: p.Name, DisplayName: p.DisplayName, AccountID: p.Owner.ID, DomainID: p.Owner.DomainID,
			ZoneID: p.Zone.ID, ServiceOfferingID: p.Offering.ID, TemplateID: p.Template.ID, OSTypeID: p.Template.OSTypeID, HypervisorType: p.Hypervisor,
			CPUNumber: p.CPU, CPUSpeed: p.Speed, Memory: p.Memory, State: db.VMStopped, PowerState: db.PowerOff, HAEnabled: p.Offering.OfferHA,
			DynamicallyScalable: p.Dynamic, DisplayVM: true, UserData: p.UserData, KeyPairs: strings.Join(p.KeyPairs, ","),
			Group: p.Group, Created: now}
		if p.Template.IsISO() {
			v.TemplateID, v.ISOID = "", p.Template.ID
		}
		if p.DataOffering != nil {
			v.DiskOfferingID = p.DataOffering.ID
		}
		if p.DisplayVM != nil {
			v.DisplayVM = *p.DisplayVM
		}
		if p.Offering.Customized {
			v.Details = map[string]string{"cpuNumber": strconv.Itoa(p.CPU), "cpuSpeed": strconv.FormatInt(p.Speed, 10), "memory": strconv.FormatInt(p.Memory, 10)}
		}
		if v.Name == "" {
			v.Name = "VM-" + v.ID
		}
		if v.DisplayName == "" {
			v.DisplayName = v.Name
		}
		if p.Template.PasswordEnabled {
			// The caller's password if given, as CloudStack's; else a generated one.
			if v.Password = p.Password; v.Password == "" {
				v.Password = RandomPassword()
			}
		}
		// Hot rows last: the host's ledger rows, the account's resource counts and the pool's
		// ledger row are updated at the end of the transaction, one after the other, so that
		// concurrent deploys hold their locks briefly. Everything else (NICs, the job, the
		// event, the limits read, the host and pools chosen from unlocked reads, the VM row and
		// its volumes) comes first. A host whose room went meanwhile makes the transaction run
		// again (TakePlaced); with local storage the host is taken as the disks are placed.
		disks := []planner.DiskRequest{{Size: p.RootSize, Tags: p.RootTags, Local: strings.EqualFold(p.Offering.StorageType, "local")}}
		if p.DataOffering != nil {
			disks = append(disks, planner.DiskRequest{Size: p.DataSize, Tags: p.DataOffering.Tags, Local: strings.EqualFold(p.DataOffering.StorageType, "local")})
		}
		storage := p.RootSize
		if p.DataOffering != nil {
			storage += p.DataSize
		}
		v.AccountName, v.DomainName, v.DomainPath, v.ZoneName = p.Owner.Name, p.Owner.DomainName, p.Owner.DomainPath, p.Zone.Name
		hint = &Hint{VM: v, Seed: &RenderSeed{VMID: v.ID, NoAffinity: len(p.Groups) == 0, NoTags: true, Offering: p.Offering, Template: p.Template}}
		if err := createNics(ctx, d, a, tx, w, p, v, hint); err != nil {
			return err
		}
		if len(p.Groups) > 0 {
			ids := make([]string, len(p.Groups))
			for i, g := range p.Groups {
				ids[i] = g.ID
			}
			if err := db.SetVMAffinityGroups(ctx, tx, v.ID, ids); err != nil {
				return err
			}
		}
		var err error
		if len(p.SecurityGroups) > 0 || p.DefaultSG {
			if sgIDs, err = securitygroup.Join(ctx, tx, v, p.SecurityGroups, p.DefaultSG); err != nil {
				return err
			}
		}
		if job, err = d.EnqueueLocalJob(ctx, w.Later(), a, JobType, v.ID); err != nil {
			return err
		}
		if err := orchestrate.Event(ctx, w.Later(), a, "VM.CREATE", "Deploying VM "+v.Name, "VirtualMachine", v.ID); err != nil {
			return err
		}
		limits, err := d.ChargeLimitsOf(ctx, tx, p.Owner, true)
		if err != nil {
			return err
		}
		var avoid, require map[string]bool
		if p.Start {
			if avoid, require, err = AffinityRule(ctx, tx, p.Groups, v.ID); err != nil {
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
		if p.Start {
			// With local storage the pools decide the host, so the planner places the disks
			// with it; shared pools are chosen for the host's cluster afterwards and reserved
			// as the transaction's last ledger update (every deploy of a cluster updates them).
			var hostDisks []planner.DiskRequest
			if local {
				hostDisks = disks
			}
			pl, err := l.Deploy(ctx, tx, planner.Request{ZoneID: p.Zone.ID, PodID: p.PodID, ClusterID: p.ClusterID, HostID: p.HostID,
				Need: planner.Compute{CPUMHz: int64(p.CPU) * p.Speed, Cores: int64(p.CPU), Memory: p.Memory << 20}, HostTag: p.Offering.HostTag,
				AccountID: p.Owner.ID, Planner: p.Planner, Avoid: avoid, Require: require, IgnoreThreshold: p.HostID != "", Exclude: v.ID,
				DeferTake: true, Candidates: p.Candidates, Hypervisor: p.Hypervisor}, hostDisks)
			p.Candidates = nil // a transaction run again (a lost race) reads them afresh
			if err != nil {
				return DeployErr(v, err)
			}
			v.State, v.HostID, v.PodID, v.ClusterID, v.HostName, v.HypervisorType = db.VMStarting, pl.HostID, pl.PodID, pl.ClusterID, pl.HostName, pl.Hypervisor
			placed = pl
			pools = pl.Pools
			if !local {
				shared, err = l.ChoosePoolsOf(ctx, tx, p.Pools, v.ZoneID, v.HostID, v.ClusterID, disks)
				p.Pools = nil // a transaction run again reads them afresh
				if err != nil {
					return DeployErr(v, err)
				}
				pools = make([]string, len(shared))
				for i, ch := range shared {
					pools[i] = ch.PoolID
				}
			}
		}
		if err := db.InsertVM(ctx, w, v); err != nil {
			if k := db.DuplicateKey(err); k != "" && k != "vm_instances_live" {
				return db.ErrConflict // a held-back NIC or address insert lost a race
			}
			if db.IsDuplicate(err) {
				return orchestrate.ErrParam("The vm with hostName %s already exists in zone %s for account %s", v.Name, p.Zone.Name, p.Owner.Name)
			}
			return err
		}
		if pools == nil {
			pools = make([]string, len(disks))
		}
		root := &db.Volume{ID: uuid.NewString(), Name: fmt.Sprintf("ROOT-%d", v.Seq), AccountID: v.AccountID, DomainID: v.DomainID,
			ZoneID: v.ZoneID, PodID: v.PodID, PoolID: pools[0], VMID: v.ID, Type: db.VolumeRoot, DeviceID: 0, Size: p.RootSize,
			TemplateID: v.TemplateID, DiskOfferingID: p.RootDiskOffering, State: db.VolumeAllocated, Format: "QCOW2", HypervisorType: v.HypervisorType,
			DisplayVolume: true, Attached: now, Created: now}
		if err := db.InsertVolume(ctx, w.Later(), root); err != nil {
			return err
		}
		hint.Vols = append(hint.Vols, root)
		if p.DataOffering != nil {
			data := &db.Volume{ID: uuid.NewString(), Name: fmt.Sprintf("DATA-%d", v.Seq), AccountID: v.AccountID, DomainID: v.DomainID,
				ZoneID: v.ZoneID, PodID: v.PodID, PoolID: pools[1], VMID: v.ID, Type: db.VolumeDataDisk, DeviceID: 1, Size: p.DataSize,
				DiskOfferingID: p.DataOffering.ID, State: db.VolumeAllocated, Format: "QCOW2", HypervisorType: v.HypervisorType,
				DisplayVolume: true, Attached: now, Created: now}
			if err := db.InsertVolume(ctx, w.Later(), data); err != nil {
				return err
			}
			hint.Vols = append(hint.Vols, data)
		}
		// The most contended row last: a host is shared by the deploys that chose it, an
		// account's counts by its deploys, a cluster's pool by every deploy to the cluster.
		if err := l.TakePlaced(ctx, w, placed); err != nil {
			return err
		}
		if err := w.Flush(ctx); err != nil { // the volumes, when no host was taken
			return err
		}
		if err := d.ApplyCharge(ctx, tx, limits, map[string]int64{db.ResUserVM: 1, db.ResCPU: int64(p.CPU), db.ResMemory: p.Memory,
			db.ResVolume: int64(len(disks)), db.ResPrimaryStorage: storage}); err != nil {
			return err
		}
		return l.ReservePools(ctx, tx, shared)
	})
	if err != nil {
		return nil, nil, err
	}
	if len(sgIDs) > 0 {
		if err := securitygroup.Apply(ctx, d, sgIDs); err != nil && d.Log != nil {
			d.Log.Warn("security groups: recording a deployed VM's groups failed", "vm", hint.VM.ID, "err", err)
		}
	}
	return job, hint, nil
}

// createNics gives the VM one NIC per network (the default network when none was named),
// implementing each network on its first VM and allocating the NIC's address.
// Their inserts (and their addresses' claims) are held back in w and sent with the VM's: a
// duplicate key there, other than the VM's name, is a lost race, and the transaction runs again.
func createNics(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, tx db.Tx, w *db.Deferred, p *Deployment, v *db.VM, h *Hint) error {
	list := p.Networks
	if len(list) == 0 {
		n, err := network.DefaultFor(ctx, d, a, tx, p.Zone, p.Owner.ID)
		if err != nil {
			return err
		}
		list = []*db.Network{n}
		if p.IPAddress != "" {
			p.IPs[n.ID] = p.IPAddress
		}
	}
	for i, n0 := range list {
		n, err := network.Lock(ctx, d, tx, n0)
		if err != nil {
			return err
		}
		if err := network.Implement(ctx, d, tx, n); err != nil {
			return err
		}
		ip, err := network.AllocateLockedNicIP(ctx, d, tx, w.Later(), n, p.IPs[n.ID])
		if err != nil {
			return err
		}
		mac := db.NewMAC()
		if i == 0 && p.MACAddress != "" {
			mac = strings.ToLower(p.MACAddress)
		}
		nic := &db.Nic{ID: uuid.NewString(), VMID: v.ID, NetworkID: n.ID, AccountID: v.AccountID, IPAddress: ip, Netmask: n.Netmask,
			Gateway: n.Gateway, MACAddress: mac, IsDefault: i == 0, DeviceID: i, BroadcastURI: n.BroadcastURI, IsolationURI: n.BroadcastURI,
			Created: v.Created}
		ins := w.Later()
		if i == 0 && p.MACAddress != "" {
			ins = tx // a MAC the caller chose: its duplicate is the caller's error, told at once
		}
		if err := db.InsertNic(ctx, ins, nic); err != nil {
			if db.IsDuplicate(err) {
				if p.MACAddress != "" && i == 0 {
					return orchestrate.ErrParam("The mac address %s is already in use in network %s", mac, n.Name)
				}
				return db.ErrConflict // a MAC collision: run the transaction again with new ones
			}
			return err
		}
		h.Nics, h.Seed.Networks = append(h.Nics, nic), append(h.Seed.Networks, n)
		h.Seed.Nics = h.Nics
	}
	return nil
}
