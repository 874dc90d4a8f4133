-- Infrastructure: zones, pods, clusters, hosts, physical networks and their traffic types and
-- service providers, public IP ranges and addresses, guest VNIs, storage pools, image stores,
-- the capacity ledger, alerts, the agent CA and host registration, simulator fault injection.

CREATE TABLE IF NOT EXISTS zones (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  description VARCHAR(1024) NULL,
  network_type VARCHAR(16) NOT NULL,
  dns1 VARCHAR(64) NULL,
  dns2 VARCHAR(64) NULL,
  internal_dns1 VARCHAR(64) NULL,
  internal_dns2 VARCHAR(64) NULL,
  ip6_dns1 VARCHAR(64) NULL,
  ip6_dns2 VARCHAR(64) NULL,
  network_domain VARCHAR(255) NULL,
  domain_id VARCHAR(40) NULL,
  guest_cidr VARCHAR(64) NULL,
  allocation_state VARCHAR(16) NOT NULL,
  local_storage_enabled INTEGER NOT NULL DEFAULT 0,
  security_groups_enabled INTEGER NOT NULL DEFAULT 0,
  dhcp_provider VARCHAR(64) NULL,
  zone_token VARCHAR(64) NOT NULL,
  live_key VARCHAR(300) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS zones_live ON zones (live_key);

CREATE TABLE IF NOT EXISTS pods (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  zone_id VARCHAR(40) NOT NULL,
  name VARCHAR(255) NOT NULL,
  gateway VARCHAR(64) NULL,
  netmask VARCHAR(64) NULL,
  start_ip VARCHAR(64) NULL,
  end_ip VARCHAR(64) NULL,
  allocation_state VARCHAR(16) NOT NULL,
  live_key VARCHAR(320) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS pods_live ON pods (live_key);
CREATE INDEX IF NOT EXISTS pods_zone ON pods (zone_id);

CREATE TABLE IF NOT EXISTS clusters (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  zone_id VARCHAR(40) NOT NULL,
  pod_id VARCHAR(40) NOT NULL,
  name VARCHAR(255) NOT NULL,
  hypervisor_type VARCHAR(32) NOT NULL,
  cluster_type VARCHAR(32) NOT NULL,
  allocation_state VARCHAR(16) NOT NULL,
  managed_state VARCHAR(16) NOT NULL DEFAULT 'Managed',
  arch VARCHAR(16) NOT NULL DEFAULT 'x86_64',
  live_key VARCHAR(320) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS clusters_live ON clusters (live_key);
CREATE INDEX IF NOT EXISTS clusters_pod ON clusters (pod_id);

-- A host. status follows heartbeats (Connecting, Up, Disconnected, Alert, Down, Removed);
-- resource_state follows the admin (Enabled, Disabled, PrepareForMaintenance, Maintenance,
-- ErrorInMaintenance). owner is the management server holding the agent's connection.
CREATE TABLE IF NOT EXISTS hosts (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  guid VARCHAR(255) NOT NULL,
  type VARCHAR(32) NOT NULL,
  zone_id VARCHAR(40) NOT NULL,
  pod_id VARCHAR(40) NULL,
  cluster_id VARCHAR(40) NULL,
  hypervisor_type VARCHAR(32) NOT NULL,
  hypervisor_version VARCHAR(64) NULL,
  url VARCHAR(1024) NULL,
  ip_address VARCHAR(64) NULL,
  status VARCHAR(32) NOT NULL,
  resource_state VARCHAR(32) NOT NULL,
  cpu_sockets INTEGER NOT NULL DEFAULT 0,
  cpus INTEGER NOT NULL DEFAULT 0,
  cpu_speed BIGINT NOT NULL DEFAULT 0,
  memory BIGINT NOT NULL DEFAULT 0,
  local_storage BIGINT NOT NULL DEFAULT 0,
  capabilities VARCHAR(1024) NULL,
  host_tags VARCHAR(1024) NULL,
  agent_version VARCHAR(64) NULL,
  owner VARCHAR(64) NULL,
  last_ping BIGINT NOT NULL DEFAULT 0,
  disconnected BIGINT NULL,
  cert_serial VARCHAR(64) NULL,
  live_key VARCHAR(300) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS hosts_live ON hosts (live_key);
CREATE INDEX IF NOT EXISTS hosts_cluster ON hosts (cluster_id);
CREATE INDEX IF NOT EXISTS hosts_zone ON hosts (zone_id, type);
CREATE INDEX IF NOT EXISTS hosts_owner ON hosts (owner);
CREATE INDEX IF NOT EXISTS hosts_ping ON hosts (status, last_ping);

CREATE TABLE IF NOT EXISTS physical_networks (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  zone_id VARCHAR(40) NOT NULL,
  name VARCHAR(255) NOT NULL,
  isolation_methods VARCHAR(255) NULL,
  vlan VARCHAR(1024) NULL,
  broadcast_domain_range VARCHAR(16) NOT NULL,
  network_speed VARCHAR(32) NULL,
  tags VARCHAR(1024) NULL,
  state VARCHAR(16) NOT NULL,
  domain_id VARCHAR(40) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS physical_networks_zone ON physical_networks (zone_id);

CREATE TABLE IF NOT EXISTS traffic_types (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  physical_network_id VARCHAR(40) NOT NULL,
  traffic_type VARCHAR(32) NOT NULL,
  kvm_label VARCHAR(255) NULL,
  xen_label VARCHAR(255) NULL,
  vmware_label VARCHAR(255) NULL,
  hyperv_label VARCHAR(255) NULL,
  ovm3_label VARCHAR(255) NULL,
  vlan VARCHAR(64) NULL,
  isolation_method VARCHAR(32) NULL,
  live_key VARCHAR(100) NULL,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS traffic_types_live ON traffic_types (live_key);

CREATE TABLE IF NOT EXISTS network_service_providers (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  physical_network_id VARCHAR(40) NOT NULL,
  name VARCHAR(64) NOT NULL,
  state VARCHAR(16) NOT NULL,
  destination_physical_network_id VARCHAR(40) NULL,
  services VARCHAR(1024) NULL,
  live_key VARCHAR(120) NULL,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS nsp_live ON network_service_providers (live_key);

CREATE TABLE IF NOT EXISTS virtual_router_elements (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  nsp_id VARCHAR(40) NOT NULL,
  type VARCHAR(32) NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS vre_nsp ON virtual_router_elements (nsp_id);

-- CloudStack's "vlan" table: an IP range, public (for_virtual_network) or shared/direct.
CREATE TABLE IF NOT EXISTS vlan_ranges (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  zone_id VARCHAR(40) NOT NULL,
  pod_id VARCHAR(40) NULL,
  physical_network_id VARCHAR(40) NULL,
  network_id VARCHAR(40) NULL,
  vlan_tag VARCHAR(64) NOT NULL,
  gateway VARCHAR(64) NULL,
  netmask VARCHAR(64) NULL,
  start_ip VARCHAR(64) NULL,
  end_ip VARCHAR(64) NULL,
  ip6_gateway VARCHAR(64) NULL,
  ip6_cidr VARCHAR(64) NULL,
  start_ipv6 VARCHAR(64) NULL,
  end_ipv6 VARCHAR(64) NULL,
  for_virtual_network INTEGER NOT NULL DEFAULT 1,
  for_system_vms INTEGER NOT NULL DEFAULT 0,
  account_id VARCHAR(40) NULL,
  domain_id VARCHAR(40) NULL,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS vlan_ranges_zone ON vlan_ranges (zone_id);

-- One row per public address of a range (CloudStack's user_ip_address).
CREATE TABLE IF NOT EXISTS public_ips (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  zone_id VARCHAR(40) NOT NULL,
  vlan_id VARCHAR(40) NOT NULL,
  address VARCHAR(64) NOT NULL,
  state VARCHAR(16) NOT NULL,
  account_id VARCHAR(40) NULL,
  domain_id VARCHAR(40) NULL,
  network_id VARCHAR(40) NULL,
  vpc_id VARCHAR(40) NULL,
  source_nat INTEGER NOT NULL DEFAULT 0,
  is_system INTEGER NOT NULL DEFAULT 0,
  allocated BIGINT NULL,
  version BIGINT NOT NULL DEFAULT 0
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS public_ips_address ON public_ips (zone_id, address);
CREATE INDEX IF NOT EXISTS public_ips_vlan ON public_ips (vlan_id, state);

-- Guest VLAN/VNI allocations of a physical network; the range itself is physical_networks.vlan.
CREATE TABLE IF NOT EXISTS vnet_allocations (
  physical_network_id VARCHAR(40) NOT NULL,
  vnet INTEGER NOT NULL,
  zone_id VARCHAR(40) NOT NULL,
  account_id VARCHAR(40) NULL,
  network_id VARCHAR(40) NULL,
  allocated BIGINT NOT NULL,
  PRIMARY KEY (physical_network_id, vnet)
){{TABLE}};

CREATE TABLE IF NOT EXISTS storage_pools (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  zone_id VARCHAR(40) NOT NULL,
  pod_id VARCHAR(40) NULL,
  cluster_id VARCHAR(40) NULL,
  host_id VARCHAR(40) NULL,
  scope VARCHAR(16) NOT NULL,
  pool_type VARCHAR(32) NOT NULL,
  host_address VARCHAR(255) NULL,
  path VARCHAR(1024) NULL,
  port INTEGER NOT NULL DEFAULT 0,
  url VARCHAR(1024) NOT NULL,
  provider VARCHAR(64) NOT NULL,
  hypervisor VARCHAR(32) NULL,
  capacity_bytes BIGINT NOT NULL DEFAULT 0,
  capacity_iops BIGINT NULL,
  used_bytes BIGINT NOT NULL DEFAULT 0,
  tags VARCHAR(1024) NULL,
  status VARCHAR(32) NOT NULL,
  managed INTEGER NOT NULL DEFAULT 0,
  live_key VARCHAR(320) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS storage_pools_live ON storage_pools (live_key);
CREATE INDEX IF NOT EXISTS storage_pools_cluster ON storage_pools (cluster_id);
CREATE INDEX IF NOT EXISTS storage_pools_zone ON storage_pools (zone_id);

CREATE TABLE IF NOT EXISTS image_stores (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  zone_id VARCHAR(40) NULL,
  url VARCHAR(1024) NOT NULL,
  protocol VARCHAR(32) NULL,
  provider VARCHAR(64) NOT NULL,
  scope VARCHAR(16) NOT NULL,
  role VARCHAR(16) NOT NULL DEFAULT 'Image',
  read_only INTEGER NOT NULL DEFAULT 0,
  capacity_bytes BIGINT NOT NULL DEFAULT 0,
  used_bytes BIGINT NOT NULL DEFAULT 0,
  live_key VARCHAR(300) NULL,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS image_stores_live ON image_stores (live_key);

-- The capacity ledger: one row per (type, object). used and reserved change in the same
-- transactions that create and destroy what uses them, by conditional updates; total is the
-- physical amount (over-provisioning factors apply when checking). Types are CloudStack's:
-- 0 memory, 1 cpu (MHz), 2 primary storage used, 3 primary storage allocated, 4 public IPs,
-- 5 private IPs, 6 secondary storage, 7 guest VLANs/VNIs, 9 local storage, 90 cpu cores.
CREATE TABLE IF NOT EXISTS capacity (
  capacity_type INTEGER NOT NULL,
  object_id VARCHAR(40) NOT NULL,
  zone_id VARCHAR(40) NOT NULL,
  pod_id VARCHAR(40) NULL,
  cluster_id VARCHAR(40) NULL,
  used BIGINT NOT NULL DEFAULT 0,
  reserved BIGINT NOT NULL DEFAULT 0,
  total BIGINT NOT NULL DEFAULT 0,
  enabled INTEGER NOT NULL DEFAULT 1,
  updated BIGINT NOT NULL,
  PRIMARY KEY (capacity_type, object_id)
){{TABLE}};
CREATE INDEX IF NOT EXISTS capacity_zone ON capacity (zone_id, capacity_type);
CREATE INDEX IF NOT EXISTS capacity_cluster ON capacity (cluster_id, capacity_type);

CREATE TABLE IF NOT EXISTS alerts (
  seq {{AUTOINC}},
  id VARCHAR(40) NOT NULL,
  type INTEGER NOT NULL,
  name VARCHAR(255) NULL,
  zone_id VARCHAR(40) NULL,
  pod_id VARCHAR(40) NULL,
  cluster_id VARCHAR(40) NULL,
  subject VARCHAR(1024) NOT NULL,
  content VARCHAR(4096) NULL,
  created BIGINT NOT NULL,
  archived INTEGER NOT NULL DEFAULT 0
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS alerts_id ON alerts (id);

-- The management servers' certificate authority for agent TLS (key encrypted by the keyring).
CREATE TABLE IF NOT EXISTS certificate_authority (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  cert_pem {{TEXT}} NOT NULL,
  key_enc {{TEXT}} NOT NULL,
  created BIGINT NOT NULL
){{TABLE}};

-- One-time registration tokens with which an agent obtains its certificate.
CREATE TABLE IF NOT EXISTS host_tokens (
  token_hash VARCHAR(64) NOT NULL PRIMARY KEY,
  zone_id VARCHAR(40) NULL,
  pod_id VARCHAR(40) NULL,
  cluster_id VARCHAR(40) NULL,
  host_id VARCHAR(40) NULL,
  expires BIGINT NOT NULL,
  used BIGINT NULL,
  created BIGINT NOT NULL
){{TABLE}};

-- Commands for an agent whose connection another management server holds.
CREATE TABLE IF NOT EXISTS agent_commands (
  seq {{AUTOINC}},
  id VARCHAR(40) NOT NULL,
  host_id VARCHAR(40) NOT NULL,
  owner VARCHAR(64) NULL,
  body {{TEXT}} NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  result {{TEXT}} NULL,
  created BIGINT NOT NULL,
  deadline BIGINT NOT NULL,
  completed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS agent_commands_id ON agent_commands (id);
CREATE INDEX IF NOT EXISTS agent_commands_host ON agent_commands (host_id, status);

-- Simulator fault injection: latency and failure per command, scoped to a zone, cluster or host.
CREATE TABLE IF NOT EXISTS simulator_faults (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  scope_type VARCHAR(16) NOT NULL,
  scope_id VARCHAR(40) NOT NULL,
  command VARCHAR(128) NOT NULL,
  latency_ms INTEGER NOT NULL DEFAULT 0,
  fail INTEGER NOT NULL DEFAULT 0,
  message VARCHAR(1024) NULL,
  created BIGINT NOT NULL
){{TABLE}};
