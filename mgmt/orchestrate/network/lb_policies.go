package network

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// Stickiness and health-check policies of load-balancer rules.

// stickinessParam is one parameter a stickiness method takes (CloudStack's
// LbStickinessMethodParam): a flag takes no value.
type stickinessParam struct {
	name           string
	required, flag bool
}

// StickinessMethods are HAProxy's stickiness methods as the VirtualRouter provider offers them
// (getHAProxyStickinessCapability), by name.
var stickinessMethods = map[string][]stickinessParam{
	"LbCookie": {{name: "cookie-name"}, {name: "mode"}, {name: "nocache", flag: true}, {name: "indirect", flag: true},
		{name: "postonly", flag: true}, {name: "domain"}},
	"AppCookie": {{name: "cookie-name"}, {name: "length"}, {name: "holdtime"}, {name: "request-learn", flag: true},
		{name: "prefix", flag: true}, {name: "mode"}},
	"SourceBased": {{name: "tablesize"}, {name: "expire"}},
}

// StickinessSpec is a new stickiness policy of createLBStickinessPolicy.
type StickinessSpec struct {
	LBID, Name, Description, Method string
	// Params are the param[i].name/value pairs as sent; a pair without a value has Value nil.
	Params  []StickinessParam
	Display bool
}

// StickinessParam is one name/value pair of a stickiness policy; a flag's value is nil.
type StickinessParam struct {
	Name  string
	Value *string
}

// numberWithUnit is CloudStack's containsOnlyNumbers: an integer, and with units a one-letter
// unit of them after it.
func numberWithUnit(s, units string) bool {
	if units != "" {
		if len(s) < 2 || !strings.ContainsRune(units, rune(s[len(s)-1])) {
			return false
		}
		s = s[:len(s)-1]
	}
	_, err := strconv.ParseInt(s, 10, 32)
	return err == nil
}

// checkStickiness validates a policy's method and parameters as CloudStack's genericValidator
// and HAProxy's rule validation do, returning the method's name and the parameters to keep.
func checkStickiness(r *db.LBRule, spec StickinessSpec) (string, map[string]string, error) {
	method := ""
	for m := range stickinessMethods {
		if strings.EqualFold(m, strings.TrimSpace(spec.Method)) {
			method = m
		}
	}
	if method == "" {
		return "", nil, orchestrate.ErrParam("Failed to match Stickiness method name for LB rule:%s (methodname %s: use LbCookie, AppCookie or SourceBased)", r.ID, spec.Method)
	}
	defs := stickinessMethods[method]
	params := map[string]string{}
	for _, p := range spec.Params {
		var def *stickinessParam
		for i := range defs {
			if strings.EqualFold(defs[i].name, p.Name) {
				def = &defs[i]
			}
		}
		if def == nil {
			return "", nil, orchestrate.ErrParam("Failed : Stickiness policy does not support param name :%s", p.Name)
		}
		if !def.flag && (p.Value == nil || *p.Value == "") {
			return "", nil, orchestrate.ErrParam("Failed : Value expected for the Param :%s", def.name)
		}
		v := ""
		if p.Value != nil {
			v = *p.Value
		}
		params[def.name] = v
	}
	for _, def := range defs {
		if _, ok := params[def.name]; def.required && !ok {
			return "", nil, orchestrate.ErrParam("Failed : Missing Manadatory Param :%s", def.name)
		}
	}
	const timeUnits = "dhms"
	switch method {
	case "SourceBased":
		if v, ok := params["expire"]; ok && !numberWithUnit(v, timeUnits) {
			return "", nil, orchestrate.ErrParam("Failed LB in validation rule id: %s Cause: expire is not in timeformat: %s", r.ID, v)
		}
		if v, ok := params["tablesize"]; ok && !numberWithUnit(v, "kmg") {
			return "", nil, orchestrate.ErrParam("Failed LB in validation rule id: %s Cause: tablesize is not in size format: %s", r.ID, v)
		}
	case "AppCookie":
		if v, ok := params["length"]; ok && !numberWithUnit(v, "") {
			return "", nil, orchestrate.ErrParam("Failed LB in validation rule id: %s Cause: length is not a number: %s", r.ID, v)
		}
		if v, ok := params["holdtime"]; ok && !numberWithUnit(v, timeUnits) && !numberWithUnit(v, "") {
			return "", nil, orchestrate.ErrParam("Failed LB in validation rule id: %s Cause: holdtime is not in timeformat: %s", r.ID, v)
		}
	}
	return method, params, nil
}

