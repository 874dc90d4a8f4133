package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/network"
)

// Stickiness and health-check policies of load-balancer rules.

func registerLBPolicies(s *Server) {
	lbRuleID := Param{Name: "lbruleid", Type: TUUID, Required: true, Description: "the ID of the load balancer rule"}
	s.Reg.Add(&Command{Name: "createLBStickinessPolicy", Response: stickinessResponse, Roles: AllRoles, Async: true, ResponseKey: "stickinesspolicies",
		Description: "Creates a load balancer stickiness policy ",
		Params: []Param{lbRuleID,
			{Name: "name", Type: TString, Required: true, Description: "name of the load balancer stickiness policy"},
			{Name: "methodname", Type: TString, Required: true, Description: "name of the load balancer stickiness policy method, possible values can be obtained from listNetworks API"},
			{Name: "description", Type: TString, Length: 4096, Description: "the description of the load balancer stickiness policy"},
			{Name: "param", Type: TMap, Description: "param list. Example: param[0].name=cookiename&param[0].value=LBCookie "},
			{Name: "fordisplay", Type: TBool, Description: "an optional field, whether to the display the rule to the end user or not"},
		},
		Handler: createStickiness, Job: stickinessJob})
	s.Reg.Add(&Command{Name: "deleteLBStickinessPolicy", Response: successResponse, Roles: AllRoles, Async: true,
		Description: "Deletes a load balancer stickiness policy.",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the ID of the LB stickiness policy"}},
		Handler:     deleteStickinessStart, Job: deleteStickinessJob})
	s.Reg.Add(&Command{Name: "listLBStickinessPolicies", Response: stickinessResponse, Roles: AllRoles, List: true, ResponseKey: "stickinesspolicies",
		Description: "Lists load balancer stickiness policies.",
		Params: []Param{
			{Name: "lbruleid", Type: TUUID, Description: "the ID of the load balancer rule"},
			{Name: "id", Type: TUUID, Description: "the ID of the load balancer stickiness policy"},
			{Name: "fordisplay", Type: TBool, Description: "list resources by display flag"},
		},
		Handler: listStickiness})
	s.Reg.Add(&Command{Name: "createLBHealthCheckPolicy", Response: healthCheckResponse, Roles: AllRoles, Async: true, ResponseKey: "healthcheckpolicies",
		Description: "Creates a load balancer health check policy",
		Params: []Param{lbRuleID,
			{Name: "description", Type: TString, Description: "the description of the load balancer health check policy"},
			{Name: "pingpath", Type: TString, Description: "HTTP ping path"},
			{Name: "responsetimeout", Type: TInt, Description: "Time to wait when receiving a response from the health check (2sec - 60 sec)"},
			{Name: "intervaltime", Type: TInt, Description: "Amount of time between health checks (1 sec - 20940 sec)"},
			{Name: "healthythreshold", Type: TInt, Description: "Number of consecutive health check success before declaring an instance healthy"},
			{Name: "unhealthythreshold", Type: TInt, Description: "Number of consecutive health check failures before declaring an instance unhealthy"},
			{Name: "fordisplay", Type: TBool, Description: "an optional field, whether to the display the rule to the end user or not"},
		},
		Handler: createHealthCheck, Job: healthCheckJob})
	s.Reg.Add(&Command{Name: "deleteLBHealthCheckPolicy", Response: successResponse, Roles: AllRoles, Async: true,
		Description: "Deletes a load balancer health check policy.",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the ID of the load balancer health check policy"}},
		Handler:     deleteHealthCheckStart, Job: deleteHealthCheckJob})
	s.Reg.Add(&Command{Name: "listLBHealthCheckPolicies", Response: healthCheckResponse, Roles: AllRoles, List: true, ResponseKey: "healthcheckpolicies",
		Description: "Lists load balancer health check policies.",
		Params: []Param{
			{Name: "lbruleid", Type: TUUID, Description: "the ID of the load balancer rule"},
			{Name: "id", Type: TUUID, Description: "the ID of the health check policy"},
			{Name: "fordisplay", Type: TBool, Description: "list resources by display flag"},
		},
		Handler: listHealthChecks})
}

