package test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/mgmt/api"
)

// TestUpDemo: `atoll up --demo` (what `make run` starts) answers with an enabled Advanced zone
// whose four Simulator hosts are Up.
func TestUpDemo(t *testing.T) {
	endpoint, dataDir := startUp(t, "--demo")
	data, err := os.ReadFile(filepath.Join(dataDir, "keys", "admin.env"))
	if err != nil {
		t.Fatal(err)
	}
	c := &api.Client{Endpoint: endpoint}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "CLOUDSTACK_KEY="); ok {
			c.Key = v
		}
		if v, ok := strings.CutPrefix(l, "CLOUDSTACK_SECRET="); ok {
			c.Secret = v
		}
	}
	ctx := context.Background()
	zones, err := c.Do(ctx, "listZones", map[string]string{"name": "demo"})
	if err != nil {
		t.Fatal(err)
	}
	z := zones["zone"].([]any)[0].(map[string]any)
	if z["allocationstate"] != "Enabled" || z["networktype"] != "Advanced" {
		t.Fatalf("demo zone: %v", z)
	}
	hosts, err := c.Do(ctx, "listHosts", map[string]string{"zoneid": z["id"].(string), "type": "routing"})
	if err != nil {
		t.Fatal(err)
	}
	if hosts["count"].(float64) != 4 {
		t.Fatalf("demo hosts: %v", hosts)
	}
	for _, h := range hosts["host"].([]any) {
		if st := h.(map[string]any)["state"]; st != "Up" {
			t.Fatalf("demo host not Up: %v", h)
		}
	}
}