func policyRule(ctx context.Context, q db.Querier, a orchestrate.Actor, lbID string) (*db.LBRule, error) {
	r, err := db.GetLBRule(ctx, q, lbID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Failed: LB rule id: %s not present (lbruleid)", lbID)
	}
	if err != nil {
		return nil, err
	}
	if err := orchestrate.CheckOwnerAccess(ctx, q, a.Caller, lbID, r.AccountID, r.DomainID); err != nil {
		return nil, err
	}
	if r.State == db.LBRevoke {
		return nil, orchestrate.ErrParam("Failed: LB rule: %s is in deleting state: ", r.ID)
	}
	return r, nil
}

// checkNewStickiness validates a new policy for a rule the caller may change.
func checkNewStickiness(ctx context.Context, q db.Querier, a orchestrate.Actor, spec StickinessSpec) (*db.LBStickiness, error) {
	r, err := policyRule(ctx, q, a, spec.LBID)
	if err != nil {
		return nil, err
	}
	method, params, err := checkStickiness(r, spec)
	if err != nil {
		return nil, err
	}
	live := 0
	list, err := db.ListLBStickiness(ctx, q, r.ID)
	if err != nil {
		return nil, err
	}
	for _, p := range list {
		if !p.Revoked {
			live++
		}
	}
	if live > 1 {
		return nil, orchestrate.ErrParam("Failed to create Stickiness policy: Already two policies attached %s", r.ID)
	}
	return &db.LBStickiness{ID: uuid.NewString(), LBID: r.ID, Name: strings.TrimSpace(spec.Name), Description: spec.Description,
		Method: method, Params: params, Display: spec.Display, Created: db.Now()}, nil
}

// CreateStickiness writes a new stickiness policy (createLBStickinessPolicy's create phase)
// and the actor's job on it; it returns the policy and the job id.
func CreateStickiness(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec StickinessSpec) (*db.LBStickiness, string, error) {
	var p *db.LBStickiness
	var jobID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		if p, err = checkNewStickiness(ctx, tx, a, spec); err != nil {
			return err
		}
		if err := db.InsertLBStickiness(ctx, tx, p); err != nil {
			return err
		}
		if err := orchestrate.Event(ctx, tx, a, "LB.STICKINESSPOLICY.CREATE", "create lb stickinesspolicy to load balancer "+p.LBID, "LBStickinessPolicy", p.ID); err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, "LBStickinessPolicy", p.ID)
		return err
	})
	return p, jobID, err
}

// CheckCreateStickiness validates createLBStickinessPolicy before anything is written.
func CheckCreateStickiness(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec StickinessSpec) error {
	_, err := checkNewStickiness(ctx, d.DB.Read(), a, spec)
	return err
}

// ApplyStickiness makes a new policy the rule's one (the others are revoked, as CloudStack's
// applyLBStickinessPolicy does) and applies the network's rules (createLBStickinessPolicy's
// job).
func ApplyStickiness(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, policyID string) (*db.LBRule, error) {
	var r *db.LBRule
	var state string
	var replaced []string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		replaced = nil
		p, err := db.GetLBStickiness(ctx, tx, policyID)
		if errors.Is(err, db.ErrNotFound) {
			return orchestrate.ErrParam("Invalid Stickiness policy id value: %s", policyID)
		}
		if err != nil {
			return err
		}
		if r, err = policyRule(ctx, tx, a, p.LBID); err != nil {
			return err
		}
		list, err := db.ListLBStickiness(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		for _, o := range list {
			if o.ID != p.ID && !o.Revoked {
				if err := db.SetLBStickinessRevoked(ctx, tx, o.ID, true); err != nil {
					return err
				}
				replaced = append(replaced, o.ID)
			}
		}
		state, r.State = r.State, db.LBAdd
		return db.UpdateLBRule(ctx, tx, r)
	})
	if err != nil {
		return nil, err
	}
	return r, applyOrUndo(ctx, d, r.NetworkID, func(tx db.Tx) error {
		if err := db.DeleteLBStickiness(ctx, tx, policyID); err != nil {
			return err
		}
		for _, id := range replaced {
			if err := db.SetLBStickinessRevoked(ctx, tx, id, false); err != nil {
				return err
			}
		}
		return restoreLB(ctx, tx, r.ID, state)
	})
}

// StickinessForCaller reads a stickiness policy and its rule, which the caller may change.
func StickinessForCaller(ctx context.Context, q db.Querier, a orchestrate.Actor, id string) (*db.LBStickiness, *db.LBRule, error) {
	p, err := db.GetLBStickiness(ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil, orchestrate.ErrParam("Invalid Stickiness policy id value: %s", id)
	}
	if err != nil {
		return nil, nil, err
	}
	r, err := lbRule(ctx, q, a, p.LBID)
	if err != nil {
		return nil, nil, err
	}
	return p, r, nil
}

