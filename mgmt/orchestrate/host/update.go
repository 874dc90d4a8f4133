package host

import (
	"context"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// UpdateSpec is what updateHost changes: each field given (not nil) is set.
type UpdateSpec struct {
	AllocationState *string // Enable or Disable
	HostTags        *string // comma separated; empty removes them
	Name            *string
	URL             *string
}

// Update changes a host's allocation state, tags, name or URL.
func Update(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, s UpdateSpec) (*db.Host, error) {
	var out *db.Host
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		h, err := Load(ctx, tx, id)
		if err != nil {
			return err
		}
		if s.AllocationState != nil {
			switch v := *s.AllocationState; strings.ToLower(v) {
			case "enable", "enabled":
				if h.ResourceState != db.HostResourceEnabled && h.ResourceState != db.HostResourceDisabled {
					return orchestrate.ErrParam("Unable to enable host %s in resource state %s; cancel its maintenance first", h.Name, h.ResourceState)
				}
				h.ResourceState = db.HostResourceEnabled
			case "disable", "disabled":
				if h.ResourceState != db.HostResourceEnabled && h.ResourceState != db.HostResourceDisabled {
					return orchestrate.ErrParam("Unable to disable host %s in resource state %s", h.Name, h.ResourceState)
				}
				h.ResourceState = db.HostResourceDisabled
			default:
				return orchestrate.ErrParam("Invalid allocation state %s: valid values are Enable and Disable", v)
			}
		}
		if s.HostTags != nil {
			h.HostTags = *s.HostTags
		}
		if s.Name != nil {
			name := strings.TrimSpace(*s.Name)
			if name == "" {
				return orchestrate.ErrParam("Host name can not be empty")
			}
			h.Name = name
		}
		if s.URL != nil {
			h.URL = *s.URL
		}
		if err := db.UpdateHost(ctx, tx, h); err != nil {
			return err
		}
		out = h
		return orchestrate.Event(ctx, tx, a, "HOST.UPDATE", "Updating host "+h.Name, "Host", h.ID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
