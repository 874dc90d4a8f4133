// Package local is the storage FS of a directory on the host: a local primary storage pool,
// a local image store, and the files of an NFS export the kernel has mounted (then every
// call runs under its context, so a hung mount costs the caller its deadline, not a hang).
package local
