// Package vm holds the virtual machine workflows: deploy, start, stop, reboot, destroy,
// recover, expunge, migrate, scale and the changes of a VM's offering and properties, the
// power-state sync from agent reports and the expunge sweep. Each takes plain inputs (the
// actor, ids, a spec), opens its transactions, runs the agent commands and returns the VM row
// or a CloudStack error; mgmt/api parses, validates and renders around it.
package vm
