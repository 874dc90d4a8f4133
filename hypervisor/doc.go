// Package hypervisor defines the Driver interface an agent uses to run VMs on its host;
// hypervisor/simulator implements it in memory and hypervisor/kvm through libvirt. It never imports
// db or mgmt, and knows nothing of the agent protocol.
package hypervisor
