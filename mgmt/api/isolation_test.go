package api_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// The isolation world: alice, a tenant of domain zq7-dom, owns one named object of each kind
// (a VM in her network, with her key pair and affinity group, a data volume, a snapshot of the
// VM's root volume and a private template); bob is a tenant of ROOT; subadmin administers
// zq7-dom. The names are distinctive, so that finding one in an answer is a real leak. No
// name contains another (nor the account name), so each name is checked on its own.
const (
	isoDomain   = "zq7-dom"
	isoUsername = "alicia-zq7" // alice's user: not "alice", so the two names are checked apart
)

var isoObjectNames = map[string]string{"vm": "zq7-vm", "network": "zq7-net", "template": "zq7-tpl", "keypair": "zq7-key",
	"volume": "zq7-vol", "snapshot": "zq7-snap", "affinitygroup": "zq7-ag"}

// isoParty is a caller of the isolation test and what it must never reach or learn: the other
// tenant's ids (each is tried on every id parameter, and no answer may reveal one but the id
// the caller sent) and names (which no answer may reveal).
type isoParty struct {
	who     principal
	foreign []string
	names   []string
}

type isoWorld struct {
	e       *mgmttest.Env
	parties []isoParty
}

func newIsoWorld(t *testing.T, o mgmttest.Options) *isoWorld {
	t.Helper()
	e := mgmttest.Start(t, o)
	mgmttest.Do(t, e.Admin, "updateConfiguration", map[string]string{"name": "ping.interval", "value": "1"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := mgmt.DemoWith(ctx, e.Admin, mgmt.DemoOptions{Zone: "isoz", Clusters: 1, HostsPerCluster: 1,
		HostQuery: "cpunumber=4&cpuspeed=2000&memory=8192"}); err != nil {
		t.Fatal(err)
	}
	zone := items(mgmttest.Do(t, e.Admin, "listZones", map[string]string{"name": "isoz"}), "zone")[0]["id"].(string)
	mgmttest.Do(t, e.Admin, "listTemplates", map[string]string{"templatefilter": "featured"}) // readies the built-in template
	offering := mgmttest.Do(t, e.Admin, "createServiceOffering", map[string]string{"name": "iso-so", "displaytext": "iso",
		"cpunumber": "1", "cpuspeed": "500", "memory": "512"})["serviceoffering"].(map[string]any)["id"].(string)
	var diskOffering, netOffering string
	for _, o := range items(mgmttest.Do(t, e.Admin, "listDiskOfferings", nil), "diskoffering") {
		if o["name"] == "Small" {
			diskOffering = o["id"].(string)
		}
	}
	for _, o := range items(mgmttest.Do(t, e.Admin, "listNetworkOfferings", nil), "networkoffering") {
		if o["name"] == "DefaultIsolatedNetworkOfferingWithSourceNatService" {
			netOffering = o["id"].(string)
		}
	}
	domID := mgmttest.Do(t, e.Admin, "createDomain", map[string]string{"name": isoDomain})["domain"].(map[string]any)["id"].(string)

	acct := mgmttest.Do(t, e.Admin, "createAccount", map[string]string{"account": "alice", "username": isoUsername, "password": "pw",
		"firstname": "F", "lastname": "L", "email": "a@example.org", "accounttype": "0", "domainid": domID})["account"].(map[string]any)
	aliceUser := acct["user"].([]any)[0].(map[string]any)["id"].(string)
	keys := mgmttest.Do(t, e.Admin, "registerUserKeys", map[string]string{"id": aliceUser})["userkeys"].(map[string]any)
	alice := &api.Client{Endpoint: e.URL, Key: keys["apikey"].(string), Secret: keys["secretkey"].(string)}
	aliceIDs := []string{acct["id"].(string), aliceUser, domID}

	bob, bobIDs := tenant(t, e, "bob", "0", "")
	subadmin, _ := tenant(t, e, "subadmin", "2", domID)

	objects := map[string]string{}
	objects["network"] = mgmttest.Do(t, alice, "createNetwork", map[string]string{"name": isoObjectNames["network"],
		"displaytext": isoObjectNames["network"], "networkofferingid": netOffering, "zoneid": zone})["network"].(map[string]any)["id"].(string)
	objects["keypair"] = mgmttest.Do(t, alice, "createSSHKeyPair", map[string]string{"name": isoObjectNames["keypair"]})["keypair"].(map[string]any)["id"].(string)
	objects["affinitygroup"] = mgmttest.DoAsync(t, alice, "createAffinityGroup", map[string]string{"name": isoObjectNames["affinitygroup"],
		"type": "host anti-affinity"})["affinitygroup"].(map[string]any)["id"].(string)
	objects["vm"] = mgmttest.DoAsync(t, alice, "deployVirtualMachine", map[string]string{"name": isoObjectNames["vm"],
		"serviceofferingid": offering, "templateid": db.SimulatorTemplateID, "zoneid": zone, "networkids": objects["network"],
		"keypair": isoObjectNames["keypair"], "affinitygroupnames": isoObjectNames["affinitygroup"]})["virtualmachine"].(map[string]any)["id"].(string)
	objects["rootvolume"] = items(mgmttest.Do(t, alice, "listVolumes", map[string]string{"virtualmachineid": objects["vm"], "type": "ROOT"}), "volume")[0]["id"].(string)
	objects["volume"] = mgmttest.DoAsync(t, alice, "createVolume", map[string]string{"name": isoObjectNames["volume"],
		"diskofferingid": diskOffering, "zoneid": zone})["volume"].(map[string]any)["id"].(string)
	objects["snapshot"] = mgmttest.DoAsync(t, alice, "createSnapshot", map[string]string{"volumeid": objects["rootvolume"],
		"name": isoObjectNames["snapshot"]})["snapshot"].(map[string]any)["id"].(string)
	objects["template"] = items(mgmttest.Do(t, alice, "registerTemplate", map[string]string{"name": isoObjectNames["template"],
		"displaytext": isoObjectNames["template"], "format": "QCOW2", "hypervisor": "Simulator", "zoneid": zone,
		"url": "http://images.example.org/private.qcow2", "ispublic": "false"}), "template")[0]["id"].(string)
	tplWait(t, alice, objects["template"], zone)
	for what, id := range objects {
		if id == "" {
			t.Fatalf("alice's %s has no id", what)
		}
		aliceIDs = append(aliceIDs, id)
	}
	aliceNames := []string{"alice", isoUsername, isoDomain}
	for _, n := range isoObjectNames {
		aliceNames = append(aliceNames, n)
	}
	// The names must be as stored, or checking for them proves nothing.
	for what, list := range map[string]string{"vm": "listVirtualMachines", "network": "listNetworks", "volume": "listVolumes",
		"snapshot": "listSnapshots", "affinitygroup": "listAffinityGroups"} {
		got := fmt.Sprint(mgmttest.Do(t, alice, list, map[string]string{"id": objects[what]}))
		if !strings.Contains(got, isoObjectNames[what]) {
			t.Fatalf("alice's %s is not named %s: %s", what, isoObjectNames[what], got)
		}
	}

	return &isoWorld{e: e, parties: []isoParty{
		{who: principal{"bob", bob}, foreign: aliceIDs, names: aliceNames},
		{who: principal{"alice", alice}, foreign: bobIDs, names: []string{"bob"}},
		{who: principal{"subadmin", subadmin}, foreign: bobIDs, names: []string{"bob"}},
	}}
}

// isIDParam reports whether a parameter takes an id, or a list of ids.
func isIDParam(p api.Param) bool {
	return p.Type == api.TUUID || p.Type == api.TList && p.Elem == "uuid"
}

// isoDummy is a well-formed value for a required parameter not under test.
func isoDummy(p api.Param) string {
	if isIDParam(p) {
		return dummy(api.TUUID)
	}
	return dummy(p.Type)
}

// leak names the first foreign id (other than sent) or name that text contains.
func (p *isoParty) leak(text, sent string) string {
	text = strings.ToLower(text)
	for _, id := range p.foreign {
		if id != strings.ToLower(sent) && strings.Contains(text, id) {
			return "id " + id
		}
	}
	for _, n := range p.names {
		if strings.Contains(text, strings.ToLower(n)) {
			return "name " + n
		}
	}
	return ""
}

// everyCommandStaysInScope proves, for every command the filter keeps, that each party cannot
// see or touch the other tenant's account, user, domain or objects: each call naming a foreign
// id in any id parameter is refused (or, for lists, returns none of it), a refused call
// changes nothing, and no refusal (nor a failed job's error) names anything of the other
// tenant's but the id the caller sent.
func everyCommandStaysInScope(t *testing.T, o mgmttest.Options, keep func(*api.Command) bool) {
	w := newIsoWorld(t, o)
	e := w.e
	checked, commands := 0, 0
	for _, cmd := range e.Server.API.Reg.All() {
		if cmd.NoAuth || keep != nil && !keep(cmd) {
			continue
		}
		commands++
		for _, c := range w.parties {
			for _, prm := range cmd.Params {
				if !isIDParam(prm) || newObjectID[cmd.Name+"."+prm.Name] {
					continue
				}
				for _, foreign := range c.foreign {
					params := map[string]string{}
					for _, q := range cmd.Params {
						if q.Required {
							params[q.Name] = isoDummy(q)
						}
					}
					params[prm.Name] = foreign
					call := fmt.Sprintf("%s as %s with %s=%s (foreign)", cmd.Name, c.who.name, prm.Name, foreign)
					before := fingerprint(t, e)
					res, err := c.who.client.Do(context.Background(), cmd.Name, params)
					checked++
					refused := err != nil
					switch {
					case err != nil:
						var ce *api.ClientError
						if !errors.As(err, &ce) {
							t.Errorf("%s: %v", call, err)
						} else if l := c.leak(fmt.Sprint(ce.Body["errortext"]), foreign); l != "" {
							t.Errorf("%s: the refusal names the other tenant's %s: %v", call, l, ce.Body["errortext"])
						}
					case res["jobid"] != nil:
						refused = true
						ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
						j, werr := c.who.client.Wait(ctx, res["jobid"].(string))
						cancel()
						if werr != nil || j["jobstatus"].(float64) != 2 {
							t.Errorf("%s: job did not fail: %v %v", call, j, werr)
						} else if l := c.leak(fmt.Sprint(j["jobresult"]), foreign); l != "" {
							t.Errorf("%s: the job's error names the other tenant's %s: %v", call, l, j["jobresult"])
						}
					default:
						body := fmt.Sprint(res)
						if strings.Contains(strings.ToLower(body), foreign) {
							t.Errorf("%s: answer reveals it: %s", call, body)
						} else if l := c.leak(body, foreign); l != "" {
							t.Errorf("%s: answer reveals the other tenant's %s: %s", call, l, body)
						}
					}
					if after := fingerprint(t, e); after != before && !cmd.List && refused {
						t.Errorf("%s was refused but changed the database", call)
					}
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d foreign-id calls checked", checked)
	}
	t.Logf("%d foreign-id calls checked across %d commands", checked, commands)
}

// TestEveryCommandStaysInScopeOnMariaDB runs the same proof on MariaDB, where the permission
// checks read through other SQL (collations, locking reads) than on SQLite.
func TestEveryCommandStaysInScopeOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	everyCommandStaysInScope(t, mgmttest.Options{MySQL: true}, nil)
}
