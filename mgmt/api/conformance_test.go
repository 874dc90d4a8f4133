package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/atollcloud/atoll/mgmt/api"
)

// The conformance test checks every answer Atoll gives against CloudStack's response types.
// The reference is testdata/cloudstack-commands.json, a copy of shared/cloudstack-api/
// commands.json: for every CloudStack command, each response field's type as CloudStack's Go
// SDK (generated from a 4.20 server's listApis) declares it. Responses are recorded from a
// tour that drives every registered command against a real server (conformance_tour_test.go);
// the checker below knows nothing of any particular command, so a command added later is
// checked as soon as the tour (or its automatic list pass) answers it.

// refCommand is one command of the reference.
type refCommand struct {
	Name    string            `json:"name"`
	Async   bool              `json:"async"`
	ListKey string            `json:"listkey"`
	Fields  map[string]string `json:"fields"`
}

// refCorrection records where the reference is wrong about what CloudStack sends, with the
// CloudStack class that proves it. ListKey replaces the list key (on a command the reference
// has as an object, it says CloudStack answers a ListResponse); ObjectKey is the key of the
// object a command answers; FieldsOf takes another command's fields; Fields add or replace
// field types.
type refCorrection struct {
	NotList   bool
	ListKey   string
	ObjectKey string
	FieldsOf  string
	Fields    map[string]string
	Proof     string
}

