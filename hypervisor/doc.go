// Package hypervisor defines the hypervisor Driver interface; hypervisor/kvm and
// hypervisor/simulator implement it. It never imports db or mgmt.
package hypervisor
