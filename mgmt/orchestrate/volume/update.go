package volume

import (
	"context"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// UpdateSpec is what updateVolume changes: nil or "" leaves a field as it is.
type UpdateSpec struct {
	Name             string // trimmed
	DisplayVolume    *bool
	DeleteProtection *bool
}

func updatable(v *db.Volume) error {
	if v.State == db.VolumeDestroy || v.State == db.VolumeExpunged {
		return orchestrate.ErrParam("Volume %s is %s and cannot be updated", v.Name, v.State)
	}
	return nil
}

// StartUpdate checks that the caller may update a volume (id as sent) and writes the job that
// does it; it returns the job's id and the volume's.
func StartUpdate(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) (jobID, volID string, err error) {
	v, err := ForCaller(ctx, d.DB.Read(), a.Caller, id)
	if err != nil {
		return "", "", err
	}
	if err := updatable(v); err != nil {
		return "", "", err
	}
	if jobID, err = startJob(ctx, d, a, v.ID); err != nil {
		return "", "", err
	}
	return jobID, v.ID, nil
}

// Update renames a volume, sets its delete protection and whether it is displayed.
func Update(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, spec UpdateSpec) error {
	return d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := ForCaller(ctx, tx, a.Caller, id)
		if err != nil {
			return err
		}
		if err := updatable(v); err != nil {
			return err
		}
		if spec.Name != "" {
			v.Name = spec.Name
		}
		if spec.DisplayVolume != nil {
			v.DisplayVolume = *spec.DisplayVolume
		}
		if spec.DeleteProtection != nil {
			v.DeleteProtection = *spec.DeleteProtection
		}
		if err := db.UpdateVolume(ctx, tx, v); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, evVolumeUpdate, "Updated volume "+v.Name, "Volume", v.ID)
	})
}
