// Package allinone makes the machine `atoll up --hypervisor kvm` runs on a KVM host of a ready
// zone: it reaches (or starts, through scripts/libvirtd.sh) libvirtd, serves NFS primary and
// secondary storage with nfs-ganesha on loopback (scripts/ganesha.sh) or keeps primary storage in
// a local directory, builds the zone once through the API, runs the host agent in-process and
// registers the tiny template from a loopback HTTP server; Stop ends what it started.
package allinone
