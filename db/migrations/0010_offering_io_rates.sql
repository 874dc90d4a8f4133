-- Disk I/O throttles of compute and disk offerings, as CloudStack's disk_offering holds them:
-- bytes (per second) and IO requests (per second) read and write rates, each with a burst
-- maximum and the burst's length in seconds. NULL = not set (CloudStack stores no rate <= 0).

ALTER TABLE service_offerings ADD COLUMN bytes_read_rate BIGINT NULL;
ALTER TABLE service_offerings ADD COLUMN bytes_read_rate_max BIGINT NULL;
ALTER TABLE service_offerings ADD COLUMN bytes_read_rate_max_length BIGINT NULL;
ALTER TABLE service_offerings ADD COLUMN bytes_write_rate BIGINT NULL;
ALTER TABLE service_offerings ADD COLUMN bytes_write_rate_max BIGINT NULL;
ALTER TABLE service_offerings ADD COLUMN bytes_write_rate_max_length BIGINT NULL;
ALTER TABLE service_offerings ADD COLUMN iops_read_rate BIGINT NULL;
ALTER TABLE service_offerings ADD COLUMN iops_read_rate_max BIGINT NULL;
ALTER TABLE service_offerings ADD COLUMN iops_read_rate_max_length BIGINT NULL;
ALTER TABLE service_offerings ADD COLUMN iops_write_rate BIGINT NULL;
ALTER TABLE service_offerings ADD COLUMN iops_write_rate_max BIGINT NULL;
ALTER TABLE service_offerings ADD COLUMN iops_write_rate_max_length BIGINT NULL;

ALTER TABLE disk_offerings ADD COLUMN bytes_read_rate BIGINT NULL;
ALTER TABLE disk_offerings ADD COLUMN bytes_read_rate_max BIGINT NULL;
ALTER TABLE disk_offerings ADD COLUMN bytes_read_rate_max_length BIGINT NULL;
ALTER TABLE disk_offerings ADD COLUMN bytes_write_rate BIGINT NULL;
ALTER TABLE disk_offerings ADD COLUMN bytes_write_rate_max BIGINT NULL;
ALTER TABLE disk_offerings ADD COLUMN bytes_write_rate_max_length BIGINT NULL;
ALTER TABLE disk_offerings ADD COLUMN iops_read_rate BIGINT NULL;
ALTER TABLE disk_offerings ADD COLUMN iops_read_rate_max BIGINT NULL;
ALTER TABLE disk_offerings ADD COLUMN iops_read_rate_max_length BIGINT NULL;
ALTER TABLE disk_offerings ADD COLUMN iops_write_rate BIGINT NULL;
ALTER TABLE disk_offerings ADD COLUMN iops_write_rate_max BIGINT NULL;
ALTER TABLE disk_offerings ADD COLUMN iops_write_rate_max_length BIGINT NULL;
