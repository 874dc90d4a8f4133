// Package network holds the guest network workflows, callable from the API, VM deployment,
// HA and agents' reconnects with plain inputs (orchestrate.Deps, orchestrate.Actor, ids and
// specs) and answering rows or orchestrate.Error:
//
//   - guest networks: Create, Update, Delete (Destroy and RemoveAccountNetworks inside a
//     caller's transaction), Restart; ForCaller and CanUse for access;
//   - VM deployment: the network a deploy naming none goes to (DefaultFor, made for the
//     account when it has none), a network implemented on its first VM (Implement: its
//     VNI/VLAN and source NAT address, AllocateResources and ReleaseResources), and each NIC's
//     address (AllocateNicIP, ReleaseNicIP), claimed and freed in the caller's transaction with
//     the capacity and resource counts that go with them;
//   - IP ranges: CreateRange and DeleteRange (public ranges and a Basic zone's guest ranges),
//     with CheckRangeFits, SyncIPCapacity and RemoveRange;
//   - public IPs of Isolated networks (publicip.go): Associate, Disassociate, UpdateIP;
//     static NAT and port forwarding (portforward.go); ingress, egress and port forwarding
//     rules (rules.go: CreateRule, RevokeRule, and ApplyRules, the one step every rule job
//     takes to program the network's router, which for now only moves the rows' states);
//   - physical networks: CreatePhysical (with its default providers), UpdatePhysical (its
//     VLAN/VNI ranges), DeletePhysical, and their traffic types;
//   - load-balancer rules on an isolated network's public addresses (lb*.go): CreateLB,
//     UpdateLB, DeleteLB, AssignLB, RemoveLB, stickiness and health-check policies, with one
//     router step, ApplyLB, and LBPublicPortRanges for the other rule families' conflicts.
//
// Address arithmetic is on net/netip (ipv4.go: Subnet, IPRange); addresses are numbered only
// where the database keys them by number.
package network
