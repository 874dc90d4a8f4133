// Package host holds the host workflows: adding a host (simulated, or one whose agent has
// registered), updating, deleting it (forced: its VMs stopped and the HA ones restarted
// elsewhere), maintenance, reconnection, host tokens and simulator faults. It reaches the
// agents manager through the Agents interface, so mgmt/api never names the manager.
package host
