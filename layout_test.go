package atoll_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection enforces DESIGN.md: agent/protocol imports only the standard library;
// hypervisor, network and storage never import db or mgmt; only mgmt/... (and cmd) imports db.
func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/atollcloud/atoll/"
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		seen++
		rel := strings.TrimPrefix(p.ImportPath, mod)
		for _, imp := range p.Imports {
			irel, ours := strings.CutPrefix(imp, mod)
			switch {
			case strings.HasPrefix(rel, "agent/protocol"):
				if ours || strings.Contains(strings.Split(imp, "/")[0], ".") {
					t.Errorf("%s imports %s: agent/protocol may import only the standard library", rel, imp)
				}
			case hasAnyPrefix(rel, "hypervisor", "network", "storage", "agent"):
				if ours && hasAnyPrefix(irel, "db", "mgmt") {
					t.Errorf("%s imports %s: drivers and the agent never import db or mgmt", rel, imp)
				}
			case !hasAnyPrefix(rel, "mgmt", "cmd", "db", "bench"):
				if ours && (irel == "db" || strings.HasPrefix(irel, "db/")) {
					t.Errorf("%s imports %s: only mgmt/... imports db", rel, imp)
				}
			}
		}
	}
	if seen < 5 {
		t.Fatalf("go list saw only %d packages", seen)
	}
}

func hasAnyPrefix(s string, ps ...string) bool {
	for _, p := range ps {
		if s == p || strings.HasPrefix(s, p+"/") {
			return true
		}
	}
	return false
}
