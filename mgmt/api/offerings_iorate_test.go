package api_test

import (
	"strings"
	"testing"

	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// ioRateFields are CloudStack's response names for an offering's disk I/O throttles.
var ioRateFields = []string{
	"diskBytesReadRate", "diskBytesReadRateMax", "diskBytesReadRateMaxLength",
	"diskBytesWriteRate", "diskBytesWriteRateMax", "diskBytesWriteRateMaxLength",
	"diskIopsReadRate", "diskIopsReadRateMax", "diskIopsReadRateMaxLength",
	"diskIopsWriteRate", "diskIopsWriteRateMax", "diskIopsWriteRateMaxLength",
}

// checkIORates reports every rate field of o that differs from want (absent when not in want).
func checkIORates(t *testing.T, what string, o map[string]any, want map[string]float64) {
	t.Helper()
	for _, f := range ioRateFields {
		got, has := o[f]
		w, wanted := want[f]
		switch {
		case wanted && (!has || got != w):
			t.Errorf("%s: %s = %v, want %v", what, f, got, w)
		case !wanted && has:
			t.Errorf("%s: %s = %v, want it absent", what, f, got)
		}
	}
}

// createServiceOffering, createDiskOffering and updateDiskOffering store the disk I/O rates
// (what cs_service_offering / cs_disk_offering send as bytes_read_rate ...) and every answer
// shows them under CloudStack's names; unset (or <= 0, which CloudStack ignores) rates are
// absent; a rate above its burst maximum is refused as CloudStack refuses it.
func TestOfferingIORates(t *testing.T) { offeringIORates(t, mgmttest.Options{}) }

func TestOfferingIORatesOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	offeringIORates(t, mgmttest.Options{MySQL: true})
}

