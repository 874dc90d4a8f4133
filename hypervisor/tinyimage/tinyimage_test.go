package tinyimage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWaitLine(t *testing.T) {
	tests := []struct {
		name   string
		now    string // in the log before waiting
		later  string // appended 300 ms into the wait
		marker string
		want   string // "" means the wait must time out
	}{
		{"present", "noise\nATOLL-TINY-READY\n", "", MarkerReady, "ATOLL-TINY-READY"},
		{"appears later", "ATOLL-TINY-BOOT-OK\n", "ATOLL-TINY-READY\r\n", MarkerReady, "ATOLL-TINY-READY"},
		{"line completed later", "ATOLL-TINY-IP eth0 10.1", ".2.3/24\n", "ATOLL-TINY-IP eth0", "ATOLL-TINY-IP eth0 10.1.2.3/24"},
		{"escape codes before", "\x1bc\x1b[2JATOLL-TINY-BOOT-OK\n", "", MarkerBootOK, "ATOLL-TINY-BOOT-OK"},
		{"longer token is not the marker", "ATOLL-TINY-DISKS vda:1\nATOLL-TINY-DISK-ADDED vdb 2\n", "", "ATOLL-TINY-DISK", ""},
		{"second occurrence matches", "ATOLL-TINY-DISKSx ATOLL-TINY-DISKS vda:1\n", "", MarkerDisks, "ATOLL-TINY-DISKS vda:1"},
		{"unfinished line never matches", "ATOLL-TINY-READY", "", MarkerReady, ""},
		{"missing log", "", "", MarkerReady, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "console.log")
			if tc.now != "" {
				if err := os.WriteFile(log, []byte(tc.now), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.later != "" {
				go func() {
					time.Sleep(300 * time.Millisecond)
					f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
					if err != nil {
						return
					}
					f.WriteString(tc.later)
					f.Close()
				}()
			}
			timeout := 3 * time.Second
			if tc.want == "" {
				timeout = 500 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			got, err := WaitLine(ctx, log, tc.marker)
			if tc.want == "" {
				if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), tc.marker) {
					t.Fatalf("want a timeout naming %q, got %q, %v", tc.marker, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
			if err := WaitMarker(ctx, log, tc.marker); err != nil {
				t.Fatalf("WaitMarker: %v", err)
			}
		})
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "scripts", "tiny-template.sh")); err != nil {
		t.Fatalf("repo root %s has no scripts/tiny-template.sh: %v", root, err)
	}
}
