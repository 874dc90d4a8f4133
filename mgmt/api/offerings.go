package api

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/google/uuid"
)

// Shared by the offering families: domain and zone restrictions, visibility, details maps,
// in-memory paging.

// offeringDetailsParam flattens a CloudStack map parameter: name[i].key=k&name[i].value=v pairs and
// name[i].<k>=v entries (what the Ansible modules send for a dict) both give k -> v.
func (c *Call) offeringDetailsParam(name string) map[string]string {
	out := map[string]string{}
	for _, m := range c.P.Map(name) {
		k, hasK := m["key"]
		v, hasV := m["value"]
		if hasK && hasV && len(m) == 2 {
			if k = strings.TrimSpace(k); k != "" {
				out[k] = v
			}
			continue
		}
		for k, v := range m {
			if k = strings.TrimSpace(k); k != "" {
				out[k] = v
			}
		}
	}
	return out
}

// offeringDomains validates a domainid list parameter (uuids, or "public" / empty for every
// domain). A domain admin may only name domains in its subtree and must name at least one.
func (c *Call) offeringDomains(param string, required bool) ([]string, error) {
	var ids []string
	for _, v := range c.P.List(param) {
		v = strings.ToLower(strings.TrimSpace(v))
		if v == "public" {
			continue
		}
		if !IsUUID(v) {
			return nil, ErrInvalid(c.Cmd.Name, param, v, "incorrect long value format, or entity does not exist")
		}
		d, err := db.GetDomain(c.Ctx, c.S.DB.Read(), v)
		if errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find domain by id %s", v)
		}
		if err != nil {
			return nil, err
		}
		if !c.Caller.IsRootAdmin() && !c.Caller.CanSeeDomain(d.Path) {
			return nil, ErrDenied("Account %s does not have permission to operate within domain id=%s", c.Caller.User.AccountName, v)
		}
		if !slices.Contains(ids, d.ID) {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) == 0 && required && !c.Caller.IsRootAdmin() {
		return nil, ErrDenied("Unable to create public offering by admin of domain %s: specify domainid", c.Caller.User.DomainPath)
	}
	return ids, nil
}

// offeringZones validates a zoneid list parameter ("all" or empty for every zone).
func (c *Call) offeringZones(param string) ([]string, error) {
	var ids []string
	for _, v := range c.P.List(param) {
		v = strings.ToLower(strings.TrimSpace(v))
		if v == "all" || v == "-1" {
			continue
		}
		if !IsUUID(v) {
			return nil, ErrInvalid(c.Cmd.Name, param, v, "incorrect long value format, or entity does not exist")
		}
		z, err := c.zoneByID(c.S.DB.Read(), v)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, z.ID) {
			ids = append(ids, z.ID)
		}
	}
	return ids, nil
}

// canChangeOffering: a root admin changes any offering (id, as the caller sent it); a domain
// admin only offerings restricted to domains within its subtree.
func (c *Call) canChangeOffering(what, id string, domainIDs []string) error {
	if c.Caller.IsRootAdmin() {
		return nil
	}
	if len(domainIDs) == 0 {
		return ErrDenied("Unable to update public %s %s by admin of domain %s", what, id, c.Caller.User.DomainPath)
	}
	paths, err := db.DomainPaths(c.Ctx, c.S.DB.Read(), domainIDs)
	if err != nil {
		return err
	}
	for _, d := range domainIDs {
		if p, ok := paths[d]; !ok || !c.Caller.CanSeeDomain(p) {
			return ErrDenied("Unable to update %s %s by admin of domain %s: it is not restricted to domains the admin manages", what, id, c.Caller.User.DomainPath)
		}
	}
	return nil
}

// offeringVisibility decides which domain-restricted offerings a caller sees: a root admin
// all; others public ones and those of their domain or an ancestor (a domain admin also those
// of its subdomains).
type offeringVisibility struct {
	c     *Call
	paths map[string]string
}

func (c *Call) newOfferingVisibility(domainIDLists ...[]string) (*offeringVisibility, error) {
	var all []string
	for _, l := range domainIDLists {
		all = append(all, l...)
	}
	paths, err := db.DomainPaths(c.Ctx, c.S.DB.Read(), all)
	if err != nil {
		return nil, err
	}
	return &offeringVisibility{c: c, paths: paths}, nil
}

func (v *offeringVisibility) visible(domainIDs []string) bool {
	c := v.c
	if c.Caller.IsRootAdmin() || len(domainIDs) == 0 {
		return true
	}
	if db.OfferingVisibleTo(domainIDs, v.paths, c.Caller.User.DomainPath) {
		return true
	}
	if c.Caller.IsDomainAdmin() {
		for _, id := range domainIDs {
			if p, ok := v.paths[id]; ok && c.Caller.CanSeeDomain(p) {
				return true
			}
		}
	}
	return false
}

