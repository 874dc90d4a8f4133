package network

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// ForCaller loads a live network the caller may use (read) or change (write): its owner
// account's, or an admin's over the owner's domain; a Domain-wide network is readable from the
// domain (and, with subdomain access, below it) and writable by admins over its domain.
func ForCaller(ctx context.Context, q db.Querier, caller *iam.Caller, id string, write bool) (*db.Network, error) {
	n, err := db.GetNetwork(ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find network by id %s", id)
	}
	if err != nil {
		return nil, err
	}
	if !CanUse(caller, n, write) {
		return nil, orchestrate.ErrDenied("Account %s does not have permission to access network %s", caller.User.AccountName, n.ID)
	}
	return n, nil
}

// CanUse reports whether the caller may read (or, write, change) n (see ForCaller).
func CanUse(caller *iam.Caller, n *db.Network, write bool) bool {
	if n.AccountID != "" {
		return caller.CanManageAccount(n.AccountID, n.DomainPath)
	}
	if caller.IsAdmin() && caller.CanSeeDomain(n.DomainPath) {
		return true
	}
	if write {
		return false
	}
	up := caller.User.DomainPath
	return strings.EqualFold(up, n.DomainPath) || n.SubdomainAccess && len(up) > len(n.DomainPath) && strings.EqualFold(up[:len(n.DomainPath)+1], n.DomainPath+"/")
}

// PhysicalNetwork loads a physical network with CloudStack's error for an unknown id.
func PhysicalNetwork(ctx context.Context, q db.Querier, id string) (*db.PhysicalNetwork, error) {
	return physicalNetworkByID(ctx, q, id)
}

// ZoneForChange locks a zone for a change to what it holds (db.LockZone) and reads it.
func ZoneForChange(ctx context.Context, tx db.Tx, id string) (*db.Zone, error) {
	if err := db.LockZone(ctx, tx, id); errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find zone by id %s", id)
	} else if err != nil {
		return nil, err
	}
	z, err := db.GetZone(ctx, tx, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find zone by id %s", id)
	}
	return z, err
}
