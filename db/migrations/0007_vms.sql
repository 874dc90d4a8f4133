-- Compute: virtual machines (CloudStack's vm_instance + user_vm), their volumes and NICs,
-- affinity groups and their members.

-- A user VM. seq orders lists and numbers the instance name (i-<account number>-<seq>-VM).
-- host_id holds the VM's CPU and memory reservation while the VM is Starting, Running,
-- Stopping or Migrating; migrate_host_id holds the target's while Migrating. destroyed is when
-- the VM entered Destroyed (the expunge sweeper's clock); removed is when it was expunged.
CREATE TABLE IF NOT EXISTS vm_instances (
  seq {{AUTOINC}},
  id VARCHAR(40) NOT NULL,
  name VARCHAR(255) NOT NULL,
  display_name VARCHAR(255) NULL,
  account_id VARCHAR(40) NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  zone_id VARCHAR(40) NOT NULL,
  pod_id VARCHAR(40) NULL,
  cluster_id VARCHAR(40) NULL,
  host_id VARCHAR(40) NULL,
  last_host_id VARCHAR(40) NULL,
  migrate_host_id VARCHAR(40) NULL,
  service_offering_id VARCHAR(40) NOT NULL,
  disk_offering_id VARCHAR(40) NULL,
  template_id VARCHAR(40) NULL,
  iso_id VARCHAR(40) NULL,
  os_type_id VARCHAR(40) NULL,
  hypervisor_type VARCHAR(32) NULL,
  cpu_number INTEGER NOT NULL DEFAULT 0,
  cpu_speed BIGINT NOT NULL DEFAULT 0,
  memory BIGINT NOT NULL DEFAULT 0,
  state VARCHAR(16) NOT NULL,
  power_state VARCHAR(16) NOT NULL DEFAULT 'PowerUnknown',
  power_state_updated BIGINT NULL,
  ha_enabled INTEGER NOT NULL DEFAULT 0,
  dynamically_scalable INTEGER NOT NULL DEFAULT 0,
  display_vm INTEGER NOT NULL DEFAULT 1,
  user_data {{TEXT}} NULL,
  key_pairs VARCHAR(2048) NULL,
  password VARCHAR(512) NULL,
  details {{TEXT}} NULL,
  vm_group VARCHAR(255) NULL,
  security_groups VARCHAR(2048) NULL,
  live_key VARCHAR(400) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  destroyed BIGINT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS vm_instances_id ON vm_instances (id);
CREATE UNIQUE INDEX IF NOT EXISTS vm_instances_live ON vm_instances (live_key);
CREATE INDEX IF NOT EXISTS vm_instances_account ON vm_instances (account_id, removed);
CREATE INDEX IF NOT EXISTS vm_instances_domain ON vm_instances (domain_id, removed);
CREATE INDEX IF NOT EXISTS vm_instances_host ON vm_instances (host_id);
CREATE INDEX IF NOT EXISTS vm_instances_zone ON vm_instances (zone_id, removed);
CREATE INDEX IF NOT EXISTS vm_instances_state ON vm_instances (state, destroyed);

-- A volume (CloudStack's volumes): a VM's ROOT disk or a DATADISK, attached (vm_id set) or not.
CREATE TABLE IF NOT EXISTS volumes (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  account_id VARCHAR(40) NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  zone_id VARCHAR(40) NOT NULL,
  pod_id VARCHAR(40) NULL,
  pool_id VARCHAR(40) NULL,
  vm_id VARCHAR(40) NULL,
  volume_type VARCHAR(16) NOT NULL,
  device_id INTEGER NULL,
  size BIGINT NOT NULL DEFAULT 0,
  min_iops BIGINT NULL,
  max_iops BIGINT NULL,
  disk_offering_id VARCHAR(40) NULL,
  template_id VARCHAR(40) NULL,
  snapshot_id VARCHAR(40) NULL,
  state VARCHAR(32) NOT NULL,
  path VARCHAR(1024) NULL,
  format VARCHAR(16) NULL,
  provisioning_type VARCHAR(16) NOT NULL DEFAULT 'thin',
  hypervisor_type VARCHAR(32) NULL,
  display_volume INTEGER NOT NULL DEFAULT 1,
  attached BIGINT NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS volumes_vm ON volumes (vm_id);
CREATE INDEX IF NOT EXISTS volumes_account ON volumes (account_id, removed);
CREATE INDEX IF NOT EXISTS volumes_pool ON volumes (pool_id);
CREATE INDEX IF NOT EXISTS volumes_zone ON volumes (zone_id, removed);

-- A VM's network interface. ip_key (network/address) keeps an address unique among a
-- network's live NICs; mac_key does the same for MAC addresses.
CREATE TABLE IF NOT EXISTS nics (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  vm_id VARCHAR(40) NOT NULL,
  network_id VARCHAR(40) NOT NULL,
  account_id VARCHAR(40) NULL,
  ip_address VARCHAR(64) NULL,
  netmask VARCHAR(64) NULL,
  gateway VARCHAR(64) NULL,
  ip6_address VARCHAR(64) NULL,
  ip6_gateway VARCHAR(64) NULL,
  ip6_cidr VARCHAR(64) NULL,
  mac_address VARCHAR(32) NOT NULL,
  is_default INTEGER NOT NULL DEFAULT 0,
  device_id INTEGER NOT NULL DEFAULT 0,
  broadcast_uri VARCHAR(255) NULL,
  isolation_uri VARCHAR(255) NULL,
  traffic_type VARCHAR(32) NOT NULL DEFAULT 'Guest',
  mode VARCHAR(16) NOT NULL DEFAULT 'Dhcp',
  state VARCHAR(16) NOT NULL DEFAULT 'Allocated',
  ip_key VARCHAR(120) NULL,
  mac_key VARCHAR(80) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS nics_vm ON nics (vm_id);
CREATE INDEX IF NOT EXISTS nics_network ON nics (network_id, removed);
CREATE UNIQUE INDEX IF NOT EXISTS nics_ip ON nics (ip_key);
CREATE UNIQUE INDEX IF NOT EXISTS nics_mac ON nics (mac_key);

-- Affinity groups ("host anti-affinity", "host affinity") and their member VMs.
CREATE TABLE IF NOT EXISTS affinity_groups (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  description VARCHAR(4096) NULL,
  type VARCHAR(64) NOT NULL,
  account_id VARCHAR(40) NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  acl_type VARCHAR(16) NOT NULL DEFAULT 'Account',
  live_key VARCHAR(320) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS affinity_groups_live ON affinity_groups (live_key);
CREATE INDEX IF NOT EXISTS affinity_groups_account ON affinity_groups (account_id, removed);

CREATE TABLE IF NOT EXISTS affinity_group_vm_map (
  group_id VARCHAR(40) NOT NULL,
  vm_id VARCHAR(40) NOT NULL,
  created BIGINT NOT NULL,
  PRIMARY KEY (group_id, vm_id)
){{TABLE}};
CREATE INDEX IF NOT EXISTS affinity_group_vm_map_vm ON affinity_group_vm_map (vm_id);