// listDomainFilter reads listX's domainid: the offerings restricted to that domain. A caller
// other than a root admin may only ask for its own domain, an ancestor, or (domain admin) a
// descendant.
func (c *Call) listDomainFilter() (string, error) {
	id := c.lowerID("domainid")
	if id == "" {
		return "", nil
	}
	d, err := db.GetDomain(c.Ctx, c.S.DB.Read(), id)
	if errors.Is(err, db.ErrNotFound) {
		return "", ErrParam("Unable to find domain by id %s", id)
	}
	if err != nil {
		return "", err
	}
	if !c.Caller.IsRootAdmin() {
		own := c.Caller.User.DomainPath
		ancestor := strings.EqualFold(d.Path, own) || strings.HasPrefix(strings.ToLower(own), strings.ToLower(d.Path)+"/")
		if !ancestor && !(c.Caller.IsDomainAdmin() && c.Caller.CanSeeDomain(d.Path)) {
			return "", ErrDenied("The account %s does not fall in the same domain hierarchy as domain %s", c.Caller.User.AccountName, id)
		}
	}
	return d.ID, nil
}

// pageItems applies page/pagesize to an in-memory list.
func (c *Call) pageItems(items []any) []any {
	limit, offset := c.P.Paging()
	if limit <= 0 {
		return items
	}
	if offset >= len(items) {
		return nil
	}
	return items[offset:min(len(items), offset+limit)]
}

// renderRestriction adds domain/domainid (zone/zoneid) comma lists as CloudStack does.
func (c *Call) renderRestriction(m map[string]any, domainIDs, zoneIDs []string) {
	if len(domainIDs) > 0 {
		var names []string
		for _, id := range domainIDs {
			if d, err := db.GetDomain(c.Ctx, c.S.DB.Read(), id); err == nil {
				names = append(names, d.Name)
			}
		}
		m["domainid"], m["domain"] = strings.Join(domainIDs, ","), strings.Join(names, ",")
	}
	if len(zoneIDs) > 0 {
		var names []string
		for _, id := range zoneIDs {
			if z, err := db.GetZone(c.Ctx, c.S.DB.Read(), id); err == nil {
				names = append(names, z.Name)
			}
		}
		m["zoneid"], m["zone"] = strings.Join(zoneIDs, ","), strings.Join(names, ",")
	}
}

func inZones(zoneIDs []string, zoneID string) bool {
	return zoneID == "" || len(zoneIDs) == 0 || slices.Contains(zoneIDs, zoneID)
}

func intParam(c *Call, name string) (int64, bool) {
	s, ok := c.P[name]
	if !ok || strings.TrimSpace(s) == "" {
		return 0, false
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n, true
}

// checkIOPS validates miniops/maxiops as CloudStack does for a non-customized-IOPS offering.
func checkIOPS(c *Call, customized bool) (minIOPS, maxIOPS int64, err error) {
	if customized {
		return 0, 0, nil
	}
	lo, hasLo := intParam(c, "miniops")
	hi, hasHi := intParam(c, "maxiops")
	if !hasLo && !hasHi {
		return 0, 0, nil
	}
	if !hasLo || lo <= 0 {
		return 0, 0, ErrParam("The min IOPS must be greater than 0.")
	}
	if !hasHi || hi <= 0 {
		return 0, 0, ErrParam("The max IOPS must be greater than 0.")
	}
	if lo > hi {
		return 0, 0, ErrParam("The min IOPS must be less than or equal to the max IOPS.")
	}
	return lo, hi, nil
}

// ioRate is one disk I/O throttle: its request parameter (createServiceOffering,
// createDiskOffering, updateDiskOffering), its response name, its field.
type ioRate struct {
	param, field, description string
	get                       func(*db.DiskIORates) *int64
}

var ioRates = []ioRate{
	{"bytesreadrate", "diskBytesReadRate", "bytes read rate of the disk offering", func(r *db.DiskIORates) *int64 { return &r.BytesReadRate }},
	{"bytesreadratemax", "diskBytesReadRateMax", "burst bytes read rate of the disk offering", func(r *db.DiskIORates) *int64 { return &r.BytesReadRateMax }},
	{"bytesreadratemaxlength", "diskBytesReadRateMaxLength", "length (in seconds) of the burst", func(r *db.DiskIORates) *int64 { return &r.BytesReadRateMaxLength }},
	{"byteswriterate", "diskBytesWriteRate", "bytes write rate of the disk offering", func(r *db.DiskIORates) *int64 { return &r.BytesWriteRate }},
	{"byteswriteratemax", "diskBytesWriteRateMax", "burst bytes write rate of the disk offering", func(r *db.DiskIORates) *int64 { return &r.BytesWriteRateMax }},
	{"byteswriteratemaxlength", "diskBytesWriteRateMaxLength", "length (in seconds) of the burst", func(r *db.DiskIORates) *int64 { return &r.BytesWriteRateMaxLength }},
	{"iopsreadrate", "diskIopsReadRate", "io requests read rate of the disk offering", func(r *db.DiskIORates) *int64 { return &r.IopsReadRate }},
	{"iopsreadratemax", "diskIopsReadRateMax", "burst requests read rate of the disk offering", func(r *db.DiskIORates) *int64 { return &r.IopsReadRateMax }},
	{"iopsreadratemaxlength", "diskIopsReadRateMaxLength", "length (in seconds) of the burst", func(r *db.DiskIORates) *int64 { return &r.IopsReadRateMaxLength }},
	{"iopswriterate", "diskIopsWriteRate", "io requests write rate of the disk offering", func(r *db.DiskIORates) *int64 { return &r.IopsWriteRate }},
	{"iopswriteratemax", "diskIopsWriteRateMax", "burst io requests write rate of the disk offering", func(r *db.DiskIORates) *int64 { return &r.IopsWriteRateMax }},
	{"iopswriteratemaxlength", "diskIopsWriteRateMaxLength", "length (in seconds) of the burst", func(r *db.DiskIORates) *int64 { return &r.IopsWriteRateMaxLength }},
}

// ioRateParams declares the disk I/O rate parameters.
func ioRateParams() []Param {
	out := make([]Param, 0, len(ioRates))
	for _, r := range ioRates {
		out = append(out, Param{Name: r.param, Type: TLong, Description: r.description})
	}
	return out
}

// checkIORates refuses a sent rate above its sent burst maximum, as CloudStack's
// validateMaxRateEqualsOrGreater does (the burst lengths' bounds, vm.disk.*.maximum.*.length,
// default to 0 there: not checked).
func checkIORates(c *Call) error {
	for _, k := range []struct{ rate, max, what string }{
		{"iopsreadrate", "iopsreadratemax", "IOPS Read"}, {"iopswriterate", "iopswriteratemax", "IOPS Write"},
		{"bytesreadrate", "bytesreadratemax", "Bytes Read"}, {"byteswriterate", "byteswriteratemax", "Bytes Write"},
	} {
		rate, hasRate := intParam(c, k.rate)
		hi, hasMax := intParam(c, k.max)
		if hasRate && hasMax && hi < rate {
			return ErrParam("%s rate (%d) cannot be greater than %s maximum rate (%d)", k.what, rate, k.what, hi)
		}
	}
	return nil
}

// setIORates copies the sent rates into r. CloudStack ignores a rate <= 0 (setBytesRate,
// setIopsRate): it keeps what was stored.
func setIORates(c *Call, r *db.DiskIORates) {
	for _, k := range ioRates {
		if v, ok := intParam(c, k.param); ok && v > 0 {
			*k.get(r) = v
		}
	}
}

// renderIORates adds the rates that are set under CloudStack's names (an unset one is
// null there, so left out).
func renderIORates(m map[string]any, r db.DiskIORates) {
	for _, k := range ioRates {
		if v := *k.get(&r); v > 0 {
			m[k.field] = v
		}
	}
}

func parseStorageType(c *Call) (string, error) {
	v := strings.TrimSpace(c.P.String("storagetype"))
	switch strings.ToLower(v) {
	case "", "shared":
		return "shared", nil
	case "local":
		return "local", nil
	}
	return "", ErrParam("Invalid storage type %s specified, valid types are: 'local' and 'shared'", v)
}

func parseProvisioningType(c *Call) (string, error) {
	v := strings.TrimSpace(c.P.String("provisioningtype"))
	switch strings.ToLower(v) {
	case "", "thin":
		return "thin", nil
	case "sparse", "fat":
		return strings.ToLower(v), nil
	}
	return "", ErrParam("Invalid provisioning type %s specified, valid types are: thin, sparse, fat", v)
}

func parseCacheMode(c *Call) (string, error) {
	v := strings.TrimSpace(c.P.String("cachemode"))
	switch strings.ToLower(v) {
	case "":
		return "", nil
	case "none", "writeback", "writethrough", "hypervisor_default":
		return strings.ToLower(v), nil
	}
	return "", ErrParam("Invalid cache mode %s specified, valid modes are: none, writeback, writethrough, hypervisor_default", v)
}

// tagList normalises a comma list of tags (trimmed, no empties, no duplicates).
func tagList(s string) string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return strings.Join(out, ",")
}

func parseOfferingState(v string) (string, error) {
	return parseChoice("state", v, "Active", "Inactive")
}

// ---- service offerings ----

var deploymentPlanners = []string{"FirstFitPlanner", "UserDispersingPlanner", "UserConcentratedPodPlanner", "ImplicitDedicationPlanner", "BareMetalPlanner", "SkipHeuresticsPlanner"}

var systemVMTypes = []string{"domainrouter", "consoleproxy", "secondarystoragevm", "internalloadbalancervm"}

