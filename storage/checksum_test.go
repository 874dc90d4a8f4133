package storage

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
)

func TestParseChecksum(t *testing.T) {
	md5hex := strings.Repeat("ab", 16)
	sha1hex := strings.Repeat("cd", 20)
	sha256hex := strings.Repeat("ef", 32)
	sha512hex := strings.Repeat("01", 64)
	for _, tc := range []struct {
		in, alg, hex, err string
	}{
		{in: "", alg: ""},
		{in: "   ", alg: ""},
		{in: "{MD5}" + md5hex, alg: "MD5", hex: md5hex},
		{in: "{md5}" + md5hex, alg: "MD5", hex: md5hex},
		{in: "{SHA-1}" + sha1hex, alg: "SHA-1", hex: sha1hex},
		{in: "{sha1}" + sha1hex, alg: "SHA-1", hex: sha1hex},
		{in: "{SHA-256}" + sha256hex, alg: "SHA-256", hex: sha256hex},
		{in: "{sha256}" + strings.ToUpper(sha256hex), alg: "SHA-256", hex: sha256hex},
		{in: "{SHA-512}" + sha512hex, alg: "SHA-512", hex: sha512hex},
		{in: " " + md5hex + "\n", alg: "MD5", hex: md5hex},
		{in: md5hex, alg: "MD5", hex: md5hex},
		{in: sha1hex, alg: "SHA-1", hex: sha1hex},
		{in: strings.Repeat("a", 56), alg: "SHA-224", hex: strings.Repeat("a", 56)},
		{in: sha256hex, alg: "SHA-256", hex: sha256hex},
		{in: strings.Repeat("a", 96), alg: "SHA-384", hex: strings.Repeat("a", 96)},
		{in: sha512hex, alg: "SHA-512", hex: sha512hex},
		{in: "{MD5}" + sha256hex, err: "32 hex digits"},
		{in: "{SHA-256}" + md5hex, err: "64 hex digits"},
		{in: "{CRC32}deadbeef", err: "not one of"},
		{in: "{}" + md5hex, err: "between {}"},
		{in: "{MD5" + md5hex, err: "between {}"},
		{in: "abc", err: "match no algorithm"},
		{in: strings.Repeat("g", 32), err: "not hexadecimal"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseChecksum(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseChecksum(%q) = %+v, %v; want error with %q", tc.in, c, err, tc.err)
				}
				return
			}
			if err != nil || c.Algorithm != tc.alg || c.Hex != tc.hex {
				t.Fatalf("ParseChecksum(%q) = %+v, %v; want %s %s", tc.in, c, err, tc.alg, tc.hex)
			}
			if tc.alg == "" {
				if !c.IsZero() || c.String() != "" {
					t.Fatalf("no checksum: %+v %q", c, c.String())
				}
				return
			}
			if c.String() != "{"+tc.alg+"}"+tc.hex {
				t.Fatalf("String() = %q", c.String())
			}
			if got := c.NewHash().Size() * 2; got != len(tc.hex) {
				t.Fatalf("hash of %s has %d hex digits, digest %d", tc.alg, got, len(tc.hex))
			}
		})
	}
}

func TestChecksumHashes(t *testing.T) {
	data := []byte("atoll template")
	want := fmt.Sprintf("%x", sha256.Sum256(data))
	c, err := ParseChecksum(want)
	if err != nil {
		t.Fatal(err)
	}
	h := c.NewHash()
	h.Write(data)
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != c.Hex {
		t.Fatalf("hash %s, want %s", got, c.Hex)
	}
}

func TestDownloadStatus(t *testing.T) {
	for _, tc := range []struct {
		done, total int64
		want        string
	}{
		{0, 100, "0% Downloaded"},
		{45, 100, "45% Downloaded"},
		{100, 100, "100% Downloaded"},
		{150, 100, "100% Downloaded"},
		{1234, -1, "1234 bytes Downloaded"},
	} {
		if got := DownloadStatus(tc.done, tc.total); got != tc.want {
			t.Errorf("DownloadStatus(%d, %d) = %q, want %q", tc.done, tc.total, got, tc.want)
		}
	}
}