var refCorrections = map[string]refCorrection{
	"listAffinityGroupTypes": {ListKey: "affinityGroupType",
		Proof: "AffinityGroupTypeResponse: setObjectName(\"affinityGroupType\") in ListAffinityGroupTypesCmd"},
	"listTrafficTypes": {Fields: map[string]string{"traffictype": "string", "kvmnetworklabel": "string",
		"vmwarenetworklabel": "string", "xennetworklabel": "string", "hypervnetworklabel": "string", "ovm3networklabel": "string",
		"isolationmethods": "string", "vlan": "string"},
		Proof: "ListTrafficTypesCmd answers TrafficTypeResponse objects (responseObject = TrafficTypeResponse), not provider objects"},
	"addNetworkServiceProvider": {Fields: map[string]string{"servicelist": "[]string", "canenableindividualservice": "bool",
		"destinationphysicalnetworkid": "string", "name": "string", "physicalnetworkid": "string", "state": "string"},
		Proof: "AddNetworkServiceProviderCmd answers ProviderResponse"},
	"listStorageProviders": {ListKey: "dataStoreProvider",
		Proof: "StorageProviderResponse: setObjectName(\"dataStoreProvider\") in ListStorageProvidersCmd; Ansible's cs_storage_pool reads it"},
	"registerTemplate": {ListKey: "template", Proof: "RegisterTemplateCmd.execute answers a ListResponse<TemplateResponse>"},
	"registerIso":      {ListKey: "iso", Proof: "RegisterIsoCmd.execute answers a ListResponse<TemplateResponse> named iso"},
	"addCluster":       {ListKey: "cluster", Proof: "AddClusterCmd.execute answers a ListResponse<ClusterResponse>"},
	"addHost":          {ListKey: "host", Proof: "AddHostCmd.execute answers a ListResponse<HostResponse>"},
	"listRolePermissions": {ListKey: "rolepermission",
		Proof: "ListRolePermissionsCmd.execute answers a ListResponse<RolePermissionResponse>"},
	"updateResourceCount": {ListKey: "resourcecount",
		Proof: "UpdateResourceCountCmd.execute answers a ListResponse<ResourceCountResponse>"},
	"createVlanIpRange":  {ObjectKey: "vlan", Proof: "CreateVlanIpRangeCmd: vlanResponse.setObjectName(\"vlan\")"},
	"createSSHKeyPair":   {ObjectKey: "keypair", Proof: "CreateSSHKeyPairCmd: response.setObjectName(\"keypair\")"},
	"registerSSHKeyPair": {ObjectKey: "keypair", Proof: "RegisterSSHKeyPairCmd: response.setObjectName(\"keypair\")"},
	"associateIpAddress": {ObjectKey: "ipaddress", Proof: "ApiResponseHelper.createIPAddressResponse: ipResponse.setObjectName(\"ipaddress\"); Ansible's cs_ip_address polls the key ipaddress"},
	"updateIpAddress":    {ObjectKey: "ipaddress", Proof: "UpdateIPAddrCmd answers ApiResponseHelper.createIPAddressResponse: setObjectName(\"ipaddress\")"},
	"scaleVirtualMachine": {FieldsOf: "deployVirtualMachine", ObjectKey: "virtualmachine",
		Proof: "ScaleVMCmd.execute answers the scaled VM's UserVmResponse, not a SuccessResponse"},
	"addTrafficType": {Fields: trafficTypeFields, ObjectKey: "traffictype",
		Proof: "TrafficTypeResponse has isolationmethods and vlan; setObjectName(\"traffictype\") (Ansible's cs_traffic_type reads jobresult.traffictype)"},
	"updateTrafficType": {Fields: trafficTypeFields, ObjectKey: "traffictype",
		Proof: "TrafficTypeResponse has isolationmethods and vlan; setObjectName(\"traffictype\")"},
	"extractIso":                 {ObjectKey: "iso", Proof: "ExtractIsoCmd.execute: response.setObjectName(\"iso\")"},
	"extractTemplate":            {ObjectKey: "template", Proof: "ExtractTemplateCmd.execute: response.setObjectName(\"template\")"},
	"extractVolume":              {ObjectKey: "volume", Proof: "ExtractVolumeCmd.execute: response.setObjectName(\"volume\")"},
	"getUploadParamsForVolume":   {ObjectKey: "getuploadparams", Proof: "GetUploadParamsResponse: setObjectName(\"getuploadparams\")"},
	"getUploadParamsForTemplate": {ObjectKey: "getuploadparams", Proof: "GetUploadParamsResponse: setObjectName(\"getuploadparams\")"},
	"getUploadParamsForIso":      {ObjectKey: "getuploadparams", Proof: "GetUploadParamsResponse: setObjectName(\"getuploadparams\")"},
	"getUserKeys":                {ObjectKey: "userkeys", Proof: "GetUserKeysCmd: response.setObjectName(\"userkeys\")"},
	"registerUserKeys":           {ObjectKey: "userkeys", Proof: "RegisterCmd (registerUserKeys): response.setObjectName(\"userkeys\")"},
	"getVirtualMachineUserData": {ObjectKey: "virtualmachineuserdata",
		Proof: "GetVMUserDataCmd: response.setObjectName(\"virtualmachineuserdata\")"},
	"listCapabilities": {ObjectKey: "capability", Proof: "ListCapabilitiesCmd: response.setObjectName(\"capability\")"},
	"listIsoPermissions": {NotList: true, ObjectKey: "templatepermission",
		Proof: "BaseListTemplateOrIsoPermissionsCmd answers one TemplatePermissionsResponse, named templatepermission for ISOs too"},
	"listTemplatePermissions": {NotList: true, ObjectKey: "templatepermission",
		Proof: "BaseListTemplateOrIsoPermissionsCmd answers one TemplatePermissionsResponse (setObjectName(\"templatepermission\"))"},
	"createLoadBalancerRule": {ObjectKey: "loadbalancer",
		Proof: "LoadBalancerResponse is @EntityReference'd with object name loadbalancer (ApiResponseHelper.createLoadBalancerResponse: setObjectName(\"loadbalancer\")); Ansible's cs_loadbalancer_rule polls jobresult.loadbalancer"},
	"updateLoadBalancerRule": {ObjectKey: "loadbalancer",
		Proof: "UpdateLoadBalancerRuleCmd answers createLoadBalancerResponse's object (named loadbalancer); Ansible's cs_loadbalancer_rule polls jobresult.loadbalancer"},
}

var trafficTypeFields = map[string]string{"isolationmethods": "string", "vlan": "string"}

// deliberateExtras are fields Atoll sends that CloudStack's response lacks, each with its
// reason, keyed by object (the list or object key) and field.
var deliberateExtras = map[string]string{
	"virtualmachine.keypair": "Ansible's cs_instance reads instance['keypair'] to decide whether the SSH key changed " +
		"(CloudStack 4.5 to 4.16 sent it; 4.17 replaced it with keypairs, which Atoll sends too)",
	"loadbalancerruleinstance.keypair": "the VMs of a load-balancer rule are UserVmResponses, as listVirtualMachines's (see virtualmachine.keypair)",
}

