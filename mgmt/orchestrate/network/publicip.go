package network

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Public IPs of Isolated networks: associateIpAddress, disassociateIpAddress,
// updateIpAddress (CloudStack's IpAddressManager for non-VPC guest networks).

// Job instance types of the public IP and rule jobs (CloudStack's ApiCommandResourceType).
const (
	IPJobType   = "IpAddress"
	RuleJobType = "FirewallRule"
)

// errNetworkRuleConflict is CloudStack's NetworkRuleConflictException as its commands answer
// it: a ServerApiException with NETWORK_RULE_CONFLICT_ERROR.
func errNetworkRuleConflict(format string, args ...any) *orchestrate.Error {
	return orchestrate.Errorf(537, orchestrate.CSServerAPI, format, args...)
}

// PublicIPForCaller loads an address of a live range that the caller may use (read) or act
// on (write): an allocated address of an account the caller manages. A Free address is only
// an admin's to read.
func PublicIPForCaller(ctx context.Context, q db.Querier, caller *iam.Caller, id string, write bool) (*db.PublicAddress, error) {
	p, err := db.GetPublicAddress(ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find ip address by id %s", id)
	}
	if err != nil {
		return nil, err
	}
	if p.AccountID == "" {
		if !write && caller.IsRootAdmin() {
			return p, nil
		}
		return nil, orchestrate.ErrDenied("Account %s does not have permission to access IP address %s", caller.User.AccountName, id)
	}
	if !caller.CanManageAccount(p.AccountID, p.DomainPath) {
		return nil, orchestrate.ErrDenied("Account %s does not have permission to access IP address %s", caller.User.AccountName, id)
	}
	return p, nil
}

// AssociateSpec is what associateIpAddress asks for: the owner (resolved by the caller, or the
// network's), a network or a zone, and optionally one address.
type AssociateSpec struct {
	Owner      *db.Account // nil: the network's owner
	NetworkID  string      // lower-case; "" takes the owner's one Isolated network with source NAT in ZoneID
	ZoneID     string
	Address    string
	ForDisplay *bool
}

// Associate is associateIpAddress's first step, in one transaction with its job: it reserves
// a Free public address for an Isolated network (Allocating; the job makes it Allocated), with
// the zone's public IP capacity and the owner's public_ip count. The first address of a
// network with SourceNat that has none yet becomes its source NAT address, as in CloudStack.
// It answers the address's id and the job's.
func Associate(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec AssociateSpec) (ipID, jobID string, err error) {
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		n, err := associateNetwork(ctx, tx, a.Caller, spec)
		if err != nil {
			return err
		}
		owner := spec.Owner
		if owner == nil {
			if owner, err = db.GetAccount(ctx, tx, n.AccountID); err != nil {
				return err
			}
		}
		if n.AccountID != owner.ID {
			return orchestrate.ErrDenied("Account %s does not have permission to use network %s", owner.Name, n.Name)
		}
		p, err := db.AcquirePublicAddress(ctx, tx, n.ZoneID, owner.ID, owner.DomainID, n.ID, spec.Address, db.IPAllocating)
		if errors.Is(err, db.ErrNotFound) {
			if spec.Address != "" {
				return ErrNoAddress("Insufficient address capacity: IP address %s is not free in the public ranges of zone %s", spec.Address, n.ZoneName)
			}
			return ErrNoAddress("Insufficient address capacity: no free public IP address in zone %s", n.ZoneName)
		}
		if err != nil {
			return err
		}
		if n.HasService("SourceNat") {
			ips, err := db.ListNetworkPublicIPs(ctx, tx, n.ID)
			if err != nil {
				return err
			}
			has := false
			for _, o := range ips {
				has = has || o.SourceNAT
			}
			if !has {
				if _, err := tx.ExecContext(ctx, "UPDATE public_ips SET source_nat = 1 WHERE id = ?", p.ID); err != nil {
					return err
				}
			}
		}
		if spec.ForDisplay != nil && !*spec.ForDisplay {
			if err := db.SetPublicAddressDisplay(ctx, tx, p.ID, false); err != nil {
				return err
			}
		}
		if err := CapacityErr(d.Ledger.ReserveCount(ctx, tx, db.CapPublicIP, n.ZoneID, 1)); err != nil {
			return err
		}
		if err := d.ChargeResources(ctx, tx, owner.ID, map[string]int64{db.ResPublicIP: 1}); err != nil {
			return err
		}
		if err := orchestrate.Event(ctx, tx, a, "NET.IPASSIGN", "Associating IP address "+p.Address+" to network "+n.Name, "IpAddress", p.ID); err != nil {
			return err
		}
		ipID = p.ID
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, IPJobType, p.ID)
		return err
	})
	return ipID, jobID, err
}

