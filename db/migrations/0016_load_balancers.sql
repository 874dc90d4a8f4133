-- Load-balancer rules on public addresses (CloudStack's load_balancing_rules over
-- firewall_rules, load_balancer_vm_map, load_balancer_stickiness_policies and
-- load_balancer_healthcheck_policies), for isolated networks' public IPs.
--
-- A rule balances one public port of a public_ips row (owned by the rule's network) over a
-- private port of the VMs mapped to it. state follows CloudStack's FirewallRule.State: Add
-- (being programmed, or no VM to balance to), Active (programmed), Revoke (being removed; the
-- row goes once the router no longer has it). Rows marked revoked = 1 (VM mappings, policies)
-- are likewise on their way out. live_key makes a public port of an address unique among the
-- address's rules that are not being revoked: '<public_ip_id>/<public_port>', NULL once
-- Revoke. open_firewall: createLoadBalancerRule's openfirewall (the firewall rule it asks for
-- is the firewall family's to make).
CREATE TABLE IF NOT EXISTS load_balancer_rules (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  description VARCHAR(4096) NULL,
  public_ip_id VARCHAR(40) NOT NULL,
  network_id VARCHAR(40) NOT NULL,
  zone_id VARCHAR(40) NOT NULL,
  account_id VARCHAR(40) NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  public_port INTEGER NOT NULL,
  private_port INTEGER NOT NULL,
  algorithm VARCHAR(32) NOT NULL,
  protocol VARCHAR(16) NULL,
  cidr_list VARCHAR(4096) NULL,
  state VARCHAR(16) NOT NULL,
  display INTEGER NOT NULL DEFAULT 1,
  open_firewall INTEGER NOT NULL DEFAULT 1,
  live_key VARCHAR(64) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS load_balancer_rules_live ON load_balancer_rules (live_key);
CREATE INDEX IF NOT EXISTS load_balancer_rules_ip ON load_balancer_rules (public_ip_id);
CREATE INDEX IF NOT EXISTS load_balancer_rules_network ON load_balancer_rules (network_id);
CREATE INDEX IF NOT EXISTS load_balancer_rules_account ON load_balancer_rules (account_id);

-- The VMs (and which of their addresses in the rule's network) a rule balances to.
CREATE TABLE IF NOT EXISTS lb_vm_map (
  lb_id VARCHAR(40) NOT NULL,
  vm_id VARCHAR(40) NOT NULL,
  vm_ip VARCHAR(64) NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  state VARCHAR(32) NULL,
  created BIGINT NOT NULL,
  PRIMARY KEY (lb_id, vm_id, vm_ip)
){{TABLE}};
CREATE INDEX IF NOT EXISTS lb_vm_map_vm ON lb_vm_map (vm_id);

-- A rule's stickiness policy: method LbCookie, AppCookie or SourceBased with its parameters
-- (params: JSON object of name -> value, a flag's value "").
CREATE TABLE IF NOT EXISTS lb_stickiness_policies (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  lb_id VARCHAR(40) NOT NULL,
  name VARCHAR(255) NOT NULL,
  description VARCHAR(4096) NULL,
  method VARCHAR(32) NOT NULL,
  params VARCHAR(4096) NOT NULL,
  display INTEGER NOT NULL DEFAULT 1,
  revoked INTEGER NOT NULL DEFAULT 0,
  created BIGINT NOT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS lb_stickiness_policies_lb ON lb_stickiness_policies (lb_id);

-- A rule's health check (HTTP ping path, times in seconds, thresholds).
CREATE TABLE IF NOT EXISTS lb_healthcheck_policies (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  lb_id VARCHAR(40) NOT NULL,
  description VARCHAR(4096) NULL,
  ping_path VARCHAR(255) NOT NULL,
  response_time INTEGER NOT NULL,
  interval_time INTEGER NOT NULL,
  healthy_threshold INTEGER NOT NULL,
  unhealthy_threshold INTEGER NOT NULL,
  display INTEGER NOT NULL DEFAULT 1,
  revoked INTEGER NOT NULL DEFAULT 0,
  created BIGINT NOT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS lb_healthcheck_policies_lb ON lb_healthcheck_policies (lb_id);
