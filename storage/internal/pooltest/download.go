package pooltest

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atollcloud/atoll/storage"
)

// RunDownload downloads templates from a local HTTP server into store: good and bad
// checksums, a 404, the size limit, format checks and progress. A failed download must
// leave nothing in the destination directory.
func RunDownload(t *testing.T, store *storage.ImageStore) {
	NeedQemuImg(t)
	dir := t.TempDir()
	files := map[string][]byte{}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	files["/t.qcow2"] = read(MakeTemplate(t, 3*mib, 16*mib))
	raw := make([]byte, 2*mib)
	copy(raw, "not an iso, not a qcow2")
	files["/disk.raw"] = raw
	iso := make([]byte, 64*1024)
	copy(iso[32769:], "CD001")
	files["/boot.iso"] = iso
	base := filepath.Join(dir, "base.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "16M")
	backed := filepath.Join(dir, "backed.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, backed)
	files["/backed.qcow2"] = read(backed)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/stream/") { // no Content-Length
			b, ok := files[strings.TrimPrefix(r.URL.Path, "/stream")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			for len(b) > 0 {
				n := min(len(b), 256*1024)
				w.Write(b[:n])
				w.(http.Flusher).Flush()
				b = b[n:]
			}
			return
		}
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, r.URL.Path, time.Time{}, strings.NewReader(string(b)))
	}))
	defer srv.Close()

	q := files["/t.qcow2"]
	md5hex := fmt.Sprintf("%x", md5.Sum(q))
	sha256hex := fmt.Sprintf("%x", sha256.Sum256(q))
	sha1hex := fmt.Sprintf("%x", sha1.Sum(q))
	bad := strings.Repeat("0", 64)

	for i, tc := range []struct {
		name, url, checksum, format string
		max                         int64
		wantFormat, wantErr         string
		wantSum                     string
	}{
		{name: "sha256", url: "/t.qcow2", checksum: "{SHA-256}" + sha256hex, format: "QCOW2", wantFormat: "qcow2", wantSum: "{SHA-256}" + sha256hex},
		{name: "lower-case sha256 alias", url: "/t.qcow2", checksum: "{sha256}" + strings.ToUpper(sha256hex), wantFormat: "qcow2"},
		{name: "bare md5", url: "/t.qcow2", checksum: md5hex, wantFormat: "qcow2", wantSum: "{MD5}" + md5hex},
		{name: "bare sha256", url: "/t.qcow2", checksum: sha256hex, wantFormat: "qcow2"},
		{name: "sha1", url: "/t.qcow2", checksum: "{sha1}" + sha1hex, wantFormat: "qcow2"},
		{name: "no checksum, no length", url: "/stream/t.qcow2", wantFormat: "qcow2", wantSum: "{MD5}" + md5hex},
		{name: "raw", url: "/disk.raw", format: "raw", wantFormat: "raw"},
		{name: "iso", url: "/boot.iso", format: "ISO", wantFormat: "iso"},
		{name: "bad checksum", url: "/t.qcow2", checksum: "{SHA-256}" + bad, wantErr: "checksum mismatch"},
		{name: "404", url: "/missing.qcow2", checksum: sha256hex, wantErr: "404"},
		{name: "over the limit", url: "/t.qcow2", max: mib, wantErr: "limit"},
		{name: "over the limit, no length", url: "/stream/t.qcow2", max: mib, wantErr: "limit"},
		{name: "declared iso, is qcow2", url: "/t.qcow2", format: "iso", wantErr: "declared iso"},
		{name: "declared qcow2, is raw", url: "/disk.raw", format: "qcow2", wantErr: "declared qcow2"},
		{name: "backing file refused", url: "/backed.qcow2", wantErr: "backing file"},
		{name: "checksum of unknown length", url: "/t.qcow2", checksum: "abcd", wantErr: "match no algorithm"},
		{name: "ftp refused", url: "ftp://127.0.0.1/x", wantErr: "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dest := storage.TemplatePath("2", fmt.Sprintf("tmpl-%d", i), "file.img")
			url := tc.url
			if strings.HasPrefix(url, "/") {
				url = srv.URL + url
			}
			var mu sync.Mutex
			var calls [][2]int64
			res, err := store.Download(ctx, storage.DownloadRequest{
				URL: url, Path: dest, Checksum: tc.checksum, Format: tc.format, MaxBytes: tc.max,
				Progress: func(done, total int64) {
					mu.Lock()
					calls = append(calls, [2]int64{done, total})
					mu.Unlock()
				},
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				t.Log(err)
				ents, err := store.FS().ReadDir(ctx, filepath.Dir(dest))
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					t.Fatal(err)
				}
				if len(ents) != 0 {
					t.Fatalf("a failed download left %+v behind", ents)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != tc.wantFormat || res.Path != dest {
				t.Fatalf("result %+v, want format %s", res, tc.wantFormat)
			}
			if tc.wantSum != "" && res.Checksum != tc.wantSum {
				t.Fatalf("checksum %s, want %s", res.Checksum, tc.wantSum)
			}
			fi, err := store.Stat(ctx, dest)
			if err != nil || fi.Size != res.Size {
				t.Fatalf("stored %+v, %v; downloaded %d bytes", fi, err, res.Size)
			}
			if len(calls) == 0 {
				t.Fatal("no progress reported")
			}
			last := calls[len(calls)-1]
			if last[0] != res.Size || (last[1] != res.Size && last[1] != -1) {
				t.Fatalf("last progress %v, want %d done", last, res.Size)
			}
			if got := storage.DownloadStatus(last[0], last[1]); last[1] > 0 && got != "100% Downloaded" {
				t.Fatalf("status %q", got)
			}
			if err := store.Delete(ctx, dest); err != nil {
				t.Fatal(err)
			}
		})
	}
}
