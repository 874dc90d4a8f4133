package api

import (
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
)

// What the guest network layer gives VM deployment (H4): a network to deploy into, the
// network implemented on its first VM, and each NIC's address. The work is
// mgmt/orchestrate/network's; these are the shorthands the API's network commands use.

// CloudStack's exception codes for capacity refusals (CSExceptionErrorCode).
const (
	CSInsufficientAddressCapacity = orchestrate.CSInsufficientAddressCapacity
	CSInsufficientVirtualNetwork  = orchestrate.CSInsufficientVirtualNetwork
)

// ErrNoAddress is InsufficientAddressCapacityException (533).
func ErrNoAddress(format string, args ...any) *Error { return network.ErrNoAddress(format, args...) }

// guestRanges returns the addresses NICs of n take and those never handed out (network.GuestRanges).
func (c *Call) guestRanges(q db.Querier, n *db.Network) ([][2]int64, map[int64]bool, error) {
	return network.GuestRanges(c.Ctx, q, n)
}

// allocateNicIP takes a free IPv4 address of n for a NIC in the caller's transaction (network.AllocateNicIP).
func (c *Call) allocateNicIP(tx db.Tx, n *db.Network, requestedIP string) (string, error) {
	return network.AllocateNicIP(c.Ctx, c.deps(), tx, n, requestedIP)
}

// lockedNetwork share-locks a network a NIC is being added to (network.Lock).
func (c *Call) lockedNetwork(tx db.Tx, n *db.Network) (*db.Network, error) {
	return network.Lock(c.Ctx, c.deps(), tx, n)
}

// allocateLockedNicIP is allocateNicIP for a network locked already (network.AllocateLockedNicIP).
func (c *Call) allocateLockedNicIP(tx db.Tx, ins db.Querier, n *db.Network, requestedIP string) (string, error) {
	return network.AllocateLockedNicIP(c.Ctx, c.deps(), tx, ins, n, requestedIP)
}

// releaseNicIP frees a NIC's address of n in the caller's transaction (network.ReleaseNicIP).
func (c *Call) releaseNicIP(tx db.Tx, n *db.Network, ip string) error {
	return network.ReleaseNicIP(c.Ctx, c.deps(), tx, n, ip)
}

// releaseNicIPs frees the addresses of NICs being removed (network.ReleaseNicIPs).
func (c *Call) releaseNicIPs(tx db.Tx, nics []*db.Nic) error {
	return network.ReleaseNicIPs(c.Ctx, c.deps(), tx, nics)
}

// implementNetwork readies an Allocated Isolated network for its first VM (network.Implement).
func (c *Call) implementNetwork(tx db.Tx, n *db.Network) error {
	return network.Implement(c.Ctx, c.deps(), tx, n)
}

// allocateNetworkResources gives n what it lacks of a VNI and a source NAT address (network.AllocateResources).
func (c *Call) allocateNetworkResources(tx db.Tx, n *db.Network) error {
	return network.AllocateResources(c.Ctx, c.deps(), tx, n)
}

// releaseNetworkResources returns n's VNI and public addresses (network.ReleaseResources).
func (c *Call) releaseNetworkResources(tx db.Tx, n *db.Network) error {
	return network.ReleaseResources(c.Ctx, c.deps(), tx, n)
}

// defaultNetworkFor is the network a deploy naming none goes to (network.DefaultFor).
func (c *Call) defaultNetworkFor(tx db.Tx, zone *db.Zone, accountID string) (*db.Network, error) {
	return network.DefaultFor(c.Ctx, c.deps(), c.actor(), tx, zone, accountID)
}

// networkUsableBy refuses a network the account may not deploy into (network.UsableBy).
func (c *Call) networkUsableBy(n *db.Network, acct *db.Account) error {
	return network.UsableBy(n, acct)
}

// vnetHeld reports whether an Implemented network still holds its VNI's allocation row (network.VnetHeld).
func (c *Call) vnetHeld(q db.Querier, n *db.Network) (bool, error) {
	return network.VnetHeld(c.Ctx, q, n)
}
