package iam

import (
	"testing"

	"github.com/atollcloud/atoll/db"
)

func TestMatchRule(t *testing.T) {
	for _, c := range []struct {
		rule, cmd string
		want      bool
	}{
		{"*", "listZones", true},
		{"list*", "listZones", true},
		{"list*", "createZone", false},
		{"*Zone*", "listZones", true},
		{"*Zones", "listZones", true},
		{"*Zones", "listZonesMetrics", false},
		{"listZones", "LISTZONES", true},
		{"listZones", "listZone", false},
		{"l*t*s", "listZones", true},
	} {
		if got := MatchRule(c.rule, c.cmd); got != c.want {
			t.Errorf("MatchRule(%q, %q) = %v", c.rule, c.cmd, got)
		}
	}
}

func TestAllowedFirstMatchWins(t *testing.T) {
	rules := []*db.RolePermission{{Rule: "deleteZone", Permission: "deny"}, {Rule: "*Zone*", Permission: "allow"}}
	if Allowed(rules, "deleteZone") || !Allowed(rules, "createZone") || Allowed(rules, "listDomains") {
		t.Fatal("rule order not honoured")
	}
}

func TestDomainTree(t *testing.T) {
	if !InDomainTree("ROOT/a", "ROOT/a/b") || InDomainTree("ROOT/a", "ROOT/ab") || !InDomainTree("ROOT", "ROOT/x") {
		t.Fatal("InDomainTree wrong")
	}
}
