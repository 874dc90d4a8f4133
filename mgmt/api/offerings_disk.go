package api

import (
	"errors"
	"slices"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/google/uuid"
)

// maxDiskSizeGiB is CloudStack's custom.diskoffering.size.max default.
const maxDiskSizeGiB = 1024

func registerDiskOfferings(s *Server) {
	s.Reg.Add(&Command{Name: "createDiskOffering", Response: diskOfferingResponse, Roles: Admin | DomainAdmin, ResponseKey: "diskoffering",
		Description: "Creates a disk offering.",
		Params: append([]Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "name of the disk offering"},
			{Name: "displaytext", Type: TString, Required: true, Length: 4096, Description: "an alternate display text of the disk offering"},
			{Name: "disksize", Type: TLong, Description: "size of the disk offering in GB (1GB = 1,073,741,824 bytes)"},
			{Name: "customized", Type: TBool, Description: "whether disk offering size is custom or not"},
			{Name: "tags", Type: TString, Length: 1024 /* CloudStack: 4096; our column holds 1024 */, Description: "tags for the disk offering"},
			{Name: "storagetype", Type: TString, Description: "the storage type of the disk offering: local or shared (default)"},
			{Name: "provisioningtype", Type: TString, Description: "provisioning type: thin (default), sparse or fat"},
			{Name: "customizediops", Type: TBool, Description: "whether disk offering IOPS are custom"},
			{Name: "miniops", Type: TLong, Description: "min iops of the disk offering"},
			{Name: "maxiops", Type: TLong, Description: "max iops of the disk offering"},
			{Name: "hypervisorsnapshotreserve", Type: TInt, Description: "hypervisor snapshot reserve space as a percent of a volume"},
			{Name: "cachemode", Type: TString, Description: "the cache mode: none, writeback or writethrough"},
			{Name: "displayoffering", Type: TBool, Description: "whether to display the offering to the end user (default true)"},
			{Name: "disksizestrictness", Type: TBool, Description: "whether the disk size may be changed on volume creation"},
			{Name: "encrypt", Type: TBool, Description: "volumes using this offering should be encrypted (not supported)"},
			{Name: "domainid", Type: TList, Elem: "uuid", Description: "the IDs of the containing domains, null for public offerings"},
			{Name: "zoneid", Type: TList, Elem: "uuid", Description: "the IDs of the containing zones, null for all zones"},
			{Name: "details", Type: TMap, Length: 5120, Description: "details to specify disk offering parameters"},
		}, ioRateParams()...),
		Handler: createDiskOffering})
	s.Reg.Add(&Command{Name: "updateDiskOffering", Response: diskOfferingResponse, Roles: Admin | DomainAdmin, ResponseKey: "diskoffering",
		Description: "Updates a disk offering.",
		Params: append([]Param{
			{Name: "id", Type: TUUID, Required: true, Description: "ID of the disk offering"},
			{Name: "name", Type: TString, Length: 255, Description: "updates name of the disk offering with this value"},
			{Name: "displaytext", Type: TString, Length: 4096, Description: "updates alternate display text of the disk offering with this value"},
			{Name: "displayoffering", Type: TBool, Description: "an optional field, whether to display the offering to the end user or not"},
			{Name: "sortkey", Type: TInt, Description: "sort key of the disk offering"},
			{Name: "tags", Type: TString, Length: 1024 /* CloudStack: 4096; our column holds 1024 */, Description: "comma-separated list of tags for the disk offering"},
			{Name: "domainid", Type: TString, Description: "the IDs of the containing domains (comma-separated), \"public\" for every domain"},
			{Name: "zoneid", Type: TString, Description: "the IDs of the containing zones (comma-separated), \"all\" for every zone"},
			{Name: "state", Type: TString, Description: "state of the disk offering: Active or Inactive"},
			{Name: "cachemode", Type: TString, Description: "the cache mode: none, writeback or writethrough"},
		}, ioRateParams()...),
		Handler: updateDiskOffering})
	s.Reg.Add(&Command{Name: "deleteDiskOffering", Response: successResponse, Roles: Admin | DomainAdmin,
		Description: "Updates a disk offering.",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "ID of the disk offering"}},
		Handler:     deleteDiskOffering})
	s.Reg.Add(&Command{Name: "listDiskOfferings", Response: diskOfferingResponse, Roles: AllRoles, List: true, ResponseKey: "diskoffering",
		Description: "Lists all available disk offerings.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "ID of the disk offering"},
			{Name: "name", Type: TString, Description: "name of the disk offering"},
			{Name: "domainid", Type: TUUID, Description: "the ID of the domain of the disk offering"},
			{Name: "zoneid", Type: TUUID, Description: "the ID of the zone for which to list disk offerings"},
			{Name: "isrecursive", Type: TBool, Description: "also list offerings of the domain's subdomains"},
			{Name: "listall", Type: TBool, Description: "list everything the caller may see"},
			{Name: "account", Type: TString, Description: "list offerings available to the account (ignored: offerings are per domain)"},
			{Name: "projectid", Type: TUUID, Description: "list offerings available to the project (projects are not supported)"},
			{Name: "state", Type: TString, Description: "Active (default), Inactive or all"},
			{Name: "storagetype", Type: TString, Description: "the storage type: local or shared"},
			{Name: "storageid", Type: TUUID, Description: "the ID of a primary storage pool: lists offerings whose tags it has"},
			{Name: "volumeid", Type: TUUID, Description: "the ID of a volume: lists offerings it can change to"},
			{Name: "virtualmachineid", Type: TUUID, Description: "the ID of a virtual machine (accepted; all offerings are suitable)"},
			{Name: "encrypt", Type: TBool, Description: "list offerings that encrypt volumes"},
		},
		Handler: listDiskOfferings})
}

