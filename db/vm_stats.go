package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// VMCounters are the I/O counters of a VM: network bytes from the guest's side (Rx is what it
// received), disk bytes and operations.
type VMCounters struct {
	NetRxBytes, NetTxBytes        int64
	DiskReadBytes, DiskWriteBytes int64
	DiskReadOps, DiskWriteOps     int64
}

// VMStats is a VM's row of vm_stats: its latest sample and what was derived from it.
type VMStats struct {
	VMID, HostID string
	// Sampled is the host's clock at the sample (Unix ms), Collected the server's.
	Sampled, Collected int64
	CPUs               int
	CPUTimeNs          int64
	// CPUUsed is the percentage of the VM's vCPUs used between its last two samples; Valid is
	// false until there are two samples of one run.
	CPUUsed                            sql.NullFloat64
	MemoryBytes, MaxMemory, FreeMemory int64
	Raw                                VMCounters // the latest sample's counters, since the VM started on HostID
	Last                               VMCounters // their increase over the last interval
	Acc                                VMCounters // the increases summed since the row was created
}

const vmStatsCols = `vm_id, host_id, sampled, collected, cpus, cpu_time_ns, cpu_used, memory_bytes, max_memory_bytes, free_memory_bytes,
	net_rx_bytes, net_tx_bytes, disk_read_bytes, disk_write_bytes, disk_read_ops, disk_write_ops,
	last_net_rx_bytes, last_net_tx_bytes, last_disk_read_bytes, last_disk_write_bytes, last_disk_read_ops, last_disk_write_ops,
	acc_net_rx_bytes, acc_net_tx_bytes, acc_disk_read_bytes, acc_disk_write_bytes, acc_disk_read_ops, acc_disk_write_ops`

func (c *VMCounters) fields() []any {
	return []any{&c.NetRxBytes, &c.NetTxBytes, &c.DiskReadBytes, &c.DiskWriteBytes, &c.DiskReadOps, &c.DiskWriteOps}
}

func (c VMCounters) values() []any {
	return []any{c.NetRxBytes, c.NetTxBytes, c.DiskReadBytes, c.DiskWriteBytes, c.DiskReadOps, c.DiskWriteOps}
}

