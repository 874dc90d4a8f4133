// Package agent is the host agent: it dials a management server (TLS with a client
// certificate, or an in-memory pipe for simulated hosts), enrolls with a one-time token when it
// has no certificate, registers its host, pings, reports VM power states and answers commands
// through its hypervisor Driver. It moves to another management server when its own dies.
package agent
