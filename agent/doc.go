// Package agent is the host agent: its connection to a management server, command dispatch
// and state reports. It holds a hypervisor, a network and a storage driver (real or fake).
// It arrives with the infrastructure work; the directory exists so the layout is fixed.
package agent
