package api

import (
	"strings"

	"github.com/atollcloud/atoll/mgmt/orchestrate/host"
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
	count, ok := c.P.Int("hosts")
	if !ok {
		count = 1
	}
	minutes, ok := c.P.Int("validity")
	if !ok {
		minutes = 1440
	}
	tok, endpoints, err := host.CreateToken(c.Ctx, c.deps(), host.TokenSpec{ZoneID: strings.ToLower(c.P.String("zoneid")),
		PodID: strings.ToLower(c.P.String("podid")), ClusterID: strings.ToLower(c.P.String("clusterid")), Hosts: count, Validity: minutes})
	if err != nil {
		return nil, err
	}
	res := map[string]any{"token": tok.Token, "hosts": tok.Count, "cafingerprint": tok.CAFingerprint,
		"expires": FormatTime(tok.Expires.UnixMilli()), "agentendpoints": endpoints}
	set(res, "zoneid", tok.ZoneID)
	set(res, "podid", tok.PodID)
	set(res, "clusterid", tok.ClusterID)
	return Object{Key: "hosttoken", Value: res}, nil
}

func configureSimulatorFault(c *Call) (any, error) {
	latency, _ := c.P.Int("latency")
	fail, _ := c.P.Bool("fail")
	remove, _ := c.P.Bool("remove")
	f, err := host.ConfigureFault(c.Ctx, c.deps(), host.FaultSpec{ZoneID: c.P.String("zoneid"), ClusterID: c.P.String("clusterid"),
		HostID: c.P.String("hostid"), Command: c.P.String("name"), Message: c.P.String("message"), Latency: latency, Fail: fail, Remove: remove})
	if err != nil {
		return nil, err
	}
	res := map[string]any{"scope": f.Scope, "scopeid": f.ScopeID, "command": f.Command}
	if remove {
		res["removed"] = true
		return Object{Key: "simulatorfault", Value: res}, nil
	}
	res["latency"], res["fail"] = latency, fail
	set(res, "message", c.P.String("message"))
	return Object{Key: "simulatorfault", Value: res}, nil
}
