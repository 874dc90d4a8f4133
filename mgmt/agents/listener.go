package agents

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
)

// Listen serves agents on addr over TLS: a client certificate signed by the cloud's CA is
// required to register; a connection without one may only enroll (token + CSR).
func (m *Manager) Listen(addr string) (net.Addr, error) {
	if m.ca == nil {
		return nil, errors.New("agents: Listen before Start")
	}
	cert, err := m.ca.ServerCert(m.o.Name)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: m.ca.Pool}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("agents: listen on %s: %w", addr, err)
	}
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		ln.Close()
		return nil, errors.New("agents: stopping")
	}
	m.listeners = append(m.listeners, ln)
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		m.accept(ln, cfg)
	}()
	m.log.Info("agent endpoint listening", "addr", ln.Addr().String(), "ca_fingerprint", m.ca.Fingerprint)
	return ln.Addr(), nil
}

func (m *Manager) accept(ln net.Listener, cfg *tls.Config) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || m.isStopping() {
				return
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		m.mu.Lock()
		if m.stopping {
			m.mu.Unlock()
			c.Close()
			return
		}
		m.wg.Add(1)
		m.mu.Unlock()
		go func() {
			defer m.wg.Done()
			m.serveTLS(c, cfg)
		}()
	}
}

func (m *Manager) serveTLS(c net.Conn, cfg *tls.Config) {
	// A bounded number of handshakes at a time (admission.go): a connection that cannot start
	// its handshake soon is closed before the expensive part, and its agent dials again later.
	if !m.hsGate.enter(m.ctx, handshakeQueue) {
		m.load.shed.Add(1)
		c.Close()
		return
	}
	tc := tls.Server(c, cfg)
	ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second)
	err := tc.HandshakeContext(ctx)
	cancel()
	m.hsGate.leave()
	if err != nil {
		m.log.Debug("agent TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		c.Close()
		return
	}
	s := &session{}
	if st := tc.ConnectionState(); len(st.PeerCertificates) > 0 {
		leaf := st.PeerCertificates[0]
		s.certGUID, s.certSerial = leaf.Subject.CommonName, leaf.SerialNumber.Text(16)
	}
	m.serve(tc, s)
}

// track keeps every open TLS session, registered or not, so Stop can close them.
func (m *Manager) track(s *session, open bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if open {
		m.open[s] = struct{}{}
	} else {
		delete(m.open, s)
	}
}

// validGUID accepts the guids agents choose: 1 to 200 characters of letters, digits and
// ".-_:"; in-process simulated hosts' "sim/" guids cannot be claimed over the network.
func validGUID(g string) bool {
	if g == "" || len(g) > 200 || strings.HasPrefix(g, SimGUIDPrefix) {
		return false
	}
	for _, r := range g {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_:", r)) {
			return false
		}
	}
	return true
}

// enrollBudget bounds the server's part of an enrollment, well within the agent's 15 s wait.
const enrollBudget = 8 * time.Second

// enroll signs an agent's certificate in exchange for a one-time host token.
func (m *Manager) enroll(ctx context.Context, s *session, e *protocol.Enroll) (any, error) {
	if s.sim || s.certGUID != "" {
		return nil, errors.New("this agent already has a certificate")
	}
	if !validGUID(e.GUID) {
		return nil, fmt.Errorf("invalid agent guid %q", e.GUID)
	}
	key, err := csrKeyDigest(e.CSR)
	if err != nil {
		return nil, err
	}
	return m.admitReg(ctx, "enrollments", func() (any, error) { return m.enrollNow(ctx, s, e, key) })
}

func (m *Manager) enrollNow(ctx context.Context, s *session, e *protocol.Enroll, key string) (any, error) {
	certPEM, serial, err := m.ca.SignAgent(e.CSR, e.GUID)
	if err != nil {
		return nil, err
	}
	// Should the answer not reach the agent (it gives up after 15 s), its retry with the same
	// token, guid and key is answered again (db.UseHostToken); the budget keeps a late start
	// from using the token while the agent is no longer waiting anyway.
	ctx, cancel := context.WithTimeout(ctx, enrollBudget)
	defer cancel()
	var tok *db.HostToken
	err = m.db.Transaction(ctx, func(tx db.Tx) error {
		var err error
		if tok, err = db.UseHostToken(ctx, tx, iam.HashToken(e.Token), e.GUID, key, db.Now()); err != nil {
			return err
		}
		hostID, err := db.HostIDByGUID(ctx, tx, e.GUID)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if tok.HostID != hostID {
			return fmt.Errorf("a host with guid %s exists and the token was not issued for it", e.GUID)
		}
		return nil
	})
	if errors.Is(err, db.ErrTokenInvalid) {
		m.log.Warn("agent enrollment refused: bad token", "guid", e.GUID, "remote", s.remoteIP)
		return nil, errors.New("the host token is unknown, expired or already used")
	}
	if err != nil {
		return nil, err
	}
	m.log.Info("agent enrolled", "guid", e.GUID, "remote", s.remoteIP, "serial", serial)
	return protocol.Enrolled{CertPEM: certPEM, CAPEM: m.ca.CertPEM, Zone: tok.ZoneID, Pod: tok.PodID, Cluster: tok.ClusterID}, nil
}

// csrKeyDigest is the SHA-256 (hex) of a PEM CSR's public key: what a host token remembers of
// the agent that used it.
func csrKeyDigest(csrPEM string) (string, error) {
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return "", errors.New("the CSR is not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return "", fmt.Errorf("parse CSR: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(csr.PublicKey)
	if err != nil {
		return "", fmt.Errorf("CSR public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}
