package atoll_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
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

// TestAPIIsAThinAdapter enforces DESIGN.md's mgmt/api: it parses and validates, calls
// mgmt/orchestrate and renders. Its files import neither agent/protocol nor mgmt/agents, and
// the files of the families whose workflows moved to mgmt/orchestrate open no transaction
// (no Transaction or Defer call). apiPending lists what has not moved yet, with the reason.
func TestAPIIsAThinAdapter(t *testing.T) {
	const mod = "github.com/atollcloud/atoll/"
	banned := map[string]bool{mod + "agent/protocol": true, mod + "mgmt/agents": true}
	// The network family: guest networks (networks*.go), IP allocation (network_ips.go),
	// VLAN/public IP ranges (vlans.go) and physical networks with their traffic types.
	moved := []string{"vms", "volumes", "snapshot", "template", "isos", "hosts", "network", "vlans", "physicalnetworks", "securitygroups"}
	files, err := filepath.Glob("mgmt/api/*.go")
	if err != nil || len(files) < 20 {
		t.Fatalf("glob mgmt/api: %d files, %v", len(files), err)
	}
	for name := range apiPending {
		if _, err := os.Stat(filepath.Join("mgmt/api", name)); err != nil {
			t.Errorf("apiPending names mgmt/api/%s, which is gone: take it off the list", name)
		}
	}
	fset := token.NewFileSet()
	for _, path := range files {
		name := filepath.Base(path)
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		var problems []string
		for _, imp := range f.Imports {
			if p := strings.Trim(imp.Path.Value, `"`); banned[p] {
				problems = append(problems, "imports "+p)
			}
		}
		family := false
		for _, m := range moved {
			family = family || strings.HasPrefix(name, m)
		}
		if family {
			ast.Inspect(f, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					if sel, ok := call.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Transaction" || sel.Sel.Name == "Defer") {
						problems = append(problems, fmt.Sprintf("opens a transaction (%s at line %d)", sel.Sel.Name, fset.Position(call.Pos()).Line))
					}
				}
				return true
			})
		}
		if why, ok := apiPending[name]; ok {
			if len(problems) == 0 {
				t.Errorf("mgmt/api/%s is listed in apiPending (%s) but is clean now: take it off the list", name, why)
			}
			continue
		}
		for _, p := range problems {
			t.Errorf("mgmt/api/%s %s: workflows, transactions and agent commands belong in mgmt/orchestrate", name, p)
		}
	}
}