func registerOfferings(s *Server) {
	s.Reg.Add(&Command{Name: "createServiceOffering", Response: serviceOfferingResponse, Roles: Admin | DomainAdmin, ResponseKey: "serviceoffering",
		Description: "Creates a service offering.",
		Params: append([]Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name of the service offering"},
			{Name: "displaytext", Type: TString, Required: true, Length: 4096, Description: "the display text of the service offering"},
			{Name: "cpunumber", Type: TInt, Description: "the CPU number of the service offering"},
			{Name: "cpuspeed", Type: TInt, Description: "the CPU speed of the service offering in MHz"},
			{Name: "memory", Type: TInt, Description: "the total memory of the service offering in MB"},
			{Name: "customized", Type: TBool, Description: "whether the service offering size is custom (CPU number, speed and memory given at deploy)"},
			{Name: "mincpunumber", Type: TInt, Description: "the minimum number of CPUs for a custom offering"},
			{Name: "maxcpunumber", Type: TInt, Description: "the maximum number of CPUs for a custom offering"},
			{Name: "minmemory", Type: TInt, Description: "the minimum memory (MB) for a custom offering"},
			{Name: "maxmemory", Type: TInt, Description: "the maximum memory (MB) for a custom offering"},
			{Name: "storagetype", Type: TString, Description: "the storage type of the service offering: local or shared (default)"},
			{Name: "provisioningtype", Type: TString, Description: "provisioning type of the root disk: thin (default), sparse or fat"},
			{Name: "offerha", Type: TBool, Description: "the HA for the service offering"},
			{Name: "limitcpuuse", Type: TBool, Description: "restrict the CPU usage to committed service offering"},
			{Name: "isvolatile", Type: TBool, Description: "true if the virtual machine needs to be volatile (root disk recreated on reboot)"},
			{Name: "hosttags", Type: TString, Description: "the host tag for this service offering"},
			{Name: "tags", Type: TString, Description: "the storage tags for this service offering"},
			{Name: "deploymentplanner", Type: TString, Description: "the deployment planner heuristics used to deploy a VM of this offering"},
			{Name: "rootdisksize", Type: TLong, Description: "the root disk size in GB"},
			{Name: "diskofferingid", Type: TUUID, Description: "the ID of the disk offering used for the root disk"},
			{Name: "diskofferingstrictness", Type: TBool, Description: "whether the disk offering of the root disk may be changed"},
			{Name: "issystem", Type: TBool, Description: "is this a system vm offering"},
			{Name: "systemvmtype", Type: TString, Description: "the system VM type: domainrouter, consoleproxy, secondarystoragevm or internalloadbalancervm"},
			{Name: "domainid", Type: TList, Elem: "uuid", Description: "the IDs of the containing domains, null for public offerings"},
			{Name: "zoneid", Type: TList, Elem: "uuid", Description: "the IDs of the containing zones, null for all zones"},
			{Name: "customizediops", Type: TBool, Description: "whether compute offering IOPS are custom"},
			{Name: "miniops", Type: TLong, Description: "min iops of the compute offering"},
			{Name: "maxiops", Type: TLong, Description: "max iops of the compute offering"},
			{Name: "hypervisorsnapshotreserve", Type: TInt, Description: "hypervisor snapshot reserve space as a percent of a volume"},
			{Name: "networkrate", Type: TInt, Description: "data transfer rate in megabits per second allowed"},
			{Name: "cachemode", Type: TString, Description: "the cache mode: none, writeback or writethrough"},
			{Name: "dynamicscalingenabled", Type: TBool, Description: "whether a VM of this offering may be scaled dynamically (default true)"},
			{Name: "serviceofferingdetails", Type: TMap, Length: 5120, Description: "details for the service offering (mincpunumber, maxcpunumber, minmemory, maxmemory, ...)"},
			{Name: "encryptroot", Type: TBool, Description: "VMs using this offering require root volume encryption (not supported)"},
		}, ioRateParams()...),
		Handler: createServiceOffering})
	s.Reg.Add(&Command{Name: "updateServiceOffering", Response: serviceOfferingResponse, Roles: Admin | DomainAdmin, ResponseKey: "serviceoffering",
		Description: "Updates a service offering.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the service offering to be updated"},
			{Name: "name", Type: TString, Length: 255, Description: "the name of the service offering to be updated"},
			{Name: "displaytext", Type: TString, Length: 4096, Description: "the display text of the service offering to be updated"},
			{Name: "sortkey", Type: TInt, Description: "sort key of the service offering"},
			{Name: "hosttags", Type: TString, Description: "the host tag for this service offering"},
			{Name: "storagetags", Type: TString, Description: "comma-separated list of storage tags"},
			{Name: "domainid", Type: TString, Description: "the IDs of the containing domains (comma-separated), \"public\" for every domain"},
			{Name: "zoneid", Type: TString, Description: "the IDs of the containing zones (comma-separated), \"all\" for every zone"},
			{Name: "state", Type: TString, Description: "state of the service offering: Active or Inactive"},
			{Name: "purgeresources", Type: TBool, Description: "whether to purge resources of VMs of this offering on expunge"},
		},
		Handler: updateServiceOffering})
	s.Reg.Add(&Command{Name: "deleteServiceOffering", Response: successResponse, Roles: Admin | DomainAdmin,
		Description: "Deletes a service offering.",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the ID of the service offering"}},
		Handler:     deleteServiceOffering})
	s.Reg.Add(&Command{Name: "listServiceOfferings", Response: serviceOfferingResponse, Roles: AllRoles, List: true, ResponseKey: "serviceoffering",
		Description: "Lists all available service offerings.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "ID of the service offering"},
			{Name: "name", Type: TString, Description: "name of the service offering"},
			{Name: "domainid", Type: TUUID, Description: "the ID of the domain associated with the service offering"},
			{Name: "zoneid", Type: TUUID, Description: "the ID of the zone for which to list service offerings"},
			{Name: "issystem", Type: TBool, Description: "is this a system vm offering"},
			{Name: "systemvmtype", Type: TString, Description: "the system VM type"},
			{Name: "virtualmachineid", Type: TUUID, Description: "the ID of the virtual machine: lists offerings it can change to"},
			{Name: "isrecursive", Type: TBool, Description: "also list offerings of the domain's subdomains (with domainid)"},
			{Name: "listall", Type: TBool, Description: "list everything the caller may see"},
			{Name: "account", Type: TString, Description: "list offerings available to the account (ignored: offerings are per domain)"},
			{Name: "projectid", Type: TUUID, Description: "list offerings available to the project (projects are not supported)"},
			{Name: "state", Type: TString, Description: "Active (default), Inactive or all"},
			{Name: "storagetype", Type: TString, Description: "the storage type: local or shared"},
			{Name: "cpunumber", Type: TInt, Description: "the CPU number that listed offerings must support"},
			{Name: "cpuspeed", Type: TInt, Description: "the CPU speed that listed offerings must support"},
			{Name: "memory", Type: TInt, Description: "the memory (MB) that listed offerings must support"},
			{Name: "templateid", Type: TUUID, Description: "the ID of the template the offering is for (ignored)"},
			{Name: "encryptroot", Type: TBool, Description: "list offerings that encrypt the root volume"},
			{Name: "gpuenabled", Type: TBool, Description: "list offerings with GPUs"},
			{Name: "vgpuprofileid", Type: TUUID, Description: "list offerings with this vGPU profile"},
		},
		Handler: listServiceOfferings})
	registerDiskOfferings(s)
	registerNetworkOfferings(s)
	registerVPCOfferings(s)
	registerOSTypes(s)
	registerLimits(s)
}