// atollOnly lists registered commands CloudStack does not have, with the reason: their answers
// are checked against their declared Response only.
var atollOnly = map[string]string{
	"createHostToken": "hosts join Atoll with a one-time token and a certificate signing request; CloudStack logs in over SSH",
	"configureSimulatorFault": "injects failures into Simulator hosts for tests (CloudStack's simulator has its own " +
		"configureSimulator, with another shape)",
}

// notDriven lists registered commands the tour cannot answer successfully, with the reason.
var notDriven = map[string]string{}

// emptyAllowed lists list commands whose answer is legitimately empty in the tour.
var emptyAllowed = map[string]string{
	"listAlerts": "nothing in the tour raises an alert (host down, capacity thresholds); an alert's fields are checked by the alert tests' renderer",
}

func loadReference(t testing.TB) map[string]*refCommand {
	t.Helper()
	b, err := os.ReadFile("testdata/cloudstack-commands.json")
	if err != nil {
		t.Fatal(err)
	}
	var list []*refCommand
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]*refCommand{}
	for _, c := range list {
		out[c.Name] = c
	}
	for name, fix := range refCorrections {
		c := out[name]
		if fix.NotList {
			c.ListKey = ""
		}
		if fix.ListKey != "" {
			c.ListKey = fix.ListKey
		}
		if fix.FieldsOf != "" {
			c.Fields = map[string]string{}
			for k, v := range out[fix.FieldsOf].Fields {
				c.Fields[k] = v
			}
		}
		for k, v := range fix.Fields {
			c.Fields[k] = v
		}
	}
	return out
}

