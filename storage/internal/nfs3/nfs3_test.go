package nfs3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/atollcloud/atoll/storage/internal/ganeshatest"
)

func TestMain(m *testing.M) { ganeshatest.Main(m, 1) }

func needServer(t *testing.T) *ganeshatest.Server { return ganeshatest.Need(t) }

func dial(t *testing.T) *Client {
	t.Helper()
	s := needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, ganeshatest.Host, s.Exports[0], Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{"", nil, false},
		{".", nil, false},
		{"a/b//c/", []string{"a", "b", "c"}, false},
		{"/a/./b", []string{"a", "b"}, false},
		{"a/../b", nil, true},
		{"..", nil, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := split(tc.in)
			if (err != nil) != tc.bad {
				t.Fatalf("split(%q) error %v, want error %v", tc.in, err, tc.bad)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("split(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestXDRRoundTrip(t *testing.T) {
	var e encoder
	e.u32(7)
	e.u64(1 << 40)
	e.str("abcde")
	e.boolean(true)
	e.opaque([]byte{1, 2, 3})
	if len(e.b)%4 != 0 {
		t.Fatalf("encoding of %d bytes is not 4-aligned", len(e.b))
	}
	d := &decoder{b: e.b}
	if d.u32() != 7 || d.u64() != 1<<40 || d.str(10) != "abcde" || !d.boolean() || !bytes.Equal(d.opaque(3), []byte{1, 2, 3}) {
		t.Fatal("round trip mismatch")
	}
	if d.err != nil || d.off != len(e.b) {
		t.Fatalf("err %v at %d of %d", d.err, d.off, len(e.b))
	}
	d.u32()
	if d.err == nil {
		t.Fatal("reading past the end gave no error")
	}
	d2 := &decoder{b: e.b[12:]} // at the string
	if d2.str(3); d2.err == nil {
		t.Fatal("oversized opaque gave no error")
	}
}

// A server that accepts and never answers must cost the caller its deadline, not a hang.
func TestCallHonoursDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name   string
		cancel bool
	}{{"deadline", false}, {"cancel", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if tc.cancel {
				ctx, cancel = context.WithCancel(context.Background())
				time.AfterFunc(300*time.Millisecond, cancel)
			}
			start := time.Now()
			_, err := Dial(ctx, "127.0.0.1", "/x", Options{MountPort: port, NFSPort: port})
			took := time.Since(start)
			if err == nil {
				t.Fatal("dial to a silent server succeeded")
			}
			want := context.DeadlineExceeded
			if tc.cancel {
				want = context.Canceled
			}
			if !errors.Is(err, want) {
				t.Fatalf("error %v is not %v", err, want)
			}
			if took > 2*time.Second {
				t.Fatalf("took %v with a 300ms deadline", took)
			}
		})
	}
}

func TestOperations(t *testing.T) {
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := c.MkdirAll(ctx, "d1/d2", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.MkdirAll(ctx, "d1/d2", 0o755); err != nil {
		t.Fatalf("MkdirAll again: %v", err)
	}
	if err := c.Mkdir(ctx, "d1", 0o755); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Mkdir existing: %v, want ErrExist", err)
	}
	big := bytes.Repeat([]byte("atoll-nfs3-"), 50000) // 550 kB: several WRITEs and READs
	w, err := c.Create(ctx, "d1/d2/f", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(big); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := c.Stat(ctx, "d1/d2/f")
	if err != nil || a.Size != uint64(len(big)) || a.IsDir() {
		t.Fatalf("Stat = %+v, %v; want size %d", a, err, len(big))
	}
	got, err := c.ReadAt(ctx, "d1/d2/f", 0, len(big)+10)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("ReadAt whole file: %d bytes, %v", len(got), err)
	}
	got, err = c.ReadAt(ctx, "d1/d2/f", 5, 5)
	if err != nil || string(got) != "-nfs3" {
		t.Fatalf("ReadAt(5,5) = %q, %v", got, err)
	}
	if err := c.WriteFile(ctx, "d1/small", []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile(ctx, "d1/small", []byte("hi"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ReadAt(ctx, "d1/small", 0, 100); err != nil || string(got) != "hi" {
		t.Fatalf("rewritten file reads %q, %v: Create must truncate", got, err)
	}
	if err := c.Link(ctx, "d1/small", "d1/d2/f"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Link over an existing file: %v, want ErrExist", err)
	}
	if err := c.Link(ctx, "d1/small", "d1/linked"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(ctx, "d1/linked", "d1/d2/f"); err != nil {
		t.Fatalf("Rename over an existing file: %v", err)
	}
	if got, _ := c.ReadAt(ctx, "d1/d2/f", 0, 100); string(got) != "hi" {
		t.Fatalf("renamed file reads %q", got)
	}
	for i := range 300 { // more entries than one READDIRPLUS reply holds
		if err := c.WriteFile(ctx, "d1/many-"+strconv.Itoa(i), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := c.ReadDir(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	sort.Strings(names)
	if len(names) != 302 || names[0] != "d2" || names[301] != "small" {
		t.Fatalf("ReadDir: %d entries, first %q", len(names), names[:3])
	}
	if _, err := c.Stat(ctx, "d1/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat missing: %v, want ErrNotExist", err)
	}
	if err := c.Remove(ctx, "d1/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Remove missing: %v, want ErrNotExist", err)
	}
	if err := c.Rmdir(ctx, "d1/d2"); err == nil {
		t.Fatal("Rmdir of a non-empty directory succeeded")
	}
	if err := c.Remove(ctx, "d1/d2/f"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rmdir(ctx, "d1/d2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "../etc"); err == nil {
		t.Fatal("a path leaving the export was accepted")
	}
	// The server closing a connection (idle timeout, restart) costs one redial, not an error.
	c.nfs.mu.Lock()
	c.nfs.conn.Close()
	c.nfs.mu.Unlock()
	st, err := c.StatFS(ctx)
	if err != nil {
		t.Fatalf("StatFS on a closed connection: %v", err)
	}
	if st.Total == 0 || st.Avail > st.Total || st.Free > st.Total {
		t.Fatalf("StatFS = %+v", st)
	}
}

func TestMountRefused(t *testing.T) {
	needServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Dial(ctx, ganeshatest.Host, "/no/such/export", Options{})
	if err == nil {
		t.Fatal("mounting an unknown export succeeded")
	}
	t.Log(err)
}

// A frozen server (SIGSTOP) accepts and never answers: calls end at their deadline.
func TestFrozenServer(t *testing.T) {
	s := needServer(t)
	c := dial(t)
	if err := s.Freeze(); err != nil {
		t.Fatal(err)
	}
	defer s.Thaw()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Stat(ctx, "anything")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stat on a frozen server: %v, want deadline exceeded", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("took %v with a 500ms deadline", took)
	}
	if err := s.Thaw(); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if _, err := c.StatFS(ctx2); err != nil {
		t.Fatalf("after thaw the client does not recover: %v", err)
	}
}
