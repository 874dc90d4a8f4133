package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Files in an agent's state directory.
const (
	fileGUID      = "guid"
	fileKey       = "agent.key"
	fileCert      = "agent.crt"
	fileCA        = "ca.crt"
	filePlacement = "placement.json"
)

// Fingerprint is the SHA-256 of a certificate's DER bytes, in lower-case hex: how a CA is
// pinned (the --ca-fingerprint an agent is given with its token).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// normalizeFingerprint accepts hex with or without colons, any case.
func normalizeFingerprint(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
}

// identity is what the agent keeps in its state directory.
type identity struct {
	dir  string
	guid string
	key  *ecdsa.PrivateKey
	cert *tls.Certificate // nil until enrolled
	ca   *x509.CertPool
	caFP string
	// placement hints received at enrollment
	placement placement
	csr       string // the enrollment request, made once (enrollment may be tried many times)
}

type placement struct {
	Zone    string `json:"zone,omitempty"`
	Pod     string `json:"pod,omitempty"`
	Cluster string `json:"cluster,omitempty"`
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// loadIdentity reads (or creates) the guid and key, and reads the certificate and CA if the
// agent has enrolled. With dir "" the identity lives in memory only.
func loadIdentity(dir, guid string) (*identity, error) {
	id := &identity{dir: dir, guid: guid}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("agent: state dir: %w", err)
		}
		if id.guid == "" {
			data, err := os.ReadFile(filepath.Join(dir, fileGUID))
			switch {
			case err == nil:
				id.guid = strings.TrimSpace(string(data))
			case errors.Is(err, os.ErrNotExist):
			default:
				return nil, fmt.Errorf("agent: read guid: %w", err)
			}
		}
	}
	if id.guid == "" {
		id.guid = uuid.NewString()
	}
	if dir == "" {
		return id, nil
	}
	if err := writeFileAtomic(filepath.Join(dir, fileGUID), []byte(id.guid+"\n")); err != nil {
		return nil, fmt.Errorf("agent: write guid: %w", err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, fileKey)); err == nil {
		b, _ := pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("agent: %s holds no PEM key", fileKey)
		}
		k, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("agent: parse key: %w", err)
		}
		id.key = k
	}
	certPEM, err1 := os.ReadFile(filepath.Join(dir, fileCert))
	caPEM, err2 := os.ReadFile(filepath.Join(dir, fileCA))
	if err1 == nil && err2 == nil && id.key != nil {
		if err := id.setCert(certPEM, caPEM); err != nil {
			return nil, err
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, filePlacement)); err == nil {
		_ = json.Unmarshal(data, &id.placement)
	}
	return id, nil
}

func (id *identity) setCert(certPEM, caPEM []byte) error {
	keyDER, err := x509.MarshalECPrivateKey(id.key)
	if err != nil {
		return fmt.Errorf("agent: marshal key: %w", err)
	}
	c, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return fmt.Errorf("agent: certificate does not match key: %w", err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return fmt.Errorf("agent: parse certificate: %w", err)
	}
	if leaf.Subject.CommonName != id.guid {
		return fmt.Errorf("agent: certificate is for %q, not this agent's guid %q", leaf.Subject.CommonName, id.guid)
	}
	c.Leaf = leaf
	b, _ := pem.Decode(caPEM)
	if b == nil {
		return errors.New("agent: no CA certificate in PEM")
	}
	caCert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return fmt.Errorf("agent: parse CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	id.cert, id.ca, id.caFP = &c, pool, Fingerprint(caCert.Raw)
	return nil
}

// enrollRequest makes (and keeps) the key and returns a CSR for the guid.
func (id *identity) enrollRequest() (string, error) {
	if id.csr != "" {
		return id.csr, nil
	}
	if id.key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", fmt.Errorf("agent: generate key: %w", err)
		}
		id.key = k
		if id.dir != "" {
			der, err := x509.MarshalECPrivateKey(k)
			if err != nil {
				return "", err
			}
			if err := writeFileAtomic(filepath.Join(id.dir, fileKey), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})); err != nil {
				return "", fmt.Errorf("agent: write key: %w", err)
			}
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: id.guid}}, id.key)
	if err != nil {
		return "", fmt.Errorf("agent: create csr: %w", err)
	}
	id.csr = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	return id.csr, nil
}

// saveEnrollment keeps the signed certificate, the CA and the placement.
func (id *identity) saveEnrollment(certPEM, caPEM string, p placement) error {
	if err := id.setCert([]byte(certPEM), []byte(caPEM)); err != nil {
		return err
	}
	id.placement = p
	if id.dir == "" {
		return nil
	}
	pj, _ := json.Marshal(p)
	for name, data := range map[string][]byte{fileCert: []byte(certPEM), fileCA: []byte(caPEM), filePlacement: pj} {
		if err := writeFileAtomic(filepath.Join(id.dir, name), data); err != nil {
			return fmt.Errorf("agent: write %s: %w", name, err)
		}
	}
	return nil
}

// verifyServer checks a management server's chain against roots: the server certificate
// must be signed by the cloud's CA and be meant for servers (an agent's certificate, made for
// client authentication only, cannot pose as one). Host names are not checked: agents know
// servers by address and trust the CA, not a name.
func verifyServer(rawCerts [][]byte, roots *x509.CertPool) error {
	if len(rawCerts) == 0 {
		return errors.New("agent: server sent no certificate")
	}
	leaf, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return fmt.Errorf("agent: parse server certificate: %w", err)
	}
	inter := x509.NewCertPool()
	for _, raw := range rawCerts[1:] {
		if c, err := x509.ParseCertificate(raw); err == nil {
			inter.AddCert(c)
		}
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, CurrentTime: time.Now()})
	if err != nil {
		return fmt.Errorf("agent: management server certificate: %w", err)
	}
	return nil
}

// tlsConfig is the client configuration: with a certificate (mutual TLS) once enrolled, or
// without one for enrollment, pinning the CA by fingerprint.
func (id *identity) tlsConfig(pinnedFP string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
	if id.cert != nil {
		roots := id.ca
		cfg.Certificates = []tls.Certificate{*id.cert}
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error { return verifyServer(raw, roots) }
		return cfg, nil
	}
	fp := normalizeFingerprint(pinnedFP)
	if fp == "" {
		return nil, errors.New("agent: not enrolled: a token and the CA fingerprint are needed to obtain a certificate")
	}
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		for _, r := range raw[min(1, len(raw)):] {
			if Fingerprint(r) != fp {
				continue
			}
			ca, err := x509.ParseCertificate(r)
			if err != nil {
				return err
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			return verifyServer(raw, pool)
		}
		return fmt.Errorf("agent: the management server's CA does not match the pinned fingerprint %s", fp)
	}
	return cfg, nil
}

// dialTLS connects with cfg, bounded by ctx: the TCP connection within timeout, the TLS
// handshake then within handshake.
func dialTLS(ctx context.Context, addr string, cfg *tls.Config, timeout, handshake time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, cfg)
	hctx, cancel := context.WithTimeout(ctx, handshake)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}
