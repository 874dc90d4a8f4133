package api_test

import (
	"context"
	"testing"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// One report of a VM off is believed at once when the VM has run (and been reported on) for
// a ping interval or more: its guest died. Right after a start it is not (the report may
// have been taken before the start finished): the VM stays Running until a second report.
func TestPowerSyncFirstReport(t *testing.T) {
	v := newVMEnv(t, false) // ping.interval 1 s
	ctx := context.Background()
	d := &orchestrate.Deps{DB: v.Server.DB, Ledger: planner.New(v.Server.API.Config), Log: v.Server.API.Log, Config: v.Server.API.Config}
	deployed := func() (string, string) {
		vm := v.deploy(t, v.tenant, map[string]string{"networkids": v.network})
		return vm["id"].(string), hostOf(t, v, vm["id"].(string))
	}
	setUpdated := func(id string, ms int64) {
		if _, err := v.Server.DB.SQL.ExecContext(ctx, "UPDATE vm_instances SET power_state_updated = ? WHERE id = ?", ms, id); err != nil {
			t.Fatal(err)
		}
	}

	// Fresh: reported off once, still Running.
	fresh, host := deployed()
	setUpdated(fresh, db.Now())
	if err := vm.SyncPower(ctx, d, host, true, []protocol.VMState{}); err != nil {
		t.Fatal(err)
	}
	if st := hostState(t, v, fresh); st != "Running" {
		t.Errorf("a VM reported off once right after its start is %s, want Running", st)
	}

	// Settled: reported on for longer than a ping interval, then off once: Stopped.
	settled, host := deployed()
	setUpdated(settled, db.Now()-5000)
	if err := vm.SyncPower(ctx, d, host, true, []protocol.VMState{}); err != nil {
		t.Fatal(err)
	}
	if st := hostState(t, v, settled); st != "Stopped" {
		t.Errorf("a VM running for 5 s reported off once is %s, want Stopped", st)
	}
	v.checkLedger(t)
}
