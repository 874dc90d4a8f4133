-- Security groups (Basic zones and security-group-enabled Advanced zones), as CloudStack's
-- security_group, security_group_rule and security_group_vm_map.
--   security_groups: one per account and name (live_key = account id + "/" + lower(name));
--     every account has one named "default", made with the account (or on first use).
--   security_group_rules: type ingress or egress; protocol tcp, udp, icmp, all or a protocol
--     number; start_port/end_port the port range (tcp, udp), the ICMP type and code (icmp, -1
--     for any), 0/0 otherwise; the peer is a CIDR or another group (allowed_group_id). rule_key
--     (group, type, protocol, ports, peer) makes a rule given twice one rule.
--   security_group_vm_map: the groups of each VM. It replaces vm_instances.security_groups,
--     where early deploys recorded the groups asked for, unchecked; servers move such records
--     here at start (securitygroup.AdoptLegacy, which needs Go to make the groups named).
CREATE TABLE IF NOT EXISTS security_groups (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  description VARCHAR(4096) NULL,
  account_id VARCHAR(40) NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  live_key VARCHAR(320) NOT NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS security_groups_live ON security_groups (live_key);
CREATE INDEX IF NOT EXISTS security_groups_account ON security_groups (account_id);

CREATE TABLE IF NOT EXISTS security_group_rules (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  group_id VARCHAR(40) NOT NULL,
  type VARCHAR(16) NOT NULL,
  protocol VARCHAR(16) NOT NULL,
  start_port INTEGER NOT NULL,
  end_port INTEGER NOT NULL,
  cidr VARCHAR(64) NULL,
  allowed_group_id VARCHAR(40) NULL,
  rule_key VARCHAR(255) NOT NULL,
  created BIGINT NOT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS security_group_rules_key ON security_group_rules (rule_key);
CREATE INDEX IF NOT EXISTS security_group_rules_group ON security_group_rules (group_id);
CREATE INDEX IF NOT EXISTS security_group_rules_allowed ON security_group_rules (allowed_group_id);

CREATE TABLE IF NOT EXISTS security_group_vm_map (
  group_id VARCHAR(40) NOT NULL,
  vm_id VARCHAR(40) NOT NULL,
  created BIGINT NOT NULL,
  PRIMARY KEY (group_id, vm_id)
){{TABLE}};
CREATE INDEX IF NOT EXISTS security_group_vm_map_vm ON security_group_vm_map (vm_id);

-- The security group rule set of each host's VMs changes (securitygroup.Apply): seq counts the
-- changes, so whoever programs the host (its agent) can tell whether it has the latest.
CREATE TABLE IF NOT EXISTS security_group_host_seq (
  host_id VARCHAR(40) NOT NULL PRIMARY KEY,
  seq BIGINT NOT NULL,
  updated BIGINT NOT NULL
){{TABLE}};
