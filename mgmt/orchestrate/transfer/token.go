package transfer

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Token kinds.
const (
	KindTemplate = "template" // an extracted template or ISO copy
	KindVolume   = "volume"   // a volume copied out to an image store by extractVolume
	KindUpload   = "upload"   // an upload (getUploadParamsForVolume / ForTemplate) to receive
)

// Token is what a signed URL carries: which file of which object, on which image store, until
// when.
type Token struct {
	Kind    string `json:"k"`
	ID      string `json:"i"`           // the template's or volume's id
	StoreID string `json:"s,omitempty"` // the image store holding (or receiving) the file
	Path    string `json:"p,omitempty"` // the file's path on the store
	Expires int64  `json:"e"`           // Unix seconds
	// An upload's: what it makes (KindVolume or KindTemplate), the checksum the bytes must
	// have (CloudStack's {ALG}hex or bare hex) and the format they must be.
	Object   string `json:"o,omitempty"`
	Checksum string `json:"c,omitempty"`
	Format   string `json:"f,omitempty"`
}

// Signer signs with the key every management server of the cloud shares (iam.Keyring).
type Signer interface {
	MAC(msg []byte) []byte
}

// Errors Verify answers.
var (
	ErrMalformed = errors.New("not a signed URL of this cloud")
	ErrSignature = errors.New("the URL's signature does not match")
	ErrExpired   = errors.New("the URL has expired")
)

var b64 = base64.RawURLEncoding

// Sign renders t as <payload>.<signature>, both base64url (safe in a URL path).
func Sign(s Signer, t Token) string {
	payload, _ := json.Marshal(t) // plain strings and numbers: cannot fail
	return b64.EncodeToString(payload) + "." + b64.EncodeToString(s.MAC(payload))
}

// Verify checks a signed token and its expiry against now and answers what it carries.
func Verify(s Signer, signed string, now time.Time) (Token, error) {
	p, sig, ok := strings.Cut(signed, ".")
	if !ok {
		return Token{}, ErrMalformed
	}
	payload, err1 := b64.DecodeString(p)
	mac, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return Token{}, ErrMalformed
	}
	if !hmac.Equal(mac, s.MAC(payload)) {
		return Token{}, ErrSignature
	}
	var t Token
	d := json.NewDecoder(bytes.NewReader(payload))
	d.DisallowUnknownFields()
	if err := d.Decode(&t); err != nil || t.Kind == "" || t.ID == "" {
		return Token{}, ErrMalformed
	}
	if now.Unix() >= t.Expires {
		return Token{}, ErrExpired
	}
	return t, nil
}
