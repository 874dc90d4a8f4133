package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// copyTemplate, copyIso, extractTemplate and extractIso need CloudStack's OperateEntry access
// (TemplateManagerImpl.copyTemplate / extract; DomainChecker): a public template is not
// another tenant's to copy or extract, and only a root admin bypasses isextractable=false.
func TestTemplateAccessRules(t *testing.T) { templateAccessRules(t, mgmttest.Options{}) }

func TestTemplateAccessRulesMariaDB(t *testing.T) {
	templateAccessRules(t, mgmttest.Options{MySQL: true})
}

func templateAccessRules(t *testing.T, o mgmttest.Options) {
	simulatorDownloads(t, 200*time.Millisecond)
	e := mgmttest.Start(t, o)
	sim := tplZone(t, e, "arz", "Simulator")
	sim2 := tplZone(t, e, "arz2", "Simulator")
	sub := mgmttest.Do(t, e.Admin, "createDomain", map[string]string{"name": "arsub"})["domain"].(map[string]any)["id"].(string)
	alice, _ := tenant(t, e, "alice", "0", "")
	bob, _ := tenant(t, e, "bob", "0", "")
	subadmin, _ := tenant(t, e, "subadmin", "2", sub)

	pub := items(mgmttest.Do(t, alice, "registerTemplate", map[string]string{"name": "pub", "displaytext": "pub", "format": "QCOW2",
		"hypervisor": "Simulator", "zoneid": sim, "url": "http://images.example.org/pub.qcow2", "ispublic": "true",
		"isextractable": "true"}), "template")[0]["id"].(string)
	tplWait(t, alice, pub, sim)
	iso := items(mgmttest.Do(t, alice, "registerIso", map[string]string{"name": "pubiso", "displaytext": "pubiso", "zoneid": sim,
		"url": "http://images.example.org/pub.iso", "bootable": "false", "ispublic": "true", "isextractable": "true"}), "iso")[0]["id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := items(mgmttest.Do(t, alice, "listIsos", map[string]string{"isofilter": "self", "id": iso}), "iso")
		if len(l) == 1 && l[0]["isready"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ISO never ready: %v", l)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Bob sees alice's public template and ISO but may neither copy nor extract them; a domain
	// admin outside alice's domain may not either.
	const notOwn = "can modify only their own Public templates"
	for _, c := range []*api.Client{bob, subadmin} {
		tplRefuse(t, e, c, "copyTemplate", map[string]string{"id": pub, "sourcezoneid": sim, "destzoneid": sim2}, 531, notOwn)
		tplRefuse(t, e, c, "copyTemplate", map[string]string{"id": pub, "destzoneids": sim2}, 531, notOwn)
		tplRefuse(t, e, c, "extractTemplate", map[string]string{"id": pub, "mode": "HTTP_DOWNLOAD", "zoneid": sim}, 531, notOwn)
		tplRefuse(t, e, c, "extractIso", map[string]string{"id": iso, "mode": "HTTP_DOWNLOAD", "zoneid": sim}, 531, notOwn)
		tplRefuse(t, e, c, "copyIso", map[string]string{"id": iso, "sourcezoneid": sim, "destzoneid": sim2}, 531, notOwn)
	}
	// Alice, the owner, may; so may the root admin.
	if ex := mgmttest.DoAsync(t, alice, "extractTemplate", map[string]string{"id": pub, "mode": "HTTP_DOWNLOAD", "zoneid": sim})["template"].(map[string]any); ex["state"] != "DOWNLOAD_URL_CREATED" {
		t.Fatalf("alice extractTemplate: %v", ex)
	}
	if ex := mgmttest.DoAsync(t, alice, "extractIso", map[string]string{"id": iso, "mode": "HTTP_DOWNLOAD", "zoneid": sim})["iso"].(map[string]any); ex["state"] != "DOWNLOAD_URL_CREATED" {
		t.Fatalf("alice extractIso: %v", ex)
	}
	if cp := mgmttest.DoAsync(t, alice, "copyTemplate", map[string]string{"id": pub, "sourcezoneid": sim, "destzoneid": sim2})["template"].(map[string]any); cp["zoneid"] != sim2 || cp["isready"] != true {
		t.Fatalf("alice copyTemplate: %v", cp)
	}
	mgmttest.DoAsync(t, e.Admin, "extractTemplate", map[string]string{"id": pub, "mode": "HTTP_DOWNLOAD", "zoneid": sim2})

	// isextractable=false: only a root admin extracts, not even the owner when it is a domain admin.
	locked := items(mgmttest.Do(t, subadmin, "registerTemplate", map[string]string{"name": "locked", "displaytext": "locked", "format": "QCOW2",
		"hypervisor": "Simulator", "zoneid": sim, "url": "http://images.example.org/locked.qcow2", "isextractable": "false"}), "template")[0]["id"].(string)
	tplWait(t, subadmin, locked, sim)
	tplRefuse(t, e, subadmin, "extractTemplate", map[string]string{"id": locked, "mode": "HTTP_DOWNLOAD"}, 431, "not extractable")
	tplRefuse(t, e, bob, "extractTemplate", map[string]string{"id": locked, "mode": "HTTP_DOWNLOAD"}, 431, "not extractable")
	mgmttest.DoAsync(t, e.Admin, "extractTemplate", map[string]string{"id": locked, "mode": "HTTP_DOWNLOAD", "zoneid": sim})
	// The owner may still copy its own non-extractable template.
	mgmttest.DoAsync(t, subadmin, "copyTemplate", map[string]string{"id": locked, "sourcezoneid": sim, "destzoneid": sim2})

	// Carol's templates, in subadmin's own domain: the domain admin gets no right over them
	// (DomainChecker answers OperateEntry on a template to the root admin and the owner only),
	// neither on the public one nor on the private one, on which it holds no launch permission.
	carol, _ := tenant(t, e, "carol", "0", sub)
	dave, _ := tenant(t, e, "dave", "0", sub)
	cpub := items(mgmttest.Do(t, carol, "registerTemplate", map[string]string{"name": "cpub", "displaytext": "cpub", "format": "QCOW2",
		"hypervisor": "Simulator", "zoneid": sim, "url": "http://images.example.org/cpub.qcow2", "ispublic": "true",
		"isextractable": "true"}), "template")[0]["id"].(string)
	cpriv := items(mgmttest.Do(t, carol, "registerTemplate", map[string]string{"name": "cpriv", "displaytext": "cpriv", "format": "QCOW2",
		"hypervisor": "Simulator", "zoneid": sim, "url": "http://images.example.org/cpriv.qcow2", "ispublic": "false",
		"isextractable": "true"}), "template")[0]["id"].(string)
	tplWait(t, carol, cpub, sim)
	tplWait(t, carol, cpriv, sim)
	tplRefuse(t, e, subadmin, "copyTemplate", map[string]string{"id": cpub, "sourcezoneid": sim, "destzoneid": sim2}, 531, notOwn)
	tplRefuse(t, e, subadmin, "extractTemplate", map[string]string{"id": cpub, "mode": "HTTP_DOWNLOAD", "zoneid": sim}, 531, notOwn)
	// The refusal names the template by the id sent, never by its owner's name for it.
	noLaunch := "does not have permission to launch instances from template " + cpriv
	for _, c := range []*api.Client{subadmin, dave, bob} {
		tplRefuse(t, e, c, "copyTemplate", map[string]string{"id": cpriv, "sourcezoneid": sim, "destzoneid": sim2}, 531, noLaunch)
		tplRefuse(t, e, c, "extractTemplate", map[string]string{"id": cpriv, "mode": "HTTP_DOWNLOAD", "zoneid": sim}, 531, noLaunch)
	}
	// Once carol shares the private template with dave, dave may copy and extract it; the
	// others still may not.
	mgmttest.Do(t, carol, "updateTemplatePermissions", map[string]string{"id": cpriv, "op": "add", "accounts": "dave"})
	for _, c := range []*api.Client{subadmin, bob} {
		tplRefuse(t, e, c, "copyTemplate", map[string]string{"id": cpriv, "sourcezoneid": sim, "destzoneid": sim2}, 531, noLaunch)
		tplRefuse(t, e, c, "extractTemplate", map[string]string{"id": cpriv, "mode": "HTTP_DOWNLOAD", "zoneid": sim}, 531, noLaunch)
	}
	if ex := mgmttest.DoAsync(t, dave, "extractTemplate", map[string]string{"id": cpriv, "mode": "HTTP_DOWNLOAD", "zoneid": sim})["template"].(map[string]any); ex["state"] != "DOWNLOAD_URL_CREATED" {
		t.Fatalf("dave extractTemplate of a shared template: %v", ex)
	}
	if cp := mgmttest.DoAsync(t, dave, "copyTemplate", map[string]string{"id": cpriv, "sourcezoneid": sim, "destzoneid": sim2})["template"].(map[string]any); cp["zoneid"] != sim2 || cp["isready"] != true {
		t.Fatalf("dave copyTemplate of a shared template: %v", cp)
	}
	// The public one stays carol's alone, shared or not.
	tplRefuse(t, e, dave, "copyTemplate", map[string]string{"id": cpub, "sourcezoneid": sim, "destzoneid": sim2}, 531, notOwn)
	// Withdrawn, the permission no longer opens it.
	mgmttest.Do(t, carol, "updateTemplatePermissions", map[string]string{"id": cpriv, "op": "remove", "accounts": "dave"})
	tplRefuse(t, e, dave, "extractTemplate", map[string]string{"id": cpriv, "mode": "HTTP_DOWNLOAD", "zoneid": sim}, 531, noLaunch)
}

// listResourceLimits refuses what it cannot answer (limit ids, tagged limits) and a tenant
// naming an account other than its own.
func TestLimitAccessRules(t *testing.T) { limitAccessRules(t, mgmttest.Options{}) }

func TestLimitAccessRulesMariaDB(t *testing.T) { limitAccessRules(t, mgmttest.Options{MySQL: true}) }

func limitAccessRules(t *testing.T, o mgmttest.Options) {
	e := mgmttest.Start(t, o)
	root := rootDomain(t, e)
	sub := mgmttest.Do(t, e.Admin, "createDomain", map[string]string{"name": "lsub"})["domain"].(map[string]any)["id"].(string)
	alice, _ := tenant(t, e, "alice", "0", sub)
	tenant(t, e, "bob", "0", "")
	subadmin, _ := tenant(t, e, "subadmin", "2", sub)

	for _, c := range []*api.Client{alice, e.Admin} {
		if text := mgmttest.Fail(t, c, "listResourceLimits", map[string]string{"id": "1"}, 431); !strings.Contains(text, "id") {
			t.Errorf("listResourceLimits id: %q", text)
		}
		if text := mgmttest.Fail(t, c, "listResourceLimits", map[string]string{"tag": "ssd"}, 431); !strings.Contains(text, "tag") {
			t.Errorf("listResourceLimits tag: %q", text)
		}
	}
	// A tenant naming another account is refused; naming itself answers its own limits.
	for _, p := range []map[string]string{{"account": "bob", "domainid": root}, {"account": "subadmin", "domainid": sub}} {
		if text := mgmttest.Fail(t, alice, "listResourceLimits", p, 531); !strings.Contains(text, "alice") {
			t.Errorf("alice listResourceLimits %v: %q", p, text)
		}
	}
	if text := mgmttest.Fail(t, alice, "listResourceLimits", map[string]string{"account": "nobody", "domainid": sub}, 431); !strings.Contains(text, "nobody") {
		t.Errorf("alice listResourceLimits nobody: %q", text)
	}
	mgmttest.Fail(t, alice, "listResourceLimits", map[string]string{"account": "alice"}, 431)
	own := items(mgmttest.Do(t, alice, "listResourceLimits", map[string]string{"account": "alice", "domainid": sub, "resourcetype": "0"}), "resourcelimit")
	if len(own) != 1 || own[0]["account"] != "alice" {
		t.Errorf("alice's own limits: %v", own)
	}
	// Admins still read the accounts they manage, and no further.
	if l := items(mgmttest.Do(t, subadmin, "listResourceLimits", map[string]string{"account": "alice", "domainid": sub, "resourcetype": "0"}), "resourcelimit"); len(l) != 1 || l[0]["account"] != "alice" {
		t.Errorf("subadmin reads alice: %v", l)
	}
	mgmttest.Fail(t, subadmin, "listResourceLimits", map[string]string{"account": "bob", "domainid": root}, 531)
	if l := items(mgmttest.Do(t, e.Admin, "listResourceLimits", map[string]string{"account": "bob", "domainid": root, "resourcetype": "0"}), "resourcelimit"); len(l) != 1 || l[0]["account"] != "bob" {
		t.Errorf("admin reads bob: %v", l)
	}
}

// createNetworkOffering refuses the modes and integrations Atoll does not implement instead of
// silently making an ordinary NATted offering.
func TestNetworkOfferingUnsupportedModes(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{})
	base := func(name string, extra map[string]string) map[string]string {
		p := map[string]string{"name": name, "displaytext": name, "guestiptype": "Isolated", "traffictype": "Guest",
			"supportedservices": "Dhcp,Dns,SourceNat"}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	before := fingerprint(t, e)
	for _, tc := range []struct{ k, v string }{
		{"networkmode", "ROUTED"},
		{"networkmode", "routed"},
		{"networkmode", "BRIDGED"},
		{"routingmode", "Static"},
		{"routingmode", "Dynamic"},
		{"specifyasnumber", "true"},
		{"provider", "NSX"},
		{"provider", "Netris"},
		{"nsxsupportlb", "true"},
		{"nsxsupportsinternallb", "true"},
		{"fortungsten", "true"},
	} {
		p := base("bad", map[string]string{tc.k: tc.v})
		if text := mgmttest.Fail(t, e.Admin, "createNetworkOffering", p, 431); !strings.Contains(text, tc.k) {
			t.Errorf("createNetworkOffering %s=%s: %q does not name %s", tc.k, tc.v, text, tc.k)
		}
	}
	if fingerprint(t, e) != before {
		t.Fatal("a refused createNetworkOffering changed the database")
	}
	for i, extra := range []map[string]string{
		{"networkmode": "NATTED"},
		{"networkmode": "natted"},
		{"specifyasnumber": "false", "fortungsten": "false", "nsxsupportlb": "false", "nsxsupportsinternallb": "false", "provider": ""},
	} {
		name := []string{"nat1", "nat2", "plain"}[i]
		o := mgmttest.Do(t, e.Admin, "createNetworkOffering", base(name, extra))["networkoffering"].(map[string]any)
		if o["name"] != name || o["guestiptype"] != "Isolated" {
			t.Errorf("createNetworkOffering %v: %v", extra, o)
		}
	}
}
