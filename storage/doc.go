// Package storage owns the host side of primary and secondary storage: the Pool interface
// (qcow2 volumes, linked clones from installed templates, resize, snapshot backups and
// restores, heartbeats) implemented once over an FS, and the ImageStore that downloads and
// verifies templates. Sub-packages local and nfs provide the FS for a host directory and an
// NFS export (kernel mount or userspace); it never imports db or mgmt.
package storage
