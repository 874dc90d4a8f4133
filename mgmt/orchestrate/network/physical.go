package network

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// Physical networks, their guest VLAN/VNI ranges and traffic types.

// Physical network (and service provider) states.
const (
	PhysicalEnabled  = "Enabled"
	PhysicalDisabled = "Disabled"
)

// Provider is a network service provider a new physical network gets (Disabled), with the
// type of its element when it has one.
type Provider struct {
	Name     string
	Services []string
	Element  string
}

// InsertProvider adds a Disabled provider to a physical network, with its element.
func InsertProvider(ctx context.Context, tx db.Tx, pnID string, p Provider, dest string) (*db.ServiceProvider, error) {
	sp := &db.ServiceProvider{ID: uuid.NewString(), PhysicalNetworkID: pnID, Name: p.Name, State: PhysicalDisabled,
		DestinationPhysicalNetworkID: dest, Services: strings.Join(p.Services, ","), Created: db.Now()}
	if err := db.InsertServiceProvider(ctx, tx, sp); err != nil {
		if db.IsDuplicate(err) {
			return nil, orchestrate.ErrParam("The '%s' provider already exists on physical network %s", p.Name, pnID)
		}
		return nil, err
	}
	if p.Element != "" {
		e := &db.RouterElement{ID: uuid.NewString(), NSPID: sp.ID, Type: p.Element, Created: db.Now()}
		if err := db.InsertRouterElement(ctx, tx, e); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

// PhysicalSpec is a new physical network of createPhysicalNetwork, its parameters parsed: the
// row (zone, name, state, isolation, tag, domain, speed), its vnet ranges, the
// broadcastdomainrange as sent, and the providers it gets (SecurityGroupProvider only in a
// zone with security groups).
type PhysicalSpec struct {
	Network              *db.PhysicalNetwork
	Ranges               []VnetRange
	BroadcastDomainRange string
	Providers            []Provider
}

// CreatePhysical adds a physical network to a disabled zone with its default providers and
// guest VLAN capacity, records PHYSICAL.NETWORK.CREATE and writes the actor's job on it; it
// returns the job's id.
func CreatePhysical(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec PhysicalSpec) (string, error) {
	pn := spec.Network
	var jobID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		z, err := ZoneForChange(ctx, tx, pn.ZoneID)
		if err != nil {
			return err
		}
		pn.ZoneName, pn.ZoneNetworkType = z.Name, z.NetworkType
		if z.AllocationState == "Enabled" {
			return orchestrate.ErrParam("Cannot create PhysicalNetwork since the Zone %s is currently enabled; disable it first", z.Name)
		}
		if z.NetworkType == zoneBasic {
			if _, n, err := db.ListPhysicalNetworks(ctx, tx, db.PhysicalNetworkFilter{ZoneID: z.ID, Limit: 1}); err != nil {
				return err
			} else if n > 0 {
				return orchestrate.ErrParam("Cannot add the physical network to basic zone %s, there is a physical network already existing in this basic Zone", z.Name)
			}
			if pn.Vlan != "" {
				return orchestrate.ErrParam("Can't add vnet range (vlan) to the physical network in the Basic zone %s", z.Name)
			}
		}
		want := "ZONE"
		if z.NetworkType == zoneBasic {
			want = "POD"
		}
		pn.BroadcastDomainRange = want
		if v := spec.BroadcastDomainRange; v != "" {
			got := ""
			for _, ch := range []string{"ZONE", "POD"} {
				if strings.EqualFold(strings.TrimSpace(v), ch) {
					got = ch
				}
			}
			if got == "" {
				return orchestrate.ErrParam("Invalid %s %q: use one of %s", "broadcastdomainrange", v, "ZONE, POD")
			}
			if got != want {
				return orchestrate.ErrParam("%s zone can have broadcastdomainrange of value %s only", z.NetworkType, want)
			}
		}
		if err := checkVnetOverlap(ctx, tx, pn, spec.Ranges); err != nil {
			return err
		}
		if err := db.InsertPhysicalNetwork(ctx, tx, pn); err != nil {
			return err
		}
		for _, p := range spec.Providers {
			if p.Name == "SecurityGroupProvider" && !z.SecurityGroupsEnabled {
				continue
			}
			if _, err := InsertProvider(ctx, tx, pn.ID, p, ""); err != nil {
				return err
			}
		}
		if err := setVlanCapacity(ctx, tx, pn, spec.Ranges); err != nil {
			return err
		}
		if err := orchestrate.Event(ctx, tx, a, "PHYSICAL.NETWORK.CREATE", "Creating physical network "+pn.Name+" in zone "+z.Name, "PhysicalNetwork", pn.ID); err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, "PhysicalNetwork", pn.ID)
		return err
	})
	return jobID, err
}

