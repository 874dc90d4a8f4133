// Package planner owns the capacity ledger's rules: it reserves and releases CPU, memory,
// storage, public addresses and guest VNIs through conditional updates of db's capacity rows,
// applying CloudStack's over-provisioning factors and allocation disable thresholds, sums the
// ledger for listCapacity, and checks it against what it is derived from (Recompute).
//
// Ledger rows, by capacity type: memory (0), CPU MHz (1) and CPU cores (90) per routing host
// (object id the host's); primary storage used (2) and allocated (3) per storage pool (the
// pool's id); virtual-network (4) and direct-attached (8) public addresses per zone (the
// zone's id); guest VLANs/VNIs (7) per physical network of an Advanced zone (the network's
// id). Totals are physical amounts; factors apply when checking and reporting. Deployment
// planning (choosing hosts) will live here too.
package planner
