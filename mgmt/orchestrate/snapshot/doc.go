// Package snapshot holds the volume snapshot workflows: taking a snapshot (on a host that
// reaches the volume's pool, backed up to an image store of the zone), deleting and reverting
// one, the snapshot policies' writes and the scheduler's firing of a due policy, with their
// transactions, resource counts, jobs and storage commands to agents.
package snapshot