// checkVnetOverlap refuses ranges that overlap those of another physical network of the zone
// with the same isolation method (VNIs share the zone's underlay; CloudStack checks VXLAN).
func checkVnetOverlap(ctx context.Context, tx db.Tx, pn *db.PhysicalNetwork, rs []VnetRange) error {
	others, _, err := db.ListPhysicalNetworks(ctx, tx, db.PhysicalNetworkFilter{ZoneID: pn.ZoneID})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID == pn.ID || IsolationOf(o) != IsolationOf(pn) {
			continue
		}
		ors, err := ParseVnetRanges("vlan", o.Vlan, IsolationOf(o))
		if err != nil {
			continue
		}
		for _, a := range rs {
			for _, b := range ors {
				if a.Lo <= b.Hi && b.Lo <= a.Hi {
					return orchestrate.ErrParam("The vlan range %d-%d overlaps with the range %d-%d of physical network %s in zone %s; please specify a unique range",
						a.Lo, a.Hi, b.Lo, b.Hi, o.Name, pn.ZoneName)
				}
			}
		}
	}
	return nil
}

// setVlanCapacity keeps the guest VLAN/VNI capacity of a physical network in step with its ranges.
func setVlanCapacity(ctx context.Context, tx db.Tx, pn *db.PhysicalNetwork, rs []VnetRange) error {
	if pn.ZoneNetworkType != zoneAdvanced {
		return nil
	}
	return db.SetCapacityTotal(ctx, tx, db.Capacity{Type: db.CapVLAN, ObjectID: pn.ID, ZoneID: pn.ZoneID, Total: VnetCount(rs)})
}

// PhysicalUpdate is what updatePhysicalNetwork changes, its parameters checked by the caller:
// nil leaves a field as it is.
type PhysicalUpdate struct {
	State        string // "" leaves it
	NetworkSpeed *string
	Tags         *string // "" clears the tag
	Vlan         *string // the new vnet ranges, as sent
}

// UpdatePhysical changes a physical network's state, speed, tag and vnet ranges (refusing to
// shrink them under an allocated vnet), with its VLAN capacity and PHYSICAL.NETWORK.UPDATE.
func UpdatePhysical(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, u PhysicalUpdate) (*db.PhysicalNetwork, error) {
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		pn, err := physicalNetworkByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := ZoneForChange(ctx, tx, pn.ZoneID); err != nil {
			return err
		}
		if u.State != "" {
			pn.State = u.State
		}
		if u.NetworkSpeed != nil {
			pn.NetworkSpeed = *u.NetworkSpeed
		}
		if u.Tags != nil {
			pn.Tags = *u.Tags
			if pn.Tags == "" {
				if err := checkUntaggedGuest(ctx, tx, pn); err != nil {
					return err
				}
			}
		}
		if u.Vlan != nil {
			rs, err := ParseVnetRanges("vlan", *u.Vlan, IsolationOf(pn))
			if err != nil {
				return err
			}
			if err := checkVnetOverlap(ctx, tx, pn, rs); err != nil {
				return err
			}
			used, err := db.ListAllocatedVnets(ctx, tx, pn.ID)
			if err != nil {
				return err
			}
			for _, v := range used {
				if !VnetContains(rs, v) {
					return orchestrate.ErrInUse("Physical network %s has allocated vnet %d outside the new range %s; release it before shrinking the range", pn.Name, v, FormatVnetRanges(rs))
				}
			}
			pn.Vlan = FormatVnetRanges(rs)
			if err := setVlanCapacity(ctx, tx, pn, rs); err != nil {
				return err
			}
		}
		if err := db.UpdatePhysicalNetwork(ctx, tx, pn); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "PHYSICAL.NETWORK.UPDATE", "Updating physical network "+pn.Name, "PhysicalNetwork", pn.ID)
	})
	if err != nil {
		return nil, err
	}
	return physicalNetworkByID(ctx, d.DB.Read(), id)
}

