package api_test

import (
	"context"

	"github.com/atollcloud/atoll/mgmt/api"
)

// loadBalancers tours the load-balancer commands on the network's source NAT address.
func (tr *tour) loadBalancers(c *api.Client, net, vmID string) {
	var ipID string
	if err := tr.e.Server.DB.SQL.QueryRowContext(context.Background(), "SELECT id FROM public_ips WHERE network_id = ? AND source_nat = 1", net).Scan(&ipID); err != nil {
		tr.t.Errorf("tour: the network's source NAT address: %v", err)
		return
	}
	lb := id(tr.do(c, "createLoadBalancerRule", map[string]string{"publicipid": ipID, "name": "c-lb", "algorithm": "roundrobin",
		"publicport": "80", "privateport": "8080", "cidrlist": "0.0.0.0/0"}), "loadbalancer")
	tr.do(c, "updateLoadBalancerRule", map[string]string{"id": lb, "algorithm": "leastconn", "description": "tour"})
	tr.do(c, "assignToLoadBalancerRule", map[string]string{"id": lb, "virtualmachineids": vmID})
	tr.do(c, "listLoadBalancerRuleInstances", map[string]string{"id": lb})
	tr.do(c, "listLoadBalancerRules", map[string]string{"publicipid": ipID})
	sp := api.First(tr.do(c, "createLBStickinessPolicy", map[string]string{"lbruleid": lb, "name": "c-sticky", "methodname": "LbCookie",
		"param[0].name": "cookie-name", "param[0].value": "SRV"}), "stickinesspolicies")
	tr.do(c, "listLBStickinessPolicies", map[string]string{"lbruleid": lb})
	hc := api.First(tr.do(c, "createLBHealthCheckPolicy", map[string]string{"lbruleid": lb, "pingpath": "/"}), "healthcheckpolicies")
	tr.do(c, "listLBHealthCheckPolicies", map[string]string{"lbruleid": lb})
	if ps, _ := sp["stickinesspolicy"].([]any); len(ps) == 1 {
		tr.do(c, "deleteLBStickinessPolicy", map[string]string{"id": ps[0].(map[string]any)["id"].(string)})
	}
	if ps, _ := hc["healthcheckpolicy"].([]any); len(ps) == 1 {
		tr.do(c, "deleteLBHealthCheckPolicy", map[string]string{"id": ps[0].(map[string]any)["id"].(string)})
	}
	tr.do(c, "removeFromLoadBalancerRule", map[string]string{"id": lb, "virtualmachineids": vmID})
	tr.do(c, "deleteLoadBalancerRule", map[string]string{"id": lb})
}
