-- Claiming reads pending jobs oldest first: with (status, seq) the scan walks the pending jobs
-- in seq order and stops at the batch size (and on MariaDB locks only the rows it takes),
-- instead of sorting every pending job on each claim.
CREATE INDEX IF NOT EXISTS async_jobs_claim ON async_jobs (status, seq);
