package template

import (
	"context"
	"fmt"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// UpdateSpec is what updateTemplate and updateIso change; nil and "" leave a field as it is.
type UpdateSpec struct {
	Name, DisplayText, TemplateTag *string
	Format                         string  // as sent
	OSTypeID                       *string // lower-case
	PasswordEnabled                *bool
	SSHKeyEnabled                  *bool
	DynamicScaling                 *bool
	RequiresHVM                    *bool
	Bootable                       *bool
	TemplateType                   string // as sent
	CleanupDetails                 bool
	Details                        map[string]string // merged into the template's; nil when not sent
}

// Update changes a template's or ISO's attributes (id as the caller sent it) and answers it.
func Update(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, k Kind, id string, s UpdateSpec) (*db.Template, error) {
	var out *db.Template
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		t, err := ByID(ctx, tx, k, id)
		if err != nil {
			return err
		}
		out = t
		if err := CheckOwner(ctx, tx, a.Caller, k, t); err != nil {
			return err
		}
		if t.TemplateType == db.TemplateSystem && !a.Caller.IsRootAdmin() {
			return orchestrate.ErrDenied("Only root admins may update system templates")
		}
		if s.Name != nil {
			if strings.TrimSpace(*s.Name) == "" {
				return orchestrate.ErrParam("Please specify a valid name")
			}
			t.Name = *s.Name
		}
		if s.DisplayText != nil {
			t.DisplayText = *s.DisplayText
		}
		if f := s.Format; f != "" {
			f = strings.ToUpper(f)
			valid := false
			for _, v := range Formats {
				valid = valid || v == f
			}
			if k.ISO && f != "ISO" || !k.ISO && !valid {
				return orchestrate.ErrParam("Image format: %s is incorrect. Supported formats are %s", s.Format, strings.Join(append(Formats, "ISO"), ", "))
			}
			t.Format = f
		}
		if s.OSTypeID != nil {
			if t.OSTypeID, err = osType(ctx, tx, *s.OSTypeID); err != nil {
				return err
			}
		}
		for _, f := range []struct {
			v   *bool
			dst *bool
		}{{s.PasswordEnabled, &t.PasswordEnabled}, {s.SSHKeyEnabled, &t.SSHKeyEnabled}, {s.DynamicScaling, &t.IsDynamicallyScalable},
			{s.RequiresHVM, &t.RequiresHVM}, {s.Bootable, &t.Bootable}} {
			if f.v != nil {
				*f.dst = *f.v
			}
		}
		if tt := strings.ToUpper(s.TemplateType); tt != "" && tt != t.TemplateType {
			if !a.Caller.IsRootAdmin() {
				return orchestrate.ErrDenied("Only root admins may change the template type")
			}
			switch tt {
			case db.TemplateUser, db.TemplateBuiltin, db.TemplateSystem, "ROUTING", "VNF":
				t.TemplateType = tt
			default:
				return orchestrate.ErrParam("Invalid template type %s", s.TemplateType)
			}
		}
		if s.TemplateTag != nil {
			t.TemplateTag = *s.TemplateTag
		}
		if s.CleanupDetails {
			t.Details = nil
		}
		if s.Details != nil {
			if t.Details == nil {
				t.Details = map[string]string{}
			}
			for kk, v := range s.Details {
				t.Details[kk] = v
			}
		}
		if err := db.UpdateTemplate(ctx, tx, t); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, k.EvUpdate, fmt.Sprintf("updating %s %s", k.Noun, t.Name), k.ResType, t.ID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