func scanVMStats(s interface{ Scan(...any) error }) (*VMStats, error) {
	v := &VMStats{}
	dest := []any{&v.VMID, &v.HostID, &v.Sampled, &v.Collected, &v.CPUs, &v.CPUTimeNs, &v.CPUUsed, &v.MemoryBytes, &v.MaxMemory, &v.FreeMemory}
	dest = append(dest, v.Raw.fields()...)
	dest = append(dest, v.Last.fields()...)
	dest = append(dest, v.Acc.fields()...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *VMStats) values() []any {
	out := []any{v.VMID, v.HostID, v.Sampled, v.Collected, v.CPUs, v.CPUTimeNs, v.CPUUsed, v.MemoryBytes, v.MaxMemory, v.FreeMemory}
	out = append(out, v.Raw.values()...)
	out = append(out, v.Last.values()...)
	return append(out, v.Acc.values()...)
}

// GetVMStats returns a VM's stats row (ErrNotFound: it has none).
func GetVMStats(ctx context.Context, q Querier, vmID string) (*VMStats, error) {
	v, err := scanVMStats(q.QueryRowContext(ctx, "SELECT "+vmStatsCols+" FROM vm_stats WHERE vm_id = ?", vmID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: get vm stats: %w", err)
	}
	return v, nil
}

// VMStatsOf returns the stats rows of the VMs named, by VM id (VMs without stats are absent).
func VMStatsOf(ctx context.Context, q Querier, vmIDs []string) (map[string]*VMStats, error) {
	out := map[string]*VMStats{}
	for len(vmIDs) > 0 {
		n := min(len(vmIDs), 1000)
		chunk := vmIDs[:n]
		vmIDs = vmIDs[n:]
		rows, err := q.QueryContext(ctx, "SELECT "+vmStatsCols+" FROM vm_stats WHERE vm_id IN (?"+strings.Repeat(", ?", n-1)+")", anySlice(chunk)...)
		if err != nil {
			return nil, fmt.Errorf("db: vm stats: %w", err)
		}
		for rows.Next() {
			v, err := scanVMStats(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("db: vm stats: %w", err)
			}
			out[v.VMID] = v
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("db: vm stats: %w", err)
		}
	}
	return out, nil
}

// PutVMStats writes a VM's stats row. prevSampled is the Sampled of the row v was derived from
// (0: there was none): the write is conditional on it, so that of two servers deriving from
// the same row only one wins (false: the row changed meanwhile and nothing was written).
func PutVMStats(ctx context.Context, q Querier, v *VMStats, prevSampled int64) (bool, error) {
	if prevSampled == 0 {
		_, err := q.ExecContext(ctx, "INSERT INTO vm_stats ("+vmStatsCols+") VALUES (?"+strings.Repeat(", ?", 27)+")", v.values()...)
		if IsDuplicate(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("db: insert vm stats: %w", err)
		}
		return true, nil
	}
	cols := strings.Split(vmStatsCols, ",")
	sets := make([]string, 0, len(cols)-1)
	for _, c := range cols[1:] {
		sets = append(sets, strings.TrimSpace(c)+" = ?")
	}
	args := append(v.values()[1:], v.VMID, prevSampled)
	res, err := q.ExecContext(ctx, "UPDATE vm_stats SET "+strings.Join(sets, ", ")+" WHERE vm_id = ? AND sampled = ?", args...)
	if err != nil {
		return false, fmt.Errorf("db: update vm stats: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("db: update vm stats: %w", err)
	}
	return n == 1, nil
}

// DeleteVMStats removes a VM's stats (its expunge).
func DeleteVMStats(ctx context.Context, q Querier, vmID string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM vm_stats WHERE vm_id = ?", vmID); err != nil {
		return fmt.Errorf("db: delete vm stats: %w", err)
	}
	return nil
}

// PurgeVMStats removes the stats last collected before the time given (Unix ms;
// vm.stats.max.retention.time) and those of VMs expunged meanwhile. It returns how many went.
func PurgeVMStats(ctx context.Context, q Querier, before int64) (int64, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM vm_stats WHERE collected < ?
		OR vm_id IN (SELECT id FROM vm_instances WHERE removed IS NOT NULL)
		OR NOT EXISTS (SELECT 1 FROM vm_instances v WHERE v.id = vm_stats.vm_id)`, before)
	if err != nil {
		return 0, fmt.Errorf("db: purge vm stats: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// StatsTarget is a running VM to sample: its id, its instance name (the hypervisor's handle)
// and its host.
type StatsTarget struct {
	VMID, Name, HostID string
}

// ListStatsTargets returns the Running VMs on the Up hosts whose agent connection owner holds
// (hosts in maintenance excepted), ordered by host.
func ListStatsTargets(ctx context.Context, q Querier, owner string) ([]StatsTarget, error) {
	rows, err := q.QueryContext(ctx, `SELECT v.id, v.account_id, v.seq, v.host_id FROM vm_instances v JOIN hosts h ON h.id = v.host_id
		WHERE h.owner = ? AND h.status = ? AND h.resource_state NOT IN (?, ?, ?)
		AND h.removed IS NULL AND v.state = ? AND v.removed IS NULL ORDER BY v.host_id, v.seq`,
		owner, HostStatusUp, HostResourceMaintenance, HostResourcePrepareMaint, HostResourceErrorInMaint, VMRunning)
	if err != nil {
		return nil, fmt.Errorf("db: vms to sample: %w", err)
	}
	defer rows.Close()
	var out []StatsTarget
	for rows.Next() {
		var v VM
		if err := rows.Scan(&v.ID, &v.AccountID, &v.Seq, &v.HostID); err != nil {
			return nil, fmt.Errorf("db: vms to sample: %w", err)
		}
		out = append(out, StatsTarget{VMID: v.ID, Name: v.InstanceName(), HostID: v.HostID})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: vms to sample: %w", err)
	}
	return out, nil
}

// Below reports whether any of c's counters is lower than o's (the counters restarted).
func (c VMCounters) Below(o VMCounters) bool {
	return c.NetRxBytes < o.NetRxBytes || c.NetTxBytes < o.NetTxBytes || c.DiskReadBytes < o.DiskReadBytes ||
		c.DiskWriteBytes < o.DiskWriteBytes || c.DiskReadOps < o.DiskReadOps || c.DiskWriteOps < o.DiskWriteOps
}

// Minus is c - o, counter by counter.
func (c VMCounters) Minus(o VMCounters) VMCounters {
	return VMCounters{c.NetRxBytes - o.NetRxBytes, c.NetTxBytes - o.NetTxBytes, c.DiskReadBytes - o.DiskReadBytes,
		c.DiskWriteBytes - o.DiskWriteBytes, c.DiskReadOps - o.DiskReadOps, c.DiskWriteOps - o.DiskWriteOps}
}

// Plus is c + o, counter by counter.
func (c VMCounters) Plus(o VMCounters) VMCounters {
	return VMCounters{c.NetRxBytes + o.NetRxBytes, c.NetTxBytes + o.NetTxBytes, c.DiskReadBytes + o.DiskReadBytes,
		c.DiskWriteBytes + o.DiskWriteBytes, c.DiskReadOps + o.DiskReadOps, c.DiskWriteOps + o.DiskWriteOps}
}