// stickinessSpec reads createLBStickinessPolicy's parameters.
func (c *Call) stickinessSpec() network.StickinessSpec {
	spec := network.StickinessSpec{LBID: c.lowerID("lbruleid"), Name: c.P.String("name"), Description: c.P.String("description"),
		Method: c.P.String("methodname"), Display: true}
	if b, ok := c.P.Bool("fordisplay"); ok {
		spec.Display = b
	}
	for _, m := range c.P.Map("param") {
		p := network.StickinessParam{Name: strings.TrimSpace(m["name"])}
		if v, ok := m["value"]; ok {
			p.Value = &v
		}
		spec.Params = append(spec.Params, p)
	}
	return spec
}

func createStickiness(c *Call) (any, error) {
	if strings.TrimSpace(c.P.String("name")) == "" {
		return nil, ErrParam("Invalid name: a stickiness policy's name can't be empty")
	}
	p, jobID, err := network.CreateStickiness(c.Ctx, c.deps(), c.actor(), c.stickinessSpec())
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: p.ID}, nil
}

func stickinessJob(c *Call, j *db.Job) (any, error) {
	r, err := network.ApplyStickiness(c.Ctx, c.deps(), c.actor(), j.InstanceID)
	if err != nil {
		return nil, err
	}
	p, err := db.GetLBStickiness(c.Ctx, c.S.DB.Read(), j.InstanceID)
	if err != nil {
		return nil, err
	}
	if r, err = db.GetLBRule(c.Ctx, c.S.DB.Read(), r.ID); err != nil {
		return nil, err
	}
	return Object{Key: "stickinesspolicies", Value: renderStickiness(r, []*db.LBStickiness{p})}, nil
}

func renderStickiness(r *db.LBRule, list []*db.LBStickiness) map[string]any {
	ps := make([]any, 0, len(list))
	for _, p := range list {
		params := map[string]any{}
		for k, v := range p.Params {
			params[k] = v
		}
		m := map[string]any{"id": p.ID, "name": p.Name, "methodname": p.Method, "params": params, "state": "Active", "fordisplay": p.Display}
		set(m, "description", p.Description)
		ps = append(ps, m)
	}
	m := map[string]any{"lbruleid": r.ID, "name": r.Name, "state": r.State, "account": r.AccountName, "domainid": r.DomainID,
		"domain": r.DomainName, "zoneid": r.ZoneID, "stickinesspolicy": ps}
	set(m, "description", r.Description)
	return m
}

func deleteStickinessStart(c *Call) (any, error) {
	p, _, err := network.StickinessForCaller(c.Ctx, c.S.DB.Read(), c.actor(), c.lowerID("id"))
	if err != nil {
		return nil, err
	}
	return c.StartJob("LBStickinessPolicy", p.ID)
}

func deleteStickinessJob(c *Call, j *db.Job) (any, error) {
	if err := network.DeleteStickiness(c.Ctx, c.deps(), c.actor(), j.InstanceID); err != nil {
		return nil, err
	}
	return Success(), nil
}

// policyListRule finds the rule whose policies a list shows: lbruleid, or the rule of policy
// id (found by get); none when neither names one.
func (c *Call) policyListRule(get func(id string) (string, error)) (*db.LBRule, error) {
	lbID := c.lowerID("lbruleid")
	if lbID == "" {
		id := c.lowerID("id")
		if id == "" {
			return nil, nil // names no rule: nothing to list
		}
		var err error
		if lbID, err = get(id); err != nil {
			return nil, nil
		}
	}
	r, err := network.LBRuleForCaller(c.Ctx, c.S.DB.Read(), c.actor(), lbID)
	if err != nil && c.lowerID("lbruleid") == "" {
		return nil, nil
	}
	return r, err
}

func listStickiness(c *Call) (any, error) {
	q := c.S.DB.Read()
	r, err := c.policyListRule(func(id string) (string, error) {
		p, err := db.GetLBStickiness(c.Ctx, q, id)
		if err != nil {
			return "", err
		}
		return p.LBID, nil
	})
	if err != nil || r == nil {
		return ListResult{Key: "stickinesspolicies", Items: []any{}}, err
	}
	all, err := db.ListLBStickiness(c.Ctx, q, r.ID)
	if err != nil {
		return nil, err
	}
	var list []*db.LBStickiness
	for _, p := range all {
		if p.Revoked || c.lowerID("id") != "" && p.ID != c.lowerID("id") {
			continue
		}
		if b, ok := c.P.Bool("fordisplay"); ok && p.Display != b {
			continue
		}
		list = append(list, p)
	}
	return ListResult{Key: "stickinesspolicies", Items: []any{renderStickiness(r, list)}, Count: 1}, nil
}

