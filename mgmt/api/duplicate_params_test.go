package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// sendOrdered sends command with the parameters in exactly the order and spelling given,
// signed as a CloudStack client signs (the first value of each name as sent), by GET or by
// POST, and returns the status and the answer.
func sendOrdered(t *testing.T, c *api.Client, post bool, command string, pairs [][2]string) (int, string) {
	t.Helper()
	pairs = append([][2]string{{"command", command}, {"response", "json"}, {"apiKey", c.Key}, {"signatureVersion", "3"},
		{"expires", time.Now().Add(10 * time.Minute).UTC().Format("2006-01-02T15:04:05-0700")}}, pairs...)
	signed := map[string]string{}
	for _, kv := range pairs {
		if _, ok := signed[kv[0]]; !ok {
			signed[kv[0]] = kv[1]
		}
	}
	pairs = append(pairs, [2]string{"signature", iam.Sign(signed, c.Secret)})
	var q []string
	for _, kv := range pairs {
		q = append(q, url.QueryEscape(kv[0])+"="+url.QueryEscape(kv[1]))
	}
	var resp *http.Response
	var err error
	if post {
		resp, err = http.Post(c.Endpoint, "application/x-www-form-urlencoded", strings.NewReader(strings.Join(q, "&")))
	} else {
		resp, err = http.Get(c.Endpoint + "?" + strings.Join(q, "&"))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestDuplicateParameters: a parameter sent twice in different case (id=A&ID=B, in either
// order, by GET or POST) is refused the same way every time, 431 naming it; one repeated in
// the same spelling answers with its first value, every time; one sent once in another case
// (ID=B) is read, and its request's signature, over the names as sent, verifies.
func TestDuplicateParameters(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	a := rootDomainID(t, e)
	b := mgmttest.Do(t, e.Admin, "createDomain", map[string]string{"name": "dupdom"})["domain"].(map[string]any)["id"].(string)

	same := func(name string, post bool, pairs [][2]string) (int, string) {
		t.Helper()
		status, body := sendOrdered(t, e.Admin, post, "listDomains", pairs)
		for i := 1; i < 20; i++ {
			if s, b := sendOrdered(t, e.Admin, post, "listDomains", pairs); s != status || b != body {
				t.Fatalf("%s: answer %d differs: HTTP %d %s, then HTTP %d %s", name, i, status, body, s, b)
			}
		}
		return status, body
	}
	for _, post := range []bool{false, true} {
		for name, pairs := range map[string][][2]string{"id=A&ID=B": {{"id", a}, {"ID", b}}, "ID=B&id=A": {{"ID", b}, {"id", a}},
			"Id=A&ID=B": {{"Id", a}, {"ID", b}}} {
			status, body := same(name, post, pairs)
			var res map[string]map[string]any
			if err := json.Unmarshal([]byte(body), &res); err != nil {
				t.Fatalf("%s: %v: %s", name, err, body)
			}
			r := res["listdomainsresponse"]
			if status != 431 || r["errorcode"] != float64(431) || !strings.Contains(r["errortext"].(string), "Parameter id was sent more than once") {
				t.Fatalf("%s (post %v): want 431 naming id, got HTTP %d %s", name, post, status, body)
			}
		}
		for name, c := range map[string]struct {
			pairs [][2]string
			want  string
		}{
			"id=A&id=B": {[][2]string{{"id", a}, {"id", b}}, a},
			"id=B&id=A": {[][2]string{{"id", b}, {"id", a}}, b},
			"ID=B":      {[][2]string{{"ID", b}}, b},
		} {
			status, body := same(name, post, c.pairs)
			var res map[string]map[string]any
			if err := json.Unmarshal([]byte(body), &res); err != nil {
				t.Fatalf("%s: %v: %s", name, err, body)
			}
			list, _ := res["listdomainsresponse"]["domain"].([]any)
			if status != 200 || len(list) != 1 || list[0].(map[string]any)["id"] != c.want {
				t.Fatalf("%s (post %v): want domain %s, got HTTP %d %s", name, post, c.want, status, body)
			}
		}
	}
	// The command itself sent twice: refused with no command's name on the answer.
	if status, body := sendOrdered(t, e.Admin, false, "listDomains", [][2]string{{"COMMAND", "listZones"}}); status != 431 ||
		!strings.Contains(body, "Parameter command was sent more than once") || !strings.Contains(body, "errorresponse") {
		t.Fatalf("command sent twice: HTTP %d %s", status, body)
	}
}