// objectKeys derives, for each non-list command of the reference, the object keys its answer
// may carry: the list keys of the list commands whose items have exactly its fields
// (createPod answers a pod because listPods's items have the same fields).
func objectKeys(ref map[string]*refCommand) map[string][]string {
	byFields := map[string][]string{}
	sig := func(c *refCommand) string {
		ks := make([]string, 0, len(c.Fields))
		for k := range c.Fields {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return strings.Join(ks, ",")
	}
	for _, c := range ref {
		if c.ListKey != "" {
			byFields[sig(c)] = append(byFields[sig(c)], strings.ToLower(c.ListKey))
		}
	}
	out := map[string][]string{}
	for _, c := range ref {
		if c.ListKey == "" {
			out[c.Name] = byFields[sig(c)]
		}
	}
	for name, fix := range refCorrections {
		if fix.ObjectKey != "" {
			out[name] = []string{fix.ObjectKey}
		}
	}
	return out
}

// conformance records and checks answers.
type conformance struct {
	reg      *api.Registry
	ref      map[string]*refCommand
	objKeys  map[string][]string
	mu       sync.Mutex
	jobs     map[string]string // job id -> command
	answered map[string]int    // command -> successful answers checked
	nonEmpty map[string]bool   // list command -> answered with items
	problems map[string]string // problem -> first command and example
}

func newConformance(t testing.TB, reg *api.Registry) *conformance {
	ref := loadReference(t)
	return &conformance{reg: reg, ref: ref, objKeys: objectKeys(ref), jobs: map[string]string{},
		answered: map[string]int{}, nonEmpty: map[string]bool{}, problems: map[string]string{}}
}

// observe is an api.Client Observe hook.
func (c *conformance) observe(command string, _ map[string]string, status int, body []byte) {
	cmd := c.reg.Get(command)
	if cmd == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var outer map[string]any
	if err := dec.Decode(&outer); err != nil {
		c.problem(cmd.Name, "answer is not a JSON object", string(body))
		return
	}
	want := strings.ToLower(cmd.Name) + "response"
	if len(outer) != 1 || outer[want] == nil {
		c.problem(cmd.Name, "answer is not wrapped in "+want, trim(body))
		return
	}
	inner, ok := outer[want].(map[string]any)
	if !ok {
		c.problem(cmd.Name, want+" is not an object", trim(body))
		return
	}
	c.noNull(cmd.Name, want, inner)
	if status != 200 {
		return // error answers: shape checked by noNull; their content by the error tests
	}
	if cmd.Name == "queryAsyncJobResult" {
		c.checkObject(cmd, "queryasyncjobresultresponse", inner, c.fieldsOf(cmd.Name))
		c.answered[cmd.Name]++
		jobCmd := c.jobs[fmt.Sprint(inner["jobid"])]
		if st := fmt.Sprint(inner["jobstatus"]); st == "1" && jobCmd != "" {
			res, _ := inner["jobresult"].(map[string]any)
			c.checkResult(c.reg.Get(jobCmd), res)
		}
		return
	}
	if cmd.Async {
		if id, ok := inner["jobid"].(string); ok {
			c.jobs[id] = cmd.Name
			for k := range inner {
				if k != "jobid" && k != "id" {
					c.problem(cmd.Name, "async answer carries "+k, trim(body))
				}
			}
			return
		}
		c.problem(cmd.Name, "async command answered without a jobid", trim(body))
		return
	}
	c.checkResult(cmd, inner)
}

func trim(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

func (c *conformance) problem(cmd, what, example string) {
	if _, ok := c.problems[cmd+": "+what]; !ok {
		c.problems[cmd+": "+what] = example
	}
}

// fieldsOf is a command's reference fields (nil for a command CloudStack does not have).
func (c *conformance) fieldsOf(name string) map[string]string {
	if r := c.ref[name]; r != nil {
		return r.Fields
	}
	return nil
}

// checkResult checks the object a command answers (a sync answer or an async job's result).
func (c *conformance) checkResult(cmd *api.Command, res map[string]any) {
	if cmd == nil || res == nil {
		return
	}
	c.answered[cmd.Name]++
	ref := c.ref[cmd.Name]
	fields := c.fieldsOf(cmd.Name)
	listKey := ""
	if cmd.List {
		listKey = cmd.ResponseKey
		if ref != nil && ref.ListKey != cmd.ResponseKey {
			c.problem(cmd.Name, fmt.Sprintf("list key %q, CloudStack's is %q", cmd.ResponseKey, ref.ListKey), "")
		}
	} else if ref != nil && ref.ListKey != "" {
		listKey = ref.ListKey // CloudStack answers a ListResponse for this command
	}
	if listKey != "" {
		for k, v := range res {
			switch k {
			case "count":
				if _, ok := v.(json.Number); !ok {
					c.problem(cmd.Name, "count is not a number", fmt.Sprint(v))
				}
			case listKey:
				items, ok := v.([]any)
				if !ok {
					c.problem(cmd.Name, listKey+" is not a list", fmt.Sprint(v))
					continue
				}
				if len(items) > 0 {
					c.nonEmpty[cmd.Name] = true
				}
				for _, it := range items {
					m, ok := it.(map[string]any)
					if !ok {
						c.problem(cmd.Name, listKey+" holds a non-object", fmt.Sprint(it))
						continue
					}
					c.checkObject(cmd, listKey, m, fields)
				}
			default:
				c.problem(cmd.Name, "list answer carries "+k, "")
			}
		}
		if len(res) > 0 && res["count"] == nil {
			c.problem(cmd.Name, "list answer without count", "")
		}
		return
	}
	if _, ok := res["success"]; ok {
		c.checkObject(cmd, "", res, fields)
		return
	}
	// {"<key>": {...}} or {"<key>": [{...}]} (addHost, addCluster), else the object itself.
	if len(res) == 1 {
		for k, v := range res {
			if k != cmd.ResponseKey {
				break
			}
			if keys := c.objKeys[cmd.Name]; len(keys) > 0 && !contains(keys, k) {
				c.problem(cmd.Name, fmt.Sprintf("object key %q, CloudStack answers %v", k, keys), "")
			} else if len(keys) == 0 && ref != nil {
				c.problem(cmd.Name, fmt.Sprintf("object key %q cannot be derived from the reference: list it in refCorrections (ObjectKey) with its proof", k), "")
			}
			switch o := v.(type) {
			case map[string]any:
				if nested := fields[k]; strings.HasPrefix(nested, "{") {
					// The reference holds the object as one nested field (listCapabilities).
					if why := keysWithin(o, nested[1:len(nested)-1]); why != "" {
						c.problem(cmd.Name, k+": "+why, "")
					}
					c.checkObject(cmd, k, o, nil)
					return
				}
				c.checkObject(cmd, k, o, fields)
			case []any:
				for _, it := range o {
					if m, ok := it.(map[string]any); ok {
						c.checkObject(cmd, k, m, fields)
					} else {
						c.problem(cmd.Name, k+" holds a non-object", fmt.Sprint(it))
					}
				}
			default:
				c.problem(cmd.Name, k+" is neither an object nor a list", fmt.Sprint(v))
			}
			return
		}
	}
	c.checkObject(cmd, "", res, fields)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkObject checks one response object's fields: present in CloudStack's response (or a
// listed deliberate extra) and of its JSON type; declared in the command's Response with a
// type that fits.
func (c *conformance) checkObject(cmd *api.Command, path string, obj map[string]any, fields map[string]string) {
	declared := map[string]api.Field{}
	for _, f := range cmd.Response {
		declared[f.Name] = f
	}
	for k, v := range obj {
		p := k
		if path != "" {
			p = path + "." + k
		}
		if v == nil {
			c.problem(cmd.Name, p+" is null", "")
			continue
		}
		if fields != nil {
			typ, ok := fields[k]
			switch {
			case ok:
				if why := jsonFits(typ, v); why != "" {
					c.problem(cmd.Name, fmt.Sprintf("%s: %s (CloudStack's type %s)", p, why, typ), short(v))
				}
			case deliberateExtras[path+"."+k] != "":
			default:
				c.problem(cmd.Name, p+" is not in CloudStack's response", short(v))
			}
		}
		if len(cmd.Response) > 0 {
			f, ok := declared[k]
			if !ok {
				c.problem(cmd.Name, p+" is not declared in the command's Response", short(v))
			} else if why := declaredFits(f, v); why != "" {
				c.problem(cmd.Name, fmt.Sprintf("%s: %s (declared %s)", p, why, f.Type), short(v))
			}
		}
	}
}

func short(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// jsonFits says why a JSON value does not fit a reference type ("" when it does).
func jsonFits(typ string, v any) string {
	switch {
	case typ == "string" || typ == "UUID":
		if _, ok := v.(string); !ok {
			return "not a string"
		}
	case typ == "int" || typ == "int64" || typ == "float64":
		if _, ok := v.(json.Number); !ok {
			return "not a number"
		}
	case typ == "bool":
		if _, ok := v.(bool); !ok {
			return "not a boolean"
		}
	case typ == "any" || typ == "json.RawMessage":
	case strings.HasPrefix(typ, "map["):
		if _, ok := v.(map[string]any); !ok {
			return "not an object"
		}
	case strings.HasPrefix(typ, "{"):
		m, ok := v.(map[string]any)
		if !ok {
			return "not an object"
		}
		return keysWithin(m, typ[1:len(typ)-1])
	case strings.HasPrefix(typ, "[]"):
		l, ok := v.([]any)
		if !ok {
			return "not a list"
		}
		elem := typ[2:]
		for _, it := range l {
			switch {
			case strings.HasPrefix(elem, "{"):
				m, ok := it.(map[string]any)
				if !ok {
					return "an item is not an object"
				}
				if why := keysWithin(m, elem[1:len(elem)-1]); why != "" {
					return why
				}
			case strings.HasPrefix(elem, "map["):
				if _, ok := it.(map[string]any); !ok {
					return "an item is not an object"
				}
			case elem == "string":
				if _, ok := it.(string); !ok {
					return "an item is not a string"
				}
			case elem == "int64" || elem == "float64":
				if _, ok := it.(json.Number); !ok {
					return "an item is not a number"
				}
			}
		}
	}
	return ""
}

// keysWithin checks a nested object's keys against the reference's list of them.
func keysWithin(m map[string]any, list string) string {
	allowed := map[string]bool{}
	for _, k := range strings.Split(list, ",") {
		allowed[k] = true
	}
	var extra []string
	for k := range m {
		if !allowed[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return "nested field(s) " + strings.Join(extra, ",") + " not in CloudStack's response"
	}
	return ""
}

// declaredFits says why a JSON value does not fit a declared (listApis) type.
func declaredFits(f api.Field, v any) string {
	kind := api.FieldKind(f.Type)
	var got string
	switch v.(type) {
	case string:
		got = "string"
	case json.Number:
		got = "number"
	case bool:
		got = "boolean"
	case []any:
		got = "array"
	case map[string]any:
		got = "object"
	}
	if kind == "" {
		return "declared with a type listApis does not use: " + f.Type
	}
	if got != kind {
		return "a JSON " + got + ", not the " + kind + " its type renders as"
	}
	switch x := v.(type) {
	case []any:
		if len(f.Fields) > 0 {
			for _, it := range x {
				m, ok := it.(map[string]any)
				if !ok {
					return "an item is not an object"
				}
				if why := declaredWithin(f, m); why != "" {
					return why
				}
			}
		}
	case map[string]any:
		return declaredWithin(f, x)
	}
	return ""
}

func declaredWithin(f api.Field, m map[string]any) string {
	if len(f.Fields) == 0 {
		return ""
	}
	sub := map[string]api.Field{}
	for _, x := range f.Fields {
		sub[x.Name] = x
	}
	for k, v := range m {
		x, ok := sub[k]
		if !ok {
			return "nested field " + k + " not declared"
		}
		if why := declaredFits(x, v); why != "" {
			return k + ": " + why
		}
	}
	return ""
}

// noNull reports every null anywhere in an answer.
func (c *conformance) noNull(cmd, path string, v any) {
	switch x := v.(type) {
	case nil:
		c.problem(cmd, path+" is null", "")
	case map[string]any:
		for k, e := range x {
			c.noNull(cmd, path+"."+k, e)
		}
	case []any:
		for _, e := range x {
			c.noNull(cmd, path+"[]", e)
		}
	}
}

// checkDeclarations reports every field a command declares (and so listApis describes) that
// CloudStack's response lacks, unless it is a listed deliberate extra: a declaration must not
// promise what neither CloudStack nor Atoll sends.
func (c *conformance) checkDeclarations() {
	for _, cmd := range c.reg.All() {
		ref := c.ref[cmd.Name]
		if ref == nil {
			continue
		}
		keys := c.objKeys[cmd.Name]
		if ref.ListKey != "" {
			keys = []string{ref.ListKey}
		} else if len(keys) == 0 {
			keys = []string{cmd.ResponseKey}
		}
		allowed := map[string]bool{}
		for k, typ := range ref.Fields {
			allowed[k] = true
			if k == cmd.ResponseKey && strings.HasPrefix(typ, "{") { // listCapabilities' one nested object
				for _, n := range strings.Split(typ[1:len(typ)-1], ",") {
					allowed[n] = true
				}
			}
		}
		for _, f := range cmd.Response {
			if allowed[f.Name] {
				continue
			}
			extra := false
			for _, k := range keys {
				extra = extra || deliberateExtras[k+"."+f.Name] != ""
			}
			if !extra {
				c.problem(cmd.Name, "declares "+f.Name+", which CloudStack's response lacks", "")
			}
		}
	}
}

// report fails t for every problem found and every registered command left unchecked.
func (c *conformance) report(t *testing.T) {
	t.Helper()
	c.checkDeclarations()
	c.mu.Lock()
	defer c.mu.Unlock()
	var lines []string
	for p, ex := range c.problems {
		if ex != "" {
			p += "   e.g. " + ex
		}
		lines = append(lines, p)
	}
	for _, cmd := range c.reg.All() {
		if c.ref[cmd.Name] == nil && atollOnly[cmd.Name] == "" {
			lines = append(lines, cmd.Name+": not a CloudStack command: list it in atollOnly with the reason")
		}
		if _, ok := notDriven[cmd.Name]; ok {
			if c.answered[cmd.Name] > 0 {
				lines = append(lines, cmd.Name+": listed in notDriven but was answered: remove it from the table")
			}
			continue
		}
		if c.answered[cmd.Name] == 0 {
			lines = append(lines, cmd.Name+": never answered successfully in the tour (drive it, or list it in notDriven with the reason)")
		} else if cmd.List && !c.nonEmpty[cmd.Name] && emptyAllowed[cmd.Name] == "" {
			lines = append(lines, cmd.Name+": only ever answered an empty list, so no item was checked")
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		t.Error(l)
	}
	t.Logf("%d commands registered, %d answered and checked, %d problems", len(c.reg.All()), len(c.answered), len(lines))
}
