package api

import (
	"encoding/json"
	"testing"

	"github.com/atollcloud/atoll/db"
)

// renderDomain's struct must encode to exactly the bytes of the map it replaced.
func TestRenderDomainMatchesMap(t *testing.T) {
	asMap := func(d *db.Domain, parent *db.Domain, hasChild bool) map[string]any {
		m := map[string]any{"id": d.ID, "name": d.Name, "level": d.Level, "path": d.Path, "haschild": hasChild,
			"state": d.State, "created": FormatTime(d.Created)}
		if parent != nil {
			m["parentdomainid"] = parent.ID
			m["parentdomainname"] = parent.Name
		}
		set(m, "networkdomain", d.NetworkDomain)
		return m
	}
	root := &db.Domain{ID: "r", Name: "ROOT", Path: "ROOT", State: "Active", Created: 1700000000000}
	sub := &db.Domain{ID: "s", ParentID: "r", Name: "a<b>&\"é\u2028", Path: "ROOT/a", Level: 1, State: "Active",
		NetworkDomain: "x.example", Created: 1700000000123}
	odd := &db.Domain{ID: "o", ParentID: "p", Name: "o", Path: "ROOT/o", Level: 1, State: "Inactive"}
	for _, c := range []struct {
		d, parent *db.Domain
		child     bool
	}{{root, nil, true}, {sub, root, false}, {odd, &db.Domain{ID: "p"}, true}, {odd, nil, false}} {
		for _, escape := range []bool{false, true} {
			want, got := encode(t, asMap(c.d, c.parent, c.child), escape), encode(t, renderDomain(c.d, c.parent, c.child), escape)
			if got != want {
				t.Errorf("renderDomain(%s) = %s, the map gave %s", c.d.ID, got, want)
			}
		}
	}
}

func encode(t *testing.T, v any, escapeHTML bool) string {
	t.Helper()
	var b jsonBuffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(escapeHTML)
	if err := e.Encode(map[string]any{"domain": v}); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type jsonBuffer []byte

func (b *jsonBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }
