-- CloudStack 4.20's delete protection: a VM or volume with it set cannot be destroyed or
-- deleted until it is cleared (updateVirtualMachine / updateVolume deleteprotection).
ALTER TABLE vm_instances ADD COLUMN delete_protection INTEGER NOT NULL DEFAULT 0;
ALTER TABLE volumes ADD COLUMN delete_protection INTEGER NOT NULL DEFAULT 0;