// associateNetwork is the network an address is associated with: the one named, or the
// owner's one Isolated network with source NAT in the zone (CloudStack's
// AssociateIPAddrCmd.getNetworkId).
func associateNetwork(ctx context.Context, tx db.Tx, caller *iam.Caller, spec AssociateSpec) (*db.Network, error) {
	if spec.NetworkID == "" {
		if spec.ZoneID == "" {
			return nil, orchestrate.ErrParam("Unable to figure out zone to assign ip to. Please specify either zoneId, or networkId, or vpcId in the call")
		}
		z, err := db.GetZone(ctx, tx, spec.ZoneID)
		if errors.Is(err, db.ErrNotFound) {
			return nil, orchestrate.ErrParam("Unable to find zone by id %s", spec.ZoneID)
		} else if err != nil {
			return nil, err
		}
		list, _, err := db.ListNetworks(ctx, tx, db.NetworkFilter{ZoneID: z.ID, GuestType: db.GuestIsolated, Scope: db.Scope{AccountID: spec.Owner.ID}})
		if err != nil {
			return nil, err
		}
		var found []*db.Network
		for _, n := range list {
			if n.HasService("SourceNat") && n.State != db.NetworkDestroy {
				found = append(found, n)
			}
		}
		switch len(found) {
		case 0:
			return nil, orchestrate.ErrParam("Account name=%s domain id=%s doesn't have virtual networks in zone=%s", spec.Owner.Name, spec.Owner.DomainID, z.Name)
		case 1:
			return found[0], nil
		}
		return nil, orchestrate.ErrParam("Account has more than one Isolated network in the zone")
	}
	n, err := ForCaller(ctx, tx, caller, spec.NetworkID, false)
	if err != nil {
		return nil, err
	}
	if spec.ZoneID != "" && spec.ZoneID != n.ZoneID {
		return nil, orchestrate.ErrParam("Network %s is not in zone %s (zoneid)", n.Name, spec.ZoneID)
	}
	if n.GuestType != db.GuestIsolated || n.State == db.NetworkDestroy {
		return nil, orchestrate.ErrParam("Ip can be associated with guest network of type %s only (networkid): network %s is %s", db.GuestIsolated, n.Name, n.GuestType)
	}
	return n, nil
}

// FinishAssociate is associateIpAddress's job: the address becomes Allocated.
func FinishAssociate(ctx context.Context, d *orchestrate.Deps, id string) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		err := db.SetPublicAddressState(ctx, tx, id, db.IPAllocating, db.IPAllocated)
		if errors.Is(err, db.ErrNotFound) {
			return nil // an earlier run did it
		}
		return err
	})
}

// CheckDisassociate refuses to release an address that is a network's source NAT address.
func CheckDisassociate(p *db.PublicAddress) error {
	if p.SourceNAT {
		return orchestrate.ErrParam("ip address is used for source nat purposes and can not be disassociated.")
	}
	if p.State == db.IPFree {
		return orchestrate.ErrParam("Unable to find ip address by id %s: it is not allocated", p.ID)
	}
	return nil
}

// Disassociate is disassociateIpAddress's job: the address's rules are revoked and applied
// away, its static NAT is turned off, then it goes back to the Free pool with its capacity and
// its owner's public_ip count. An address already released is done.
func Disassociate(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	var networkID string
	done := false
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		done = false
		if p, err := db.GetPublicAddress(ctx, tx, id); errors.Is(err, db.ErrNotFound) || err == nil && p.State == db.IPFree {
			done = true // released by an earlier run of this job
			return nil
		}
		p, err := PublicIPForCaller(ctx, tx, a.Caller, id, true)
		if err != nil {
			return err
		}
		if err := CheckDisassociate(p); err != nil {
			return err
		}
		if _, err := db.RevokeRules(ctx, tx, "", p.ID, ""); err != nil {
			return err
		}
		if p.VMID != "" {
			if err := db.SetStaticNAT(ctx, tx, p.ID, "", ""); err != nil {
				return err
			}
		}
		networkID = p.NetworkID
		if p.State != db.IPReleasing {
			return db.SetPublicAddressState(ctx, tx, p.ID, p.State, db.IPReleasing)
		}
		return nil
	})
	if err != nil || done {
		return err
	}
	if networkID != "" {
		if err := ApplyRules(ctx, d, networkID); err != nil {
			return err
		}
	}
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		p, err := db.GetPublicAddress(ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) || err == nil && p.State == db.IPFree {
			return nil
		}
		if err != nil {
			return err
		}
		if err := db.ReleasePublicAddress(ctx, tx, p.ID); err != nil {
			return err
		}
		if err := d.Ledger.ReleaseCount(ctx, tx, db.CapPublicIP, p.ZoneID, 1); err != nil {
			return err
		}
		if err := d.ChargeResources(ctx, tx, p.AccountID, map[string]int64{db.ResPublicIP: -1}); err != nil {
			return err
		}
		if err := db.DeleteTagsOf(ctx, tx, "PublicIpAddress", p.ID); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "NET.IPRELEASE", "Disassociating IP address "+p.Address, "IpAddress", p.ID)
	})
}

// UpdateIP is updateIpAddress's job: fordisplay, and customid (the root admin's own id for
// the address, as CloudStack's customId replaces a resource's uuid). It answers the
// address's id, which customid changes.
func UpdateIP(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, display *bool, customID string) (string, error) {
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		p, err := PublicIPForCaller(ctx, tx, a.Caller, id, true)
		if err != nil {
			return err
		}
		if display != nil {
			if err := db.SetPublicAddressDisplay(ctx, tx, p.ID, *display); err != nil {
				return err
			}
		}
		if customID != "" && customID != p.ID {
			if !a.Caller.IsRootAdmin() {
				return orchestrate.ErrDenied("Only the root admin can set a custom id (customid)")
			}
			if _, err := db.GetPublicAddress(ctx, tx, customID); err == nil {
				return orchestrate.ErrParam("The customid %s is already in use", customID)
			}
			if err := db.ChangePublicAddressID(ctx, tx, p.ID, customID); err != nil {
				return err
			}
			id = customID
		}
		return orchestrate.Event(ctx, tx, a, "NET.IPUPDATE", "Updating IP address "+p.Address, "IpAddress", id)
	})
	return id, err
}