func createHealthCheck(c *Call) (any, error) {
	spec := network.HealthCheckSpec{LBID: c.lowerID("lbruleid"), Description: c.P.String("description"),
		PingPath: strings.TrimSpace(c.P.String("pingpath")), Display: true}
	spec.ResponseTime, spec.ResponseTimeGiven = c.P.Int("responsetimeout")
	spec.Interval, spec.IntervalGiven = c.P.Int("intervaltime")
	spec.HealthyThreshold, _ = c.P.Int("healthythreshold")
	spec.UnhealthyThreshold, _ = c.P.Int("unhealthythreshold")
	if b, ok := c.P.Bool("fordisplay"); ok {
		spec.Display = b
	}
	p, jobID, err := network.CreateHealthCheck(c.Ctx, c.deps(), c.actor(), spec)
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: p.ID}, nil
}

func healthCheckJob(c *Call, j *db.Job) (any, error) {
	r, err := network.ApplyHealthCheck(c.Ctx, c.deps(), c.actor(), j.InstanceID)
	if err != nil {
		return nil, err
	}
	p, err := db.GetLBHealthCheck(c.Ctx, c.S.DB.Read(), j.InstanceID)
	if err != nil {
		return nil, err
	}
	return Object{Key: "healthcheckpolicies", Value: renderHealthChecks(r, []*db.LBHealthCheck{p})}, nil
}

func renderHealthChecks(r *db.LBRule, list []*db.LBHealthCheck) map[string]any {
	ps := make([]any, 0, len(list))
	for _, p := range list {
		m := map[string]any{"id": p.ID, "pingpath": p.PingPath, "state": "Active", "responsetime": p.ResponseTime,
			"healthcheckinterval": p.Interval, "healthcheckthresshold": p.HealthyThreshold, "unhealthcheckthresshold": p.UnhealthyThresh,
			"fordisplay": p.Display}
		set(m, "description", p.Description)
		ps = append(ps, m)
	}
	return map[string]any{"lbruleid": r.ID, "account": r.AccountName, "domainid": r.DomainID, "domain": r.DomainName,
		"zoneid": r.ZoneID, "healthcheckpolicy": ps}
}

func deleteHealthCheckStart(c *Call) (any, error) {
	p, _, err := network.HealthCheckForCaller(c.Ctx, c.S.DB.Read(), c.actor(), c.lowerID("id"))
	if err != nil {
		return nil, err
	}
	return c.StartJob("LBHealthCheckPolicy", p.ID)
}

func deleteHealthCheckJob(c *Call, j *db.Job) (any, error) {
	if err := network.DeleteHealthCheck(c.Ctx, c.deps(), c.actor(), j.InstanceID); err != nil {
		return nil, err
	}
	return Success(), nil
}

func listHealthChecks(c *Call) (any, error) {
	q := c.S.DB.Read()
	r, err := c.policyListRule(func(id string) (string, error) {
		p, err := db.GetLBHealthCheck(c.Ctx, q, id)
		if err != nil {
			return "", err
		}
		return p.LBID, nil
	})
	if err != nil || r == nil {
		return ListResult{Key: "healthcheckpolicies", Items: []any{}}, err
	}
	all, err := db.ListLBHealthChecks(c.Ctx, q, r.ID)
	if err != nil {
		return nil, err
	}
	var list []*db.LBHealthCheck
	for _, p := range all {
		if p.Revoked || c.lowerID("id") != "" && p.ID != c.lowerID("id") {
			continue
		}
		if b, ok := c.P.Bool("fordisplay"); ok && p.Display != b {
			continue
		}
		list = append(list, p)
	}
	return ListResult{Key: "healthcheckpolicies", Items: []any{renderHealthChecks(r, list)}, Count: 1}, nil
}
