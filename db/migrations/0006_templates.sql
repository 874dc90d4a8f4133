-- Templates and ISOs (CloudStack's vm_template), their copies in image stores
-- (template_store_ref), launch permissions, SSH keypairs and resource tags.

-- A template or ISO (format 'ISO'). template_type is USER, BUILTIN, SYSTEM, PERHOST or ROUTING;
-- state is Active or Inactive (CloudStack's VirtualMachineTemplate.State). account_id is empty
-- for templates the system owns (BUILTIN, SYSTEM).
CREATE TABLE IF NOT EXISTS templates (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  display_text VARCHAR(4096) NULL,
  account_id VARCHAR(40) NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  format VARCHAR(32) NOT NULL,
  hypervisor_type VARCHAR(32) NOT NULL,
  os_type_id VARCHAR(40) NULL,
  size BIGINT NOT NULL DEFAULT 0,
  physical_size BIGINT NOT NULL DEFAULT 0,
  is_public INTEGER NOT NULL DEFAULT 0,
  featured INTEGER NOT NULL DEFAULT 0,
  cross_zones INTEGER NOT NULL DEFAULT 0,
  bootable INTEGER NOT NULL DEFAULT 1,
  password_enabled INTEGER NOT NULL DEFAULT 0,
  sshkey_enabled INTEGER NOT NULL DEFAULT 0,
  dynamically_scalable INTEGER NOT NULL DEFAULT 0,
  extractable INTEGER NOT NULL DEFAULT 0,
  requires_hvm INTEGER NOT NULL DEFAULT 1,
  template_type VARCHAR(16) NOT NULL,
  checksum VARCHAR(255) NULL,
  url VARCHAR(2048) NULL,
  state VARCHAR(32) NOT NULL,
  bits INTEGER NOT NULL DEFAULT 64,
  template_tag VARCHAR(255) NULL,
  details {{TEXT}} NULL,
  source_template_id VARCHAR(40) NULL,
  source_volume_id VARCHAR(40) NULL,
  source_snapshot_id VARCHAR(40) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS templates_account ON templates (account_id, removed);
CREATE INDEX IF NOT EXISTS templates_public ON templates (is_public, featured, removed);

-- A template's copy in one image store (CloudStack's template_store_ref). download_state is
-- CloudStack's VMTemplateStorageResourceAssoc.Status: NOT_DOWNLOADED, DOWNLOAD_IN_PROGRESS,
-- DOWNLOADED, DOWNLOAD_ERROR. A simulated download ends at download_started + download_ms.
CREATE TABLE IF NOT EXISTS template_stores (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  template_id VARCHAR(40) NOT NULL,
  store_id VARCHAR(40) NOT NULL,
  zone_id VARCHAR(40) NOT NULL,
  download_state VARCHAR(32) NOT NULL,
  download_pct INTEGER NOT NULL DEFAULT 0,
  size BIGINT NOT NULL DEFAULT 0,
  physical_size BIGINT NOT NULL DEFAULT 0,
  install_path VARCHAR(1024) NULL,
  error_str VARCHAR(1024) NULL,
  simulated INTEGER NOT NULL DEFAULT 0,
  download_started BIGINT NOT NULL DEFAULT 0,
  download_ms BIGINT NOT NULL DEFAULT 0,
  live_key VARCHAR(100) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS template_stores_live ON template_stores (live_key);
CREATE INDEX IF NOT EXISTS template_stores_template ON template_stores (template_id, zone_id);
CREATE INDEX IF NOT EXISTS template_stores_zone ON template_stores (zone_id, download_state);

-- Accounts a private template or ISO is shared with (CloudStack's launch_permission).
CREATE TABLE IF NOT EXISTS template_permissions (
  template_id VARCHAR(40) NOT NULL,
  account_id VARCHAR(40) NOT NULL,
  created BIGINT NOT NULL,
  PRIMARY KEY (template_id, account_id)
){{TABLE}};
CREATE INDEX IF NOT EXISTS template_permissions_account ON template_permissions (account_id);

-- SSH keypairs (CloudStack's ssh_keypairs); names are unique per account, case-insensitively.
CREATE TABLE IF NOT EXISTS ssh_keypairs (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  account_id VARCHAR(40) NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  public_key {{TEXT}} NOT NULL,
  fingerprint VARCHAR(128) NOT NULL,
  live_key VARCHAR(300) NOT NULL,
  created BIGINT NOT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS ssh_keypairs_live ON ssh_keypairs (live_key);
CREATE INDEX IF NOT EXISTS ssh_keypairs_fingerprint ON ssh_keypairs (account_id, fingerprint);

-- Resource tags (CloudStack's resource_tags); a key is unique per resource.
CREATE TABLE IF NOT EXISTS resource_tags (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  tag_key VARCHAR(255) NOT NULL,
  tag_value VARCHAR(255) NULL,
  resource_type VARCHAR(64) NOT NULL,
  resource_id VARCHAR(40) NOT NULL,
  account_id VARCHAR(40) NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  customer VARCHAR(255) NULL,
  created BIGINT NOT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS resource_tags_key ON resource_tags (resource_type, resource_id, tag_key);
CREATE INDEX IF NOT EXISTS resource_tags_kv ON resource_tags (resource_type, tag_key, tag_value);
CREATE INDEX IF NOT EXISTS resource_tags_account ON resource_tags (account_id);

-- The built-in template of CloudStack's simulator (setup/db/templates.simulator.sql), owned by
-- the system; its copies appear, ready, in the image stores of every Simulator zone.
INSERT INTO templates (id, name, display_text, account_id, domain_id, format, hypervisor_type, size, physical_size, is_public, featured,
  cross_zones, bootable, password_enabled, extractable, requires_hvm, template_type, url, state, bits, created)
VALUES ('c5a0b9f2-5b3e-4c1a-9a43-7e0d2f4b5a11', 'CentOS 5.3(64-bit) no GUI (Simulator)', 'CentOS 5.3(64-bit) no GUI (Simulator)', '', '',
  'VHD', 'Simulator', 2147483648, 2147483648, 1, 1, 1, 1, 0, 1, 0, 'BUILTIN',
  'http://download.cloud.com/templates/builtin/f59f18fb-ae94-4f97-afd2-f84755767aca.vhd.bz2', 'Active', 64, 0);
