package api_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// infraTables are the infrastructure tables an admin command can change, which fingerprint
// leaves out.
var infraTables = []string{"zones", "pods", "clusters", "hosts", "physical_networks", "traffic_types", "network_service_providers",
	"vlan_ranges", "public_ips", "vnet_allocations", "storage_pools", "image_stores", "os_categories", "simulator_faults"}

// wideFingerprint is fingerprint plus infraTables. On MariaDB one CHECKSUM TABLE statement over
// the same tables does it (every row's content, in one round trip instead of forty).
func wideFingerprint(t *testing.T, e *mgmttest.Env, mysql bool) string {
	t.Helper()
	if !mysql {
		return fingerprint(t, e) + dbtest.Fingerprint(t, e.Server.DB.SQL, infraTables...)
	}
	tables := append(append([]string(nil), fingerprintTables...), infraTables...)
	rows, err := e.Server.DB.SQL.QueryContext(context.Background(), "CHECKSUM TABLE "+strings.Join(tables, ", "))
	if err != nil {
		t.Fatalf("checksum: %v", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var table string
		var sum sql.NullInt64
		if err := rows.Scan(&table, &sum); err != nil {
			t.Fatalf("checksum: %v", err)
		}
		if !sum.Valid {
			t.Fatalf("checksum: no table %s", table)
		}
		fmt.Fprintf(&b, "%s:%d ", table, sum.Int64)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("checksum: %v", err)
	}
	return b.String()
}

// leakMarkers are words only a database, its driver or a query carries: no error text may
// hold one (the table names are those with an underscore, which no sentence has).
var leakMarkers = []string{"sql", "error 1", "syntax", "database", "constraint", "duplicate entry", "like or glob",
	"expression tree", "no such table", "no such column", "deadlock", "driver", "incorrect string value", "data too long",
	"insert into", " where ", "order by", "vm_instances", "resource_tags", "network_ips", "role_permissions",
	"configuration_values", "async_jobs", "mgmt_servers", "physical_networks", "traffic_types", "vlan_ranges",
	"public_ips", "vnet_allocations", "storage_pools", "image_stores", "service_offerings", "disk_offerings",
	"network_offerings", "vpc_offerings", "os_types", "os_categories", "resource_limits", "resource_counts",
	"template_stores", "template_permissions", "ssh_keypairs", "affinity_group", "snapshot_store_refs", "snapshot_policies"}

// leak returns the first leak marker in an error text, or "".
func leak(text string) string {
	low := strings.ToLower(text)
	for _, m := range leakMarkers {
		if strings.Contains(low, m) {
			return m
		}
	}
	return ""
}

// shape is one kind of hostile value: value gives it for a parameter; long shapes exceed every
// bound a parameter has and must be refused naming it.
type shape struct {
	name  string
	value func(p api.Param) string
	long  bool
	// repeat sends the parameter twice: a well-formed value, then this one.
	repeat bool
	// mapEntries, for map parameters only, sends that many entries of value each.
	mapEntries int
}

const longLen = 50000

// limitOf is the bound the server applies to a parameter (api.DefaultLength unless declared).
func limitOf(p api.Param) int {
	if p.Length > 0 {
		return p.Length
	}
	return api.DefaultLength
}

func longList(p api.Param) string {
	items := make([]string, 3000)
	for i := range items {
		if p.Elem == "uuid" {
			items[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		} else {
			items[i] = fmt.Sprintf("Svc%d", i)
		}
	}
	return strings.Join(items, ",")
}

var sqlMeta = `x'"%_\;-- ' OR 1=1 --`

var badShapes = []shape{
	{name: "long string", long: true, value: func(api.Param) string { return strings.Repeat("a", longLen) }},
	{name: "long list", long: true, value: longList},
	{name: "at the length limit", value: func(p api.Param) string {
		return strings.Repeat("b", limitOf(p))
	}},
	{name: "unicode", value: func(api.Param) string { return "名前-ünï-😀-\u202e-\u0000-end" }},
	{name: "invalid UTF-8", value: func(api.Param) string { return "bad\xff\xfe-utf8" }},
	{name: "SQL metacharacters", value: func(api.Param) string { return sqlMeta }},
	{name: "repeated key", repeat: true, value: func(api.Param) string { return sqlMeta }},
	{name: "more map entries than allowed", mapEntries: api.MaxListItems + 1, value: func(api.Param) string { return "v" }},
	{name: "a map larger than allowed", mapEntries: 20, value: func(api.Param) string { return strings.Repeat("m", 1000) }},
}

// answer is one API call's outcome.
type answer struct {
	status int
	code   int
	text   string
	jobID  string
	body   string
}

// signedCall sends params (and, for extra, a second value of some keys) as the admin, in a
// POST body so that long values fit; the signature covers the first value of each key, as the
// server reads it.
func signedCall(t *testing.T, e *mgmttest.Env, cmd string, params map[string]string, extra url.Values) answer {
	t.Helper()
	p := map[string]string{}
	for k, v := range params {
		p[k] = v
	}
	p["command"], p["response"] = cmd, "json"
	p["apiKey"], p["signatureVersion"] = e.Admin.Key, "3"
	p["expires"] = time.Now().Add(10 * time.Minute).UTC().Format("2006-01-02T15:04:05-0700")
	p["signature"] = iam.Sign(p, e.Admin.Secret)
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	for k, vs := range extra {
		for _, v := range vs {
			form.Add(k, v)
		}
	}
	resp, err := http.Post(e.URL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read: %v", cmd, err)
	}
	a := answer{status: resp.StatusCode, body: string(raw)}
	var outer map[string]map[string]any
	if err := json.Unmarshal(raw, &outer); err != nil {
		a.text = fmt.Sprintf("not JSON: %.300s", raw)
		return a
	}
	for _, in := range outer {
		if c, ok := in["errorcode"].(float64); ok {
			a.code = int(c)
		}
		a.text, _ = in["errortext"].(string)
		a.jobID, _ = in["jobid"].(string)
	}
	return a
}

// jobFailure waits for a job and returns its error code and text ("" when it succeeded).
func jobFailure(t *testing.T, e *mgmttest.Env, jobID string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	j, err := e.Admin.Wait(ctx, jobID)
	if err != nil {
		t.Fatalf("wait for job %s: %v", jobID, err)
	}
	if st, _ := j["jobstatus"].(float64); st != 2 {
		return 0, ""
	}
	res, _ := j["jobresult"].(map[string]any)
	code, _ := res["errorcode"].(float64)
	text, _ := res["errortext"].(string)
	return int(code), text
}

// badInputShapes sends every command, as the admin, with each of its parameters (typed or not,
// required or not) given each hostile shape: 50,000 characters, thousands of list items, a value
// exactly at the parameter's length bound, unicode, invalid UTF-8, SQL and LIKE metacharacters,
// and the parameter sent twice. No answer (or job result) is a 530 or carries database text; a
// refused call changes nothing; a value longer than the parameter allows is a 431 naming it.
// shapes limits the shapes sent (nil: all).
func badInputShapes(t *testing.T, e *mgmttest.Env, mysql bool, shapes []shape) {
	if shapes == nil {
		shapes = badShapes
	}
	calls := 0
	before := wideFingerprint(t, e, mysql)
	for _, cmd := range e.Server.API.Reg.All() {
		full := map[string]string{}
		for _, p := range cmd.Params {
			if p.Required {
				full[p.Name] = dummy(p.Type)
			}
		}
		for _, p := range cmd.Params {
			for _, sh := range shapes {
				v := sh.value(p)
				if sh.name == "at the length limit" && p.Type != api.TString && p.Type != api.TMap {
					continue // a typed value that long is malformed, covered by long string
				}
				if sh.mapEntries > 0 && p.Type != api.TMap {
					continue
				}
				params := map[string]string{}
				for k, val := range full {
					params[k] = val
				}
				var extra url.Values
				target := p.Name
				switch {
				case p.Type == api.TMap && sh.mapEntries > 0:
					delete(params, p.Name)
					for i := 0; i < sh.mapEntries; i++ {
						params[fmt.Sprintf("%s[%d].key", p.Name, i)] = fmt.Sprintf("k%d", i)
						params[fmt.Sprintf("%s[%d].value", p.Name, i)] = v
					}
				case p.Type == api.TMap:
					delete(params, p.Name)
					target = p.Name + "[0].key"
					params[p.Name+"[0].key"] = v
					params[p.Name+"[0].value"] = v
				case sh.repeat:
					params[p.Name] = dummy(p.Type)
					extra = url.Values{p.Name: {v}}
				default:
					params[p.Name] = v
				}
				if sh.repeat && p.Type == api.TMap {
					params[target] = "k"
					extra = url.Values{target: {v}}
				}
				a := signedCall(t, e, cmd.Name, params, extra)
				calls++
				what := fmt.Sprintf("%s with %s as %s", cmd.Name, p.Name, sh.name)
				if a.status == 0 || a.text == "" && a.status != http.StatusOK {
					t.Errorf("%s: HTTP %d, no error text: %.300s", what, a.status, a.body)
				}
				if a.code == api.CodeInternal || a.status == api.CodeInternal {
					t.Errorf("%s: answered 530: %s", what, a.text)
				}
				if m := leak(a.text); m != "" {
					t.Errorf("%s: error text carries %q: %s", what, m, a.text)
				}
				if sh.long && utf8.RuneCountInString(v) > limitOf(p) || sh.mapEntries > 0 {
					if a.code != api.CodeParam || !strings.Contains(a.text, p.Name) {
						t.Errorf("%s: want 431 naming %s, got HTTP %d %d %s", what, p.Name, a.status, a.code, a.text)
					}
				}
				refused := a.status != http.StatusOK
				if a.jobID != "" {
					code, text := jobFailure(t, e, a.jobID)
					if code == api.CodeInternal {
						t.Errorf("%s: job failed with 530: %s", what, text)
					}
					if m := leak(text); m != "" {
						t.Errorf("%s: job error text carries %q: %s", what, m, text)
					}
					refused = text != ""
				}
				if cmd.List {
					continue // lists change nothing; their own tests say so, and the next line costs
				}
				after := wideFingerprint(t, e, mysql)
				if refused && after != before {
					t.Errorf("%s was refused (%d %s) but changed the database", what, a.code, a.text)
				}
				before = after
			}
		}
		if cmd.List {
			before = wideFingerprint(t, e, mysql)
		}
	}
	t.Logf("%d hostile calls across %d commands", calls, len(e.Server.API.Reg.All()))
	if calls < 1000 {
		t.Fatalf("only %d hostile calls", calls)
	}
}

// TestTagsRefusalsChangeNothing: createTags with a key the resource has already, and deleteTags
// that matches nothing or names resources that do not exist or are not ids, answer 431 (not
// 530) and leave every tag as it was, even when part of the call was well-formed.
func TestTagsRefusalsChangeNothing(t *testing.T) { tagsRefusalsChangeNothing(t, false) }

// TestTagsRefusalsChangeNothingOnMariaDB is TestTagsRefusalsChangeNothing on MariaDB.
func TestTagsRefusalsChangeNothingOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	tagsRefusalsChangeNothing(t, true)
}

func tagsRefusalsChangeNothing(t *testing.T, mysql bool) {
	e := mgmttest.Start(t, mgmttest.Options{MySQL: mysql})
	var tid string
	if err := e.Server.DB.SQL.QueryRowContext(context.Background(), "SELECT id FROM templates WHERE format <> 'ISO' ORDER BY id").Scan(&tid); err != nil {
		t.Fatalf("a template to tag: %v", err)
	}
	tag := func(params map[string]string) map[string]string {
		if params["resourcetype"] == "" {
			params["resourcetype"] = "Template"
		}
		return params
	}
	untagged := wideFingerprint(t, e, mysql)
	mgmttest.DoAsync(t, e.Admin, "createTags", tag(map[string]string{"resourceids": tid, "tags[0].key": "env", "tags[0].value": "prod"}))
	if wideFingerprint(t, e, mysql) == untagged {
		t.Fatal("the fingerprint does not see a new tag") // the checks below would prove nothing
	}
	missing := "00000000-0000-4000-8000-000000000000"
	cases := []struct {
		cmd    string
		params map[string]string
		want   string
	}{
		{"createTags", map[string]string{"resourceids": tid, "tags[0].key": "env", "tags[0].value": "dev"}, "tag env already on Template with id " + tid},
		// The new key goes too: the call is refused as a whole.
		{"createTags", map[string]string{"resourceids": tid, "tags[0].key": "new", "tags[0].value": "x", "tags[1].key": "env", "tags[1].value": "dev"}, "already on Template"},
		{"createTags", map[string]string{"resourceids": tid + "," + missing, "tags[0].key": "other", "tags[0].value": "x"}, "Unable to find resource by id " + missing},
		{"deleteTags", map[string]string{"resourceids": tid, "tags[0].key": "nosuchkey"}, "Failed to delete tags"},
		{"deleteTags", map[string]string{"resourceids": tid, "tags[0].key": "env", "tags[0].value": "dev"}, "Failed to delete tags"},
		{"deleteTags", map[string]string{"resourceids": missing}, "Unable to find resource by id " + missing},
		{"deleteTags", map[string]string{"resourceids": "not-an-id' OR 1=1 --"}, "Unable to find resource by id not-an-id"},
		{"deleteTags", map[string]string{"resourceids": tid + "," + missing, "tags[0].key": "env"}, "Unable to find resource by id " + missing},
		{"deleteTags", map[string]string{"resourceids": tid, "resourcetype": "UserVm"}, "Unable to find resource by id " + tid},
	}
	for _, c := range cases {
		params := tag(c.params)
		before := wideFingerprint(t, e, mysql)
		text := mgmttest.Fail(t, e.Admin, c.cmd, params, api.CodeParam)
		if !strings.Contains(text, c.want) {
			t.Errorf("%s %v: %q, want %q", c.cmd, c.params, text, c.want)
		}
		if wideFingerprint(t, e, mysql) != before {
			t.Errorf("%s %v was refused but changed the database", c.cmd, c.params)
		}
	}
	tags := mgmttest.Do(t, e.Admin, "listTags", map[string]string{"resourceid": tid, "listall": "true"})
	if n, _ := tags["count"].(float64); n != 1 {
		t.Fatalf("tags after refusals: %v", tags)
	}
	// The refusals left the tag deletable.
	mgmttest.DoAsync(t, e.Admin, "deleteTags", tag(map[string]string{"resourceids": tid, "tags[0].key": "ENV"}))
}
