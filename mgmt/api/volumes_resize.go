package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
)

func registerVolumeResize(s *Server) {
	s.Reg.Add(&Command{Name: "resizeVolume", Response: volumeResponse, Roles: AllRoles, Async: true, ResponseKey: "volume",
		Description: "Resizes a volume",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the disk volume"},
			{Name: "size", Type: TLong, Description: "New volume size in GB"},
			{Name: "diskofferingid", Type: TUUID, Description: "new disk offering id"},
			{Name: "shrinkok", Type: TBool, Description: "Verify OK to Shrink"},
			{Name: "miniops", Type: TLong, Description: "New minimum number of IOPS"},
			{Name: "maxiops", Type: TLong, Description: "New maximum number of IOPS"},
			{Name: "automigrate", Type: TBool, Description: "in CloudStack, migrate the volume to a suitable pool if its pool lacks room for the new size. Atoll does not move volumes on resize: when the pool lacks room the resize fails (533) with an error that says so; with room it has no effect"},
		},
		Handler: resizeVolumeStart, Job: resizeVolumeJob})
	s.Reg.Add(&Command{Name: "migrateVolume", Response: volumeResponse, Roles: Admin, Async: true, ResponseKey: "volume",
		Description: "Migrate volume",
		Params: []Param{
			{Name: "volumeid", Type: TUUID, Required: true, Description: "the ID of the volume"},
			{Name: "storageid", Type: TUUID, Required: true, Description: "destination storage pool ID to migrate the volume to"},
			{Name: "livemigrate", Type: TBool, Description: "if the volume should be live migrated when it is attached to a running vm"},
			{Name: "newdiskofferingid", Type: TUUID, Description: "the new disk offering (not supported: refused when it differs)"},
		},
		Handler: migrateVolumeStart, Job: migrateVolumeJob})
}

func resizeVolumeSpec(c *Call) volume.ResizeSpec {
	shrink, _ := c.P.Bool("shrinkok")
	am, _ := c.P.Bool("automigrate")
	return volume.ResizeSpec{Size: c.P.String("size"), DiskOfferingID: strings.ToLower(c.P.String("diskofferingid")), ShrinkOK: shrink,
		MinIOPS: volIntParam(c, "miniops"), MaxIOPS: volIntParam(c, "maxiops"), AutoMigrate: am}
}

func resizeVolumeStart(c *Call) (any, error) {
	jobID, volID, err := volume.StartResize(c.Ctx, c.deps(), c.actor(), c.P.String("id"), resizeVolumeSpec(c))
	return c.volJobStarted(jobID, volID, err)
}

// resizeVolumeJob writes the new size (with its storage reservation on the pool and the
// owner's primary storage count, in one transaction), then has a host resize the disk, and
// undoes the change if the host fails.
func resizeVolumeJob(c *Call, j *db.Job) (any, error) {
	if err := volume.Resize(c.Ctx, c.deps(), c.actor(), j.InstanceID, resizeVolumeSpec(c)); err != nil {
		return nil, err
	}
	return c.volumeObject(j.InstanceID)
}

func migrateVolumeSpec(c *Call) volume.MigrateSpec {
	live, _ := c.P.Bool("livemigrate")
	return volume.MigrateSpec{VolumeID: c.P.String("volumeid"), StorageID: c.P.String("storageid"),
		NewDiskOfferingID: strings.ToLower(c.P.String("newdiskofferingid")), LiveMigrate: live}
}

func migrateVolumeStart(c *Call) (any, error) {
	jobID, volID, err := volume.StartMigrate(c.Ctx, c.deps(), c.actor(), migrateVolumeSpec(c))
	return c.volJobStarted(jobID, volID, err)
}

// migrateVolumeJob reserves the target pool and marks the volume Migrating, has a host copy
// it, then moves the volume's allocation (or, if the host failed, gives the target back).
func migrateVolumeJob(c *Call, j *db.Job) (any, error) {
	v, err := volume.Migrate(c.Ctx, c.deps(), c.actor(), j.InstanceID, migrateVolumeSpec(c))
	if err != nil {
		return nil, err
	}
	return c.volumeObject(v.ID)
}
