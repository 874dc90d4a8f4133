package db_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/google/uuid"
)

// The catalogue's rows read back as written, and a removed (or unknown) one is ErrNotFound.
func TestCatalogueRoundTrip(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		d := open(t, url, true)
		ctx, q := t.Context(), d.SQL
		so := &db.ServiceOffering{ID: uuid.NewString(), Name: "c", DisplayText: "custom", Customized: true,
			Details: map[string]string{"mincpunumber": "1", "maxcpunumber": "4"}, StorageType: "local", HostTag: "h1",
			StorageTags: "ssd,fast", OfferHA: true, LimitCPUUse: true, DeploymentPlanner: "UserDispersingPlanner", RootDiskSize: 10,
			DomainIDs: []string{"a", "b"}, ZoneIDs: []string{"z"}, DynamicScaling: true, Created: db.Now()}
		if err := db.InsertServiceOffering(ctx, q, so); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetServiceOffering(ctx, q, so.ID)
		if err != nil {
			t.Fatal(err)
		}
		so.Version = got.Version
		if !reflect.DeepEqual(got, so) {
			t.Errorf("service offering\n got %+v\nwant %+v", got, so)
		}
		do := &db.DiskOffering{ID: uuid.NewString(), Name: "d", DiskSize: 5 << 30, Tags: "ssd", MinIOPS: 100, MaxIOPS: 200,
			DisplayOffering: true, Created: db.Now()}
		if err := db.InsertDiskOffering(ctx, q, do); err != nil {
			t.Fatal(err)
		}
		if g, err := db.GetDiskOffering(ctx, q, do.ID); err != nil || !reflect.DeepEqual(g, do) {
			t.Errorf("disk offering %+v, %v; want %+v", g, err, do)
		}
		no := &db.NetworkOffering{ID: uuid.NewString(), Name: "N1", GuestIPType: "Isolated", Services: map[string]string{"Dhcp": "VirtualRouter"},
			Capabilities: []db.NetworkCapability{{Service: "SourceNat", Name: "SupportedSourceNatTypes", Value: "peraccount"}},
			Details:      map[string]string{}, ConserveMode: true, Created: db.Now()}
		if err := db.InsertNetworkOffering(ctx, q, no); err != nil {
			t.Fatal(err)
		}
		if g, err := db.GetNetworkOfferingByName(ctx, q, "n1"); err != nil || !reflect.DeepEqual(g, no) {
			t.Errorf("network offering %+v, %v; want %+v", g, err, no)
		}
		if err := db.InsertNetworkOffering(ctx, q, &db.NetworkOffering{ID: uuid.NewString(), Name: "n1", GuestIPType: "Shared", Created: 1}); !db.IsDuplicate(err) {
			t.Errorf("duplicate network offering name: %v", err)
		}
		ot := &db.OSType{ID: uuid.NewString(), Description: "Some OS (64-bit)", CategoryID: "c", ForDisplay: true, Created: db.Now()}
		if err := db.InsertOSType(ctx, q, ot); err != nil {
			t.Fatal(err)
		}
		if g, err := db.GetOSType(ctx, q, ot.ID); err != nil || !reflect.DeepEqual(g, ot) {
			t.Errorf("os type %+v, %v", g, err)
		}
		if err := db.RemoveServiceOffering(ctx, q, so.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetServiceOffering(ctx, q, so.ID); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("removed service offering: %v", err)
		}
		if err := db.RemoveDiskOffering(ctx, q, do.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetDiskOffering(ctx, q, do.ID); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("removed disk offering: %v", err)
		}
		if err := db.RemoveNetworkOffering(ctx, q, no.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetNetworkOffering(ctx, q, no.ID); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("removed network offering: %v", err)
		}
		if _, err := db.GetOSType(ctx, q, uuid.NewString()); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("unknown os type: %v", err)
		}
	})
}

// SeedCatalogue inserts CloudStack's defaults once, even when several servers run it at once,
// and the ids it generated stay the same afterwards.
func TestSeedCatalogue(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		d := open(t, url, true)
		ctx := t.Context()
		errs := make(chan error, 3)
		for i := 0; i < 3; i++ {
			h := open(t, url, false)
			go func() { errs <- db.SeedCatalogue(ctx, h) }()
		}
		for i := 0; i < 3; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		sos, err := db.ListServiceOfferings(ctx, d.Read(), db.ServiceOfferingFilter{Name: "Small Instance"})
		if err != nil || len(sos) != 1 || sos[0].CPUNumber != 1 || sos[0].CPUSpeed != 500 || sos[0].Memory != 512 {
			t.Fatalf("Small Instance: %+v, %v", sos, err)
		}
		if err := db.SeedCatalogue(ctx, d); err != nil {
			t.Fatal(err)
		}
		again, _ := db.ListServiceOfferings(ctx, d.Read(), db.ServiceOfferingFilter{Name: "Small Instance"})
		if len(again) != 1 || again[0].ID != sos[0].ID {
			t.Errorf("seeding again changed Small Instance: %+v", again)
		}
		for _, name := range []string{"Small", "Medium", "Large", "Custom"} {
			if l, _ := db.ListDiskOfferings(ctx, d.Read(), db.DiskOfferingFilter{Name: name}); len(l) != 1 {
				t.Errorf("disk offering %s: %d rows", name, len(l))
			}
		}
		for _, name := range []string{"DefaultIsolatedNetworkOfferingWithSourceNatService", "DefaultIsolatedNetworkOffering",
			"DefaultSharedNetworkOffering", "DefaultSharedNetworkOfferingWithSGService"} {
			o, err := db.GetNetworkOfferingByName(ctx, d.Read(), name)
			if err != nil || o.State != "Enabled" || !o.HasService("Dhcp") {
				t.Errorf("network offering %s: %+v, %v", name, o, err)
			}
		}
		if l, _ := db.ListVPCOfferings(ctx, d.Read(), db.VPCOfferingFilter{Name: "Default VPC offering"}); len(l) != 1 || l[0].State != "Enabled" {
			t.Errorf("Default VPC offering: %+v", l)
		}
		if o, err := db.GetOSTypeByDescription(ctx, d.Read(), "Other Linux (64-bit)"); err != nil || o.CategoryID == "" {
			t.Errorf("Other Linux (64-bit): %+v, %v", o, err)
		}
	})
}