// checkUntaggedGuest refuses a second untagged physical network carrying Guest traffic in a
// zone: guest networks could not tell which to use (CloudStack's checkForPhysicalNetworksWithoutTag).
func checkUntaggedGuest(ctx context.Context, tx db.Tx, pn *db.PhysicalNetwork) error {
	carries, _, err := db.ListTrafficTypes(ctx, tx, db.TrafficTypeFilter{PhysicalNetworkID: pn.ID, TrafficType: TrafficGuest})
	if err != nil || len(carries) == 0 {
		return err
	}
	others, _, err := db.ListPhysicalNetworks(ctx, tx, db.PhysicalNetworkFilter{ZoneID: pn.ZoneID, TrafficType: TrafficGuest})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID != pn.ID && o.Tags == "" {
			return orchestrate.ErrParam("There are more than 1 physical network without tags carrying Guest traffic in zone %s (%s and %s): tag them", pn.ZoneName, o.Name, pn.Name)
		}
	}
	return nil
}

// DeletePhysical removes a physical network no network, vnet or IP range uses, with its
// capacity rows; one already gone is done.
func DeletePhysical(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		pn, err := db.GetPhysicalNetwork(ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil // an earlier run of this job removed it
		}
		if err != nil {
			return err
		}
		if _, err := ZoneForChange(ctx, tx, pn.ZoneID); err != nil {
			return err
		}
		if n, err := db.CountPhysicalNetworkNetworks(ctx, tx, pn.ID); err != nil {
			return err
		} else if n > 0 {
			return orchestrate.ErrInUse("The Physical Network %s is not deletable because there are %d networks using it", pn.Name, n)
		}
		used, err := db.ListAllocatedVnets(ctx, tx, pn.ID)
		if err != nil {
			return err
		}
		if len(used) > 0 {
			return orchestrate.ErrInUse("The Physical Network %s is not deletable because there are %d allocated vnets for this physical network", pn.Name, len(used))
		}
		if _, n, err := db.ListVlanRanges(ctx, tx, db.VlanRangeFilter{PhysicalNetworkID: pn.ID}); err != nil {
			return err
		} else if n > 0 {
			return orchestrate.ErrInUse("The Physical Network %s is not deletable because there are %d IP ranges on it; delete them first", pn.Name, n)
		}
		if err := db.RemovePhysicalNetwork(ctx, tx, pn.ID); err != nil {
			return err
		}
		if err := db.DeleteCapacity(ctx, tx, pn.ID); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "PHYSICAL.NETWORK.DELETE", "Deleting physical network "+pn.Name, "PhysicalNetwork", pn.ID)
	})
}

// TrafficType loads a traffic type with CloudStack's error for an unknown id.
func TrafficType(ctx context.Context, q db.Querier, id string) (*db.TrafficType, error) {
	t, err := db.GetTrafficType(ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find traffic type by id %s", id)
	}
	return t, err
}

