// Package securitygroup holds the security group workflows of Basic zones and
// security-group-enabled Advanced zones, as CloudStack has them: groups (Create, Delete, every
// account's "default" group made by EnsureDefault), their ingress and egress rules (Authorize,
// Revoke), a VM's groups (ForVM at deploy, SetVM on updateVirtualMachine, dropped on expunge),
// and what hosts must enforce: Apply records that the rule set of the hosts running the
// groups' VMs changed (VMChanged for a VM that started, stopped or moved), and
// ComputeHostState computes, for one host, every VM NIC there with its groups' rules and the
// member addresses of every group those rules name.
package securitygroup
