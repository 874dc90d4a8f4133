-- Volume snapshots, their copies on secondary storage, snapshot policies, and named leases
-- (one management server at a time runs a singleton such as the snapshot scheduler).

-- A volume snapshot (CloudStack's snapshots table). snapshot_type is MANUAL or RECURRING;
-- interval_type is the policy's interval (HOURLY, DAILY, WEEKLY, MONTHLY) for recurring ones.
-- state: Allocated, Creating, BackingUp, BackedUp, Error, Destroying, Destroyed. size is the
-- volume's virtual size when taken; physical_size what the copy on secondary storage takes.
CREATE TABLE IF NOT EXISTS snapshots (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  account_id VARCHAR(40) NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  zone_id VARCHAR(40) NOT NULL,
  volume_id VARCHAR(40) NOT NULL,
  volume_type VARCHAR(16) NOT NULL,
  disk_offering_id VARCHAR(40) NULL,
  policy_id VARCHAR(40) NULL,
  snapshot_type VARCHAR(16) NOT NULL,
  interval_type VARCHAR(16) NULL,
  hypervisor_type VARCHAR(32) NULL,
  size BIGINT NOT NULL DEFAULT 0,
  physical_size BIGINT NOT NULL DEFAULT 0,
  state VARCHAR(16) NOT NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS snapshots_volume ON snapshots (volume_id, removed);
CREATE INDEX IF NOT EXISTS snapshots_account ON snapshots (account_id, removed);
CREATE INDEX IF NOT EXISTS snapshots_policy ON snapshots (policy_id, removed);

-- Where a snapshot's copy lives (CloudStack's snapshot_store_ref): an image store of the
-- snapshot's zone (store_role Image). state: Creating, Ready, Destroyed.
CREATE TABLE IF NOT EXISTS snapshot_store_refs (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  snapshot_id VARCHAR(40) NOT NULL,
  store_id VARCHAR(40) NOT NULL,
  store_role VARCHAR(16) NOT NULL,
  install_path VARCHAR(1024) NULL,
  size BIGINT NOT NULL DEFAULT 0,
  physical_size BIGINT NOT NULL DEFAULT 0,
  state VARCHAR(16) NOT NULL,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS snapshot_store_refs_snapshot ON snapshot_store_refs (snapshot_id);
CREATE INDEX IF NOT EXISTS snapshot_store_refs_store ON snapshot_store_refs (store_id, removed);

-- A recurring snapshot policy on a volume: at most one per volume and interval type
-- (live_key). interval_type is CloudStack's number: 0 hourly, 1 daily, 2 weekly, 3 monthly.
-- schedule is 'MM', 'MM:HH', 'MM:HH:D' (day of week 1-7) or 'MM:HH:DD' (day of month) in
-- timezone. next_run is when the scheduler next takes a snapshot (Unix ms).
CREATE TABLE IF NOT EXISTS snapshot_policies (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  volume_id VARCHAR(40) NOT NULL,
  account_id VARCHAR(40) NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  interval_type INTEGER NOT NULL,
  schedule VARCHAR(32) NOT NULL,
  timezone VARCHAR(64) NOT NULL,
  max_snaps INTEGER NOT NULL,
  for_display INTEGER NOT NULL DEFAULT 1,
  active INTEGER NOT NULL DEFAULT 1,
  next_run BIGINT NOT NULL,
  last_run BIGINT NULL,
  last_job_id VARCHAR(40) NULL,
  live_key VARCHAR(100) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS snapshot_policies_live ON snapshot_policies (live_key);
CREATE INDEX IF NOT EXISTS snapshot_policies_due ON snapshot_policies (removed, next_run);
CREATE INDEX IF NOT EXISTS snapshot_policies_volume ON snapshot_policies (volume_id, removed);

-- A named lease: the server whose id is owner holds name until lease_until (Unix ms); any
-- server may take it once it lapses. Taken and renewed by conditional updates.
CREATE TABLE IF NOT EXISTS leases (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  owner VARCHAR(64) NULL,
  lease_until BIGINT NOT NULL DEFAULT 0,
  acquired BIGINT NOT NULL DEFAULT 0
){{TABLE}};
