-- Until this migration every deployed VM was recorded with hypervisor Simulator, whatever its
-- host ran (and its volumes with it). The planner now places a VM only on hosts of its
-- hypervisor, so a VM takes its host's (or, stopped, its last host's), and its volumes the VM's.
UPDATE vm_instances SET hypervisor_type = (SELECT h.hypervisor_type FROM hosts h WHERE h.id = COALESCE(vm_instances.host_id, vm_instances.last_host_id))
WHERE removed IS NULL AND EXISTS (SELECT 1 FROM hosts h WHERE h.id = COALESCE(vm_instances.host_id, vm_instances.last_host_id));
UPDATE volumes SET hypervisor_type = (SELECT v.hypervisor_type FROM vm_instances v WHERE v.id = volumes.vm_id)
WHERE removed IS NULL AND EXISTS (SELECT 1 FROM vm_instances v WHERE v.id = volumes.vm_id AND v.hypervisor_type IS NOT NULL);
