package agents

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/atollcloud/atoll/agent"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
)

// caID is the one CA row's id.
const caID = "agent-ca"

// Certificate lifetimes.
var (
	caValidity    = 20 * 365 * 24 * time.Hour
	agentValidity = 5 * 365 * 24 * time.Hour
)

// CA signs agent certificates and the servers' own TLS certificates.
type CA struct {
	Cert    *x509.Certificate
	CertPEM string
	key     *ecdsa.PrivateKey
	Pool    *x509.CertPool
	// Fingerprint pins the CA: SHA-256 of its DER, hex.
	Fingerprint string
}

// LoadOrCreateCA reads the cloud's CA, creating it on first use. When several servers start
// at once, one insert wins and the others read the winner's CA.
func LoadOrCreateCA(ctx context.Context, d *db.DB, keys *iam.Keyring) (*CA, error) {
	for attempt := 0; attempt < 5; attempt++ {
		row, err := db.GetAgentCA(ctx, d.SQL, caID)
		if err == nil {
			return parseCA(row, keys)
		}
		if !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
		row, err = newCA(keys)
		if err != nil {
			return nil, err
		}
		err = db.InsertAgentCA(ctx, d.SQL, row)
		if err == nil {
			return parseCA(row, keys)
		}
		if !db.IsDuplicate(err) {
			return nil, err
		}
	}
	return nil, errors.New("agents: could not load or create the agent CA")
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("agents: crypto/rand failed: %v", err))
	}
	return n
}

func newCA(keys *iam.Keyring) (*db.AgentCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("agents: ca key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "Atoll agent CA", Organization: []string{"Atoll"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(caValidity), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("agents: create ca: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	enc, err := keys.Encrypt(string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	if err != nil {
		return nil, err
	}
	return &db.AgentCA{ID: caID, CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), KeyEnc: enc,
		Created: db.Now()}, nil
}

func parseCA(row *db.AgentCA, keys *iam.Keyring) (*CA, error) {
	b, _ := pem.Decode([]byte(row.CertPEM))
	if b == nil {
		return nil, errors.New("agents: stored CA certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("agents: parse CA: %w", err)
	}
	keyPEM, err := keys.Decrypt(row.KeyEnc)
	if err != nil {
		return nil, fmt.Errorf("agents: CA key: %w", err)
	}
	kb, _ := pem.Decode([]byte(keyPEM))
	if kb == nil {
		return nil, errors.New("agents: stored CA key is not PEM")
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("agents: parse CA key: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, CertPEM: row.CertPEM, key: key, Pool: pool, Fingerprint: agent.Fingerprint(cert.Raw)}, nil
}

// SignAgent signs an agent's CSR for a guid: the certificate's CN is the guid whatever the
// CSR asked, and it is good for client authentication only.
func (ca *CA) SignAgent(csrPEM, guid string) (certPEM, serialHex string, err error) {
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return "", "", errors.New("the CSR is not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return "", "", fmt.Errorf("parse CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return "", "", fmt.Errorf("CSR signature: %w", err)
	}
	now := time.Now()
	sn := serial()
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: guid, OrganizationalUnit: []string{"atoll-agent"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(agentValidity), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.key)
	if err != nil {
		return "", "", fmt.Errorf("sign agent certificate: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), sn.Text(16), nil
}

// ServerCert makes a TLS certificate for this management server's agent listener: good for
// server authentication only, its chain includes the CA so enrolling agents can pin it.
func (ca *CA) ServerCert(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: name, OrganizationalUnit: []string{"atoll-mgmt"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("agents: server certificate: %w", err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}
