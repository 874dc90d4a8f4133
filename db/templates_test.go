package db_test

import (
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
)

// The early contracts of templates, keypairs and tags on both engines.
func TestTemplateKeypairTagContracts(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		d := dbtest.Open(t, url, true)
		ctx := t.Context()
		q := d.SQL
		// The migration seeds the Simulator's built-in template.
		b, err := db.GetTemplate(ctx, q, db.SimulatorTemplateID)
		if err != nil || b.Name != db.SimulatorTemplateName || b.TemplateType != db.TemplateBuiltin || !b.CrossZones || !b.IsPublic {
			t.Fatalf("built-in template: %+v %v", b, err)
		}
		tp := &db.Template{ID: "t1", Name: "tiny", AccountID: "a1", DomainID: "d1", Format: "QCOW2", HypervisorType: "KVM", Size: 10,
			Bootable: true, TemplateType: db.TemplateUser, State: "Active", Bits: 64, Details: map[string]string{"k": "v"}, Created: 1}
		if err := db.InsertTemplate(ctx, q, tp); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetTemplate(ctx, q, "t1")
		if err != nil || got.Details["k"] != "v" || got.Format != "QCOW2" || got.IsISO() {
			t.Fatalf("get: %+v %v", got, err)
		}
		if _, err := db.GetTemplate(ctx, q, "nope"); err != db.ErrNotFound {
			t.Fatalf("missing template: %v", err)
		}
		if ok, _ := db.TemplateReadyInZone(ctx, q, "t1", "z1"); ok {
			t.Fatal("ready without a copy")
		}
		c := &db.TemplateCopy{ID: "c1", TemplateID: "t1", StoreID: "s1", ZoneID: "z1", DownloadState: db.DownloadInProgress, Created: 1}
		if err := db.InsertTemplateCopy(ctx, q, c); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertTemplateCopy(ctx, q, &db.TemplateCopy{ID: "c2", TemplateID: "t1", StoreID: "s1", ZoneID: "z1",
			DownloadState: db.DownloadInProgress, Created: 1}); !db.IsDuplicate(err) {
			t.Fatalf("a second live copy in one store: %v", err)
		}
		if ok, _ := db.TemplateReadyInZone(ctx, q, "t1", "z1"); ok {
			t.Fatal("ready while downloading")
		}
		c.DownloadState, c.DownloadPct = db.DownloadDone, 100
		if err := db.UpdateTemplateCopy(ctx, q, c); err != nil {
			t.Fatal(err)
		}
		if err := db.UpdateTemplateCopy(ctx, q, c); err != db.ErrConflict {
			t.Fatalf("stale version: %v", err)
		}
		if ok, _ := db.TemplateReadyInZone(ctx, q, "t1", "z1"); !ok {
			t.Fatal("not ready after download")
		}
		if ok, _ := db.TemplateReadyInZone(ctx, q, "t1", "z2"); ok {
			t.Fatal("a zone-wide template is ready in another zone")
		}
		list, total, err := db.ListTemplates(ctx, q, db.TemplateFilter{Name: "tiny"})
		if err != nil || total != 1 || list[0].ZoneID != "z1" || list[0].DownloadState != db.DownloadDone {
			t.Fatalf("list: %v %d %v", list, total, err)
		}
		if err := db.RemoveTemplate(ctx, q, "t1"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.TemplateReadyInZone(ctx, q, "t1", "z1"); ok {
			t.Fatal("a removed template is ready")
		}

		k := &db.SSHKeyPair{ID: "k1", Name: "Key", AccountID: "a1", DomainID: "d1", PublicKey: "ssh-rsa AAA", Fingerprint: "aa:bb", Created: 1}
		if err := db.InsertSSHKeyPair(ctx, q, k); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertSSHKeyPair(ctx, q, &db.SSHKeyPair{ID: "k2", Name: "KEY", AccountID: "a1", DomainID: "d1", PublicKey: "x",
			Fingerprint: "cc", Created: 1}); !db.IsDuplicate(err) {
			t.Fatalf("a second keypair of one name in an account: %v", err)
		}
		if got, err := db.GetSSHKeyPair(ctx, q, "a1", "key"); err != nil || got.ID != "k1" || got.Fingerprint != "aa:bb" {
			t.Fatalf("get keypair: %+v %v", got, err)
		}
		if _, err := db.GetSSHKeyPair(ctx, q, "a2", "key"); err != db.ErrNotFound {
			t.Fatalf("another account's keypair: %v", err)
		}

		for i, tg := range []db.Tag{{ID: "g1", Key: "env", Value: "prod", ResourceID: "r1"}, {ID: "g2", Key: "env", Value: "dev", ResourceID: "r2"},
			{ID: "g3", Key: "team", Value: "a", ResourceID: "r2"}} {
			tg.ResourceType, tg.AccountID, tg.DomainID, tg.Created = "UserVm", "a1", "d1", int64(i)
			if err := db.InsertTag(ctx, q, &tg); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.InsertTag(ctx, q, &db.Tag{ID: "g4", Key: "env", Value: "x", ResourceType: "UserVm", ResourceID: "r1", AccountID: "a1",
			DomainID: "d1"}); !db.IsDuplicate(err) {
			t.Fatalf("a duplicate key on one resource: %v", err)
		}
		tags, err := db.TagsFor(ctx, q, "UserVm", []string{"r1", "r2", "r3"})
		if err != nil || len(tags["r1"]) != 1 || len(tags["r2"]) != 2 || len(tags["r3"]) != 0 || tags["r2"][0].Key != "env" {
			t.Fatalf("tags for: %v %v", tags, err)
		}
		clause, args := db.TagFilterClause("UserVm", "id", map[string]string{"env": "dev"})
		var n int
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT 'r1' AS id UNION ALL SELECT 'r2') x WHERE "+clause, args...).Scan(&n); err != nil || n != 1 {
			t.Fatalf("tag filter: %d %v", n, err)
		}
		if clause, _ := db.TagFilterClause("UserVm", "id", nil); clause != "" {
			t.Fatalf("empty tags give a clause: %q", clause)
		}
	})
}
