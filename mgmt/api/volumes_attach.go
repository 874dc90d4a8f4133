package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
)

func registerVolumeAttach(s *Server) {
	s.Reg.Add(&Command{Name: "attachVolume", Response: volumeResponse, Roles: AllRoles, Async: true, ResponseKey: "volume",
		Description: "Attaches a disk volume to a virtual machine.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the disk volume"},
			{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "the ID of the virtual machine"},
			{Name: "deviceid", Type: TLong, Description: "the ID of the device to map the volume to the guest OS; 0 is the ROOT disk, 3 the CD-ROM"},
		},
		Handler: attachVolumeStart, Job: attachVolumeJob})
	s.Reg.Add(&Command{Name: "detachVolume", Response: volumeResponse, Roles: AllRoles, Async: true, ResponseKey: "volume",
		Description: "Detaches a disk volume from a virtual machine.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "the ID of the disk volume"},
			{Name: "virtualmachineid", Type: TUUID, Description: "the ID of the virtual machine where the volume is detached from"},
			{Name: "deviceid", Type: TLong, Description: "the device ID on the virtual machine where volume is detached from"},
		},
		Handler: detachVolumeStart, Job: detachVolumeJob})
}

// deviceParam reads the optional deviceid.
func (c *Call) deviceParam() (*int, error) {
	if !c.P.Has("deviceid") {
		return nil, nil
	}
	n, ok := c.P.Int("deviceid")
	if !ok || n < 0 {
		return nil, ErrParam("Invalid deviceid %s", c.P.String("deviceid"))
	}
	return &n, nil
}

func attachVolumeStart(c *Call) (any, error) {
	want, err := c.deviceParam()
	if err != nil {
		return nil, err
	}
	jobID, volID, err := volume.StartAttach(c.Ctx, c.deps(), c.actor(), c.P.String("id"), c.P.String("virtualmachineid"), want)
	return c.volJobStarted(jobID, volID, err)
}

func attachVolumeJob(c *Call, j *db.Job) (any, error) {
	want, err := c.deviceParam()
	if err != nil {
		return nil, err
	}
	if _, err := volume.Attach(c.Ctx, c.deps(), c.actor(), j.InstanceID, strings.ToLower(c.P.String("virtualmachineid")), want, j.Attempts > 1); err != nil {
		return nil, err
	}
	return c.volumeObject(j.InstanceID)
}

func detachVolumeStart(c *Call) (any, error) {
	id, vmID := c.P.String("id"), c.P.String("virtualmachineid")
	if id != "" && (vmID != "" || c.P.Has("deviceid")) || id == "" && (vmID == "" || !c.P.Has("deviceid")) {
		return nil, ErrParam("Please provide either a volume id, or a tuple(device id, instance id)")
	}
	dev, _ := c.P.Int("deviceid")
	jobID, volID, err := volume.StartDetach(c.Ctx, c.deps(), c.actor(), volume.DetachSpec{ID: id, VMID: vmID, DeviceID: dev})
	return c.volJobStarted(jobID, volID, err)
}

func detachVolumeJob(c *Call, j *db.Job) (any, error) {
	if err := volume.Detach(c.Ctx, c.deps(), c.actor(), j.InstanceID); err != nil {
		return nil, err
	}
	return c.volumeObject(j.InstanceID)
}
