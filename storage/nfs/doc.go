// Package nfs opens NFS primary storage pools and image stores in one of two modes: kernel
// (mount the export at /mnt/<pool uuid>, as CloudStack does, then use files) or userspace
// (qemu-img with nfs:// URLs and a small NFSv3 client for the rest), picked by probing
// whether the kernel has an NFS client, or forced by configuration.
package nfs