// DeleteStickiness revokes a stickiness policy and applies the network's rules, which removes
// it (deleteLBStickinessPolicy's job); a policy already gone is done.
func DeleteStickiness(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	var networkID, lbID, state string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		p, r, err := StickinessForCaller(ctx, tx, a, id)
		if err != nil {
			var oe *orchestrate.Error
			if errors.As(err, &oe) && oe.Code == orchestrate.CodeParam {
				return nil // an earlier run removed it
			}
			return err
		}
		if err := db.SetLBStickinessRevoked(ctx, tx, p.ID, true); err != nil {
			return err
		}
		networkID, lbID, state = r.NetworkID, r.ID, r.State
		if r.State == db.LBActive {
			r.State = db.LBAdd
			if err := db.UpdateLBRule(ctx, tx, r); err != nil {
				return err
			}
		}
		return orchestrate.Event(ctx, tx, a, "LB.STICKINESSPOLICY.DELETE", "revoking LB Stickiness policy "+p.ID, "LBStickinessPolicy", p.ID)
	})
	if err != nil || networkID == "" {
		return err
	}
	return applyOrUndo(ctx, d, networkID, func(tx db.Tx) error {
		if err := db.SetLBStickinessRevoked(ctx, tx, id, false); err != nil {
			return err
		}
		return restoreLB(ctx, tx, lbID, state)
	})
}

// HealthCheckSpec is a new health-check policy of createLBHealthCheckPolicy; zero values
// take CloudStack's defaults (ping path /, response timeout 2 s, interval 5 s, healthy
// threshold 2, unhealthy threshold 1).
type HealthCheckSpec struct {
	LBID, Description, PingPath               string
	ResponseTime, Interval                    int
	HealthyThreshold, UnhealthyThreshold      int
	ResponseTimeGiven, IntervalGiven, Display bool
}

// checkNewHealthCheck validates a new health-check policy. CloudStack's VirtualRouter
// provider has no HealthCheckPolicy capability and refuses every one; Atoll's router
// (HAProxy in the router namespace) checks its backends, so the policy is taken.
func checkNewHealthCheck(ctx context.Context, q db.Querier, a orchestrate.Actor, spec HealthCheckSpec) (*db.LBHealthCheck, error) {
	if spec.ResponseTimeGiven && spec.IntervalGiven && spec.ResponseTime > spec.Interval {
		return nil, errMalformed("Failed to create HealthCheck policy : Monitor interval must be greater than response timeout")
	}
	for _, c := range []struct {
		name  string
		v, lo int
		hi    int
		given bool
	}{{"responsetimeout", spec.ResponseTime, 2, 60, spec.ResponseTimeGiven}, {"intervaltime", spec.Interval, 1, 20940, spec.IntervalGiven},
		{"healthythreshold", spec.HealthyThreshold, 0, 1 << 20, true}, {"unhealthythreshold", spec.UnhealthyThreshold, 0, 1 << 20, true}} {
		if c.given && c.v != 0 && (c.v < c.lo || c.v > c.hi) || c.v < 0 {
			return nil, errMalformed("Failed to create HealthCheck policy: %s %d is out of range (%d-%d)", c.name, c.v, c.lo, c.hi)
		}
	}
	r, err := policyRule(ctx, q, a, spec.LBID)
	if err != nil {
		var oe *orchestrate.Error
		if errors.As(err, &oe) && oe.Code == orchestrate.CodeParam {
			oe = &orchestrate.Error{Code: orchestrate.CodeMalformed, CSCode: oe.CSCode, Text: oe.Text}
			return nil, oe
		}
		return nil, err
	}
	list, err := db.ListLBHealthChecks(ctx, q, r.ID)
	if err != nil {
		return nil, err
	}
	for _, p := range list {
		if !p.Revoked {
			return nil, errMalformed("Failed to create HealthCheck policy: Already policy attached  for the LB Rule:%s", r.ID)
		}
	}
	p := &db.LBHealthCheck{ID: uuid.NewString(), LBID: r.ID, Description: spec.Description, PingPath: spec.PingPath,
		ResponseTime: spec.ResponseTime, Interval: spec.Interval, HealthyThreshold: spec.HealthyThreshold,
		UnhealthyThresh: spec.UnhealthyThreshold, Display: spec.Display, Created: db.Now()}
	if p.PingPath == "" {
		p.PingPath = "/"
	}
	for _, d := range []struct {
		v   *int
		def int
	}{{&p.ResponseTime, 2}, {&p.Interval, 5}, {&p.HealthyThreshold, 2}, {&p.UnhealthyThresh, 1}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	return p, nil
}

// errMalformed is CreateLBHealthCheckPolicyCmd's answer to a refused policy (430).
func errMalformed(format string, args ...any) *orchestrate.Error {
	return orchestrate.Errorf(orchestrate.CodeMalformed, orchestrate.CSInvalidParameter, format, args...)
}

// CheckCreateHealthCheck validates createLBHealthCheckPolicy before anything is written.
func CheckCreateHealthCheck(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec HealthCheckSpec) error {
	_, err := checkNewHealthCheck(ctx, d.DB.Read(), a, spec)
	return err
}

// CreateHealthCheck writes a new health-check policy and the actor's job on it; it returns
// the policy and the job id.
func CreateHealthCheck(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, spec HealthCheckSpec) (*db.LBHealthCheck, string, error) {
	var p *db.LBHealthCheck
	var jobID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		var err error
		if p, err = checkNewHealthCheck(ctx, tx, a, spec); err != nil {
			return err
		}
		if err := db.InsertLBHealthCheck(ctx, tx, p); err != nil {
			return err
		}
		if err := orchestrate.Event(ctx, tx, a, "LB.HEALTHCHECKPOLICY.CREATE", "create load balancer health check to load balancer "+p.LBID, "LBHealthCheckPolicy", p.ID); err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, "LBHealthCheckPolicy", p.ID)
		return err
	})
	return p, jobID, err
}