// AddTrafficType adds a traffic type (its row built from the parameters) to its physical
// network, records TRAFFIC.TYPE.CREATE and writes the actor's job on it; it returns the job's id.
func AddTrafficType(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, t *db.TrafficType) (string, error) {
	typ := t.TrafficType
	var jobID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		pn, err := physicalNetworkByID(ctx, tx, t.PhysicalNetworkID)
		if err != nil {
			return err
		}
		if _, err := ZoneForChange(ctx, tx, pn.ZoneID); err != nil {
			return err
		}
		if t.IsolationMethod != "" && t.IsolationMethod != IsolationOf(pn) {
			return orchestrate.ErrParam("Invalid isolationmethod %s: physical network %s is isolated by %s", t.IsolationMethod, pn.Name, IsolationOf(pn))
		}
		if typ != TrafficGuest {
			// Public, Management and Storage traffic each run on one physical network per zone.
			if _, n, err := db.ListTrafficTypes(ctx, tx, db.TrafficTypeFilter{ZoneID: pn.ZoneID, TrafficType: typ, Limit: 1}); err != nil {
				return err
			} else if n > 0 {
				return orchestrate.ErrParam("Fail to add the traffic type to physical network because Zone %s already has a physical network with this traffic type: %s", pn.ZoneName, typ)
			}
		}
		if err := db.InsertTrafficType(ctx, tx, t); err != nil {
			if db.IsDuplicate(err) {
				return orchestrate.ErrParam("This physical network (%s) already supports the traffic type: %s", pn.Name, typ)
			}
			return err
		}
		if typ == TrafficGuest && pn.Tags == "" {
			if err := checkUntaggedGuest(ctx, tx, pn); err != nil {
				return err
			}
		}
		if err := orchestrate.Event(ctx, tx, a, "TRAFFIC.TYPE.CREATE", "Adding "+typ+" traffic type to physical network "+pn.Name, "TrafficType", t.ID); err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, "TrafficType", t.ID)
		return err
	})
	return jobID, err
}

// UpdateTrafficType sets a traffic type's labels: apply changes the row as the parameters say.
func UpdateTrafficType(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, apply func(*db.TrafficType)) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		t, err := TrafficType(ctx, tx, id)
		if err != nil {
			return err
		}
		apply(t)
		if err := db.UpdateTrafficTypeLabels(ctx, tx, t); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "TRAFFIC.TYPE.UPDATE", "Updating "+t.TrafficType+" traffic type of physical network "+t.PhysicalNetworkID, "TrafficType", t.ID)
	})
}

// DeleteTrafficType removes a traffic type nothing uses: Public traffic carries the public
// ranges; Guest the vnets and a Basic zone's ranges. One already gone is done.
func DeleteTrafficType(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		t, err := db.GetTrafficType(ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil // an earlier run of this job removed it
		}
		if err != nil {
			return err
		}
		if _, err := ZoneForChange(ctx, tx, t.ZoneID); err != nil {
			return err
		}
		switch t.TrafficType {
		case TrafficPublic, TrafficGuest:
			virt := t.TrafficType == TrafficPublic
			if _, n, err := db.ListVlanRanges(ctx, tx, db.VlanRangeFilter{PhysicalNetworkID: t.PhysicalNetworkID, ForVirtualNetwork: &virt}); err != nil {
				return err
			} else if n > 0 {
				return orchestrate.ErrInUse("The %s traffic type is not deletable because there are %d IP ranges using it; delete them first", t.TrafficType, n)
			}
			if t.TrafficType == TrafficGuest {
				if used, err := db.ListAllocatedVnets(ctx, tx, t.PhysicalNetworkID); err != nil {
					return err
				} else if len(used) > 0 {
					return orchestrate.ErrInUse("The Guest traffic type is not deletable because there are %d allocated guest vnets on its physical network", len(used))
				}
			}
		}
		if err := db.RemoveTrafficType(ctx, tx, t.ID); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "TRAFFIC.TYPE.DELETE", "Deleting "+t.TrafficType+" traffic type of physical network "+t.PhysicalNetworkID, "TrafficType", t.ID)
	})
}
