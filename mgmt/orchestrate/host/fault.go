package host

import (
	"context"
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// FaultSpec is configureSimulatorFault's parameters: exactly one of the zone, cluster and host
// ids, the agent command, and the fault (or Remove to clear it).
type FaultSpec struct {
	ZoneID, ClusterID, HostID string
	Command, Message          string
	Latency                   int // milliseconds
	Fail, Remove              bool
}

// Fault is the scope a fault was set (or cleared) at, and its command.
type Fault struct {
	Scope, ScopeID, Command string
}

// ConfigureFault injects latency or failure into a command of the simulated hosts of a zone,
// cluster or host, or clears it.
func ConfigureFault(ctx context.Context, d *orchestrate.Deps, s FaultSpec) (*Fault, error) {
	m, err := Manager(d)
	if err != nil {
		return nil, err
	}
	var scope, id string
	n := 0
	for _, sp := range []struct{ value, scope string }{{s.ZoneID, db.FaultScopeZone}, {s.ClusterID, db.FaultScopeCluster}, {s.HostID, db.FaultScopeHost}} {
		if sp.value != "" {
			scope, id = sp.scope, strings.ToLower(sp.value)
			n++
		}
	}
	if n != 1 {
		return nil, orchestrate.ErrParam("give exactly one of zoneid, clusterid and hostid")
	}
	if err := faultScopeExists(ctx, d, scope, id); err != nil {
		return nil, err
	}
	f := &Fault{Scope: scope, ScopeID: id, Command: strings.TrimSpace(s.Command)}
	if s.Remove {
		if err := m.ClearSimulatorFaults(ctx, scope, id, f.Command); err != nil {
			return nil, err
		}
		return f, nil
	}
	if s.Latency < 0 {
		return nil, orchestrate.ErrParam("latency must not be negative")
	}
	if err := m.SetSimulatorFault(ctx, scope, id, f.Command, time.Duration(s.Latency)*time.Millisecond, s.Fail, s.Message); err != nil {
		return nil, err
	}
	return f, nil
}

func faultScopeExists(ctx context.Context, d *orchestrate.Deps, scope, id string) error {
	switch scope {
	case db.FaultScopeHost:
		if h, err := db.GetHost(ctx, d.DB.Read(), id); err != nil || h.Unbound() {
			return orchestrate.ErrParam("Unable to find host by id %s", id)
		}
	case db.FaultScopeCluster:
		if p, err := db.ResolvePlacement(ctx, d.DB.Read(), "", "", id); err != nil || p.ClusterID != id {
			return orchestrate.ErrParam("Unable to find cluster by id %s", id)
		}
	case db.FaultScopeZone:
		if _, err := db.ZonePod(ctx, d.DB.Read(), id, ""); err != nil {
			return orchestrate.ErrParam("Unable to find zone by id %s", id)
		}
	}
	return nil
}
