package template

import (
	"path/filepath"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

func TestSimulateDownload(t *testing.T) {
	tpl := &db.Template{ID: "t1", AccountID: "a1", Format: "QCOW2"}
	cp := &db.TemplateCopy{DownloadStarted: 1000, DownloadMS: 2000}
	for _, tc := range []struct {
		name string
		now  int64
		want Progress
	}{
		{"started", 1000, Progress{Pct: 0}},
		{"half way", 2000, Progress{Pct: 50}},
		{"done", 3000, Progress{Done: true, Size: SimulatedTemplateSize, PhysicalSize: SimulatedTemplatePhysical,
			InstallPath: "template/tmpl/a1/t1/t1.qcow2"}},
		{"long done", 9000, Progress{Done: true, Size: SimulatedTemplateSize, PhysicalSize: SimulatedTemplatePhysical,
			InstallPath: "template/tmpl/a1/t1/t1.qcow2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := simulateDownload(tpl, cp, tc.now); got != tc.want {
				t.Fatalf("simulateDownload at %d = %+v, want %+v", tc.now, got, tc.want)
			}
		})
	}
	sized := &db.Template{ID: "t2", Size: 10, PhysicalSize: 5, Format: "RAW"}
	if got := simulateDownload(sized, cp, 3000); got.Size != 10 || got.PhysicalSize != 5 {
		t.Fatalf("a template of known size lands with its own size: %+v", got)
	}
}

// Advance records each copy's step: a simulated copy past its time lands, one still within it
// keeps downloading, and a copy in a real image store fails (nothing downloads into one yet).
func TestAdvance(t *testing.T) {
	d := &orchestrate.Deps{DB: dbtest.Open(t, "sqlite://"+filepath.Join(t.TempDir(), "atoll.db"), true)}
	ctx := t.Context()
	tpl := &db.Template{ID: "6b0e4d9a-0000-4000-8000-000000000001", Name: "t", Format: "QCOW2", HypervisorType: "Simulator",
		TemplateType: db.TemplateUser, State: "Active", Bits: 64, Created: db.Now()}
	now := db.Now()
	copies := []*db.TemplateCopy{
		{ID: "landed", StoreID: "s1", ZoneID: "z1", DownloadState: db.DownloadInProgress, Simulated: true, DownloadStarted: now - 10_000, DownloadMS: 1000},
		{ID: "pending", StoreID: "s2", ZoneID: "z2", DownloadState: db.DownloadInProgress, Simulated: true, DownloadStarted: now, DownloadMS: 3_600_000},
		{ID: "real", StoreID: "s3", ZoneID: "z3", DownloadState: db.DownloadNotStarted, DownloadStarted: now},
	}
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		if err := db.InsertTemplate(ctx, tx, tpl); err != nil {
			return err
		}
		for _, cp := range copies {
			cp.TemplateID, cp.Created = tpl.ID, now
			if err := db.InsertTemplateCopy(ctx, tx, cp); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := Advance(ctx, d, tpl.ID)
	if err != nil || !pending {
		t.Fatalf("Advance = %v, %v; want pending", pending, err)
	}
	got, err := db.ListTemplateCopies(ctx, d.DB.Read(), tpl.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]*db.TemplateCopy{}
	for _, cp := range got {
		state[cp.ID] = cp
	}
	if cp := state["landed"]; cp.DownloadState != db.DownloadDone || cp.DownloadPct != 100 || cp.Size != SimulatedTemplateSize ||
		cp.InstallPath == "" {
		t.Errorf("landed copy: %+v", cp)
	}
	if cp := state["pending"]; cp.DownloadState != db.DownloadInProgress {
		t.Errorf("pending copy: %+v", cp)
	}
	if cp := state["real"]; cp.DownloadState != db.DownloadError || cp.ErrorStr != "the image store of this copy no longer exists" {
		t.Errorf("copy in a real store: %+v", cp)
	}
	after, err := db.GetTemplate(ctx, d.DB.Read(), tpl.ID)
	if err != nil || after.Size != SimulatedTemplateSize || after.PhysicalSize != SimulatedTemplatePhysical {
		t.Fatalf("the template takes the size of its first copy: %+v, %v", after, err)
	}
	if pending, err := Advance(ctx, d, "6b0e4d9a-0000-4000-8000-00000000ffff"); pending || err != nil {
		t.Fatalf("Advance of a template that is gone = %v, %v", pending, err)
	}
}
