package planner

import (
	"context"

	"github.com/atollcloud/atoll/db"
)

// VMUsage is the Usage of VMs and volumes: each host's CPU MHz, cores and memory held by the
// VMs placed there (db.VMHoldsCompute), each pool's bytes allocated to its volumes.
func VMUsage(ctx context.Context, q db.Querier) (map[Key]int64, error) {
	out := map[Key]int64{}
	hosts, err := db.SumVMCompute(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, h := range hosts {
		out[Key{db.CapCPU, h.HostID}] = h.CPUMHz
		out[Key{db.CapCPUCore, h.HostID}] = h.Cores
		out[Key{db.CapMemory, h.HostID}] = h.MemoryMiB << 20
	}
	pools, err := db.SumVolumeBytes(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, p := range pools {
		out[Key{db.CapStorageAlloc, p.PoolID}] = p.Bytes
	}
	return out, nil
}
