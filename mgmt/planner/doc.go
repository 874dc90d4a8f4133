// Package planner owns the capacity ledger's rules: it reserves and releases CPU, memory,
// storage, public addresses and guest VNIs through conditional updates of db's capacity rows,
// applying CloudStack's over-provisioning factors and allocation disable thresholds, sums the
// ledger for listCapacity, and checks it against what it is derived from (Recompute).
//
// Ledger rows, by capacity type: memory (0), CPU MHz (1) and CPU cores (90) per routing host
// (object id the host's); primary storage used (2) and allocated (3) per storage pool (the
// pool's id); virtual-network (4) and direct-attached (8) public addresses per zone (the
// zone's id); guest VLANs/VNIs (7) per physical network of an Advanced zone (the network's
// id). Totals are physical amounts; factors apply when checking and reporting.
//
// Deployment planning (deploy.go): Deploy reads the zone's candidate hosts with their CPU and
// memory rows in one query (Up, Enabled hosts in Enabled pods and clusters), filters them by
// the request (admin placement, host tag, anti-affinity and affinity, over-provisioned room,
// cluster disable thresholds), orders them (first fit, random, or fewest VMs of the account
// first for UserDispersingPlanner) and reserves the first that still has room by conditional
// updates; PlaceDisks/PlaceVolume choose primary storage (the host's local pool when asked,
// else the cluster's pools, then zone-wide ones; pool tags must match). VMUsage is the Usage
// Recompute checks VMs and volumes against.
package planner
