package iam

import (
	"crypto/sha1"
	"crypto/subtle"
	"sort"
	"strings"
)

var sha1New = sha1.New

// quote percent-encodes like Python's urllib.parse.quote(v, safe="*"): it keeps
// A-Z a-z 0-9 _ . - ~ and *, and encodes every other byte as %XX (upper-case hex).
// javaStyle also encodes '~' (java.net.URLEncoder with '+' turned into %20).
func quote(v string, javaStyle bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == '-', c == '*':
			b.WriteByte(c)
		case c == '~' && !javaStyle:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// SignatureString builds the lowercased string CloudStack signs from request parameters
// (every parameter but "signature", first value of each, sorted by raw key).
func SignatureString(params map[string]string, javaStyle bool) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k == "signature" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(quote(params[k], javaStyle))
	}
	return strings.ToLower(b.String())
}

// Sign returns CloudStack's signature of params with secret.
func Sign(params map[string]string, secret string) string {
	return HMACSHA1(secret, SignatureString(params, false))
}

// VerifySignature checks sig against both encodings clients use (Python's and Java's).
func VerifySignature(params map[string]string, secret, sig string) bool {
	sig = strings.TrimSpace(sig)
	for _, java := range []bool{false, true} {
		want := HMACSHA1(secret, SignatureString(params, java))
		if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) == 1 {
			return true
		}
	}
	return false
}
