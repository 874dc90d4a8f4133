package iam

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PasswordIterations is the PBKDF2-SHA256 work factor for new password hashes.
var PasswordIterations = 120000

// HashPassword derives a salted PBKDF2-SHA256 hash: "pbkdf2-sha256$<iter>$<salt>$<hash>".
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("iam: salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, PasswordIterations, 32)
	if err != nil {
		return "", fmt.Errorf("iam: hash password: %w", err)
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", PasswordIterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches a hash made by HashPassword.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}

// Keyring encrypts secrets at rest (API secret keys) with AES-256-GCM. Every management
// server of one cloud must use the same key file.
type Keyring struct {
	aead cipher.AEAD
	mac  []byte // the URL signing key, derived from the key (MAC)
}

// LoadOrCreateKeyring reads a 32-byte key (base64) from path, creating it (mode 0600) when absent.
func LoadOrCreateKeyring(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if data, err = createKeyFile(path); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("iam: read key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("iam: key file %s must hold 32 bytes in base64", path)
	}
	return NewKeyring(key)
}

// createKeyFile writes a new random key to a temporary file and links it into place, so a
// concurrent reader never sees a partly written file; if another process won, its key is used.
func createKeyFile(path string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("iam: generate key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("iam: key directory: %w", err)
	}
	data := []byte(base64.StdEncoding.EncodeToString(key) + "\n")
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return nil, fmt.Errorf("iam: write key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.Write(data)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("iam: write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return os.ReadFile(path)
		}
		return nil, fmt.Errorf("iam: install key file: %w", err)
	}
	return data, nil
}

// NewKeyring builds a keyring from a 32-byte key.
func NewKeyring(key []byte) (*Keyring, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("iam: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("iam: gcm: %w", err)
	}
	return &Keyring{aead: aead, mac: hmacSHA256(key, []byte("atoll url signing v1"))}, nil
}

// MAC is the HMAC-SHA256 of msg under a key derived from the keyring's: every management
// server of a cloud shares the key file, so a URL one signs (extract, upload) verifies on
// any of them.
func (k *Keyring) MAC(msg []byte) []byte { return hmacSHA256(k.mac, msg) }

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// Encrypt seals plaintext as "v1:<base64 nonce|ciphertext>".
func (k *Keyring) Encrypt(plain string) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("iam: nonce: %w", err)
	}
	sealed := k.aead.Seal(nonce, nonce, []byte(plain), nil)
	return "v1:" + base64.StdEncoding.EncodeToString(sealed), nil
}

// Decrypt opens a value made by Encrypt.
func (k *Keyring) Decrypt(enc string) (string, error) {
	raw, ok := strings.CutPrefix(enc, "v1:")
	if !ok {
		return "", errors.New("iam: unknown secret encoding")
	}
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(data) < k.aead.NonceSize() {
		return "", errors.New("iam: corrupt secret")
	}
	plain, err := k.aead.Open(nil, data[:k.aead.NonceSize()], data[k.aead.NonceSize():], nil)
	if err != nil {
		return "", fmt.Errorf("iam: decrypt secret (wrong key file?): %w", err)
	}
	return string(plain), nil
}

// RandomKey returns n random bytes in unpadded base64url, the shape of CloudStack's API keys.
func RandomKey(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("iam: crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HMACSHA1 signs msg with key and returns standard padded base64, as CloudStack does.
func HMACSHA1(key, msg string) string {
	m := hmac.New(sha1New, []byte(key))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// HashToken returns the hex SHA-256 of a bearer token, for storing session ids.
func HashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return fmt.Sprintf("%x", sum)
}
