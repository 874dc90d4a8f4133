package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
	"github.com/atollcloud/atoll/mgmt/orchestrate/transfer"
)

// get fetches url with method and answers the status and body.
func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tokenOf splits an extract URL into its signed token and file name.
func tokenOf(t *testing.T, base, url string) (string, string) {
	t.Helper()
	rest, ok := strings.CutPrefix(url, base+"/client/extract/")
	if !ok {
		t.Fatalf("extract URL %s is not under the management server the call reached (%s)", url, base)
	}
	tok, name, ok := strings.Cut(rest, "/")
	if !ok {
		t.Fatalf("extract URL %s has no file name", url)
	}
	return tok, name
}

// TestExtractURLs: extractTemplate and extractVolume answer a signed URL under the management
// server that expires; on the Simulator (nothing stored) GET says so with a 404 and nothing
// else; a tampered, foreign or expired URL is refused (403) and a malformed one is 404.
func TestExtractURLs(t *testing.T) {
	simulatorDownloads(t, 100*time.Millisecond)
	e := mgmttest.Start(t, mgmttest.Options{})
	base := strings.TrimSuffix(e.URL, "/client/api")
	zone := tplZone(t, e, "exz", "Simulator")
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "extract.url.expiration.interval", "value": "600"})
	tid := items(mgmttest.Do(t, e.Admin, "registerTemplate", map[string]string{"name": "ex", "displaytext": "ex", "format": "QCOW2",
		"hypervisor": "Simulator", "zoneid": zone, "url": "http://images.example.org/ex.qcow2", "isextractable": "true"}), "template")[0]["id"].(string)
	tplWait(t, e.Admin, tid, zone)

	before := time.Now().Unix()
	ex := mgmttest.DoAsync(t, e.Admin, "extractTemplate", map[string]string{"id": tid, "mode": "HTTP_DOWNLOAD", "zoneid": zone})["template"].(map[string]any)
	url := ex["url"].(string)
	if ex["state"] != "DOWNLOAD_URL_CREATED" || ex["extractMode"] != "HTTP_DOWNLOAD" || ex["zoneid"] != zone || ex["id"] != tid {
		t.Fatalf("extractTemplate answered %v", ex)
	}
	tok, name := tokenOf(t, base, url)
	if name != tid+".qcow2" {
		t.Errorf("file name %q, want %s.qcow2", name, tid)
	}
	keys, err := iam.LoadOrCreateKeyring(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := transfer.Verify(keys, tok, time.Now())
	if err != nil {
		t.Fatalf("the URL's token does not verify with the cloud's key: %v", err)
	}
	if got.Kind != transfer.KindTemplate || got.ID != tid || got.StoreID == "" || got.Path == "" {
		t.Errorf("token %+v", got)
	}
	if got.Expires < before+600 || got.Expires > time.Now().Unix()+600 {
		t.Errorf("token expires at %d, want 600 s (extract.url.expiration.interval) after %d", got.Expires, before)
	}

	// An admin may disable extraction altogether.
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "disable.extraction", "value": "true"})
	if text := mgmttest.Fail(t, e.Admin, "extractTemplate", map[string]string{"id": tid, "mode": "HTTP_DOWNLOAD", "zoneid": zone}, 531); !strings.Contains(text, "disabled") {
		t.Errorf("extractTemplate with disable.extraction: %s", text)
	}
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "disable.extraction", "value": "false"})

	// The Simulator stores nothing: a clear 404, on GET and HEAD.
	if code, body := get(t, http.MethodGet, url); code != http.StatusNotFound || !strings.Contains(body, "simulated") {
		t.Errorf("GET of a simulated template's URL: %d %q", code, body)
	}
	if code, _ := get(t, http.MethodHead, url); code != http.StatusNotFound {
		t.Errorf("HEAD of a simulated template's URL: %d", code)
	}
	if code, _ := get(t, http.MethodPost, url); code != http.StatusMethodNotAllowed {
		t.Errorf("POST to an extract URL: %d", code)
	}

	// Tampered with: another template id under the same signature; a flipped signature byte.
	payload, sig, _ := strings.Cut(tok, ".")
	other := got
	other.ID = "00000000-0000-0000-0000-000000000000"
	forged, _, _ := strings.Cut(transfer.Sign(keys, other), ".")
	flipped := []byte(sig) // another valid base64url character in the signature
	if flipped[3] == 'A' {
		flipped[3] = 'B'
	} else {
		flipped[3] = 'A'
	}
	foreignKeys, err := iam.LoadOrCreateKeyring(t.TempDir() + "/other.key")
	if err != nil {
		t.Fatal(err)
	}
	expired := got
	expired.Expires = time.Now().Unix() - 1
	for what, u := range map[string]string{
		"payload swapped": base + "/client/extract/" + forged + "." + sig + "/" + name,
		"signature":       base + "/client/extract/" + payload + "." + string(flipped) + "/" + name,
		"another cloud":   base + "/client/extract/" + transfer.Sign(foreignKeys, got) + "/" + name,
		"expired":         base + "/client/extract/" + transfer.Sign(keys, expired) + "/" + name,
	} {
		if code, body := get(t, http.MethodGet, u); code != http.StatusForbidden {
			t.Errorf("%s: GET answered %d %q, want 403", what, code, body)
		}
	}
	for what, u := range map[string]string{
		"no token":   base + "/client/extract/",
		"no name":    base + "/client/extract/" + tok,
		"not base64": base + "/client/extract/~~~.***/" + name,
	} {
		if code, _ := get(t, http.MethodGet, u); code != http.StatusNotFound {
			t.Errorf("%s: GET answered %d, want 404", what, code)
		}
	}

	// extractVolume: the volume's VM must be stopped (or the volume detached), the zone its.
	v := newVolEnv(t, e)
	running := v.vm(t, db.VMRunning)
	stopped := v.vm(t, db.VMStopped)
	rootOf := func(vmID string) string {
		return items(mgmttest.Do(t, v.alice, "listVolumes", map[string]string{"virtualmachineid": vmID, "type": "ROOT"}), "volume")[0]["id"].(string)
	}
	runRoot, stopRoot := rootOf(running.ID), rootOf(stopped.ID)
	if text := v.refuse(t, v.alice, "extractVolume", map[string]string{"id": runRoot, "mode": "HTTP_DOWNLOAD", "zoneid": v.zone}, 531); !strings.Contains(text, "stopped state") {
		t.Errorf("extractVolume of a running VM's volume: %s", text)
	}
	if text := v.refuse(t, v.alice, "extractVolume", map[string]string{"id": stopRoot, "mode": "FTP_UPLOAD", "zoneid": v.zone}, 431); !strings.Contains(text, "FTP_UPLOAD") {
		t.Errorf("extractVolume FTP_UPLOAD: %s", text)
	}
	v.refuse(t, v.alice, "extractVolume", map[string]string{"id": stopRoot, "mode": "HTTP_DOWNLOAD", "zoneid": zone}, 431)
	v.refuse(t, v.alice, "extractVolume", map[string]string{"id": stopRoot, "mode": "HTTP_DOWNLOAD"}, 431)
	v.refuse(t, v.bob, "extractVolume", map[string]string{"id": stopRoot, "mode": "HTTP_DOWNLOAD", "zoneid": v.zone}, 531)
	data := volOf(mgmttest.DoAsync(t, v.alice, "createVolume", map[string]string{"name": "d", "zoneid": v.zone, "diskofferingid": v.fixed}))
	if text := v.refuse(t, v.alice, "extractVolume", map[string]string{"id": data["id"].(string), "mode": "HTTP_DOWNLOAD", "zoneid": v.zone}, 431); !strings.Contains(text, "storage pool") {
		t.Errorf("extractVolume of an Allocated volume: %s", text)
	}
	xv := mgmttest.DoAsync(t, v.alice, "extractVolume", map[string]string{"id": stopRoot, "mode": "HTTP_DOWNLOAD", "zoneid": v.zone})["volume"].(map[string]any)
	if xv["id"] != stopRoot || xv["state"] != "DOWNLOAD_URL_CREATED" || xv["zoneid"] != v.zone || xv["url"] == nil {
		t.Fatalf("extractVolume answered %v", xv)
	}
	vtok, vname := tokenOf(t, base, xv["url"].(string))
	if vt, err := transfer.Verify(keys, vtok, time.Now()); err != nil || vt.Kind != transfer.KindVolume || vt.ID != stopRoot || vname != stopRoot+".qcow2" {
		t.Errorf("extractVolume URL %s: %+v %v", xv["url"], vt, err)
	}
	if code, body := get(t, http.MethodGet, xv["url"].(string)); code != http.StatusNotFound || !strings.Contains(body, "simulated") {
		t.Errorf("GET of a simulated volume's URL: %d %q", code, body)
	}
}
