-- Public IPs of Isolated networks beyond their source NAT address (associateIpAddress), static
-- NAT and the network rules on them (CloudStack's firewall_rules, port_forwarding_rules and
-- firewall_rules_cidrs in one table).
--   public_ips.vm_id / vm_ip: the VM and guest address an IP is static-NATed to (CloudStack's
--     one_to_one_nat, vm_id and vm_ip); NULL when static NAT is off.
--   public_ips.for_display: updateIpAddress fordisplay.
ALTER TABLE public_ips ADD COLUMN vm_id VARCHAR(40) NULL;
ALTER TABLE public_ips ADD COLUMN vm_ip VARCHAR(64) NULL;
ALTER TABLE public_ips ADD COLUMN for_display INTEGER NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS public_ips_network ON public_ips (network_id);

-- A network rule: purpose Firewall (traffic_type Ingress, on ip_id; or Egress, per network),
-- or PortForwarding (on ip_id, to vm_id's vm_ip). state is Add until the rule is applied
-- (network.ApplyRules), then Active; Revoke while its deletion is applied, then the row goes.
-- cidrs and dest_cidrs are comma-separated. related_rule_id is the port forwarding rule a
-- firewall rule was opened for (openfirewall) and goes with it. Load balancer rules keep
-- their own table.
CREATE TABLE IF NOT EXISTS firewall_rules (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  purpose VARCHAR(16) NOT NULL,
  traffic_type VARCHAR(16) NOT NULL,
  state VARCHAR(16) NOT NULL,
  network_id VARCHAR(40) NOT NULL,
  ip_id VARCHAR(40) NULL,
  account_id VARCHAR(40) NULL,
  domain_id VARCHAR(40) NOT NULL,
  protocol VARCHAR(16) NOT NULL,
  start_port INTEGER NULL,
  end_port INTEGER NULL,
  icmp_type INTEGER NULL,
  icmp_code INTEGER NULL,
  cidrs VARCHAR(2048) NULL,
  dest_cidrs VARCHAR(2048) NULL,
  vm_id VARCHAR(40) NULL,
  vm_ip VARCHAR(64) NULL,
  dest_start_port INTEGER NULL,
  dest_end_port INTEGER NULL,
  related_rule_id VARCHAR(40) NULL,
  for_display INTEGER NOT NULL DEFAULT 1,
  created BIGINT NOT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS firewall_rules_ip ON firewall_rules (ip_id, purpose);
CREATE INDEX IF NOT EXISTS firewall_rules_network ON firewall_rules (network_id, purpose);
CREATE INDEX IF NOT EXISTS firewall_rules_vm ON firewall_rules (vm_id);
CREATE INDEX IF NOT EXISTS firewall_rules_account ON firewall_rules (account_id);
