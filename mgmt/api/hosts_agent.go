package api

import (
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/agents"
)

// Atoll's own commands for agents (CloudStack has none like them).
func registerHostAgentCommands(s *Server) {
	s.Reg.Add(&Command{Name: "createHostToken", Response: hostTokenResponse, Roles: Admin, ResponseKey: "hosttoken",
		Description: "(Atoll) Creates a one-time token with which `atoll agent` enrolls a host: it obtains its certificate and registers; then addHost with url http://<its address> adds it (or, with a cluster given here, it is added as it registers)",
		Params: []Param{
			{Name: "zoneid", Type: TUUID, Description: "zone the enrolled hosts join"},
			{Name: "podid", Type: TUUID, Description: "pod the enrolled hosts join"},
			{Name: "clusterid", Type: TUUID, Description: "cluster the enrolled hosts join as they register, without addHost"},
			{Name: "hosts", Type: TInt, Description: "how many hosts may enroll with the token (default 1): host i > 0 uses <token>.<i>, as `atoll agent --hosts N` does"},
			{Name: "validity", Type: TInt, Description: "minutes the token stays valid (default 1440)"},
		},
		Handler: createHostToken})
	s.Reg.Add(&Command{Name: "configureSimulatorFault", Response: simulatorFaultResponse, Roles: Admin, ResponseKey: "simulatorfault",
		Description: "(Atoll) Injects latency or failure into a command of the simulated hosts of a zone, cluster or host; remove=true clears it",
		Params: []Param{
			{Name: "zoneid", Type: TUUID, Description: "apply to the simulated hosts of this zone"},
			{Name: "clusterid", Type: TUUID, Description: "apply to the simulated hosts of this cluster"},
			{Name: "hostid", Type: TUUID, Description: "apply to this simulated host"},
			{Name: "name", Type: TString, Required: true, Length: 128, Description: "the agent command's name (StartVM, StopVM, Echo ...), Ping for heartbeats, or * for all (as CloudStack's configureSimulator names it)"},
			{Name: "latency", Type: TInt, Description: "milliseconds added before the command runs"},
			{Name: "fail", Type: TBool, Description: "whether the command fails"},
			{Name: "message", Type: TString, Length: 1024, Description: "the failure's message"},
			{Name: "remove", Type: TBool, Description: "remove the fault instead of setting it"},
		},
		Handler: configureSimulatorFault})
}

func createHostToken(c *Call) (any, error) {
	m, err := c.agents()
	if err != nil {
		return nil, err
	}
	zoneID, podID, clusterID := strings.ToLower(c.P.String("zoneid")), strings.ToLower(c.P.String("podid")), strings.ToLower(c.P.String("clusterid"))
	if clusterID != "" {
		p, err := db.ResolvePlacement(c.Ctx, c.S.DB.Read(), zoneID, podID, clusterID)
		if err != nil || p.ClusterID != clusterID {
			return nil, ErrParam("Unable to find cluster by id %s", clusterID)
		}
		zoneID, podID = p.ZoneID, p.PodID
	} else if zoneID != "" || podID != "" {
		if zoneID == "" {
			return nil, ErrParam("zoneid is required with podid")
		}
		if _, err := db.ZonePod(c.Ctx, c.S.DB.Read(), zoneID, podID); err != nil {
			return nil, ErrParam("Unable to find zone %s / pod %s", zoneID, podID)
		}
	}
	count, ok := c.P.Int("hosts")
	if !ok {
		count = 1
	}
	if count < 1 || count > 10000 {
		return nil, ErrParam("hosts must be between 1 and 10000")
	}
	minutes, ok := c.P.Int("validity")
	if !ok {
		minutes = 1440
	}
	if minutes < 1 {
		return nil, ErrParam("validity must be at least 1 minute")
	}
	var tok *agents.Token
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		var err error
		tok, err = m.CreateToken(c.Ctx, tx, zoneID, podID, clusterID, time.Duration(minutes)*time.Minute, count)
		return err
	})
	if err != nil {
		return nil, err
	}
	res := map[string]any{"token": tok.Token, "hosts": tok.Count, "cafingerprint": tok.CAFingerprint,
		"expires": FormatTime(tok.Expires.UnixMilli()), "agentendpoints": m.Addrs()}
	set(res, "zoneid", tok.ZoneID)
	set(res, "podid", tok.PodID)
	set(res, "clusterid", tok.ClusterID)
	return Object{Key: "hosttoken", Value: res}, nil
}

func configureSimulatorFault(c *Call) (any, error) {
	m, err := c.agents()
	if err != nil {
		return nil, err
	}
	var scope, id string
	n := 0
	for _, sp := range []struct{ param, scope string }{{"zoneid", db.FaultScopeZone}, {"clusterid", db.FaultScopeCluster}, {"hostid", db.FaultScopeHost}} {
		if v := c.P.String(sp.param); v != "" {
			scope, id = sp.scope, strings.ToLower(v)
			n++
		}
	}
	if n != 1 {
		return nil, ErrParam("give exactly one of zoneid, clusterid and hostid")
	}
	if err := c.faultScopeExists(scope, id); err != nil {
		return nil, err
	}
	command := strings.TrimSpace(c.P.String("name"))
	res := map[string]any{"scope": scope, "scopeid": id, "command": command}
	if remove, _ := c.P.Bool("remove"); remove {
		if err := m.ClearSimulatorFaults(c.Ctx, scope, id, command); err != nil {
			return nil, err
		}
		res["removed"] = true
		return Object{Key: "simulatorfault", Value: res}, nil
	}
	latency, _ := c.P.Int("latency")
	if latency < 0 {
		return nil, ErrParam("latency must not be negative")
	}
	fail, _ := c.P.Bool("fail")
	if err := m.SetSimulatorFault(c.Ctx, scope, id, command, time.Duration(latency)*time.Millisecond, fail, c.P.String("message")); err != nil {
		return nil, err
	}
	res["latency"], res["fail"] = latency, fail
	set(res, "message", c.P.String("message"))
	return Object{Key: "simulatorfault", Value: res}, nil
}

func (c *Call) faultScopeExists(scope, id string) error {
	switch scope {
	case db.FaultScopeHost:
		if h, err := db.GetHost(c.Ctx, c.S.DB.Read(), id); err != nil || h.Unbound() {
			return ErrParam("Unable to find host by id %s", id)
		}
	case db.FaultScopeCluster:
		if p, err := db.ResolvePlacement(c.Ctx, c.S.DB.Read(), "", "", id); err != nil || p.ClusterID != id {
			return ErrParam("Unable to find cluster by id %s", id)
		}
	case db.FaultScopeZone:
		if _, err := db.ZonePod(c.Ctx, c.S.DB.Read(), id, ""); err != nil {
			return ErrParam("Unable to find zone by id %s", id)
		}
	}
	return nil
}
