package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

func keyring(t *testing.T) *iam.Keyring {
	t.Helper()
	k, err := iam.LoadOrCreateKeyring(t.TempDir() + "/k")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTokens(t *testing.T) {
	k := keyring(t)
	now := time.Unix(1_800_000_000, 0)
	tok := Token{Kind: KindTemplate, ID: "t1", StoreID: "s1", Path: "template/tmpl/a/t1/t1.qcow2", Expires: now.Unix() + 60}
	signed := Sign(k, tok)
	if strings.ContainsAny(signed, "/+=?&%") {
		t.Errorf("signed token %q is not safe in a URL path", signed)
	}
	got, err := Verify(k, signed, now)
	if err != nil || got != tok {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, tok)
	}
	if _, err := Verify(k, signed, now.Add(60*time.Second)); !errors.Is(err, ErrExpired) {
		t.Errorf("at its expiry: %v, want ErrExpired", err)
	}
	if _, err := Verify(keyring(t), signed, now); !errors.Is(err, ErrSignature) {
		t.Errorf("another key: %v, want ErrSignature", err)
	}
	p, s, _ := strings.Cut(signed, ".")
	other := tok
	other.Path = "template/tmpl/a/t2/t2.qcow2"
	op, _, _ := strings.Cut(Sign(k, other), ".")
	if _, err := Verify(k, op+"."+s, now); !errors.Is(err, ErrSignature) {
		t.Errorf("payload swapped: %v, want ErrSignature", err)
	}
	for _, bad := range []string{"", p, "." + s, p + ".", "!!." + s, p + ".!!"} {
		if _, err := Verify(k, bad, now); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSignature) {
			t.Errorf("Verify(%q) = %v, want a refusal", bad, err)
		}
	}
}

// fakeHost answers ReadFile from data, counting the chunks asked for.
type fakeHost struct {
	data  []byte
	reads atomic.Int32
}

func (f *fakeHost) Send(ctx context.Context, hostID, name string, body any) (*protocol.Answer, error) {
	r := body.(protocol.ReadFile)
	if name != protocol.CmdReadFile || r.Length > protocol.MaxChunk {
		return &protocol.Answer{Error: "unexpected"}, nil
	}
	f.reads.Add(1)
	end := min(int64(len(f.data)), r.Offset+int64(r.Length))
	var chunk []byte
	if r.Offset < end {
		chunk = f.data[r.Offset:end]
	}
	b, _ := json.Marshal(protocol.FileChunk{Data: chunk, Size: int64(len(f.data))})
	return &protocol.Answer{OK: true, Body: b}, nil
}

// TestFileServesRanges: a File streamed by http.ServeContent gives the whole file with its
// length, HEAD without a body, and byte ranges, reading chunk by chunk through the host.
func TestFileServesRanges(t *testing.T) {
	data := make([]byte, 2*protocol.MaxChunk+12345)
	rand.New(rand.NewSource(1)).Read(data)
	host := &fakeHost{data: data}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := &File{ctx: r.Context(), d: &orchestrate.Deps{Agents: host}, host: "h", ref: protocol.StoreFile{Path: "x"}}
		if err := f.fill(0); err != nil {
			t.Error(err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "x", time.Time{}, f)
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ContentLength != int64(len(data)) || sha256.Sum256(body) != sha256.Sum256(data) {
		t.Fatalf("GET: length %d, %d bytes, equal %v", resp.ContentLength, len(body), bytes.Equal(body, data))
	}
	if n := host.reads.Load(); n != 3 {
		t.Errorf("%d chunk reads for a file of 3 chunks", n)
	}

	req, _ := http.NewRequest(http.MethodHead, srv.URL, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(data)) {
		t.Errorf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}

	req, _ = http.NewRequest(http.MethodGet, srv.URL, nil)
	from, to := protocol.MaxChunk-10, protocol.MaxChunk+20 // across a chunk boundary
	req.Header.Set("Range", "bytes="+itoa(from)+"-"+itoa(to))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[from:to+1]) {
		t.Errorf("Range: %d, %d bytes, equal %v", resp.StatusCode, len(body), bytes.Equal(body, data[from:to+1]))
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