// ApplyHealthCheck applies the network's rules with a new health-check policy
// (createLBHealthCheckPolicy's job).
func ApplyHealthCheck(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, policyID string) (*db.LBRule, error) {
	var r *db.LBRule
	var state string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		p, err := db.GetLBHealthCheck(ctx, tx, policyID)
		if errors.Is(err, db.ErrNotFound) {
			return orchestrate.ErrParam("Invalid HealthCheck policy id value: %s", policyID)
		}
		if err != nil {
			return err
		}
		if r, err = policyRule(ctx, tx, a, p.LBID); err != nil {
			return err
		}
		state, r.State = r.State, db.LBAdd
		return db.UpdateLBRule(ctx, tx, r)
	})
	if err != nil {
		return nil, err
	}
	return r, applyOrUndo(ctx, d, r.NetworkID, func(tx db.Tx) error {
		if err := db.DeleteLBHealthCheck(ctx, tx, policyID); err != nil {
			return err
		}
		return restoreLB(ctx, tx, r.ID, state)
	})
}

// HealthCheckForCaller reads a health-check policy and its rule, which the caller may change.
func HealthCheckForCaller(ctx context.Context, q db.Querier, a orchestrate.Actor, id string) (*db.LBHealthCheck, *db.LBRule, error) {
	p, err := db.GetLBHealthCheck(ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil, orchestrate.ErrParam("Invalid HealthCheck policy id value: %s", id)
	}
	if err != nil {
		return nil, nil, err
	}
	r, err := lbRule(ctx, q, a, p.LBID)
	if err != nil {
		return nil, nil, err
	}
	return p, r, nil
}

// DeleteHealthCheck revokes a health-check policy and applies the network's rules, which
// removes it (deleteLBHealthCheckPolicy's job); a policy already gone is done.
func DeleteHealthCheck(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	var networkID, lbID, state string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		p, r, err := HealthCheckForCaller(ctx, tx, a, id)
		if err != nil {
			var oe *orchestrate.Error
			if errors.As(err, &oe) && oe.Code == orchestrate.CodeParam {
				return nil
			}
			return err
		}
		if err := db.SetLBHealthCheckRevoked(ctx, tx, p.ID, true); err != nil {
			return err
		}
		// The monitor's view of the VMs goes with it.
		if err := db.ClearLBVMStates(ctx, tx, r.ID); err != nil {
			return err
		}
		networkID, lbID, state = r.NetworkID, r.ID, r.State
		if r.State == db.LBActive {
			r.State = db.LBAdd
			if err := db.UpdateLBRule(ctx, tx, r); err != nil {
				return err
			}
		}
		return orchestrate.Event(ctx, tx, a, "LB.HEALTHCHECKPOLICY.DELETE", "revoking LB HealthCheck policy "+p.ID, "LBHealthCheckPolicy", p.ID)
	})
	if err != nil || networkID == "" {
		return err
	}
	return applyOrUndo(ctx, d, networkID, func(tx db.Tx) error {
		if err := db.SetLBHealthCheckRevoked(ctx, tx, id, false); err != nil {
			return err
		}
		return restoreLB(ctx, tx, lbID, state)
	})
}
