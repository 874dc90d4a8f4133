package api_test

import (
	"testing"

	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// TestListOsCategoriesByTemplates: zoneid, arch, isiso and isvnf list the OS categories that
// have such templates (the zone's built-in Simulator template is CentOS 5.3 (64-bit), as
// CloudStack's).
func TestListOsCategoriesByTemplates(t *testing.T) {
	v := newVMEnv(t, false)
	names := func(p map[string]string) map[string]bool {
		out := map[string]bool{}
		for _, c := range items(mgmttest.Do(t, v.tenant, "listOsCategories", p), "oscategory") {
			out[c["name"].(string)] = true
		}
		return out
	}
	all := names(nil)
	inZone := names(map[string]string{"zoneid": v.zoneID})
	if !inZone["CentOS"] || inZone["Windows"] || len(inZone) >= len(all) {
		t.Fatalf("zoneid: %v (of %d categories), want CentOS and not Windows", inZone, len(all))
	}
	if got := names(map[string]string{"zoneid": v.zoneID, "isiso": "false", "arch": "x86_64"}); !got["CentOS"] || len(got) != len(inZone) {
		t.Fatalf("templates, x86_64: %v", got)
	}
	for _, p := range []map[string]string{{"isiso": "true"}, {"isvnf": "true"}, {"arch": "aarch64"}} {
		if got := names(p); len(got) != 0 {
			t.Fatalf("%v: %v, want none", p, got)
		}
	}
	// The built-in template's guest OS is CloudStack's, and its VMs show it.
	if vm := v.deploy(t, v.tenant, map[string]string{"networkids": v.network}); vm["osdisplayname"] != "CentOS 5.3 (64-bit)" || vm["guestosid"] == "" {
		t.Fatalf("VM from the built-in template: osdisplayname %v, guestosid %v", vm["osdisplayname"], vm["guestosid"])
	}
}
