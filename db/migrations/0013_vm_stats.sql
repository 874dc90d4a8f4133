-- The latest usage statistics of each VM (CloudStack's vm_stats, one row per VM rather than one
-- per sample). The management server that holds a host's agent connection samples its
-- running VMs every vm.stats.interval ms (GetVmStats) and writes here, so any server answers
-- listVirtualMachines(Metrics) from it.
--   sampled: the host's clock (Unix ms) at the latest sample; collected: the server's, for
--     vm.stats.max.retention.time.
--   cpu_time_ns and the *_bytes/*_ops counters: the latest sample's raw counters (since the VM
--     started on host_id), the base of the next sample's increase.
--   cpu_used: percent of the VM's vCPUs used between the last two samples (NULL until there
--     are two of one run).
--   last_*: the increase over the last interval; acc_*: the increases summed since the row
--     was created (vm.stats.increment.metrics).
CREATE TABLE IF NOT EXISTS vm_stats (
  vm_id VARCHAR(40) NOT NULL PRIMARY KEY,
  host_id VARCHAR(40) NOT NULL,
  sampled BIGINT NOT NULL,
  collected BIGINT NOT NULL,
  cpus INTEGER NOT NULL DEFAULT 0,
  cpu_time_ns BIGINT NOT NULL DEFAULT 0,
  cpu_used DOUBLE NULL,
  memory_bytes BIGINT NOT NULL DEFAULT 0,
  max_memory_bytes BIGINT NOT NULL DEFAULT 0,
  free_memory_bytes BIGINT NOT NULL DEFAULT 0,
  net_rx_bytes BIGINT NOT NULL DEFAULT 0,
  net_tx_bytes BIGINT NOT NULL DEFAULT 0,
  disk_read_bytes BIGINT NOT NULL DEFAULT 0,
  disk_write_bytes BIGINT NOT NULL DEFAULT 0,
  disk_read_ops BIGINT NOT NULL DEFAULT 0,
  disk_write_ops BIGINT NOT NULL DEFAULT 0,
  last_net_rx_bytes BIGINT NOT NULL DEFAULT 0,
  last_net_tx_bytes BIGINT NOT NULL DEFAULT 0,
  last_disk_read_bytes BIGINT NOT NULL DEFAULT 0,
  last_disk_write_bytes BIGINT NOT NULL DEFAULT 0,
  last_disk_read_ops BIGINT NOT NULL DEFAULT 0,
  last_disk_write_ops BIGINT NOT NULL DEFAULT 0,
  acc_net_rx_bytes BIGINT NOT NULL DEFAULT 0,
  acc_net_tx_bytes BIGINT NOT NULL DEFAULT 0,
  acc_disk_read_bytes BIGINT NOT NULL DEFAULT 0,
  acc_disk_write_bytes BIGINT NOT NULL DEFAULT 0,
  acc_disk_read_ops BIGINT NOT NULL DEFAULT 0,
  acc_disk_write_ops BIGINT NOT NULL DEFAULT 0
){{TABLE}};
CREATE INDEX IF NOT EXISTS vm_stats_collected ON vm_stats (collected);
