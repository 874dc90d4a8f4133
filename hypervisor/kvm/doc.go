// Package kvm is the hypervisor.Driver for KVM/QEMU hosts: it builds libvirt domains from
// VMSpecs (libvirtxml), CloudStack config drives (genisoimage) and drives libvirtd through
// one self-healing go-libvirt connection, including live migration, scaling and usage stats.
// scripts/libvirtd.sh starts the private libvirtd its real-daemon tests run against.
package kvm
