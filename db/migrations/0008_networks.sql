-- Guest networks (CloudStack's networks table) and the guest IPv4 addresses their NICs hold.

-- A guest network. Isolated networks are Allocated until their first VM, then Implemented
-- with a VNI/VLAN (broadcast_uri, from vnet_allocations) and, with SourceNat, a source NAT
-- address (public_ips.network_id, source_nat = 1). Shared networks take their addresses from
-- their IP ranges (vlan_ranges.network_id) and are Setup from the start. services is the
-- offering's service list (comma-separated), copied at creation (an offering in use cannot
-- change its services).
CREATE TABLE IF NOT EXISTS networks (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  display_text VARCHAR(255) NULL,
  zone_id VARCHAR(40) NOT NULL,
  physical_network_id VARCHAR(40) NULL,
  account_id VARCHAR(40) NULL,
  domain_id VARCHAR(40) NOT NULL,
  network_offering_id VARCHAR(40) NOT NULL,
  guest_type VARCHAR(16) NOT NULL,
  traffic_type VARCHAR(16) NOT NULL,
  cidr VARCHAR(64) NULL,
  gateway VARCHAR(64) NULL,
  netmask VARCHAR(64) NULL,
  network_domain VARCHAR(255) NULL,
  broadcast_uri VARCHAR(255) NULL,
  broadcast_domain_type VARCHAR(16) NULL,
  state VARCHAR(16) NOT NULL,
  acl_type VARCHAR(16) NOT NULL,
  subdomain_access INTEGER NOT NULL DEFAULT 0,
  services VARCHAR(1024) NULL,
  specify_ip_ranges INTEGER NOT NULL DEFAULT 0,
  is_system INTEGER NOT NULL DEFAULT 0,
  restart_required INTEGER NOT NULL DEFAULT 0,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS networks_account ON networks (account_id, zone_id);
CREATE INDEX IF NOT EXISTS networks_zone ON networks (zone_id, guest_type);
CREATE INDEX IF NOT EXISTS networks_domain ON networks (domain_id);

-- One row per guest IPv4 address a NIC holds in a network: the primary key is what makes an
-- address unique in its network under concurrent deploys. ip_num is the address as a number.
CREATE TABLE IF NOT EXISTS network_ips (
  network_id VARCHAR(40) NOT NULL,
  ip_num BIGINT NOT NULL,
  address VARCHAR(64) NOT NULL,
  nic_id VARCHAR(40) NULL,
  allocated BIGINT NOT NULL,
  PRIMARY KEY (network_id, ip_num)
){{TABLE}};
