package api

import (
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
)

func registerIsoAttach(s *Server) {
	s.Reg.Add(&Command{Name: "attachIso", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Attaches an ISO to a virtual machine.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the ISO file"},
			{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "the ID of the virtual machine"},
			{Name: "forced", Type: TBool, Description: "If true, ejects existing ISO before attaching on VMware. Default: false"},
		},
		Handler: attachIso, Job: attachIsoJob})
	s.Reg.Add(&Command{Name: "detachIso", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Detaches any ISO file (if any) currently attached to a virtual machine.",
		Params: []Param{
			{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "The ID of the virtual machine"},
			{Name: "forced", Type: TBool, Description: "If true, ejects the ISO before detaching on VMware. Default: false"},
		},
		Handler: detachIso, Job: detachIsoJob})
}

// attachIso checks the attach and writes its job (vm.AttachISO).
func attachIso(c *Call) (any, error) {
	jobID, vmID, err := vm.AttachISO(c.Ctx, c.deps(), c.actor(), c.P.String("virtualmachineid"), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: vmID}, nil
}

// detachIso checks the detach and writes its job (vm.DetachISO).
func detachIso(c *Call) (any, error) {
	jobID, vmID, err := vm.DetachISO(c.Ctx, c.deps(), c.actor(), c.P.String("virtualmachineid"))
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: vmID}, nil
}

// attachIsoJob puts the ISO in the VM (its host's CD-ROM drive when it runs) and answers the VM.
func attachIsoJob(c *Call, j *db.Job) (any, error) {
	if err := vm.RunAttachISO(c.Ctx, c.deps(), c.actor(), j.InstanceID, c.P.String("id")); err != nil {
		return nil, err
	}
	return c.vmObject(j.InstanceID)
}

// detachIsoJob takes the ISO out of the VM and answers the VM.
func detachIsoJob(c *Call, j *db.Job) (any, error) {
	if err := vm.RunDetachISO(c.Ctx, c.deps(), c.actor(), j.InstanceID); err != nil {
		return nil, err
	}
	return c.vmObject(j.InstanceID)
}
