// Package nfs3 is a small NFSv3 client (portmap, MOUNT v3, NFS v3 over TCP, AUTH_SYS) for
// the file operations qemu-img cannot do on an export it reaches in userspace: stat, list,
// mkdir, remove, rename, link, small reads and writes, FSSTAT. Every call takes a context
// whose deadline bounds it, so an export that stops answering is an error, never a hang.
package nfs3