func createDiskOffering(c *Call) (any, error) {
	o := &db.DiskOffering{ID: uuid.NewString(), Name: strings.TrimSpace(c.P.String("name")), DisplayText: c.P.String("displaytext"),
		DisplayOffering: true, Created: db.Now()}
	if o.Name == "" {
		return nil, ErrParam("Failed to create disk offering: specify the name of the disk offering")
	}
	size, hasSize := intParam(c, "disksize")
	if hasSize && size < 1 {
		return nil, ErrParam("Please specify a disk size of at least 1 GB.")
	}
	if hasSize && size > maxDiskSizeGiB {
		return nil, ErrParam("The maximum size for a disk is %d GB.", maxDiskSizeGiB)
	}
	o.DiskSize = size << 30
	o.Customized, _ = c.P.Bool("customized")
	if o.DiskSize == 0 {
		o.Customized = true
	}
	if v, ok := c.P.Bool("encrypt"); ok && v {
		return nil, Errorf(CodeUnsupported, CSServerAPI, "Volume encryption is not supported")
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
	o.Tags = tagList(c.P.String("tags"))
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
	if v, ok := c.P.Bool("displayoffering"); ok {
		o.DisplayOffering = v
	}
	o.DiskSizeStrictness, _ = c.P.Bool("disksizestrictness")
	if o.DomainIDs, err = c.offeringDomains("domainid", true); err != nil {
		return nil, err
	}
	if o.ZoneIDs, err = c.offeringZones("zoneid"); err != nil {
		return nil, err
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		if err := db.InsertDiskOffering(c.Ctx, tx, o); err != nil {
			return err
		}
		return c.Event(tx, "DISK.OFFERING.CREATE", "Creating disk offering "+o.Name, "DiskOffering", o.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.diskOfferingObject(o.ID)
}

func (c *Call) diskOfferingByID(q db.Querier, id string) (*db.DiskOffering, error) {
	o, err := db.GetDiskOffering(c.Ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find disk offering by id %s", id)
	}
	return o, err
}

func (c *Call) diskOfferingObject(id string) (any, error) {
	o, err := c.diskOfferingByID(c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	return Object{Key: "diskoffering", Value: c.renderDiskOffering(o)}, nil
}

func (c *Call) renderDiskOffering(o *db.DiskOffering) map[string]any {
	m := map[string]any{"id": o.ID, "name": o.Name, "displaytext": o.DisplayText, "disksize": o.DiskSize >> 30,
		"iscustomized": o.Customized, "created": FormatTime(o.Created), "storagetype": o.StorageType,
		"provisioningtype": o.ProvisioningType, "iscustomizediops": o.CustomizedIOPS, "displayoffering": o.DisplayOffering,
		"disksizestrictness": o.DiskSizeStrictness, "encrypt": o.Encrypt, "hasannotations": false, "state": o.State}
	set(m, "tags", o.Tags)
	set(m, "cacheMode", o.CacheMode)
	if o.MinIOPS > 0 {
		m["miniops"] = o.MinIOPS
	}
	if o.MaxIOPS > 0 {
		m["maxiops"] = o.MaxIOPS
	}
	if o.HypervisorSnapshotReserve > 0 {
		m["hypervisorsnapshotreserve"] = o.HypervisorSnapshotReserve
	}
	renderIORates(m, o.IORates)
	c.renderRestriction(m, o.DomainIDs, o.ZoneIDs)
	return m
}

// tagsSubset reports whether every tag of want is among have (comma lists, case-sensitive as
// CloudStack compares storage tags).
func tagsSubset(want, have string) bool {
	h := db.SplitList(have)
	for _, t := range db.SplitList(want) {
		if !slices.Contains(h, t) {
			return false
		}
	}
	return true
}

func listDiskOfferings(c *Call) (any, error) {
	f := db.DiskOfferingFilter{ID: c.lowerID("id"), Name: c.P.String("name"), Keyword: c.P.String("keyword")}
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
	if c.P.String("projectid") != "" {
		return nil, ErrParam("Unable to find project by id %s", c.P.String("projectid"))
	}
	if v, ok := c.P.Bool("encrypt"); ok && v {
		return ListResult{Key: "diskoffering"}, nil // no offering encrypts volumes
	}
	domainFilter, err := c.listDomainFilter()
	if err != nil {
		return nil, err
	}
	poolTags, hasPool := "", false
	if id := c.lowerID("storageid"); id != "" {
		if !c.Caller.IsRootAdmin() {
			return nil, ErrDenied("Only ROOT admins may list disk offerings by storage pool")
		}
		p, err := db.GetStoragePool(c.Ctx, c.S.DB.Read(), id)
		if errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find storage pool by id %s", id)
		}
		if err != nil {
			return nil, err
		}
		poolTags, hasPool = p.Tags, true
	}
	currentOffering := ""
	if id := c.lowerID("volumeid"); id != "" {
		v, err := db.GetVolume(c.Ctx, c.S.DB.Read(), id)
		if errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find volume by id %s", id)
		}
		if err != nil {
			return nil, err
		}
		a, err := db.GetAccount(c.Ctx, c.S.DB.Read(), v.AccountID)
		if err != nil || !c.Caller.CanManageAccount(v.AccountID, a.DomainPath) {
			return nil, ErrParam("Unable to find volume by id %s", id)
		}
		currentOffering = v.DiskOfferingID
	}
	if id := c.lowerID("virtualmachineid"); id != "" {
		vm, err := db.GetVM(c.Ctx, c.S.DB.Read(), id)
		if errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find virtual machine by id %s", id)
		}
		if err != nil {
			return nil, err
		}
		a, err := db.GetAccount(c.Ctx, c.S.DB.Read(), vm.AccountID)
		if err != nil || !c.Caller.CanManageAccount(vm.AccountID, a.DomainPath) {
			return nil, ErrParam("Unable to find virtual machine by id %s", id)
		}
	}
	list, err := db.ListDiskOfferings(c.Ctx, c.S.DB.Read(), f)
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
	zoneID := c.lowerID("zoneid")
	var items []any
	for _, o := range list {
		if !vis.visible(o.DomainIDs) || !inZones(o.ZoneIDs, zoneID) {
			continue
		}
		if !o.DisplayOffering && !c.Caller.IsRootAdmin() {
			continue
		}
		if domainFilter != "" && !slices.Contains(o.DomainIDs, domainFilter) {
			continue
		}
		if hasPool && !tagsSubset(o.Tags, poolTags) {
			continue
		}
		if currentOffering != "" && o.ID == currentOffering {
			continue
		}
		items = append(items, c.renderDiskOffering(o))
	}
	return ListResult{Key: "diskoffering", Items: c.pageItems(items), Count: len(items)}, nil
}

func updateDiskOffering(c *Call) (any, error) {
	id := c.lowerID("id")
	var domains, zones []string
	var err error
	if err := checkIORates(c); err != nil {
		return nil, err
	}
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
		o, err := c.diskOfferingByID(tx, id)
		if err != nil {
			return err
		}
		if err := c.canChangeOffering("disk offering", o.ID, o.DomainIDs); err != nil {
			return err
		}
		if c.P.Has("name") {
			if o.Name = strings.TrimSpace(c.P.String("name")); o.Name == "" {
				return ErrParam("Failed to update disk offering %s: the name must not be empty", id)
			}
		}
		if c.P.Has("displaytext") {
			o.DisplayText = c.P.String("displaytext")
		}
		if v, ok := c.P.Bool("displayoffering"); ok {
			o.DisplayOffering = v
		}
		if v, ok := c.P.Int("sortkey"); ok {
			o.SortKey = v
		}
		if c.P.Has("tags") {
			o.Tags = tagList(c.P.String("tags"))
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
		if c.P.Has("cachemode") {
			if o.CacheMode, err = parseCacheMode(c); err != nil {
				return err
			}
		}
		setIORates(c, &o.IORates)
		if err := db.UpdateDiskOffering(c.Ctx, tx, o); err != nil {
			return err
		}
		return c.Event(tx, "DISK.OFFERING.EDIT", "Updating disk offering "+o.Name, "DiskOffering", o.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.diskOfferingObject(id)
}

func deleteDiskOffering(c *Call) (any, error) {
	id := c.lowerID("id")
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		o, err := c.diskOfferingByID(tx, id)
		if err != nil {
			return err
		}
		if err := c.canChangeOffering("disk offering", o.ID, o.DomainIDs); err != nil {
			return err
		}
		if err := db.RemoveDiskOffering(c.Ctx, tx, o.ID); err != nil {
			return err
		}
		return c.Event(tx, "DISK.OFFERING.DELETE", "Deleting disk offering "+o.Name, "DiskOffering", o.ID)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}