func customBounds(c *Call, o *db.ServiceOffering) error {
	bounds := map[string]int64{}
	for _, k := range []string{"mincpunumber", "maxcpunumber", "minmemory", "maxmemory"} {
		v, ok := intParam(c, k)
		if !ok {
			if s, ok2 := o.Details[k]; ok2 {
				n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
				if err != nil {
					return ErrParam("Invalid %s %q in serviceofferingdetails: a number is expected", k, s)
				}
				v, ok = n, true
			}
		}
		if ok {
			bounds[k] = v
		}
	}
	minCPU, hasMinCPU := bounds["mincpunumber"]
	maxCPU, hasMaxCPU := bounds["maxcpunumber"]
	minMem, hasMinMem := bounds["minmemory"]
	maxMem, hasMaxMem := bounds["maxmemory"]
	if hasMinCPU != hasMaxCPU || hasMinMem != hasMaxMem {
		return ErrParam("For creating a custom compute offering min/max cpu and min/max memory should all be specified")
	}
	if hasMinCPU {
		if minCPU < 1 || maxCPU < 1 || minCPU > math.MaxInt32 || maxCPU > math.MaxInt32 {
			return ErrParam("Failed to create service offering %s: specify the minimum or maximum cpu number value between 1 and %d", o.Name, math.MaxInt32)
		}
		if minCPU > maxCPU {
			return ErrParam("Failed to create service offering %s: the minimum cpu number %d must not be greater than the maximum %d", o.Name, minCPU, maxCPU)
		}
		o.Details["mincpunumber"], o.Details["maxcpunumber"] = strconv.FormatInt(minCPU, 10), strconv.FormatInt(maxCPU, 10)
	}
	if hasMinMem {
		if minMem < 32 || maxMem < 32 || minMem > math.MaxInt32 || maxMem > math.MaxInt32 {
			return ErrParam("Failed to create service offering %s: specify the minimum or maximum memory value between 32 and %d MB", o.Name, math.MaxInt32)
		}
		if minMem > maxMem {
			return ErrParam("Failed to create service offering %s: the minimum memory %d must not be greater than the maximum %d", o.Name, minMem, maxMem)
		}
		o.Details["minmemory"], o.Details["maxmemory"] = strconv.FormatInt(minMem, 10), strconv.FormatInt(maxMem, 10)
	}
	return nil
}

