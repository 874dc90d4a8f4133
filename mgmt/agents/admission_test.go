package agents_test

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
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/agent"
	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/agents"
	"github.com/atollcloud/atoll/mgmt/agents/agentstest"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// A server whose registration slots are all taken answers enrollments "busy" with a time to
// retry instead of keeping them waiting past the agent's patience; the agent waits, asks
// again on the same connection, and is enrolled and Up as soon as the server has room.
func TestBusyServerTurnsAgentsAwayAndTheyComeBack(t *testing.T) {
	defer agents.SetAdmissionWaits(300*time.Millisecond, 300*time.Millisecond)()
	e := mgmttest.Start(t, mgmttest.Options{})
	addr := listen(t, e)
	in := agentstest.MakeInfra(t, e.Server.DB, "Simulator")
	tok, fp := token(t, e, map[string]string{"clusterid": in.Cluster})
	m := e.Server.Agents
	release := m.HoldAdmission(false, true)
	a, _ := runAgent(t, agent.Config{Servers: []string{addr}, Token: tok, CAFingerprint: fp, Name: "patient"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, busy := m.Shed(); busy >= 2 {
			break // turned away, and came back at least once
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent was not answered busy twice within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a.Enrolled() || a.HostID() != "" {
		t.Fatal("an agent got in while every registration slot was taken")
	}
	released := time.Now()
	release()
	id := waitRegistered(t, a, 15*time.Second)
	agentstest.WaitHost(t, e.Server.DB, id, 5*time.Second, "Up", agentstest.Status(db.HostStatusUp))
	t.Logf("Up %v after the server had room", time.Since(released).Round(time.Millisecond))
	if shed, _ := m.Shed(); shed != 0 {
		t.Fatalf("%d connections closed before their handshake; none should have waited that long", shed)
	}
}

// A server whose handshake slots are all taken closes the connections that cannot start their
// handshake in time, before doing any of it; once it has room, handshakes work again.
func TestBusyServerShedsHandshakes(t *testing.T) {
	defer agents.SetAdmissionWaits(300*time.Millisecond, 300*time.Millisecond)()
	e := mgmttest.Start(t, mgmttest.Options{})
	addr := listen(t, e)
	m := e.Server.Agents
	release := m.HoldAdmission(true, false)
	insecure := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	start := time.Now()
	if c, err := tls.Dial("tcp", addr, insecure); err == nil {
		c.Close()
		t.Fatal("a handshake went through while every handshake slot was taken")
	}
	if shed, _ := m.Shed(); shed != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("shed %d connections in %v, want 1 after about 300 ms", shed, time.Since(start))
	}
	release()
	c, err := tls.Dial("tcp", addr, insecure)
	if err != nil {
		t.Fatalf("a handshake once the server had room: %v", err)
	}
	c.Close()
}

// An agent whose enrollment answer was lost may ask again with the same token, guid and key
// and gets a certificate again; nobody else can reuse the token: not another guid, and not
// the same guid with another key.
func TestEnrollmentRetryWithTheSameKey(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	addr := listen(t, e)
	in := agentstest.MakeInfra(t, e.Server.DB, "Simulator")
	tok, _ := token(t, e, map[string]string{"clusterid": in.Cluster})
	key1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	enroll := func(guid string, key *ecdsa.PrivateKey) (*protocol.Enrolled, error) {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: guid}}, key)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		if err != nil {
			t.Fatal(err)
		}
		conn := protocol.NewConn(nc, nil)
		go conn.Serve()
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		var res protocol.Enrolled
		csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
		return &res, conn.Call(ctx, protocol.TypeEnroll, protocol.Enroll{Token: tok, GUID: guid, CSR: csr}, &res)
	}
	first, err := enroll("host-a", key1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := enroll("host-a", key1)
	if err != nil || again.CertPEM == "" || again.Cluster != in.Cluster {
		t.Fatalf("the same agent's second enrollment with its token: %+v %v", again, err)
	}
	if again.CertPEM == first.CertPEM {
		t.Fatal("the retry returned the very same certificate; expected a fresh one for the same key")
	}
	for _, c := range []struct {
		guid string
		key  *ecdsa.PrivateKey
	}{{"host-b", key1}, {"host-a", key2}, {"host-b", key2}} {
		_, err := enroll(c.guid, c.key)
		var re *protocol.RemoteError
		if !errors.As(err, &re) || !strings.Contains(re.Msg, "already used") {
			t.Fatalf("enrollment of %s with another's used token: %v", c.guid, err)
		}
	}
}
