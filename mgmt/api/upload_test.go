package api_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
	"github.com/atollcloud/atoll/mgmt/orchestrate/transfer"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
)

// postForm POSTs data as a multipart form's "file" part and answers the status and body.
func postForm(t *testing.T, url string, hdr map[string]string, data []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "v.qcow2")
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, url, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestUploadParams: getUploadParamsForVolume records a NotUploaded volume (counted) and
// answers CloudStack's fields with a signed POST URL under the management server; bad input
// changes nothing; a tampered or expired URL, or wrong headers, are refused before anything
// changes; on the Simulator (no host to store the bytes) the POST says so and the volume keeps
// waiting; deleteVolume removes a volume that never got its bytes.
func TestUploadParams(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	v := newVolEnv(t, e)
	base := strings.TrimSuffix(e.URL, "/client/api")
	keys, err := iam.LoadOrCreateKeyring(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	p := map[string]string{"name": "up", "zoneid": v.zone, "format": "QCOW2"}
	with := func(k, val string) map[string]string {
		q := map[string]string{}
		for a, b := range p {
			q[a] = b
		}
		q[k] = val
		return q
	}
	v.refuse(t, v.alice, "getUploadParamsForVolume", with("format", "VHD"), 431)
	v.refuse(t, v.alice, "getUploadParamsForVolume", with("zoneid", "00000000-0000-0000-0000-000000000000"), 431)
	v.refuse(t, v.alice, "getUploadParamsForVolume", with("checksum", "{SHA-256}abc"), 431)
	v.refuse(t, v.alice, "getUploadParamsForVolume", with("diskofferingid", v.fixed), 431)
	v.refuse(t, v.alice, "getUploadParamsForVolume", with("imagestoreuuid", "00000000-0000-0000-0000-000000000000"), 431)

	before := v.count(t, db.ResVolume)
	r := mgmttest.Do(t, v.alice, "getUploadParamsForVolume", with("diskofferingid", v.custom))["getuploadparams"].(map[string]any)
	for _, k := range []string{"id", "postURL", "metadata", "signature", "expires"} {
		if s, _ := r[k].(string); s == "" {
			t.Errorf("getUploadParamsForVolume: no %s in %v", k, r)
		}
	}
	if v.count(t, db.ResVolume) != before+1 {
		t.Errorf("the upload's volume is not counted")
	}
	id, postURL := r["id"].(string), r["postURL"].(string)
	signed, ok := strings.CutPrefix(postURL, base+"/client/upload/")
	if !ok || signed != r["metadata"].(string)+"."+r["signature"].(string) {
		t.Fatalf("postURL %s is not the management server's upload URL with metadata.signature", postURL)
	}
	tok, err := transfer.Verify(keys, signed, time.Now())
	if err != nil || tok.ID != id || tok.Object != transfer.KindVolume || tok.Expires < time.Now().Unix()+9*60 || tok.Expires > time.Now().Unix()+10*60 {
		t.Errorf("upload token %+v, %v (want 10 minutes, upload.operation.timeout)", tok, err)
	}
	vol := items(mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"id": id}), "volume")
	if len(vol) != 1 || vol[0]["state"] != "NotUploaded" || vol[0]["diskofferingid"] != v.custom {
		t.Fatalf("the upload's volume: %v", vol)
	}

	data := []byte("QFI\xfb not really an image")
	expired := tok
	expired.Expires = time.Now().Unix() - 1
	payload, _, _ := strings.Cut(signed, ".")
	for what, c := range map[string]struct {
		url  string
		hdr  map[string]string
		code int
	}{
		"signature":      {base + "/client/upload/" + payload + ".AAAA", nil, http.StatusForbidden},
		"expired":        {base + "/client/upload/" + transfer.Sign(keys, expired), nil, http.StatusForbidden},
		"X-signature":    {postURL, map[string]string{"X-signature": "AAAA"}, http.StatusForbidden},
		"X-metadata":     {postURL, map[string]string{"X-metadata": "AAAA"}, http.StatusForbidden},
		"an extract URL": {base + "/client/upload/" + transfer.Sign(keys, transfer.Token{Kind: transfer.KindTemplate, ID: id, Expires: tok.Expires}), nil, http.StatusNotFound},
	} {
		st := v.state(t)
		if code, body := postForm(t, c.url, c.hdr, data); code != c.code {
			t.Errorf("%s: POST answered %d %q, want %d", what, code, body, c.code)
		}
		if v.state(t) != st {
			t.Errorf("%s: a refused POST changed the database", what)
		}
	}
	if code, _ := get(t, http.MethodGet, postURL); code != http.StatusMethodNotAllowed {
		t.Errorf("GET of an upload URL: %d", code)
	}
	// The Simulator has no host to write the bytes: a clear 503, and the volume still waits.
	if code, body := postForm(t, postURL, map[string]string{"X-signature": r["signature"].(string)}, data); code != http.StatusServiceUnavailable ||
		!strings.Contains(body, "no host") {
		t.Errorf("POST in a Simulator zone: %d %q", code, body)
	}
	if st := items(mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"id": id}), "volume")[0]["state"]; st != "NotUploaded" {
		t.Errorf("after a POST no host could take: %v", st)
	}
	mgmttest.Do(t, v.alice, "deleteVolume", map[string]string{"id": id})
	if v.count(t, db.ResVolume) != before {
		t.Errorf("deleting the upload's volume did not give its count back")
	}

	// An upload that never comes within upload.operation.timeout is abandoned (the monitor
	// every server runs); its URL then takes nothing.
	late := mgmttest.Do(t, v.alice, "getUploadParamsForVolume", p)["getuploadparams"].(map[string]any)
	deps := &orchestrate.Deps{DB: e.Server.DB, Config: e.Server.API.Config}
	if err := volume.AbandonUploads(context.Background(), deps, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st := items(mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"id": late["id"].(string)}), "volume")[0]["state"]; st != "NotUploaded" {
		t.Errorf("a fresh upload was abandoned: %v", st)
	}
	if err := volume.AbandonUploads(context.Background(), deps, -time.Second); err != nil {
		t.Fatal(err)
	}
	if st := items(mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"id": late["id"].(string)}), "volume")[0]["state"]; st != "UploadAbandoned" {
		t.Errorf("an upload past its timeout: %v", st)
	}
	if code, _ := postForm(t, late["postURL"].(string), nil, data); code != http.StatusConflict {
		t.Errorf("POST for an abandoned upload: %d", code)
	}
	mgmttest.Do(t, v.alice, "deleteVolume", map[string]string{"id": late["id"].(string)})

	// uploadVolume: a URL the template rules refuse is refused; in a Simulator zone nothing is
	// fetched and the volume is Uploaded at once with the simulator's size; attaching it to a
	// stopped VM copies it onto a pool of the VM's cluster (reserved in the ledger).
	v.refuse(t, v.alice, "uploadVolume", map[string]string{"name": "u", "zoneid": v.zone, "format": "QCOW2", "url": "file:///etc/passwd"}, 431)
	v.refuse(t, v.alice, "uploadVolume", map[string]string{"name": "u", "zoneid": v.zone, "format": "QCOW2", "url": "http://127.0.0.1/x.qcow2"}, 431)
	up := volOf(mgmttest.DoAsync(t, v.alice, "uploadVolume", map[string]string{"name": "u", "zoneid": v.zone, "format": "QCOW2",
		"url": "http://images.example.org/u.qcow2", "checksum": "{SHA-256}" + strings.Repeat("ab", 32)}))
	if up["state"] != "Uploaded" || up["size"] != float64(2<<30) || up["storageid"] != nil {
		t.Fatalf("uploadVolume answered %v", up)
	}
	vm := v.vm(t, db.VMStopped)
	allocated := v.poolAllocated(t)
	att := volOf(mgmttest.DoAsync(t, v.alice, "attachVolume", map[string]string{"id": up["id"].(string), "virtualmachineid": vm.ID}))
	if att["state"] != "Ready" || att["storageid"] != v.pool || att["virtualmachineid"] != vm.ID {
		t.Errorf("the uploaded volume after attach: %v", att)
	}
	if got := v.poolAllocated(t); got != allocated+2<<30 {
		t.Errorf("pool allocation %d after attaching the uploaded volume, want %d", got, allocated+2<<30)
	}
	v.ledgerMatches(t)
}

