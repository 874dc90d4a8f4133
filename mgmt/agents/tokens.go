package agents

import (
	"context"
	"errors"
	"time"

	"github.com/atollcloud/atoll/agent"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
)

// Token is a one-time host token as handed to an administrator.
type Token struct {
	Token         string
	Count         int // tokens issued: Token for the first host, Token.1 ... Token.(Count-1) for the others
	Expires       time.Time
	CAFingerprint string
	ZoneID        string
	PodID         string
	ClusterID     string
}

// TokenFor returns the token of the i-th host (from 0) of a batch issued as tok.
func TokenFor(tok string, i int) string { return agent.BatchToken(tok, i) }

// CreateToken issues count one-time tokens (count hosts may enroll) valid for validity, with
// an optional placement (zone, pod, cluster ids) that enrolled agents register into. q is the
// caller's transaction (or the database).
func (m *Manager) CreateToken(ctx context.Context, q db.Querier, zoneID, podID, clusterID string, validity time.Duration, count int) (*Token, error) {
	if count < 1 || count > 10000 {
		return nil, errors.New("agents: a token batch is for 1 to 10000 hosts")
	}
	if validity <= 0 {
		validity = 24 * time.Hour
	}
	tok := iam.RandomKey(24)
	now := db.Now()
	exp := time.Now().Add(validity)
	for i := 0; i < count; i++ {
		err := db.InsertHostToken(ctx, q, &db.HostToken{Hash: iam.HashToken(TokenFor(tok, i)), ZoneID: zoneID, PodID: podID,
			ClusterID: clusterID, Expires: exp.UnixMilli(), Created: now})
		if err != nil {
			return nil, err
		}
	}
	return &Token{Token: tok, Count: count, Expires: exp, CAFingerprint: m.ca.Fingerprint, ZoneID: zoneID, PodID: podID, ClusterID: clusterID}, nil
}
