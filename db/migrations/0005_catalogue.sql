-- The catalogue: service (compute), disk, network and VPC offerings, guest OS categories and
-- types, resource limits and counts. The defaults CloudStack ships (Small Instance, the
-- Default* network offerings, the guest OS list ...) are seeded once by db.SeedCatalogue at
-- bootstrap so that their ids are UUIDs generated at insert; catalogue_seeds records which
-- seed sets were applied.

-- domain_ids and zone_ids are comma lists of uuids; empty means every domain (public) or zone.
-- details is a JSON object (mincpunumber, maxcpunumber, minmemory, maxmemory, ...).
CREATE TABLE IF NOT EXISTS service_offerings (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  display_text {{TEXT}} NULL,
  cpu_number INTEGER NOT NULL DEFAULT 0,
  cpu_speed BIGINT NOT NULL DEFAULT 0,
  memory BIGINT NOT NULL DEFAULT 0,
  customized INTEGER NOT NULL DEFAULT 0,
  details {{TEXT}} NULL,
  storage_type VARCHAR(16) NOT NULL DEFAULT 'shared',
  provisioning_type VARCHAR(16) NOT NULL DEFAULT 'thin',
  host_tag VARCHAR(1024) NULL,
  storage_tags VARCHAR(1024) NULL,
  offer_ha INTEGER NOT NULL DEFAULT 0,
  limit_cpu_use INTEGER NOT NULL DEFAULT 0,
  is_volatile INTEGER NOT NULL DEFAULT 0,
  dynamic_scaling INTEGER NOT NULL DEFAULT 1,
  deployment_planner VARCHAR(255) NULL,
  root_disk_size BIGINT NOT NULL DEFAULT 0,
  disk_offering_id VARCHAR(40) NULL,
  customized_iops INTEGER NOT NULL DEFAULT 0,
  min_iops BIGINT NULL,
  max_iops BIGINT NULL,
  hypervisor_snapshot_reserve INTEGER NULL,
  network_rate INTEGER NULL,
  cache_mode VARCHAR(16) NULL,
  domain_ids {{TEXT}} NULL,
  zone_ids {{TEXT}} NULL,
  is_system INTEGER NOT NULL DEFAULT 0,
  system_vm_type VARCHAR(64) NULL,
  is_default INTEGER NOT NULL DEFAULT 0,
  state VARCHAR(16) NOT NULL DEFAULT 'Active',
  sort_key INTEGER NOT NULL DEFAULT 0,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS service_offerings_name ON service_offerings (name);

CREATE TABLE IF NOT EXISTS disk_offerings (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  display_text {{TEXT}} NULL,
  disk_size BIGINT NOT NULL DEFAULT 0,
  customized INTEGER NOT NULL DEFAULT 0,
  tags VARCHAR(1024) NULL,
  storage_type VARCHAR(16) NOT NULL DEFAULT 'shared',
  provisioning_type VARCHAR(16) NOT NULL DEFAULT 'thin',
  customized_iops INTEGER NOT NULL DEFAULT 0,
  min_iops BIGINT NULL,
  max_iops BIGINT NULL,
  hypervisor_snapshot_reserve INTEGER NULL,
  cache_mode VARCHAR(16) NULL,
  display_offering INTEGER NOT NULL DEFAULT 1,
  disk_size_strictness INTEGER NOT NULL DEFAULT 0,
  encrypt INTEGER NOT NULL DEFAULT 0,
  domain_ids {{TEXT}} NULL,
  zone_ids {{TEXT}} NULL,
  is_default INTEGER NOT NULL DEFAULT 0,
  state VARCHAR(16) NOT NULL DEFAULT 'Active',
  sort_key INTEGER NOT NULL DEFAULT 0,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS disk_offerings_name ON disk_offerings (name);

-- services is a JSON object service -> provider; capabilities a JSON list of
-- {service, name, value}; details a JSON object. Names are unique among live offerings.
CREATE TABLE IF NOT EXISTS network_offerings (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  unique_name VARCHAR(255) NULL,
  display_text {{TEXT}} NULL,
  guest_ip_type VARCHAR(16) NOT NULL,
  traffic_type VARCHAR(16) NOT NULL DEFAULT 'Guest',
  services {{TEXT}} NULL,
  capabilities {{TEXT}} NULL,
  details {{TEXT}} NULL,
  specify_vlan INTEGER NOT NULL DEFAULT 0,
  specify_ip_ranges INTEGER NOT NULL DEFAULT 0,
  is_default INTEGER NOT NULL DEFAULT 0,
  is_system INTEGER NOT NULL DEFAULT 0,
  availability VARCHAR(16) NOT NULL DEFAULT 'Optional',
  state VARCHAR(16) NOT NULL DEFAULT 'Disabled',
  conserve_mode INTEGER NOT NULL DEFAULT 1,
  egress_default_policy INTEGER NOT NULL DEFAULT 0,
  network_rate INTEGER NULL,
  tags VARCHAR(1024) NULL,
  for_vpc INTEGER NOT NULL DEFAULT 0,
  for_nsx INTEGER NOT NULL DEFAULT 0,
  is_persistent INTEGER NOT NULL DEFAULT 0,
  internet_protocol VARCHAR(16) NULL,
  service_offering_id VARCHAR(40) NULL,
  max_connections INTEGER NULL,
  keep_alive_enabled INTEGER NOT NULL DEFAULT 0,
  supports_strechted_l2 INTEGER NOT NULL DEFAULT 0,
  supports_public_access INTEGER NOT NULL DEFAULT 0,
  domain_ids {{TEXT}} NULL,
  zone_ids {{TEXT}} NULL,
  sort_key INTEGER NOT NULL DEFAULT 0,
  live_key VARCHAR(300) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS network_offerings_live ON network_offerings (live_key);

-- services is a JSON object service -> list of providers.
CREATE TABLE IF NOT EXISTS vpc_offerings (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  unique_name VARCHAR(255) NULL,
  display_text {{TEXT}} NULL,
  services {{TEXT}} NULL,
  capabilities {{TEXT}} NULL,
  is_default INTEGER NOT NULL DEFAULT 0,
  state VARCHAR(16) NOT NULL DEFAULT 'Disabled',
  service_offering_id VARCHAR(40) NULL,
  internet_protocol VARCHAR(16) NULL,
  distributed_router INTEGER NOT NULL DEFAULT 0,
  region_level INTEGER NOT NULL DEFAULT 0,
  domain_ids {{TEXT}} NULL,
  zone_ids {{TEXT}} NULL,
  sort_key INTEGER NOT NULL DEFAULT 0,
  live_key VARCHAR(300) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS vpc_offerings_live ON vpc_offerings (live_key);

CREATE TABLE IF NOT EXISTS os_categories (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  featured INTEGER NOT NULL DEFAULT 0,
  sort_key INTEGER NOT NULL DEFAULT 0,
  created BIGINT NOT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS os_categories_name ON os_categories (name);

-- A guest OS type. live_key is the lower-cased description, unique among live rows.
CREATE TABLE IF NOT EXISTS os_types (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  category_id VARCHAR(40) NOT NULL,
  description VARCHAR(255) NOT NULL,
  is_user_defined INTEGER NOT NULL DEFAULT 0,
  for_display INTEGER NOT NULL DEFAULT 1,
  live_key VARCHAR(300) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS os_types_live ON os_types (live_key);
CREATE INDEX IF NOT EXISTS os_types_category ON os_types (category_id);

-- An explicit limit for an account or a domain (owner_type 'account' or 'domain'); without a
-- row the max.account.* / max.domain.* settings apply. max is in CloudStack's stored units
-- (bytes for storage types, MiB for memory); -1 is unlimited.
CREATE TABLE IF NOT EXISTS resource_limits (
  owner_type VARCHAR(16) NOT NULL,
  owner_id VARCHAR(40) NOT NULL,
  resource_type VARCHAR(32) NOT NULL,
  max_value BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  PRIMARY KEY (owner_type, owner_id, resource_type)
){{TABLE}};

-- What an account or a non-ROOT domain holds (bytes for storage, MiB for memory). Rows are
-- created on first charge; a missing row counts 0. The ROOT domain's count is the sum over
-- every account, computed when read (ROOT is unlimited, so nothing has to check it).
-- last_charge is a token of the charge that last changed the row (see db.AddResourceCounts).
CREATE TABLE IF NOT EXISTS resource_counts (
  owner_type VARCHAR(16) NOT NULL,
  owner_id VARCHAR(40) NOT NULL,
  resource_type VARCHAR(32) NOT NULL,
  count_value BIGINT NOT NULL DEFAULT 0,
  last_charge VARCHAR(40) NULL,
  PRIMARY KEY (owner_type, owner_id, resource_type)
){{TABLE}};

CREATE TABLE IF NOT EXISTS catalogue_seeds (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  applied BIGINT NOT NULL
){{TABLE}};
