package host

import (
	"context"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/agents"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// TokenSpec is createHostToken's parameters: where the enrolled hosts go (a cluster, a zone
// and pod, or nowhere yet: addHost places them), how many may enroll, and for how many minutes.
type TokenSpec struct {
	ZoneID, PodID, ClusterID string
	Hosts, Validity          int
}

// CreateToken writes a one-time token with which `atoll agent` enrolls hosts, and returns it
// with the addresses the agents dial.
func CreateToken(ctx context.Context, d *orchestrate.Deps, s TokenSpec) (*agents.Token, []string, error) {
	m, err := Manager(d)
	if err != nil {
		return nil, nil, err
	}
	zoneID, podID, clusterID := s.ZoneID, s.PodID, s.ClusterID
	if clusterID != "" {
		p, err := db.ResolvePlacement(ctx, d.DB.Read(), zoneID, podID, clusterID)
		if err != nil || p.ClusterID != clusterID {
			return nil, nil, orchestrate.ErrParam("Unable to find cluster by id %s", clusterID)
		}
		zoneID, podID = p.ZoneID, p.PodID
	} else if zoneID != "" || podID != "" {
		if zoneID == "" {
			return nil, nil, orchestrate.ErrParam("zoneid is required with podid")
		}
		if _, err := db.ZonePod(ctx, d.DB.Read(), zoneID, podID); err != nil {
			return nil, nil, orchestrate.ErrParam("Unable to find zone %s / pod %s", zoneID, podID)
		}
	}
	if s.Hosts < 1 || s.Hosts > 10000 {
		return nil, nil, orchestrate.ErrParam("hosts must be between 1 and 10000")
	}
	if s.Validity < 1 {
		return nil, nil, orchestrate.ErrParam("validity must be at least 1 minute")
	}
	var tok *agents.Token
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		tok, err = m.CreateToken(ctx, tx, zoneID, podID, clusterID, time.Duration(s.Validity)*time.Minute, s.Hosts)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return tok, m.Addrs(), nil
}
