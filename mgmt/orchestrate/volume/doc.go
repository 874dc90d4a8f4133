// Package volume holds the volume workflows: creating (from a disk offering or a snapshot),
// attaching, detaching, resizing, migrating, updating and deleting volumes, with their
// transactions, resource counts, pool reservations, jobs and storage commands to agents. It
// also gives the snapshot workflows the pool, host and agent helpers they share.
package volume