// TestUploadParamsForTemplate: getUploadParamsForTemplate records the template, counted, with
// one copy Not Uploaded in the zone's store, and answers a signed POST URL; bad input changes
// nothing; on the Simulator the POST says there is no host and the copy keeps waiting.
func TestUploadParamsForTemplate(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	zone := tplZone(t, e, "upz", "Simulator")
	alice, _ := tenant(t, e, "upalice", "0", "")
	p := map[string]string{"name": "ut", "displaytext": "ut", "format": "QCOW2", "hypervisor": "Simulator", "zoneid": zone, "isextractable": "true"}
	with := func(k, val string) map[string]string {
		q := map[string]string{}
		for a, b := range p {
			q[a] = b
		}
		q[k] = val
		return q
	}
	tplRefuse(t, e, alice, "getUploadParamsForTemplate", with("zoneid", "-1"), 431, "zoneid")
	tplRefuse(t, e, alice, "getUploadParamsForTemplate", with("format", "VHDX"), 431, "format")
	tplRefuse(t, e, alice, "getUploadParamsForTemplate", with("checksum", "{MD5}12"), 431, "checksum")
	r := mgmttest.Do(t, alice, "getUploadParamsForTemplate", p)["getuploadparams"].(map[string]any)
	id, _ := r["id"].(string)
	if id == "" || !strings.Contains(r["postURL"].(string), "/client/upload/") || r["signature"] == "" || r["metadata"] == "" || r["expires"] == "" {
		t.Fatalf("getUploadParamsForTemplate answered %v", r)
	}
	l := tplList(t, alice, map[string]string{"templatefilter": "self", "id": id})
	if len(l) != 1 || l[0]["isready"] != false || l[0]["status"] != "Not Uploaded" || l[0]["zoneid"] != zone {
		t.Fatalf("the upload's template: %v", l)
	}
	tplRefuse(t, e, alice, "extractTemplate", map[string]string{"id": id, "mode": "HTTP_DOWNLOAD", "zoneid": zone}, 431, "not ready")
	if code, body := postForm(t, r["postURL"].(string), nil, []byte("x")); code != http.StatusServiceUnavailable || !strings.Contains(body, "no host") {
		t.Errorf("POST in a Simulator zone: %d %q", code, body)
	}
	if st := tplList(t, alice, map[string]string{"templatefilter": "self", "id": id})[0]["status"]; st != "Not Uploaded" {
		t.Errorf("after a POST no host could take: %v", st)
	}
	if err := template.AbandonUploads(context.Background(), &orchestrate.Deps{DB: e.Server.DB, Config: e.Server.API.Config}, -time.Second); err != nil {
		t.Fatal(err)
	}
	if st := tplList(t, alice, map[string]string{"templatefilter": "self", "id": id})[0]["status"]; !strings.Contains(fmt.Sprint(st), "abandoned") {
		t.Errorf("a template upload past its timeout: %v", st)
	}
	if code, _ := postForm(t, r["postURL"].(string), nil, []byte("x")); code != http.StatusConflict {
		t.Errorf("POST for an abandoned template upload: %d", code)
	}
}