func createServiceOffering(c *Call) (any, error) {
	o := &db.ServiceOffering{ID: uuid.NewString(), Name: strings.TrimSpace(c.P.String("name")), DisplayText: c.P.String("displaytext"),
		Details: c.offeringDetailsParam("serviceofferingdetails"), DynamicScaling: true, Created: db.Now()}
	if o.Name == "" {
		return nil, ErrParam("Failed to create service offering: specify the name of the service offering")
	}
	cpu, hasCPU := intParam(c, "cpunumber")
	speed, hasSpeed := intParam(c, "cpuspeed")
	mem, hasMem := intParam(c, "memory")
	customized, hasCustomized := c.P.Bool("customized")
	if !hasCustomized {
		customized = !hasCPU && !hasMem
	}
	o.Customized = customized
	if hasSpeed && (speed < 0 || speed > math.MaxInt32) {
		return nil, ErrParam("Failed to create service offering %s: specify the cpu speed value between 1 and %d", o.Name, math.MaxInt32)
	}
	o.CPUSpeed = speed
	if customized {
		if hasCPU || hasMem {
			return nil, ErrParam("For creating a custom compute offering cpu and memory all should be null")
		}
		if err := customBounds(c, o); err != nil {
			return nil, err
		}
	} else {
		if !hasCPU || cpu <= 0 || cpu > math.MaxInt32 {
			return nil, ErrParam("Failed to create service offering %s: specify the cpu number value between 1 and %d", o.Name, math.MaxInt32)
		}
		if !hasMem || mem < 32 || mem > math.MaxInt32 {
			return nil, ErrParam("Failed to create service offering %s: specify the memory value between 32 and %d MB", o.Name, math.MaxInt32)
		}
		o.CPUNumber, o.Memory = int(cpu), mem
	}
	var err error
	if o.StorageType, err = parseStorageType(c); err != nil {
		return nil, err
	}
	if o.ProvisioningType, err = parseProvisioningType(c); err != nil {
		return nil, err
	}
	if o.CacheMode, err = parseCacheMode(c); err != nil {
		return nil, err
	}
	o.OfferHA, _ = c.P.Bool("offerha")
	o.LimitCPUUse, _ = c.P.Bool("limitcpuuse")
	o.IsVolatile, _ = c.P.Bool("isvolatile")
	if v, ok := c.P.Bool("dynamicscalingenabled"); ok {
		o.DynamicScaling = v
	}
	o.HostTag, o.StorageTags = tagList(c.P.String("hosttags")), tagList(c.P.String("tags"))
	if p := strings.TrimSpace(c.P.String("deploymentplanner")); p != "" {
		found := false
		for _, name := range deploymentPlanners {
			if strings.EqualFold(p, name) {
				o.DeploymentPlanner, found = name, true
			}
		}
		if !found {
			return nil, ErrParam("Invalid name for Deployment Planner specified")
		}
	}
	if v, ok := intParam(c, "rootdisksize"); ok {
		if v <= 0 {
			return nil, ErrParam("The Root disk size is of %d GB but it must be greater than 0", v)
		}
		o.RootDiskSize = v
	}
	if id := c.lowerID("diskofferingid"); id != "" {
		do, err := db.GetDiskOffering(c.Ctx, c.S.DB.Read(), id)
		if errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find disk offering by id %s", id)
		}
		if err != nil {
			return nil, err
		}
		if v, err := c.newOfferingVisibility(do.DomainIDs); err != nil {
			return nil, err
		} else if !v.visible(do.DomainIDs) {
			return nil, ErrParam("Unable to find disk offering by id %s", id)
		}
		o.DiskOfferingID = do.ID
	}
	if v, ok := c.P.Bool("encryptroot"); ok && v {
		return nil, Errorf(CodeUnsupported, CSServerAPI, "Root volume encryption is not supported")
	}
	o.IsSystem, _ = c.P.Bool("issystem")
	if vt := strings.TrimSpace(c.P.String("systemvmtype")); vt != "" || o.IsSystem {
		if !o.IsSystem {
			return nil, ErrParam("Invalid system vm type for a service offering that is not a system offering")
		}
		if !c.Caller.IsRootAdmin() {
			return nil, ErrDenied("Only ROOT admins can create system offerings")
		}
		if vt == "" {
			vt = "domainrouter"
		}
		if !slices.Contains(systemVMTypes, strings.ToLower(vt)) {
			return nil, ErrParam("Invalid systemVmType. Supported types are: %s", strings.Join(systemVMTypes, ", "))
		}
		o.SystemVMType = strings.ToLower(vt)
	}
	o.CustomizedIOPS, _ = c.P.Bool("customizediops")
	if o.MinIOPS, o.MaxIOPS, err = checkIOPS(c, o.CustomizedIOPS); err != nil {
		return nil, err
	}
	if err := checkIORates(c); err != nil {
		return nil, err
	}
	setIORates(c, &o.IORates)
	if v, ok := c.P.Int("hypervisorsnapshotreserve"); ok {
		if v < 0 {
			return nil, ErrParam("Hypervisor snapshot reserve must be at least 0")
		}
		o.HypervisorSnapshotReserve = v
	}
	if v, ok := c.P.Int("networkrate"); ok {
		o.NetworkRate = v
	}
	if o.DomainIDs, err = c.offeringDomains("domainid", true); err != nil {
		return nil, err
	}
	if o.ZoneIDs, err = c.offeringZones("zoneid"); err != nil {
		return nil, err
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if err := db.InsertServiceOffering(c.Ctx, tx, o); err != nil {
			return err
		}
		return c.Event(tx, "SERVICE.OFFERING.CREATE", "Creating service offering "+o.Name, "ServiceOffering", o.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.serviceOfferingObject(o.ID)
}

func (c *Call) serviceOfferingByID(q db.Querier, id string) (*db.ServiceOffering, error) {
	o, err := db.GetServiceOffering(c.Ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find service offering %s", id)
	}
	return o, err
}

func (c *Call) serviceOfferingObject(id string) (any, error) {
	o, err := c.serviceOfferingByID(c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	return Object{Key: "serviceoffering", Value: c.renderServiceOffering(o)}, nil
}

func (c *Call) renderServiceOffering(o *db.ServiceOffering) map[string]any {
	m := map[string]any{"id": o.ID, "name": o.Name, "displaytext": o.DisplayText, "created": FormatTime(o.Created),
		"storagetype": o.StorageType, "provisioningtype": o.ProvisioningType, "offerha": o.OfferHA, "limitcpuuse": o.LimitCPUUse,
		"isvolatile": o.IsVolatile, "issystem": o.IsSystem, "defaultuse": false, "iscustomized": o.Customized,
		"iscustomizediops": o.CustomizedIOPS, "dynamicscalingenabled": o.DynamicScaling, "diskofferingstrictness": false,
		"encryptroot": false, "hasannotations": false, "purgeresources": false, "state": o.State}
	if o.CPUNumber > 0 {
		m["cpunumber"] = o.CPUNumber
	}
	if o.CPUSpeed > 0 {
		m["cpuspeed"] = o.CPUSpeed
	}
	if o.Memory > 0 {
		m["memory"] = o.Memory
	}
	set(m, "hosttags", o.HostTag)
	set(m, "storagetags", o.StorageTags)
	set(m, "deploymentplanner", o.DeploymentPlanner)
	set(m, "systemvmtype", o.SystemVMType)
	set(m, "cacheMode", o.CacheMode)
	if o.RootDiskSize > 0 {
		m["rootdisksize"] = o.RootDiskSize
	}
	if o.MinIOPS > 0 {
		m["miniops"] = o.MinIOPS
	}
	if o.MaxIOPS > 0 {
		m["maxiops"] = o.MaxIOPS
	}
	if o.HypervisorSnapshotReserve > 0 {
		m["hypervisorsnapshotreserve"] = o.HypervisorSnapshotReserve
	}
	if o.NetworkRate > 0 {
		m["networkrate"] = o.NetworkRate
	}
	renderIORates(m, o.IORates)
	if len(o.Details) > 0 {
		d := map[string]any{}
		for k, v := range o.Details {
			d[k] = v
		}
		m["serviceofferingdetails"] = d
	}
	if o.DiskOfferingID != "" {
		m["diskofferingid"] = o.DiskOfferingID
		if do, err := db.GetDiskOffering(c.Ctx, c.S.DB.Read(), o.DiskOfferingID); err == nil {
			m["diskofferingname"], m["diskofferingdisplaytext"] = do.Name, do.DisplayText
		}
	}
	c.renderRestriction(m, o.DomainIDs, o.ZoneIDs)
	return m
}

// customFits reports whether a custom offering's bounds admit the requested CPU number and
// memory (0 = not asked).
func customFits(o *db.ServiceOffering, cpu, mem int64) bool {
	within := func(v int64, lo, hi string) bool {
		if v == 0 {
			return true
		}
		if l, err := strconv.ParseInt(lo, 10, 64); err == nil && v < l {
			return false
		}
		if h, err := strconv.ParseInt(hi, 10, 64); err == nil && v > h {
			return false
		}
		return true
	}
	return within(cpu, o.Details["mincpunumber"], o.Details["maxcpunumber"]) && within(mem, o.Details["minmemory"], o.Details["maxmemory"])
}

func listServiceOfferings(c *Call) (any, error) {
	f := db.ServiceOfferingFilter{ID: c.lowerID("id"), Name: c.P.String("name"), Keyword: c.P.String("keyword"),
		SystemVMType: c.P.String("systemvmtype")}
	sys, _ := c.P.Bool("issystem")
	if sys && !c.Caller.IsRootAdmin() {
		return nil, ErrDenied("Only ROOT admins can access system's offering")
	}
	f.IsSystem = &sys
	if st := strings.TrimSpace(c.P.String("storagetype")); st != "" {
		if _, err := parseChoice("storagetype", st, "local", "shared"); err != nil {
			return nil, err
		}
		f.StorageType = st
	}
	switch st := strings.TrimSpace(c.P.String("state")); {
	case st == "":
		f.State = "Active"
	case strings.EqualFold(st, "all"):
	default:
		v, err := parseChoice("state", st, "Active", "Inactive", "all")
		if err != nil {
			return nil, err
		}
		f.State = v
	}
	if c.P.Has("projectid") && c.P.String("projectid") != "" {
		return nil, ErrParam("Unable to find project by id %s", c.P.String("projectid"))
	}
	if v, ok := c.P.Bool("encryptroot"); ok && v {
		return ListResult{Key: "serviceoffering"}, nil // no offering encrypts the root volume
	}
	if v, ok := c.P.Bool("gpuenabled"); ok && v || c.P.String("vgpuprofileid") != "" {
		return ListResult{Key: "serviceoffering"}, nil // no GPU offerings
	}
	domainFilter, err := c.listDomainFilter()
	if err != nil {
		return nil, err
	}
	zoneID := c.lowerID("zoneid")
	var current *db.ServiceOffering
	if vmID := c.lowerID("virtualmachineid"); vmID != "" {
		vm, err := db.GetVM(c.Ctx, c.S.DB.Read(), vmID)
		if errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find virtual machine by id %s", vmID)
		}
		if err != nil {
			return nil, err
		}
		a, err := db.GetAccount(c.Ctx, c.S.DB.Read(), vm.AccountID)
		if err != nil || !c.Caller.CanManageAccount(vm.AccountID, a.DomainPath) {
			return nil, ErrParam("Unable to find virtual machine by id %s", vmID)
		}
		if current, _, err = db.GetServiceOfferingAny(c.Ctx, c.S.DB.Read(), vm.ServiceOfferingID); err != nil && !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
	}
	list, err := db.ListServiceOfferings(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	var lists [][]string
	for _, o := range list {
		lists = append(lists, o.DomainIDs)
	}
	vis, err := c.newOfferingVisibility(lists...)
	if err != nil {
		return nil, err
	}
	cpu, _ := intParam(c, "cpunumber")
	speed, _ := intParam(c, "cpuspeed")
	mem, _ := intParam(c, "memory")
	recursive, _ := c.P.Bool("isrecursive")
	var items []any
	for _, o := range list {
		if !vis.visible(o.DomainIDs) || !inZones(o.ZoneIDs, zoneID) {
			continue
		}
		if domainFilter != "" && !slices.Contains(o.DomainIDs, domainFilter) {
			if !recursive {
				continue
			}
			paths, _ := db.DomainPaths(c.Ctx, c.S.DB.Read(), append([]string{domainFilter}, o.DomainIDs...))
			under := false
			for _, id := range o.DomainIDs {
				if p, ok := paths[id]; ok && strings.HasPrefix(strings.ToLower(p), strings.ToLower(paths[domainFilter])+"/") {
					under = true
				}
			}
			if !under {
				continue
			}
		}
		if o.Customized {
			if !customFits(o, cpu, mem) {
				continue
			}
		} else if cpu > 0 && int64(o.CPUNumber) < cpu || mem > 0 && o.Memory < mem || speed > 0 && o.CPUSpeed < speed {
			continue
		}
		if current != nil && (o.ID == current.ID || o.StorageType != current.StorageType) {
			continue
		}
		items = append(items, c.renderServiceOffering(o))
	}
	return ListResult{Key: "serviceoffering", Items: c.pageItems(items), Count: len(items)}, nil
}

func updateServiceOffering(c *Call) (any, error) {
	id := c.lowerID("id")
	var domains, zones []string
	var err error
	if c.P.Has("domainid") {
		if domains, err = c.offeringDomains("domainid", true); err != nil {
			return nil, err
		}
	}
	if c.P.Has("zoneid") {
		if zones, err = c.offeringZones("zoneid"); err != nil {
			return nil, err
		}
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		o, err := c.serviceOfferingByID(tx, id)
		if err != nil {
			return err
		}
		if o.IsSystem && !c.Caller.IsRootAdmin() {
			return ErrDenied("Only ROOT admins can update system offerings")
		}
		if err := c.canChangeOffering("service offering", o.ID, o.DomainIDs); err != nil {
			return err
		}
		if c.P.Has("name") {
			if o.Name = strings.TrimSpace(c.P.String("name")); o.Name == "" {
				return ErrParam("Failed to update service offering %s: the name must not be empty", id)
			}
		}
		if c.P.Has("displaytext") {
			o.DisplayText = c.P.String("displaytext")
		}
		if v, ok := c.P.Int("sortkey"); ok {
			o.SortKey = v
		}
		if c.P.Has("hosttags") {
			o.HostTag = tagList(c.P.String("hosttags"))
		}
		if c.P.Has("storagetags") {
			o.StorageTags = tagList(c.P.String("storagetags"))
		}
		if c.P.Has("domainid") {
			o.DomainIDs = domains
		}
		if c.P.Has("zoneid") {
			o.ZoneIDs = zones
		}
		if v := c.P.String("state"); v != "" {
			if o.State, err = parseOfferingState(v); err != nil {
				return err
			}
		}
		if err := db.UpdateServiceOffering(c.Ctx, tx, o); err != nil {
			return err
		}
		return c.Event(tx, "SERVICE.OFFERING.EDIT", "Updating service offering "+o.Name, "ServiceOffering", o.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.serviceOfferingObject(id)
}

func deleteServiceOffering(c *Call) (any, error) {
	id := c.lowerID("id")
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		o, err := c.serviceOfferingByID(tx, id)
		if err != nil {
			return err
		}
		if o.IsSystem && o.IsDefault {
			return ErrParam("Default service offerings cannot be deleted")
		}
		if o.IsSystem && !c.Caller.IsRootAdmin() {
			return ErrDenied("Only ROOT admins can delete system offerings")
		}
		if err := c.canChangeOffering("service offering", o.ID, o.DomainIDs); err != nil {
			return err
		}
		if err := db.RemoveServiceOffering(c.Ctx, tx, o.ID); err != nil {
			return err
		}
		return c.Event(tx, "SERVICE.OFFERING.DELETE", fmt.Sprintf("Deleting service offering %s", o.Name), "ServiceOffering", o.ID)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}
