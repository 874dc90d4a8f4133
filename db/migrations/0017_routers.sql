-- The router of each isolated network (CloudStack's domain_router, role VIRTUAL_ROUTER): not a
-- VM here but a network namespace on one of the zone's hosts (network/router), placed by the
-- management server and moved when its host fails.
--   host_id: where it runs (NULL until placed, and while no host can take it).
--   state: Starting (placed, not yet applied), Running (its host applied it), Stopped, Alert
--     (its host failed and no other could take it).
--   guest_ip / guest_mac: its address on the guest network (the network's gateway); the MACs
--     are kept when it moves so that neighbours' ARP entries stay right.
--   public_ip / public_mac: its source NAT address, when the network has one.
CREATE TABLE IF NOT EXISTS routers (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  network_id VARCHAR(40) NOT NULL,
  zone_id VARCHAR(40) NOT NULL,
  account_id VARCHAR(40) NULL,
  domain_id VARCHAR(40) NOT NULL,
  host_id VARCHAR(40) NULL,
  state VARCHAR(16) NOT NULL,
  guest_ip VARCHAR(64) NULL,
  guest_mac VARCHAR(17) NOT NULL,
  public_mac VARCHAR(17) NOT NULL,
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  removed BIGINT NULL,
  version BIGINT NOT NULL DEFAULT 0
){{TABLE}};
CREATE INDEX IF NOT EXISTS routers_network ON routers (network_id, removed);
CREATE INDEX IF NOT EXISTS routers_host ON routers (host_id, removed);
