// Package storage holds the primary and secondary storage drivers (NFS, local), qcow2 volumes,
// templates and snapshots. It never imports db or mgmt.
package storage
