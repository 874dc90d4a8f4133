package test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/mgmt/api"
)

// fetch GETs (or HEADs) url with optional headers and answers the response and its body.
func fetch(t *testing.T, method, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, b
}

// TestKVMExtract extracts from a real zone (image store and primary storage on nfs-ganesha,
// a real agent): extractTemplate's URL streams the template's exact bytes (GET, HEAD, Range)
// from the management server; a tampered or expired URL is refused; extractVolume of a
// stopped VM's root volume (a linked clone of the template) streams a standalone qcow2 with
// the volume's contents, and is refused while the VM runs.
func TestKVMExtract(t *testing.T) {
	h := startKVMHost(t)
	url, sum, _ := serveTemplate(t)
	tid, tmpl := h.registerTiny(t, "tiny-extract", url, sum)
	if tmpl["isready"] != true {
		t.Fatalf("template not ready: %v", tmpl["status"])
	}
	wantSum := strings.TrimPrefix(sum, "{SHA-256}")
	base := strings.TrimSuffix(h.c.Endpoint, "/client/api")

	ex := api.First(h.do(t, "extractTemplate", map[string]string{"id": tid, "mode": "HTTP_DOWNLOAD", "zoneid": h.zoneID}), "template")
	xurl, _ := ex["url"].(string)
	if ex["state"] != "DOWNLOAD_URL_CREATED" || !strings.HasPrefix(xurl, base+"/client/extract/") {
		t.Fatalf("extractTemplate answered %v", ex)
	}
	start := time.Now()
	resp, body := fetch(t, http.MethodGet, xurl, nil)
	took := time.Since(start)
	got := sha256.Sum256(body)
	if resp.StatusCode != 200 || hex.EncodeToString(got[:]) != wantSum {
		t.Fatalf("GET %s: %s, %d bytes, sha256 %x, want %s", xurl, resp.Status, len(body), got, wantSum)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(body))
	}
	t.Logf("extracted template: %d bytes in %s (%.1f MiB/s)", len(body), took.Round(time.Millisecond), float64(len(body))/took.Seconds()/(1<<20))
	if resp, b := fetch(t, http.MethodHead, xurl, nil); resp.StatusCode != 200 || resp.ContentLength != int64(len(body)) || len(b) != 0 {
		t.Errorf("HEAD: %s, length %d, %d body bytes", resp.Status, resp.ContentLength, len(b))
	}
	if resp, b := fetch(t, http.MethodGet, xurl, map[string]string{"Range": "bytes=100-199"}); resp.StatusCode != http.StatusPartialContent ||
		string(b) != string(body[100:200]) {
		t.Errorf("Range 100-199: %s, %d bytes", resp.Status, len(b))
	}

	// Tampered with, or expired: refused before anything is read.
	tok := strings.TrimPrefix(xurl, base+"/client/extract/")
	payload, rest, _ := strings.Cut(tok, ".")
	bad := []byte(payload)
	bad[len(bad)/2] ^= 0x01
	if resp, b := fetch(t, http.MethodGet, base+"/client/extract/"+string(bad)+"."+rest, nil); resp.StatusCode != http.StatusForbidden &&
		resp.StatusCode != http.StatusNotFound {
		t.Errorf("tampered URL: %s, %d bytes", resp.Status, len(b))
	}
	h.do(t, "updateConfiguration", map[string]string{"name": "extract.url.expiration.interval", "value": "1"})
	short := api.First(h.do(t, "extractTemplate", map[string]string{"id": tid, "mode": "HTTP_DOWNLOAD", "zoneid": h.zoneID}), "template")["url"].(string)
	time.Sleep(2100 * time.Millisecond)
	if resp, b := fetch(t, http.MethodGet, short, nil); resp.StatusCode != http.StatusForbidden || len(b) > 100 {
		t.Errorf("expired URL: %s, %d bytes", resp.Status, len(b))
	}
	h.do(t, "updateConfiguration", map[string]string{"name": "extract.url.expiration.interval", "value": "14400"})

	// extractVolume: refused while the VM runs; once it is stopped, its root volume (a linked
	// clone on the primary export) comes out as a standalone qcow2 with the same contents.
	offering := api.First(h.do(t, "createServiceOffering", map[string]string{"name": "tiny-x", "displaytext": "tiny-x", "cpunumber": "1",
		"cpuspeed": "500", "memory": "192"}), "serviceoffering")["id"].(string)
	vm := api.First(h.do(t, "deployVirtualMachine", map[string]string{"zoneid": h.zoneID, "templateid": tid, "serviceofferingid": offering,
		"name": "extract-1"}), "virtualmachine")
	vmID := vm["id"].(string)
	root := api.First(h.do(t, "listVolumes", map[string]string{"virtualmachineid": vmID, "type": "ROOT"}), "volume")["id"].(string)
	if _, err := h.c.DoWait(h.ctx, "extractVolume", map[string]string{"id": root, "mode": "HTTP_DOWNLOAD", "zoneid": h.zoneID}); err == nil ||
		!strings.Contains(err.Error(), "stopped state") {
		t.Errorf("extractVolume of a running VM's root volume: %v", err)
	}
	h.do(t, "stopVirtualMachine", map[string]string{"id": vmID, "forced": "true"})
	start = time.Now()
	xv := api.First(h.do(t, "extractVolume", map[string]string{"id": root, "mode": "HTTP_DOWNLOAD", "zoneid": h.zoneID}), "volume")
	t.Logf("extractVolume (copy to the image store): %s", time.Since(start).Round(time.Millisecond))
	resp, vbody := fetch(t, http.MethodGet, xv["url"].(string), nil)
	if resp.StatusCode != 200 || len(vbody) == 0 {
		t.Fatalf("GET of the volume's URL: %s, %d bytes", resp.Status, len(vbody))
	}
	out := filepath.Join(t.TempDir(), "root.qcow2")
	if err := os.WriteFile(out, vbody, 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := exec.Command("qemu-img", "info", "--output=json", out).Output()
	if err != nil {
		t.Fatalf("qemu-img info of the extracted volume: %v", err)
	}
	var ii struct {
		Format      string `json:"format"`
		BackingFile string `json:"backing-filename"`
	}
	if err := json.Unmarshal(info, &ii); err != nil || ii.Format != "qcow2" || ii.BackingFile != "" {
		t.Errorf("extracted volume: %s (%v)", info, err)
	}
	// The root volume on the export is an overlay whose backing file is an nfs:// URL or a
	// path on the export; qemu-img compares the guest-visible contents.
	if cmp, err := exec.Command("qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", out, filepath.Join(h.primary, root)).CombinedOutput(); err != nil {
		t.Errorf("the extracted volume differs from the root volume: %v\n%s", err, cmp)
	}
	copies, _ := filepath.Glob(filepath.Join(h.secondary, "volumes", "extract", root, "*.qcow2"))
	if len(copies) != 1 {
		t.Errorf("copies of the volume on the image store: %v", copies)
	}

	// getUploadParamsForVolume, then a POST of a small qcow2 as CloudStack's UI sends it: the
	// volume is Uploaded with its checksum verified; attaching it to the stopped VM copies it
	// onto the primary export.
	img := filepath.Join(t.TempDir(), "up.qcow2")
	for _, args := range [][]string{{"qemu-img", "create", "-q", "-f", "qcow2", img, "64M"}, {"qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 2M", img}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	upData, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	upSum := sha256.Sum256(upData)
	params := func(name, checksum string) map[string]any {
		return api.First(h.do(t, "getUploadParamsForVolume", map[string]string{"name": name, "zoneid": h.zoneID, "format": "QCOW2",
			"checksum": checksum}), "getuploadparams")
	}
	good := params("up-1", "{SHA-256}"+hex.EncodeToString(upSum[:]))
	if st := h.volumeState(t, good["id"].(string)); st != "NotUploaded" {
		t.Errorf("volume after getUploadParamsForVolume: %s", st)
	}
	// A tampered URL or signature header is refused and changes nothing.
	if code, text := postFile(t, good["postURL"].(string)+"x", nil, upData); code != http.StatusForbidden && code != http.StatusNotFound {
		t.Errorf("POST to a tampered URL: %d %s", code, text)
	}
	if code, text := postFile(t, good["postURL"].(string), map[string]string{"X-signature": "AAAA"}, upData); code != http.StatusForbidden {
		t.Errorf("POST with a wrong X-signature: %d %s", code, text)
	}
	start = time.Now()
	if code, text := postFile(t, good["postURL"].(string), map[string]string{"X-signature": good["signature"].(string),
		"X-metadata": good["metadata"].(string), "X-expires": good["expires"].(string)}, upData); code != http.StatusOK {
		t.Fatalf("POST of the volume: %d %s", code, text)
	}
	t.Logf("uploaded %d bytes in %s", len(upData), time.Since(start).Round(time.Millisecond))
	up := api.First(h.do(t, "listVolumes", map[string]string{"id": good["id"].(string)}), "volume")
	if up["state"] != "Uploaded" || up["size"] != float64(64<<20) {
		t.Errorf("uploaded volume: %v", up)
	}
	stored, _ := filepath.Glob(filepath.Join(h.secondary, "volumes", "*", good["id"].(string), "*"))
	if len(stored) != 1 || sha256File(t, stored[0]) != upSum {
		t.Errorf("the upload on the image store: %v", stored)
	}
	// A second POST to the same URL is refused: the volume has its bytes.
	if code, _ := postFile(t, good["postURL"].(string), nil, upData); code != http.StatusConflict {
		t.Errorf("a second POST: %d", code)
	}

	// A wrong checksum: refused, the volume is UploadError and nothing is left on the store.
	badUp := params("up-bad", "{SHA-256}"+strings.Repeat("0", 64))
	if code, text := postFile(t, badUp["postURL"].(string), nil, upData); code != http.StatusBadRequest || !strings.Contains(text, "checksum") {
		t.Errorf("POST with a wrong checksum: %d %s", code, text)
	}
	if st := h.volumeState(t, badUp["id"].(string)); st != "UploadError" {
		t.Errorf("volume after a refused upload: %s", st)
	}
	if left, _ := filepath.Glob(filepath.Join(h.secondary, "volumes", "*", badUp["id"].(string), "*")); len(left) != 0 {
		t.Errorf("a refused upload left %v", left)
	}
	h.do(t, "deleteVolume", map[string]string{"id": badUp["id"].(string)})
	// Bytes that are no qcow2 (qemu-img takes them as raw): refused against the declared QCOW2.
	raw := params("up-raw", "")
	if code, text := postFile(t, raw["postURL"].(string), nil, bytes.Repeat([]byte("not a qcow2 "), 1000)); code != http.StatusBadRequest ||
		!strings.Contains(text, "QCOW2") {
		t.Errorf("POST of bytes that are no qcow2: %d %s", code, text)
	}
	if left, _ := filepath.Glob(filepath.Join(h.secondary, "volumes", "*", raw["id"].(string), "*")); len(left) != 0 {
		t.Errorf("a refused upload left %v", left)
	}

	// Attached to the stopped VM, the uploaded volume is copied to the primary export.
	h.do(t, "attachVolume", map[string]string{"id": good["id"].(string), "virtualmachineid": vmID})
	att := api.First(h.do(t, "listVolumes", map[string]string{"id": good["id"].(string)}), "volume")
	if att["state"] != "Ready" || att["virtualmachineid"] != vmID {
		t.Errorf("uploaded volume after attach: %v", att)
	}
	onPrimary := filepath.Join(h.primary, good["id"].(string))
	if cmp, err := exec.Command("qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", img, onPrimary).CombinedOutput(); err != nil {
		t.Errorf("the attached volume on the primary export differs from the upload: %v\n%s", err, cmp)
	}
	if _, err := os.Stat(stored[0]); !os.IsNotExist(err) {
		t.Errorf("the image store copy of an attached uploaded volume is still there: %v", err)
	}
	// getUploadParamsForTemplate, a POST of the image, and the template is ready in the zone;
	// extracting it gives the same bytes back.
	tp := api.First(h.do(t, "getUploadParamsForTemplate", map[string]string{"name": "up-tpl", "displaytext": "up-tpl", "format": "QCOW2",
		"hypervisor": "KVM", "zoneid": h.zoneID, "ostypeid": h.osType(t), "isextractable": "true",
		"checksum": "{SHA-256}" + hex.EncodeToString(upSum[:])}), "getuploadparams")
	if st := api.First(h.do(t, "listTemplates", map[string]string{"templatefilter": "self", "id": tp["id"].(string)}), "template"); st["isready"] == true ||
		st["status"] != "Not Uploaded" {
		t.Errorf("template before its upload: %v %v", st["isready"], st["status"])
	}
	if code, text := postFile(t, tp["postURL"].(string), map[string]string{"X-signature": tp["signature"].(string)}, upData); code != http.StatusOK {
		t.Fatalf("POST of the template: %d %s", code, text)
	}
	ut := api.First(h.do(t, "listTemplates", map[string]string{"templatefilter": "self", "id": tp["id"].(string)}), "template")
	if ut["isready"] != true || ut["size"] != float64(64<<20) {
		t.Errorf("uploaded template: %v", ut)
	}
	back := api.First(h.do(t, "extractTemplate", map[string]string{"id": tp["id"].(string), "mode": "HTTP_DOWNLOAD", "zoneid": h.zoneID}), "template")
	if resp, b := fetch(t, http.MethodGet, back["url"].(string), nil); resp.StatusCode != 200 || sha256.Sum256(b) != upSum {
		t.Errorf("the uploaded template extracted: %s, %d bytes", resp.Status, len(b))
	}

	// uploadVolume from a local HTTP server: downloaded by the host into the image store with
	// its checksum verified (a wrong one fails the job and leaves nothing), then attached.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "up.qcow2", time.Time{}, bytes.NewReader(upData))
	}))
	defer srv.Close()
	_, err = h.c.DoWait(h.ctx, "uploadVolume", map[string]string{"name": "up-url-bad", "zoneid": h.zoneID, "format": "QCOW2",
		"url": srv.URL + "/up.qcow2", "checksum": "{SHA-256}" + strings.Repeat("1", 64)})
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "checksum") {
		t.Errorf("uploadVolume with a wrong checksum: %v", err)
	}
	failed := api.First(h.do(t, "listVolumes", map[string]string{"name": "up-url-bad"}), "volume")
	if failed["state"] != "UploadError" {
		t.Errorf("volume after a failed uploadVolume: %v", failed["state"])
	}
	if left, _ := filepath.Glob(filepath.Join(h.secondary, "volumes", "*", failed["id"].(string), "*")); len(left) != 0 {
		t.Errorf("a failed uploadVolume left %v", left)
	}
	start = time.Now()
	byURL := api.First(h.do(t, "uploadVolume", map[string]string{"name": "up-url", "zoneid": h.zoneID, "format": "QCOW2",
		"url": srv.URL + "/up.qcow2", "checksum": "{SHA-256}" + hex.EncodeToString(upSum[:])}), "volume")
	t.Logf("uploadVolume of %d bytes: %s", len(upData), time.Since(start).Round(time.Millisecond))
	if byURL["state"] != "Uploaded" || byURL["size"] != float64(64<<20) {
		t.Fatalf("uploadVolume answered %v", byURL)
	}
	h.do(t, "attachVolume", map[string]string{"id": byURL["id"].(string), "virtualmachineid": vmID})
	if cmp, err := exec.Command("qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", img, filepath.Join(h.primary, byURL["id"].(string))).CombinedOutput(); err != nil {
		t.Errorf("the attached uploadVolume volume differs from its source: %v\n%s", err, cmp)
	}
}

func (h *kvmHost) volumeState(t *testing.T, id string) string {
	t.Helper()
	return fmt.Sprint(api.First(h.do(t, "listVolumes", map[string]string{"id": id}), "volume")["state"])
}

func sha256File(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// postFile POSTs data as the "file" part of a multipart form, as CloudStack's UI uploads.
func postFile(t *testing.T, url string, hdr map[string]string, data []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", "volume.qcow2")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, url, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
