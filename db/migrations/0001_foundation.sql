-- Foundation schema: IAM, settings, events, sessions, async jobs, management servers.
-- Ids are lowercase UUIDs. Times are Unix milliseconds. "removed" marks a soft delete, as in
-- CloudStack; "live_key" is set while a row is live and NULL once removed, so a unique index on
-- it enforces "unique among live rows" on every engine.

CREATE TABLE IF NOT EXISTS domains (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  parent_id VARCHAR(40) NULL,
  name VARCHAR(255) NOT NULL,
  path VARCHAR(700) NOT NULL,
  level INTEGER NOT NULL,
  network_domain VARCHAR(255) NULL,
  state VARCHAR(32) NOT NULL,
  live_key VARCHAR(320) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS domains_live ON domains (live_key);
CREATE INDEX IF NOT EXISTS domains_path ON domains (path);
CREATE INDEX IF NOT EXISTS domains_parent ON domains (parent_id);

CREATE TABLE IF NOT EXISTS roles (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  type VARCHAR(32) NOT NULL,
  description VARCHAR(1024) NULL,
  is_default INTEGER NOT NULL DEFAULT 0,
  is_public INTEGER NOT NULL DEFAULT 1,
  live_key VARCHAR(300) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS roles_live ON roles (live_key);

CREATE TABLE IF NOT EXISTS role_permissions (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  role_id VARCHAR(40) NOT NULL,
  rule VARCHAR(255) NOT NULL,
  permission VARCHAR(8) NOT NULL,
  description VARCHAR(1024) NULL,
  sort_order INTEGER NOT NULL,
  created BIGINT NOT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS role_permissions_role ON role_permissions (role_id, sort_order);

CREATE TABLE IF NOT EXISTS accounts (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  type INTEGER NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  role_id VARCHAR(40) NOT NULL,
  state VARCHAR(32) NOT NULL,
  network_domain VARCHAR(255) NULL,
  is_default INTEGER NOT NULL DEFAULT 0,
  live_key VARCHAR(320) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS accounts_live ON accounts (live_key);
CREATE INDEX IF NOT EXISTS accounts_domain ON accounts (domain_id);

CREATE TABLE IF NOT EXISTS users (
  id VARCHAR(40) NOT NULL PRIMARY KEY,
  account_id VARCHAR(40) NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  username VARCHAR(255) NOT NULL,
  password VARCHAR(255) NOT NULL,
  firstname VARCHAR(255) NULL,
  lastname VARCHAR(255) NULL,
  email VARCHAR(255) NULL,
  timezone VARCHAR(64) NULL,
  state VARCHAR(32) NOT NULL,
  api_key VARCHAR(128) NULL,
  secret_key VARCHAR(512) NULL,
  source VARCHAR(32) NOT NULL DEFAULT 'UNKNOWN',
  is_default INTEGER NOT NULL DEFAULT 0,
  login_attempts INTEGER NOT NULL DEFAULT 0,
  live_key VARCHAR(320) NULL,
  version BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  removed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS users_live ON users (live_key);
CREATE UNIQUE INDEX IF NOT EXISTS users_api_key ON users (api_key);
CREATE INDEX IF NOT EXISTS users_account ON users (account_id);

CREATE TABLE IF NOT EXISTS configuration_values (
  name VARCHAR(255) NOT NULL,
  scope VARCHAR(32) NOT NULL,
  scope_id VARCHAR(40) NOT NULL,
  value {{TEXT}} NULL,
  updated BIGINT NOT NULL,
  PRIMARY KEY (name, scope, scope_id)
){{TABLE}};

CREATE TABLE IF NOT EXISTS events (
  seq {{AUTOINC}},
  id VARCHAR(40) NOT NULL,
  type VARCHAR(64) NOT NULL,
  level VARCHAR(16) NOT NULL,
  state VARCHAR(16) NOT NULL,
  description VARCHAR(2048) NOT NULL,
  user_id VARCHAR(40) NULL,
  account_id VARCHAR(40) NULL,
  domain_id VARCHAR(40) NULL,
  resource_type VARCHAR(64) NULL,
  resource_id VARCHAR(40) NULL,
  job_id VARCHAR(40) NULL,
  created BIGINT NOT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events (id);
CREATE INDEX IF NOT EXISTS events_account ON events (account_id, seq);
CREATE INDEX IF NOT EXISTS events_domain ON events (domain_id, seq);

CREATE TABLE IF NOT EXISTS sessions (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  session_key VARCHAR(64) NOT NULL,
  user_id VARCHAR(40) NOT NULL,
  created BIGINT NOT NULL,
  expires BIGINT NOT NULL
){{TABLE}};
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);

CREATE TABLE IF NOT EXISTS async_jobs (
  seq {{AUTOINC}},
  id VARCHAR(40) NOT NULL,
  cmd VARCHAR(255) NOT NULL,
  params {{TEXT}} NOT NULL,
  user_id VARCHAR(40) NOT NULL,
  account_id VARCHAR(40) NOT NULL,
  domain_id VARCHAR(40) NOT NULL,
  instance_type VARCHAR(64) NOT NULL,
  instance_id VARCHAR(40) NOT NULL,
  status INTEGER NOT NULL,
  proc_status INTEGER NOT NULL DEFAULT 0,
  result_code INTEGER NOT NULL DEFAULT 0,
  result_type VARCHAR(32) NOT NULL DEFAULT 'object',
  result {{TEXT}} NULL,
  owner VARCHAR(64) NULL,
  lease_until BIGINT NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  completed BIGINT NULL
){{TABLE}};
CREATE UNIQUE INDEX IF NOT EXISTS async_jobs_id ON async_jobs (id);
CREATE INDEX IF NOT EXISTS async_jobs_pending ON async_jobs (status, lease_until);
CREATE INDEX IF NOT EXISTS async_jobs_object ON async_jobs (instance_type, instance_id, status);
CREATE INDEX IF NOT EXISTS async_jobs_account ON async_jobs (account_id, seq);

CREATE TABLE IF NOT EXISTS mgmt_servers (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  address VARCHAR(255) NOT NULL,
  version VARCHAR(64) NOT NULL,
  state VARCHAR(32) NOT NULL,
  started BIGINT NOT NULL,
  last_seen BIGINT NOT NULL
){{TABLE}};
