package db_test

import (
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
)

// Migration 0012: a VM recorded with hypervisor Simulator (as every deploy wrote until then)
// takes its host's, or its last host's when stopped; its volumes take the VM's; a VM with no
// host keeps what it had.
func TestMigrationVMHypervisor(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		d := dbtest.Open(t, url, true)
		ctx := t.Context()
		if err := db.InsertHost(ctx, d.SQL, &db.Host{ID: "kvm1", Name: "kvm1", GUID: "g-kvm1", Type: db.HostTypeRouting, ZoneID: "z",
			HypervisorType: "KVM", Status: db.HostStatusUp, ResourceState: db.HostResourceEnabled, Created: 1}); err != nil {
			t.Fatal(err)
		}
		for _, v := range []*db.VM{
			{ID: "running", Name: "running", HostID: "kvm1", State: db.VMRunning},
			{ID: "stopped", Name: "stopped", LastHostID: "kvm1", State: db.VMStopped},
			{ID: "never", Name: "never", State: db.VMStopped},
		} {
			v.AccountID, v.DomainID, v.ZoneID, v.ServiceOfferingID, v.HypervisorType, v.CPUNumber, v.CPUSpeed, v.Memory, v.Created =
				"a", "d", "z", "so", "Simulator", 1, 100, 64, 1
			if err := db.InsertVM(ctx, d.SQL, v); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.SQL.ExecContext(ctx, `INSERT INTO volumes (id, name, account_id, domain_id, zone_id, vm_id, volume_type, size,
			state, provisioning_type, hypervisor_type, display_volume, created, version) VALUES ('root', 'ROOT-1', 'a', 'd', 'z', 'running',
			'ROOT', 1, 'Ready', 'thin', 'Simulator', 1, 1, 0)`); err != nil {
			t.Fatal(err)
		}
		if _, err := d.SQL.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version = 12"); err != nil {
			t.Fatal(err)
		}
		if n, err := d.Migrate(ctx); err != nil || n != 1 {
			t.Fatalf("re-run 0012: %d migrations, %v", n, err)
		}
		for id, want := range map[string]string{"running": "KVM", "stopped": "KVM", "never": "Simulator"} {
			var got string
			if err := d.SQL.QueryRowContext(ctx, "SELECT hypervisor_type FROM vm_instances WHERE id = ?", id).Scan(&got); err != nil || got != want {
				t.Fatalf("vm %s: %q %v, want %s", id, got, err, want)
			}
		}
		var vol string
		if err := d.SQL.QueryRowContext(ctx, "SELECT hypervisor_type FROM volumes WHERE id = 'root'").Scan(&vol); err != nil || vol != "KVM" {
			t.Fatalf("volume: %q %v, want KVM", vol, err)
		}
	})
}
