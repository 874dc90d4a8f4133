package allinone

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestLoopbackEndpoint(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{":8250", "127.0.0.1:8250"},
		{"0.0.0.0:8250", "127.0.0.1:8250"},
		{"[::]:8250", "127.0.0.1:8250"},
		{"127.0.0.1:18250", "127.0.0.1:18250"},
		{"[::1]:8250", "[::1]:8250"},
		{"mgmt.example:8250", "mgmt.example:8250"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := loopbackEndpoint(tc.in); got != tc.want {
				t.Errorf("loopbackEndpoint(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestEnvValue(t *testing.T) {
	out := "LIBVIRT_SOCKET=/d/run/libvirt-sock\nLIBVIRT_URI=qemu+unix:///system?socket=/d/run/libvirt-sock\n"
	if got := envValue(out, "LIBVIRT_SOCKET"); got != "/d/run/libvirt-sock" {
		t.Errorf("LIBVIRT_SOCKET = %q", got)
	}
	if got := envValue(out, "LIBVIRT_TCP_URI"); got != "" {
		t.Errorf("a missing key = %q", got)
	}
}

func TestFindScripts(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "scripts")
	os.MkdirAll(good, 0o755)
	for _, s := range needScripts {
		os.WriteFile(filepath.Join(good, s), []byte("#!/bin/sh\n"), 0o755)
	}
	half := filepath.Join(dir, "half")
	os.MkdirAll(half, 0o755)
	os.WriteFile(filepath.Join(half, "libvirtd.sh"), nil, 0o755)

	t.Run("given", func(t *testing.T) {
		if got, err := FindScripts(good); err != nil || got != good {
			t.Errorf("FindScripts(%s) = %q, %v", good, got, err)
		}
		if _, err := FindScripts(half); err == nil || !strings.Contains(err.Error(), "lacks") {
			t.Errorf("a directory with libvirtd.sh alone: %v", err)
		}
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv("ATOLL_SCRIPTS", good)
		if got, err := FindScripts(""); err != nil || got != good {
			t.Errorf("FindScripts with ATOLL_SCRIPTS = %q, %v", got, err)
		}
	})
	t.Run("working directory", func(t *testing.T) {
		t.Setenv("ATOLL_SCRIPTS", "")
		sub := filepath.Join(dir, "a", "b")
		os.MkdirAll(sub, 0o755)
		t.Chdir(sub)
		if got, err := FindScripts(""); err != nil || got != good {
			t.Errorf("FindScripts from %s = %q, %v", sub, got, err)
		}
	})
	t.Run("nowhere", func(t *testing.T) {
		t.Setenv("ATOLL_SCRIPTS", "")
		t.Chdir(t.TempDir()) // no scripts above it, nor next to the test binary
		_, err := FindScripts("")
		if err == nil || !strings.Contains(err.Error(), "ATOLL_SCRIPTS") {
			t.Errorf("no scripts anywhere: want an error saying what to start, got %v", err)
		}
	})
}

func TestFileChecksum(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img")
	os.WriteFile(p, []byte("tiny"), 0o644)
	sum := sha256.Sum256([]byte("tiny"))
	got, err := fileChecksum(p)
	if err != nil || got != "{SHA-256}"+hex.EncodeToString(sum[:]) {
		t.Errorf("fileChecksum = %q, %v", got, err)
	}
	if _, err := fileChecksum(p + ".missing"); err == nil {
		t.Error("a missing file has a checksum")
	}
}

func TestPidAlive(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		want          bool
	}{
		{"self", strconv.Itoa(os.Getpid()), true},
		{"garbage", "not a pid", false},
		{"gone", "2147483646", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, tc.name)
			os.WriteFile(f, []byte(tc.content+"\n"), 0o644)
			if got := pidAlive(f); got != tc.want {
				t.Errorf("pidAlive(%q) = %v", tc.content, got)
			}
		})
	}
	if pidAlive(filepath.Join(dir, "missing")) {
		t.Error("a missing pid file is alive")
	}
}