func offeringIORates(t *testing.T, opts mgmttest.Options) {
	e := mgmttest.Start(t, opts)
	rates := map[string]string{"bytesreadrate": "1048576", "byteswriterate": "2097152", "iopsreadrate": "300", "iopswriterate": "400",
		"bytesreadratemax": "4194304", "bytesreadratemaxlength": "60", "iopswriteratemax": "800", "iopswriteratemaxlength": "30"}
	want := map[string]float64{"diskBytesReadRate": 1048576, "diskBytesWriteRate": 2097152, "diskIopsReadRate": 300, "diskIopsWriteRate": 400,
		"diskBytesReadRateMax": 4194304, "diskBytesReadRateMaxLength": 60, "diskIopsWriteRateMax": 800, "diskIopsWriteRateMaxLength": 30}
	with := func(base map[string]string) map[string]string {
		p := map[string]string{}
		for k, v := range base {
			p[k] = v
		}
		for k, v := range rates {
			p[k] = v
		}
		return p
	}

	// Service offering: create and list.
	so := mgmttest.Do(t, e.Admin, "createServiceOffering", with(map[string]string{"name": "throttled", "displaytext": "Throttled",
		"cpunumber": "1", "cpuspeed": "1000", "memory": "512"}))["serviceoffering"].(map[string]any)
	checkIORates(t, "createServiceOffering", so, want)
	l := items(mgmttest.Do(t, e.Admin, "listServiceOfferings", map[string]string{"id": so["id"].(string)}), "serviceoffering")
	if len(l) != 1 {
		t.Fatalf("listServiceOfferings by id: %v", l)
	}
	checkIORates(t, "listServiceOfferings", l[0], want)

	// Disk offering: create, list, update one rate.
	do := mgmttest.Do(t, e.Admin, "createDiskOffering", with(map[string]string{"name": "slowdisk", "displaytext": "Slow disk",
		"disksize": "10"}))["diskoffering"].(map[string]any)
	checkIORates(t, "createDiskOffering", do, want)
	l = items(mgmttest.Do(t, e.Admin, "listDiskOfferings", map[string]string{"id": do["id"].(string)}), "diskoffering")
	if len(l) != 1 {
		t.Fatalf("listDiskOfferings by id: %v", l)
	}
	checkIORates(t, "listDiskOfferings", l[0], want)
	up := mgmttest.Do(t, e.Admin, "updateDiskOffering", map[string]string{"id": do["id"].(string), "iopsreadrate": "350",
		"byteswriteratemax": "8388608"})["diskoffering"].(map[string]any)
	want["diskIopsReadRate"], want["diskBytesWriteRateMax"] = 350, 8388608
	checkIORates(t, "updateDiskOffering", up, want)
	// CloudStack ignores a rate <= 0 on update: the stored one stays.
	up = mgmttest.Do(t, e.Admin, "updateDiskOffering", map[string]string{"id": do["id"].(string), "iopsreadrate": "0",
		"bytesreadrate": "-1"})["diskoffering"].(map[string]any)
	checkIORates(t, "updateDiskOffering with 0 and -1", up, want)
	l = items(mgmttest.Do(t, e.Admin, "listDiskOfferings", map[string]string{"id": do["id"].(string)}), "diskoffering")
	if len(l) != 1 {
		t.Fatalf("listDiskOfferings by id after update: %v", l)
	}
	checkIORates(t, "listDiskOfferings after update", l[0], want)

	// No rates: none shown; CloudStack stores no rate <= 0, so negative or zero ones are absent too.
	plainSO := mgmttest.Do(t, e.Admin, "createServiceOffering", map[string]string{"name": "plain", "displaytext": "Plain",
		"cpunumber": "1", "cpuspeed": "500", "memory": "256"})["serviceoffering"].(map[string]any)
	checkIORates(t, "createServiceOffering without rates", plainSO, nil)
	plainDO := mgmttest.Do(t, e.Admin, "createDiskOffering", map[string]string{"name": "plaindisk", "displaytext": "Plain disk",
		"disksize": "5", "bytesreadrate": "-5", "iopswriterate": "0"})["diskoffering"].(map[string]any)
	checkIORates(t, "createDiskOffering with -5 and 0", plainDO, nil)
	for _, o := range items(mgmttest.Do(t, e.Admin, "listServiceOfferings", map[string]string{"name": "plain"}), "serviceoffering") {
		checkIORates(t, "listServiceOfferings without rates", o, nil)
	}
	for _, o := range items(mgmttest.Do(t, e.Admin, "listDiskOfferings", nil), "diskoffering") {
		if o["name"] != "slowdisk" {
			checkIORates(t, "listDiskOfferings "+o["name"].(string), o, nil)
		}
	}

	// A rate above its burst maximum is refused, naming the rate, and changes nothing.
	before := fingerprint(t, e)
	for _, b := range []struct {
		cmd    string
		params map[string]string
		want   string
	}{
		{"createServiceOffering", map[string]string{"name": "bad", "displaytext": "bad", "cpunumber": "1", "memory": "256",
			"iopsreadrate": "500", "iopsreadratemax": "100"}, "IOPS Read rate (500) cannot be greater than IOPS Read maximum rate (100)"},
		{"createDiskOffering", map[string]string{"name": "bad", "displaytext": "bad", "disksize": "1",
			"byteswriterate": "9", "byteswriteratemax": "8"}, "Bytes Write rate (9) cannot be greater than Bytes Write maximum rate (8)"},
		{"updateDiskOffering", map[string]string{"id": do["id"].(string), "bytesreadrate": "10", "bytesreadratemax": "5"},
			"Bytes Read rate (10) cannot be greater than Bytes Read maximum rate (5)"},
		{"createDiskOffering", map[string]string{"name": "bad", "displaytext": "bad", "disksize": "1", "iopswriterate": "ten"},
			"iopswriterate"},
	} {
		if text := mgmttest.Fail(t, e.Admin, b.cmd, b.params, 431); !strings.Contains(text, b.want) {
			t.Errorf("%s %v: %q, want %q", b.cmd, b.params, text, b.want)
		}
	}
	if fingerprint(t, e) != before {
		t.Error("a refused offering command changed the database")
	}
}
