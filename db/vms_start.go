package db

import (
	"context"
	"fmt"
)

// SetVMRunning records that a Starting VM's agent started it: Running, powered on, on the host
// it was placed on (now its last host too). It returns false, changing nothing, when the VM is
// no longer Starting (another change came first).
func SetVMRunning(ctx context.Context, q Querier, id string, now int64) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE vm_instances SET state = ?, power_state = ?, power_state_updated = ?, last_host_id = host_id,
		version = version + 1 WHERE id = ? AND state = ? AND removed IS NULL`, VMRunning, PowerOn, now, id, VMStarting)
	if err != nil {
		return false, fmt.Errorf("db: set vm running: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("db: set vm running: %w", err)
	}
	return n == 1, nil
}
