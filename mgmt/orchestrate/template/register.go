package template

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// RegisterSpec is a template or ISO to register from a URL, its parameters checked.
type RegisterSpec struct {
	Name, DisplayText string
	Format            string // upper-case; "ISO" for an ISO
	Hypervisor        string // canonical; "None" for an ISO
	URL, Checksum     string
	Bits              int
	Public, Featured  bool
	Extractable       bool
	PasswordEnabled   bool
	SSHKeyEnabled     bool
	DynamicScaling    bool
	RequiresHVM       bool
	Bootable          bool
	TemplateTag       string
	Details           map[string]string
	OSTypeID          string   // lower-case; "" when absent
	ZoneID            string   // as sent (trimmed): a zone's uuid, "-1" for all zones, or ""
	ZoneIDs           []string // zoneids as sent
	Owner             Owner
}

// Register records a template or ISO, charged to its owner, with a copy (downloading) in
// every image store of its zones, and starts the job that downloads them, in one transaction.
func Register(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, k Kind, s RegisterSpec) (*db.Template, error) {
	t := &db.Template{ID: uuid.NewString(), Name: s.Name, DisplayText: s.DisplayText, Format: s.Format, HypervisorType: s.Hypervisor,
		IsPublic: s.Public, Extractable: s.Extractable, PasswordEnabled: s.PasswordEnabled, SSHKeyEnabled: s.SSHKeyEnabled,
		IsDynamicallyScalable: s.DynamicScaling, RequiresHVM: s.RequiresHVM, Bootable: s.Bootable, TemplateType: db.TemplateUser,
		Checksum: s.Checksum, URL: s.URL, State: "Active", Bits: s.Bits, TemplateTag: s.TemplateTag, Details: s.Details, Created: db.Now()}
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		zones, err := insertTemplate(ctx, d, tx, a, k, t, s)
		if err != nil {
			return err
		}
		n, err := addCopies(ctx, tx, t, zones)
		if err != nil {
			return err
		}
		if n == 0 {
			return orchestrate.ErrInternal("Unable to find image store to download the %s %s", k.Noun, t.Name)
		}
		if err := orchestrate.Event(ctx, tx, a, k.EvCreate, fmt.Sprintf("registering %s %s", k.Noun, t.Name), k.ResType, t.ID); err != nil {
			return err
		}
		_, err = enqueueDownload(ctx, tx, a, t.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// insertTemplate checks a new template's owner, OS type, zones and visibility, charges it to
// its owner and inserts it, in tx; it answers the zones it goes to.
func insertTemplate(ctx context.Context, d *orchestrate.Deps, tx db.Tx, a orchestrate.Actor, k Kind, t *db.Template, s RegisterSpec) ([]*db.Zone, error) {
	owner, err := orchestrate.OwnerFor(ctx, tx, a.Caller, s.Owner.Account, s.Owner.DomainID)
	if err != nil {
		return nil, err
	}
	t.AccountID, t.DomainID = owner.ID, owner.DomainID
	ownerIsRoot := owner.Type == db.AccountRootAdmin
	if t.OSTypeID, err = osType(ctx, tx, s.OSTypeID); err != nil {
		return nil, err
	}
	if k.ISO && s.Bootable && t.OSTypeID == "" {
		return nil, orchestrate.ErrParam("Please pass a valid GuestOS Id")
	}
	zones, all, err := imageZones(ctx, tx, a, s.ZoneID, s.ZoneIDs)
	if err != nil {
		return nil, err
	}
	if all && !ownerIsRoot {
		return nil, orchestrate.ErrParam("Template registered for 'All zones' can only be owned a Root Admin account. Please select specific zone(s).")
	}
	t.CrossZones = all
	if !ownerIsRoot && s.Public {
		allow, err := publicUserTemplatesAllowed(ctx, d, owner.ID)
		if err != nil {
			return nil, err
		}
		if !allow {
			return nil, orchestrate.ErrParam("Only private templates/ISO can be created.")
		}
	}
	t.Featured = s.Featured && ownerIsRoot
	if err := d.ChargeResources(ctx, tx, owner.ID, map[string]int64{db.ResTemplate: 1}); err != nil {
		return nil, err
	}
	if err := db.InsertTemplate(ctx, tx, t); err != nil {
		return nil, err
	}
	return zones, nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// imageZones resolves zoneid (a uuid, or -1 for all zones) and zoneids; all reports all zones.
func imageZones(ctx context.Context, q db.Querier, a orchestrate.Actor, zoneID string, zoneIDs []string) ([]*db.Zone, bool, error) {
	var ids []string
	all := false
	if z := zoneID; z != "" {
		if z == "-1" {
			all = true
		} else if !uuidRE.MatchString(z) {
			return nil, false, orchestrate.Errorf(orchestrate.CodeParam, orchestrate.CSServerAPI,
				"Unable to execute API command %s due to invalid value. Invalid parameter %s value=%s due to %s", strings.ToLower(a.Cmd), "zoneid", z,
				"incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class")
		} else {
			ids = append(ids, strings.ToLower(z))
		}
	}
	for _, z := range zoneIDs {
		ids = append(ids, strings.ToLower(z))
	}
	if len(ids) == 0 {
		all = true
	}
	var zones []*db.Zone
	if all {
		list, _, err := db.ListZones(ctx, q, db.ZoneFilter{})
		if err != nil {
			return nil, false, err
		}
		if len(list) == 0 {
			return nil, false, orchestrate.ErrInternal("No zones are present in the system, can't add template")
		}
		return list, true, nil
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		z, err := zoneFor(ctx, q, a.Caller, id, "Please specify a valid zone.")
		if err != nil {
			return nil, false, err
		}
		zones = append(zones, z)
	}
	return zones, false, nil
}

// zoneFor loads a zone an image goes to, refusing a disabled one to all but root admins.
func zoneFor(ctx context.Context, q db.Querier, caller *iam.Caller, id, unknown string) (*db.Zone, error) {
	z, err := db.GetZone(ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("%s", unknown)
	}
	if err != nil {
		return nil, err
	}
	if z.AllocationState == "Disabled" && !caller.IsRootAdmin() {
		return nil, orchestrate.ErrDenied("Cannot perform this operation, Zone %s is currently disabled", z.Name)
	}
	return z, nil
}
