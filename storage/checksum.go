package storage

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// Checksum is a template's expected digest, written as CloudStack writes them: "{ALG}hex"
// (ALG one of MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512) or bare hex.
//
// CloudStack (utils/.../security/ChecksumValue and DigestHelper.validateChecksumString)
// takes a bare digest as MD5 and then refuses any length but 32. Atoll takes a bare digest's
// algorithm from its length instead (32 MD5, 40 SHA-1, 56 SHA-224, 64 SHA-256, 96 SHA-384,
// 128 SHA-512): every bare digest CloudStack accepts means the same here, and a bare SHA-256
// works instead of being refused. Algorithm names are matched without case and with or
// without the dash ({sha256} is {SHA-256}).
type Checksum struct {
	Algorithm string // CloudStack's name: "MD5", "SHA-256" ...; "" for none
	Hex       string // lower case
}

type algorithm struct {
	name   string
	hexLen int
	new    func() hash.Hash
}

var algorithms = []algorithm{
	{"MD5", 32, md5.New},
	{"SHA-1", 40, sha1.New},
	{"SHA-224", 56, sha256.New224},
	{"SHA-256", 64, sha256.New},
	{"SHA-384", 96, sha512.New384},
	{"SHA-512", 128, sha512.New},
}

func algorithmByName(name string) (algorithm, bool) {
	norm := strings.ReplaceAll(strings.ToUpper(name), "-", "")
	for _, a := range algorithms {
		if strings.ReplaceAll(a.name, "-", "") == norm {
			return a, true
		}
	}
	return algorithm{}, false
}

// ParseChecksum parses a checksum; "" (or blanks) is no checksum: nothing is verified.
func ParseChecksum(s string) (Checksum, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Checksum{}, nil
	}
	var alg algorithm
	digest := s
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 2 {
			return Checksum{}, fmt.Errorf("checksum %q: put an algorithm between {}", s)
		}
		a, ok := algorithmByName(s[1:end])
		if !ok {
			return Checksum{}, fmt.Errorf("checksum %q: algorithm %s is not one of MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512", s, s[1:end])
		}
		alg, digest = a, s[end+1:]
		if len(digest) != alg.hexLen {
			return Checksum{}, fmt.Errorf("checksum %q: a %s digest has %d hex digits, not %d", s, alg.name, alg.hexLen, len(digest))
		}
	} else {
		found := false
		for _, a := range algorithms {
			if a.hexLen == len(digest) {
				alg, found = a, true
			}
		}
		if !found {
			return Checksum{}, fmt.Errorf("checksum %q: %d hex digits match no algorithm (32 MD5, 40 SHA-1, 56 SHA-224, 64 SHA-256, 96 SHA-384, 128 SHA-512)", s, len(digest))
		}
	}
	if _, err := hex.DecodeString(digest); err != nil {
		return Checksum{}, fmt.Errorf("checksum %q: not hexadecimal", s)
	}
	return Checksum{Algorithm: alg.name, Hex: strings.ToLower(digest)}, nil
}

// IsZero reports whether there is nothing to verify.
func (c Checksum) IsZero() bool { return c.Algorithm == "" }

// String writes the checksum as "{ALG}hex".
func (c Checksum) String() string {
	if c.IsZero() {
		return ""
	}
	return "{" + c.Algorithm + "}" + c.Hex
}

// NewHash returns a hash for the checksum's algorithm (MD5 when there is none, to report
// what was downloaded as CloudStack does).
func (c Checksum) NewHash() hash.Hash {
	if a, ok := algorithmByName(c.Algorithm); ok {
		return a.new()
	}
	return md5.New()
}
