package kvm

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConnUnavailable: no daemon, or one that accepts but never answers, gives ErrUnavailable
// within the connect timeout instead of a hang.
func TestConnUnavailable(t *testing.T) {
	dir := t.TempDir()
	silent := filepath.Join(dir, "silent.sock")
	l, err := net.Listen("unix", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c) }() // reads, never answers
		}
	}()
	cases := []struct {
		name, socket, want string
		within             time.Duration
	}{
		{"no socket", filepath.Join(dir, "missing.sock"), "no such file", 500 * time.Millisecond},
		{"silent daemon", silent, "no answer within", 2 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			drv, err := New(Config{Socket: tc.socket, ConnectTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer drv.Close()
			start := time.Now()
			_, err = drv.ListVMs(context.Background())
			took := time.Since(start)
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.want) || took > tc.within {
				t.Fatalf("ListVMs = %v after %s; want ErrUnavailable (%q) within %s", err, took, tc.want, tc.within)
			}
			// A caller whose context ends first is released at once too.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start = time.Now()
			if _, err := drv.HostInfo(ctx); err == nil || time.Since(start) > tc.within {
				t.Fatalf("HostInfo = %v after %s", err, time.Since(start))
			}
		})
	}
}

func TestNewRejectsDomainType(t *testing.T) {
	if _, err := New(Config{DomainType: "xen"}); err == nil {
		t.Fatal("New accepted domain type xen")
	}
}

func TestReverter(t *testing.T) {
	var order []int
	r := &reverter{}
	r.add(func() { order = append(order, 1) })
	r.add(func() { order = append(order, 2) })
	r.fail()
	if len(order) != 2 || order[0] != 2 || order[1] != 1 {
		t.Fatalf("undo order = %v, want [2 1]", order)
	}
	order = nil
	r = &reverter{}
	r.add(func() { order = append(order, 1) })
	r.success()
	r.fail()
	if order != nil {
		t.Fatalf("undo ran after success: %v", order)
	}
}
