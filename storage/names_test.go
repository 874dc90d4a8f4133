package storage

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"3d1e5c0a-6b7f-4e2a-9c1d-0f2e3a4b5c6d", true},
		{"vol_1.qcow2", true},
		{"template-7", true},
		{"", false},
		{".hidden", false},
		{"-rf", false},
		{"a/b", false},
		{"..", false},
		{"a b", false},
		{"é", false},
		{strings.Repeat("a", 201), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckName(tc.name)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckName(%q) = %v, want ok %v", tc.name, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadName) {
				t.Fatalf("error %v is not ErrBadName", err)
			}
		})
	}
}

func TestCheckPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"snapshots/vol/snap", true},
		{"template/tmpl/2/201/x.qcow2", true},
		{"vol", true},
		{"", false},
		{"/abs", false},
		{"a//b", false},
		{"a/../b", false},
		{"a/./b", false},
		{"a/b/", false},
		{"a/.part", false},
	} {
		if err := CheckPath(tc.path); (err == nil) != tc.ok {
			t.Errorf("CheckPath(%q) = %v, want ok %v", tc.path, err, tc.ok)
		}
	}
}

func TestPaths(t *testing.T) {
	if got := SnapshotPath("v1", "s1"); got != "snapshots/v1/s1" {
		t.Errorf("SnapshotPath = %q", got)
	}
	if got := TemplatePath("2", "t1", "t1.qcow2"); got != "template/tmpl/2/t1/t1.qcow2" {
		t.Errorf("TemplatePath = %q", got)
	}
	if got := TemplateName("t1"); got != "template-t1" || CheckName(got) != nil {
		t.Errorf("TemplateName = %q", got)
	}
	if got := heartbeatPath("h1"); got != ".atoll-heartbeat/h1" {
		t.Errorf("heartbeatPath = %q", got)
	}
	// Temporary names are hidden siblings that CheckName would never hand out.
	for _, p := range []string{"vol", "snapshots/v/s"} {
		tmp := tempName(p, "abc")
		if !strings.HasSuffix(tmp, ".part") || CheckPath(tmp) == nil {
			t.Errorf("tempName(%q) = %q", p, tmp)
		}
		if i := strings.LastIndexByte(p, '/'); i >= 0 && !strings.HasPrefix(tmp, p[:i+1]+".") {
			t.Errorf("tempName(%q) = %q is not in the same directory", p, tmp)
		}
	}
}

func TestLocationSource(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Source
		bad  bool
	}{
		{in: "/mnt/p1/template-7", want: Source{Kind: SourceFile, Path: "/mnt/p1/template-7"}},
		{in: "nfs://127.0.0.1/export/p/template-7", want: Source{Kind: SourceNetwork, Protocol: "nfs", Host: "127.0.0.1", Name: "/export/p/template-7"}},
		{in: "nfs://[fd00::1]:2049/e/t", want: Source{Kind: SourceNetwork, Protocol: "nfs", Host: "fd00::1", Port: 2049, Name: "/e/t"}},
		{in: "template-7", bad: true},
		{in: "http://h/x", bad: true},
	} {
		got, err := LocationSource(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("LocationSource(%q) = %+v, %v", tc.in, got, err)
		}
	}
}
